"""analysis.refine: the refine and best rules on the plain dict form and on studies.space.Space."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.refine import best, best_trial, refine, refine_plan, refined_space, to_plain
from analysis.errors import AnalysisError
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, space, synthetic_table


def test_refine_narrows_influential_and_fixes_the_rest(table200, sens200):
    old = space()
    old["extra"] = {"type": "float", "value": 3.0}  # fixed: kept
    new, plan = refine_plan(table200, old, "y")
    sens = sens200.set_index("parameter")
    top = table200.loc[table200["y"].idxmax()]
    for p in INFLUENTIAL:
        assert new[p]["low"] == pytest.approx(sens.loc[p, "behavioural_low"])
        assert new[p]["high"] == pytest.approx(sens.loc[p, "behavioural_high"])
        assert old[p]["low"] <= new[p]["low"] < new[p]["high"] <= old[p]["high"]
        assert new[p]["scale"] == old[p]["scale"] and new[p]["type"] == old[p]["type"]
    for p in NON_INFLUENTIAL:
        assert set(new[p]) == {"type", "value"}
        assert new[p]["value"] == pytest.approx(top[p])
    assert isinstance(new["null2"]["value"], int)
    assert new["extra"] == {"type": "float", "value": 3.0}
    actions = plan.set_index("parameter")["action"]
    assert actions[list(INFLUENTIAL)].eq("narrow").all() and actions[list(NON_INFLUENTIAL)].eq("fix").all()
    assert actions["extra"] == "keep"
    assert refine(table200, old, "y") == new
    assert refined_space(new, old, "y", behavioural_quantile=0.75, alpha=0.01) == new  # dict in, dict out


def test_refine_never_leaves_the_original_range_and_rounds_integers_outward(table200):
    # a space narrower than the trials' behavioural range: clipped to the space
    tight = space()
    tight["lin"] = {"type": "float", "low": 0.5, "high": 0.9, "scale": "linear"}
    tight["null1"] = {"type": "float", "low": 0.96, "high": 0.97, "scale": "linear"}
    new = refine(table200, tight, "y")
    assert (new["lin"]["low"], new["lin"]["high"]) == (0.5, 0.9)
    assert 0.96 <= new["null1"]["value"] <= 0.97  # a fixed best value is clipped too
    # an influential integer parameter: floor/ceil of the behavioural range
    t = table200.assign(whole=lambda d: np.round(d["lin"] * 40 + 10.4).astype(int))
    s = {"whole": {"type": "int", "low": 10, "high": 50, "scale": "linear"}, **space()}
    new = refine(t.drop(columns="lin"), {k: v for k, v in s.items() if k != "lin"}, "y")
    beh = t.loc[t["y"] >= t["y"].quantile(0.75), "whole"]
    assert (new["whole"]["low"], new["whole"]["high"]) == (beh.min(), beh.max())
    assert all(isinstance(new["whole"][k], int) for k in ("low", "high"))


def test_refine_keeps_what_it_cannot_analyse(table200):
    s = space()
    s["repel"] = {"type": "categorical", "choices": ["a", "b"]}
    s["missing"] = {"type": "float", "low": 0.0, "high": 1.0, "scale": "linear"}
    new, plan = refine_plan(table200, s, "y")
    assert new["repel"] == s["repel"] and new["missing"] == s["missing"]
    reasons = plan.set_index("parameter")["reason"]
    assert "not in the table" in reasons["repel"] and "not in the table" in reasons["missing"]


def test_refine_keeps_the_good_choices_of_an_influential_categorical_and_fixes_an_idle_one(table200):
    rng = np.random.default_rng(5)
    t = table200.assign(form=rng.choice(["good", "bad", "fine"], len(table200)),
                        idle=rng.choice(["p", "q"], len(table200)))
    t["y"] = t["y"] + np.where(t["form"] == "bad", -5.0, 0.0)  # 'bad' is never behavioural
    s = space()
    s["form"] = {"type": "categorical", "choices": ["good", "bad", "fine"]}
    s["idle"] = {"type": "categorical", "choices": ["p", "q"]}
    new, plan = refine_plan(t, s, "y")
    assert new["form"] == {"type": "categorical", "choices": ["good", "fine"]}
    best_row = t.loc[t["y"].idxmax()]
    assert new["idle"] == {"type": "categorical", "value": best_row["idle"]}
    actions = plan.set_index("parameter")["action"]
    assert actions["form"] == "narrow" and actions["idle"] == "fix"
    # one choice left: fixed at it
    t["y"] = t["y"] + np.where(t["form"] == "fine", -5.0, 0.0)
    new, _ = refine_plan(t, s, "y")
    assert new["form"] == {"type": "categorical", "value": "good"}


def test_best_fixes_every_parameter_at_the_best_complete_trial(table200):
    t = table200.copy()
    t.loc[7, "y"] = 99.0
    t.loc[7, "state"] = "FAIL"  # better but failed: not chosen
    winner = table200.drop(index=7)["y"].idxmax()
    assert best_trial(t, "y").name == winner
    fixed = best(t, {**space(), "extra": {"type": "float", "value": 3.0}}, "y")
    for p in space():
        assert set(fixed[p]) == {"type", "value"}
        assert fixed[p]["value"] == pytest.approx(t.loc[winner, p])
    assert fixed["extra"]["value"] == 3.0


def test_best_errors():
    t = synthetic_table(20, 0)
    with pytest.raises(AnalysisError, match="no value in the table"):
        best(t, {"absent": {"type": "float", "low": 0, "high": 1}}, "y")
    with pytest.raises(AnalysisError, match="no COMPLETE trial"):
        best_trial(t.assign(state="FAIL"), "y")
    with pytest.raises(AnalysisError, match="expected a space"):
        to_plain([1, 2])


def test_with_a_studies_space_round_trip(tmp_path):
    """The real space format: refine/best return a Space that studies.space writes and reads back."""
    from studies.design import sample
    from studies.space import load_space, resolve_space, write_space

    initial = resolve_space("initial")
    t = sample(initial, 60, 0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    t["nmi"] = 0.3 + 0.4 * (np.log(1 - 0.95) - np.log(1 - t["a_t"])) / 4 + rng.normal(0, 0.02, len(t))
    t["number"] = np.arange(len(t))
    refined = refine(t, initial, "nmi")
    assert refined.name == "initial-refined"
    a_t = refined.dims["a_t"]
    assert not a_t.fixed and a_t.scale == "log1m" and 0.95 <= a_t.low < a_t.high <= 0.999
    assert a_t.low > 0.97  # high a_t is better: the range moves up
    assert sum(not d.fixed for d in refined.dims.values()) <= 3  # the rest is fixed
    assert refined.dims["n_max"].fixed and isinstance(refined.dims["n_max"].value, int)
    back = load_space(write_space(refined, tmp_path / "refined.toml"))
    assert back.dims == refined.dims
    fixed = best(t, initial, "nmi")
    assert all(d.fixed for d in fixed.dims.values())
    assert fixed.dims["a_t"].value == pytest.approx(t.loc[t["nmi"].idxmax(), "a_t"])
    assert load_space(write_space(fixed, tmp_path / "best.toml")).dims == fixed.dims
