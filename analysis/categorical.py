"""Categorical parameters (e.g. ``repel``: symmetric or paper): does the outcome differ between the choices?

Regression and CDF measures need numbers; a choice has none. For each
(outcome y, categorical parameter x) this module computes, SALib style, from
the same trials as :mod:`analysis.sensitivity`:

* per choice: the number of trials, the median and mean of y, and the share
  of its trials that are *behavioural* (y at or above the
  ``behavioural_quantile`` quantile, :func:`analysis.sensitivity.behavioural`);
* **Kruskal-Wallis** H across the choices (scipy.stats.kruskal): does y's
  distribution differ between them (the numeric parameters' grid test, with
  the choices as classes);
* **behavioural share test**, the Monte-Carlo filtering analogue: is being
  behavioural independent of the choice? Fisher's exact test for two choices
  (scipy.stats.fisher_exact), the chi-square test of independence for more
  (scipy.stats.chi2_contingency).

**Significance** is the sensitivity module's rule (:mod:`analysis.screening`):
one permutation p-value per parameter (``p_param``, the calibrated min-p of
the two tests), adjusted across the numeric *and* categorical parameters of
the outcome (``p_adj``); ``significant`` = p_adj < level. ``kw_p`` and
``share_p`` are the analytic p-values (scipy), kept as descriptions.
``best_choice``: the choice with the highest median y; ``best_value``: the
best trial's choice; ``behavioural_choices``: the choices that have a
behavioural trial (joined by :data:`SEP`; what ``refine`` keeps).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats


#: Columns of :func:`analyze_outcome`'s result (after :func:`adjust`), in order.
COLUMNS = ["outcome", "parameter", "significant", "p_adj", "p_param", "kw_stat", "kw_p", "share_p",
           "best_choice", "best_value", "behavioural_choices", "groups", "n", "n_behavioural"]

#: Separator of the choices in the ``behavioural_choices`` column.
SEP = ", "


def group_summary(x: pd.Series, y: np.ndarray, mask: np.ndarray) -> pd.DataFrame:
    """One row per choice (sorted by name): choice, n, median, mean, behavioural_share."""
    frame = pd.DataFrame({"choice": x.astype(str).to_numpy(), "y": y, "b": mask})
    out = frame.groupby("choice", sort=True).agg(n=("y", "size"), median=("y", "median"), mean=("y", "mean"),
                                                  behavioural_share=("b", "mean"))
    return out.reset_index()


def share_test(x: pd.Series, mask: np.ndarray) -> float:
    """p-value of independence of (choice, behavioural): Fisher exact for 2 choices, else chi-square."""
    table = pd.crosstab(x.astype(str).to_numpy(), mask).reindex(columns=[False, True], fill_value=0).to_numpy()
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return float("nan")  # one choice, or nobody (everybody) behavioural: nothing to test
    if table.shape[0] == 2:
        return float(stats.fisher_exact(table).pvalue)
    return float(stats.chi2_contingency(table).pvalue)


def kruskal_test(x: pd.Series, y: np.ndarray) -> tuple[float, float]:
    """(H, p) of y across the choices of x; NaN when y is constant or there is one choice."""
    groups = [y[(x.astype(str) == c).to_numpy()] for c in sorted(x.astype(str).unique())]
    if len(groups) < 2 or np.unique(y).size < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.kruskal(*groups)
    return float(res.statistic), float(res.pvalue)


def _groups_text(summary: pd.DataFrame) -> str:
    return "; ".join(f"{r.choice}: n {r.n}, median {r.median:.4g}, {100 * r.behavioural_share:.0f}% behavioural"
                     for r in summary.itertuples())


def analyze_outcome(data: pd.DataFrame, params: list[str], outcome: str, mask: np.ndarray) -> pd.DataFrame:
    """Unadjusted tests of one outcome; ``data`` holds ``params`` (choices) and a finite ``outcome``.

    ``mask``: the behavioural trials (same rule and trials as the numeric measures).
    """
    y = data[outcome].to_numpy(float)
    best_row = int(np.argmax(y))
    rows = []
    for p in params:
        x = data[p].astype(str).reset_index(drop=True)
        summary = group_summary(x, y, mask)
        kw, kw_p = kruskal_test(x, y)
        rows.append(dict(outcome=outcome, parameter=p, kw_stat=kw, kw_p=kw_p, share_p=share_test(x, mask),
                         best_choice=str(summary.sort_values("median", ascending=False, kind="stable")
                                         ["choice"].iloc[0]),
                         best_value=x.iloc[best_row], groups=_groups_text(summary),
                         behavioural_choices=SEP.join(summary.loc[summary["behavioural_share"] > 0, "choice"]),
                         n=len(y),
                         n_behavioural=int(mask.sum())))
    return pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("significant", "p_adj", "p_param")])


def adjust(frame: pd.DataFrame, scr: pd.DataFrame) -> pd.DataFrame:
    """Add p_param, p_adj and significant from the screening table ``scr`` (indexed by parameter)."""
    out = frame.copy()
    s = scr.loc[out["parameter"]]
    out["p_param"], out["p_adj"] = s["p_param"].to_numpy(), s["p_adj"].to_numpy()
    out["significant"] = s["significant"].to_numpy(bool)
    return out.sort_values("p_param", na_position="last", kind="stable")[COLUMNS].reset_index(drop=True)
