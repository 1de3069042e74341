"""Helpers of the runner's tests: build a study in-process, wait for a study, kill a worker mid-trial."""
import os
import signal
import time

from optuna.trial import TrialState

from studies import storage as st
from studies import study as sy
from studies.design import sample
from studies.errors import StudyError
from studies.space import resolve_space

#: The fast stand-in model (dcsomrl.standins.runner_trial, registry entry "standin").
STANDIN = "standin"


def make_study(results, name: str, n: int = 3, model: str = STANDIN, drain: bool = True):
    """A study of ``n`` points over digits' adjusted space, of the stand-in model by default; (study, url).

    ``drain``: run a worker in this process until the queue is empty.
    """
    from studies import drain as wk

    space = resolve_space("adjusted", "digits")
    design = sy.design_attrs(space, n, 0, "digits", model=model)
    url = st.default_url(name, results)
    study, _ = sy.create_or_resume(st.open_storage(url), name, design, sample(space, n, 0).to_dict("records"))
    if drain:
        wk.run_worker(name, url, out=results, log=lambda msg: None)
    return study, url


def study_exists(url, name):
    try:
        study = sy.load(st.open_storage(url, create=False), name)
    except (StudyError, KeyError, ValueError):
        return False
    return bool(study.user_attrs.get("enqueued"))


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def wait_for_running_trial(url, name, timeout=120, settle=0.3):
    """A trial RUNNING for ``settle`` s with a recorded worker, checked again just now: (number, worker pid).

    The caller kills at once: the trial must still be running (the fake and the
    tiny real trials last a second or more) and nothing has yet noticed a death.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            storage = st.open_storage(url, create=False)
            study = sy.load(storage, name)
        except (StudyError, KeyError, ValueError):
            time.sleep(0.1)
            continue
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,)) if "worker" in t.user_attrs]
        if running:
            trial = running[0]
            time.sleep(settle)  # inside the trial function by now
            if storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                return trial.number, trial.user_attrs["worker"]["pid"]
            continue  # it ended meanwhile: take the next one
        time.sleep(0.05)
    raise AssertionError("no trial started")


def kill_a_running_worker(url, name, timeout=120, settle=0.3):
    """Kill -9 the worker of a running trial (:func:`wait_for_running_trial`); the trial's number."""
    number, pid = wait_for_running_trial(url, name, timeout, settle)
    os.kill(pid, signal.SIGKILL)
    return number
