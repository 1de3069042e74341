"""Does the screening budget tell the truth? (SPEC 9 "Fidelity")

Screening runs many cheap trials (3 epochs, small batches); the answer is
trained at the final budget (30 epochs at batch 256). If the cheap ranking
differs from the expensive one, a region chosen by screening may be the wrong
one. The fidelity stage re-runs ``n`` screening points, spread over the
screening outcome's range (:func:`fidelity_points`), at the final budget with
their own seeds, and :func:`fidelity_result` compares the two outcomes:

- the Spearman rank correlation between the budgets, with its p-value
  (``scipy.stats.spearmanr``, the t approximation; at n = 8 only a strong
  correlation is significant);
- whether the screening's top region (its best ``top`` points, a quarter of
  ``n`` and at least 2) is still in the top half at the final budget.

Pure functions; the stage itself is run by :mod:`analysis.protocol`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .table import complete_only


@dataclass(frozen=True)
class Fidelity:
    """The two budgets' outcomes compared (:func:`fidelity_result`)."""

    outcome: str
    n: int                 # points measured at both budgets
    rho: float             # Spearman correlation, screening vs final budget
    p_value: float         # two-sided, H0: no monotone association
    top: int               # the screening's top region: its best `top` points
    top_holds: bool        # every one of them is in the top half at the final budget
    table: pd.DataFrame    # trial, seed, screening, final, screening_rank, final_rank (1 = best)

    def verdict(self) -> str:
        """One sentence a reader can act on."""
        trust = ("the screening ranks points as the final budget does" if self.rho >= 0.5 and self.top_holds
                 else "the screening's ranking does not carry over to the final budget: re-check its choices "
                 "at the final budget")
        holds = "stays" if self.top_holds else "does not stay"
        return (f"Fidelity ({self.outcome}, {self.n} screening points re-run at the final budget): Spearman "
                f"ρ = {self.rho:.2f} (p = {self.p_value:.2g}); the screening's top {self.top} {holds} in the "
                f"top half; {trust}.")


def fidelity_points(table: pd.DataFrame, outcome: str, n: int) -> pd.DataFrame:
    """``n`` COMPLETE trials spread evenly over the ranks of ``outcome`` (lowest, highest and between),
    best first; all of them when there are fewer than ``n``."""
    done, _ = complete_only(table)
    y = pd.to_numeric(done[outcome], errors="coerce")
    done = done.loc[y[np.isfinite(y)].sort_values(ascending=False, kind="stable").index]
    if len(done) <= n:
        return done
    picks = np.unique(np.round(np.linspace(0, len(done) - 1, n)).astype(int))
    return done.iloc[picks]


def top_region_size(n: int) -> int:
    """The screening's top region at n points: a quarter of them, at least 2 (at most n)."""
    return min(n, max(2, math.ceil(n / 4)))


def fidelity_result(screening: pd.Series, final: pd.Series, outcome: str,
                    trials: pd.Series | None = None, seeds: pd.Series | None = None) -> Fidelity:
    """Compare each point's screening outcome with its outcome at the final budget (aligned Series;
    points missing at either budget are left out)."""
    frame = pd.DataFrame({"trial": trials if trials is not None else screening.index,
                          "seed": seeds if seeds is not None else np.nan,
                          "screening": pd.to_numeric(screening, errors="coerce"),
                          "final": pd.to_numeric(final, errors="coerce")}).dropna(subset=["screening", "final"])
    n = len(frame)
    frame["screening_rank"] = frame["screening"].rank(ascending=False, method="min").astype(int)
    frame["final_rank"] = frame["final"].rank(ascending=False, method="min").astype(int)
    rho, p = (stats.spearmanr(frame["screening"], frame["final"]) if n >= 3 else (np.nan, np.nan))
    top = top_region_size(n) if n else 0
    holds = bool(n) and bool((frame.loc[frame["screening_rank"] <= top, "final_rank"] <= n / 2).all())
    frame = frame.sort_values("screening_rank", kind="stable").reset_index(drop=True)
    return Fidelity(outcome, n, float(rho), float(p), top, holds, frame)
