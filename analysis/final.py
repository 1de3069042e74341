"""The final round (SPEC 7 "final"; the paper's section 5.2 and Table 1): fixed values over N seeds.

``dcsomrl-study final --space FILE --dataset NAME --seeds 10`` trains one
parameter setting (a space of fixed values, as ``best`` writes) once per seed
through the study runner, then reports, per method, the mean ± std over the
runs of Purity (eq. 9), NMI (eq. 8) and the number of nodes (clusters):

==========================  ===========================================================
DC-SOMRL                    the study's COMPLETE trials (one per seed)
k-means (k), raw inputs     ``KMeans(k, random_state=seed)`` on the dataset's
                            normalized inputs, one run per seed of the study
k-means (k), latent codes   the same on each trained encoder's codes
                            z = sigmoid(enc(x)) (``dcsomrl.trainer.encode``),
                            one run per COMPLETE trial, seeded with its seed
paper rows                  Table 1 of the paper as printed (k-means, SOM-VAE,
                            DE-SOM, SOMRL; MNIST and Fashion-MNIST only), marked
                            "paper, reference": their setup, not re-run here
==========================  ===========================================================

Every method is measured as the trainer measures DC-SOMRL: fitted on the
training set, each *test* sample assigned to its cluster (winning node,
nearest centroid), scored against the test labels. ``std`` is the sample
standard deviation over runs (ddof = 1; undefined for one run), as
``pandas.Series.std``.

Pure functions, composed by ``analysis.commands.final_command``:
:func:`require_fixed`, :func:`fixed_values`, :func:`seed_design`,
:func:`default_study_name`, :func:`summarize`, :func:`kmeans_scores`,
:func:`kmeans_raw`, :func:`kmeans_latent`, :func:`paper_rows`,
:func:`final_table`, :func:`run_table`, :func:`display_table`, :func:`markdown`,
:func:`write_final`.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from dcsomrl.util import one_line

from .errors import AnalysisError
from .markdown import markdown_table, value_text
from .table import complete_only

#: Columns of ``final.csv`` (one row per method).
COLUMNS = ["method", "source", "dataset", "runs", "purity_mean", "purity_std", "nmi_mean", "nmi_std",
           "nodes_mean", "nodes_std"]
#: Columns of ``final_runs.csv`` (one row per run: the numbers behind the means).
RUN_COLUMNS = ["method", "seed", "number", "purity", "nmi", "n_nodes"]
THIS_STUDY, PAPER = "this study", "paper, reference"
#: k-means++ starts per run: one, as scikit-learn's ``n_init="auto"`` does for k-means++;
#: the spread over seeds is what the table reports.
N_INIT = 1

# The paper's Table 1 (SPEC 8): mean ± std of 10 runs on the test sets, 64 clusters except
# SOMRL (time-varying). (method, nodes, purity, purity_std, nmi, nmi_std); DE-SOM without std.
_NAN = float("nan")
PAPER_TABLE1: dict[str, list[tuple[str, float, float, float, float, float]]] = {
    "mnist": [
        ("k-means (64)", 64, 0.791, 0.005, 0.537, 0.001),
        ("SOM-VAE (64)", 64, 0.868, 0.003, 0.595, 0.002),
        ("DE-SOM (64)", 64, 0.939, _NAN, 0.657, _NAN),
        ("SOMRL", _NAN, 0.884, 0.014, 0.521, 0.007),
    ],
    "fashion-mnist": [
        ("k-means (64)", 64, 0.703, 0.002, 0.492, 0.001),
        ("SOM-VAE (64)", 64, 0.739, 0.002, 0.520, 0.002),
        ("DE-SOM (64)", 64, 0.752, _NAN, 0.538, _NAN),
        ("SOMRL", _NAN, 0.679, 0.009, 0.404, 0.005),
    ],
}


# ----- the seed design ---------------------------------------------------------------------------

def require_fixed(space) -> None:
    """Raise AnalysisError naming every parameter of ``space`` that still has a range or choices."""
    open_ = [name for name, dim in space.dims.items() if dim.varies]
    if open_:
        raise AnalysisError(f"space {space.name!r} still has ranges for {', '.join(open_)}; final needs "
                            "fixed values (write them with dcsomrl-study best)")


def fixed_values(space) -> dict[str, Any]:
    """``{name: value}`` of a space of fixed values (a one-choice categorical counts as fixed)."""
    require_fixed(space)
    return {name: dim.value if dim.fixed else dim.choices[0] for name, dim in space.dims.items()}


def seed_design(space, n: int, first_seed: int = 0) -> pd.DataFrame:
    """n design points with the space's fixed values, differing only in ``seed`` = first_seed + i.

    One row per point: the parameter columns (space order), then ``seed``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AnalysisError(f"--seeds must be an integer >= 1, got {n!r}")
    if isinstance(first_seed, bool) or not isinstance(first_seed, (int, np.integer)) or first_seed < 0:
        raise AnalysisError(f"--seed must be an integer >= 0, got {first_seed!r}")
    values = fixed_values(space)
    rows = [{**values, "seed": int(first_seed) + i} for i in range(int(n))]
    return pd.DataFrame(rows, columns=[*values, "seed"])


