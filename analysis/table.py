"""The trial table every analysis starts from, and the rules that clean it.

The analysis layer works on a plain :class:`pandas.DataFrame` with one row
per trial: parameter columns (``a_t``, ``lr``, ...), outcome columns
(``nmi``, ``purity``, ``n_nodes``) and optional metadata (``state``,
``number``, ``seed``, ``device``, ``seconds``, ``reason``, ...).
:func:`prepare` turns such a table into the sample the measures use:

* an empty table, a missing outcome or parameter column, or fewer than
  :data:`MIN_TRIALS` usable trials raise :class:`AnalysisError` (one line);
* with a ``state`` column only ``COMPLETE`` trials are used (failed, pruned
  and running ones are counted in ``counts["states"]``);
* a trial whose parameter value is missing is dropped (counted);
* a non-finite outcome (NaN, inf) is dropped *for that outcome only*
  (counted in ``counts["nan_outcomes"]``);
* a non-numeric parameter (e.g. the categorical ``repel``) is kept apart, in
  ``Prepared.categorical``, for :mod:`analysis.categorical`; a column of
  numbers with some text cells is an error naming the column and the row;
* a constant parameter (a value the space fixed) is dropped with a note;
* a constant outcome is dropped with a note.

What was dropped and why is in ``Prepared.notes``, which the report prints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import AnalysisError  # noqa: F401 -- re-exported: analysis.table.AnalysisError
from .markdown import value_text
from studies.export import complete_only  # noqa: F401 -- the one COMPLETE filter, re-exported here

#: Fewer usable trials than this and nothing can be estimated.
MIN_TRIALS = 3

#: Outcomes a study records (never taken for parameters).
KNOWN_OUTCOMES = ("nmi", "purity", "ami", "ari", "n_nodes", "value")

#: Metadata columns (never taken for parameters).
METADATA = frozenset({
    "number", "trial", "trial_id", "design_index", "replicate", "retry_of", "state", "status", "seed", "device",
    "host", "worker",
    "seconds", "duration", "reason", "dataset", "model", "study", "run_dir", "out_dir",
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


def recorded_outcomes(table: pd.DataFrame) -> list[str]:
    """The default outcomes of an analysis: those of nmi, purity, ami, ari that the table records
    (older studies have no AMI/ARI); nmi and purity when it records none."""
    return [o for o in RECORDED_OUTCOMES if o in table and table[o].notna().any()] or ["nmi", "purity"]


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
    """Clean a trial table by the rules in this module's docstring.

    ``params``: parameter names (a list or a comma-separated string); None
    infers them (:func:`infer_params`). ``outcomes``: outcome names.
    Raises :class:`AnalysisError` when nothing can be analysed.
    """
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

    notes: list[str] = []
    data, states = complete_only(table)
    n_total = len(table)
    others = {k: v for k, v in states.items() if k != "COMPLETE"}
    if others:
        notes.append("used COMPLETE trials only; left out: "
                     + ", ".join(f"{v} {k}" for k, v in sorted(others.items())))

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
    bad = data[kept + choices].isna().any(axis=1) if kept + choices else pd.Series(False, index=data.index)
    if bad.any():
        notes.append(f"{int(bad.sum())} trial(s) dropped: a parameter value is missing")
        data = data.loc[~bad]
    if len(data) == 0:
        raise AnalysisError(f"no usable COMPLETE trials (of {n_total} in the table)")

    params_out, categorical = varying(data, kept), varying(data, choices)
    notes += [f"parameter {p} dropped: constant ({value_text(data[p].iloc[0])}) in the COMPLETE trials"
              for p in kept + choices if p not in params_out + categorical]
    if not params_out:
        raise AnalysisError("no parameter varies across the COMPLETE trials")

    nan_counts, outcomes_out, dropped = {}, [], []
    for o in outcomes:
        y = pd.to_numeric(data[o], errors="coerce").astype(float)
        y = y.where(np.isfinite(y))
        data = data.assign(**{o: y})
        nan_counts[o] = int(y.isna().sum())
        if nan_counts[o]:
            notes.append(f"{o}: {nan_counts[o]} trial(s) with a missing or non-finite value dropped")
        if y.notna().sum() < MIN_TRIALS:
            dropped.append(f"outcome {o} dropped: {int(y.notna().sum())} finite value(s) "
                           f"in the COMPLETE trials, need at least {MIN_TRIALS}")
        elif y.nunique() < 2:
            dropped.append(f"outcome {o} dropped: constant ({y.dropna().iloc[0]:g})")
        else:
            outcomes_out.append(o)
    notes += dropped
    if not outcomes_out:
        raise AnalysisError("no outcome to analyse: " + "; ".join(dropped))

    counts = {"total": n_total, "complete": int(states.get("COMPLETE", 0)), "used": len(data),
              "states": states, "nan_outcomes": nan_counts}
    data = data[params_out + categorical + outcomes_out].reset_index(drop=True)
    data = data.assign(**{p: data[p].astype(str) for p in categorical})
    return Prepared(data=data, params=params_out, outcomes=outcomes_out, notes=notes, counts=counts,
                    categorical=categorical)
