"""The robust best (appendix A.1's "best values", made robust to one trial's noise) and the incumbent.

The ``k`` best trials of a study are re-run over the same new seeds, and the
best *mean* wins: the best single trial is the maximum of many noisy values,
so its own value is biased upward (the winner's curse); the re-runs are not,
and the common seeds make the comparison paired.

The **incumbent** is what the user already has: the data set's published
values (the shipped ``<dataset>-best`` space, Table 2's best column), re-run
over the same seeds as one more candidate. The answer is the best mean of a
set that contains it, so it is never worse than the published values on these
seeds; :func:`incumbent_verdict` says by how much it beat them (or did not).

Pure functions: :func:`candidate_values`, :func:`incumbent_values`,
:func:`covering`, :func:`candidate_design`, :func:`candidate_runs`, :func:`rank_candidates`,
:func:`ranked_text`, :func:`paired_difference`, :func:`incumbent_verdict`,
:func:`robust_best_space`;
:func:`robust_best` runs the re-runs through the study runner.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from studies import study as sy
from studies.errors import SpaceError
from studies.space import resolve_space

from .errors import AnalysisError
from .formatting import value_text
from .refine import best
from .seeds import fixed_values
from .stages import run_points
from .table import complete_only

#: ``candidates.csv``'s ``source`` of the incumbent's row (the candidates' rows say "trial N").
INCUMBENT = "incumbent"
#: ``--incumbent`` values: the shipped best space of the data set, or none.
DEFAULT_INCUMBENT, NO_INCUMBENT = "best", "none"


def trial_values(table: pd.DataFrame, index, space, outcome: str) -> dict[str, Any]:
    """``{name: value}`` of the trial at row ``index`` of ``table``: its values of the space's varying
    parameters, the space's fixed ones for the rest (:func:`analysis.refine.best` on that one row)."""
    return fixed_values(best(table.loc[[index]], space, outcome))


def candidate_values(table: pd.DataFrame, space, outcome: str, k: int) -> list[tuple[int, dict]]:
    """The ``k`` best COMPLETE trials by ``outcome`` as (trial number, fixed values) pairs, best first."""
    done, _ = complete_only(table)
    y = pd.to_numeric(done[outcome], errors="coerce")
    order = done.loc[y[np.isfinite(y)].sort_values(ascending=False, kind="stable").index].head(k)
    return [(int(row["number"]), trial_values(order, i, space, outcome)) for i, row in order.iterrows()]


def incumbent_values(incumbent: str | None, dataset: str, model: str, budget: dict[str, Any]) -> dict | None:
    """The incumbent's fixed values at ``budget`` (``batch_size``/``epochs`` overridden), or None.

    ``incumbent``: ``"best"`` (the shipped ``<dataset>-best`` space; None when the
    data set has none), ``"none"``/None (no incumbent), or a space file or shipped
    name (an error when it cannot be read or still has ranges).
    """
    if incumbent in (None, NO_INCUMBENT):
        return None
    try:
        space = resolve_space(incumbent, dataset, model)
    except SpaceError as err:
        if incumbent == DEFAULT_INCUMBENT:
            return None  # no published values for this data set
        raise SpaceError(f"--incumbent: {err}") from None
    values = fixed_values(space)
    return {**values, **{k: v for k, v in budget.items() if k in values}}


def covering(space, values: list[dict]):
    """``space`` widened so that every dict of ``values`` lies in it: a range extended to the values,
    a categorical's choices joined with theirs, a fixed value that differs opened to a range (or choices).

    The re-run study's design records its points' distributions over this space.
    """
    dims = {}
    for name, dim in space.dims.items():
        seen = [v[name] for v in values if name in v]
        if dim.type == "categorical":
            known = [dim.value] if dim.fixed else list(dim.choices)
            choices = list(dict.fromkeys([*known, *seen]))
            dims[name] = dataclasses.replace(dim, fixed=False, value=None, choices=tuple(choices)) \
                if len(choices) > 1 else dim
            continue
        known = [dim.value] if dim.fixed else [dim.low, dim.high]
        low, high = min([*known, *seen]), max([*known, *seen])
        if low == high:
            dims[name] = dim
        else:
            scale = dim.scale if not dim.fixed else "linear"
            scale = "linear" if scale == "log" and low <= 0 else scale
            dims[name] = dataclasses.replace(dim, fixed=False, value=None, low=low, high=high, scale=scale)
    return dataclasses.replace(space, dims=dims)


