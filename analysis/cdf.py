"""CDF-based views of a study: the outcome's empirical CDF and Monte-Carlo filtering.

* :func:`ecdf`: F_n(y) = #{y_i <= y} / n (statsmodels ECDF) with the
  Dvoretzky-Kiefer-Wolfowitz band: P(sup |F_n - F| > eps) <= alpha for
  eps = sqrt(ln(2 / alpha) / (2 n)) (Massart's constant), so
  [max(F_n - eps, 0), min(F_n + eps, 1)] covers the true CDF everywhere with
  probability at least 1 - alpha.
* :func:`conditional_cdfs`: the CDF of a parameter over the behavioural
  trials and over the rest (the split of :func:`analysis.sensitivity.behavioural`:
  outcome at or above its ``behavioural_quantile`` quantile). Their largest
  vertical distance is the two-sample KS statistic of the sensitivity table.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.distributions.empirical_distribution import ECDF

from .errors import AnalysisError
from .sensitivity import behavioural


def dkw_epsilon(n: int, alpha: float = 0.05) -> float:
    """Half-width of the DKW band: sqrt(ln(2 / alpha) / (2 n))."""
    if n < 1:
        raise AnalysisError(f"the DKW band needs at least one value, got n={n}")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha={alpha!r} must lie in (0, 1)")
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def ecdf(values, alpha: float = 0.05) -> pd.DataFrame:
    """The empirical CDF at each distinct value, with its 1 - alpha DKW band.

    Returns columns x (sorted distinct finite values), F, lower, upper.
    Non-finite values are ignored.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    eps = dkw_epsilon(len(v), alpha)
    x = np.unique(v)
    f = ECDF(v)(x)
    return pd.DataFrame({"x": x, "F": f, "lower": np.clip(f - eps, 0, 1), "upper": np.clip(f + eps, 0, 1)})


def conditional_cdfs(data: pd.DataFrame, param: str, outcome: str,
                     behavioural_quantile: float = 0.75) -> pd.DataFrame:
    """CDFs of ``param`` over behavioural and non-behavioural trials, on one grid.

    ``data``: rows with finite ``param`` and ``outcome``. Returns columns
    x (the sorted distinct parameter values), behavioural, non_behavioural
    (the two empirical CDFs at x; NaN where a group is empty).
    """
    d = data[[param, outcome]].dropna()
    mask = behavioural(d[outcome].to_numpy(float), behavioural_quantile)
    x = d[param].to_numpy(float)
    grid = np.unique(x)
    cdf = {}
    for name, group in (("behavioural", x[mask]), ("non_behavioural", x[~mask])):
        cdf[name] = ECDF(group)(grid) if len(group) else np.full(len(grid), np.nan)
    return pd.DataFrame({"x": grid, **cdf})

