"""Training-step figures of DC-SOMRL on one device, in the units its goals are stated in.

    python3 benchmarks/step_throughput.py --device cuda --data DIR [--workers 1 4] [--steps 300]

DIR holds ``MNIST/raw/*.gz`` (read here with gzip and numpy, no torchvision).
Prints, for MNIST shapes (batch 256, 784 inputs, latent 22, n_max 200, the
paper's best MNIST values, the trainer's optimizer and step):

- ms per step, autoencoder alone and DC-SOMRL (``train_step``);
- the time of one validation point (100 samples) and of the final evaluation
  (10,000 test samples), and the projected paper-budget trial
  (30 epochs x 235 steps x ms + validations every 50 steps + final; goal <= 10 s);
- for each ``--workers`` count k: k processes training at once on the device,
  steps per second in total (goal on one GPU: >= 1,175, i.e. 30 paper trials
  in 3 minutes) and the peak memory of each worker (CUDA: reserved by torch;
  CPU: resident set).

Exit status 0 when every figure was measured; the goals are reported, not enforced.
"""
from __future__ import annotations

import argparse
import gzip
import math
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcsomrl import params as P  # noqa: E402
from dcsomrl.autoencoder import Autoencoder  # noqa: E402
from dcsomrl.run import Health  # noqa: E402
from dcsomrl.somrl import SOMRL, SOMRLConfig  # noqa: E402
from dcsomrl.trainer import evaluate, make_optimizer, reconstruction_loss, train_step  # noqa: E402

PAPER_STEPS = 30 * math.ceil(60000 / 256)   # 7050 steps of a paper-budget MNIST trial
EVAL_EVERY = 50


