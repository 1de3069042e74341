"""The k-means rows of the final table (the paper's Table 1 baseline), with their cache.

Four rows, measured as the trainer measures DC-SOMRL (fitted on the training
set, each test sample assigned to its nearest centroid, scored against the
test labels):

==================================  ==============================================================
``k-means (k), raw inputs``         ``KMeans(k, random_state=seed)`` on the dataset's normalized
                                    inputs, one run per seed of the study (:func:`kmeans_raw`)
``k-means (k), latent codes``       the same on each trained encoder's codes z = sigmoid(enc(x))
                                    (``dcsomrl.trainer.encode``), one run per COMPLETE trial,
                                    seeded with its seed (:func:`kmeans_latent`)
``k-means (k = nodes), ...``        both again with k = each trained map's node count (equal k:
                                    NMI and Purity grow with k)
==================================  ==============================================================

**The cache.** A resumed, finished study is not clustered again:
:func:`cached_baselines` reads the rows back from the ``final_runs.csv`` and
``baseline_notes.json`` an earlier run wrote (:func:`save_notes`) when they
were written for the same COMPLETE trials. :func:`kmeans_rows` is the entry:
the cached rows, else :func:`baselines`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from dcsomrl import metrics
from dcsomrl.trainer import encode, load_run
from dcsomrl.util import as_numpy, one_line

from .errors import check_count
from .table import complete_only

#: k-means++ starts per run: one, as scikit-learn's ``n_init="auto"`` does for k-means++;
#: the spread over seeds is what the table reports.
N_INIT = 1
#: ``k`` of the k-means rows that match each trained map's own node count.
NODES = "nodes"
#: Columns of :func:`kmeans_latent`'s runs (:func:`kmeans_raw`'s: the same without ``number``).
LATENT_COLUMNS = ["seed", "number", "purity", "nmi", "ami", "ari", "n_nodes", "seconds"]


def kmeans_scores(x_train, x_test, y_test, k: int = 64, seed: int = 0, n_init: int = N_INIT) -> dict:
    """Purity, NMI, AMI and ARI of ``KMeans(k, random_state=seed)`` fitted on x_train, evaluated on (x_test, y_test).

    Each test row's cluster is its nearest centroid (``KMeans.predict``).
    """
    x_train = as_numpy(x_train).astype(np.float32, copy=False)
    k = check_count("--k", k, len(x_train), "the training rows")
    model = KMeans(n_clusters=k, n_init=n_init, random_state=int(seed)).fit(x_train)
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
    return pd.DataFrame(rows, columns=LATENT_COLUMNS), notes


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


def cached_rows(folder: Path, trials: pd.DataFrame, model: str, methods: list[str]):
    """The (method, runs) pairs of ``methods`` from an earlier ``final_runs.csv`` in ``folder`` when it was
    written for the same COMPLETE ``trials`` (the runs labelled ``model`` there), else None: a finished
    study's k-means is read back, not fitted again on encoders pruned since (``--save-models``)."""
    path = folder / "final_runs.csv"
    if not path.is_file():
        return None
    old = pd.read_csv(path)
    done, _ = complete_only(trials)
    ours = old.loc[old["method"] == model, "number"].dropna().astype(int)
    if sorted(ours) != sorted(done["number"].astype(int)) or "ami" not in old or not set(methods) <= set(old["method"]):
        return None
    return [(m, old.loc[old["method"] == m].drop(columns="method").reset_index(drop=True)) for m in methods]


def cached_baselines(folder: Path, trials: pd.DataFrame, k: int, model: str = "DC-SOMRL"):
    """(rows, notes) of :func:`baselines` from an earlier ``final_runs.csv`` and ``baseline_notes.json`` in
    ``folder`` when they were written for the same COMPLETE trials (:func:`cached_rows`), else None."""
    notes = folder / "baseline_notes.json"
    rows = cached_rows(folder, trials, model, baseline_methods(k)) if notes.is_file() else None
    return None if rows is None else (rows, json.loads(notes.read_text()))


def save_notes(folder: Path, notes: list[str]) -> Path:
    """Write the k-means rows' notes as ``baseline_notes.json`` beside ``final_runs.csv`` (the cache's
    second half, :func:`cached_baselines`)."""
    path = Path(folder) / "baseline_notes.json"
    path.write_text(json.dumps(notes))
    return path


def kmeans_rows(wanted: bool, folder: Path, trials: pd.DataFrame, data, seed_list: list[int], k: int,
                title: str) -> tuple[list[tuple[str, pd.DataFrame]], list[str]]:
    """The four k-means rows and their notes (from ``folder``'s earlier files when they match the
    trials, :func:`cached_baselines`); none when not ``wanted``."""
    if not wanted:
        return [], []
    cached = cached_baselines(folder, trials, k, title)
    return cached if cached is not None else baselines(trials, data, seed_list, k)
