"""One-line verdicts that open ``final.md`` and ``protocol.md``: who wins at equal k, by how much, with what
spread; and one line per protocol stage. Pure functions of the tables those reports already hold.

* :func:`lead_verdict`: the studied model (the final table's **first row**, whatever rows follow:
  k-means, model baselines, incumbent or ablation rows, the paper's) against its strongest rival
  measured at equal k -- the *k = nodes* rows, k-means given each trained map's own node count --
  or, without those, against the strongest other row measured in this study. The margin is the
  difference of the means; the spread is each row's standard deviation over its runs, and the margin
  in units of their pooled standard deviation sqrt((s1² + s2²) / 2).
* :func:`stage_verdict`: what a screening stage's sensitivity table flagged.
* :func:`candidates_verdict`: which candidate the robust best chose, and by how much.
"""
from __future__ import annotations

import math

import pandas as pd

from .formatting import mean_std

#: Display names of the outcomes in the verdicts.
NAMES = {"nmi": "NMI", "purity": "Purity", "ami": "AMI", "ari": "ARI"}
THIS_STUDY = "this study"


def _num(row: pd.Series, key: str) -> float:
    value = row.get(key, float("nan"))
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _score(row: pd.Series, outcome: str) -> str:
    """'0.580 ± 0.004' (:func:`analysis.formatting.mean_std`: '–' without a mean)."""
    return mean_std(_num(row, f"{outcome}_mean"), _num(row, f"{outcome}_std"))


def rival(table: pd.DataFrame, outcome: str = "nmi") -> tuple[pd.Series | None, bool]:
    """(the strongest rival of the first row by ``outcome`` mean, whether it is at equal k): a *k = nodes*
    row when there is one, else another row measured in this study; (None, False) when there is none."""
    others = table.iloc[1:]
    if "source" in others:
        others = others.loc[others["source"].fillna(THIS_STUDY) == THIS_STUDY]
    others = others.loc[pd.to_numeric(others.get(f"{outcome}_mean"), errors="coerce").notna()] \
        if f"{outcome}_mean" in others else others.iloc[0:0]
    equal_k = others.loc[others["method"].astype(str).str.contains("k = nodes", regex=False)]
    pool, at_equal_k = (equal_k, True) if len(equal_k) else (others, False)
    if pool.empty:
        return None, False
    return pool.loc[pd.to_numeric(pool[f"{outcome}_mean"]).idxmax()], at_equal_k


def margin_text(diff: float, s1: float, s2: float) -> str:
    """'0.064, 2.9 pooled standard deviations' (or the margin alone when a spread is missing or zero)."""
    pooled = math.sqrt((s1 ** 2 + s2 ** 2) / 2) if not (math.isnan(s1) or math.isnan(s2)) else float("nan")
    if math.isnan(pooled) or pooled == 0:
        return f"{abs(diff):.3f}"
    return f"{abs(diff):.3f}, {abs(diff) / pooled:.1f} pooled standard deviations"


def runs_text(a: float, b: float | None = None) -> str:
    """' over 10 runs', ' over 10 runs each', ' over 10 and 7 runs', or '' when unknown."""
    if math.isnan(a):
        return ""
    if b is None or math.isnan(b):
        return f" over {int(a)} runs"
    return f" over {int(a)} runs each" if a == b else f" over {int(a)} and {int(b)} runs"


