"""analysis.refine: the refine and best rules on the plain dict form and on studies.space.Space."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.refine import best, best_trial, refine, refine_plan, refined_space, to_plain
from analysis.errors import AnalysisError
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, space, synthetic_table


def margin_range(table, p, low, high):
    """The documented narrowing on a linear scale: central 90% of the behavioural values plus
    max(10%, 1/(2n)) of the range each side, within [low, high]."""
    good = table.loc[table["y"] >= table["y"].quantile(0.75), p]
    u_lo, u_hi = (np.quantile(good, [0.05, 0.95]) - low) / (high - low)
    m = max(0.1 * (u_hi - u_lo), 0.5 / len(table))
    return max(low, low + (u_lo - m) * (high - low)), min(high, low + (u_hi + m) * (high - low))


def test_refine_narrows_what_has_evidence_and_keeps_the_rest(table200, sens200):
    old = space()
    old["extra"] = {"type": "float", "value": 3.0}  # fixed: kept
    new, plan = refine_plan(table200, old, "y")
    sens = sens200.table.set_index("parameter")
    for p in ("lin", "mono"):                       # behavioural trials sit at the high end
        lo, hi = margin_range(table200, p, old[p]["low"], old[p]["high"])
        assert (new[p]["low"], new[p]["high"]) == pytest.approx((lo, hi))
        assert old[p]["low"] <= new[p]["low"] < new[p]["high"] <= old[p]["high"]
        assert new[p]["scale"] == old[p]["scale"] and new[p]["type"] == old[p]["type"]
    for p in NON_INFLUENTIAL:                       # no evidence: nothing pinned, range kept
        assert new[p] == old[p]
    assert new["extra"] == {"type": "float", "value": 3.0}
    assert new["lin"]["low"] > 0.2  # the linear effect's behavioural trials sit at the high end
    actions = plan.set_index("parameter")["action"]
    assert actions["lin"] == "narrow" and actions[list(NON_INFLUENTIAL)].eq("keep").all()
    assert not actions.eq("fix").any()
    assert actions["extra"] == "keep"
    assert refine(table200, old, "y") == new
    assert refined_space(new, old, "y", behavioural_quantile=0.75, level=0.05) == new  # dict in, dict out


def test_refine_fixes_only_what_it_is_asked_to(table200):
    top = table200.loc[table200["y"].idxmax()]
    new, plan = refine_plan(table200, space(), "y", fix=["null1"])
    assert new["null1"] == {"type": "float", "value": pytest.approx(top["null1"])}
    assert "fixed as asked" in plan.set_index("parameter").loc["null1", "reason"]
    assert new["null3"] == space()["null3"]
    new = refine(table200, space(), "y", fix_unimportant=True)
    for p in NON_INFLUENTIAL:
        assert set(new[p]) == {"type", "value"} and new[p]["value"] == pytest.approx(top[p])
    assert isinstance(new["null2"]["value"], int)
    assert "low" in new["lin"]  # evidence: still narrowed, not fixed
    hull = refine(table200, space(), "y", hull=True)
    assert space()["null1"]["low"] <= hull["null1"]["low"] < hull["null1"]["high"] <= space()["null1"]["high"]
    with pytest.raises(AnalysisError, match="--fix nope: not a parameter"):
        refine_plan(table200, space(), "y", fix=["nope"])


def test_refine_narrows_on_the_parameters_scale():
    """log1m a_t: the margin is measured in log(1 - a_t), so the range moves up toward 0.999 and stays open."""
    from studies.design import sample
    from studies.space import resolve_space

    initial = resolve_space("initial")
    t = sample(initial, 30, 0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    t["nmi"] = 0.3 + 0.4 * (np.log(1 - 0.95) - np.log(1 - t["a_t"])) / 4 + rng.normal(0, 0.02, len(t))
    new, plan = refine_plan(t, initial, "nmi")
    a_t = new.dims["a_t"] if hasattr(new, "dims") else new["a_t"]
    low, high = (a_t.low, a_t.high) if hasattr(a_t, "low") else (a_t["low"], a_t["high"])
    beh = t.loc[t["nmi"] >= t["nmi"].quantile(0.75), "a_t"]
    assert 0.95 < low < beh.min() and beh.max() < high <= 0.999
    actions = plan.set_index("parameter")["action"]
    assert actions["a_t"] == "narrow" and (actions == "keep").sum() >= 10


def test_refine_never_leaves_the_original_range_and_rounds_integers_outward(table200):
    # a space narrower than the trials' behavioural range: clipped to the space
    tight = space()
    tight["lin"] = {"type": "float", "low": 0.5, "high": 0.9, "scale": "linear"}
    new = refine(table200, tight, "y")
    assert 0.5 <= new["lin"]["low"] < new["lin"]["high"] <= 0.9
    # an influential integer parameter: floor/ceil of the widened behavioural range
    t = table200.assign(whole=lambda d: np.round(d["lin"] * 40 + 10.4).astype(int))
    s = {"whole": {"type": "int", "low": 10, "high": 50, "scale": "linear"}, **space()}
    new = refine(t.drop(columns="lin"), {k: v for k, v in s.items() if k != "lin"}, "y")
    beh = t.loc[t["y"] >= t["y"].quantile(0.75), "whole"]
    assert 10 <= new["whole"]["low"] <= beh.quantile(0.05) and new["whole"]["high"] == 50
    assert all(isinstance(new["whole"][k], int) for k in ("low", "high"))


def test_refine_keeps_what_it_cannot_analyse(table200):
    s = space()
    s["repel"] = {"type": "categorical", "choices": ["a", "b"]}
    s["missing"] = {"type": "float", "low": 0.0, "high": 1.0, "scale": "linear"}
    new, plan = refine_plan(table200, s, "y")
    assert new["repel"] == s["repel"] and new["missing"] == s["missing"]
    reasons = plan.set_index("parameter")["reason"]
    assert "not in the table" in reasons["repel"] and "not in the table" in reasons["missing"]


def test_refine_keeps_the_good_choices_of_an_influential_categorical_and_all_of_an_idle_one(table200):
    rng = np.random.default_rng(5)
    t = table200.assign(form=rng.choice(["good", "bad", "fine"], len(table200)),
                        idle=rng.choice(["p", "q"], len(table200)))
    t["y"] = t["y"] + np.where(t["form"] == "bad", -5.0, 0.0)  # 'bad' is never behavioural
    s = space()
    s["form"] = {"type": "categorical", "choices": ["good", "bad", "fine"]}
    s["idle"] = {"type": "categorical", "choices": ["p", "q"]}
    new, plan = refine_plan(t, s, "y")
    assert new["form"] == {"type": "categorical", "choices": ["good", "fine"]}
    assert new["idle"] == s["idle"]
    actions = plan.set_index("parameter")["action"]
    assert actions["form"] == "narrow" and actions["idle"] == "keep"
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
    assert a_t.low > 0.96  # high a_t is better: the range moves up
    assert sum(not d.fixed for d in refined.dims.values()) == 13  # nothing is pinned
    assert refined.dims["n_max"] == initial.dims["n_max"]
    back = load_space(write_space(refined, tmp_path / "refined.toml"))
    assert back.dims == refined.dims
    fixed = best(t, initial, "nmi")
    assert all(d.fixed for d in fixed.dims.values())
    assert fixed.dims["a_t"].value == pytest.approx(t.loc[t["nmi"].idxmax(), "a_t"])
    assert load_space(write_space(fixed, tmp_path / "best.toml")).dims == fixed.dims


def test_refine_lists_budget_parameters_apart_and_keeps_them(table200):
    """batch_size and epochs are the budget: never narrowed or fixed by the rule, whatever they did."""
    old = space()
    old["epochs"] = {"type": "int", "low": 1, "high": 10, "scale": "linear"}
    table = table200.assign(epochs=1 + (table200["y"].rank() * 9 / len(table200)).round().astype(int))  # 'matters'
    new, plan = refine_plan(table, old, "y", fix_unimportant=True)
    row = plan.set_index("parameter").loc["epochs"]
    assert row["action"] == "budget" and row["reason"] == "set by the budget, not refined"
    assert new["epochs"] == old["epochs"]
