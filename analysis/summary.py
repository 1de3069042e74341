"""The first screen of ``report.md``: one table of every parameter against every outcome, one sentence
per outcome, and one recommendation for the whole study. Pure functions of an
:class:`analysis.sensitivity.Sensitivity`; :mod:`analysis.report` renders them.

**A cell** (:func:`cell`) says the direction and strength of the evidence of one (parameter, outcome):

* numeric parameter: an arrow -- ``↑`` higher values raise the outcome, ``↓`` lower it, ``~`` an
  effect that is not monotone (significant and so directed by the rule, or a signal with |rho| < 0.1:
  the ends-vs-middle test carries it), ``·`` no trend (|rho| < 0.1) -- then |Spearman rho|;
* categorical parameter: the best choice by median outcome, then the Kruskal-Wallis effect size
  epsilon² = H / (n - 1) (Tomczak & Tomczak 2014), between 0 and 1;
* marks: ``**`` significant after the adjustment across parameters (p_adj < level), ``*`` parameter
  p < :data:`HINT_P` before the adjustment only (a signal to confirm), nothing otherwise.

**The recommendation** (:func:`recommend`) is computed once for the study. For each outcome with a
signal to confirm (a parameter with p < :data:`HINT_P` before the adjustment but not after), the trials
needed to detect its |rho| with 80% probability (:func:`analysis.screening.trials_needed`); the study
needs the largest of these (or the one of the outcome named by ``focus``). A replicate has at least
k + 2 points (what the partial rank correlations of k parameters need). With no signal to confirm, the
advice is a replicate as large as the study: it tests whether the ranking holds (when something is
significant) or buys power (when nothing is). Either way the text says the effect size it buys:
the |rho| the pooled study detects with 80% probability.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import screening
from .errors import AnalysisError

#: A non-significant parameter is still a signal (``*``) below this unadjusted parameter p.
HINT_P = 0.05
#: Below this |Spearman rho| a non-significant numeric parameter shows no arrow.
NO_TREND = 0.1
ARROWS = {"increasing": "↑", "decreasing": "↓", "non-monotone": "~"}


def legend(level: float, control: str = "fwer") -> str:
    """The one legend line under the summary table."""
    what = "family-wise error" if control == "fwer" else "false discovery rate"
    return (f"↑ / ↓: higher values raise / lower the outcome, ~: not monotone, ·: no trend; "
            f"the number: |Spearman ρ| (a categorical parameter: its best choice and Kruskal-Wallis ε²); "
            f"**: significant after the adjustment across parameters ({what} at {level:g}); "
            f"*: p < {HINT_P:g} before the adjustment only (a signal to confirm); –: not analysed.")


def marks(significant: bool, p_param: float) -> str:
    """'**' significant after the adjustment, '*' p_param < HINT_P only, '' otherwise."""
    if significant:
        return "**"
    return "*" if p_param < HINT_P else ""


def arrow(direction: str, significant: bool, rho: float, signal: bool = False) -> str:
    """The direction mark: the rule's direction when significant, else the sign of rho; when |rho| < 0.1,
    '~' for a signal (p_param < HINT_P: not monotone) and '·' otherwise."""
    if significant and direction in ARROWS:
        return ARROWS[direction]
    if np.isnan(rho) or abs(rho) < NO_TREND:
        return "~" if signal else "·"
    return "↑" if rho > 0 else "↓"


def epsilon_squared(h: float, n: int) -> float:
    """Kruskal-Wallis effect size epsilon² = H / (n - 1), clipped to [0, 1]; NaN without H."""
    if h is None or np.isnan(h) or n < 2:
        return float("nan")
    return float(min(max(h / (n - 1), 0.0), 1.0))


def numeric_cell(row: pd.Series) -> str:
    """``↑ 0.73 **`` from a row of the numeric sensitivity table."""
    rho = float(row["spearman_rho"])
    sig = bool(row["significant"])
    strength = "–" if np.isnan(rho) else f"{abs(rho):.2f}"
    signal = float(row["p_param"]) < HINT_P
    return " ".join(t for t in (arrow(str(row["direction"]), sig, rho, signal), strength,
                                marks(sig, float(row["p_param"]))) if t)


def categorical_cell(row: pd.Series) -> str:
    """``radial 0.12 *`` from a row of the categorical table."""
    eps = epsilon_squared(float(row["kw_stat"]), int(row["n"]))
    strength = "–" if np.isnan(eps) else f"{eps:.2f}"
    sig = bool(row["significant"])
    return " ".join(t for t in (str(row["best_choice"]), strength, marks(sig, float(row["p_param"]))) if t)


def _rows(sens) -> pd.DataFrame:
    """Every (outcome, parameter) with its cell, p_param and significance, numeric and categorical."""
    num = sens.table.assign(cell=[numeric_cell(r) for _, r in sens.table.iterrows()], kind="numeric")
    cat = sens.categorical
    if len(cat):
        cat = cat.assign(cell=[categorical_cell(r) for _, r in cat.iterrows()], kind="categorical")
    frames = [f[["outcome", "parameter", "cell", "p_param", "significant", "kind"]] for f in (num, cat) if len(f)]
    return pd.concat(frames, ignore_index=True)


def summary_table(sens, outcomes=None) -> pd.DataFrame:
    """One row per parameter (numeric and categorical), one column per outcome, text cells (:func:`cell`).

    Rows: parameters significant for some outcome first, then by their smallest parameter p over the
    outcomes. A parameter not analysed for an outcome (constant there) reads '–'.
    """
    rows = _rows(sens)
    outcomes = list(outcomes) if outcomes is not None else list(dict.fromkeys(rows["outcome"]))
    order = (rows.assign(_ns=~rows["significant"].astype(bool), _p=rows["p_param"].astype(float).fillna(np.inf))
             .groupby("parameter", sort=False).agg(_ns=("_ns", "min"), _p=("_p", "min"))
             .sort_values(["_ns", "_p"], kind="stable").index)
    wide = rows.pivot(index="parameter", columns="outcome", values="cell").reindex(index=order, columns=outcomes)
    return wide.fillna("–").rename_axis(None, axis=1).reset_index()


def _effect_phrase(row: pd.Series, outcome: str) -> str:
    if row["kind"] == "categorical":
        return f"{row['parameter']} matters for {outcome} (best choice {row['best_choice']})"
    verb = {"increasing": "raises", "decreasing": "lowers"}.get(str(row["direction"]))
    return f"{row['parameter']} {verb} {outcome}" if verb else f"{row['parameter']} changes {outcome} non-monotonically"


def outcome_sentence(sens, outcome: str) -> str:
    """One sentence: what is detectable for ``outcome`` at its n (significant parameters, else the
    strongest signal to confirm, else nothing)."""
    num = sens.table.loc[sens.table["outcome"] == outcome].assign(kind="numeric")
    cat = sens.categorical.loc[sens.categorical["outcome"] == outcome].assign(kind="categorical") \
        if len(sens.categorical) else sens.categorical.assign(kind=[])
    if num.empty:
        raise AnalysisError(f"no sensitivity rows for outcome {outcome}")
    n, k = int(num["n"].iloc[0]), len(num) + len(cat)
    both = pd.concat([num, cat], ignore_index=True).sort_values("p_param", kind="stable")
    sig = both.loc[both["significant"].astype(bool)]
    if len(sig):
        said = ", ".join(_effect_phrase(r, outcome) for _, r in sig.iterrows())
        rest = "nothing else is" if len(sig) < k else "every parameter is"
        return f"{said}; {rest} detectable at n = {n}."
    if n < len(num) + 2:
        return (f"Too few trials to answer for {outcome} (n = {n} for {len(num)} numeric parameters; "
                f"the partial measures need {len(num) + 2}).")
    hints = both.loc[both["p_param"].astype(float) < HINT_P]
    if len(hints):
        h = hints.iloc[0]
        what = (f"{h['parameter']} {arrow('', False, float(h['spearman_rho']))} "
                f"(ρ {float(h['spearman_rho']):+.2f}" if h["kind"] == "numeric"
                else f"{h['parameter']} (best choice {h['best_choice']}")
        return (f"Nothing is detectable for {outcome} at n = {n}; the strongest signal to confirm is "
                f"{what}, p {float(h['p_param']):.2g} before the adjustment).")
    return f"Nothing is detectable for {outcome} at n = {n}."


@dataclass(frozen=True)
class Recommendation:
    """The one ``extend`` advice of a study.

    ``reason``: 'confirm' (a signal to confirm decides the size), 'stability' (something is significant,
    nothing to confirm: a replicate as large as the study tests the ranking), 'power' (nothing detectable).
    ``outcome``/``parameter``/``rho``: the signal that decides (confirm only). ``n_more``: the
    replicate's points; ``n_total``: the trials after it; ``detects``: the |rho| the pooled study detects
    with 80% probability; ``needs``: {outcome: n_more} of every outcome with a signal.
    """

    reason: str
    n: int
    n_more: int
    n_total: int
    detects: float
    outcome: str | None = None
    parameter: str | None = None
    rho: float = float("nan")
    needs: dict | None = None


def _outcome_need(sens, outcome: str) -> tuple[int, int, pd.Series | None]:
    """(n, k, the strongest non-significant numeric parameter with p_param < HINT_P, or None)."""
    num = sens.table.loc[sens.table["outcome"] == outcome]
    if num.empty:
        raise AnalysisError(f"--outcome {outcome!r} was not analysed; analysed: "
                            f"{', '.join(dict.fromkeys(sens.table['outcome']))}")
    cats = sens.categorical.loc[sens.categorical["outcome"] == outcome] if len(sens.categorical) else []
    n, k = int(num["n"].iloc[0]), len(num) + len(cats)
    hints = num.loc[~num["significant"].astype(bool) & (num["p_param"] < HINT_P) & num["spearman_rho"].notna()]
    if hints.empty:
        return n, k, None
    return n, k, hints.loc[hints["spearman_rho"].abs().idxmax()]


def recommend(sens, focus: str | None = None) -> Recommendation:
    """The study's one ``extend`` recommendation (module docstring); ``focus``: only this outcome."""
    level = sens.rules.level
    outcomes = [focus] if focus else list(dict.fromkeys(sens.table["outcome"]))
    needs, best = {}, None
    for o in outcomes:
        n, k, hint = _outcome_need(sens, o)
        if hint is None:
            continue
        rho = abs(float(hint["spearman_rho"]))
        more = max(screening.trials_needed(rho, k, level) - n, k + 2)
        needs[o] = more
        if best is None or more > best[0]:
            best = (more, n, k, o, str(hint["parameter"]), rho)
    if best is not None:
        more, n, k, o, p, rho = best
        return Recommendation("confirm", n, more, n + more, screening.detectable_correlation(n + more, k, level),
                              o, p, rho, needs)
    n, k = max((_outcome_need(sens, o)[:2] for o in outcomes), key=lambda nk: nk[1])
    significant = bool(sens.table.loc[sens.table["outcome"].isin(outcomes), "significant"].astype(bool).any()) or (
        len(sens.categorical) and
        bool(sens.categorical.loc[sens.categorical["outcome"].isin(outcomes), "significant"].astype(bool).any()))
    more = max(n, k + 2)
    return Recommendation("stability" if significant else "power", n, more, n + more,
                          screening.detectable_correlation(n + more, k, level), needs={})


