"""The trial table every analysis starts from, and the rules that clean it.

The analysis layer works on a plain :class:`pandas.DataFrame` with one row
per trial: parameter columns (``a_t``, ``lr``, ...), outcome columns
(``nmi``, ``purity``, ``n_nodes``) and optional metadata (``state``,
``number``, ``seed``, ``device``, ``seconds``, ``reason``, ...).
:func:`prepare` turns such a table into the sample the measures use, by
these rules, one function each, applied in this order:

* an empty table or a missing outcome or parameter column raises
  :class:`AnalysisError` (one line) (``_check_columns``);
* with a ``state`` column only ``COMPLETE`` trials are used (failed, pruned
  and running ones are counted in ``counts["states"]``) (``_complete_trials``);
* degenerate trials (a map collapsed to one node, :mod:`analysis.degenerate`)
  are kept, a collapse being an outcome, with a note saying how many
  (``_note_degenerate``);
* a non-numeric parameter (e.g. the categorical ``repel``) is kept apart, in
  ``Prepared.categorical``, for :mod:`analysis.categorical`; a column of
  numbers with some text cells is an error naming the column and the row
  (``_numeric_or_categorical``);
* a trial whose parameter value is missing or not finite (inf) is dropped
  (counted) (``_drop_missing_parameters``);
* a constant parameter (a value the space fixed) is dropped with a note
  (``_drop_constant_parameters``);
* a non-finite outcome (NaN, inf) is dropped *for that outcome only*
  (counted in ``counts["nan_outcomes"]``) (``_mask_missing_outcomes``);
* a constant outcome, or one with fewer than :data:`MIN_TRIALS` usable
  trials, is dropped with a note; none left raises (``_drop_unusable_outcomes``);
* the sample keeps the used columns only, categorical values as text
  (``_used_columns``).

What was dropped and why is in ``Prepared.notes``, which the report prints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .degenerate import classify, count_note
from .errors import AnalysisError  # noqa: F401 -- re-exported: analysis.table.AnalysisError
from .formatting import value_text
from studies.export import complete_only  # noqa: F401 -- the one COMPLETE filter, re-exported here

#: Fewer usable trials than this and nothing can be estimated.
MIN_TRIALS = 3

#: Outcomes a study records (never taken for parameters).
KNOWN_OUTCOMES = ("nmi", "purity", "ami", "ari", "n_nodes", "value")

#: Metadata columns (never taken for parameters).
METADATA = frozenset({
    "number", "trial", "trial_id", "design_index", "replicate", "retry_of", "state", "status", "seed", "device",
    "host", "worker",
    "seconds", "duration", "reason", "degenerate", "dataset", "model", "study", "run_dir", "out_dir",
    "datetime_start", "datetime_complete", "started", "finished", "attempt", "retries",
})


@dataclass
class Prepared:
    """The cleaned sample: COMPLETE trials, numeric varying parameters (and categorical ones apart)."""

    data: pd.DataFrame  # COMPLETE trials; outcome columns may hold NaN (see outcome_data)
    params: list[str]  # numeric parameters that vary
    outcomes: list[str]
    notes: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    categorical: list[str] = field(default_factory=list)  # non-numeric parameters that vary (as text)

    def outcome_data(self, outcome: str) -> pd.DataFrame:
        """The parameter columns and ``outcome`` of the trials where ``outcome`` is finite."""
        return self.data.loc[self.data[outcome].notna(), self.params + [outcome]]

    def categorical_data(self, outcome: str) -> pd.DataFrame:
        """The categorical parameter columns and ``outcome``, on the same trials as :meth:`outcome_data`."""
        return self.data.loc[self.data[outcome].notna(), self.categorical + [outcome]]

    def outcome_params(self, outcome: str) -> list[str]:
        """The parameters that vary among the trials where ``outcome`` is finite (:func:`varying`)."""
        return varying(self.outcome_data(outcome), self.params)

    def outcome_categorical(self, outcome: str) -> list[str]:
        """The categorical parameters that vary among the trials where ``outcome`` is finite."""
        return varying(self.categorical_data(outcome), self.categorical)


def varying(data: pd.DataFrame, params) -> list[str]:
    """The columns of ``params`` that take at least two distinct values in ``data`` (order kept).

    The one rule for leaving out constant parameters (a value the space
    fixed, or one that is constant where an outcome is finite): nothing can
    be learned about a parameter that did not vary.
    """
    return [p for p in params if data[p].nunique() > 1]


def infer_params(table: pd.DataFrame, outcomes=()) -> list[str]:
    """Parameter columns of a table.

    ``table.attrs["params"]`` when set (as :func:`studies.export.study_table`
    does), else every column that is not an outcome or metadata
    (:data:`KNOWN_OUTCOMES`, :data:`METADATA`).

    Columns named like Optuna's ``trials_dataframe`` ``user_attrs_*`` /
    ``system_attrs_*`` are metadata.
    """
    listed = table.attrs.get("params")
    if listed and all(p in table.columns for p in listed):
        return [p for p in listed if p not in outcomes]
    skip = set(outcomes) | set(KNOWN_OUTCOMES) | METADATA
    return [c for c in table.columns
            if c not in skip and not str(c).startswith(("user_attrs_", "system_attrs_"))]


#: The outcomes every trial records (AMI and ARI since the protocol issue).
RECORDED_OUTCOMES = ("nmi", "purity", "ami", "ari")


#: The outcomes an analysis reads by default: the four scores and the map's final size (what drives the
#: number of clusters the map ends with; the paper reports 60-80 nodes on MNIST).
ANALYSED_OUTCOMES = (*RECORDED_OUTCOMES, "n_nodes")


def recorded_outcomes(table: pd.DataFrame) -> list[str]:
    """The default outcomes of an analysis: those of nmi, purity, ami, ari and n_nodes that the table
    records (older studies have no AMI/ARI); nmi and purity when it records no score. n_nodes is left
    out where it does not vary (a fixed grid: every run uses the same map)."""
    scores = [o for o in RECORDED_OUTCOMES if o in table and table[o].notna().any()] or ["nmi", "purity"]
    nodes = "n_nodes" in table and pd.to_numeric(table["n_nodes"], errors="coerce").dropna().nunique() > 1
    return scores + (["n_nodes"] if nodes else [])


def _split(names, what: str) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(names))
    if not names:
        raise AnalysisError(f"no {what} given")
    return names


def _refuse_mixed(data: pd.DataFrame, p: str, numbers: pd.Series) -> None:
    """A column of numbers with a few text cells is a typo, not a categorical parameter: one error
    naming the column and the first such row (its trial number where the table has one)."""
    text = data[p].notna() & numbers.isna()
    if text.any() and numbers.notna().any():
        row = text.idxmax()
        where = f"trial {data.loc[row, 'number']}" if "number" in data.columns else f"row {row}"
        raise AnalysisError(f"parameter column {p}: {where} holds {data.loc[row, p]!r}, not a number, "
                            f"while {int(numbers.notna().sum())} other value(s) are numbers; fix the table")


def prepare(table: pd.DataFrame, params=None, outcomes=("nmi", "purity")) -> Prepared:
    """Clean a trial table by the rules in this module's docstring, one function each, in that order.

    ``params``: parameter names (a list or a comma-separated string); None
    infers them (:func:`infer_params`). ``outcomes``: outcome names.
    Raises :class:`AnalysisError` when nothing can be analysed.
    """
    params, outcomes = _check_columns(table, params, outcomes)
    notes: list[str] = []
    data, states = _complete_trials(table, notes)
    _note_degenerate(data, notes)
    data, kept, choices = _numeric_or_categorical(data, params)
    data = _drop_missing_parameters(data, kept + choices, notes, len(table))
    params, categorical = _drop_constant_parameters(data, kept, choices, notes)
    data, nan_counts = _mask_missing_outcomes(data, outcomes, notes)
    outcomes = _drop_unusable_outcomes(data, outcomes, notes)
    counts = {"total": len(table), "complete": int(states.get("COMPLETE", 0)), "used": len(data),
              "states": states, "nan_outcomes": nan_counts}
    return Prepared(data=_used_columns(data, params, categorical, outcomes), params=params, outcomes=outcomes,
                    notes=notes, counts=counts, categorical=categorical)


def _check_columns(table: pd.DataFrame, params, outcomes) -> tuple[list[str], list[str]]:
    """Refuses a non-table, an empty one, and missing or overlapping columns (raises); no note."""
    if not isinstance(table, pd.DataFrame):
        raise AnalysisError(f"expected a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        raise AnalysisError("the table is empty: no trials to analyse")
    outcomes = _split(outcomes, "outcomes")
    missing = [o for o in outcomes if o not in table.columns]
    if missing:
        raise AnalysisError(f"outcome column(s) {', '.join(missing)} not in the table "
                            f"(columns: {', '.join(map(str, table.columns))})")
    params = _split(params, "parameters") if params is not None else infer_params(table, outcomes)
    missing = [p for p in params if p not in table.columns]
    if missing:
        raise AnalysisError(f"parameter column(s) {', '.join(missing)} not in the table")
    if not params:
        raise AnalysisError("the table has no parameter columns")
    overlap = set(params) & set(outcomes)
    if overlap:
        raise AnalysisError(f"{', '.join(sorted(overlap))} given as both parameter and outcome")
    return params, outcomes


def _complete_trials(table: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Drops all but the COMPLETE trials; notes "used COMPLETE trials only; left out: ..." when any went."""
    data, states = complete_only(table)
    others = {k: v for k, v in states.items() if k != "COMPLETE"}
    if others:
        notes.append("used COMPLETE trials only; left out: "
                     + ", ".join(f"{v} {k}" for k, v in sorted(others.items())))
    return data, states


