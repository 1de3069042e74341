"""analysis.sensitivity against direct computations, libraries and the known answer.

The known-answer design (analysis.testfunctions): y linear in ``lin``, monotone
convex in ``mono``, U-shaped in ``ushape``, independent of ``null1..3``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis import sensitivity as S
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, synthetic_table

PARAMS = list(INFLUENTIAL + NON_INFLUENTIAL)


def row(sens, p):
    """The numeric table's row of parameter ``p`` (``sens``: an analysis.sensitivity.Sensitivity)."""
    return sens.table.set_index("parameter").loc[p]


def residual_pcc(X, y, j):
    """Partial correlation by hand: residuals from numpy least squares."""
    others = np.column_stack([np.ones(len(y)), np.delete(X, j, axis=1)])
    ex = X[:, j] - others @ np.linalg.lstsq(others, X[:, j], rcond=None)[0]
    ey = y - others @ np.linalg.lstsq(others, y, rcond=None)[0]
    return np.corrcoef(ex, ey)[0, 1]


# ----- against libraries and direct computations ------------------------------------------------

def test_correlations_match_scipy_and_pandas(table200, sens200):
    for p in PARAMS:
        r = row(sens200, p)
        assert r["pearson_r"] == pytest.approx(table200[p].corr(table200["y"]), abs=1e-12)
        assert r["spearman_rho"] == pytest.approx(table200[p].corr(table200["y"], method="spearman"), abs=1e-12)
        assert r["pearson_p"] == pytest.approx(stats.pearsonr(table200[p], table200["y"]).pvalue, rel=1e-9)


def test_src_is_the_ols_coefficient_on_standardized_data(table200, sens200):
    X = table200[PARAMS].to_numpy(float)
    y = table200["y"].to_numpy(float)
    z = lambda a: (a - a.mean(0)) / a.std(0, ddof=1)  # noqa: E731
    coef = np.linalg.lstsq(np.column_stack([np.ones(len(y)), z(X)]), z(y), rcond=None)[0][1:]
    rank_coef = np.linalg.lstsq(np.column_stack([np.ones(len(y)), z(stats.rankdata(X, axis=0))]),
                                z(stats.rankdata(y)), rcond=None)[0][1:]
    r2 = sm.OLS(y, sm.add_constant(X)).fit().rsquared
    for j, p in enumerate(PARAMS):
        assert row(sens200, p)["src"] == pytest.approx(coef[j], abs=1e-10)
        assert row(sens200, p)["srrc"] == pytest.approx(rank_coef[j], abs=1e-10)
        assert row(sens200, p)["r2"] == pytest.approx(r2, abs=1e-10)


def test_pcc_and_prcc_match_a_direct_residual_computation(table200, sens200):
    X = table200[PARAMS].to_numpy(float)
    y = table200["y"].to_numpy(float)
    Xr, yr = stats.rankdata(X, axis=0), stats.rankdata(y)
    for j, p in enumerate(PARAMS):
        assert row(sens200, p)["pcc"] == pytest.approx(residual_pcc(X, y, j), abs=1e-10)
        assert row(sens200, p)["prcc"] == pytest.approx(residual_pcc(Xr, yr, j), abs=1e-10)


def test_partial_correlation_p_value_equals_the_regression_t_test(sens200):
    # The t-test of a partial correlation (df = n - k - 1) is the t-test of that
    # parameter's coefficient in the full regression: PCC p = SRC p, PRCC p = SRRC p.
    for p in PARAMS:
        r = row(sens200, p)
        assert r["pcc_p"] == pytest.approx(r["src_p"], rel=1e-6, abs=1e-300)
        assert r["prcc_p"] == pytest.approx(r["srrc_p"], rel=1e-6, abs=1e-300)


def test_partial_correlation_of_one_parameter_is_pearson():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=50)
    y = x + rng.normal(size=50)
    r, p = S.partial_correlation(x[:, None], y)
    ref = stats.pearsonr(x, y)
    assert r[0] == pytest.approx(ref.statistic) and p[0] == pytest.approx(ref.pvalue)


def test_ks_and_kw_match_scipy_on_the_documented_split(table200, sens200):
    y = table200["y"].to_numpy()
    mask = y >= np.quantile(y, 0.75)
    assert mask.sum() == 50  # the top quartile of 200 distinct values
    for p in PARAMS:
        x = table200[p].to_numpy(float)
        ks = stats.ks_2samp(x[mask], x[~mask])
        classes = pd.qcut(x, 5, labels=False, duplicates="drop")
        kw = stats.kruskal(*[y[classes == c] for c in np.unique(classes)])
        r = row(sens200, p)
        assert (r["ks_stat"], r["ks_p"]) == pytest.approx((ks.statistic, ks.pvalue))
        assert (r["kw_stat"], r["kw_p"]) == pytest.approx((kw.statistic, kw.pvalue))
        assert r["behavioural_low"] == x[mask].min() and r["behavioural_high"] == x[mask].max()