def candidate_design(space, candidates: list[tuple[int | None, dict]], repeats: int, design_seed: int,
                     dataset: str, epochs: int | None, model: str = "dcsomrl") -> tuple[dict, list[dict]]:
    """The re-run study's design: point c * repeats + r is candidate c with common seed r.

    A candidate whose number is None is the incumbent (design ``"candidates"`` records it so).
    """
    seeds = [sy.trial_seed(design_seed, r) for r in range(repeats)]
    points = [values for _, values in candidates for _ in range(repeats)]
    design = sy.design_attrs(covering(space, points), len(points), design_seed, dataset, epochs=epochs,
                             model=model, seeds=seeds * len(candidates), distinct_seeds=False)
    design["candidates"] = [{"candidate": c, "trial": number} for c, (number, _) in enumerate(candidates)]
    design["repeats"] = repeats
    return design, points


def candidate_runs(table: pd.DataFrame, candidate: int, repeats: int) -> pd.DataFrame:
    """The COMPLETE re-runs of candidate number ``candidate``: design rows ``candidate * repeats`` to
    ``(candidate + 1) * repeats - 1`` (:func:`candidate_design` lays the candidates out so)."""
    done, _ = complete_only(table)
    return done.loc[pd.to_numeric(done["design_index"], errors="coerce") // repeats == candidate]


def rank_candidates(table: pd.DataFrame, candidates: list[tuple[int | None, dict]], repeats: int,
                    outcome: str) -> pd.DataFrame:
    """One row per candidate: its source ("trial N" or "incumbent"), trial, runs, mean and std of
    ``outcome`` over its re-runs, best mean first (a candidate with no COMPLETE re-run ranks last)."""
    rows = []
    for c, (number, values) in enumerate(candidates):
        v = pd.to_numeric(candidate_runs(table, c, repeats)[outcome], errors="coerce").dropna()
        rows.append({"candidate": c, "source": INCUMBENT if number is None else f"trial {number}",
                     "trial": np.nan if number is None else number, "runs": len(v),
                     f"{outcome}_mean": v.mean() if len(v) else np.nan,
                     f"{outcome}_std": v.std(ddof=1) if len(v) > 1 else np.nan, **values})
    ranked = pd.DataFrame(rows).sort_values(f"{outcome}_mean", ascending=False, kind="stable", na_position="last")
    return ranked.reset_index(drop=True)


def ranked_text(ranked: pd.DataFrame) -> pd.DataFrame:
    """The ranking as table cells: the trial number as an integer ('–' for the incumbent), the outcome's
    mean and std to 4 decimals, the values to 6 significant digits (a_t 0.999884 must not read 1.000)."""
    cells = ranked.astype(object).copy()
    cells["trial"] = [("–" if pd.isna(t) else str(int(t))) for t in ranked["trial"]]
    for column in ranked.columns:
        if column.endswith(("_mean", "_std")):
            cells[column] = ["–" if pd.isna(v) else f"{v:.4f}" for v in ranked[column]]
        elif column not in ("candidate", "source", "trial", "runs"):
            cells[column] = [value_text(v) for v in ranked[column]]
    return cells


def paired_difference(table: pd.DataFrame, ranked: pd.DataFrame, repeats: int, outcome: str) -> dict | None:
    """The best non-incumbent candidate minus the incumbent, seed by seed (the seeds are common):
    ``{"candidate", "diff_mean", "diff_std", "pairs", "wins"}``; None without an incumbent or a pair."""
    if INCUMBENT not in set(ranked["source"]):
        return None
    others = ranked[(ranked["source"] != INCUMBENT) & (ranked["runs"] > 0)]
    if others.empty:
        return None
    def by_seed(candidate: int) -> pd.Series:
        runs = candidate_runs(table, candidate, repeats)
        seed = pd.to_numeric(runs["design_index"], errors="coerce") % repeats
        return pd.Series(pd.to_numeric(runs[outcome], errors="coerce").to_numpy(float),
                         index=seed.astype(int).to_numpy())

    top = others.iloc[0]
    inc = ranked.loc[ranked["source"] == INCUMBENT, "candidate"].iloc[0]
    diff = (by_seed(int(top["candidate"])) - by_seed(int(inc))).dropna()
    if diff.empty:
        return None
    return {"candidate": str(top["source"]), "diff_mean": float(diff.mean()),
            "diff_std": float(diff.std(ddof=1)) if len(diff) > 1 else np.nan, "pairs": int(len(diff)),
            "wins": int((diff > 0).sum())}


def incumbent_verdict(ranked: pd.DataFrame, paired: dict | None, outcome: str) -> str:
    """One sentence: did the study beat the published values, by how much, with what spread."""
    if INCUMBENT not in set(ranked["source"]):
        return "No incumbent was re-run (no published values for this data set, or --incumbent none)."
    if paired is None:
        return "The incumbent (published values) has no completed re-run beside a candidate: no comparison."
    spread = "" if np.isnan(paired["diff_std"]) else f" ± {paired['diff_std']:.3f}"
    name = outcome.upper() if outcome != "purity" else "Purity"
    head = ("The study beat the published values" if paired["diff_mean"] > 0 else
            "The study did not beat the published values")
    answer = "the published values" if ranked.iloc[0]["source"] == INCUMBENT else f"{ranked.iloc[0]['source']}"
    return (f"{head}: its best candidate ({paired['candidate']}) minus the incumbent, {name} "
            f"{paired['diff_mean']:+.3f}{spread} over {paired['pairs']} common seeds (higher on "
            f"{paired['wins']} of them); the protocol's answer is the best mean: {answer}.")


def robust_best_space(ranked: pd.DataFrame, space, outcome: str):
    """The winner's values as a space of fixed values, its description saying how it won."""
    top = ranked.iloc[0]
    if top["runs"] == 0:
        raise AnalysisError("no candidate re-run completed: no robust best")
    values = {name: top[name] for name in space.names}
    row = pd.DataFrame([{**values, "state": "COMPLETE", outcome: top[f"{outcome}_mean"]}])
    fixed = best(row, covering(space, [values]), outcome)
    who = "the published values (incumbent)" if top["source"] == INCUMBENT else f"{top['source']}'s values"
    return dataclasses.replace(fixed, description=f"robust best: {who}, mean {outcome} "
                               f"{top[f'{outcome}_mean']:.4g} over {int(top['runs'])} re-runs "
                               f"(best of {len(ranked)} candidates)")


def robust_best(where, name: str, table: pd.DataFrame, space, *, dataset: str, epochs: int | None,
                outcome: str = "nmi", candidates: int = 3, repeats: int = 3, design_seed: int = 2,
                model: str = "dcsomrl", incumbent: dict | None = None):
    """Re-run the ``candidates`` best trials of ``table`` (and the ``incumbent``'s values, when given)
    over ``repeats`` common seeds in the study ``name``; returns (its trial table, the ranking, the
    winner as a space of fixed values)."""
    cands: list[tuple[int | None, dict]] = list(candidate_values(table, space, outcome, candidates))
    if len(cands) < candidates:  # never silently fewer than asked for
        raise AnalysisError(f"--candidates {candidates}: study {name.removesuffix('-candidates')} has only "
                            f"{len(cands)} COMPLETE trial(s) with a finite {outcome}; ask for at most {len(cands)}")
    if incumbent is not None:
        cands.append((None, incumbent))
    design, points = candidate_design(space, cands, repeats, design_seed, dataset, epochs, model)
    reruns = run_points(where, "candidates", name, design, points,
                        f"robust best: {len(cands)} candidates x {repeats} seeds on {dataset}")
    ranked = rank_candidates(reruns, cands, repeats, outcome)
    return reruns, ranked, robust_best_space(ranked, space, outcome)
