"""Running a study on this machine: create or resume it, start one local worker per slot, show progress.

:func:`run_study` is what ``lhs``, ``extend``, ``final`` and ``protocol`` share;
the study names they default to are made and checked here. The command line
imports this module for the names (:func:`check_study_name`), so
:func:`run_study` imports the runner (optuna) only when it runs.
"""
from __future__ import annotations

import pathlib
import re
import sys

from studies.errors import StudyError
from studies.progress import ProgressReporter
from studies.signals import sigterm_interrupts

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_study_name(dataset: str, space: str, n: int, seed: int, epochs: int | None,
                       prefix: str | None = None, model: str = "dcsomrl") -> str:
    """``[<prefix>-]<dataset>[-<model>]-<space>-n<N>-s<seed>[-e<epochs>]``: lhs's (and final's) default
    study name, readable: the dataset, the model (named when it is not dcsomrl, so that two models'
    studies never share a name), what the space is, the size and seed."""
    from dcsomrl.data import dataset_stem

    who = "" if model == "dcsomrl" else f"-{model}"
    name = f"{dataset_stem(dataset)}{who}-{space}-n{n}-s{seed}" + (f"-e{epochs}" if epochs else "")
    return f"{prefix}-{name}" if prefix else name


def check_study_name(name: str) -> str:
    if not _NAME.match(name):
        raise StudyError(f"study name {name!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
    return name


def run_study(name: str, url: str, design: dict, points: list[dict], *, slots, out: str,
              data_dir: str | None, label: str, save_models: str = "best"):
    """Create (or resume) a study, re-enqueue lost trials and drain it with local
    workers, one per slot, showing progress; returns (study, exit code).

    ``out`` is the results folder; ``save_models`` the weights kept (studies/weights.py).
    Used by ``lhs``, ``extend``, and by ``final`` and ``protocol`` (analysis/).
    """
    from studies import launch, weights
    from studies import storage as st
    from studies import study as sy

    storage = st.open_storage(url)
    study, created = sy.create_or_resume(storage, name, design, points)
    folder = pathlib.Path(out) / name
    print(f"study {name}: {label} ({'created' if created else 'resumed'}; storage {st.redact(url)})", flush=True)
    lost = sy.recover(study, storage)
    if lost:
        print(f"re-enqueued {len(lost)} trial(s) whose worker was lost: {', '.join(map(str, lost))}", flush=True)
    c = sy.count_points(study.get_trials(deepcopy=False), sy.total_points(study))
    if c["waiting"]:
        print(workers_line(slots, c["waiting"], folder / "logs"), flush=True)
    reporter = ProgressReporter(name, c["n"])
    try:
        with sigterm_interrupts():  # SIGTERM/Ctrl-C: stop the workers, their trials go back to the queue
            outcome = launch.supervise(
                study, storage, slots,
                lambda slot, i: launch.spawn(slot, i, study=name, storage=url, out=out, data_dir=data_dir,
                                             log_dir=folder / "logs", save_models=save_models),
                log_dir=folder / "logs", progress=reporter)
    finally:
        reporter.close()
    for message in outcome.messages:
        print(message, file=sys.stderr, flush=True)
    weights.prune(study, save_models)  # trials of workers elsewhere too
    return study, outcome.exit_code



def workers_line(slots, waiting: int, logs: pathlib.Path) -> str:
    """``N worker(s) on DEVICES, T thread(s) each; logs in DIR`` for the workers a study starts."""
    devices = sorted({s.label for s in slots})
    return (f"{min(len(slots), waiting)} worker(s) on {', '.join(devices)}, {slots[0].threads} thread(s) each; "
            f"logs in {logs}")
