"""New parameter spaces from a finished study: ``refine`` (narrower ranges) and ``best`` (fixed values).

A space is either a :class:`studies.space.Space` (what ``studies/spaces/*.toml``
load into; the result is a ``Space`` too, validated by
:func:`studies.space.parse_space`, ready for :func:`studies.space.write_space`)
or the plain dict form ``{name: {"low", "high", "type", "scale"} | {"value"} |
{"choices"}}`` (optionally wrapped as ``{"description": ..., "params": {...}}``),
which works for any parameter names (the synthetic tests use it).

**refine rule** (:func:`refine_plan`; the paper's App. A.1 step from initial
to adjusted ranges). "Not detected" is not "not influential": refine narrows
where there is evidence and pins nothing unless asked. On the COMPLETE
trials with a finite ``outcome``:

1. the space's varying parameters found in the table are analysed with
   :func:`analysis.sensitivity.analyze`; a parameter *has evidence* when it is
   ``significant`` there (:mod:`analysis.screening`: ``control``, ``level``);
2. a numeric parameter with evidence is **narrowed** to its *behavioural
   region*: the central 90% (5% to 95% quantiles) of its values over the
   behavioural trials (outcome at or above its ``behavioural_quantile``
   quantile), measured on the parameter's scale (u in [0, 1] of
   :func:`studies.design.scale_inverse`), widened by a margin of max(10% of
   that range, half a stratum 1 / (2n)) on each side and clipped to the
   original range; integers are rounded outward; type and scale kept;
3. a numeric parameter without evidence **keeps** its range; with
   ``hull=True`` it shrinks to the behavioural trials' hull (their whole
   range, with the same margin), never further;
4. a categorical parameter with evidence keeps the choices that have a
   behavioural trial; without evidence it keeps all its choices;
4b. a varying **budget** parameter (``batch_size``, ``epochs``; dcsomrl.params.BUDGET) is listed
   apart and kept as it is: "set by the budget, not refined" (its apparent effect is a cost);
5. a parameter is **fixed** at the best trial's value only when asked:
   named in ``fix``, or ``fix_unimportant=True`` for those without evidence;
6. fixed parameters, and varying ones the analysis could not use (absent
   from the table, or constant in it), are **kept** as they are.

**best rule** (:func:`best`): every parameter of the space is fixed at the
value of the best trial (the COMPLETE trial with the highest finite
``outcome``; ties: the first in table order); parameters already fixed keep
their value.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from dcsomrl.params import BUDGET
from studies.design import scale_inverse, scale_map
from studies.space import parse_space

from . import sensitivity
from .categorical import SEP
from .errors import AnalysisError
from .table import Prepared, complete_only, prepare

PLAN_COLUMNS = ["parameter", "action", "old", "new", "reason"]


# ----- space forms -----------------------------------------------------------------------------

def _is_space(space) -> bool:
    return hasattr(space, "dims") and hasattr(space, "to_dict")


def to_plain(space) -> tuple[dict[str, dict], str]:
    """(``{name: entry}``, description) of a ``Space`` or of the plain dict form."""
    if _is_space(space):
        return {n: d.to_dict() for n, d in space.dims.items()}, space.description
    if not isinstance(space, dict) or not space:
        raise AnalysisError(f"expected a space (studies.space.Space or a dict of parameters), got {space!r}")
    if "params" in space and isinstance(space["params"], dict):
        return copy.deepcopy(space["params"]), str(space.get("description", ""))
    return copy.deepcopy(space), ""


def from_plain(entries: dict[str, dict], description: str, like, suffix: str):
    """Back to the form of ``like``: a validated ``Space`` (named ``<name>-<suffix>``) or a dict."""
    if not _is_space(like):
        return entries


    parsed = parse_space({"description": description, "params": entries}, f"{like.name}-{suffix}", like.model)
    return replace(parsed, name=f"{like.name}-{suffix}")


def _varies(entry: dict) -> bool:
    return "value" not in entry and "low" in entry and "high" in entry


def _as_type(value: float, entry: dict) -> Any:
    kind = entry.get("type", "float")
    if kind == "int":
        return int(round(float(value)))
    if kind == "float":
        return float(value)
    return value


# ----- best ------------------------------------------------------------------------------------

def best_trial(table: pd.DataFrame, outcome: str = "nmi") -> pd.Series:
    """The COMPLETE trial with the highest finite ``outcome`` (ties: first in table order)."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise AnalysisError("the table is empty: no trials to choose from")
    if outcome not in table.columns:
        raise AnalysisError(f"outcome column {outcome} not in the table")
    done, _ = complete_only(table)
    y = pd.to_numeric(done[outcome], errors="coerce")
    y = y.where(np.isfinite(y))
    if y.notna().sum() == 0:
        raise AnalysisError(f"no COMPLETE trial with a finite {outcome}")
    return done.loc[y.idxmax()]


