"""One trial of any model: what every model's trial shares (SPEC section 4).

A model gives the runner its :class:`ModelParts` (its name, its config, its
``fit``) and, from ``fit``, a :class:`Learner`; the runner does the rest, the
same for every model (``dcsomrl.models`` binds each registered model to it)::

    run_trial(parts, dataset, params, seed=, device=, out_dir=)
      prepare        the seed, the parameters (the model's registry, then its config),
                     the device, the data set: every check before anything is written
      run_directory  a run directory holds one run: an earlier run's files go
      parts.fit      the model's: builds it, then train_loop(learner, ...)
      learner.scores the test split; metrics.json, validation_curve.csv, the model's files

:func:`train_loop` is the evaluate-and-report loop of every model: batches
over fresh permutations drawn from the trial's seed (:func:`batches`), the
learner's step, the validation curve every ``eval_every`` steps and at the
last, measured on a fixed validation set (:func:`validation_set`: 10 test
samples per class, the same for every trial of a data set, never trained
on), and progress (a bar on a terminal, a line per epoch in a log). A
diverged trial raises :class:`TrialFailed` with a one-line reason, found by
the loop's health: :class:`Health` keeps the results of steps queued on the
device and checks them at validation points (no host sync per step);
:class:`LastLoss` takes the loss of steps that check their own (and raise at
the step, told where by the loop).

A run directory holds, beside the model's own files (``dcsomrl.trainer``,
``dcsomrl.grid``)::

    metrics.json           status, dataset, model, seed, device, host, params (every value),
                           the model's fields known before training, seconds, nmi, purity,
                           ami, ari, n_nodes, the model's own fields, validation (the curve);
                           reason (a failed trial: status "failed", no scores)
    validation_curve.csv   step, epoch, nmi, purity, ami, ari, n_nodes, loss
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import numbers
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from dcsomrl import params as P
from dcsomrl.data import DataError, Dataset, canonical_name, load_dataset
from dcsomrl.devices import resolve_device
from dcsomrl.util import host_name

CURVE_FIELDS = ["step", "epoch", "nmi", "purity", "ami", "ari", "n_nodes", "loss"]  # validation_curve.csv
#: Every file a run of any model writes: a run directory reused by another run loses them first.
RUN_FILES = ("metrics.json", "validation_curve.csv", "som_state.npz", "som.pt", "autoencoder.pt",
             "prototypes.npz")
#: Seed of the validation set (SPEC 4: a fixed set, one per data set, whatever the trial's seed).
VALIDATION_SEED = 0


class TrialFailed(RuntimeError):
    """A trial that diverged or could not run; ``reason`` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------ what a model gives the runner
class Learner(Protocol):
    """A model in training, as the loop and the runner see it (made by its parts' ``fit``)."""

    count: str  # what its n_nodes counts, in the progress bar: "nodes" (a map's), "used" (a grid's)

    def step(self, t: int, xb: torch.Tensor) -> Any:
        """Train on batch t (B, d); the result goes to the loop's health (:class:`Health`, :class:`LastLoss`)."""

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """nmi, purity, ami, ari and n_nodes of its clustering of x (N, d) with labels y (N,)."""

    def progress_text(self, curve: list[dict]) -> str:
        """What an epoch's progress line says of it after "step N" (e.g. ", 40 nodes, validation NMI 0.612")."""

    def summary(self, data: Dataset) -> dict[str, Any]:
        """Its own metrics.json fields of a finished trial, after the scores."""

    def save(self, out: Path, save_model: bool) -> None:
        """Its own files in the run directory (``save_model=False``: no autoencoder weights)."""


@dataclass(frozen=True)
class ModelParts:
    """What one model gives the runner; the rest of a trial is the runner's.

    ``fit(data, config, *, seed, device, progress) -> (learner, curve)`` builds the model and
    trains it with :func:`train_loop`.
    """

    name: str                                  # its registry name (``model`` in metrics.json)
    config: Callable[[dict], Any]              # its frozen config of the checked parameters
    fit: Callable[..., tuple[Learner, list[dict]]]
    scale01: bool = True                       # a named data set is loaded scaled to [0, 1]
    fixed_by_data: Callable[[Dataset], dict] | None = None  # parameters the data set sets (SOMRL alone: dim)
    header: Callable[[torch.device], dict] | None = None    # its metrics.json fields known before training


