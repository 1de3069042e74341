"""Benchmark of the study runner (not a test): parallel efficiency and per-trial overhead.

Runs the same design twice, side by side in one invocation, through the real
command (``python -m dcsomrl_study lhs``): once with 1 worker, once with K
workers, on equal-work design points (the fixed ``best`` space of the data
set, so every trial trains the same amount; only the seeds differ). Then it
reads each study's trials back and prints:

- wall time of the whole command, and trials per minute;
- parallel efficiency, T_1 / (K T_K) (1.0: K workers are K times faster);
- per trial, the runner's overhead beside the trial's own time (the trainer's
  ``seconds``):
  * in-trial overhead: the trial's wall time in the storage minus its own
    seconds (recording itself, parameters, results: storage writes);
  * queue gap: from one trial's end to the next trial's start in the same
    worker (pop, recovery scan, bookkeeping);
  * start-up: from the command's start to the first trial's start (Python,
    torch, data set, storage; once per worker);
  * total overhead per trial = (wall time x workers - sum of trial seconds) / N.

Usage::

    python benchmarks/bench_runner.py                    # digits, N=8, 1 epoch, K=2
    python benchmarks/bench_runner.py --n 16 --epochs 2 --workers 4 --repeat 3 --storage postgresql://...
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_design(name: str, args, workers: int, out: Path) -> float:
    """Run ``lhs`` with ``workers`` workers; its wall time in seconds."""
    cmd = [sys.executable, "-m", "dcsomrl_study", "lhs", "--n", str(args.n), "--dataset", args.dataset,
           "--space", args.space, "--epochs", str(args.epochs), "--devices", args.devices,
           "--workers-per-device", str(workers), "--study", name, "--results", str(out), "--seed", "0"]
    if args.storage:
        cmd += ["--storage", args.storage]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    cmd += ["--model", args.model]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"bench_runner: lhs failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return wall


def measure(name: str, args, out: Path, wall: float, workers: int, started: float) -> dict:
    from optuna.trial import TrialState

    from studies import storage as st
    from studies import study as sy

    study = sy.load(st.open_storage(st.resolve_url(args.storage, name, out)), name)
    trials = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    own = [float(t.user_attrs["seconds"]) for t in trials]
    in_trial = [(t.datetime_complete - t.datetime_start).total_seconds() - s for t, s in zip(trials, own)]
    gaps, firsts = [], []
    by_worker: dict[int, list] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"]["pid"], []).append(t)
    for ts in by_worker.values():
        ts.sort(key=lambda t: t.datetime_start)
        firsts.append(ts[0].datetime_start.timestamp() - started)
        gaps += [(b.datetime_start - a.datetime_complete).total_seconds() for a, b in zip(ts, ts[1:])]
    n = len(trials)
    return {
        "workers": workers, "n": n, "wall": wall, "per_min": 60 * n / wall,
        "trial": sum(own) / n, "in_trial": sum(in_trial) / n,
        "gap": sum(gaps) / len(gaps) if gaps else float("nan"),
        "startup": sum(firsts) / len(firsts),
        "overhead": (wall * workers - sum(own)) / n,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--space", default="best", help="an equal-work space (default: the data set's best values)")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="K, the parallel run's workers")
    p.add_argument("--devices", default="cpu")
    p.add_argument("--storage", default=None, help="default: a journal file in a temporary folder")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="dcsomrl", help="registry model (dcsomrl.models); standin: no training")
    p.add_argument("--repeat", type=int, default=1, help="repeat the pair, report medians")
    args = p.parse_args()

    runs: dict[int, list[dict]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for r in range(args.repeat):  # alternate the order so that drifting load hits both alike
            for workers in ((1, args.workers) if r % 2 == 0 else (args.workers, 1)):
                name = f"bench-{uuid.uuid4().hex[:6]}-k{workers}"
                started = time.time()
                wall = run_design(name, args, workers, out)
                runs[workers].append(measure(name, args, out, wall, workers, started))

    def median(rows: list[dict]) -> dict:
        return {k: statistics.median(r[k] for r in rows) for k in rows[0]}

    one, many = median(runs[1]), median(runs[args.workers])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"runner benchmark: {args.dataset}, space {args.space}, {args.n} trials of {args.epochs} epoch(s), "
          f"devices {args.devices}, {cores} cores, storage {'journal file' if not args.storage else 'given URL'}, "
          f"median of {args.repeat} run(s) each")
    print(f"{'':44s}{'1 worker':>12s}{f'{args.workers} workers':>12s}")
    lines = [
        ("wall time of the command (s)", "wall", "{:.1f}"),
        ("trials per minute", "per_min", "{:.1f}"),
        ("trial's own time, mean (s)", "trial", "{:.2f}"),
        ("in-trial overhead, mean (s)", "in_trial", "{:.3f}"),
        ("queue gap between trials, mean (s)", "gap", "{:.3f}"),
        ("start-up to first trial, per worker (s)", "startup", "{:.1f}"),
        ("total overhead per trial (s)", "overhead", "{:.2f}"),
    ]
    for label, key, fmt in lines:
        print(f"{label:44s}{fmt.format(one[key]):>12s}{fmt.format(many[key]):>12s}")
    for label, f in [("overhead / trial time", lambda r: r["overhead"] / r["trial"]),
                     ("(in-trial + queue gap) / trial time", lambda r: (r["in_trial"] + (0 if r["gap"] != r["gap"] else r["gap"])) / r["trial"])]:
        print(f"{label:44s}{f(one):>12.3f}{f(many):>12.3f}")
    speedup = one["wall"] / many["wall"]
    print(f"speed-up T_1 / T_K = {speedup:.2f}; parallel efficiency T_1 / (K T_K) = {speedup / args.workers:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