def trial_label(row: pd.Series) -> str:
    """'trial <number>' when the table has a ``number`` column, else 'the best trial'."""
    if "number" in row.index and not pd.isna(row["number"]):
        return f"trial {int(row['number'])}"
    return "the best trial"


def best(table: pd.DataFrame, space, outcome: str = "nmi"):
    """The space with every parameter fixed at the best trial's value (rule in the module docstring)."""
    entries, _ = to_plain(space)
    row = best_trial(table, outcome)
    out = {}
    for name, entry in entries.items():
        if "value" in entry:
            out[name] = dict(entry)
            continue
        if name not in row.index or pd.isna(row[name]):
            raise AnalysisError(f"parameter {name} varies in the space but has no value in the table")
        out[name] = {"type": entry.get("type", "float"), "value": _as_type(row[name], entry)}
    description = f"best values: {trial_label(row)}, {outcome} = {float(row[outcome]):.4g}"
    return from_plain(out, description, space, "best")


# ----- refine ----------------------------------------------------------------------------------

def refine_plan(table: pd.DataFrame, space, outcome: str = "nmi", *, behavioural_quantile: float = 0.75,
                control: str = "fwer", level: float = 0.05, n_classes: int | None = None, seed: int = 0,
                fix=(), fix_unimportant: bool = False, hull: bool = False
                ) -> tuple[dict[str, dict], pd.DataFrame]:
    """The refined entries and the plan table (parameter, action, old, new, reason).

    ``action`` is "narrow", "fix" or "keep" (rule in the module docstring), or "budget" for a varying
    budget parameter (``batch_size``, ``epochs``: set by the budget, not refined; kept as it is).
    """
    entries, table, prep = _plan_inputs(table, space, outcome, fix)
    result = sensitivity.analyze(prep, behavioural_quantile=behavioural_quantile,
                                 control=control, level=level, n_classes=n_classes, seed=seed)
    sens = result.table.set_index("parameter")
    cats = result.categorical.set_index("parameter")
    row = best_trial(table, outcome)
    done = prep.data.loc[prep.data[outcome].notna()]
    good = done.loc[sensitivity.behavioural(done[outcome].to_numpy(float), behavioural_quantile)]
    n = len(done)
    new, plan = {}, []
    for name, entry in entries.items():
        old = _describe(entry)
        if name in BUDGET and _varies(entry):
            new[name], action, reason = dict(entry), "budget", "set by the budget, not refined"
        elif name in cats.index or name in sens.index:
            evidence = bool((cats if name in cats.index else sens).loc[name, "significant"])
            if name in fix or (fix_unimportant and not evidence):
                new[name], action, reason = _fix_at_best(entry, row, name, evidence, cats, sens)
            elif name in cats.index:
                new[name], action, reason = _refine_choices(entry, cats.loc[name])
            else:
                new[name], action, reason = _refine_range(entry, sens.loc[name], good[name], n, hull)
        else:
            why = ("fixed in the space" if "value" in entry
                   else "not in the table" if name not in table.columns else "constant in the COMPLETE trials")
            new[name], action, reason = dict(entry), "keep", why
        plan.append(dict(parameter=name, action=action, old=old, new=_describe(new[name]), reason=reason))
    return new, pd.DataFrame(plan, columns=PLAN_COLUMNS)


def _plan_inputs(table: pd.DataFrame, space, outcome: str,
                 fix) -> tuple[dict[str, dict], pd.DataFrame, Prepared]:
    """The space's entries, the table with categorical values as text, and the prepared sample of the
    space's varying parameters (the trials the analysis and the regions use); checks ``fix``."""
    entries, _ = to_plain(space)
    unknown = [n for n in fix if n not in entries]
    if unknown:
        raise AnalysisError(f"--fix {', '.join(unknown)}: not a parameter of the space "
                            f"({', '.join(entries)})")
    candidates = [n for n, e in entries.items() if _varies(e) and e.get("type", "float") != "categorical"
                  and n in table.columns]
    if not candidates:
        raise AnalysisError("no varying numeric parameter of the space is in the table")
    choices = [n for n, e in entries.items() if "choices" in e and n in table.columns]
    table = table.assign(**{n: table[n].where(table[n].isna(), table[n].astype(str)) for n in choices})
    return entries, table, prepare(table, candidates + choices, [outcome])


