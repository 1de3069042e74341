"""analysis.table.prepare: which trials and columns the measures see, and its one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from analysis import table as T
from analysis.errors import AnalysisError
from analysis.table import complete_only, infer_params, prepare, varying
from analysis.testfunctions import synthetic_table


def small(n=20, seed=0):
    t = synthetic_table(n, seed)
    t["nmi"] = t.pop("y")
    t["purity"] = t["nmi"] * 0.5 + 0.2
    return t


def test_infers_parameters_and_skips_metadata():
    t = small()
    t["device"], t["seconds"], t["reason"], t["design_index"] = "cpu", 1.0, "", range(len(t))
    assert infer_params(t, ["nmi", "purity"]) == ["lin", "mono", "ushape", "null1", "null2", "null3"]
    t.attrs["params"] = ["lin", "mono"]
    assert infer_params(t, ["nmi"]) == ["lin", "mono"]


def test_varying_is_the_one_rule_for_constant_parameters():
    t = small()
    t["batch_size"] = 256
    assert varying(t, ["lin", "batch_size", "null2"]) == ["lin", "null2"]
    # where an outcome is missing a parameter may be constant among the rest
    t.loc[t.index[1:], "lin"] = 0.5
    t.loc[t.index[0], "nmi"] = np.nan
    prep = prepare(t)
    assert "lin" in prep.params and "lin" not in prep.outcome_params("nmi")
    assert "lin" in prep.outcome_params("purity")


def test_analysis_error_is_one_class_wherever_it_is_imported():
    assert T.AnalysisError is AnalysisError and issubclass(AnalysisError, ValueError)


def test_only_complete_trials_are_used_and_counted():
    t = small()
    t.loc[[0, 1], "state"] = "FAIL"
    t.loc[2, "state"] = "RUNNING"
    t.loc[3, "state"] = "TrialState.PRUNED"
    prep = prepare(t)
    assert len(prep.data) == len(t) - 4
    assert prep.counts["states"] == {"COMPLETE": 16, "FAIL": 2, "RUNNING": 1, "PRUNED": 1}
    assert any("2 FAIL" in n and "1 RUNNING" in n for n in prep.notes)
    done, states = complete_only(t.drop(columns="state"))
    assert len(done) == len(t) and states == {"COMPLETE": len(t)}


def test_nan_outcome_is_dropped_for_that_outcome_only():
    t = small()
    t.loc[[4, 5], "nmi"] = np.nan
    t.loc[6, "nmi"] = np.inf
    prep = prepare(t)
    assert prep.counts["nan_outcomes"] == {"nmi": 3, "purity": 0}
    assert len(prep.outcome_data("nmi")) == len(t) - 3
    assert len(prep.outcome_data("purity")) == len(t)


def test_constant_parameters_are_dropped_with_a_note_and_categorical_ones_kept_apart():
    t = small()
    t["batch_size"] = 256
    t["repel"] = "symmetric"
    t["form"] = ["a", "b"] * (len(t) // 2) + ["a"] * (len(t) % 2)
    t["as_text"] = t["lin"].astype(str)  # numbers read as text still count
    prep = prepare(t)
    assert "batch_size" not in prep.params and "repel" not in prep.params and "form" not in prep.params
    assert "as_text" in prep.params
    assert prep.categorical == ["form"]  # repel is constant
    assert any("batch_size dropped: constant (256)" in n for n in prep.notes)
    assert any("repel dropped: constant (symmetric)" in n for n in prep.notes)
    assert list(prep.categorical_data("nmi").columns) == ["form", "nmi"]


def test_constant_outcome_is_dropped_and_all_constant_is_an_error():
    t = small()
    t["purity"] = 0.5
    prep = prepare(t)
    assert prep.outcomes == ["nmi"]
    assert any("outcome purity dropped: constant" in n for n in prep.notes)
    t["nmi"] = 0.5
    with pytest.raises(AnalysisError, match="no outcome to analyse"):
        prepare(t)


@pytest.mark.parametrize("make, message", [
    (lambda t: t.iloc[0:0], "empty"),
    (lambda t: t.drop(columns="purity"), "outcome column"),
    (lambda t: t.assign(state="FAIL"), "no usable COMPLETE trials"),
    (lambda t: t.assign(nmi=np.nan, purity=np.nan), "no outcome to analyse"),
    (lambda t: t.iloc[:2], "need at least 3"),
])
def test_degenerate_tables_raise_one_line(make, message):
    with pytest.raises(AnalysisError, match=message) as err:
        prepare(make(small()))
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_unknown_parameter_and_constant_parameters_raise():
    with pytest.raises(AnalysisError, match="parameter column"):
        prepare(small(), params=["lin", "nope"])
    t = small()
    with pytest.raises(AnalysisError, match="no parameter varies"):
        prepare(t.assign(lin=1.0), params="lin")


def test_a_text_cell_in_a_numeric_parameter_column_is_an_error_naming_column_and_trial():
    from analysis.table import prepare
    from analysis.testfunctions import synthetic_table

    t = synthetic_table(30, 0)
    t["lin"] = t["lin"].astype(object)
    t.loc[5, "lin"] = "abc"
    with pytest.raises(AnalysisError) as info:
        prepare(t, outcomes=["y"])
    msg = str(info.value)
    assert "parameter column lin: trial 5 holds 'abc', not a number" in msg and "\n" not in msg
