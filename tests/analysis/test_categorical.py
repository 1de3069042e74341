"""analysis.categorical: categorical parameters compared across their choices, in one family with the numeric ones."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import categorical, sensitivity
from analysis.report import write_report
from analysis.testfunctions import synthetic_table


def with_choices(n=120, seed=0, shift=0.5):
    """The synthetic table plus 'form' (choice 'b' adds ``shift`` to y) and 'idle' (no effect)."""
    t = synthetic_table(n, seed)
    rng = np.random.default_rng(seed + 10)
    t["form"] = rng.choice(["a", "b"], n)
    t["idle"] = rng.choice(["p", "q", "r"], n)
    t["y"] = t["y"] + shift * (t["form"] == "b")
    return t


def test_group_summary_and_tests_match_scipy():
    x = pd.Series(["a", "a", "b", "b", "b", "c"])
    y = np.array([1.0, 3.0, 2.0, 4.0, 6.0, 5.0])
    mask = y >= 4
    g = categorical.group_summary(x, y, mask).set_index("choice")
    assert g.loc["a", "n"] == 2 and g.loc["b", "median"] == 4.0 and g.loc["b", "mean"] == 4.0
    assert g.loc["b", "behavioural_share"] == pytest.approx(2 / 3) and g.loc["a", "behavioural_share"] == 0
    h, p = categorical.kruskal_test(x, y)
    ref = stats.kruskal([1.0, 3.0], [2.0, 4.0, 6.0], [5.0])
    assert (h, p) == pytest.approx((ref.statistic, ref.pvalue))
    two = pd.Series(["a"] * 6 + ["b"] * 6)
    beh = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0], bool)
    assert categorical.share_test(two, beh) == pytest.approx(stats.fisher_exact([[1, 5], [5, 1]]).pvalue)
    table = pd.crosstab(x.to_numpy(), mask).to_numpy()
    assert categorical.share_test(x, mask) == pytest.approx(stats.chi2_contingency(table).pvalue)
    assert np.isnan(categorical.share_test(two, np.zeros(12, bool)))  # nobody behavioural


def test_an_effective_choice_is_significant_and_an_idle_one_is_not():
    t = with_choices()
    result = sensitivity.analyze(t, outcomes=["y"])
    sens, cats = result.table, result.categorical.set_index("parameter")
    assert cats.loc["form", "significant"] and not cats.loc["idle", "significant"]
    assert cats.loc["form", "best_choice"] == "b"
    assert cats.loc["form", "best_value"] == t.loc[t["y"].idxmax(), "form"]
    assert "a: n " in cats.loc["form", "groups"] and "b: n " in cats.loc["form", "groups"]
    # one family: step-down adjusted p-values rise with the parameter p over numeric and categorical alike
    family = pd.concat([sens[["parameter", "p_param", "p_adj"]], cats.reset_index()[["parameter", "p_param", "p_adj"]]])
    assert len(family) == 8
    ordered = family.sort_values("p_param", kind="stable")
    assert (np.diff(ordered["p_adj"].to_numpy()) >= 0).all() and (family["p_adj"] >= family["p_param"]).all()
    without = sensitivity.analyze(t.drop(columns=["form", "idle"]), outcomes=["y"]).table.set_index("parameter")
    assert (without["p_adj"] <= sens.set_index("parameter").loc[without.index, "p_adj"] + 1e-12).all()


def test_without_categorical_parameters_nothing_changes():
    t = synthetic_table(60, 2)
    result = sensitivity.analyze(t, outcomes=["y"])
    sens = result.table
    assert result.categorical.empty and list(result.categorical.columns) == categorical.COLUMNS
    assert (sens["p_adj"] >= sens["p_param"]).all() and "p_kw" not in sens.columns


def test_the_report_names_the_choice_and_draws_it(tmp_path):
    t = with_choices()
    text = write_report(t, tmp_path, outcomes=("y",), importance_methods=()).read_text()
    answer = text[:text.index("## Figures")]
    assert "**form** (categorical): best choice **b**" in answer
    assert "idle (categorical): no detectable difference" in answer
    assert "![y: outcome per choice" in text and (tmp_path / "choices_y.png").stat().st_size > 5000
    saved = pd.read_csv(tmp_path / "categorical.csv")
    assert set(saved["parameter"]) == {"form", "idle"}


def test_a_weak_choice_effect_is_named_as_a_signal(tmp_path):
    t = with_choices(n=40, seed=1, shift=0.15)
    form = sensitivity.analyze(t, outcomes=["y"]).categorical.set_index("parameter").loc["form"]
    assert not form["significant"] and form["p_param"] < 0.05  # the case this test is about
    text = write_report(t, tmp_path, outcomes=("y",), importance_methods=()).read_text()
    signals = text[text.index("**Strongest signals"):text.index("**How sure")]
    assert "- form (categorical): b has the highest median y" in signals


def test_refine_with_a_space_whose_choices_do_not_match_the_table_is_one_clear_error():
    from analysis.errors import AnalysisError
    from analysis.refine import refine_plan
    from analysis.testfunctions import space

    t = with_choices(shift=5.0)  # every behavioural trial has form 'b'
    s = space()
    s["form"] = {"type": "categorical", "choices": ["a"]}
    with pytest.raises(AnalysisError, match="parameter form: none of the space's choices"):
        refine_plan(t, s, "y")