# ------------------------------------------------------------------ checks
def check_seed(seed) -> int:
    """The trial's seed as an int; ParameterError unless it is an integer >= 0 (``params.RUN_VALUES``)."""
    domain = P.RUN_VALUES["seed"]
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not domain.contains(int(seed)):
        raise P.ParameterError(f"seed={seed!r} must be {domain.domain()}")
    return int(seed)


class Prepared(NamedTuple):
    """One trial, checked (:func:`prepare`)."""
    name: str                 # the data set's canonical name
    params: dict[str, Any]    # every parameter's value (the data set's defaults, then the caller's)
    config: Any               # the model's config of them
    seed: int
    device: torch.device
    data: Dataset


def prepare(parts: ModelParts, dataset: str | Dataset, params: dict[str, Any] | None, *, seed,
            device: str, data_dir=None) -> Prepared:
    """Every check of one trial, before its run directory is touched: the seed, the parameters (the
    model's registry, then its config's cross-parameter checks), the device, the data set (a name is
    loaded, scaled to [0, 1] when ``parts.scale01``)."""
    seed = check_seed(seed)
    name = canonical_name(dataset) if isinstance(dataset, str) else dataset.name
    hp = P.defaults_for(name, parts.name)
    hp.update(P.validate(dict(params or {}), parts.name))
    config = parts.config(hp)
    dev = resolve_device(device)
    data = load_dataset(dataset, data_dir, scale01=parts.scale01) if isinstance(dataset, str) else dataset
    if parts.fixed_by_data is not None:
        fixed = parts.fixed_by_data(data)
        hp.update(fixed)
        config = dataclasses.replace(config, **fixed)
    return Prepared(name, hp, config, seed, dev, data)


# ------------------------------------------------------------------ the trial
def run_trial(parts: ModelParts, dataset: str | Dataset, params: dict[str, Any] | None = None, *, seed,
              device: str = "cpu", data_dir=None, out_dir=None, save_model: bool = True,
              progress: bool | str = False) -> dict[str, Any]:
    """Train and measure one trial of the model ``parts``; write its run directory when ``out_dir`` is given.

    ``params``: any subset of the model's parameters (``dcsomrl.params``); the rest are the
    dataset's defaults. ``progress``: False (silent), True or "bar" (a tqdm bar, for a
    terminal), "lines" (one line per epoch on stderr, for a log file). Returns the metrics
    dict (also written as metrics.json). A trial that diverges writes metrics.json with
    status "failed" and raises TrialFailed.
    """
    trial = prepare(parts, dataset, params, seed=seed, device=device, data_dir=data_dir)
    out, dev, data = run_directory(out_dir), trial.device, trial.data
    record: dict[str, Any] = dict(status="running", dataset=trial.name, model=parts.name, seed=trial.seed,
                                  device=str(dev), host=host_name(), params=trial.params,
                                  **(parts.header(dev) if parts.header is not None else {}))
    start = time.perf_counter()
    try:
        learner, curve = parts.fit(data, trial.config, seed=trial.seed, device=dev, progress=progress)
        final = learner.scores(data.x_test.to(dev), data.y_test.to(dev))
    except TrialFailed as exc:
        record.update(status="failed", reason=exc.reason, seconds=time.perf_counter() - start)
        if out is not None:
            write_json(out / "metrics.json", record)
        raise
    record.update(status="complete", seconds=time.perf_counter() - start, **final,
                  **learner.summary(data), validation=curve)
    if out is not None:
        save_run(out, record, learner, save_model)
    return record


# ------------------------------------------------------------------ the training loop
class StepResult(NamedTuple):
    """What one queued training batch leaves on the device, read only at validation points (:class:`Health`)."""
    loss: torch.Tensor | None           # () the batch's loss, detached (None: a step without a loss)
    codes_finite: torch.Tensor | None   # () bool: every latent code was finite


