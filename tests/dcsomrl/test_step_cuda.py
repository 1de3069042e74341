"""The training step on a CUDA GPU (skipped without one; benchmarks/gpu_check.sh runs them).

- 50 MNIST-shaped steps (B = 256, 784 inputs, m = 22, n_max = 200, the
  paper's autoencoder) under ``torch.cuda.set_sync_debug_mode("error")``:
  any host synchronisation raises;
- the same seed gives a bit-identical map and autoencoder on the GPU;
- the tie and duplicate tests of the layer, on the GPU, on both paths;
- one step captured in a CUDA graph: its replays give, bit for bit, the
  state that eager steps give.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dcsomrl.autoencoder import Autoencoder
from dcsomrl.run import Health
from dcsomrl.somrl import SOMRL, SOMRLConfig
from dcsomrl.trainer import make_optimizer, train_step
from tests.dcsomrl import test_somrl_reference as ref_tests

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

MNIST_BEST = dict(a_t=0.99425, lr=0.1426, rho=1.0, ld=0.36, beta=0.067, gamma=1.382, s=0.426)
ALPHA = 0.1145


def setup(seed=0, n_active=100, device="cuda", capturable=False):
    """(som, ae, opt, batches) as the trainer builds them on the GPU, with a seeded map of n_active nodes."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    ae = Autoencoder(784, 22).to(dev)
    opt = make_optimizer(ae, 1e-3, dev, capturable=capturable)
    g = torch.Generator().manual_seed(seed)
    som = SOMRL(SOMRLConfig(dim=22, n_max=200, **MNIST_BEST))
    som.centers[:n_active] = torch.rand(n_active, 22, generator=g)
    som.relevances[:n_active] = 0.2 + 0.8 * torch.rand(n_active, 22, generator=g)
    som.life[:n_active] = 1.0
    som.active[:n_active] = True
    batches = torch.rand(60, 256, 784, generator=g).to(dev)
    return som.to(dev), ae, opt, batches


def states(som, ae):
    return {**{f"som.{k}": v.clone() for k, v in som.state_dict().items()},
            **{f"ae.{k}": v.clone() for k, v in ae.state_dict().items()}}


def test_fifty_mnist_steps_never_sync_with_the_host():
    som, ae, opt, batches = setup()
    assert som.uses_masked_path()
    health = Health(50, torch.device("cuda"), steps_per_epoch=235)
    train_step(som, ae, opt, batches[0], ALPHA)      # first step: CUDA context, cuBLAS handles, Adam state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for xb in batches[1:51]:
            health.record(train_step(som, ae, opt, xb, ALPHA))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert np.isfinite(health.check())
    assert 1 <= som.n_active <= 200


def test_same_seed_same_bits_on_the_gpu():
    runs = []
    for _ in range(2):
        som, ae, opt, batches = setup(seed=3)
        for xb in batches[:20]:
            train_step(som, ae, opt, xb, ALPHA)
        runs.append(states(som, ae))
    for name, value in runs[0].items():
        assert torch.equal(value, runs[1][name]), name


