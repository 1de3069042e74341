"""analysis.testfunctions: the LHS design and the known-answer outcome."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.testfunctions import BOUNDS, evaluate, lhs_design, synthetic_table


def test_lhs_design_is_stratified_and_seeded():
    n = 50
    design = lhs_design({"a": (0.0, 1.0), "b": (-2.0, 2.0), "k": (10, 50, "int")}, n, seed=4)
    for col, (low, high) in (("a", (0, 1)), ("b", (-2, 2))):
        strata = np.floor((design[col] - low) / (high - low) * n).astype(int)
        assert sorted(strata) == list(range(n))  # one point per equal-probability interval
    assert design["k"].dtype.kind == "i" and design["k"].between(10, 50).all()
    assert design.equals(lhs_design({"a": (0.0, 1.0), "b": (-2.0, 2.0), "k": (10, 50, "int")}, n, seed=4))
    assert not design.equals(lhs_design({"a": (0.0, 1.0), "b": (-2.0, 2.0), "k": (10, 50, "int")}, n, seed=5))


def test_integer_columns_stay_stratified():
    """20 points over the 41 integers 10..50: each owns the 1/41 cell around it; one point per stratum."""
    n = 20
    k = lhs_design({"k": (10, 50, "int"), "a": (0.0, 1.0)}, n, seed=4)["k"]
    assert sorted(np.floor((k - 10 + 0.5) / 41 * n).astype(int)) == list(range(n))
    assert k.nunique() == n  # rounding a float LHS would let two points share a value
    from studies.design import sample
    from studies.space import Dimension, Space

    space = Space("s", {"k": Dimension("k", "int", 10, 50), "a": Dimension("a", "float", 0.0, 1.0)})
    assert k.tolist() == sample(space, n, 4)["k"].tolist()  # the runner's own design


def test_known_answer_function_shape():
    base = {name: [(low + high) / 2] for name, (low, high, _) in BOUNDS.items()}
    import pandas as pd

    def y(**change):
        return evaluate(pd.DataFrame({**base, **{k: [v] for k, v in change.items()}}), noise=0.0)[0]

    assert y(lin=1.0) - y(lin=0.0) == pytest.approx(1.0)  # linear, slope 1 on the unit scale
    assert y(mono=2.0) > y(mono=1.0) > y(mono=0.0)  # monotone ...
    assert (y(mono=2.0) - y(mono=1.0)) > 2 * (y(mono=1.0) - y(mono=0.0))  # ... and convex
    assert y(ushape=-1.0) == pytest.approx(y(ushape=1.0)) and y(ushape=0.0) < y(ushape=1.0) - 0.7
    for null, (low, high, _) in BOUNDS.items():
        if null.startswith("null"):
            assert y(**{null: low}) == y(**{null: high})


def test_synthetic_table_has_study_like_columns():
    t = synthetic_table(30, seed=2, noise=0.0, outcome="nmi")
    assert list(t.columns[:1]) == ["number"] and {"nmi", "seed", "state"} <= set(t.columns)
    assert (t["state"] == "COMPLETE").all() and t["number"].tolist() == list(range(30))
    assert np.allclose(t["nmi"], evaluate(t, noise=0.0))
