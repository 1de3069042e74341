"""analysis.cdf: ECDF against statsmodels and by hand, the DKW band, conditional CDFs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.distributions.empirical_distribution import ECDF

from analysis import cdf
from analysis.errors import AnalysisError


def test_dkw_epsilon_formula():
    assert cdf.dkw_epsilon(100, 0.05) == pytest.approx(math.sqrt(math.log(40) / 200))
    assert cdf.dkw_epsilon(30, 0.05) == pytest.approx(0.24796, abs=1e-5)
    assert cdf.dkw_epsilon(400) == pytest.approx(cdf.dkw_epsilon(100) / 2)
    with pytest.raises(AnalysisError):
        cdf.dkw_epsilon(0)
    with pytest.raises(AnalysisError):
        cdf.dkw_epsilon(10, 1.5)


def test_ecdf_matches_statsmodels_and_counting():
    v = np.array([0.3, 0.1, 0.3, 0.7, np.nan, 0.2])
    frame = cdf.ecdf(v, alpha=0.1)
    finite = v[np.isfinite(v)]
    assert frame["x"].tolist() == [0.1, 0.2, 0.3, 0.7]
    assert np.allclose(frame["F"], ECDF(finite)(frame["x"]))
    assert np.allclose(frame["F"], [(finite <= x).mean() for x in frame["x"]])
    eps = cdf.dkw_epsilon(5, 0.1)
    assert np.allclose(frame["upper"], np.minimum(frame["F"] + eps, 1))
    assert np.allclose(frame["lower"], np.maximum(frame["F"] - eps, 0))


def test_dkw_band_covers_the_true_cdf():
    """Uniform samples (F(x) = x): the band must hold F on every step, [x_i, x_{i+1})."""
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(200):
        f = cdf.ecdf(rng.uniform(size=50), alpha=0.1)
        x, lower, upper = f["x"].to_numpy(), f["lower"].to_numpy(), f["upper"].to_numpy()
        inside = (lower <= x).all() and (np.append(x[1:], 1.0) <= upper).all() and x[0] <= cdf.dkw_epsilon(50, 0.1)
        misses += not inside
    assert misses / 200 <= 0.1 + 0.05  # P(miss) <= alpha, with room for 200 draws


def test_conditional_cdfs_distance_is_the_ks_statistic(table200, sens200):
    for p in ("lin", "ushape", "null1"):
        c = cdf.conditional_cdfs(table200, p, "y", 0.75)
        d = np.max(np.abs(c["behavioural"] - c["non_behavioural"]))
        assert d == pytest.approx(sens200.table.set_index("parameter").loc[p, "ks_stat"])
        assert c["behavioural"].iloc[-1] == 1 and c["non_behavioural"].iloc[-1] == 1
        assert c["behavioural"].is_monotonic_increasing

