"""A DC-SOMRL training step on the masked path: no host sync, fixed shapes, deterministic.

The ops of 20 ``train_step`` calls (B = 256, MNIST shapes: 784 inputs, m = 22,
n_max = 200; small hidden layers, which change no op of the map) are counted with a dispatch mode (tests/dcsomrl/op_counter.py) on
the CPU: none may sync a GPU with the host, and the sequence of ops and of
their output shapes must not depend on how many nodes the map holds (1, 100,
n_max), which is what lets a GPU run the step asynchronously and a CUDA graph
hold it. The compacted path (the CPU's) is counted too, as the witness that
the counter sees syncs. ``-s`` prints the counts per step of both paths.
"""
from __future__ import annotations

import math

import pytest
import torch

from dcsomrl.autoencoder import Autoencoder
from dcsomrl.run import Health, StepResult, TrialFailed
from dcsomrl.somrl import SOMRL, SOMRLConfig
from dcsomrl.trainer import train_step
from tests.dcsomrl.op_counter import OpCounter

MNIST_BEST = dict(a_t=0.99425, lr=0.1426, rho=1.0, ld=0.36, beta=0.067, gamma=1.382, s=0.426)
STEPS, BATCH, N_MAX, DIM = 20, 256, 200, 22


def filled_map(n_active: int, path: str, seed: int = 0) -> SOMRL:
    """A float32 map of capacity N_MAX with ``n_active`` nodes spread over [0, 1]^DIM."""
    g = torch.Generator().manual_seed(seed)
    som = SOMRL(SOMRLConfig(dim=DIM, n_max=N_MAX, **MNIST_BEST), path=path)
    som.centers[:n_active] = torch.rand(n_active, DIM, generator=g)
    som.distances[:n_active] = 0.05 * torch.rand(n_active, DIM, generator=g)
    som.relevances[:n_active] = 0.2 + 0.8 * torch.rand(n_active, DIM, generator=g)
    som.life[:n_active] = 1.0
    som.active[:n_active] = True
    return som


def run_steps(n_active: int, path: str, steps: int = STEPS, count: bool = True, seed: int = 0):
    """``steps`` train_step calls (+ Health.record) from a seeded start; returns (counters per step, som, ae)."""
    torch.manual_seed(seed)
    ae = Autoencoder(784, DIM, hidden=(64, 64))                   # small layers: the test is about the map
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3, fused=True)  # the trainer's GPU optimizer
    som = filled_map(n_active, path)
    g = torch.Generator().manual_seed(seed + 1)
    batches = [torch.rand(BATCH, 784, generator=g) for _ in range(steps)]
    health = Health(steps, torch.device("cpu"), steps_per_epoch=235)
    counters = []
    for xb in batches:
        counter = OpCounter()
        if count:
            with counter:
                health.record(train_step(som, ae, opt, xb, 0.1145))
        else:
            health.record(train_step(som, ae, opt, xb, 0.1145))
        counters.append(counter)
    assert math.isfinite(health.check())
    return counters, som, ae


@pytest.fixture(scope="module")
def masked_runs():
    return {n: run_steps(n, "masked")[0] for n in (1, 100, N_MAX)}


def test_twenty_masked_steps_have_no_host_sync(masked_runs):
    for n_active, counters in masked_runs.items():
        syncs = [s for c in counters for s in c.syncs]
        assert syncs == [], f"{n_active} active nodes: {len(syncs)} syncs, e.g. {syncs[:5]}"


def test_the_op_sequence_does_not_depend_on_the_node_count(masked_runs):
    seqs = {n: [op for c in counters for op in c.signature()] for n, counters in masked_runs.items()}
    assert len(seqs[1]) > 1000
    assert seqs[1] == seqs[100] == seqs[N_MAX]


def test_every_masked_step_after_the_first_dispatches_the_same_ops(masked_runs):
    """Fixed shapes step to step (the first step also creates Adam's state)."""
    counters = masked_runs[100]
    first = counters[1].signature()
    assert all(c.signature() == first for c in counters[2:])


def test_the_counter_sees_the_syncs_of_the_compacted_path(capsys):
    counters, _, _ = run_steps(100, "compact", steps=3)
    per_step = [len(c.syncs) for c in counters]
    assert min(per_step) >= 3, per_step
    names = {name for c in counters for name, _ in c.syncs}
    assert "aten.nonzero.default" in names
    masked = run_steps(100, "masked", steps=3)[0]
    with capsys.disabled():
        for label, cs in (("compact path (the CPU's)", counters), ("masked path (a GPU's)", masked)):
            print(f"\n{label}: syncs per step {[len(c.syncs) for c in cs]}, "
                  f"ops per step {[len(c.ops) for c in cs]}, non-view ops per step {[c.kernels for c in cs]}")


def test_same_seed_gives_a_bit_identical_state():
    _, som_a, ae_a = run_steps(100, "masked", steps=5, count=False)
    _, som_b, ae_b = run_steps(100, "masked", steps=5, count=False)
    for (name, a), b in zip(som_a.state_dict().items(), som_b.state_dict().values()):
        assert torch.equal(a, b), name
    for (name, a), b in zip(ae_a.state_dict().items(), ae_b.state_dict().values()):
        assert torch.equal(a, b), name


def test_health_names_the_first_diverged_step():
    health = Health(5, torch.device("cpu"), steps_per_epoch=4)
    ok = StepResult(torch.tensor(1.5), torch.tensor(True))
    for _ in range(5):
        health.record(ok)
    assert health.check() == 1.5
    health.record(ok)
    health.record(StepResult(torch.tensor(float("inf")), torch.tensor(True)))
    health.record(StepResult(torch.tensor(float("nan")), torch.tensor(False)))
    with pytest.raises(TrialFailed) as err:
        health.check()
    assert err.value.reason == "diverged between steps 5 and 7: loss is inf at step 6 (epoch 1)"


def test_health_names_codes_that_are_not_finite_first():
    health = Health(3, torch.device("cpu"), steps_per_epoch=10)
    health.record(StepResult(torch.tensor(float("nan")), torch.tensor(False)))
    with pytest.raises(TrialFailed, match="between steps 0 and 0: latent codes are not finite at step 0"):
        health.check()
