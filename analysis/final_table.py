"""The final table as data: ``final.csv`` and ``final_runs.csv`` from the runs each method made.

:func:`tabulate` is the whole computation, a pure function of the studied
model's trial table and each baseline's ``(method, runs)`` rows; it returns a
:class:`FinalTable`, which :mod:`analysis.final_report` renders and writes.
Its pieces:

* :func:`summarize`: one row of ``final.csv``, the mean and sample standard
  deviation (ddof 1; undefined for one run, as ``pandas.Series.std``) of each
  outcome over a method's COMPLETE runs, and its degenerate runs
  (:mod:`analysis.degenerate`) counted, with the means without them;
* :func:`final_table`: the studied model's row, each baseline's, the paper's
  (:func:`analysis.paper.paper_rows`);
* :func:`run_table`: every run behind the means;
* :func:`degenerate_notes`: one sentence per row with degenerate runs;
* :func:`trained_epochs`: each run's training epochs (DE-SOM's iteration
  budget converted).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .degenerate import classify, count_note
from .formatting import epochs_text, mean_std
from .paper import paper_rows
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
#: ``final.csv``'s ``source`` of the rows measured here (the paper's: ``analysis.paper.PAPER``).
THIS_STUDY = "this study"
_NAN = float("nan")


@dataclass(frozen=True)
class FinalTable:
    """What ``final.md`` reports (:func:`tabulate`): the table, the runs behind it, the words around them."""

    table: pd.DataFrame                           # final.csv: one row per method (COLUMNS)
    title: str                                    # final.md's heading
    runs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RUN_COLUMNS))  # final_runs.csv
    context: tuple[str, ...] = ()                 # what was run (the study, its seeds), above the table
    values: dict[str, Any] = field(default_factory=dict)  # the fixed values trained (the last section)
    notes: tuple[str, ...] = ()                   # where rows come from, seeds short, degenerate runs


def tabulate(trials: pd.DataFrame, rows: list[tuple[str, pd.DataFrame]], *, dataset: str, title: str,
             model: str = "DC-SOMRL", n_classes: int | None = None, n_test: int | None = None,
             context: list[str] = (), values: dict[str, Any] | None = None, notes: list[str] = ()) -> FinalTable:
    """The final table of the studied model's ``trials`` and each baseline's (method, runs) ``rows``:
    ``final.csv`` (:func:`final_table`), ``final_runs.csv`` (:func:`run_table`), and ``notes`` followed
    by the degenerate runs' (:func:`degenerate_notes`)."""
    table = final_table(trials, rows, dataset=dataset, model=model, n_classes=n_classes, n_test=n_test)
    return FinalTable(table, title, run_table(trials, rows, model=model), tuple(context), dict(values or {}),
                      (*notes, *degenerate_notes(table)))


def summarize(runs: pd.DataFrame, method: str, *, source: str = THIS_STUDY, dataset: str = "",
              n_classes: int | None = None, n_test: int | None = None) -> dict:
    """One row of ``final.csv``: mean and sample std (ddof 1) of purity, nmi, ami, ari and n_nodes over ``runs``.

    With a ``state`` column only COMPLETE runs count; ``runs`` is how many did. Degenerate runs
    (:func:`analysis.degenerate.classify`, with the data set's ``n_classes`` and ``n_test`` when given)
    count in the means; ``degenerate`` says how many, ``degenerate_note`` which, and the
    ``<outcome>_mean_without`` / ``_std_without`` columns give the means without them.
    """
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