class Health:
    """The losses and code checks of the steps since the last check, kept on the device.

    ``record`` writes one step's :class:`StepResult` into fixed buffers (no host
    sync); ``check`` reads them once and raises TrialFailed naming the first
    step that diverged ("diverged between steps a and b: ... at step s").
    """

    def __init__(self, size: int, device: torch.device, steps_per_epoch: int):
        self.loss = torch.full((size,), math.nan, dtype=torch.float64, device=device)   # (size,)
        self.finite = torch.ones(size, dtype=torch.bool, device=device)                 # (size,)
        self.steps_per_epoch, self.first, self.n, self.trains = steps_per_epoch, 0, 0, False
        self.last = math.nan                                                            # loss at the last check

    def record(self, result: StepResult) -> None:
        """Keep one step's loss and code check (device-to-device copies)."""
        if result.loss is not None:
            self.trains = True
            self.loss.select(0, self.n).copy_(result.loss)
            self.finite.select(0, self.n).copy_(result.codes_finite)
        self.n += 1

    def check(self) -> float:
        """Raise TrialFailed if a step since the last check diverged; else the last loss (NaN: none)."""
        n, first = self.n, self.first
        loss, finite = self.loss[:n].tolist(), self.finite[:n].tolist()  # the one read of the window
        self.first, self.n = first + n, 0
        for i in range(n):
            why = ("latent codes are not finite" if not finite[i]
                   else f"loss is {loss[i]}" if self.trains and not math.isfinite(loss[i]) else None)
            if why is not None:
                s = first + i
                raise TrialFailed(f"diverged between steps {first} and {first + n - 1}: {why} "
                                  f"at step {s} (epoch {s // self.steps_per_epoch})")
        self.last = loss[-1] if n else math.nan
        return self.last


class LastLoss:
    """The health of steps that check their own loss (a float each; TrialFailed at the step): the last loss."""

    last = math.nan

    def record(self, loss: float) -> None:
        self.last = loss

    def check(self) -> float:
        return self.last


def batches(n: int, batch_size: int, total: int, gen: torch.Generator, device: torch.device, *,
            drop_last: bool = False):
    """``total`` (epoch, index batch on ``device``) pairs over fresh permutations of range(n) drawn
    from ``gen``, each moved to the device once per epoch; ``drop_last``: full batches only."""
    step, epoch = 0, 0
    while step < total:
        perm = torch.randperm(n, generator=gen)
        if drop_last and n >= batch_size:
            perm = perm[: n - n % batch_size]
        for idx in perm.to(device).split(batch_size):
            if step == total:
                return
            yield epoch, idx
            step += 1
        epoch += 1


