"""Core benchmark (issue: dcsomrl core, item 8): ratios measured side by side in one run.

(a) DC-SOMRL training step / autoencoder-only step, batch 256, MNIST shapes
    (784 inputs, latent 22), a map holding about 100 active nodes (n_max 200),
    on both paths of the map side by side: compacted (the CPU's) and masked
    (all n_max slots, no host sync: a GPU's). Target on the CPU: <= 1.05 for
    the path the CPU uses.
(b) vectorized SOMRL.update (both paths) vs the loop reference of the test
    suite (B=256, n_max=200, m=22), with 100 and with 180 active nodes (what
    one MNIST epoch leaves). Target: >= 200x faster.
(c) samples per second of one full training epoch on MNIST (60,000 images).
(d) host syncs and dispatched ops per training step of both paths (counted
    on the CPU by tests/dcsomrl/op_counter.py), whole step and map alone.

    .venv/bin/python benchmarks/bench_core.py [--device cpu|cuda] [--data-dir D] [--skip-epoch]

The two sides of each ratio are timed alternately, round by round, and the
medians compared, so a noisy shared machine slows both alike.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcsomrl.autoencoder import Autoencoder  # noqa: E402
from dcsomrl.run import run_trial  # noqa: E402
from dcsomrl.somrl import SOMRL, SOMRLConfig  # noqa: E402
from dcsomrl.trainer import DCSOMRL, make_optimizer, reconstruction_loss, train_step  # noqa: E402

MNIST_BEST = dict(a_t=0.99425, lr=0.1426, rho=1.0, ld=0.36, beta=0.067, gamma=1.382, s=0.426)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def filled_map(device, n_active=100, dim=22, n_max=200, seed=0, path=None) -> SOMRL:
    """A map with ``n_active`` nodes spread over [0, 1]^dim (``path``: SOMRL's; None: the device's)."""
    g = torch.Generator().manual_seed(seed)
    som = SOMRL(SOMRLConfig(dim=dim, n_max=n_max, **MNIST_BEST), path=path)
    som.centers[:n_active] = torch.rand(n_active, dim, generator=g)
    som.distances[:n_active] = 0.05 * torch.rand(n_active, dim, generator=g)
    som.relevances[:n_active] = 0.2 + 0.8 * torch.rand(n_active, dim, generator=g)
    som.life[:n_active] = 1.0
    som.active[:n_active] = True
    return som.to(device)


def bench_step_ratio(device, rounds=60, batch=256, path=None) -> tuple[float, float, float]:
    """(a): median seconds of the DC-SOMRL step and of the AE-only step, and the
    median of the per-round ratios (the trainer's optimizer; neither step reads the loss back)."""
    torch.manual_seed(0)
    x = torch.rand(batch, 784, device=device)
    ae = Autoencoder(784, 22).to(device)
    opt = make_optimizer(ae, 1e-3, device)
    som = filled_map(device, path=path)
    start = {k: v.clone() for k, v in som.state_dict().items()}

    def ae_step():
        z = ae.encode(x)
        loss = reconstruction_loss(ae.decode(z), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def reset():
        som.load_state_dict(start)  # about 100 active nodes at every step

    def dc_step():
        reset()
        train_step(som, ae, opt, x, 0.1145)

    for _ in range(3):
        ae_step(), dc_step()
    # Per round: AE step, DC step, and the reset alone; the ratio of the round
    # (DC minus its reset, over AE) cancels slow drifts of a shared machine.
    ratios, t_ae, t_dc = [], [], []
    for _ in range(rounds):
        a, d, r = timed(ae_step, device), timed(dc_step, device), timed(reset, device)
        t_ae.append(a)
        t_dc.append(d - r)
        ratios.append((d - r) / a)
    return statistics.median(t_dc), statistics.median(t_ae), statistics.median(ratios)


def mixed_batch(som: SOMRL, batch=256, seed=1) -> torch.Tensor:
    """Half the rows close to active centers (high samples: steps 4-5), half uniform (low: step 6)."""
    g = torch.Generator().manual_seed(seed)
    slots = som.slots
    near = som.centers[slots[torch.randint(len(slots), (batch // 2,), generator=g)]].cpu()
    near = (near + 0.005 * torch.randn(near.shape, generator=g, dtype=near.dtype)).clamp(0, 1)
    far = torch.rand(batch - batch // 2, som.config.dim, generator=g, dtype=near.dtype)
    return torch.cat([near, far])


def bench_update_vs_loop(device, dtype=torch.float64, n_active=100, rounds=7, inner=15, path=None):
    """(b): per round, one loop-reference update (float64 numpy) against the
    median of ``inner`` vectorized updates from the same state and batch.
    Returns the medians of: vectorized seconds, loop seconds, per-round ratio;
    and the reference's trace of the step."""
    from tests.dcsomrl.reference_somrl import ReferenceSOMRL

    base = filled_map(torch.device("cpu"), n_active=n_active).to(dtype)
    x = mixed_batch(base)
    som = filled_map(torch.device("cpu"), n_active=n_active, path=path).to(dtype).to(device)
    xd, xn = x.to(device), x.double().numpy()
    start = {k: v.clone() for k, v in som.state_dict().items()}

    def vec():
        som.load_state_dict(start)
        return timed(lambda: som.update(xd), device)

    for _ in range(3):  # warm-up (first calls allocate)
        vec()
    t_vec, t_loop, ratios = [], [], []
    for _ in range(rounds):
        ref = ReferenceSOMRL(dim=22, n_max=200, **MNIST_BEST).load_state(base.double())
        trace = {}
        t_loop.append(timed(lambda: trace.update(ref.update(xn) or {}), torch.device("cpu")))
        t_vec.append(statistics.median(vec() for _ in range(inner)))
        ratios.append(t_loop[-1] / t_vec[-1])
    return statistics.median(t_vec), statistics.median(t_loop), statistics.median(ratios), trace


def count_step(path, n_active=100, steps=3, batch=256):
    """(d): per-step host syncs and ops of train_step (whole step) and of som.update + som.loss
    (map alone), last of ``steps`` steps, on the CPU, with the optimizer of the path's device."""
    from tests.dcsomrl.op_counter import OpCounter

    torch.manual_seed(0)
    x = torch.rand(steps, batch, 784)
    ae = Autoencoder(784, 22)
    gpu_like = path == "masked"
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3, fused=True if gpu_like else None)
    som = filled_map(torch.device("cpu"), n_active=n_active, path=path)
    for xb in x:
        som.load_state_dict(filled_map(torch.device("cpu"), n_active=n_active).state_dict())
        with OpCounter() as whole:
            train_step(som, ae, opt, xb, 0.1145)
    som.load_state_dict(filled_map(torch.device("cpu"), n_active=n_active).state_dict())
    z = ae.encode(x[-1]).detach()
    with OpCounter() as alone:
        som.update(z, validate=False)
        som.loss(z, validate=False)
    return whole, alone


def bench_epoch(device, data_dir) -> float:
    """(c): samples per second of one MNIST epoch (training only, MNIST best values)."""
    from dcsomrl.data import load_dataset

    data = load_dataset("mnist", data_dir)
    r = run_trial(DCSOMRL, data, dict(epochs=1, eval_every=10**6), seed=0, device=str(device))
    return data.x_train.shape[0] / r["seconds"], r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--skip-epoch", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    default = "masked" if SOMRL(SOMRLConfig(dim=1, n_max=1, **MNIST_BEST)).to(device).uses_masked_path() else "compact"
    for path in ("compact", "masked"):
        t_dc, t_ae, ratio = bench_step_ratio(device, path=path)
        used = " (this device's path)" if path == default else ""
        print(f"(a) {path:7s}{used}: DC-SOMRL step {t_dc * 1e3:.2f} ms / AE-only step {t_ae * 1e3:.2f} ms: "
              f"median per-round ratio {ratio:.3f}  (target <= 1.05 on CPU for the CPU's path)")
    # 100 active nodes as in (a); 180 as measured after one MNIST epoch (162-183 nodes)
    for n_active in (100, 180):
        for dtype in (torch.float32, torch.float64):
            figures = []
            for path in ("compact", "masked"):
                t_vec, t_loop, ratio, trace = bench_update_vs_loop(device, dtype, n_active, path=path)
                figures.append(f"{path} {t_vec * 1e3:.3f} ms ({ratio:.0f}x)")
            print(f"(b) {n_active} active nodes, {str(dtype)[6:]}: loop reference update {t_loop * 1e3:.1f} ms; "
                  f"vectorized update {', '.join(figures)} (target >= 200x)")
        print(f"    batch: 128 rows near active centers, 128 uniform; the step's trace: "
              + ", ".join(f"{k} {v}" for k, v in trace.items() if isinstance(v, (int, float))))
    for path in ("compact", "masked"):
        whole, alone = count_step(path)
        print(f"(d) {path:7s}: per step {len(whole.syncs)} host syncs, {len(whole.ops)} ops "
              f"({whole.kernels} not views); map alone (update + loss) {len(alone.syncs)} syncs, "
              f"{len(alone.ops)} ops ({alone.kernels} not views)")
    if not args.skip_epoch:
        sps, r = bench_epoch(device, args.data_dir)
        print(f"(c) one MNIST epoch: {sps:.0f} samples/s ({r['seconds']:.1f} s), "
              f"NMI {r['nmi']:.3f}, Purity {r['purity']:.3f}, nodes {r['n_nodes']}")


if __name__ == "__main__":
    main()
