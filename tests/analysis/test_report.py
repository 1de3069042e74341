"""analysis.report.write_report: files written, the answer first and right, degenerate input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.formatting import value_text
from analysis.markdown import markdown_table
from analysis.report import write_report
from analysis.report_data import fit_quality
from analysis.errors import AnalysisError
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL

FAST_METHODS = ("optuna.mdi", "salib.pawn")


@pytest.fixture(scope="module")
def written(tmp_path_factory, table200):
    t = table200.copy()
    t.loc[[0, 1], "state"] = "FAIL"
    t.loc[2, "state"] = "RUNNING"
    t.loc[3, "y"] = np.nan
    out = tmp_path_factory.mktemp("report")
    path = write_report(t, out, outcomes=("y",), importance_methods=FAST_METHODS, seed=7)
    return path, path.read_text()


def test_writes_tables_and_figures(written):
    path, _ = written
    out = path.parent
    for name in ("report.md", "sensitivity.csv", "importance.csv"):
        assert (out / name).stat().st_size > 0
    for kind in ("scatter", "ecdf", "mcf", "sensitivity"):
        assert (out / f"{kind}_y.png").read_bytes()[:4] == b"\x89PNG"
    sens = pd.read_csv(out / "sensitivity.csv")
    assert set(sens["outcome"]) == {"y"} and len(sens) == 6
    imp = pd.read_csv(out / "importance.csv")
    assert set(imp["method"]) == set(FAST_METHODS)
    assert (imp["seed"] == 7).all()  # the cross-checks' seed, recorded


def test_the_rules_name_the_seed(written, table200, tmp_path):
    _, text = written
    rules = text[text.index("## Rules"):]
    assert "Seed of their random forests and bootstraps: 7" in rules
    quick = write_report(table200, tmp_path, outcomes=("y",), importance_methods=()).read_text()
    assert "Seed of" not in quick and "Not run for this report." in quick


def test_report_opens_with_the_summary_then_the_detail_once(written):
    _, text = written
    assert text.index("## Summary") < text.index("## Detail per outcome") < text.index("## Figures") \
        < text.index("## Tables") < text.index("## Rules")
    summary = text[text.index("## Summary"):text.index("## Detail per outcome")]
    first = summary.splitlines()[2]
    assert first == "| parameter | y |"  # the summary table comes first
    for p in INFLUENTIAL:
        assert f"| {p} | " in summary and " ** |" in summary
    assert "| lin | ↑ " in summary and "| ushape | ~ " in summary
    assert "**: significant after the adjustment" in summary  # the legend line
    assert "- lin raises y, " in summary and "ushape changes y non-monotonically" in summary
    assert summary.count("dcsomrl-study extend") == 1 and "**Power.** With n = " in summary
    assert "3 FAIL" not in summary and "2 FAIL" in summary and "1 RUNNING" in summary
    assert "1 (y)" in summary  # the NaN outcome, counted
    detail = text[text.index("## Detail per outcome"):text.index("## Figures")]
    y = detail[detail.index("### y\n"):]
    matter = y[y.index("Parameters that matter"):y.index("No detectable effect")]
    for p in INFLUENTIAL:
        assert f"**{p}**" in matter
    assert "**lin**: increasing" in matter and "**ushape**: non-monotone" in matter
    nothing = y[y.index("No detectable effect"):y.index("**Best range.**")]
    for p in NON_INFLUENTIAL:
        assert p in nothing
    assert "**Best range.**" in y and "lin in [" in y and "Best trial: trial " in y
    sure = detail[detail.index("**How sure.**"):]
    assert "y: R² " in sure and "rank R² " in sure and "only as far as the regressions explain it" in sure
    for once in ("**How sure.**", "**Power", "**Ranking stability**", "Next step"):
        assert text.count(once) == 1, once


def test_a_thirty_trial_report_with_four_outcomes_says_each_block_once(tmp_path):
    """Four outcomes, one summary: one table with a column each, one sentence each, one recommendation,
    and no broken fragment such as 'R² = – -- fit not computed'."""
    from analysis.testfunctions import synthetic_table
    t = synthetic_table(30, 1, noise=0.5)
    t = t.assign(y2=t["y"] * 0.5 + t["null1"], y3=-t["y"], y4=t["null2"] + 0.1 * t["lin"])
    text = write_report(t, tmp_path, outcomes=("y", "y2", "y3", "y4"), importance_methods=(), study="s").read_text()
    summary = text[:text.index("## Detail per outcome")]
    assert "| parameter | y | y2 | y3 | y4 |" in summary
    assert sum(line.startswith("- ") for line in summary[:summary.index("Trials:")].splitlines()) == 4
    assert text.count("dcsomrl-study extend --study s --n ") == 1
    assert text.count("**Power") == 1 and text.count("**How sure.**") == 1
    assert "fit not computed" not in text and "R² = –" not in text
    few = write_report(synthetic_table(7, 0), tmp_path / "few", outcomes=("y",), importance_methods=()).read_text()
    assert "y: not computed (n = 7 trials for 6 numeric parameters; the regressions need 8)" in few
    assert "R² = –" not in few and " -- fit" not in few


def test_figures_are_embedded_and_tables_follow(written):
    path, text = written
    for kind in ("scatter", "ecdf", "mcf", "sensitivity"):
        assert f"]({kind}_y.png)" in text
    assert "| parameter | rank | significant |" in text
    assert "### Importance cross-checks for y" in text


def test_fit_quality_rule():
    assert [fit_quality(0.8, 0.1), fit_quality(0.3, 0.5), fit_quality(0.1, 0.2)] == ["good", "partial", "poor"]
    assert fit_quality(np.nan, np.nan) == "not computed"


def test_markdown_table_formats_numbers():
    text = markdown_table(pd.DataFrame({"a": ["x"], "b": [0.123456], "c": [1e-7], "d": [True], "e": [np.nan]}))
    assert text.splitlines()[2] == "| x | 0.123 | 1e-07 | yes | – |"
    assert [value_text(v) for v in (0.99885, np.float64(0.5), 3, "sym")] == ["0.99885", "0.5", "3", "sym"]


def test_degenerate_tables_raise(tmp_path, table200):
    with pytest.raises(AnalysisError, match="empty"):
        write_report(table200.iloc[0:0], tmp_path)
    with pytest.raises(AnalysisError, match="outcome column"):
        write_report(table200, tmp_path)  # default outcomes nmi, purity are absent
    assert not (tmp_path / "report.md").exists()


def test_a_strong_but_uncorrected_signal_is_named_with_its_direction(tmp_path):
    """24 noisy trials: nothing survives the adjustment, but lin's parameter p < 0.05 is named, with
    what this n could have seen."""
    from analysis.testfunctions import synthetic_table
    t = synthetic_table(24, 0, noise=1.0)
    text = write_report(t, tmp_path, outcomes=("y",), importance_methods=()).read_text()
    y = text[text.index("### y\n"):text.index("**How sure.**")]
    assert "No parameter has a detectable effect** on y at this size (n = 24 trials): an effect weaker than |rho| 0.65" in y
    assert "6 parameters, the rule finds an effect with 80% probability when its |rank correlation| is at least 0.65" in text
    signals = y[y.index("**Strongest signals, not significant after the adjustment**"):y.index("No detectable effect:")]
    assert "- lin: higher values tend to raise y; Spearman +0.57, PRCC +0.51" in signals
    for p in NON_INFLUENTIAL:
        assert f"- {p}:" not in signals
    assert "lin (adjusted p" not in y  # named once, among the signals


def test_a_second_report_replaces_its_own_files_and_leaves_no_stale_figure(tmp_path):
    from analysis.testfunctions import synthetic_table
    t = synthetic_table(40, 0).assign(form=lambda d: np.where(d["lin"] > 0.5, "a", "b"))
    write_report(t, tmp_path, outcomes=("y",), importance_methods=())
    assert (tmp_path / "choices_y.png").exists()
    (tmp_path / "notes.txt").write_text("mine")
    write_report(t.drop(columns="form"), tmp_path, outcomes=("y",), importance_methods=())
    assert not (tmp_path / "choices_y.png").exists()          # the categorical parameter is gone
    assert (tmp_path / "notes.txt").read_text() == "mine"     # not ours: kept
    assert "form" not in (tmp_path / "report.md").read_text()


def test_a_one_trial_behavioural_range_is_not_printed_as_a_range(tmp_path):
    from analysis.report_text import range_text
    one = pd.Series(dict(parameter="lr", behavioural_low=0.1, behavioural_high=0.1, n_behavioural=1))
    assert range_text(one) == "lr = 0.1 (one value: not a range)"
    two = one.copy()
    two["behavioural_high"], two["n_behavioural"] = 0.2, 2
    assert range_text(two) == "lr in [0.1, 0.2]"


def test_too_few_trials_says_so_and_how_many_are_needed(tmp_path):
    from analysis.testfunctions import synthetic_table
    text = write_report(synthetic_table(7, 0), tmp_path, outcomes=("y",), importance_methods=()).read_text()
    y = text[text.index("### y\n"):text.index("**How sure.**")]
    assert "**Too few trials** to answer for y: n = 7 for 6 numeric parameters" in y
    assert "No parameter has a detectable effect" not in y and "needs about " in y
    assert "- Too few trials to answer for y (n = 7 for 6 numeric parameters" in text  # the summary's sentence


def test_a_study_that_varies_its_budget_says_so_next_to_the_ranking(tmp_path):
    from analysis.testfunctions import synthetic_table
    t = synthetic_table(30, 1, noise=0.5)
    plain = write_report(t, tmp_path / "a", outcomes=("y",), importance_methods=()).read_text()
    assert "The budget varies" not in plain
    t = t.assign(epochs=np.where(t["lin"] > t["lin"].median(), 30, 3))
    text = write_report(t, tmp_path / "b", outcomes=("y",), importance_methods=()).read_text()
    summary = text[:text.index("## Detail per outcome")]
    assert "**The budget varies.** `epochs` varies in this study: it is the budget, not the model." in summary