def recommendation_text(rec: Recommendation, study: str | None, replicated: bool = False) -> str:
    """The recommendation as one Markdown paragraph, the command first, then what it buys."""
    command = f"`dcsomrl-study extend --study {study or 'NAME'} --n {rec.n_more}`"
    buys = (f"with {rec.n_total} trials in all the rule detects an effect of |ρ| ≥ {rec.detects:.2f} "
            f"(about {rec.detects ** 2:.0%} of the variance) with 80% probability")
    test = "" if replicated else ", and the replicates test whether the ranking holds (TDCC)"
    if rec.reason == "confirm":
        others = {o: m for o, m in (rec.needs or {}).items() if o != rec.outcome}
        also = (" It covers the other outcomes' signals too (" + ", ".join(f"{o}: --n {m}" for o, m in others.items())
                + ").") if others else ""
        return (f"**Next step: {command}.** {buys[0].upper() + buys[1:]}: enough to confirm or dismiss "
                f"the weakest signal worth confirming, {rec.parameter} on {rec.outcome} "
                f"(|ρ| {rec.rho:.2f}, not significant after the adjustment){test}.{also}")
    if rec.reason == "stability":
        return (f"**Next step: {command}**, an independent replicate as large as the study: "
                f"{buys}{test}. No unconfirmed signal needs more.")
    return (f"**Next step: {command}.** Nothing is detectable yet; doubling the study buys power: {buys}.")