def lead_verdict(table: pd.DataFrame, outcome: str = "nmi") -> str:
    """One sentence: who wins at equal k on ``outcome``, by how much, with what spread (module docstring)."""
    if table.empty:
        return "No run completed: there is no verdict yet."
    ours, name = table.iloc[0], NAMES.get(outcome, outcome)
    if math.isnan(_num(ours, f"{outcome}_mean")):
        return f"{ours['method']} has no completed run: there is no verdict yet."
    other, at_equal_k = rival(table, outcome)
    if other is None:
        return (f"{ours['method']} reaches {name} {_score(ours, outcome)}{runs_text(_num(ours, 'runs'))}; no other method was measured "
                f"beside it.")
    diff = _num(ours, f"{outcome}_mean") - _num(other, f"{outcome}_mean")
    over = runs_text(_num(ours, "runs"), _num(other, "runs"))
    win, lose = (ours, other) if diff >= 0 else (other, ours)
    where = "At equal k" if at_equal_k else "Among the methods measured here (none at equal k)"
    verb = "ties with" if diff == 0 else "beats"
    return (f"{where}, {win['method']} {verb} {lose['method']} on {name}: {_score(win, outcome)} against "
            f"{_score(lose, outcome)}{over} (a margin of "
            f"{margin_text(diff, _num(ours, f'{outcome}_std'), _num(other, f'{outcome}_std'))}).")


def stage_verdict(stage: str, sensitivity: pd.DataFrame | None, n_trials: int) -> str:
    """One line: what the stage's analysis flagged (outcome by outcome), or that nothing passed the rule."""
    if sensitivity is None or sensitivity.empty:
        return f"**{stage}** ({n_trials} trials): not analysed."
    flagged = sensitivity.loc[sensitivity["significant"].astype(bool)]
    if flagged.empty:
        return f"**{stage}** ({n_trials} trials): no parameter passes the rule for any outcome."
    verbs = {"increasing": "raises", "decreasing": "lowers"}
    by_outcome = []
    for outcome, rows in flagged.groupby("outcome", sort=False):
        said = ", ".join(f"{r.parameter} {verbs.get(str(r.direction), 'changes (not monotone)')}"
                         for r in rows.itertuples())
        by_outcome.append(f"{NAMES.get(outcome, outcome)}: {said}")
    return f"**{stage}** ({n_trials} trials): " + "; ".join(by_outcome) + "."


def candidate_name(row: pd.Series) -> str:
    """'trial 12', or 'the incumbent' for the published values' row (``source`` "incumbent", no trial)."""
    source = row.get("source")
    if isinstance(source, str) and source:
        return "the incumbent" if source == "incumbent" else source
    trial = _num(row, "trial")
    return "the incumbent" if math.isnan(trial) else f"trial {int(trial)}"


def candidates_verdict(ranked: pd.DataFrame, outcome: str) -> str:
    """One line: the robust best's winner, its mean ± std over its re-runs, and its lead over the runner-up."""
    name, mean, std = NAMES.get(outcome, outcome), f"{outcome}_mean", f"{outcome}_std"
    done = ranked.loc[pd.to_numeric(ranked.get(mean), errors="coerce").notna()] if mean in ranked else ranked.iloc[0:0]
    if done.empty:
        return "**candidates**: no candidate completed a re-run."
    top = done.iloc[0]
    text = (f"**candidates**: {candidate_name(top)} wins, {name} {_score(top, outcome)} over "
            f"{int(top['runs'])} seeds")
    if len(done) > 1:
        second = done.iloc[1]
        text += (f", {float(top[mean]) - float(second[mean]):.3f} ahead of {candidate_name(second)} "
                 f"({_score(second, outcome)})")
    return text + "."


def final_stage_verdict(table: pd.DataFrame, n_trials: int) -> str:
    """One line: the studied model's (first row's) scores and map size over the final seeds."""
    if table.empty:
        return f"**final** ({n_trials} trials): no run completed."
    ours = table.iloc[0]
    scores = ", ".join(f"{NAMES[o]} {_score(ours, o)}" for o in ("nmi", "purity")
                       if not math.isnan(_num(ours, f"{o}_mean")))
    nodes = _num(ours, "nodes_mean")
    size = "" if math.isnan(nodes) else f", {mean_std(nodes, _num(ours, 'nodes_std'), digits=1)} nodes"
    return f"**final** ({n_trials} trials): {ours['method']} {scores}{size}{runs_text(_num(ours, 'runs'))}."