A_EQ = ref_tests.A_EQ
#: (constructor overrides, nodes {slot: center}, batch, trace checks): the float64 tie and threshold cases
TIE_CASES = {
    "winner ties": (dict(dim=2, n_max=6, a_t=0.95, ld=0.25),
                    {0: [0.75, 0.75], 1: [0.25, 0.5], 3: [0.25, 0.5], 4: [0.75, 0.5]},
                    [[0.25, 0.5], [0.25, 0.5], [0.5, 0.5], [0.25, 0.625]], dict(winner_ties=4)),
    "rank ties": (dict(dim=2, n_max=8, a_t=0.95, lr=0.5, gamma=1.0, rho=0.0),
                  {0: [0.5, 0.75], 1: [0.5, 0.625], 3: [0.5, 0.5], 5: [0.5, 0.625], 6: [0.625, 0.5]},
                  [[0.5, 0.5]] * 4, dict(rank_ties=6)),
    "winner duplicate": (dict(dim=2, n_max=6, a_t=0.95, rho=0.5, ld=0.5),
                         {0: [0.25, 0.25], 2: [0.5, 0.5], 3: [0.5, 0.5]},
                         [[0.5, 0.5], [0.5, 0.625], [0.625, 0.5]], dict(winner_ties=3)),
    "a == a_t": (dict(dim=2, n_max=4, a_t=A_EQ), {0: [0.5, 0.5]}, [[0.75, 0.5]], dict(n_high=1)),
    "ag == a_t": (dict(dim=2, n_max=4, a_t=A_EQ, rho=0.0, lr=0.5, gamma=1.0), {0: [0.5, 0.5], 1: [0.75, 0.5]},
                  [[0.5, 0.5], [0.5, 0.5]], dict(neighbor_rates=1)),
}


@pytest.mark.parametrize("path", ["compact", "masked"])
@pytest.mark.parametrize("case", sorted(TIE_CASES))
def test_tie_cases_on_the_gpu_match_the_reference(case, path):
    """The winner, rank and threshold ties of test_somrl_reference.py, on the GPU (float64)."""
    overrides, nodes, X, checks = TIE_CASES[case]
    kwargs = dict(ref_tests.KWARGS, **overrides)
    som = SOMRL(SOMRLConfig(**kwargs), path=path).double().cuda()
    ref = ref_tests.ReferenceSOMRL(**kwargs)
    ref_tests.load_nodes(som, nodes)
    trace = ref_tests.step(som, ref, np.array(X), where=f"{case} on cuda ({path})")
    for key, value in checks.items():
        assert trace[key] == value, (key, trace)


@pytest.mark.parametrize("path", ["compact", "masked"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_duplicates_at_distant_slots_tie_on_the_gpu(dtype, path):
    rng = np.random.default_rng(1)
    som = SOMRL(SOMRLConfig(**dict(ref_tests.KWARGS, dim=22, n_max=200, a_t=0.99)), path=path).to(dtype).cuda()
    base, profiles = rng.uniform(0.2, 0.8, (100, 22)), rng.uniform(0.0, 0.2, (100, 22))
    ref_tests.load_nodes(som, {k: base[k % 100] for k in range(200)},
                         distances={k: profiles[k % 100] for k in range(200)})
    x = torch.as_tensor(np.clip(base[rng.integers(100, size=256)] + rng.normal(0, 0.01, (256, 22)), 0, 1),
                        dtype=dtype, device="cuda")
    act = som.activation(x)
    assert torch.equal(act[:, :100], act[:, 100:]), "identical nodes got different activations on the GPU"
    assert int(som.predict(x).max()) < 100
    before = som.active.clone()
    som.update(x)                                     # the higher copies lose, they are not removed yet
    assert torch.equal(som.active[:200], before)


def test_a_step_captured_in_a_cuda_graph_replays_like_eager():
    eager, graphed = setup(seed=5, capturable=True), setup(seed=5, capturable=True)
    for xb in eager[3][:3]:                           # warm-up (Adam state, allocator) on a side stream
        train_step(*eager[:3], xb, ALPHA)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for xb in graphed[3][:3]:
            train_step(*graphed[:3], xb, ALPHA)
    torch.cuda.current_stream().wait_stream(side)
    static_x = graphed[3][3].clone()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = train_step(*graphed[:3], static_x, ALPHA)
    for i in range(3, 13):
        eager_out = train_step(*eager[:3], eager[3][i], ALPHA)
        static_x.copy_(graphed[3][i])
        graph.replay()
        assert torch.equal(static_out.loss, eager_out.loss), f"step {i}: loss"
        a, b = states(eager[0], eager[1]), states(graphed[0], graphed[1])
        for name, value in a.items():
            assert torch.equal(value, b[name]), f"step {i}: {name}"
