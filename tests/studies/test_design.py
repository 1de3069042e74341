"""LHS designs: stratification, scale maps, integers, categoricals, determinism."""
import numpy as np
import pytest

from studies.design import map_unit, sample, scale_inverse, scale_map, stratified_index, unit_sample
from studies.errors import SpaceError
from studies.space import parse_space, resolve_space


def _strata(column, n):
    return np.sort(np.floor(column * n).astype(int))


@pytest.mark.parametrize("n,d,optimization", [(1, 3, None), (7, 4, None), (30, 12, None), (30, 12, "random-cd")])
def test_unit_sample_hits_each_stratum_once_per_column(n, d, optimization):
    u = unit_sample(d, n, seed=5, optimization=optimization)
    assert u.shape == (n, d) and (u >= 0).all() and (u < 1).all()
    for j in range(d):
        assert (_strata(u[:, j], n) == np.arange(n)).all()


def test_unit_sample_is_seeded_and_refuses_lloyd():
    assert np.array_equal(unit_sample(5, 10, 3), unit_sample(5, 10, 3))
    assert not np.allclose(unit_sample(5, 10, 3), unit_sample(5, 10, 4))
    with pytest.raises(SpaceError, match="lloyd"):
        unit_sample(3, 10, 0, optimization="lloyd")
    with pytest.raises(SpaceError, match="n >= 1"):
        unit_sample(3, 0, 0)
    assert unit_sample(0, 4, 0).shape == (4, 0)


@pytest.mark.parametrize("scale,low,high", [("linear", -2.0, 3.0), ("log", 1e-3, 0.3), ("log1m", 0.95, 0.999)])
def test_scale_maps_hit_their_endpoints_increase_and_invert(scale, low, high):
    u = np.linspace(0, 1, 101)
    x = scale_map(scale, low, high, u)
    assert np.isclose(x[0], low) and np.isclose(x[-1], high)
    assert (np.diff(x) > 0).all()
    assert np.allclose(scale_inverse(scale, low, high, x), u)


def test_log_and_log1m_are_uniform_in_their_transform():
    u = np.linspace(0, 1, 11)
    assert np.allclose(np.diff(np.log(scale_map("log", 1e-3, 1e-1, u))), np.log(100) / 10)
    x = scale_map("log1m", 0.9, 0.999, u)
    assert np.allclose(np.diff(np.log(1 - x)), np.log(0.001 / 0.1) / 10)
    # log1m spends as many points on 0.99..0.999 as on 0.9..0.99
    assert np.isclose(scale_map("log1m", 0.9, 0.999, 0.5), 0.99)


def _space(params):
    return parse_space({"params": params})


@pytest.mark.parametrize("n", [1, 3, 7, 11])
def test_ints_with_fewer_points_than_values_are_distinct_and_stratified(n):
    space = _space({"dim": {"low": 10, "high": 20}})  # k = 11 values
    for seed in range(20):
        u = unit_sample(1, n, seed)
        values = map_unit(space, u)["dim"].to_numpy()
        assert len(set(values)) == n and values.min() >= 10 and values.max() <= 20
        order = np.argsort(u[:, 0])  # by stratum: values increase with the stratum
        assert (np.diff(values[order]) > 0).all()


def test_ints_with_more_points_than_values_are_balanced():
    space = _space({"n_max": {"low": 1, "high": 3}})
    for n in (3, 6, 7, 30):
        values = sample(space, n, seed=n)["n_max"].to_numpy()
        counts = np.bincount(values, minlength=4)[1:]
        assert counts.sum() == n and counts.max() - counts.min() <= 1, (n, counts)


def test_log_ints_follow_the_log_scale():
    space = _space({"batch_size": {"low": 16, "high": 512, "scale": "log"}})
    values = sample(space, 200, seed=1)["batch_size"].to_numpy()
    assert len(set(values)) == 200 or values.min() >= 16
    # half the points below the geometric midpoint sqrt(16 * 512) = 90.5
    assert abs((values < 90.5).sum() - 100) <= 2
    edges = np.array([0.0, 0.25, 0.5, 1.0])
    assert list(stratified_index(np.array([0.1, 0.9, 0.4]), edges)) == [0, 2, 1]
    # a cell wider than a stratum is shared by the strata it covers
    assert list(stratified_index(np.array([0.05, 0.3, 0.5, 0.7, 0.9]), np.array([0.0, 0.8, 1.0]))) == [0, 0, 0, 0, 1]


def test_categoricals_get_equal_strata():
    space = _space({"repel": {"choices": ["symmetric", "paper"]}})
    for n in (2, 6, 9):
        values = list(sample(space, n, seed=n)["repel"])
        assert abs(values.count("symmetric") - values.count("paper")) <= 1
    three = _space({"repel": {"choices": ["symmetric", "paper"]},
                    "n_max": {"low": 1, "high": 3}})
    frame = sample(three, 2, seed=0)
    assert sorted(frame["repel"]) == ["paper", "symmetric"]


def test_fixed_values_are_constant_columns_and_types_are_python():
    space = resolve_space("adjusted", "mnist")
    frame = sample(space, 10, seed=0)
    assert list(frame.columns) == space.names and len(frame) == 10
    assert (frame["batch_size"] == 256).all() and (frame["epochs"] == 30).all()
    assert frame["dim"].dtype.kind == "i" and frame["a_t"].dtype.kind == "f"
    for name in space.varying:
        d = space.dims[name]
        inside = frame[name].isin(d.choices) if d.type == "categorical" else frame[name].between(d.low, d.high)
        assert inside.all(), name
    assert set(frame["repel"]) == {"radial", "symmetric", "paper"}
    record = frame.to_dict("records")[0]
    assert type(record["dim"]) is int and type(record["a_t"]) is float
    best = sample(resolve_space("best", "mnist"), 4, seed=0)
    assert (best.nunique() == 1).all() and best["beta"].iloc[0] == 0.067


def test_sample_is_pure_and_seeded():
    space = resolve_space("initial", "digits")
    a, b = sample(space, 12, seed=7), sample(space, 12, seed=7)
    assert a.equals(b)
    assert not a.equals(sample(space, 12, seed=8))
    assert sample(space, 12, 7, "random-cd").shape == a.shape
    with pytest.raises(SpaceError, match="shape"):
        map_unit(space, np.zeros((3, 2)))