def _refine_range(entry: dict, s: pd.Series, good: pd.Series, n: int, hull: bool) -> tuple[dict, str, str]:
    """(new entry, action, reason) of a numeric parameter (rules 2 and 3); ``good``: its behavioural values."""
    if not s["significant"] and not hull:
        return dict(entry), "keep", f"no evidence (adjusted p {s['p_adj']:.2g}); range kept"

    low, high, scale = float(entry["low"]), float(entry["high"]), entry.get("scale", "linear")
    u_good = np.clip(scale_inverse(scale, low, high, good.to_numpy(float)), 0.0, 1.0)
    u = np.quantile(u_good, [0.05, 0.95]) if s["significant"] else np.array([u_good.min(), u_good.max()])
    margin = max(0.1 * (u[1] - u[0]), 0.5 / max(n, 1))
    u_lo, u_hi = max(u[0] - margin, 0.0), min(u[1] + margin, 1.0)
    lo = low if u_lo == 0 else max(float(scale_map(scale, low, high, u_lo)), low)    # the bounds exactly
    hi = high if u_hi == 1 else min(float(scale_map(scale, low, high, u_hi)), high)  # where reached
    if entry.get("type") == "int":
        lo, hi = math.floor(lo), math.ceil(hi)
    if s["significant"]:
        why = (f"evidence (adjusted p {s['p_adj']:.2g}, {s['direction']}); central 90% of the "
               f"{len(good)} behavioural trials")
    else:
        why = f"no evidence (adjusted p {s['p_adj']:.2g}); shrunk to the hull of the {len(good)} behavioural trials"
    reason = f"{why} on its {scale} scale, margin {margin:.2g} of the range"
    if lo < hi:
        changed = (lo, hi) != (low, high)
        return ({**entry, "low": _as_type(lo, entry), "high": _as_type(hi, entry)},
                "narrow" if changed else "keep", reason)
    return {"type": entry.get("type", "float"), "value": _as_type(lo, entry)}, "fix", reason


def _fix_at_best(entry: dict, row: pd.Series, name: str, evidence: bool, cats, sens) -> tuple[dict, str, str]:
    """(fixed entry, "fix", reason) at the best trial's value, clipped to the range (rule 5)."""
    p_adj = (cats if name in cats.index else sens).loc[name, "p_adj"]
    asked = f"{'evidence' if evidence else 'no evidence'} (adjusted p {p_adj:.2g}); fixed as asked"
    if "choices" in entry:
        by_text = {str(v): v for v in entry["choices"]}
        return ({"type": "categorical", "value": by_text.get(str(row[name]), row[name])}, "fix",
                f"{asked}: best trial's choice")
    value = min(max(float(row[name]), float(entry["low"])), float(entry["high"]))
    return ({"type": entry.get("type", "float"), "value": _as_type(value, entry)}, "fix",
            f"{asked}: best trial's value")


def _refine_choices(entry: dict, c: pd.Series) -> tuple[dict, str, str]:
    """(new entry, action, reason) of a categorical parameter (rule 4 of the module docstring)."""
    if not c["significant"]:
        return dict(entry), "keep", f"no evidence (adjusted p {c['p_adj']:.2g}); choices kept"
    good = set(str(c["behavioural_choices"]).split(SEP))
    kept = [v for v in entry["choices"] if str(v) in good]  # in the space's order
    if not kept:
        raise AnalysisError(f"parameter {c.name}: none of the space's choices "
                            f"({', '.join(map(str, entry['choices']))}) has a behavioural trial in the table "
                            f"(those do: {c['behavioural_choices']}); is --space the study's space?")
    reason = (f"evidence (adjusted p {c['p_adj']:.2g}; best choice {c['best_choice']}); "
              f"choices with behavioural trials: {', '.join(map(str, kept))}")
    if len(kept) > 1:
        return {**entry, "choices": kept}, "narrow" if len(kept) < len(entry["choices"]) else "keep", reason
    return {"type": "categorical", "value": kept[0]}, "fix", reason


def _behavioural_range(s: pd.Series) -> str:
    return (f"range of the {int(s['n_behavioural'])} behavioural trials "
            f"[{s['behavioural_low']:.6g}, {s['behavioural_high']:.6g}]")


def _describe(entry: dict) -> str:
    if "value" in entry:
        return f"= {entry['value']}"
    if "choices" in entry:
        return "{" + ", ".join(map(str, entry["choices"])) + "}"
    return f"[{entry['low']:.6g}, {entry['high']:.6g}] {entry.get('scale', 'linear')}"


def refine(table: pd.DataFrame, space, outcome: str = "nmi", **rules):
    """The refined space (same form as ``space``); the rule is in the module docstring.

    ``rules``: the keyword arguments of :func:`refine_plan`. To show the plan as
    well, call :func:`refine_plan` and :func:`refined_space` (what this does),
    so that the analysis runs once.
    """
    entries, _ = refine_plan(table, space, outcome, **rules)
    return refined_space(entries, space, outcome, behavioural_quantile=rules.get("behavioural_quantile", 0.75),
                         level=rules.get("level", 0.05), control=rules.get("control", "fwer"))


def refined_space(entries: dict[str, dict], space, outcome: str, *, behavioural_quantile: float,
                  level: float, control: str = "fwer"):
    """:func:`refine_plan`'s entries as a space of the form of ``space``, its description saying how."""
    description = to_plain(space)[1]
    text = f"refined by {outcome} (behavioural: top {1 - behavioural_quantile:.0%}, {control} {level:g})"
    description = f"{description}; {text}" if description else text
    return from_plain(entries, description, space, "refined")
