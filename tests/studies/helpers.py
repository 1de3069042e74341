"""Helpers of the runner's process-level tests: wait for a study, kill a worker mid-trial."""
import os
import signal
import time

from optuna.trial import TrialState

from studies import storage as st
from studies import study as sy
from studies.errors import StudyError


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


def kill_a_running_worker(url, name, timeout=120, settle=0.3):
    """Wait for a RUNNING trial with a recorded worker, kill -9 that worker; the trial's number."""
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
            os.kill(trial.user_attrs["worker"]["pid"], signal.SIGKILL)
            state = storage.get_trial(trial._trial_id).state
            assert state == TrialState.RUNNING, "the trial ended before the kill; make it longer"
            return trial.number
        time.sleep(0.05)
    raise AssertionError("no trial started")