def train_loop(learner: Learner, data: Dataset, x: torch.Tensor, *, total: int, batch_size: int,
               eval_every: int, gen: torch.Generator, progress: bool | str = False, drop_last: bool = False,
               health: Health | LastLoss | None = None) -> list[dict[str, Any]]:
    """Run ``learner.step(t, batch)`` for t = 0..total-1 on batches of x (n, d); returns the
    validation curve (rows of :data:`CURVE_FIELDS`), measured every ``eval_every`` steps and at the last.

    ``health`` (default :class:`LastLoss`) takes each step's result; at a validation point it
    raises TrialFailed for a diverged step or gives the loss. A step's own TrialFailed is told
    where: "... at step t (epoch e)". ``progress`` as :func:`run_trial`'s.
    """
    x_val, y_val = validation_set(data, x.device)
    health = health if health is not None else LastLoss()
    per_epoch = max(1, (x.shape[0] // batch_size) if drop_last else math.ceil(x.shape[0] / batch_size))
    curve: list[dict[str, Any]] = []
    report = Progress(progress, total, per_epoch, learner)
    for t, (epoch, idx) in enumerate(batches(x.shape[0], batch_size, total, gen, x.device, drop_last=drop_last)):
        try:
            health.record(learner.step(t, x[idx]))
        except TrialFailed as exc:
            raise TrialFailed(f"{exc.reason} at step {t} (epoch {epoch})") from None
        if (t + 1) % eval_every == 0 or t + 1 == total:
            loss = health.check()                      # raises TrialFailed for a diverged step
            curve.append(dict(step=t + 1, epoch=epoch, loss=loss, **learner.scores(x_val, y_val)))
            report.point(curve[-1])
        report.step(t + 1, epoch, curve, health.last)
    report.close()
    return curve


class Progress:
    """A training's progress: a tqdm bar (``progress`` True or "bar") or a line per epoch on stderr ("lines")."""

    def __init__(self, progress: bool | str, total: int, per_epoch: int, learner: Learner):
        self.bar = tqdm(total=total, disable=progress not in (True, "bar"), unit="step", desc="training",
                        leave=False)
        self.lines, self.total, self.per_epoch, self.learner = progress == "lines", total, per_epoch, learner
        self.start = time.perf_counter()

    def point(self, row: dict[str, Any]) -> None:
        """A validation point: the bar's counts, NMI and loss."""
        self.bar.set_postfix({self.learner.count: row["n_nodes"], "nmi": f"{row['nmi']:.3f}",
                              "loss": f"{row['loss']:.4f}"})

    def step(self, step: int, epoch: int, curve: list[dict], loss: float) -> None:
        """After step ``step`` (1-based): the bar moves; the last step of an epoch writes its line."""
        self.bar.update(1)
        if self.lines and (step % self.per_epoch == 0 or step == self.total):
            epochs = math.ceil(self.total / self.per_epoch)
            print(f"epoch {epoch + 1}/{epochs}: step {step}{self.learner.progress_text(curve)}, loss {loss:.4f}, "
                  f"{time.perf_counter() - self.start:.0f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def validation_indices(y, per_class: int = 10, seed: int = 0) -> torch.LongTensor:
    """A fixed validation set (SPEC 4; paper appendix A.2): ``per_class`` indices of each class of ``y``.

    Drawn without replacement by ``numpy.random.default_rng(seed)``, class by
    class in sorted label order; a class with fewer samples gives all of them.
    Returns the indices into ``y`` in ascending order.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise DataError(f"per_class={per_class!r} must be an integer >= 1")
    labels = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"labels must be one-dimensional, got shape {tuple(labels.shape)}")
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=min(int(per_class), int(n)), replace=False)
              for c, n in zip(*np.unique(labels, return_counts=True))]
    chosen = np.sort(np.concatenate(picked)) if picked else np.empty(0, dtype=np.int64)
    return torch.as_tensor(chosen, dtype=torch.long)


def validation_set(data: Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of the validation set on ``device``: 10 test samples per class, the same for every trial
    of a data set (seed :data:`VALIDATION_SEED`, not the trial's), so curves of different seeds and
    settings are measured on the same samples."""
    val = validation_indices(data.y_test, per_class=10, seed=VALIDATION_SEED)
    return data.x_test[val].to(device), data.y_test[val].to(device)


# ------------------------------------------------------------------ the run directory
def run_directory(out_dir) -> Path | None:
    """``out_dir`` made and emptied of every :data:`RUN_FILES` (a run directory holds one run); None for None."""
    if out_dir is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for f in RUN_FILES:
        (out / f).unlink(missing_ok=True)
    return out


def write_json(path: Path, obj: dict) -> None:
    """``obj`` as indented JSON, written atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    tmp.replace(path)


def write_curve(path: Path, curve: list[dict]) -> None:
    """``validation_curve.csv``: one row per validation point, columns :data:`CURVE_FIELDS`."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(curve)


def save_run(out: Path, record: dict, learner: Learner, save_model: bool) -> None:
    """Write a finished run's directory: the curve, the model's files, then metrics.json (last: its
    presence means the run is whole)."""
    write_curve(out / "validation_curve.csv", record.get("validation", []))
    learner.save(out, save_model)
    write_json(out / "metrics.json", record)
