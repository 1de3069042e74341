"""What a worker does: take waiting trials from a study's queue and train them until none remain.

:func:`run_worker` is the worker process's work (:mod:`studies.worker` is its
command line: ``dcsomrl-study worker`` from any machine that reaches the
storage, or ``python -m studies.worker`` as ``lhs`` starts its local workers).
Before it takes a trial it checks that its device exists and loads the data
set once. Per trial it

1. takes one WAITING trial atomically (:func:`studies.storage.pop_waiting`),
2. records itself on it (user attributes ``worker`` = host, pid, process start
   time; ``host``; ``device``; ``run_dir``),
3. asks for the design point's parameters (enqueued values, recorded as the
   trial's Optuna params with their space's distributions),
4. calls the trial function (the study's model's, :mod:`dcsomrl.models`) with the
   point's ``seed`` and ``out_dir = <out>/<study>/trials/<number>/``, beating
   the RDB heartbeat meanwhile,
5. stores ``nmi`` (the trial's value), ``purity``, ``ami``, ``ari``, ``n_nodes``, ``seconds`` and
   ``validation`` (the validation curve) and completes the trial; or, if the
   trial raised (``dcsomrl.run.TrialFailed`` for a diverged run, or any
   other exception), stores ``reason`` (one line) and fails it.

A SIGTERM or Ctrl-C puts the running trial back in the queue (failed with
reason "interrupted", re-enqueued with the same parameters) before the worker
exits. A problem of the machine rather than of the trial (no such device, the
data set cannot be loaded, the trial function cannot be imported) raises
:class:`EnvironmentProblem` (the worker exits 3, ``Exit.ENVIRONMENT``) and
puts back any trial it had taken.

The trial function is the study's model's (``design["model"]``), looked up in
the typed registry :mod:`dcsomrl.models`; the stand-in models there test the
runner without training. It is called as ``fn(dataset, params, seed=, device=,
model=, data_dir=, out_dir=, progress=False)`` and returns a dict with at least
``nmi``, ``purity``, ``n_nodes`` and ``seconds`` (see ``dcsomrl.run.run_trial``).
"""
from __future__ import annotations

import functools
import math
import os
import pathlib
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import optuna
from optuna import distributions as od
from optuna.trial import TrialState

from dcsomrl import models
from dcsomrl.util import one_line
from studies import storage as st
from studies import study as sy
from studies import weights
from studies.signals import Interrupted, held, released
from studies.space import Space


class EnvironmentProblem(Exception):
    """The machine cannot run trials (device, data, imports); any trial taken was put back. One-line message."""


@dataclass
class WorkerResult:
    complete: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def study_model(design: dict) -> models.Model:
    """The registry entry of the study's model (old designs' trial function paths included)."""
    try:
        return models.of_design(design)
    except models.ParameterError as err:
        raise EnvironmentProblem(one_line(err)) from None


def check_device(device: str) -> str:
    """The device a worker trains on, checked before it takes any trial: ``cpu`` as it is
    (no torch import), anything else through ``dcsomrl.devices.resolve_device`` (``auto``
    becomes ``cuda`` or ``cpu``). A device this machine lacks raises :class:`EnvironmentProblem`.
    """
    if device == "cpu":
        return device
    try:
        from dcsomrl.devices import resolve_device
    except ImportError as err:
        raise EnvironmentProblem(f"cannot import dcsomrl.devices: {one_line(err, with_type=True)}") from None
    try:
        return str(resolve_device(device))
    except ValueError as err:
        raise EnvironmentProblem(one_line(err)) from None


def _environment_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ImportError, EnvironmentProblem]
    try:
        from dcsomrl.data import DataError

        errors.append(DataError)
    except ImportError:
        pass
    return tuple(errors)


def run_worker(study_name: str, storage_url: str, *, device: str = "cpu", device_label: str | None = None,
               out: str | os.PathLike = "results", data_dir: str | None = None, threads: int | None = None,
               max_trials: int | None = None, log: Callable[[str], None] | None = None,
               save_models: str = "best") -> WorkerResult:
    """Drain the study's queue (or run ``max_trials``); the numbers of the trials it finished.

    Raises :class:`EnvironmentProblem` (trial put back) or :class:`Interrupted`
    / KeyboardInterrupt (trial put back). Under :func:`sigterm_interrupts`, a
    signal interrupts only the trial's training or the data loading; one that
    arrives while the worker talks to the storage waits until that is done
    (:mod:`studies.signals`).
    """
    with held():
        return _drain(study_name, storage_url, device=device, device_label=device_label, out=out,
                      data_dir=data_dir, threads=threads, max_trials=max_trials, log=log or _log,
                      save_models=save_models)


