"""The final round (SPEC 7 "final"; the paper's section 5.2 and Table 1): fixed values over N seeds.

``dcsomrl-study final --space FILE --dataset NAME --seeds 10`` trains one
parameter setting (a space of fixed values, as ``best`` writes) once per seed
through the study runner, then reports, per method, the mean ± std over the
runs of Purity (eq. 9), NMI (eq. 8) and the number of nodes (clusters):

==========================  ===========================================================
DC-SOMRL                    the study's COMPLETE trials (one per seed); the row is
                            named after the studied model (``Model.title``)
DE-SOM (64), SOM-VAE (64)   ``--baselines desom,somvae`` (any registered model): the
                            model's shipped ``best`` space for the dataset (else its
                            defaults for it) over the same seeds, as the study
                            ``<study>-<model>``; with ``--epochs`` the same epochs
k-means (k), raw inputs     ``KMeans(k, random_state=seed)`` on the dataset's
                            normalized inputs, one run per seed of the study
k-means (k), latent codes   the same on each trained encoder's codes
                            z = sigmoid(enc(x)) (``dcsomrl.trainer.encode``),
                            one run per COMPLETE trial, seeded with its seed
AE alone (α = 0)            ``ablation=True``: the same setting with alpha = 0 (no
                            clustering loss; the map still trains on the codes) over
                            the same seeds, as the study ``<study>-ablation``: its
                            map's scores, and k-means (k and k = nodes) on its codes.
                            What the clustering loss adds, the paper's central claim
paper rows                  Table 1 of the paper as printed (k-means, SOM-VAE,
                            DE-SOM, SOMRL; MNIST and Fashion-MNIST only), marked
                            "paper, reference": their setup, not re-run here
==========================  ===========================================================

``--baselines`` lists the rows to measure beside the studied model: ``kmeans``
(the four k-means rows, the default) and model names. Each row reports the
runs, Purity, NMI, AMI, ARI, the clusters used (nodes), the training epochs
(a model's ``epochs``, or DE-SOM's ``iterations`` × batch / training rows)
and the seconds per run (training, or the k-means fit and prediction).

Every method is measured as the trainer measures DC-SOMRL: fitted on the
training set, each *test* sample assigned to its cluster (winning node,
nearest centroid), scored against the test labels. ``std`` is the sample
standard deviation over runs (ddof = 1; undefined for one run), as
``pandas.Series.std``.

The workflow is :func:`final_study` (what ``dcsomrl-study final`` calls:
the space resolved, the slots planned) and :func:`run_final` (the study run,
the baselines and the files; ``analysis.protocol`` calls it too), composed of
the pure functions :func:`require_fixed`, :func:`fixed_values`, :func:`seed_design`,
:func:`default_study_name`, :func:`summarize`, :func:`kmeans_scores`,
:func:`kmeans_raw`, :func:`kmeans_latent`, :func:`paper_rows`,
:func:`final_table`, :func:`run_table`, :func:`display_table`, :func:`markdown`,
:func:`write_final`.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import numpy as np
import pandas as pd

from dcsomrl.params import check_run
from dcsomrl.util import as_numpy, one_line

from .errors import AnalysisError
from .formatting import value_text
from .markdown import markdown_table
from .table import complete_only

#: Columns of ``final.csv`` (one row per method).
COLUMNS = ["method", "source", "dataset", "runs", "purity_mean", "purity_std", "nmi_mean", "nmi_std",
           "ami_mean", "ami_std", "ari_mean", "ari_std", "nodes_mean", "nodes_std", "epochs",
           "seconds_mean", "seconds_std",
           # degenerate runs (analysis.degenerate): how many, which, and the means without them
           "degenerate", "degenerate_note", "purity_mean_without", "purity_std_without", "nmi_mean_without",
           "nmi_std_without", "ami_mean_without", "ami_std_without", "ari_mean_without", "ari_std_without"]
#: Columns of ``final_runs.csv`` (one row per run: the numbers behind the means).
RUN_COLUMNS = ["method", "seed", "number", "purity", "nmi", "ami", "ari", "n_nodes", "epochs", "seconds",
               "degenerate"]
#: The outcomes summarized per method: (run column, final.csv stem).
SUMMARIZED = (("purity", "purity"), ("nmi", "nmi"), ("ami", "ami"), ("ari", "ari"), ("n_nodes", "nodes"),
              ("seconds", "seconds"))
#: The ``--baselines`` name of the four k-means rows (any other name is a registered model).
KMEANS = "kmeans"
#: ``k`` of the k-means rows that match each trained map's own node count.
NODES = "nodes"
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
    n, first_seed = check_run("seeds", n), check_run("seed", first_seed)
    values = fixed_values(space)
    rows = [{**values, "seed": int(first_seed) + i} for i in range(int(n))]
    return pd.DataFrame(rows, columns=[*values, "seed"])


def space_hash(space) -> str:
    """8 hex digits identifying a space's parameters (not its name or description)."""
    text = json.dumps(space.to_dict()["params"], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def default_study_name(dataset: str, space, n: int, first_seed: int, epochs: int | None = None, *,
                       label: str | None = None, model: str = "dcsomrl") -> str:
    """``final-<dataset>[-<model>]-<space>-n<N>-s<first seed>[-e<epochs>]`` (studies.orchestrate.default_study_name).

    ``label``: what ``--space`` said. A shipped name (``best``) names the study as it is; a file (or no
    label) adds the first 6 hex digits of :func:`space_hash` to its stem, so that other values in a
    file of the same name make another study.
    """
    from studies.orchestrate import default_study_name as study_name
    from studies.space import is_space_file

    if label and not is_space_file(label):
        what = label
    else:
        stem = Path(label).stem if label else space.name
        what = f"{stem}-{space_hash(space)[:6]}"
    return study_name(dataset, what, n, first_seed, epochs, prefix="final", model=model)


# ----- summaries ---------------------------------------------------------------------------------

def summarize(runs: pd.DataFrame, method: str, *, source: str = THIS_STUDY, dataset: str = "",
              n_classes: int | None = None, n_test: int | None = None) -> dict:
    """One row of ``final.csv``: mean and sample std (ddof 1) of purity, nmi, ami, ari and n_nodes over ``runs``.

    With a ``state`` column only COMPLETE runs count; ``runs`` is how many did. Degenerate runs
    (:func:`analysis.degenerate.classify`, with the data set's ``n_classes`` and ``n_test`` when given)
    count in the means; ``degenerate`` says how many, ``degenerate_note`` which, and the
    ``<outcome>_mean_without`` / ``_std_without`` columns give the means without them.
    """
    from .degenerate import classify, count_note

    runs, _ = complete_only(runs)
    row: dict[str, Any] = {"method": method, "source": source, "dataset": dataset, "runs": len(runs)}
    for column, key in SUMMARIZED:
        row[f"{key}_mean"], row[f"{key}_std"] = _mean_std(runs, column)
    row["epochs"] = epochs_text(runs["epochs"]) if "epochs" in runs else "–"
    reasons = classify(runs, n_classes, n_test)
    row["degenerate"], row["degenerate_note"] = int((reasons != "").sum()), count_note(reasons, "seeds") or ""
    for column, key in SUMMARIZED[:4]:
        row[f"{key}_mean_without"], row[f"{key}_std_without"] = _mean_std(runs.loc[reasons == ""], column)
    return row


def _mean_std(runs: pd.DataFrame, column: str) -> tuple[float, float]:
    """(mean, sample std with ddof 1) of a column's numbers; NaN where there are too few."""
    values = pd.to_numeric(runs[column], errors="coerce").astype(float).dropna() if column in runs \
        else pd.Series([], dtype=float)
    return (float(values.mean()) if len(values) else _NAN), (float(values.std(ddof=1)) if len(values) > 1 else _NAN)


def degenerate_notes(table: pd.DataFrame) -> list[str]:
    """One note per row of ``final.csv`` with degenerate runs: how many of its runs, and its means without them,
    e.g. 'DC-SOMRL: 2 of 10 seeds collapsed to one node (kept in the means above); without them: NMI ...'."""
    if "degenerate" not in table:
        return []
    notes = []
    for _, r in table.iterrows():
        if pd.isna(r["degenerate"]) or int(r["degenerate"]) == 0:
            continue
        without = ", ".join(f"{label} {mean_std(r[f'{key}_mean_without'], r[f'{key}_std_without'])}"
                            for key, label in (("purity", "Purity"), ("nmi", "NMI"), ("ami", "AMI"), ("ari", "ARI")))
        kept = int(r["runs"]) - int(r["degenerate"])
        notes.append(f"{r['method']}: {r['degenerate_note']} (kept in the means above); without them "
                     f"({kept} runs): {without}")
    return notes


def epochs_text(epochs: pd.Series) -> str:
    """The training epochs of a method's runs as text: '5', '42.7', '3–5' for differing runs, '–' for none."""
    values = pd.to_numeric(epochs, errors="coerce").dropna()
    if values.empty:
        return "–"
    low, high = (f"{v:.3g}" if v != int(v) else str(int(v)) for v in (values.min(), values.max()))
    return low if low == high else f"{low}–{high}"


def trained_epochs(trials: pd.DataFrame, n_train: int) -> pd.Series:
    """Each run's training epochs: its ``epochs`` parameter, or where that is 0 or absent (DE-SOM's
    iteration budget) ``iterations`` × ``batch_size`` / ``n_train``; NaN where neither is recorded."""
    epochs = pd.to_numeric(trials["epochs"], errors="coerce") if "epochs" in trials \
        else pd.Series(_NAN, index=trials.index)
    if {"iterations", "batch_size"} <= set(trials):
        by_batches = pd.to_numeric(trials["iterations"], errors="coerce") * \
            pd.to_numeric(trials["batch_size"], errors="coerce") / int(n_train)
        epochs = epochs.where(epochs > 0, by_batches.round(1))
    return epochs.astype(float)


# ----- k-means baselines -------------------------------------------------------------------------

def kmeans_scores(x_train, x_test, y_test, k: int = 64, seed: int = 0, n_init: int = N_INIT) -> dict:
    """Purity, NMI, AMI and ARI of ``KMeans(k, random_state=seed)`` fitted on x_train, evaluated on (x_test, y_test).

    Each test row's cluster is its nearest centroid (``KMeans.predict``).
    """
    from sklearn.cluster import KMeans

    from dcsomrl import metrics

    x_train = as_numpy(x_train).astype(np.float32, copy=False)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(x_train):
        raise AnalysisError(f"--k must be an integer in [1, {len(x_train)}] (the training rows), got {k!r}")
    model = KMeans(n_clusters=int(k), n_init=n_init, random_state=int(seed)).fit(x_train)
    pred = model.predict(as_numpy(x_test).astype(np.float32, copy=False))
    y = as_numpy(y_test)
    return {**metrics.scores(y, pred), "n_nodes": int(k)}


def kmeans_raw(data, seeds: Iterable[int], k=64, n_init: int = N_INIT) -> pd.DataFrame:
    """k-means on the dataset's (normalized) inputs, one run per seed: seed, purity, nmi, ami, ari, n_nodes.

    ``k``: one cluster count for every seed, or a ``{seed: k}`` mapping (a seed
    missing from it is not run).
    """
    ks = k if isinstance(k, dict) else {int(s): k for s in seeds}
    rows = [{"seed": int(s), **timed(kmeans_scores, data.x_train, data.x_test, data.y_test, int(ks[int(s)]),
                                     int(s), n_init)}
            for s in seeds if int(s) in ks]
    return pd.DataFrame(rows, columns=["seed", "purity", "nmi", "ami", "ari", "n_nodes", "seconds"])


def timed(fn, *args) -> dict:
    """``fn(*args)`` (a dict) with ``seconds``: its wall time."""
    start = time.perf_counter()
    return {**fn(*args), "seconds": time.perf_counter() - start}


def kmeans_latent(trials: pd.DataFrame, data, k=64, n_init: int = N_INIT) -> tuple[pd.DataFrame, list[str]]:
    """k-means on the latent codes of each COMPLETE trial's trained encoder; (runs, notes).

    ``trials`` is a study table (``studies.export.study_table``: ``state``,
    ``number``, ``seed``, ``n_nodes``, ``run_dir``). Each run directory is read
    with ``dcsomrl.trainer.load_run``; the training and test sets are encoded
    and clustered with :func:`kmeans_scores` seeded with the trial's seed, with
    ``k`` clusters (``k = NODES``: the trial's own node count). A trial whose
    run directory is missing (e.g. trained on another machine) or holds no
    autoencoder is left out, with a note.
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
        clusters = int(t.n_nodes) if k == NODES else int(k)
        rows.append({"seed": int(t.seed), "number": int(t.number),
                     **timed(kmeans_scores, z_train, z_test, data.y_test, clusters, int(t.seed), n_init)})
    return pd.DataFrame(rows, columns=["seed", "number", "purity", "nmi", "ami", "ari", "n_nodes", "seconds"]), notes


def node_counts(trials: pd.DataFrame) -> dict[int, int]:
    """``{seed: node count}`` of the COMPLETE trials (the k of the equal-k k-means rows)."""
    done, _ = complete_only(trials)
    return {int(t.seed): int(t.n_nodes) for t in done.itertuples(index=False) if not pd.isna(t.n_nodes)}


def baselines(trials: pd.DataFrame, data, seeds: list[int], k: int = 64) -> tuple[list[tuple[str, pd.DataFrame]],
                                                                                    list[str]]:
    """The k-means rows of Table 1 as (method, runs) pairs, and notes.

    k-means with ``k`` clusters (the paper's 64) and with k = each trained
    map's node count (an equal-k comparison: NMI and Purity grow with k), on
    the raw inputs (seeded with the study's seeds) and on each trained
    encoder's latent codes (seeded with the trial's seed).
    """
    latent, notes = kmeans_latent(trials, data, k)
    latent_nodes, _ = kmeans_latent(trials, data, NODES)
    runs = [kmeans_raw(data, seeds, k), latent, kmeans_raw(data, seeds, node_counts(trials)), latent_nodes]
    return list(zip(baseline_methods(k), runs)), notes


def baseline_methods(k: int) -> list[str]:
    """The k-means rows' names, in table order (:func:`baselines`)."""
    return [f"k-means ({k}), raw inputs", f"k-means ({k}), latent codes", "k-means (k = nodes), raw inputs",
            "k-means (k = nodes), latent codes"]


def cached_baselines(folder: Path, trials: pd.DataFrame, k: int, model: str = "DC-SOMRL"):
    """(rows, notes) of :func:`baselines` from an earlier ``final_runs.csv`` and ``baseline_notes.json`` in
    ``folder`` when they were written for the same COMPLETE trials (a resumed, finished study: k-means
    is not fitted again), else None."""
    path, notes = folder / "final_runs.csv", folder / "baseline_notes.json"
    if not (path.is_file() and notes.is_file()):
        return None
    old = pd.read_csv(path)
    done, _ = complete_only(trials)
    ours = old.loc[old["method"] == model, "number"].dropna().astype(int)
    if sorted(ours) != sorted(done["number"].astype(int)) or "ami" not in old:
        return None
    methods = baseline_methods(k)
    if not set(methods) <= set(old["method"]):
        return None
    rows = [(m, old.loc[old["method"] == m].drop(columns="method").reset_index(drop=True)) for m in methods]
    return rows, json.loads(notes.read_text())


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

def final_table(trials: pd.DataFrame, rows: list[tuple[str, pd.DataFrame]], *, dataset: str,
                model: str = "DC-SOMRL", n_classes: int | None = None, n_test: int | None = None) -> pd.DataFrame:
    """``final.csv``: the studied model, then each baseline's (method, runs), then the paper's rows
    (``n_classes``, ``n_test``: the data set's, for :func:`summarize`'s degenerate runs)."""
    size = dict(dataset=dataset, n_classes=n_classes, n_test=n_test)
    summaries = [summarize(trials, model, **size),
                 *(summarize(runs, method, **size) for method, runs in rows), *paper_rows(dataset)]
    return pd.DataFrame(summaries, columns=COLUMNS)


def run_table(trials: pd.DataFrame, rows: list[tuple[str, pd.DataFrame]], *, model: str = "DC-SOMRL") -> pd.DataFrame:
    """``final_runs.csv``: every run behind the means (method, seed, trial number, outcomes)."""
    done, _ = complete_only(trials)
    parts = [done.assign(method=model), *(runs.assign(method=method) for method, runs in rows)]
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
    """``final.csv`` for reading: method, source, runs, Purity, NMI, AMI, ARI and nodes as 'mean ± std'
    text, epochs, and seconds per run."""
    def column(stem: str, digits: int = 3) -> list[str]:
        if f"{stem}_mean" not in table:
            return ["–"] * len(table)
        return [mean_std(m, s, digits) for m, s in zip(table[f"{stem}_mean"], table[f"{stem}_std"])]

    return pd.DataFrame({
        "method": table["method"], "source": table["source"],
        "runs": [str(int(r)) if not pd.isna(r) else "–" for r in table["runs"]],
        "Purity": column("purity"), "NMI": column("nmi"), "AMI": column("ami"), "ARI": column("ari"),
        "nodes": column("nodes", 1),
        "epochs": [e if isinstance(e, str) else "–" for e in table.get("epochs", [None] * len(table))],
        "seconds": column("seconds", 1),
    })


def markdown(table: pd.DataFrame, *, title: str, context: list[str] | None = None,
             values: dict[str, Any] | None = None, notes: list[str] | None = None) -> str:
    """``final.md``: the verdict (analysis.verdicts.lead_verdict), the table (mean ± std), what was run,
    how each row was measured, the values."""
    from .verdicts import lead_verdict

    lines = [f"# {title}", "", lead_verdict(table), ""]
    lines += [*context, ""] if context else []
    lines += [markdown_table(display_table(table)), "", "How each row was measured:", "",
              "- mean ± sample standard deviation (ddof 1) over the runs on the **test set**; every method is "
              "fitted on the training set and each test sample is assigned to its cluster (DC-SOMRL: its "
              "winning node; k-means: its nearest centroid); Purity is eq. 9, NMI eq. 8 (arithmetic mean); "
              "AMI and ARI are adjusted for chance (scikit-learn). NMI and Purity grow with the number "
              "of clusters (Purity is 1 with one cluster per sample), so compare them at equal k: the "
              "*k = nodes* rows give k-means each trained map's own node count.",
              "- the studied model (first row) and each model baseline: one trial per seed through the study "
              "runner, the same seeds for every model; only COMPLETE trials count. *epochs*: the training "
              "epochs (DE-SOM's iteration budget converted: iterations × batch / training rows); *seconds*: "
              "per run (training and evaluation; for k-means the fit and the prediction).",
              f"- k-means raw inputs: scikit-learn KMeans (k-means++, n_init={N_INIT}, random_state = the "
              "seed) on the dataset's normalized inputs, one run per seed of the study (k = nodes: the "
              "node count of that seed's trained map).",
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


# ----- the workflow ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Where:
    """Where a study lives and trains: storage, results folder, data folder, worker slots, kept weights."""

    storage: str | None
    results: str
    data_dir: str | None
    slots: tuple
    save_models: str = "best"


@dataclass
class FinalResult:
    """What :func:`run_final` measured: the tables, notes, files and the runner's exit code."""

    study: str
    table: pd.DataFrame            # final.csv
    runs: pd.DataFrame             # final_runs.csv
    trials: pd.DataFrame           # the study table of the runs
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0
    csv_path: Path | None = None
    md_path: Path | None = None


def run_final(space, dataset: str, *, seeds: int, first_seed: int = 0, epochs: int | None = None, k: int = 64,
              slots, storage: str | None, results: str, data_dir: str | None = None, study: str | None = None,
              model: str = "dcsomrl", space_label: str | None = None, save_models: str = "best",
              baselines: Iterable[str] = (KMEANS,), ablation: bool = False) -> FinalResult:
    """Train the fixed values of ``space`` once per seed through the study runner (resumable), then
    each model baseline over the same seeds (study ``<study>-<model>``), then the k-means rows, and
    write final.csv, final_runs.csv and final.md.

    Returns a :class:`FinalResult` (with no table when the runner was
    interrupted or the machine cannot run trials: exit code not 0 or 1). Every
    seed's encoder is kept until the latent-code k-means has read it; then
    ``save_models`` (studies/weights.py) decides which stay.
    """
    from dcsomrl import models
    from dcsomrl.data import load_dataset
    from dcsomrl.params import check
    from studies import weights
    from studies import study as sy
    from studies.orchestrate import check_study_name

    require_fixed(space)
    name = check_study_name(study or default_study_name(dataset, space, seeds, first_seed, epochs, label=space_label,
                                                        model=model))
    wanted, title = check_baselines(baselines), models.get(model).title
    if epochs is not None:
        space = space.with_fixed(epochs=check("epochs", epochs, space.model))
    seed_list = seed_design(space, seeds, first_seed)["seed"].tolist()
    data = load_dataset(dataset, data_dir)  # a DataError stops us before the study exists
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(data.x_train):
        raise AnalysisError(f"--k must be an integer in [1, {len(data.x_train)}] (the training rows of "
                            f"{dataset}), got {k!r}")
    where = Where(storage, results, data_dir, tuple(slots), save_models)
    # every encoder is kept until the latent-code k-means has read it
    handle, fetched, trials, code = train_seeds(space, dataset, name, model, seed_list, epochs,
                                                f"{seeds} seeds of space {space.name!r} on {dataset}",
                                                replace(where, save_models="all"))
    others, notes, code = (model_baselines([b for b in wanted if b != KMEANS], dataset, name, seed_list, epochs,
                                           len(data.x_train), where)
                           if code in (0, 1) else ([], [], code))
    ablated, code = (ablation_rows(space, dataset, name, model, seed_list, epochs, where, data, k)
                     if ablation and code in (0, 1) and has_ablation(space, model) else (([], []), code))
    if code not in (0, 1):  # interrupted, or the machine cannot run trials: nothing to report yet
        return FinalResult(name, pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=RUN_COLUMNS), trials,
                           exit_code=code)
    trials["epochs"] = trained_epochs(trials, len(data.x_train))
    counts = sy.count_points(fetched, seeds)
    kmeans, baseline_notes = kmeans_rows(KMEANS in wanted, Path(results) / name, trials, data, seed_list, k, title)
    notes = [*incomplete_notes(title, name, counts), *notes, *ablated[1], *baseline_notes]
    rows = [*ablated[0], *others, *kmeans]
    table = final_table(trials, rows, dataset=dataset, model=title, n_classes=len(np.unique(as_numpy(data.y_train))),
                        n_test=len(data.y_test))
    runs = run_table(trials, rows, model=title)
    notes += degenerate_notes(table)
    context = [f"Study `{name}`: the fixed values of `--space {space_label or space.name}` on `{dataset}` over "
               f"{seeds} seeds ({seed_list[0]}..{seed_list[-1]})" + (f", epochs = {epochs}" if epochs else "")
               + "; each run's seed is recorded on its trial."]
    csv_path, md_path = write_final(table, runs, Path(results) / name, title=f"Final runs on {dataset}",
                                    context=context, values=fixed_values(space), notes=notes)
    (csv_path.parent / "baseline_notes.json").write_text(json.dumps(baseline_notes))
    weights.prune(handle, save_models)
    return FinalResult(name, table, runs, trials, notes, code, csv_path, md_path)


#: The ablation rows' names (:func:`ablation_rows`).
ABLATION = "AE alone (α = 0)"


def has_ablation(space, model: str) -> bool:
    """True when the setting has a clustering loss to take away (DC-SOMRL's ``alpha`` > 0)."""
    return model == "dcsomrl" and float(fixed_values(space).get("alpha", 0.0)) > 0


def ablation_rows(space, dataset: str, study: str, model: str, seed_list: list[int], epochs: int | None,
                  where: "Where", data, k: int) -> tuple[tuple[list[tuple[str, pd.DataFrame]], list[str]], int]:
    """The ablation: the same setting with alpha = 0 over the same seeds (study ``<study>-ablation``).

    Returns ((rows, notes), exit code): the map's own scores ("AE alone (α = 0)") and k-means with ``k``
    and with k = each map's node count on the AE-alone codes; every encoder is kept until k-means has
    read it, then ``where.save_models`` decides.
    """
    from studies import study as sy
    from studies import weights

    name = f"{study}-ablation"
    handle, fetched, trials, code = train_seeds(space.with_fixed(alpha=0.0), dataset, name, model, seed_list, epochs,
                                                f"ablation {ABLATION}: {len(seed_list)} seeds on {dataset}",
                                                replace(where, save_models="all"))
    if code not in (0, 1):
        return ([], []), code
    latent, notes = kmeans_latent(trials, data, k)
    latent_nodes, _ = kmeans_latent(trials, data, NODES)
    rows = [(ABLATION, trials), (f"k-means ({k}), AE-alone codes", latent),
            ("k-means (k = nodes), AE-alone codes", latent_nodes)]
    notes = [f"{ABLATION}: study `{name}`, the same values with alpha = 0 (no clustering loss; the map still "
             "trains on the codes)", *incomplete_notes(ABLATION, name, sy.count_points(fetched, len(seed_list))),
             *(f"{ABLATION}: {n}" for n in notes)]
    weights.prune(handle, where.save_models)
    return (rows, notes), code


def incomplete_notes(label: str, study: str, counts: dict[str, int]) -> list[str]:
    """A note when not every seed of ``study`` completed (``counts`` from ``studies.study.count_points``):
    the row ``label`` then rests on fewer runs than asked for, and the note says how many and why."""
    unfinished = counts["waiting"] + counts["running"]
    if not (counts["failed"] or unfinished):
        return []
    return [f"{label}: {counts['complete']} of {counts['n']} seeds completed ({counts['failed']} failed, "
            f"{unfinished} not finished); see dcsomrl-study status --study {study}"]


def check_baselines(names: Iterable[str] | str) -> tuple[str, ...]:
    """The ``--baselines`` list (a comma-separated string or names): ``kmeans`` and registered models,
    each once; AnalysisError naming an unknown one and the choices."""
    from dcsomrl import models

    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in items if n != KMEANS and n not in models.REGISTRY]
    if unknown:
        raise AnalysisError(f"--baselines: unknown baseline {unknown[0]!r}; choose from {KMEANS}, "
                            f"{', '.join(models.REGISTRY)} (comma-separated)")
    return tuple(dict.fromkeys(items))


def train_seeds(space, dataset: str, name: str, model: str, seed_list: list[int], epochs: int | None,
                label: str, where: Where):
    """Create or resume the study ``name`` training ``space``'s fixed values once per seed of ``seed_list``;
    (handle, fetched trials, study table, exit code)."""
    from studies import export
    from studies import storage as st
    from studies import study as sy
    from studies.orchestrate import run_study

    design = sy.design_attrs(space, len(seed_list), seed_list[0], dataset, epochs=epochs, model=model,
                             seeds=seed_list)
    points = seed_design(space, len(seed_list), seed_list[0])[space.names].to_dict("records")
    handle, code = run_study(name, st.resolve_url(where.storage, name, where.results), design, points,
                             slots=list(where.slots), out=where.results, data_dir=where.data_dir, label=label,
                             save_models=where.save_models)
    fetched = handle.get_trials(deepcopy=False)  # read once, for the table and the counts
    return handle, fetched, export.study_table(handle, fetched), code


def baseline_space(model: str, dataset: str, epochs: int | None):
    """The fixed values a model baseline trains: its shipped ``best`` space for the dataset, else its
    defaults for it (``dcsomrl.params.defaults_for``); ``epochs`` fixed when given and the model has it."""
    from dcsomrl import models
    from dcsomrl.params import defaults_for, registry
    from studies.errors import SpaceError
    from studies.space import parse_space, resolve_space

    params = models.get(model).params
    try:
        space = resolve_space("best", dataset, model)
    except SpaceError:
        values = {n: {"value": v} for n, v in defaults_for(dataset, params).items()}
        space = parse_space({"description": f"{model}: its defaults for {dataset}", "params": values},
                            f"{model}-defaults", model)
    if epochs is not None and "epochs" in registry(params):
        space = space.with_fixed(epochs=epochs)
    return space


def baseline_label(model: str, space) -> str:
    """A model baseline's row name: its title, with its grid's cell count as the paper writes it ('DE-SOM (64)')."""
    from dcsomrl import models

    values = fixed_values(space)
    cells = f" ({values['map_rows'] * values['map_cols']})" if {"map_rows", "map_cols"} <= set(values) else ""
    return models.get(model).title + cells


def model_baselines(names: list[str], dataset: str, study: str, seed_list: list[int], epochs: int | None,
                    n_train: int, where: Where) -> tuple[list[tuple[str, pd.DataFrame]], list[str], int]:
    """Train each model baseline over ``seed_list`` as the study ``<study>-<model>``: (method, runs) rows,
    notes (which study and space each row comes from), and the runner's exit code (the first that is not
    0 or 1 stops here; a baseline with seeds failed or unfinished gets an :func:`incomplete_notes` note)."""
    from studies import study as sy

    rows, notes = [], []
    for model in names:
        space = baseline_space(model, dataset, epochs)
        label, name = baseline_label(model, space), f"{study}-{model}"
        _, fetched, trials, code = train_seeds(space, dataset, name, model, seed_list, epochs,
                                               f"baseline {label}: {len(seed_list)} seeds on {dataset}", where)
        if code not in (0, 1):
            return rows, notes, code
        rows.append((label, trials.assign(epochs=trained_epochs(trials, n_train))))
        notes.append(f"{label}: study `{name}`, space `{space.name}` ({space.description or 'fixed values'})")
        notes.extend(incomplete_notes(label, name, sy.count_points(fetched, len(seed_list))))
    return rows, notes, 0


def kmeans_rows(wanted: bool, folder: Path, trials: pd.DataFrame, data, seed_list: list[int], k: int,
                title: str) -> tuple[list[tuple[str, pd.DataFrame]], list[str]]:
    """The four k-means rows and their notes (from ``folder``'s earlier files when they match the
    trials, :func:`cached_baselines`); none when not ``wanted``."""
    if not wanted:
        return [], []
    cached = cached_baselines(folder, trials, k, title)
    return cached if cached is not None else baselines(trials, data, seed_list, k)


def final_study(space: str, dataset: str, *, devices: str = "auto", workers_per_device: int = 1,
                **options) -> FinalResult:
    """The whole ``final`` workflow from the command's values: resolve ``space`` (a space file or a
    shipped name, for ``dataset``), require fixed values, plan the worker slots of ``devices`` ×
    ``workers_per_device``, then :func:`run_final` (``options``: its keywords; the space is labelled
    ``space`` as given)."""
    from studies import launch
    from studies.space import resolve_space
    from studies.storage import quiet_optuna

    quiet_optuna()
    resolved = resolve_space(space, dataset, options.get("model", "dcsomrl"))
    require_fixed(resolved)
    slots = launch.plan_slots(devices, workers_per_device)
    return run_final(resolved, dataset, slots=slots, space_label=space, **options)
