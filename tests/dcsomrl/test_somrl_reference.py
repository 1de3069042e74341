"""The vectorized SOMRL layer against the loop-based reference (docs/algorithm.md).

Each comparison loads the layer's state into the reference, runs one update
step on both with the same batch, and compares the whole state (active mask
exactly; centers, relevances, distances, life on active slots to 1e-10) and
the outputs (predict, activation, topology). Streams and parameters are drawn
from seeded generators; the hand-built cases pin the corner cases the algorithm
names (empty map, capacity, mass removal, exact-zero life, ties, repel forms).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dcsomrl.params import ParameterError
from dcsomrl.somrl import SOMRL, SOMRLConfig
from tests.dcsomrl.reference_somrl import BUFFERS, REPEL_FORMS, ReferenceSOMRL

ATOL = 1e-10
N_SEEDS = 40

KWARGS = dict(dim=2, n_max=8, a_t=0.95, lr=0.5, rho=0.0, ld=0.25, beta=0.3, gamma=1.0, s=0.5,
              repel="symmetric")


@pytest.fixture(autouse=True, params=["compact", "masked"])
def path(request, monkeypatch):
    """Run the test on one path of the layer (every SOMRL built without ``path=``)."""
    monkeypatch.setattr(SOMRL, "default_path", request.param)
    return request.param


# ----------------------------------------------------------------- helpers
def make_pair(**overrides):
    """A float64 layer and a reference built from the same constructor kwargs."""
    kwargs = dict(KWARGS, **overrides)
    return SOMRL(SOMRLConfig(**kwargs)).double(), ReferenceSOMRL(**kwargs)


def load_nodes(som, nodes, life=None, distances=None, s=KWARGS["s"]):
    """Write a hand-built state into the layer: nodes = {slot: center}, others inactive.

    Relevances are derived from the distances (w = eq. 6 of d), as the
    update keeps them (pass the layer's s); distances default to 0 (w = 1), life to 1.
    """
    n_max, dim = som.centers.shape
    helper = ReferenceSOMRL(dim=dim, n_max=n_max, a_t=0.5, lr=0, rho=0, ld=0, beta=0, gamma=1, s=s)
    c = np.zeros((n_max, dim))
    d = np.zeros((n_max, dim))
    w = np.ones((n_max, dim))
    life_arr = np.zeros(n_max)
    active = np.zeros(n_max, dtype=bool)
    for slot, center in nodes.items():
        c[slot] = center
        active[slot] = True
        life_arr[slot] = 1.0 if life is None else life.get(slot, 1.0)
        if distances is not None and slot in distances:
            d[slot] = distances[slot]
            w[slot] = helper.relevance_from_distances(d[slot])
    dtype = som.centers.dtype
    with torch.no_grad():
        som.centers.copy_(torch.as_tensor(c, dtype=dtype))
        som.relevances.copy_(torch.as_tensor(w, dtype=dtype))
        som.distances.copy_(torch.as_tensor(d, dtype=dtype))
        som.life.copy_(torch.as_tensor(life_arr, dtype=som.life.dtype))
        som.active.copy_(torch.as_tensor(active))


def as_np(t):
    return t.detach().cpu().double().numpy()


def assert_same_state(som, ref, atol=ATOL, where=""):
    active = som.active.detach().cpu().numpy().astype(bool)
    np.testing.assert_array_equal(active, ref.active, err_msg=f"{where}: active mask")
    for name in ("centers", "relevances", "distances", "life"):
        np.testing.assert_allclose(as_np(getattr(som, name))[active], getattr(ref, name)[active],
                                   rtol=0, atol=atol, err_msg=f"{where}: {name} on active slots")


def assert_same_outputs(som, ref, X, atol=1e-12, where=""):
    x = torch.as_tensor(X, dtype=som.centers.dtype, device=som.centers.device)
    pred = som.predict(x)
    assert pred.dtype == torch.int64, f"{where}: predict dtype {pred.dtype}"
    np.testing.assert_array_equal(pred.cpu().numpy(), ref.predict(X), err_msg=f"{where}: predict")
    act = som.activation(x)
    assert tuple(act.shape) == (len(X), ref.n_max)
    np.testing.assert_allclose(as_np(act), ref.activation(X), rtol=0, atol=atol,
                               err_msg=f"{where}: activation")
    topo = som.topology()
    assert topo.dtype == torch.int64 and topo.ndim == 2 and topo.shape[1] == 2, f"{where}: topology shape"
    got = [tuple(int(v) for v in row) for row in topo.cpu().tolist()]
    assert all(i < j for i, j in got), f"{where}: topology pairs must have i < j: {got}"
    assert len(set(got)) == len(got), f"{where}: duplicate topology pairs: {got}"
    assert sorted(got) == ref.topology(), f"{where}: topology"


def step(som, ref, X, where="", atol=ATOL, out_atol=1e-12, probe=None):
    """Load the layer's state into the reference, update both on X, compare everything."""
    X = np.asarray(X, dtype=np.float64)
    ref.load_state(som)
    trace = ref.update(X)
    som.update(torch.as_tensor(X, dtype=som.centers.dtype, device=som.centers.device))
    assert_same_state(som, ref, atol=atol, where=where)
    assert_same_outputs(som, ref, X, atol=out_atol, where=where)
    if probe is not None:
        assert_same_outputs(som, ref, probe, atol=out_atol, where=f"{where} (probe)")
    return trace


# -------------------------------------------------------- random streams
def random_params(seed):
    """Seeded parameter set spanning the domains (Table 2 ranges and the edges the algorithm names)."""
    rng = np.random.default_rng(seed)
    dim = int(rng.choice([1, 2, 3, 5, 8]))
    # act = W / (W + D): a_t = 1 / (1 + t) accepts a mean squared offset per dim of about t.
    t = 10 ** rng.uniform(-3.0, -1.0)
    ld = [float(rng.uniform(0.01, 0.6)), 0.25, 0.5, 1.0][seed % 4]
    return dict(dim=dim,
                n_max=int(rng.choice([1, 2, 3, 5, 8, 16, 30])),
                a_t=1.0 / (1.0 + t),
                lr=float(rng.uniform(0.01, 1.0)),
                rho=float(rng.uniform(0.0, 1.0)),
                ld=ld,
                beta=float(rng.uniform(0.0, 1.0)),
                gamma=float(rng.uniform(0.17, 7.0)),
                s=float(rng.uniform(0.1, 2.0)),
                repel=REPEL_FORMS[(seed // 4) % 3])


def random_stream(seed, dim, n_steps=12):
    """Batches from a few clipped Gaussian blobs in [0, 1]^dim, with duplicate rows and one-blob batches."""
    rng = np.random.default_rng(10_000 + seed)
    blobs = rng.uniform(0.1, 0.9, size=(int(rng.integers(2, 6)), dim))
    spread = float(rng.uniform(0.01, 0.2))
    batches = []
    for _ in range(n_steps):
        B = int(rng.integers(1, 33))
        if rng.uniform() < 0.3:  # all from one blob: the other nodes lose life
            which = np.full(B, rng.integers(len(blobs)))
        else:
            which = rng.integers(len(blobs), size=B)
        X = np.clip(blobs[which] + rng.normal(0.0, spread, size=(B, dim)), 0.0, 1.0)
        if B > 2 and rng.uniform() < 0.4:  # duplicate samples
            X[rng.integers(B, size=B // 2)] = X[0]
        batches.append(X)
    probe = np.clip(blobs[rng.integers(len(blobs), size=16)] + rng.normal(0, spread, (16, dim)), 0, 1)
    return batches, probe


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_random_stream_matches_reference(seed):
    params = random_params(seed)
    som, ref = SOMRL(SOMRLConfig(**params)).double(), ReferenceSOMRL(**params)
    batches, probe = random_stream(seed, params["dim"])
    for n, X in enumerate(batches):
        step(som, ref, X, where=f"seed {seed} step {n} params {params}", probe=probe)


def test_random_streams_exercise_every_branch():
    """The streams above are not vacuous: over all seeds each branch of the step happens."""
    totals: dict[str, int] = {}
    for seed in range(N_SEEDS):
        params = random_params(seed)
        ref = ReferenceSOMRL(**params)
        for X in random_stream(seed, params["dim"])[0]:
            for key, value in ref.update(X).items():
                totals[key] = totals.get(key, 0) + value
    for key in ("empty_init", "n_high", "n_low", "neighbor_rates", "multi_group_nodes", "inserted",
                "refused", "decremented", "removed", "removed_at_exact_zero"):
        assert totals[key] > 0, f"no stream exercised {key}: {totals}"
    assert totals["empty_init"] == N_SEEDS


@pytest.mark.parametrize("seed", [3, 11, 26])
def test_independent_runs_agree(seed):
    """Run layer and reference side by side without re-syncing: no hidden state outside the buffers."""
    params = random_params(seed)
    som, ref = SOMRL(SOMRLConfig(**params)).double(), ReferenceSOMRL(**params)
    batches, probe = random_stream(seed, params["dim"])
    for X in batches:
        ref.update(X)
        som.update(torch.as_tensor(X))
    assert_same_state(som, ref, atol=1e-9, where=f"seed {seed} after {len(batches)} steps")
    assert_same_outputs(som, ref, probe, atol=1e-9)


# --------------------------------------------------------------- corners
@pytest.mark.parametrize("B", [1, 7])
def test_empty_map_first_step(B):
    som, ref = make_pair(dim=3, n_max=5)
    X = np.random.default_rng(B).uniform(size=(B, 3))
    assert torch.equal(som.activation(torch.as_tensor(X)), torch.zeros(B, 5, dtype=torch.float64))
    trace = step(som, ref, X, where="empty map")
    assert trace["empty_init"] == 1
    np.testing.assert_array_equal(som.active.numpy(), [True, False, False, False, False])
    np.testing.assert_allclose(as_np(som.centers[0]), X.mean(axis=0), rtol=0, atol=1e-15)
    assert torch.all(som.relevances[0] == 1) and torch.all(som.distances[0] == 0)
    assert float(som.life[0]) == 1.0
    step(som, ref, np.random.default_rng(B + 100).uniform(size=(B, 3)), where="second step")


@pytest.mark.parametrize("n_max", [1, 2, 3])
def test_map_at_capacity_refuses_insertions(n_max):
    """High a_t: nearly every sample is low, so most new-node requests meet a full map."""
    som, ref = make_pair(dim=3, n_max=n_max, a_t=0.9999, ld=0.1)
    rng = np.random.default_rng(n_max)
    refused = 0
    for n in range(8):
        trace = step(som, ref, rng.uniform(size=(12, 3)), where=f"capacity step {n}")
        refused += trace["refused"]
        assert int(som.active.sum()) <= n_max
    assert int(som.active.sum()) == n_max
    assert refused > 0


def test_insertion_order_and_lowest_free_slot():
    """Low groups go in ascending winner slot to the lowest free slots; the rest are refused."""
    som, ref = make_pair(dim=2, n_max=6, a_t=0.999)
    load_nodes(som, {1: [0.1, 0.1], 2: [0.9, 0.1], 4: [0.1, 0.9], 5: [0.9, 0.9]})
    # Low samples won by slots 5, 2 and 4 (listed out of order); free slots are 0 and 3.
    X = np.array([[0.7, 0.7], [0.7, 0.6], [0.7, 0.3], [0.3, 0.7]])
    trace = step(som, ref, X, where="insertion order")
    assert trace["n_high"] == 0 and trace["inserted"] == 2 and trace["refused"] == 1
    np.testing.assert_allclose(as_np(som.centers[0]), [0.7, 0.3], atol=1e-15)  # winner 2's group
    np.testing.assert_allclose(as_np(som.centers[3]), [0.3, 0.7], atol=1e-15)  # winner 4's group
    assert bool(som.active.all())


@pytest.mark.parametrize("ld", [0.25, 0.5, 1.0])
def test_mass_removal_at_exact_zero_life(ld):
    """Nine nodes whose life is exactly ld lose one competition: life 0, all removed (life <= 0)."""
    som, ref = make_pair(dim=2, n_max=12, ld=ld)
    nodes = {k: [0.1 * (k % 4) + 0.1, 0.25 * (k // 4) + 0.1] for k in range(10)}
    load_nodes(som, nodes, life={k: ld for k in range(1, 10)})
    X = np.tile(nodes[0], (5, 1))
    trace = step(som, ref, X, where=f"mass removal ld={ld}")
    assert trace["removed"] == 9 and trace["removed_at_exact_zero"] == 9
    np.testing.assert_array_equal(som.active.numpy(), [True] + [False] * 11)


@pytest.mark.parametrize("ld", [0.25, 0.5, 1.0, 0.1, 0.2, 1 / 3, 0.3, 0.36, 0.05])
def test_life_runs_out_after_exactly_one_over_ld_losses(ld):
    """A node that never wins: life 1 - n*ld reaches 0 after ceil(1/ld) steps and is removed then,
    also where repeated subtraction leaves a rounding residue (ld = 0.1, 1/3, ... in float64)."""
    som, ref = make_pair(dim=2, n_max=4, ld=ld)
    load_nodes(som, {0: [0.25, 0.25], 1: [0.75, 0.75]})
    X = np.array([[0.25, 0.25], [0.25, 0.3]])
    losses = math.ceil(round(1 / ld, 9))
    for n in range(1, losses + 1):
        step(som, ref, X, where=f"loss {n}")
        assert bool(som.active[1]) == (n < losses), f"after {n} losses life={float(som.life[1])}"
    assert float(som.life[0]) == 1.0


@pytest.mark.parametrize("ld", [0.1, 1 / 3, 0.2, 0.36, 0.05])
def test_float32_life_runs_out_after_the_same_number_of_losses(ld):
    som = SOMRL(SOMRLConfig(**dict(KWARGS, dim=2, n_max=4, ld=ld)))
    load_nodes(som, {0: [0.25, 0.25], 1: [0.75, 0.75]})
    X = torch.tensor([[0.25, 0.25], [0.25, 0.3]])
    losses = math.ceil(round(1 / ld, 9))
    for n in range(1, losses + 1):
        som.update(X)
        assert bool(som.active[1]) == (n < losses), f"after {n} losses life={float(som.life[1])}"


def test_all_high_batch_inserts_nothing():
    som, ref = make_pair(dim=3, n_max=6, a_t=0.9, rho=0.5)
    centers = {0: [0.2, 0.2, 0.2], 2: [0.8, 0.2, 0.5], 3: [0.5, 0.8, 0.8]}
    load_nodes(som, centers, distances={2: [0.1, 0.05, 0.2]})
    rng = np.random.default_rng(0)
    X = np.clip(np.array([centers[k] for k in (0, 0, 2, 3, 3, 3)]) + rng.normal(0, 0.02, (6, 3)), 0, 1)
    trace = step(som, ref, X, where="all high")
    assert trace["n_low"] == 0 and trace["inserted"] == 0 and trace["n_high"] == 6
    assert int(som.active.sum()) == 3


def test_all_low_batch_moves_nothing():
    som, ref = make_pair(dim=3, n_max=6, a_t=0.999, rho=0.5)
    centers = {0: [0.2, 0.2, 0.2], 1: [0.8, 0.8, 0.8]}
    load_nodes(som, centers)
    X = np.array([[0.0, 0.0, 0.6], [0.0, 0.1, 0.6], [1.0, 1.0, 0.3], [0.5, 0.5, 0.45]])
    trace = step(som, ref, X, where="all low")
    assert trace["n_high"] == 0 and trace["inserted"] == 2
    np.testing.assert_array_equal(as_np(som.centers[[0, 1]]), [centers[0], centers[1]])


# ------------------------------------------------------------------- ties
def test_winner_ties_go_to_lowest_slot():
    """Duplicate nodes and equidistant samples (dyadic values: exact ties in any summation order)."""
    som, ref = make_pair(dim=2, n_max=6, a_t=0.95, ld=0.25)
    load_nodes(som, {0: [0.75, 0.75], 1: [0.25, 0.5], 3: [0.25, 0.5], 4: [0.75, 0.5]})
    X = np.array([[0.25, 0.5], [0.25, 0.5], [0.5, 0.5], [0.25, 0.625]])
    np.testing.assert_array_equal(som.predict(torch.as_tensor(X)).numpy(), [1, 1, 1, 1])
    trace = step(som, ref, X, where="winner ties")
    assert trace["winner_ties"] == 4
    assert float(som.life[3]) == 0.75  # the higher duplicate never won: it lost life


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_duplicate_nodes_with_arbitrary_values_lowest_slot_wins(dtype):
    """Exact duplicates (non-dyadic values, relevances < 1) must tie exactly: the higher copy never wins."""
    rng = np.random.default_rng(1)
    som = SOMRL(SOMRLConfig(**dict(KWARGS, dim=7, n_max=64))).to(dtype)
    base = rng.uniform(0.2, 0.8, (32, 7))
    profiles = rng.uniform(0.0, 0.2, (32, 7))
    load_nodes(som, {k: base[k % 32] for k in range(64)}, distances={k: profiles[k % 32] for k in range(64)})
    X = np.clip(base[rng.integers(32, size=200)] + rng.normal(0, 0.05, (200, 7)), 0, 1)
    x = torch.as_tensor(X, dtype=dtype)
    act = som.activation(x)
    assert torch.equal(act[:, :32], act[:, 32:]), "identical nodes got different activations"
    assert int(som.predict(x).max()) < 32


def test_neighbor_rank_ties_go_to_lowest_slot():
    """Three non-winners with equal activation get ranks 1, 2, 3 in slot order (rho = 0: pure pull)."""
    lr, gamma = 0.5, 1.0
    som, ref = make_pair(dim=2, n_max=8, a_t=0.95, lr=lr, gamma=gamma, rho=0.0)
    x = np.array([0.5, 0.5])
    nodes = {0: [0.5, 0.75], 1: [0.5, 0.625], 3: [0.5, 0.5], 5: [0.5, 0.625], 6: [0.625, 0.5]}
    load_nodes(som, nodes)
    trace = step(som, ref, np.tile(x, (4, 1)), where="rank ties")
    assert trace["rank_ties"] > 0
    # Slot 3 wins (rate lr); slots 1, 5, 6 tie (ranks 1, 2, 3); slot 0 ranks 4.
    for slot, r in [(3, 0), (1, 1), (5, 2), (6, 3), (0, 4)]:
        eta = lr * np.exp(-r / gamma)
        expected = np.array(nodes[slot]) + eta * (x - np.array(nodes[slot]))
        np.testing.assert_allclose(as_np(som.centers[slot]), expected, rtol=0, atol=1e-12,
                                   err_msg=f"slot {slot} rank {r}")


def test_duplicate_of_the_winner_is_its_first_neighbor():
    """Slots 2 and 3 are identical: slot 2 wins every sample, slot 3 is rank 1 and loses life."""
    som, ref = make_pair(dim=2, n_max=6, a_t=0.95, rho=0.5, ld=0.5)
    load_nodes(som, {0: [0.25, 0.25], 2: [0.5, 0.5], 3: [0.5, 0.5]})
    X = np.array([[0.5, 0.5], [0.5, 0.625], [0.625, 0.5]])
    assert som.predict(torch.as_tensor(X)).tolist() == [2, 2, 2]
    trace = step(som, ref, X, where="winner duplicate")
    assert trace["winner_ties"] == 3 and trace["neighbor_rates"] >= 1
    assert float(som.life[3]) == 0.5 and float(som.life[2]) == 1.0


# ------------------------------------------------------- threshold ties
# With w = 1 and dyadic offsets, act = 2 / (2 + D + eps) is the same float in any
# implementation, so a_t can be set to exactly the activation at D = 1/16.
A_EQ = 2.0 / (2.0 + 0.0625 + 1e-7)


def test_activation_equal_to_a_t_is_high():
    """Step 2: high samples are a_i >= a_t; a sample exactly at a_t updates, it does not insert."""
    som, ref = make_pair(dim=2, n_max=4, a_t=A_EQ)
    load_nodes(som, {0: [0.5, 0.5]})
    assert float(som.activation(torch.tensor([[0.75, 0.5]], dtype=torch.float64))[0, 0]) == A_EQ
    trace = step(som, ref, np.array([[0.75, 0.5]]), where="a == a_t")
    assert trace["n_high"] == 1 and int(som.active.sum()) == 1


def test_neighbor_with_activation_equal_to_a_t_is_updated():
    """Step 4: a non-winner with ag_k >= a_t gets a rate; at equality it moves."""
    som, ref = make_pair(dim=2, n_max=4, a_t=A_EQ, rho=0.0, lr=0.5, gamma=1.0)
    load_nodes(som, {0: [0.5, 0.5], 1: [0.75, 0.5]})
    trace = step(som, ref, np.array([[0.5, 0.5], [0.5, 0.5]]), where="ag == a_t")
    assert trace["neighbor_rates"] == 1
    expected = 0.75 + 0.5 * np.exp(-1.0) * (0.5 - 0.75)
    np.testing.assert_allclose(as_np(som.centers[1]), [expected, 0.5], rtol=0, atol=1e-12)


def test_topology_connects_at_equality():
    som, ref = make_pair(dim=2, n_max=4, a_t=A_EQ)
    load_nodes(som, {1: [0.5, 0.5], 3: [0.5, 0.75], 0: [0.0, 0.0]})
    assert som.topology().tolist() == [[1, 3]] == [list(p) for p in ref.load_state(som).topology()]


# ------------------------------------------------------------------ repel
@pytest.mark.parametrize("repel", REPEL_FORMS)
def test_repel_forms_match_reference(repel):
    som, ref = make_pair(dim=3, n_max=6, a_t=0.9, rho=0.8, lr=0.6, repel=repel)
    load_nodes(som, {0: [0.2, 0.3, 0.4], 1: [0.6, 0.5, 0.4], 2: [0.45, 0.9, 0.1]})
    rng = np.random.default_rng(7)
    X = np.clip(np.array([[0.2, 0.3, 0.4]] * 3 + [[0.6, 0.5, 0.4]] * 3) + rng.normal(0, 0.03, (6, 3)), 0, 1)
    trace = step(som, ref, X, where=f"repel={repel}")
    assert trace["n_high"] == 6


@pytest.mark.parametrize("repel, shift", [("radial", 0.0), ("symmetric", 0.0), ("paper", -1.0)])
def test_repel_on_a_lone_node(repel, shift):
    """One node at cbar, batch at its center: radial and symmetric repel(0) = 0; printed eq. 4 gives 1 (drift down)."""
    lr, rho = 0.5, 0.25
    som, ref = make_pair(dim=2, n_max=3, lr=lr, rho=rho, repel=repel)
    load_nodes(som, {0: [0.5, 0.5]})
    step(som, ref, np.array([[0.5, 0.5], [0.5, 0.5]]), where=f"lone node {repel}")
    np.testing.assert_allclose(as_np(som.centers[0]), 0.5 + lr * rho * shift, rtol=0, atol=1e-15)


# ---------------------------------------------------- degenerate rates
def test_zero_learning_rate_moves_nothing():
    """lr = 0 is in the domain: winners and neighbors get rate 0, so no center moves (and no NaN)."""
    som, ref = make_pair(dim=3, n_max=6, a_t=0.9, lr=0.0, rho=0.7)
    load_nodes(som, {0: [0.2, 0.2, 0.2], 1: [0.25, 0.2, 0.2], 4: [0.8, 0.8, 0.8]})
    before = as_np(som.centers).copy()
    X = np.array([[0.21, 0.2, 0.2], [0.2, 0.22, 0.2], [0.79, 0.8, 0.8]])
    step(som, ref, X, where="lr=0")
    np.testing.assert_array_equal(as_np(som.centers)[[0, 1, 4]], before[[0, 1, 4]])


def test_tiny_gamma_neighbor_rates_vanish():
    """gamma = 1e-3: the neighbor's rate lr exp(-1/gamma) is ~e^-1000; it must stay put, not become NaN.

    The neighbor has non-flat distances, so eq. 6 is continuous there and w stays f(d). (A neighbor
    with flat d, e.g. a fresh node, is a knife edge: in exact arithmetic any positive rate makes d
    non-flat and resets w from 1 to eq. 6 of |x - c|, while a rate that underflows to 0 leaves w = 1.
    Floating point cannot honour both; this test does not pin that case.)
    """
    som, ref = make_pair(dim=2, n_max=4, a_t=0.9, gamma=1e-3, rho=0.3)
    load_nodes(som, {0: [0.5, 0.5], 1: [0.5, 0.55]}, distances={1: [0.1, 0.3]})
    before = {name: as_np(getattr(som, name))[1].copy() for name in ("centers", "relevances", "distances")}
    trace = step(som, ref, np.array([[0.5, 0.5], [0.49, 0.5]]), where="tiny gamma")
    assert trace["neighbor_rates"] == 1
    assert torch.isfinite(som.centers).all() and torch.isfinite(som.relevances).all()
    for name, value in before.items():
        np.testing.assert_allclose(as_np(getattr(som, name))[1], value, rtol=0, atol=1e-12, err_msg=name)


# ------------------------------------------------------------ invariants
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_invariants_over_a_long_stream(dtype):
    params = dict(dim=4, n_max=10, a_t=0.97, lr=0.4, rho=0.6, ld=0.3, beta=0.5, gamma=2.0, s=0.4)
    som = SOMRL(SOMRLConfig(**params)).to(dtype)
    rng = np.random.default_rng(5)
    blobs = rng.uniform(0.1, 0.9, (6, 4))
    probe = torch.as_tensor(np.clip(blobs[rng.integers(6, size=40)] + rng.normal(0, 0.1, (40, 4)), 0, 1),
                            dtype=dtype)
    for n in range(60):
        X = np.clip(blobs[rng.integers(6, size=20)] + rng.normal(0, 0.1, (20, 4)), 0, 1)
        som.update(torch.as_tensor(X, dtype=dtype))
        active = som.active
        assert som.centers.dtype == dtype and som.life.dtype == dtype
        assert 1 <= int(active.sum()) <= params["n_max"]
        w = som.relevances[active]
        assert bool(((w >= 0) & (w <= 1)).all()), f"step {n}: relevances outside [0, 1]"
        assert bool(((som.life[active] > 0) & (som.life[active] <= 1)).all())
        pred = som.predict(probe)
        assert bool(active[pred].all()), f"step {n}: an inactive slot won"
        act = som.activation(probe)
        assert bool((act[:, ~active] == 0).all()), f"step {n}: inactive slot with nonzero activation"
        assert bool(((act[:, active] > 0) & (act[:, active] <= 1)).all())
        # predict is the argmax of activation, ties to the lowest slot
        assert torch.equal(pred, act.argmax(dim=1)) or bool(
            (act.gather(1, pred[:, None]).squeeze(1) == act.max(dim=1).values).all())


# ------------------------------------------------------------------- loss
def test_clustering_loss_value_and_gradient():
    params = random_params(2)
    som, ref = SOMRL(SOMRLConfig(**params)).double(), ReferenceSOMRL(**params)
    batches, probe = random_stream(2, params["dim"])
    for X in batches[:6]:
        som.update(torch.as_tensor(X))
    ref.load_state(som)
    Z = torch.as_tensor(probe).clone().requires_grad_(True)
    # Make the map's buffers track gradients: if the loss did not detach them, grads would land there.
    som.centers.requires_grad_(True)
    som.relevances.requires_grad_(True)
    before = {name: as_np(getattr(som, name)).copy() for name in BUFFERS}
    loss = som.loss(Z)
    assert loss.ndim == 0 and loss.requires_grad
    assert abs(float(loss.detach()) - ref.loss(probe)) < 1e-12
    loss.backward()
    np.testing.assert_allclose(Z.grad.numpy(), ref.loss_grad(probe), rtol=0, atol=1e-12)
    assert som.centers.grad is None and som.relevances.grad is None
    assert not any(p.requires_grad for p in som.parameters())
    for name in BUFFERS:
        np.testing.assert_array_equal(as_np(getattr(som, name)), before[name])


def test_loss_uses_winners_on_the_current_map():
    """After an update the loss is the weighted distance to each sample's winner on the updated map."""
    som, ref = make_pair(dim=2, n_max=4, a_t=0.9, lr=1.0)
    load_nodes(som, {0: [0.25, 0.25], 1: [0.75, 0.75]}, distances={1: [0.1, 0.3]})
    Z = torch.tensor([[0.3, 0.25], [0.7, 0.8]], dtype=torch.float64)
    som.update(Z)
    ref.load_state(som)
    assert abs(float(som.loss(Z).detach()) - ref.loss(Z.numpy())) < 1e-12


# ------------------------------------------------------ state and dtypes
def test_state_dict_round_trip():
    params = random_params(6)
    som = SOMRL(SOMRLConfig(**params)).double()
    batches, _ = random_stream(6, params["dim"])
    for X in batches[:6]:
        som.update(torch.as_tensor(X))
    copy = SOMRL(SOMRLConfig(**params)).double()
    copy.load_state_dict(som.state_dict())
    for name in BUFFERS:
        assert torch.equal(getattr(copy, name), getattr(som, name)), name
    for X in batches[6:]:
        som.update(torch.as_tensor(X))
        copy.update(torch.as_tensor(X))
    for name in BUFFERS:
        assert torch.equal(getattr(copy, name), getattr(som, name)), name
    assert set(BUFFERS) <= set(som.state_dict())


def test_float32_matches_reference_loosely():
    params = random_params(9)
    som, ref = SOMRL(SOMRLConfig(**params)), ReferenceSOMRL(**params)
    assert som.centers.dtype == torch.float32
    batches, probe = random_stream(9, params["dim"])
    for n, X in enumerate(batches):
        X32 = X.astype(np.float32).astype(np.float64)  # the same inputs the float32 layer sees
        step(som, ref, X32, where=f"float32 step {n}", atol=1e-5, out_atol=1e-5)
        assert som.centers.dtype == torch.float32 and som.activation(torch.as_tensor(X32).float()).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("seed", [0, 5, 13])
def test_cuda_matches_reference(seed):
    params = random_params(seed)
    som, ref = SOMRL(SOMRLConfig(**params)).double().cuda(), ReferenceSOMRL(**params)
    batches, probe = random_stream(seed, params["dim"])
    for n, X in enumerate(batches):
        step(som, ref, X, where=f"cuda seed {seed} step {n}", probe=probe)
    assert som.centers.is_cuda and som.active.is_cuda


# --------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
@pytest.mark.parametrize("method", ["update", "predict"])
def test_inputs_outside_unit_interval_raise(method, bad):
    som, _ = make_pair(dim=3)
    som.update(torch.full((2, 3), 0.5, dtype=torch.float64))
    before = {name: getattr(som, name).clone() for name in BUFFERS}
    x = torch.full((4, 3), 0.5, dtype=torch.float64)
    x[2, 1] = bad
    with pytest.raises(ValueError) as info:
        getattr(som, method)(x)
    message = str(info.value)
    assert message and "\n" not in message
    for name in BUFFERS:
        assert torch.equal(getattr(som, name), before[name]), f"{method} changed {name} on bad input"


def test_wrong_dimension_raises():
    som, _ = make_pair(dim=3)
    with pytest.raises(ValueError) as info:
        som.update(torch.full((4, 2), 0.5, dtype=torch.float64))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, value", [("a_t", 0.0), ("a_t", 1.0), ("a_t", 1.5), ("a_t", -0.2),
                                         ("n_max", 0), ("n_max", -3), ("lr", -0.1), ("s", 0.0),
                                         ("s", -1.0), ("gamma", 0.0), ("gamma", -2.0),
                                         ("repel", "inverse")])
def test_constructor_domain_errors(name, value):
    with pytest.raises(ParameterError) as info:
        SOMRL(SOMRLConfig(**dict(KWARGS, **{name: value})))
    assert name in str(info.value) and "\n" not in str(info.value)


def test_validate_false_skips_only_the_check():
    """update/loss with validate=False give the same result as with the check."""
    import torch
    from dcsomrl.somrl import SOMRL, SOMRLConfig
    g = torch.Generator().manual_seed(0)
    a = SOMRL(SOMRLConfig(dim=4, n_max=10, a_t=0.99, lr=0.1, rho=0.5, ld=0.2, beta=0.1, gamma=1.0, s=0.4))
    b = SOMRL(a.config)
    for _ in range(5):
        x = torch.rand(16, 4, generator=g)
        a.update(x)
        b.update(x, validate=False)
    for name, buf in a.state_dict().items():
        assert torch.equal(buf, b.state_dict()[name]), name
    assert torch.equal(a.loss(x), b.loss(x, validate=False))
    with pytest.raises(ValueError):
        a.update(x * 2)


# ------------------------------------------------------------- exactness
def gemm_expansion_activation(x, c, w):
    """The activation through sum w x^2 + sum w c^2 - 2 sum w x c (matrix products), as the layer
    once computed it: rounded by column position and cancelling near x = c. The tests below use it
    only as a witness that their streams are hard: it picks other winners than the direct form."""
    wc = w * c
    dist = torch.addmm(torch.addmm((wc * c).sum(1), x * x, w.T), x, wc.T, alpha=-2).clamp(min=0)
    sw = w.sum(1)
    return sw / (dist + sw + 1e-7)


def crowded_stream(seed, n_steps=40):
    """A map of 40 nodes within 1e-9 of one point (some exact copies at far slots) and batches
    around that point, with the printed repel: the map collapses onto near-identical nodes."""
    rng = np.random.default_rng(500 + seed)
    dim = [5, 10, 22, 22, 8, 16][seed % 6]
    params = dict(dim=dim, n_max=64, a_t=0.99, lr=0.3, rho=0.5, ld=0.02, beta=0.3, gamma=2.0, s=0.5,
                  repel="paper")
    base = rng.uniform(0.3, 0.7, dim)
    centers = base + rng.normal(0, 1e-9, (40, dim))
    centers[20:30] = centers[:10]                        # exact copies, 20 slots apart
    nodes = {k: centers[k] for k in range(40)}
    batches = [np.clip(base + rng.normal(0, rng.choice([1e-9, 1e-6, 1e-3]), (32, dim)), 0, 1)
               for _ in range(n_steps)]
    return params, nodes, batches


@pytest.mark.parametrize("seed", range(6))
def test_crowded_collapsing_map_matches_reference(seed):
    params, nodes, batches = crowded_stream(seed)
    som, ref = SOMRL(SOMRLConfig(**params)).double(), ReferenceSOMRL(**params)
    load_nodes(som, nodes, s=params["s"])
    for n, X in enumerate(batches):
        step(som, ref, X, where=f"crowded seed {seed} step {n}")


def test_crowded_streams_are_hard_for_a_matrix_product_activation():
    """Witness: on these streams the GEMM expansion picks another winner than the direct form."""
    differ = 0
    for seed in range(6):
        params, nodes, batches = crowded_stream(seed)
        som = SOMRL(SOMRLConfig(**params)).double()
        load_nodes(som, nodes, s=params["s"])
        for X in batches:
            x = torch.as_tensor(X)
            idx = som.slots
            c, w = som.centers[idx], som.relevances[idx]
            differ += int(not torch.equal(idx[gemm_expansion_activation(x, c, w).argmax(1)], som.predict(x)))
            som.update(x)
    assert differ >= 3, f"the GEMM expansion disagreed on only {differ} steps"


@pytest.mark.parametrize("seed", [0, 7, 13, 22])
def test_float64_activations_are_the_reference_to_the_bit(seed):
    """Same state, same sums in the same order: the layer's activations equal the reference's exactly."""
    params = random_params(seed)
    som, ref = SOMRL(SOMRLConfig(**params)).double(), ReferenceSOMRL(**params)
    batches, probe = random_stream(seed, params["dim"])
    for X in batches:
        som.update(torch.as_tensor(X))
        ref.load_state(som)
        np.testing.assert_array_equal(som.activation(torch.as_tensor(probe)).numpy(), ref.activation(probe))
        np.testing.assert_array_equal(som.predict(torch.as_tensor(X)).numpy(), ref.predict(X))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_duplicates_at_distant_slots_of_a_full_size_map_tie(dtype):
    """MNIST sizes (m = 22, n_max = 200): copies 100 slots apart get identical activations, the
    lower copy wins every sample, and an update moves both copies' twins the same way."""
    rng = np.random.default_rng(3)
    som = SOMRL(SOMRLConfig(**dict(KWARGS, dim=22, n_max=200, a_t=0.99))).to(dtype)
    base = rng.uniform(0.2, 0.8, (100, 22))
    profiles = rng.uniform(0.0, 0.2, (100, 22))
    load_nodes(som, {k: base[k % 100] for k in range(200)},
               distances={k: profiles[k % 100] for k in range(200)})
    X = np.clip(base[rng.integers(100, size=256)] + rng.normal(0, 0.01, (256, 22)), 0, 1)
    x = torch.as_tensor(X, dtype=dtype)
    act = som.activation(x)
    assert torch.equal(act[:, :100], act[:, 100:]), "identical nodes got different activations"
    assert int(som.predict(x).max()) < 100
    pairs = {tuple(p) for p in som.topology().tolist()}
    assert all((k, k + 100) in pairs for k in range(100)), "a node and its copy must be connected"


def test_radial_repel_uses_the_node_distance_to_the_map_center():
    """radial: v * max(1 - 2||v||, 0) with one factor per node; zero once ||v|| >= 0.5."""
    from dcsomrl.terms import repel
    v = torch.tensor([[0.1, 0.2], [0.3, 0.4], [-0.03, 0.04]], dtype=torch.float64)
    out = repel(v, "radial")
    factors = torch.clamp(1 - 2 * v.norm(dim=1), min=0)      # 1 - 2*0.2236, 0 (norm 0.5), 0.9
    torch.testing.assert_close(out, v * factors[:, None], rtol=0, atol=1e-15)
    assert torch.equal(out[1], torch.zeros(2, dtype=torch.float64))
    sym = repel(v, "symmetric")                               # per dimension: 0.4 of 0.3, 0.2 of 0.4
    torch.testing.assert_close(sym[1], torch.tensor([0.3 * 0.4, 0.4 * 0.2], dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("spread", [0.3, 1e-3, 1e-8])
def test_the_matrix_product_screen_brackets_the_exact_activation(dtype, spread):
    """|approx - exact| <= err for every entry, also where nodes crowd and x sits on a center."""
    from dcsomrl.terms import activation, activation_bounds, nodes_of
    g = torch.Generator().manual_seed(int(spread * 1e9) % 1000)
    base = torch.rand(22, generator=g, dtype=torch.float64)
    c = (base + spread * torch.randn(150, 22, generator=g, dtype=torch.float64)).to(dtype)
    w = torch.rand(150, 22, generator=g, dtype=torch.float64).to(dtype)
    x = torch.cat([c[:50].clamp(0, 1), (base + spread * torch.randn(206, 22, generator=g, dtype=torch.float64))
                   .clamp(0, 1).to(dtype)])
    approx, err = activation_bounds(x, nodes_of(c, w))
    exact = activation(x, c, w)
    assert bool(((approx - exact).abs() <= err).all())
    assert float(err.max()) < 1e-3  # and tight enough to screen