def _drain(study_name: str, storage_url: str, *, device: str, device_label: str | None, out, data_dir: str | None,
           threads: int | None, max_trials: int | None, log: Callable[[str], None],
           save_models: str = "best") -> WorkerResult:
    device = check_device(device)
    storage = st.open_storage(storage_url, create=False)
    study = sy.load(storage, study_name)
    study_id = storage.get_study_id_from_name(study_name)
    design = study.user_attrs["design"]
    model = study_model(design)
    if threads and model.threads:
        model.threads(threads)
    result = WorkerResult()
    sy.recover(study, storage)
    if not storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        return result
    dataset: Any = design["dataset"]
    if model.preload:
        with released():  # no storage work here: a signal may stop it at once
            dataset = _preload(model, dataset, data_dir)  # once per worker, not once per trial
    run = functools.partial(run_one, study, storage, space=sy.design_space(design), fn=model.trial,
                            defaults=sy.trial_defaults(design),
                            dataset=dataset, model=model.name, device=device, label=device_label or device,
                            out=pathlib.Path(out), data_dir=data_dir, log=log)
    while max_trials is None or len(result.complete) + len(result.failed) < max_trials:
        with released():  # checkpoint: a signal held while the last result was stored stops here
            pass
        taken = _take_and_run(study, storage, study_id, run)
        if taken is None:
            break
        number, state = taken
        (result.complete if state == TrialState.COMPLETE else result.failed).append(number)
        weights.prune(study, save_models)  # --save-models: the weights this study keeps (studies/weights.py)
        sy.recover(study, storage)
    return result


def _take_and_run(study, storage, study_id: int, run: Callable[[int], TrialState]) -> tuple[int, TrialState] | None:
    """Pop one WAITING trial and run it: (number, final state), or None when the queue is empty.

    On an interrupt, whatever the worker was doing with the trial (set-up,
    training, reporting), it goes back to the queue; a trial already finished
    is left as it is (the storage refuses the second change).
    """
    trial_id = None
    try:
        trial_id = st.pop_waiting(storage, study_id)
        if trial_id is None:
            return None
        number = storage.get_trial(trial_id).number
        with st.heartbeat(storage, trial_id):  # from taking the trial to storing its result
            return number, run(trial_id)
    except (KeyboardInterrupt, Interrupted):
        if trial_id is not None:
            _put_back(study, storage, trial_id, "interrupted (worker stopped)")
        raise


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _preload(model: models.Model, name: str, data_dir: str | None):
    """Load the data set once (a DataError stops the worker before it takes a trial)."""
    try:
        return model.preload(name, data_dir)
    except ImportError as err:
        raise EnvironmentProblem(f"cannot import the data loader: {one_line(err, with_type=True)}") from None
    except ValueError as err:  # DataError
        raise EnvironmentProblem(one_line(err)) from None


