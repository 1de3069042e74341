"""Fault tolerance with the real trainer on `digits` (tiny settings), on a journal file and on PostgreSQL.

(a) kill -9 the whole `lhs` (parent and worker: a machine dying) while a trial
    trains, re-run the same command: exactly N complete trials, each design
    point once, nothing complete lost or run twice to completion;
(b) a trial that diverges (a huge autoencoder learning rate) is recorded as
    failed with its reason, the others finish;
(c) two workers racing on one queue never run the same trial.
The PostgreSQL variants are marked `postgres` (see conftest.py).
"""
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from studies import storage as st
from studies import study as sy
from tests.studies.helpers import wait_for_running_trial

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

TINY = """
description = "digits, tiny: {epochs} epoch(s) of 6 batches"
[params.batch_size]
value = 256
[params.epochs]
value = {epochs}
[params.dim]
value = 8
[params.n_max]
value = 30
[params.ae_lr]
type = "float"
low = {low}
high = {high}
scale = "log"
"""


def _lhs(tmp_path, name, url, n, space, workers=1):
    return [sys.executable, "-m", "dcsomrl_study", "lhs", "--n", str(n), "--dataset", "digits", "--space", str(space),
            "--devices", "cpu", "--workers-per-device", str(workers), "--study", name, "--storage", url,
            "--results", str(tmp_path / "results")]


def _space(tmp_path, epochs, low, high):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(epochs=epochs, low=low, high=high))
    return path


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_killed_study_resumes_with_each_point_completed_once(tmp_path, storage_url, study_name):
    n = 3
    space = _space(tmp_path, epochs=2, low=1e-4, high=1e-3)
    cmd = _lhs(tmp_path, study_name, storage_url, n, space)
    first = subprocess.Popen(cmd, cwd=ROOT, env=_env(), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        victim, _ = wait_for_running_trial(storage_url, study_name, timeout=180)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the machine dies: parent and workers, at once
        first.wait()
    storage = st.open_storage(storage_url)
    study = sy.load(storage, study_name)
    assert storage.get_trial(study.get_trials()[victim]._trial_id).state == TrialState.RUNNING
    rerun = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "re-enqueued 1 trial(s) whose worker was lost" in rerun.stdout
    study = sy.load(st.open_storage(storage_url), study_name)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n
    assert Counter(t.user_attrs["design_index"] for t in complete) == Counter(range(n))
    killed = trials[victim]
    assert killed.state == TrialState.FAIL and killed.user_attrs["reason"].startswith("worker died")
    retry = [t for t in trials if t.system_attrs.get("retry_history") == [victim]]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == killed.params and retry[0].user_attrs["seed"] == killed.user_attrs["seed"]
    assert len(trials) == n + 1
    run_dir = Path(retry[0].user_attrs["run_dir"])
    assert (run_dir / "metrics.json").is_file() and (run_dir / "som_state.npz").is_file()


def test_diverging_trials_fail_with_reason_and_racing_workers_share_the_queue(tmp_path, storage_url, study_name):
    n = 4
    # log-uniform ae_lr in [1e-4, 1e8], seed 0: two points below 1 (train), two above 1e4 (diverge at once)
    space = _space(tmp_path, epochs=1, low=1e-4, high=1e8)
    done = subprocess.run(_lhs(tmp_path, study_name, storage_url, n, space, workers=2), cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = sy.load(st.open_storage(storage_url), study_name)
    trials = study.get_trials()
    assert len(trials) == n and sorted(t.user_attrs["design_index"] for t in trials) == list(range(n))
    small = [t for t in trials if t.params["ae_lr"] < 1]
    huge = [t for t in trials if t.params["ae_lr"] > 1e4]
    assert len(small) == len(huge) == 2
    for t in small:
        assert t.state == TrialState.COMPLETE and 0 <= t.value <= 1 and t.user_attrs["n_nodes"] >= 1
        assert t.user_attrs["validation"] and t.user_attrs["seconds"] > 0
    for t in huge:
        assert t.state == TrialState.FAIL
        assert re.match(r"diverged.* at step \d+", t.user_attrs["reason"]), t.user_attrs["reason"]
    # (c) every trial was started by exactly one worker, once
    logs = "".join(p.read_text() for p in (tmp_path / "results" / study_name / "logs").glob("worker-*.log"))
    starts = Counter(re.findall(r"^\[[\d:]+\] trial (\d+) \(design point", logs, flags=re.M))
    assert starts == Counter({str(t.number): 1 for t in trials})
    assert "2 complete, 2 failed" in done.stdout