def test_significance_comes_from_the_screening_rule(table200, sens200):
    from analysis.screening import screen

    y = table200["y"].to_numpy()
    expected = screen(table200[PARAMS].to_numpy(float), y, S.behavioural(y), names=PARAMS).table.set_index("parameter")
    got = sens200.table.set_index("parameter").loc[PARAMS]
    assert np.allclose(got["p_param"], expected.loc[PARAMS, "p_param"])
    assert np.allclose(got["p_adj"], expected.loc[PARAMS, "p_adj"])
    assert (got["significant"] == (got["p_adj"] < 0.05)).all()
    assert sens200.rules == S.Rules(behavioural_quantile=0.75, control="fwer", level=0.05,
                                    n_permutations=1999, seed=0)



def test_the_result_is_a_plain_object_with_its_tables_notes_counts_and_rules(table200, sens200):
    import dataclasses

    from analysis import categorical
    from analysis.table import prepare

    assert isinstance(sens200, S.Sensitivity) and not sens200.table.attrs
    assert list(sens200.table.columns) == S.COLUMNS and set(sens200.table["parameter"]) == set(PARAMS)
    assert list(sens200.categorical.columns) == categorical.COLUMNS and sens200.categorical.empty
    prep = prepare(table200, None, ["y"])
    assert sens200.counts == prep.counts and sens200.notes[:len(prep.notes)] == prep.notes
    with pytest.raises(dataclasses.FrozenInstanceError):
        sens200.notes = []

# ----- the known answer ------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_known_answer_ranking_and_flags(seed):
    sens = S.analyze(synthetic_table(200, seed), outcomes=["y"]).table.set_index("parameter")
    ranked = sens.sort_values("rank").index.tolist()
    assert ranked[0] == "lin"
    assert set(ranked[:3]) == set(INFLUENTIAL)
    assert sens.loc[list(INFLUENTIAL), "significant"].all()
    assert not sens.loc[list(NON_INFLUENTIAL), "significant"].any()
    assert (sens.loc[list(NON_INFLUENTIAL), "direction"] == "").all()
    assert sens.loc["lin", "direction"] == "increasing" and sens.loc["mono", "direction"] == "increasing"


def test_direction_follows_the_sign(table200):
    flipped = table200.assign(y=-table200["y"], lin=table200["lin"])
    sens = S.analyze(flipped, outcomes=["y"]).table.set_index("parameter")
    assert sens.loc["lin", "direction"] == "decreasing" and sens.loc["lin", "prcc"] < -0.6
    assert sens.loc["ushape", "direction"] == "non-monotone"  # a hill instead of a U


def test_non_monotone_parameter_is_caught_by_kw_ks_and_the_ends_test_not_by_prcc(sens200):
    u = row(sens200, "ushape")
    assert abs(u["prcc"]) < 0.15 and u["prcc_p"] > 0.05
    assert u["kw_p"] < 1e-6 and u["ks_p"] < 0.01 and u["p_ends_perm"] <= 0.001
    assert u["significant"] and u["direction"] == "non-monotone"


def test_known_answer_values_within_tolerance(sens200):
    lin, mono = row(sens200, "lin"), row(sens200, "mono")
    assert 0.6 < lin["prcc"] < 0.85 and 0.3 < mono["prcc"] < 0.7
    assert 0.45 < lin["r2"] < 0.75  # the U-shape and the noise stay unexplained by a line
    for p in NON_INFLUENTIAL:
        assert abs(row(sens200, p)["prcc"]) < 0.2


# ----- degenerate input ------------------------------------------------------------------------

def test_too_few_trials_for_regression_skips_it_with_a_note():
    t = synthetic_table(7, 0)  # 6 parameters: regression needs 8 trials
    sens = S.analyze(t, outcomes=["y"])
    assert sens.table[["src", "srrc", "pcc", "prcc", "r2"]].isna().all().all()
    assert sens.table[["pearson_r", "ks_stat", "kw_stat"]].notna().all().all()
    assert any("regression measures" in n and "need at least k + 2 = 8" in n for n in sens.notes)
    assert S.analyze(synthetic_table(8, 0), outcomes=["y"]).table["prcc"].notna().all()


def test_behavioural_rule_and_bad_quantile():
    y = np.arange(100.0)
    assert S.behavioural(y, 0.75).sum() == 25 and S.behavioural(y, 0.75)[-1]
    with pytest.raises(ValueError, match="behavioural_quantile"):
        S.behavioural(y, 1.0)


@pytest.mark.parametrize("kwargs", [dict(level=0.0), dict(level=1.5), dict(behavioural_quantile=1.0),
                                    dict(n_classes=1), dict(control="bonferroni"), dict(n_permutations=5)])
def test_bad_settings_raise_one_line(table200, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        S.analyze(table200, outcomes=["y"], **kwargs)


def test_default_classes():
    assert [S.default_classes(n) for n in (3, 10, 24, 30, 200)] == [2, 2, 4, 5, 5]


def test_integer_parameter_with_ties_merges_classes():
    t = synthetic_table(40, 0).assign(null2=lambda d: d["null2"] % 3)  # three values only
    r = S.analyze(t, outcomes=["y"]).table.set_index("parameter").loc["null2"]
    assert r["n_classes"] <= 3 and np.isfinite(r["kw_p"])
