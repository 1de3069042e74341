"""analysis.summary: the report's first screen as data, on sensitivity tables with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import screening
from analysis import summary as Su
from analysis.errors import AnalysisError
from analysis.sensitivity import Rules, Sensitivity


def _num(outcome, rows, n=30):
    """rows: (parameter, significant, direction, p_param, spearman_rho)."""
    frame = pd.DataFrame(rows, columns=["parameter", "significant", "direction", "p_param", "spearman_rho"])
    return frame.assign(outcome=outcome, n=n, rank=range(1, len(frame) + 1))


def _cat(outcome, parameter, significant, p_param, kw_stat, best, n=30):
    return {"outcome": outcome, "parameter": parameter, "significant": significant, "p_param": p_param,
            "kw_stat": kw_stat, "best_choice": best, "n": n}


@pytest.fixture()
def sens():
    """nmi: a_t raises it (significant), lr a signal to confirm (p 0.03, rho -0.41); purity: nothing, one weak
    signal; repel (categorical) significant for nmi."""
    table = pd.concat([
        _num("nmi", [("a_t", True, "increasing", 0.0005, 0.73), ("lr", False, "", 0.03, -0.41),
                     ("dim", False, "", 0.6, 0.05)]),
        _num("purity", [("a_t", False, "", 0.2, 0.2), ("lr", False, "", 0.04, 0.38), ("dim", False, "", 0.9, -0.02)])],
        ignore_index=True)
    cats = pd.DataFrame([_cat("nmi", "repel", True, 0.001, 5.8, "radial"), _cat("purity", "repel", False, 0.5, 1.0,
                                                                                 "paper")])
    return Sensitivity(table, cats, [], {}, Rules())


def test_cells_say_direction_strength_and_marks():
    row = pd.Series({"spearman_rho": -0.734, "significant": True, "direction": "decreasing", "p_param": 0.001})
    assert Su.numeric_cell(row) == "↓ 0.73 **"
    hint = pd.Series({"spearman_rho": -0.734, "significant": False, "direction": "", "p_param": 0.03})
    assert Su.numeric_cell(hint) == "↓ 0.73 *"
    flat = pd.Series({"spearman_rho": 0.04, "significant": False, "direction": "", "p_param": 0.7})
    assert Su.numeric_cell(flat) == "· 0.04"
    ends = pd.Series({"spearman_rho": 0.03, "significant": False, "direction": "", "p_param": 0.02})
    assert Su.numeric_cell(ends) == "~ 0.03 *"  # a signal with no monotone trend: the ends test carries it
    bump = pd.Series({"spearman_rho": 0.02, "significant": True, "direction": "non-monotone", "p_param": 0.002})
    assert Su.numeric_cell(bump) == "~ 0.02 **"
    cat = pd.Series({"kw_stat": 5.8, "n": 30, "significant": True, "p_param": 0.001, "best_choice": "radial"})
    assert Su.categorical_cell(cat) == "radial 0.20 **"  # epsilon² = 5.8 / 29
    assert Su.epsilon_squared(5.8, 30) == pytest.approx(0.2)


def test_the_summary_table_has_a_row_per_parameter_and_a_column_per_outcome(sens):
    table = Su.summary_table(sens)
    assert list(table.columns) == ["parameter", "nmi", "purity"]
    assert table["parameter"].tolist() == ["a_t", "repel", "lr", "dim"]  # significant first, then by p
    cells = table.set_index("parameter")
    assert cells.loc["a_t", "nmi"] == "↑ 0.73 **" and cells.loc["a_t", "purity"] == "↑ 0.20"
    assert cells.loc["repel", "nmi"] == "radial 0.20 **" and cells.loc["repel", "purity"] == "paper 0.03"  # 1 / 29
    assert cells.loc["lr", "nmi"] == "↓ 0.41 *" and cells.loc["dim", "purity"] == "· 0.02"
    one_sided = Sensitivity(sens.table.loc[~((sens.table.outcome == "purity") & (sens.table.parameter == "dim"))],
                            sens.categorical, [], {}, Rules())
    assert Su.summary_table(one_sided).set_index("parameter").loc["dim", "purity"] == "–"  # not analysed there
    assert "** significant" not in Su.legend(0.05) and "**: significant after the adjustment" in Su.legend(0.05)


def test_one_sentence_per_outcome(sens):
    assert Su.outcome_sentence(sens, "nmi") == ("a_t raises nmi, repel matters for nmi (best choice radial); "
                                                "nothing else is detectable at n = 30.")
    assert Su.outcome_sentence(sens, "purity") == ("Nothing is detectable for purity at n = 30; the strongest signal to "
                                                   "confirm is lr ↑ (ρ +0.38, p 0.04 before the adjustment).")
    few = Sensitivity(sens.table.assign(n=4), sens.categorical.iloc[0:0], [], {}, Rules())
    assert Su.outcome_sentence(few, "purity").startswith("Too few trials to answer for purity (n = 4 for 3 numeric")
    with pytest.raises(AnalysisError):
        Su.outcome_sentence(sens, "ari")


def test_one_recommendation_the_largest_need_over_the_outcomes_with_a_signal(sens):
    rec = Su.recommend(sens)
    k = 4  # a_t, lr, dim and repel
    need = {"nmi": screening.trials_needed(0.41, k) - 30, "purity": screening.trials_needed(0.38, k) - 30}
    assert need == {"nmi": 36, "purity": 47}  # 3 + 1.06 (3.339 / atanh rho)^2: the weaker signal needs more
    assert (rec.reason, rec.outcome, rec.parameter, rec.n_more, rec.n_total) == ("confirm", "purity", "lr", 47, 77)
    assert rec.needs == need
    assert rec.detects == pytest.approx(screening.detectable_correlation(77, k)) and rec.detects <= 0.38
    text = Su.recommendation_text(rec, "d30")
    assert text.count("extend") == 1 and "`dcsomrl-study extend --study d30 --n 47`" in text
    assert "|ρ| ≥ 0.38" in text or f"|ρ| ≥ {rec.detects:.2f}" in text
    assert "lr on purity" in text and "nmi: --n 36" in text
    focused = Su.recommend(sens, "nmi")
    assert (focused.outcome, focused.n_more) == ("nmi", 36)
    with pytest.raises(AnalysisError, match="ami"):
        Su.recommend(sens, "ami")


def test_without_a_signal_the_advice_is_a_replicate_as_large_as_the_study(sens):
    quiet = sens.table.assign(p_param=np.where(sens.table["significant"], sens.table["p_param"], 0.5))
    rec = Su.recommend(Sensitivity(quiet, sens.categorical, [], {}, Rules()))
    assert (rec.reason, rec.n_more, rec.n_total) == ("stability", 30, 60)
    assert "test whether the ranking holds" in Su.recommendation_text(rec, "s")
    nothing = Sensitivity(quiet.assign(significant=False, p_param=0.5), sens.categorical.assign(significant=False), [], {}, Rules())
    rec = Su.recommend(nothing)
    assert rec.reason == "power" and rec.n_more == 30
    assert "Nothing is detectable yet" in Su.recommendation_text(rec, "s")
    big_hint = sens.table.assign(spearman_rho=sens.table["spearman_rho"].where(sens.table["parameter"] != "lr", -0.9))
    rec = Su.recommend(Sensitivity(big_hint.loc[big_hint.outcome == "nmi"], sens.categorical, [], {}, Rules()))
    assert rec.n_more == 6  # already detectable at this n: the smallest replicate that ranks k = 4 (k + 2)
