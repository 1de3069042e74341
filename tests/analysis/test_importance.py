"""analysis.importance: the in-memory Optuna study, the cross-checks' known answer, graceful failure."""
from __future__ import annotations

import numpy as np
import optuna
import pytest

from analysis import importance as I
from analysis.errors import AnalysisError
from analysis.table import prepare
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, synthetic_table

FAST = dict(n_trees=16, max_depth=6, resamples=3)


@pytest.fixture(scope="module")
def prep120():
    return prepare(synthetic_table(120, 3), outcomes=["y"])


def test_study_from_table_holds_every_trial_with_inferred_distributions(prep120):
    data, params = prep120.outcome_data("y"), prep120.params
    study = I.optuna_study(data, params, "y")
    assert len(study.trials) == len(data)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.value for t in study.trials] == pytest.approx(data["y"].tolist())
    dists = study.trials[0].distributions
    assert isinstance(dists["null2"], optuna.distributions.IntDistribution)
    assert isinstance(dists["lin"], optuna.distributions.FloatDistribution)
    assert dists["lin"].low == data["lin"].min() and dists["lin"].high == data["lin"].max()
    assert study.trials[5].params["null2"] == int(data["null2"].iloc[5])


def test_forest_importances_find_the_known_answer(prep120):
    imp = I.analyze(prep120, methods=("optuna.fanova", "optuna.mdi"), seed=0, **FAST)
    assert list(imp.columns) == I.COLUMNS
    for method, part in imp.groupby("method"):
        values = part.set_index("parameter")["value"]
        assert values.sum() == pytest.approx(1.0)  # normalized
        assert values[list(INFLUENTIAL)].min() > values[list(NON_INFLUENTIAL)].max(), method
        assert values.idxmax() == "lin", method


def test_parameter_order_does_not_change_importances(prep120):
    # guards the sorted() workaround for Optuna's MDI labelling by study order
    data = prep120.outcome_data("y")
    a = I.analyze_outcome(data, prep120.params, "y", methods=("optuna.mdi",), **FAST).set_index("parameter")
    b = I.analyze_outcome(data, prep120.params[::-1], "y", methods=("optuna.mdi",), **FAST).set_index("parameter")
    assert np.allclose(a.loc[prep120.params, "value"], b.loc[prep120.params, "value"])


def test_seeded_runs_repeat(prep120):
    a = I.analyze(prep120, methods=("optuna.fanova", "salib.rbd_fast"), seed=5, **FAST)
    b = I.analyze(prep120, methods=("optuna.fanova", "salib.rbd_fast"), seed=5, **FAST)
    assert np.allclose(a["value"], b["value"]) and np.allclose(a["conf"].fillna(-1), b["conf"].fillna(-1))


def test_salib_methods_rank_the_linear_parameter_above_the_nulls(prep120):
    imp = I.analyze(prep120, methods=("salib.rbd_fast", "salib.pawn", "salib.delta"), seed=0, **FAST)
    for method, part in imp.groupby("method"):
        values = part.set_index("parameter")["value"]
        assert values["lin"] > values[list(NON_INFLUENTIAL)].max(), method
    rbd = imp[imp.method == "salib.rbd_fast"]
    assert (rbd["conf"] > 0).all()


def test_small_table_degrades_to_nan_with_a_note():
    prep = prepare(synthetic_table(4, 0), outcomes=["y"])
    imp = I.analyze(prep, methods=("salib.rbd_fast", "salib.pawn", "salib.delta", "optuna.mdi"), **FAST)
    assert len(imp) == 4 * len(prep.params)
    for method in ("salib.rbd_fast", "salib.pawn", "salib.delta"):
        part = imp[imp.method == method]
        assert part["value"].isna().all(), method
        assert part["note"].str.len().gt(0).all(), method
    assert imp.loc[imp.method == "salib.rbd_fast", "note"].iloc[0].startswith("failed: ")


def test_unknown_method_is_an_error(prep120):
    with pytest.raises(AnalysisError, match="unknown importance method"):
        I.analyze(prep120, methods=("shap",))
