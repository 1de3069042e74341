"""A study as tidy tables: what ``dcsomrl-study export`` writes and the analysis layer reads.

:func:`study_table`: one row per trial, columns

=================  ==========================================================
number             Optuna trial number (also the run directory's name)
state              COMPLETE, FAIL, PRUNED (a skipped duplicate), RUNNING, WAITING
design_index       the design point (0 .. n-1, replicates continue); a retried point has several rows
replicate          0 for the study's own design, r for the r-th replicate added by ``extend``
<parameters>       one column per parameter of the study's space, space order
nmi, purity        outcomes on the test set (NMI is the trial's Optuna value)
ami, ari           chance-adjusted outcomes on the test set (empty for trials recorded before them)
n_nodes            active nodes at the end
seconds            training + evaluation time
seed               the trial's training seed (study seed + design index)
device, host       where it ran
reason             why it failed (empty for complete trials)
degenerate         why a complete trial's scores measure no clustering ("one node", ...; empty otherwise)
retry_of           the trial it re-runs (lost worker, interruption; empty otherwise)
run_dir            its run directory
datetime_start, datetime_complete
=================  ==========================================================

``table.attrs`` holds ``params`` and ``outcomes`` (the column lists), ``design``
(the study's design record) and ``study`` (its name).

:func:`validation_table`: the validation curves (paper appendix A.2, Fig. 7)
in long form, one row per (trial, step).
"""
from __future__ import annotations

import os
import pathlib

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from dcsomrl.util import one_line
from studies import storage as st
from studies import study as sy
from studies.errors import ExportError

OUTCOMES = ("nmi", "purity", "ami", "ari", "n_nodes", "seconds")
LOST = "worker lost (no heartbeat within the grace period)"


def open_study(name: str, storage: str | None = None, results: str | os.PathLike = "results") -> optuna.Study:
    """Load a study by name from ``storage`` (default: :func:`studies.storage.resolve_url`)."""
    return sy.load(st.open_storage(st.resolve_url(storage, name, results), create=False), name)


def study_table(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> pd.DataFrame:
    """One row per trial: number, state, design index, every parameter, every outcome, metadata.

    ``trials``: the study's trials when the caller has fetched them already
    (``study.get_trials(deepcopy=False)``), so that they are read once.
    """
    design = study.user_attrs.get("design", {})
    params = list(design.get("space", {}).get("params", {}))
    rows = []
    for t in study.get_trials(deepcopy=False) if trials is None else trials:
        values = dict(t.system_attrs.get("fixed_params", {}))
        values.update(t.params)
        ua = t.user_attrs
        reason = ua.get("reason", "")
        if t.state == TrialState.FAIL and not reason:
            reason = LOST
        history = t.system_attrs.get("retry_history") or []
        before = [n for n in (t.system_attrs.get("requeued_from"), history[-1] if history else None) if n is not None]
        retry_of = max(before) if before else None  # the latest trial this one re-runs
        row = {"number": t.number, "state": t.state.name, "design_index": ua.get("design_index"),
               "replicate": ua.get("replicate", 0)}
        row.update({p: values.get(p) for p in params})
        row.update({
            "nmi": t.value if t.state == TrialState.COMPLETE else None,
            "purity": ua.get("purity"), "ami": ua.get("ami"), "ari": ua.get("ari"), "n_nodes": ua.get("n_nodes"), "seconds": ua.get("seconds"),
            "seed": ua.get("seed"), "device": ua.get("device"), "host": ua.get("host"), "reason": reason,
            "degenerate": ua.get("degenerate"),
            "retry_of": retry_of, "run_dir": ua.get("run_dir"),
            "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete,
        })
        rows.append(row)
    columns = ["number", "state", "design_index", "replicate", *params, *OUTCOMES, "seed", "device", "host", "reason",
               "degenerate", "retry_of", "run_dir", "datetime_start", "datetime_complete"]
    table = pd.DataFrame(rows, columns=columns)
    for col in ("nmi", "purity", "ami", "ari", "seconds"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    for col in ("design_index", "replicate", "n_nodes", "seed", "retry_of"):
        table[col] = pd.array(table[col], dtype="Int64")
    table.attrs.update(params=params, outcomes=list(OUTCOMES[:5]), design=design, study=study.study_name)
    return table


def validation_table(study: optuna.Study, trials: list[FrozenTrial] | None = None) -> pd.DataFrame:
    """The validation curves of the COMPLETE trials: number, design_index, step, epoch, nmi, purity, ami, ari, n_nodes, loss.

    ``trials``: as for :func:`study_table`.
    """
    rows = []
    for t in study.get_trials(deepcopy=False) if trials is None else trials:
        if t.state != TrialState.COMPLETE:
            continue
        for point in t.user_attrs.get("validation", []) or []:
            rows.append({"number": t.number, "design_index": t.user_attrs.get("design_index"), **point})
    return pd.DataFrame(rows, columns=None if rows else
                        ["number", "design_index", "step", "epoch", "nmi", "purity", "ami", "ari", "n_nodes", "loss"])


def write_csv(table: pd.DataFrame, path: str | os.PathLike) -> pathlib.Path:
    """Write a table (:func:`study_table`, :func:`validation_table`) as CSV, creating its folder.

    A path that cannot be written (a file where a folder should be, no
    permission) raises :class:`studies.errors.ExportError` naming it.
    """
    path = pathlib.Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
    except OSError as err:
        raise ExportError(f"cannot write {path}: {err.strerror or one_line(err)}") from None
    return path


def complete_only(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep the COMPLETE trials; return them and the count of each state in the table.

    Without a ``state`` column every row counts as COMPLETE. States are
    compared case-insensitively and ``TrialState.COMPLETE`` reads as ``COMPLETE``.
    """
    if "state" not in table.columns:
        return table, {"COMPLETE": len(table)}
    state = table["state"].astype(str).str.upper().str.replace("TRIALSTATE.", "", regex=False)
    counts = {str(k): int(v) for k, v in state.value_counts().items()}
    return table.loc[state == "COMPLETE"], counts


def best(table: pd.DataFrame, k: int = 5, by: str = "nmi") -> pd.DataFrame:
    """The k COMPLETE trials with the highest ``by``."""
    done, _ = complete_only(table)
    return done.sort_values(by, ascending=False).head(k)
