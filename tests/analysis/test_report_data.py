"""analysis.report_data: the report as data, on known answers; analysis.report_text renders only that."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import screening
from analysis.formatting import number_text, p_text, value_text
from analysis.report import write_report
from analysis.report_data import figure_specs, power_groups, report_data, slug
from analysis.report_text import render_report
from analysis.table import prepare
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, synthetic_table


@pytest.fixture(scope="module")
def data200(table200):
    return report_data(table200, outcomes=("y",), importance_methods=(), seed=5, study="s")


def test_one_outcomes_data_holds_the_known_answer(data200, table200):
    d = data200.outcomes["y"]
    assert list(data200.outcomes) == ["y"] and d.outcome == "y"
    assert set(d.rows["parameter"].iloc[:3]) == set(INFLUENTIAL) and d.rows["significant"].sum() == 3
    assert list(d.rows["rank"]) == [1, 2, 3, 4, 5, 6]
    assert set(d.rows.loc[~d.rows["significant"], "parameter"]) == set(NON_INFLUENTIAL)
    assert d.cats.empty and d.importance.empty
    assert (d.n, d.k) == (200, 6) and data200.n_params == 6
    assert d.detectable == pytest.approx(screening.detectable_correlation(200, 6, 0.05))
    assert d.needed == screening.trials_needed(0.5, 6, 0.05)
    assert d.fit in ("good", "partial")
    assert d.best.name == table200["y"].idxmax() and d.best["y"] == table200["y"].max()
    assert d.stability is None and not data200.replicated  # one replicate
    assert [f.file for f in d.figures] == ["scatter_y.png", "ecdf_y.png", "mcf_y.png", "sensitivity_y.png"]


def test_the_study_level_data(data200):
    assert data200.sens.rules.seed == 5 and data200.study == "s" and data200.budget_note is None
    assert data200.recommendation.reason in ("confirm", "stability")  # three parameters are significant
    assert power_groups(data200) == [(["y"], 200, 6, data200.outcomes["y"].detectable)]


def test_report_data_is_seeded_and_the_text_is_its_rendering(table200, tmp_path):
    kw = dict(outcomes=("y",), importance_methods=(), seed=3)
    a, b = report_data(table200, **kw), report_data(table200, **kw)
    pd.testing.assert_frame_equal(a.sens.table, b.sens.table)
    assert render_report(a) == render_report(b)
    assert write_report(table200, tmp_path, **kw).read_text() == render_report(a)


def test_replicates_give_each_outcome_its_stability():
    parts = [synthetic_table(60, s).assign(replicate=r) for r, s in enumerate([1, 2])]
    table = pd.concat(parts, ignore_index=True)
    data = report_data(table, outcomes=("y",), importance_methods=())
    stab = data.outcomes["y"].stability
    assert stab is not None and list(stab.rankings.index) == [0, 1] and stab.stable and data.replicated


def test_outcomes_sharing_n_and_k_form_one_power_group():
    t = synthetic_table(30, 1, noise=0.5)
    t = t.assign(y2=-t["y"], y3=t["null1"].where(t.index > 0))  # y3 lacks one trial: another n
    data = report_data(t, outcomes=("y", "y2", "y3"), importance_methods=())
    groups = power_groups(data)
    assert [(g[0], g[1], g[2]) for g in groups] == [(["y", "y2"], 30, 6), (["y3"], 29, 6)]


def test_figures_of_a_categorical_parameter_and_odd_outcome_names():
    t = synthetic_table(40, 0).assign(form=lambda d: np.where(d["lin"] > 0.5, "a", "b")).rename(columns={"y": "y/1"})
    specs = figure_specs(prepare(t, None, ("y/1",)), "y/1")
    assert [f.kind for f in specs] == ["scatter", "ecdf", "mcf", "sensitivity", "choices"]
    assert specs[-1].file == "choices_y_1.png" == f"choices_{slug('y/1')}.png"
    assert all(f.caption and f.outcome == "y/1" for f in specs)


def test_number_formats():
    assert [p_text(v) for v in (0.0123456, 0.0, np.nan, 1.0)] == ["0.012", "< 1e-300", "–", "1"]
    assert [number_text(v) for v in (True, False, 3, 0.5, 1e-7, 25000.0, np.nan, "x")] == \
        ["yes", "", "3", "0.500", "1e-07", "2.5e+04", "–", "x"]
    assert value_text(np.float32(0.25)) == "0.25" and value_text(np.int64(4)) == "4"
