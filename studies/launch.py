"""Local worker processes for ``lhs``: one per device slot, supervised, with live progress.

Devices (SPEC 6, "parallel on GPUs"):

- ``auto``: every visible GPU (``torch.cuda.device_count()``), else the CPU;
- ``cpu``; or a list ``cuda:0,cuda:1,...`` (``cpu`` may be listed too).

Each worker is a separate process (``python -m studies.worker``, the worker
process's one entry point, :mod:`studies.worker`; the storage URL in env
``DCSOMRL_STORAGE``, never on its command line where the process list would
show a password) pinned to one device: for ``cuda:N`` its
environment gets ``CUDA_VISIBLE_DEVICES`` = that GPU (mapped through the
parent's own ``CUDA_VISIBLE_DEVICES`` when set) before torch is imported, so
the worker trains on its ``cuda:0``; CPU workers see no GPU. A ``cuda:N``
beyond the machine's visible GPUs is refused before anything starts.
``--workers-per-device K`` starts K workers per device. The machine's cores
are split among the workers, ``threads = max(1, cores // workers)``, set as
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` and ``torch.set_num_threads``, so
parallel workers do not oversubscribe the CPU.

:func:`supervise` watches the workers and the study: a worker that dies (a
crash, a kill) has its trial re-enqueued (:func:`studies.study.recover`) and
is replaced while trials wait, within a budget of restarts; a worker that
reports a problem of the machine (exit status 3) is not replaced. What to do
at each poll is decided by :func:`poll_step`, a plain function of what the
supervisor sees (:class:`PollState` -> :class:`Decision`); :func:`supervise`
only does the process and storage work around it. Exit statuses are
:class:`studies.errors.Exit`.
"""
from __future__ import annotations

import datetime
import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import optuna

from dcsomrl.devices import parse_device
from studies import storage as st
from studies import study as sy
from studies.errors import Exit, StudyError
from studies.signals import Interrupted, held, pending, released

_PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
#: The module a worker process runs (``python -m studies.worker``): the worker command alone.
WORKER_MODULE = "studies.worker"


# A worker's exit that no restart can fix: the machine (or the command line) is wrong, not the trial.
_FATAL = (Exit.ENVIRONMENT, Exit.USAGE)


@dataclass(frozen=True)
class Slot:
    """One worker process: the device it reports (``label``), the device it uses, its threads."""

    label: str  # "cpu" or "cuda:N" as the user named it
    device: str  # what the worker passes to torch: "cpu" or "cuda:0"
    visible: str  # CUDA_VISIBLE_DEVICES for the worker ("" for the CPU)
    threads: int


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def parse_devices(devices: str, gpus: Callable[[], int] = gpu_count) -> list[str]:
    """``auto``/``cpu``/``cuda:0,cuda:1`` -> device labels (each name read by ``dcsomrl.devices.parse_device``)."""
    text = devices.strip().lower()
    if text == "auto":
        n = gpus()
        return [f"cuda:{i}" for i in range(n)] or ["cpu"]
    labels = []
    for item in text.split(","):
        try:
            kind, index = parse_device(item)
        except ValueError:
            raise StudyError(f"unknown device {item.strip()!r} in --devices {devices!r}; "
                             "expected auto, cpu, or a list like cuda:0,cuda:1") from None
        labels.append("cpu" if kind == "cpu" else f"cuda:{index or 0}")
    if len(set(labels)) != len(labels):
        raise StudyError(f"--devices {devices!r} names a device twice; use --workers-per-device instead")
    return labels


