"""Stand-in trial functions: no training, known answers (registry entries ``standin`` and ``standin-at``).

Like SALib's test functions, they ship with the package so that the runner
and the analysis can be tested end to end, in worker processes too, in
milliseconds. Each takes the trial function's arguments
(:mod:`dcsomrl.models`) and returns its metrics dict.

:func:`runner_trial` (``standin``): NMI a deterministic function of a_t and
the seed. Behaviour set through the environment (worker processes inherit it):

- ``FAKE_TRIAL_SLEEP``: seconds each trial "trains" (default 0.05);
- ``FAKE_TRIAL_LOG``: a file to which every *start* of a trial appends one line
  ``<seed> <pid>`` (O_APPEND, so parallel workers can share it): the tests
  count how often each design point ran;
- ``FAKE_TRIAL_MIN_WORKERS``: with ``FAKE_TRIAL_LOG``, a trial waits (up to
  60 s) until that many distinct processes have started trials, so a test of
  parallel workers does not depend on how fast the first one drains the queue;
- ``FAKE_TRIAL_RAISE_ALPHA``: trials with ``alpha`` above it raise a plain
  ``RuntimeError`` (checked first);
- ``FAKE_TRIAL_FAIL_ALPHA``: trials with ``alpha`` above it raise
  :class:`StandinDiverged` (an exception with a one-line ``reason``, like
  ``dcsomrl.run.TrialFailed``).

:func:`a_t_trial` (``standin-at``): NMI rises steeply with a_t (the paper's
finding, linear on a_t's log1m scale over [0.95, 0.999]) and ignores every
other parameter but a small noise from the seed; trials with alpha > 0.8 fail
(> 51.2 on digits, whose shipped alpha ranges are 64 times the paper's: eq. 7 sums
over its 64 pixels, studies/spaces/digits-initial.toml). With ``FAKE_REVERSE_ABOVE_EPOCHS=E`` in the environment, trials of more than E
epochs rank a_t the other way (NMI falls with it): a model whose ranking does
not survive a bigger budget, for testing the protocol's fidelity stage.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import time


class StandinDiverged(RuntimeError):
    """A diverged stand-in trial: its message is its one-line ``reason`` (as TrialFailed)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _wait_for_workers(log: str, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while n > 1 and time.monotonic() < deadline:
        pids = {line.split()[1] for line in pathlib.Path(log).read_text().splitlines() if line.strip()}
        if len(pids) >= n:
            return
        time.sleep(0.02)


def runner_trial(dataset, params, *, seed, device="cpu", model="standin", data_dir=None, out_dir=None,
                 progress=False):
    """The ``standin`` trial (behaviour from the environment, module docstring)."""
    start = time.perf_counter()
    log = os.environ.get("FAKE_TRIAL_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{seed} {os.getpid()}\n".encode())
        os.close(fd)
        _wait_for_workers(log, int(os.environ.get("FAKE_TRIAL_MIN_WORKERS", "1")))
    time.sleep(float(os.environ.get("FAKE_TRIAL_SLEEP", "0.05")))
    alpha = float(params.get("alpha", 0.0))
    if "FAKE_TRIAL_RAISE_ALPHA" in os.environ and alpha > float(os.environ["FAKE_TRIAL_RAISE_ALPHA"]):
        raise RuntimeError("boom\nsecond line")
    if "FAKE_TRIAL_FAIL_ALPHA" in os.environ and alpha > float(os.environ["FAKE_TRIAL_FAIL_ALPHA"]):
        raise StandinDiverged(f"diverged: loss is nan (alpha={alpha:.3g})")
    a_t = float(params.get("a_t", 0.99))
    nmi = 1.0 / (1.0 + math.exp(-(a_t - 0.97) * 100)) * 0.8 + (seed % 1000) / 1e5
    metrics = {"status": "complete", "nmi": nmi, "purity": min(1.0, nmi + 0.1), "n_nodes": int(params.get("n_max", 50)) // 2,
               "seconds": time.perf_counter() - start, "seed": seed, "device": device, "model": model,
               "dataset": str(dataset), "validation": [
                   {"step": 0, "epoch": 0, "nmi": nmi / 2, "purity": nmi / 2, "n_nodes": 1, "loss": 1.0},
                   {"step": 10, "epoch": 1, "nmi": nmi, "purity": nmi, "n_nodes": 3, "loss": 0.5}]}
    if out_dir is not None:
        pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
        (pathlib.Path(out_dir) / "metrics.json").write_text(json.dumps(metrics))
        (pathlib.Path(out_dir) / "autoencoder.pt").write_bytes(b"weights")  # what --save-models keeps or drops
    return metrics


def a_t_trial(dataset, params, *, seed, device="cpu", **_):
    """NMI = 0.3 + 0.4 u + seed noise, u = a_t's position in [0.95, 0.999] on the log1m scale."""
    if float(params["alpha"]) > (0.8 * 64 if str(dataset) == "digits" else 0.8):
        raise StandinDiverged(f"diverged: loss is nan (alpha={params['alpha']:.3g})")
    u = (math.log(1 - 0.95) - math.log(1 - float(params["a_t"]))) / math.log(50)  # 0..1 on log1m
    reverse_above = os.environ.get("FAKE_REVERSE_ABOVE_EPOCHS")
    if reverse_above is not None and int(params.get("epochs", 0)) > int(reverse_above):
        u = 1.0 - u  # the budget reverses the ranking
    nmi = 0.3 + 0.4 * u + 0.01 * ((seed % 97) / 97 - 0.5)
    return {"status": "complete", "nmi": nmi, "purity": min(1.0, nmi + 0.2), "n_nodes": 20 + int(40 * u),
            "seconds": 0.01, "seed": seed, "device": device, "validation": []}
