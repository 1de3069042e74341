"""The paper's own task at its size: a 30-trial, 3-epoch MNIST LHS over Table 2's initial ranges
(design seed 0; results/reference/mnist-initial-n30-e3, shipped here as a fixture). The analysis
must answer: a_t raises Purity and alpha lowers it, and refine narrows them and keeps the rest."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import sensitivity
from analysis.refine import refine_plan
from studies.space import resolve_space

TABLE = Path(__file__).parent / "data" / "mnist-initial-n30-e3.csv"


@pytest.fixture(scope="module")
def table():
    return pd.read_csv(TABLE)


def test_the_report_names_a_t_and_alpha_for_purity(table):
    sens = sensitivity.analyze(table, outcomes=["purity"]).table.set_index("parameter")
    found = sens.loc[sens["significant"]]
    assert set(found.index) == {"a_t", "alpha"}
    assert found.loc["a_t", "direction"] == "increasing" and found.loc["alpha", "direction"] == "decreasing"


def test_refine_narrows_a_t_and_keeps_most_parameters_varying(table):
    initial = resolve_space("initial", "mnist")
    new, plan = refine_plan(table, initial, "purity")
    actions = plan.set_index("parameter")["action"]
    assert actions["a_t"] == "narrow" and 0.99 < new["a_t"]["low"] < new["a_t"]["high"] == 0.999
    varying = [n for n, e in new.items() if "value" not in e]
    assert len(varying) >= 11 and "fix" not in set(actions)