def run_one(study: optuna.Study, storage: optuna.storages.BaseStorage, trial_id: int, *, space: Space,
            fn: Callable[..., dict], dataset: Any, device: str, label: str, out: pathlib.Path,
            data_dir: str | None, log: Callable[[str], None], model: str = "dcsomrl",
            defaults: dict[str, Any] | None = None) -> TrialState:
    """Run one popped (RUNNING) trial to COMPLETE or FAIL; its final state. ``defaults``: values the
    study fixes for every trial unless its space sets them (:func:`studies.study.trial_defaults`)."""
    trial = optuna.Trial(study, trial_id)
    number = trial.number
    frozen = storage.get_trial(trial_id)
    index, seed = frozen.user_attrs.get("design_index"), frozen.user_attrs.get("seed")
    run_dir = out / study.study_name / "trials" / str(number)
    ident = sy.process_identity()
    trial.set_user_attr("worker", ident)
    trial.set_user_attr("host", ident["host"])
    trial.set_user_attr("device", label)
    trial.set_user_attr("run_dir", str(run_dir))

    done = _completed_twin(study, index, number)
    if done is not None:  # a duplicate of a finished design point: never complete a point twice
        return _finish_failed(study, trial, f"skipped: design point {index} already completed by trial {done}",
                              TrialState.PRUNED, log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enqueued values outside a space's range (paper's best values)
        params = {**(defaults or {}),
                  **{name: suggest(trial, name, dist) for name, dist in space.distributions().items()}}
    log(f"trial {number} (design point {index}, seed {seed}) on {label}: started")
    try:
        with released():  # the only place a signal interrupts the trial itself
            metrics = fn(dataset, params, seed=seed, device=device, model=model, data_dir=data_dir,
                         out_dir=str(run_dir), progress=False)
    except _environment_errors() as err:  # (an interrupt is a BaseException: run_worker puts the trial back)
        _put_back(study, storage, trial_id, f"environment: {one_line(err, with_type=True)}")
        raise EnvironmentProblem(one_line(err, with_type=True)) from None
    except Exception as err:
        # TrialFailed's message is its one-line reason; anything else says its kind
        reason = one_line(err, with_type=not getattr(err, "reason", None))
        return _finish_failed(study, trial, reason, TrialState.FAIL, log)
    return _record(study, storage, trial, trial_id, metrics, log)


def suggest(trial: optuna.Trial, name: str, dist: od.BaseDistribution) -> Any:
    """Ask ``trial`` for parameter ``name`` over ``dist`` (:meth:`studies.space.Space.distributions`): an
    enqueued value comes back and is recorded on the trial with that distribution."""
    if isinstance(dist, od.CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _record(study: optuna.Study, storage: optuna.storages.BaseStorage, trial: optuna.Trial, trial_id: int,
            metrics: dict, log: Callable[[str], None]) -> TrialState:
    """Store a finished trial's metrics and complete it (FAIL for a non-finite NMI); its final state."""
    nmi = metrics.get("nmi")
    if not isinstance(nmi, (int, float)) or not math.isfinite(nmi):
        return _finish_failed(study, trial, f"non-finite NMI {nmi!r}", TrialState.FAIL, log)
    try:
        for key in ("purity", "ami", "ari", "n_nodes", "seconds"):
            trial.set_user_attr(key, metrics.get(key))
        trial.set_user_attr("validation", metrics.get("validation", []))
        if metrics.get("degenerate"):  # dcsomrl.metrics.degenerate_reason
            trial.set_user_attr("degenerate", str(metrics["degenerate"]))
        study.tell(trial, float(nmi), skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    state = storage.get_trial(trial_id).state
    if state != TrialState.COMPLETE:
        log(f"trial {trial.number}: result discarded, the trial was taken over (state {state.name})")
        return state
    log(f"trial {trial.number}: complete, nmi={nmi:.4f} purity={metrics.get('purity', float('nan')):.4f} "
        f"nodes={metrics.get('n_nodes')} in {metrics.get('seconds', float('nan')):.1f} s")
    return TrialState.COMPLETE


def _completed_twin(study: optuna.Study, index: Any, number: int) -> int | None:
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("design_index") == index and t.number != number:
            return t.number
    return None


def _finish_failed(study: optuna.Study, trial: optuna.Trial, reason: str, state: TrialState,
                   log: Callable[[str], None]) -> TrialState:
    try:
        trial.set_user_attr("reason", reason)
        study.tell(trial, state=state, skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass
    log(f"trial {trial.number}: {state.name.lower()}: {reason}")
    return state


def _put_back(study: optuna.Study, storage: optuna.storages.BaseStorage, trial_id: int, reason: str) -> None:
    """Fail the trial and enqueue its design point again (same parameters, seed, index).

    For interruptions and machine problems, which say nothing about the design
    point: unlike a lost worker's trial (:func:`studies.storage.requeue`), the
    copy does not count against the point's retry budget.
    """
    frozen = storage.get_trial(trial_id)
    if not sy.fail(study, storage, frozen, reason):
        return
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=frozen.params, distributions=frozen.distributions,
        user_attrs={k: v for k, v in frozen.user_attrs.items() if k in st.DESIGN_ATTRS},
        system_attrs={**frozen.system_attrs, "requeued_from": frozen.number}))