def _note_degenerate(data: pd.DataFrame, notes: list[str]) -> None:
    """Keeps degenerate trials (a collapse is an outcome); notes "N of M trials degenerate (...), kept"."""

    note = count_note(classify(data), "COMPLETE trials")
    if note:
        notes.append(f"{note}: kept in the analysis (a collapse is an outcome)")


def _numeric_or_categorical(data: pd.DataFrame, params: list[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Makes numeric parameters (text numbers too) float, sets the rest apart as categorical; no note."""
    kept, choices = [], []
    for p in params:
        col = data[p]
        if not pd.api.types.is_numeric_dtype(col):  # numbers stored as text (a CSV) still count
            numbers = pd.to_numeric(col, errors="coerce")
            _refuse_mixed(data, p, numbers)
            col = numbers if numbers.notna().sum() == col.notna().sum() else col
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            choices.append(p)  # categorical: compared across its choices (analysis.categorical)
            continue
        data = data.assign(**{p: col.astype(float)})
        kept.append(p)
    return data, kept, choices


def _drop_missing_parameters(data: pd.DataFrame, columns: list[str], notes: list[str], n_total: int) -> pd.DataFrame:
    """Drops trials missing a parameter value or holding a non-finite one (inf); notes "N trial(s) dropped:
    a parameter value is missing" / "... is not finite (columns)"."""
    bad = data[columns].isna().any(axis=1) if columns else pd.Series(False, index=data.index)
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(data[c])]
    infinite = ~np.isfinite(data[numeric].fillna(0.0)).all(axis=1) if numeric else bad & False
    if infinite.any():
        where = ", ".join(c for c in numeric if not np.isfinite(data[c].fillna(0.0)).all())
        notes.append(f"{int(infinite.sum())} trial(s) dropped: a parameter value is not finite ({where})")
    bad = bad & ~infinite
    if bad.any():
        notes.append(f"{int(bad.sum())} trial(s) dropped: a parameter value is missing")
    bad = bad | infinite
    if bad.any():
        data = data.loc[~bad]
    if len(data) == 0:
        raise AnalysisError(f"no usable COMPLETE trials (of {n_total} in the table)")
    return data


def _drop_constant_parameters(data: pd.DataFrame, kept: list[str], choices: list[str],
                              notes: list[str]) -> tuple[list[str], list[str]]:
    """Drops constant parameters (numeric, categorical); notes "parameter P dropped: constant (V) ..." each."""
    params, categorical = varying(data, kept), varying(data, choices)
    notes += [f"parameter {p} dropped: constant ({value_text(data[p].iloc[0])}) in the COMPLETE trials"
              for p in kept + choices if p not in params + categorical]
    if not params:
        raise AnalysisError("no parameter varies across the COMPLETE trials")
    return params, categorical


def _mask_missing_outcomes(data: pd.DataFrame, outcomes: list[str], notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """Makes missing or non-finite outcome values NaN (dropped for that outcome only); notes "O: N trial(s) ..."."""
    nan_counts = {}
    for o in outcomes:
        y = pd.to_numeric(data[o], errors="coerce").astype(float)
        y = y.where(np.isfinite(y))
        data = data.assign(**{o: y})
        nan_counts[o] = int(y.isna().sum())
        if nan_counts[o]:
            notes.append(f"{o}: {nan_counts[o]} trial(s) with a missing or non-finite value dropped")
    return data, nan_counts


def _drop_unusable_outcomes(data: pd.DataFrame, outcomes: list[str], notes: list[str]) -> list[str]:
    """Drops outcomes with under MIN_TRIALS finite values or constant; notes "outcome O dropped: ..." each."""
    kept, dropped = [], []
    for o in outcomes:
        y = data[o]
        if y.notna().sum() < MIN_TRIALS:
            dropped.append(f"outcome {o} dropped: {int(y.notna().sum())} finite value(s) "
                           f"in the COMPLETE trials, need at least {MIN_TRIALS}")
        elif y.nunique() < 2:
            dropped.append(f"outcome {o} dropped: constant ({y.dropna().iloc[0]:g})")
        else:
            kept.append(o)
    notes += dropped
    if not kept:
        raise AnalysisError("no outcome to analyse: " + "; ".join(dropped))
    return kept


def _used_columns(data: pd.DataFrame, params: list[str], categorical: list[str], outcomes: list[str]) -> pd.DataFrame:
    """Keeps only the used columns (parameters, categorical as text, outcomes), rows renumbered; no note."""
    data = data[params + categorical + outcomes].reset_index(drop=True)
    return data.assign(**{p: data[p].astype(str) for p in categorical})