def read_idx(path: Path) -> np.ndarray:
    """An MNIST idx file (.gz): uint8 images (n, 784) or labels (n,)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    a = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return a.reshape(shape[0], -1) if ndim > 1 else a


def load_mnist(folder: Path):
    """(x_train (60000, 784) float32 in [0, 1], x_test, y_test) from folder/MNIST/raw/*.gz."""
    raw = Path(folder) / "MNIST" / "raw"
    names = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (raw / n).is_file()]
    if missing:
        raise SystemExit(f"step_throughput: --data {folder}: missing {', '.join(missing)} under MNIST/raw")
    x, xt, yt = (read_idx(raw / n) for n in names)
    return (torch.from_numpy(x.astype(np.float32) / 255), torch.from_numpy(xt.astype(np.float32) / 255),
            torch.from_numpy(yt.astype(np.int64)))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(device: torch.device, seed: int = 0):
    """(som, ae, opt, hp) as the trainer builds them for MNIST."""
    hp = P.defaults_for("mnist")
    torch.manual_seed(seed)
    ae = Autoencoder(784, hp["dim"]).to(device)
    return SOMRL(SOMRLConfig.from_params(hp)).to(device), ae, make_optimizer(ae, hp["ae_lr"], device), hp


def batches(x: torch.Tensor, bs: int, seed: int):
    """Endless shuffled batches of full size, drawn on x's device."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    while True:
        perm = torch.randperm(x.shape[0], device=x.device, generator=gen)
        yield from (x[i] for i in perm[: x.shape[0] // bs * bs].split(bs))


def time_steps(step, data, n: int, device) -> float:
    """Seconds per step of ``step(xb)`` over n steps (one sync at each end)."""
    sync(device)
    t = time.perf_counter()
    for _ in range(n):
        step(next(data))
    sync(device)
    return (time.perf_counter() - t) / n


def measure_step(device: torch.device, folder: Path, steps: int, warmup: int) -> dict:
    """ms per step (AE alone, DC-SOMRL), validation and final-evaluation times, projected paper trial."""
    x, x_test, y_test = load_mnist(folder)
    x, x_test, y_test = x.to(device), x_test.to(device), y_test.to(device)
    som, ae, opt, hp = build(device)
    data = batches(x, hp["batch_size"], seed=0)
    health = Health(steps + warmup, device, steps_per_epoch=235)

    def dc_step(xb):
        health.record(train_step(som, ae, opt, xb, hp["alpha"], hp["recon"]))

    def ae_step(xb):
        z = ae_only.encode(xb)
        loss = reconstruction_loss(ae_only.decode(z), xb, hp["recon"])
        opt_ae.zero_grad(set_to_none=True)
        loss.backward()
        opt_ae.step()

    torch.manual_seed(1)
    ae_only = Autoencoder(784, hp["dim"]).to(device)
    opt_ae = make_optimizer(ae_only, hp["ae_lr"], device)
    time_steps(dc_step, data, warmup, device)
    time_steps(ae_step, data, warmup, device)
    t_ae = time_steps(ae_step, data, steps, device)
    t_dc = time_steps(dc_step, data, steps, device)
    health.check()
    x_val, y_val = x_test[:100], y_test[:100]
    evaluate(som, ae, x_val, y_val)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(5):
        evaluate(som, ae, x_val, y_val)
    sync(device)
    t_val = (time.perf_counter() - t0) / 5
    t0 = time.perf_counter()
    evaluate(som, ae, x_test, y_test)
    sync(device)
    t_final = time.perf_counter() - t0
    projected = PAPER_STEPS * t_dc + (PAPER_STEPS // EVAL_EVERY) * t_val + t_final
    return dict(ms_ae=t_ae * 1e3, ms_dc=t_dc * 1e3, ms_val=t_val * 1e3, s_final=t_final, projected=projected,
                nodes=som.n_active, path="masked" if som.uses_masked_path() else "compact")


def worker(rank: int, device: str, folder: str, steps: int, warmup: int, barrier, out) -> None:
    """One training process: warm up, wait for the others, then time ``steps`` DC-SOMRL steps."""
    torch.set_num_threads(1)
    dev = torch.device(device)
    x, _, _ = load_mnist(Path(folder))
    x = x.to(dev)
    som, ae, opt, hp = build(dev, seed=rank)
    data = batches(x, hp["batch_size"], seed=rank)
    for _ in range(warmup):
        train_step(som, ae, opt, next(data), hp["alpha"], hp["recon"])
    sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    barrier.wait()
    start = time.time()
    for _ in range(steps):
        train_step(som, ae, opt, next(data), hp["alpha"], hp["recon"])
    sync(dev)
    end = time.time()
    peak = (torch.cuda.max_memory_reserved(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    out.put((rank, start, end, peak))


def measure_workers(device: str, folder: Path, k: int, steps: int, warmup: int) -> dict:
    """k processes at once on one device: total steps per second and peak memory of each."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, device, str(folder), steps, warmup, barrier, out)) for r in range(k)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise SystemExit(f"step_throughput: a worker failed (exit status {bad})")
    start, end = min(r[1] for r in results), max(r[2] for r in results)
    return dict(k=k, steps_per_s=k * steps / (end - start), peak_mib=[r[3] / 2**20 for r in sorted(results)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--data", required=True, help="folder holding MNIST/raw/*.gz")
    ap.add_argument("--steps", type=int, default=300, help="timed steps (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 4], help="worker counts (default 1 4)")
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("step_throughput: --device cuda but torch sees no CUDA device")
    if args.steps < 1 or args.warmup < 1 or any(k < 1 for k in args.workers):
        raise SystemExit("step_throughput: --steps, --warmup and --workers must be >= 1")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    r = measure_step(device, Path(args.data), args.steps, args.warmup)
    print(f"ms/step: AE alone {r['ms_ae']:.3f}, DC-SOMRL {r['ms_dc']:.3f} "
          f"(ratio {r['ms_dc'] / r['ms_ae']:.3f}; map path {r['path']}, {r['nodes']} nodes)")
    print(f"validation point (100 samples) {r['ms_val']:.1f} ms; final evaluation (10,000 samples) "
          f"{r['s_final']:.2f} s")
    print(f"projected paper trial: {PAPER_STEPS} steps x {r['ms_dc']:.3f} ms + {PAPER_STEPS // EVAL_EVERY} "
          f"validations + final = {r['projected']:.1f} s (goal <= 10 s)")
    for k in args.workers:
        w = measure_workers(str(device), Path(args.data), k, args.steps, args.warmup)
        what = "reserved by torch, the CUDA context not counted" if device.type == "cuda" else "resident set"
        print(f"workers {k}: {w['steps_per_s']:.0f} steps/s in total (goal >= 1175 on one GPU); peak memory "
              f"per worker ({what}) {', '.join(f'{m:.0f}' for m in w['peak_mib'])} MiB")


if __name__ == "__main__":
    main()