def plan_slots(devices: str = "auto", workers_per_device: int = 1, *, cores: int | None = None,
               gpus: Callable[[], int] = gpu_count, parent_visible: str | None = None) -> list[Slot]:
    """The worker processes to start: ``workers_per_device`` per device, cores split among them.

    Every ``cuda:N`` must be one of this machine's ``gpus()`` visible GPUs
    (StudyError otherwise), so that a missing GPU stops ``lhs`` before it
    creates anything.
    """
    if workers_per_device < 1:
        raise StudyError(f"--workers-per-device must be >= 1, got {workers_per_device}")
    labels = parse_devices(devices, gpus)
    cuda = [label for label in labels if label != "cpu"]
    visible_gpus = gpus() if cuda else 0
    for label in cuda:
        if int(label.split(":")[1]) >= visible_gpus:
            raise StudyError(f"device {label} is not visible: this machine shows "
                             + (f"{visible_gpus} GPU(s) (cuda:0..cuda:{visible_gpus - 1})" if visible_gpus
                                else "no CUDA GPU") + "; use --devices cpu or auto")
    cores = cores or cpu_cores()
    total = len(labels) * workers_per_device
    threads = max(1, cores // total)
    if parent_visible is None:
        parent_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible_list = [v.strip() for v in parent_visible.split(",")] if parent_visible else None
    slots = []
    for label in labels:
        if label == "cpu":
            slot = Slot("cpu", "cpu", "", threads)
        else:
            index = int(label.split(":")[1])
            if visible_list is not None:
                if index >= len(visible_list):
                    raise StudyError(f"device {label} is not visible (CUDA_VISIBLE_DEVICES={parent_visible})")
                physical = visible_list[index]
            else:
                physical = str(index)
            slot = Slot(label, "cuda:0", physical, threads)
        slots += [slot] * workers_per_device
    return slots


def worker_env(slot: Slot, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process pinned to ``slot``."""
    env = dict(os.environ if base is None else base)
    env["CUDA_VISIBLE_DEVICES"] = slot.visible
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(slot.threads)
    env["PYTHONPATH"] = os.pathsep.join([str(_PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def spawn(slot: Slot, index: int, *, study: str, storage: str, out: str, data_dir: str | None,
          log_dir: pathlib.Path, save_models: str = "best") -> subprocess.Popen:
    """Start one worker process for ``slot``; its output goes to ``log_dir/worker-<index>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", WORKER_MODULE, "--study", study,
           "--device", slot.device, "--device-label", slot.label, "--threads", str(slot.threads),
           "--results", str(out), "--save-models", save_models]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    env = worker_env(slot)
    env[st.STORAGE_ENV] = storage  # not on the command line: it may hold a password
    log = open(log_dir / f"worker-{index}.log", "ab")
    try:
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def last_line(path: pathlib.Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


@dataclass
class Outcome:
    exit_code: Exit
    messages: list[str]


def eta_seconds(trials, waiting: int, workers: int, now: datetime.datetime | None = None) -> float:
    """Seconds until the queue is drained, from the trials' own durations (NaN before one finished).

    Each waiting point costs the mean duration d of the finished (COMPLETE or
    FAIL) trials; each running one the part of d it has not yet run, at least
    0. The sum is shared by the ``workers``. So the estimate never climbs while
    one long trial runs: it falls with the clock and stops at 0 for that trial.
    """
    now = now or datetime.datetime.now()
    done = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials
            if t.state.name in ("COMPLETE", "FAIL") and t.datetime_start and t.datetime_complete]
    if not done:
        return float("nan")
    d = sum(done) / len(done)
    running = [(now - t.datetime_start).total_seconds() for t in trials
               if t.state.name == "RUNNING" and t.datetime_start]
    return (waiting * d + sum(max(d - elapsed, 0.0) for elapsed in running)) / max(workers, 1)


@dataclass(frozen=True)
class PollState:
    """What the supervisor sees at one poll (the input of :func:`poll_step`)."""

    returncodes: dict[int, int | None]  # each started worker's exit status (None: running), in start order
    restarts_left: int  # what is left of the restart budget
    waiting: int  # design points waiting, after the dead workers' trials went back to the queue
    slots: int  # how many workers the study runs at most
    fatal: bool = False  # a worker reported a problem of the machine (or a usage error) earlier
    stop_requested: bool = False  # a signal arrived (studies.signals.pending): start no worker


@dataclass(frozen=True)
class Decision:
    """What the supervisor does after a poll (the output of :func:`poll_step`)."""

    restart: tuple[int, ...] = ()  # workers that died, to start again now
    relaunch: int = 0  # no worker is left and points wait: start the first ``relaunch`` slots again
    restarts_left: int = 0  # the budget after these starts
    fatal: bool = False  # carried to the next poll
    exit: Exit | None = None  # stop with this status; None: poll again
    unfinished: int = 0  # design points still waiting when it stops, to report


def poll_step(state: PollState) -> Decision:
    """One poll's decision from what the supervisor sees; no processes, no storage.

    A worker that stopped with a non-zero status is started again, one restart
    of the budget each, while the budget lasts, points wait, no stop was
    requested and no worker reported a problem of the machine (exit 3, or 2 for
    a usage error: such a worker is never replaced). A worker that exits 0 is
    not replaced. When no worker is left, the first slots are started again
    (as many as points wait, one restart each) under the same conditions; else
    the supervisor stops: 130 when a stop was requested, 3 after a problem of
    the machine, 1 while points still wait, 0 when the queue is drained.
    """
    fatal, left, restart = state.fatal, state.restarts_left, []

    def may_start() -> bool:
        return not fatal and not state.stop_requested and left > 0 and state.waiting > 0

    for i, rc in state.returncodes.items():
        if rc is None or rc == Exit.OK:
            continue
        if rc in _FATAL:
            fatal = True
        elif may_start():
            left -= 1
            restart.append(i)
    if restart or None in state.returncodes.values():
        return Decision(tuple(restart), 0, left, fatal)
    if may_start():
        relaunch = min(state.waiting, state.slots)
        return Decision((), relaunch, left - relaunch, fatal)
    code = (Exit.INTERRUPTED if state.stop_requested else Exit.ENVIRONMENT if fatal
            else Exit.UNFINISHED if state.waiting else Exit.OK)
    return Decision((), 0, left, fatal, code, 0 if fatal else state.waiting)


def supervise(study: optuna.Study, storage: optuna.storages.BaseStorage, slots: list[Slot],
              start: Callable[[Slot, int], subprocess.Popen], *, log_dir: pathlib.Path,
              progress: Callable[[dict, float], None] = lambda counts, eta: None, poll: float = 1.0,
              max_restarts: int | None = None, stop_grace: float = 20.0) -> Outcome:
    """Run the workers until the queue is drained; replace workers that die; report progress.

    ``start(slot, index)`` starts worker ``index`` (see :func:`spawn`).
    ``progress(counts, eta_seconds)`` is called on every poll. The restart
    budget is ``max_restarts``, by default ``2 * len(slots) + 2``. Returns the
    exit status (:class:`Exit`: 0 drained; 1 workers failed beyond the restart
    budget; 3 a worker reported a problem of the machine; 130 interrupted) and
    messages to show.
    """
    workers = _Workers(slots, start, log_dir)
    budget = 2 * len(slots) + 2 if max_restarts is None else max_restarts
    try:
        with held():  # see studies.signals
            return _watch(study, storage, workers, progress, poll, budget)
    except (KeyboardInterrupt, Interrupted):
        workers.stop(stop_grace)
        sy.recover(study, storage)
        workers.messages.append("interrupted: running trials went back to the queue; re-run the command to resume")
        return Outcome(Exit.INTERRUPTED, workers.messages)
    except BaseException:
        workers.stop(stop_grace)
        raise


def _watch(study: optuna.Study, storage: optuna.storages.BaseStorage, workers: "_Workers",
           progress: Callable[[dict, float], None], poll: float, budget: int) -> Outcome:
    """The loop of :func:`supervise`: poll the workers, put lost trials back, act on :func:`poll_step`."""
    n, fatal = sy.total_points(study), False
    workers.start(range(min(sy.count_points(study.get_trials(deepcopy=False), n)["waiting"], len(workers.slots))))
    while True:
        codes = workers.poll()
        if any(codes.values()) or None not in codes.values():  # one died, or none is left
            sy.recover(study, storage)
        trials = study.get_trials(deepcopy=False)  # one read of the trials per poll
        c = sy.count_points(trials, n)
        decision = poll_step(PollState(codes, budget, c["waiting"], len(workers.slots), fatal, pending()))
        budget, fatal = decision.restarts_left, decision.fatal
        workers.start(decision.restart)
        progress(c, eta_seconds(trials, c["waiting"], max(len(workers.procs), 1)))
        if decision.relaunch:
            workers.start(range(decision.relaunch))
            continue
        if decision.exit is not None:
            if decision.unfinished:
                workers.messages.append(f"{decision.unfinished} design points still wait: workers kept failing; "
                                        f"see {workers.log_dir}")
            return Outcome(decision.exit, workers.messages)
        with released():  # interrupts land here, never inside a storage call
            time.sleep(poll)


class _Workers:
    """The worker processes of :func:`supervise`, by index, and what is said about the ones that died."""

    def __init__(self, slots: list[Slot], start: Callable[[Slot, int], subprocess.Popen], log_dir: pathlib.Path):
        self.slots, self._start, self.log_dir = slots, start, log_dir
        self.procs: dict[int, subprocess.Popen] = {}
        self.messages: list[str] = []

    def start(self, indices) -> None:
        for i in indices:
            self.procs[i] = self._start(self.slots[i], i)

    def poll(self) -> dict[int, int | None]:
        """Each worker's exit status (None: running), in start order; the stopped ones are dropped and the
        non-zero ones reported, with the last line of their log."""
        codes = {i: proc.poll() for i, proc in self.procs.items()}
        for i, rc in codes.items():
            if rc is None:
                continue
            del self.procs[i]
            if rc != 0:
                why = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
                detail = last_line(self.log_dir / f"worker-{i}.log")
                self.messages.append(f"worker {i} ({self.slots[i].label}) stopped with {why}"
                                     + (f": {detail}" if detail else ""))
        return codes

    def stop(self, grace: float) -> None:
        _stop(self.procs, grace)


def _stop(procs: dict[int, subprocess.Popen], grace: float) -> None:
    """Ask workers to stop (they put their trial back), then kill the ones that do not."""
    for proc in procs.values():
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