def space_hash(space) -> str:
    """8 hex digits identifying a space's parameters (not its name or description)."""
    text = json.dumps(space.to_dict()["params"], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def default_study_name(dataset: str, space, n: int, first_seed: int, epochs: int | None = None) -> str:
    """``final-<dataset>-<space hash>-n<N>-s<first seed>[-e<epochs>]``."""
    stem = Path(dataset).stem if Path(dataset).suffix else dataset
    return f"final-{stem}-{space_hash(space)}-n{n}-s{first_seed}" + (f"-e{epochs}" if epochs else "")


# ----- summaries ---------------------------------------------------------------------------------

def summarize(runs: pd.DataFrame, method: str, *, source: str = THIS_STUDY, dataset: str = "") -> dict:
    """One row of ``final.csv``: mean and sample std (ddof 1) of purity, nmi and n_nodes over ``runs``.

    With a ``state`` column only COMPLETE runs count; ``runs`` is how many did.
    """
    runs, _ = complete_only(runs)
    row: dict[str, Any] = {"method": method, "source": source, "dataset": dataset, "runs": len(runs)}
    for column, key in (("purity", "purity"), ("nmi", "nmi"), ("n_nodes", "nodes")):
        values = pd.to_numeric(runs[column], errors="coerce").astype(float).dropna() if column in runs \
            else pd.Series([], dtype=float)
        row[f"{key}_mean"] = float(values.mean()) if len(values) else _NAN
        row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else _NAN
    return row


# ----- k-means baselines -------------------------------------------------------------------------

def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def kmeans_scores(x_train, x_test, y_test, k: int = 64, seed: int = 0, n_init: int = N_INIT) -> dict:
    """Purity and NMI of ``KMeans(k, random_state=seed)`` fitted on x_train, evaluated on (x_test, y_test).

    Each test row's cluster is its nearest centroid (``KMeans.predict``).
    """
    from sklearn.cluster import KMeans

    from dcsomrl import metrics

    x_train = _numpy(x_train).astype(np.float32, copy=False)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(x_train):
        raise AnalysisError(f"--k must be an integer in [1, {len(x_train)}] (the training rows), got {k!r}")
    model = KMeans(n_clusters=int(k), n_init=n_init, random_state=int(seed)).fit(x_train)
    pred = model.predict(_numpy(x_test).astype(np.float32, copy=False))
    y = _numpy(y_test)
    return {"purity": metrics.purity(y, pred), "nmi": metrics.nmi(y, pred), "n_nodes": int(k)}


def kmeans_raw(data, seeds: Iterable[int], k: int = 64, n_init: int = N_INIT) -> pd.DataFrame:
    """k-means on the dataset's (normalized) inputs, one run per seed: seed, purity, nmi, n_nodes."""
    rows = [{"seed": int(s), **kmeans_scores(data.x_train, data.x_test, data.y_test, k, int(s), n_init)}
            for s in seeds]
    return pd.DataFrame(rows, columns=["seed", "purity", "nmi", "n_nodes"])


def kmeans_latent(trials: pd.DataFrame, data, k: int = 64, n_init: int = N_INIT) -> tuple[pd.DataFrame, list[str]]:
    """k-means on the latent codes of each COMPLETE trial's trained encoder; (runs, notes).

    ``trials`` is a study table (``studies.export.study_table``: ``state``,
    ``number``, ``seed``, ``run_dir``). Each run directory is read with
    ``dcsomrl.trainer.load_run``; the training and test sets are encoded and
    clustered with :func:`kmeans_scores` seeded with the trial's seed. A trial
    whose run directory is missing (e.g. trained on another machine) or holds
    no autoencoder is left out, with a note.
    """
    from dcsomrl.trainer import encode, load_run

    rows, notes = [], []
    done, _ = complete_only(trials)
    for t in done.itertuples(index=False):
        try:
            _, _, ae = load_run(t.run_dir)
        except (FileNotFoundError, TypeError) as exc:  # TypeError: no run_dir recorded
            notes.append(f"trial {t.number}: no run directory here ({one_line(exc)})")
            continue
        if ae is None:
            notes.append(f"trial {t.number}: its run directory holds no autoencoder")
            continue
        z_train, z_test = encode(ae, data.x_train), encode(ae, data.x_test)
        rows.append({"seed": int(t.seed), "number": int(t.number),
                     **kmeans_scores(z_train, z_test, data.y_test, k, int(t.seed), n_init)})
    return pd.DataFrame(rows, columns=["seed", "number", "purity", "nmi", "n_nodes"]), notes


# ----- the paper's Table 1 -----------------------------------------------------------------------

def paper_key(dataset: str) -> str | None:
    """``mnist`` or ``fashion-mnist`` when the paper's Table 1 has rows for the dataset, else None."""
    key = str(dataset).strip().lower()
    return key if key in PAPER_TABLE1 else None


def paper_rows(dataset: str) -> list[dict]:
    """The paper's Table 1 rows for the dataset (none but for MNIST and Fashion-MNIST)."""
    key = paper_key(dataset)
    if key is None:
        return []
    return [{"method": method, "source": PAPER, "dataset": key, "runs": 10,
             "purity_mean": p, "purity_std": ps, "nmi_mean": m, "nmi_std": ms,
             "nodes_mean": nodes, "nodes_std": _NAN}
            for method, nodes, p, ps, m, ms in PAPER_TABLE1[key]]


# ----- the table and its files -------------------------------------------------------------------

def method_names(k: int) -> tuple[str, str, str]:
    """The row names of this study's three methods."""
    return "DC-SOMRL", f"k-means ({k}), raw inputs", f"k-means ({k}), latent codes"


def final_table(trials: pd.DataFrame, raw: pd.DataFrame, latent: pd.DataFrame, *, dataset: str,
                k: int = 64) -> pd.DataFrame:
    """``final.csv``: DC-SOMRL, k-means on raw inputs and on latent codes, then the paper's rows."""
    ours, on_raw, on_latent = method_names(k)
    rows = [summarize(trials, ours, dataset=dataset), summarize(raw, on_raw, dataset=dataset),
            summarize(latent, on_latent, dataset=dataset), *paper_rows(dataset)]
    return pd.DataFrame(rows, columns=COLUMNS)


def run_table(trials: pd.DataFrame, raw: pd.DataFrame, latent: pd.DataFrame, *, k: int = 64) -> pd.DataFrame:
    """``final_runs.csv``: every run behind the means (method, seed, trial number, outcomes)."""
    ours, on_raw, on_latent = method_names(k)
    done, _ = complete_only(trials)
    parts = [done.assign(method=ours), raw.assign(method=on_raw), latent.assign(method=on_latent)]
    runs = pd.concat([p.reindex(columns=RUN_COLUMNS) for p in parts], ignore_index=True)
    for column in ("seed", "number", "n_nodes"):
        runs[column] = pd.array(pd.to_numeric(runs[column], errors="coerce"), dtype="Int64")
    return runs


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """'0.791 ± 0.005'; the mean alone without a std; '–' without a mean."""
    if mean is None or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None or math.isnan(std) else f" ± {std:.{digits}f}")


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``final.csv`` for reading: method, source, runs, and Purity, NMI, nodes as 'mean ± std' text."""
    return pd.DataFrame({
        "method": table["method"], "source": table["source"],
        "runs": [str(int(r)) if not pd.isna(r) else "–" for r in table["runs"]],
        "Purity": [mean_std(m, s) for m, s in zip(table["purity_mean"], table["purity_std"])],
        "NMI": [mean_std(m, s) for m, s in zip(table["nmi_mean"], table["nmi_std"])],
        "nodes": [mean_std(m, s, 1) for m, s in zip(table["nodes_mean"], table["nodes_std"])],
    })


def markdown(table: pd.DataFrame, *, title: str, context: list[str] | None = None,
             values: dict[str, Any] | None = None, notes: list[str] | None = None) -> str:
    """``final.md``: the table (mean ± std), what was run, how each row was measured, the values."""
    lines = [f"# {title}", ""]
    lines += [*context, ""] if context else []
    lines += [markdown_table(display_table(table)), "", "How each row was measured:", "",
              "- mean ± sample standard deviation (ddof 1) over the runs on the **test set**; every method is "
              "fitted on the training set and each test sample is assigned to its cluster (DC-SOMRL: its "
              "winning node; k-means: its nearest centroid); Purity is eq. 9, NMI eq. 8 (arithmetic mean).",
              "- DC-SOMRL: one trial per seed through the study runner; only COMPLETE trials count.",
              f"- k-means raw inputs: scikit-learn KMeans (k-means++, n_init={N_INIT}, random_state = the "
              "seed) on the dataset's normalized inputs, one run per seed of the study.",
              "- k-means latent codes: the same on each trained encoder's codes z = sigmoid(enc(x)), "
              "seeded with its trial's seed.",
              "- rows marked *paper, reference*: the paper's Table 1 as printed (10 runs on the authors' "
              "setup; DE-SOM without standard deviations; SOMRL's node count not reported), shown for "
              "comparison, not re-run here."]
    if notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    if values:
        frame = pd.DataFrame({"parameter": list(values), "value": [value_text(v) for v in values.values()]})
        lines += ["", "## Fixed values", "", markdown_table(frame)]
    return "\n".join(lines) + "\n"


def write_final(table: pd.DataFrame, runs: pd.DataFrame, out_dir, **md) -> tuple[Path, Path]:
    """Write ``final.csv``, ``final_runs.csv`` and ``final.md`` (:func:`markdown`'s keywords) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "final.csv", index=False)
    runs.to_csv(out / "final_runs.csv", index=False)
    (out / "final.md").write_text(markdown(table, **md))
    return out / "final.csv", out / "final.md"
