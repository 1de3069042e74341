"""The runner's queue mechanics end to end, with the fast stand-in model (dcsomrl.standins).

The same guarantees with the real trainer are in test_fault_tolerance.py.
"""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from studies import launch
from studies import storage as st
from studies import study as sy
from dcsomrl_study.cli import main
from studies.design import sample
from studies.errors import StudyError
from studies.space import resolve_space
from tests.studies.helpers import STANDIN, kill_a_running_worker, make_study, study_exists, wait_for, wait_for_running_trial

ROOT = Path(__file__).resolve().parents[2]


def lhs_args(tmp_path, name, n=4, storage=None, extra=()):
    args = ["lhs", "--n", str(n), "--dataset", "digits", "--space", "adjusted", "--devices", "cpu",
            "--results", str(tmp_path / "results"), "--study", name, "--model", STANDIN, *extra]
    return args + (["--storage", storage] if storage else [])


def open_study(tmp_path, name, storage=None):
    storage = st.open_storage(storage or st.default_url(name, tmp_path / "results"))
    return sy.load(storage, name), storage


def completed_points(study):
    return Counter(t.user_attrs["design_index"] for t in study.get_trials(states=(TrialState.COMPLETE,)))


# --------------------------------------------------------------------------- devices

def test_plan_slots_pins_devices_and_splits_cores():
    slots = launch.plan_slots("auto", 2, cores=16, gpus=lambda: 2, parent_visible="")
    assert [(s.label, s.device, s.visible, s.threads) for s in slots] == [
        ("cuda:0", "cuda:0", "0", 4), ("cuda:0", "cuda:0", "0", 4),
        ("cuda:1", "cuda:0", "1", 4), ("cuda:1", "cuda:0", "1", 4)]
    assert [s.label for s in launch.plan_slots("auto", 1, cores=2, gpus=lambda: 0)] == ["cpu"]
    cpu = launch.plan_slots("cpu", 3, cores=2, gpus=lambda: 8)
    assert [(s.device, s.visible, s.threads) for s in cpu] == [("cpu", "", 1)] * 3
    mapped = launch.plan_slots("cuda:1", 1, cores=4, gpus=lambda: 2, parent_visible="3,5")
    assert mapped[0].visible == "5" and mapped[0].device == "cuda:0"
    env = launch.worker_env(mapped[0], {"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "4"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)
    for bad, msg in [("tpu", "unknown device 'tpu'"), ("cuda:0,cuda:0", "twice")]:
        with pytest.raises(StudyError, match=msg):
            launch.plan_slots(bad, 1, gpus=lambda: 2)
    with pytest.raises(StudyError, match="workers-per-device"):
        launch.plan_slots("cpu", 0)
    with pytest.raises(StudyError, match="not visible"):
        launch.plan_slots("cuda:2", 1, gpus=lambda: 2, parent_visible="3,5")


# --------------------------------------------------------------------------- lhs, status, export

def test_lhs_runs_resumes_and_exports(tmp_path, capsys):
    name = "fake-a"
    assert main(lhs_args(tmp_path, name, n=5, extra=["--workers-per-device", "2", "--seed", "3"])) == 0
    out = capsys.readouterr().out
    assert "created" in out and "best 5 trials by NMI" in out and "5 complete" in out
    study, _ = open_study(tmp_path, name)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    design = sample(resolve_space("adjusted", "digits"), 5, 3)
    for t in trials:
        i = t.user_attrs["design_index"]
        assert t.params == design.iloc[i].to_dict()
        assert t.user_attrs["seed"] == sy.trial_seed(3, i)
        assert t.user_attrs["device"] == "cpu" and t.user_attrs["host"] == sy.host_name()
        assert t.user_attrs["purity"] > t.value and t.user_attrs["n_nodes"] == t.params["n_max"] // 2
        assert len(t.user_attrs["validation"]) == 2
        run_dir = tmp_path / "results" / name / "trials" / str(t.number)
        assert t.user_attrs["run_dir"] == str(run_dir) and (run_dir / "metrics.json").is_file()
    # the same command resumes: nothing new to do, nothing enqueued twice
    assert main(lhs_args(tmp_path, name, n=5, extra=["--workers-per-device", "2", "--seed", "3"])) == 0
    assert "resumed" in capsys.readouterr().out
    assert len(study.get_trials()) == 5
    # status and export
    assert main(["status", "--study", name, "--results", str(tmp_path / "results")]) == 0
    assert "design points: 5 complete" in capsys.readouterr().out
    csv, curves = tmp_path / "t.csv", tmp_path / "c.csv"
    assert main(["export", "--study", name, "--results", str(tmp_path / "results"), "--out", str(csv),
                 "--curves", str(curves)]) == 0
    table = pd.read_csv(csv)
    assert len(table) == 5 and list(table.columns[:3]) == ["number", "state", "design_index"]
    for col in [*design.columns, "nmi", "purity", "n_nodes", "seconds", "seed", "device", "host", "reason"]:
        assert col in table.columns, col
    merged = table.set_index("design_index").sort_index()
    assert (merged["a_t"].to_numpy() == design["a_t"].to_numpy()).all()
    assert len(pd.read_csv(curves)) == 10


def test_lhs_refuses_another_design_under_the_same_name(tmp_path, capsys):
    assert main(lhs_args(tmp_path, "fake-b", n=2)) == 0
    capsys.readouterr()
    assert main(lhs_args(tmp_path, "fake-b", n=3)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dcsomrl-study: error: study 'fake-b' already holds a different design") and "\n" not in err


@pytest.mark.parametrize("args,needle", [
    (["--storage", "sqlite:///x.db"], "SQLite storage is refused"),
    (["--devices", "tpu"], "unknown device 'tpu'"),
    (["--space", "nope"], "no space 'nope'"),
    (["--study", "a/b"], "study name 'a/b'"),
    (["--epochs", "0"], "epochs=0 is outside its domain"),
])
def test_lhs_bad_input_is_one_line(tmp_path, capsys, args, needle):
    argv = lhs_args(tmp_path, "fake-c") + args
    try:
        code = main(argv)
    except SystemExit as exc:  # a usage error: --study's argparse type refuses a bad name
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_failed_trials_are_recorded_with_their_reason(tmp_path, monkeypatch, capsys):
    design = sample(resolve_space("adjusted", "digits"), 6, 0)
    alphas = sorted(design["alpha"])
    monkeypatch.setenv("FAKE_TRIAL_FAIL_ALPHA", str((alphas[3] + alphas[4]) / 2))  # two diverge
    monkeypatch.setenv("FAKE_TRIAL_RAISE_ALPHA", str((alphas[4] + alphas[5]) / 2))  # one raises
    assert main(lhs_args(tmp_path, "fake-d", n=6)) == 0
    study, _ = open_study(tmp_path, "fake-d")
    by_alpha = sorted(study.get_trials(), key=lambda t: t.params["alpha"])
    assert [t.state for t in by_alpha] == [TrialState.COMPLETE] * 4 + [TrialState.FAIL] * 2
    assert by_alpha[4].user_attrs["reason"].startswith("diverged: loss is nan")
    assert by_alpha[5].user_attrs["reason"] == "RuntimeError: boom second line"  # one line
    assert "2 failed" in capsys.readouterr().out


def test_a_machine_problem_stops_the_workers_and_loses_nothing(tmp_path, capsys):
    """An old study whose stored trial function this version does not know: exit 3, every trial still waiting."""
    results = tmp_path / "results"
    study, url = make_study(results, "fake-e", n=3, drain=False)
    study.set_user_attr("design", {**study.user_attrs["design"], "trial_fn": "no.such.module:run"})
    assert main(["worker", "--study", "fake-e", "--results", str(results), "--devices", "cpu"]) == 3
    assert "trial function 'no.such.module:run'" in capsys.readouterr().err
    study, _ = open_study(tmp_path, "fake-e")
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING] * 3


@pytest.mark.parametrize("legacy, model", [(None, "dcsomrl"), ("dcsomrl.trainer:run_trial", "dcsomrl"),
                                           ("tests.studies.fake_trial:run", "standin")])
def test_an_old_design_resumes_under_the_same_command(tmp_path, legacy, model):
    """Designs stored before the model registry held a "trial_fn" key; the same options still resume them."""
    space = resolve_space("adjusted", "digits")
    points = sample(space, 2, 0).to_dict("records")
    url = st.default_url("old-resume", tmp_path)
    study, _ = sy.create_or_resume(st.open_storage(url), "old-resume", sy.design_attrs(space, 2, 0, "digits"), points)
    study.set_user_attr("design", {**study.user_attrs["design"], "trial_fn": legacy})
    _, created = sy.create_or_resume(st.open_storage(url), "old-resume",
                                     sy.design_attrs(space, 2, 0, "digits", model=model), points)
    assert created is False
    with pytest.raises(StudyError, match="different design"):
        sy.create_or_resume(st.open_storage(url), "old-resume",
                            sy.design_attrs(space, 2, 0, "digits", model="somrl"), points)


def test_an_old_study_with_a_known_trial_function_path_still_runs(tmp_path):
    """Designs written before the model registry stored a "module:function"; the known ones map to entries."""
    results = tmp_path / "results"
    study, url = make_study(results, "old", n=2, model="dcsomrl", drain=False)
    study.set_user_attr("design", {**study.user_attrs["design"], "trial_fn": "tests.studies.fake_trial:run"})
    assert main(["worker", "--study", "old", "--results", str(results), "--devices", "cpu"]) == 0
    trials = open_study(tmp_path, "old")[0].get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert json.loads((Path(trials[0].user_attrs["run_dir"]) / "metrics.json").read_text())["model"] == "standin"


def test_a_study_made_before_eq7_keeps_its_loss_when_its_workers_resume_it(tmp_path, capsys):
    """A DC-SOMRL design without ``recon`` (made before eq. 7) trains with the per-pixel mean; lhs may not
    resume it with eq. 7 (one line naming the study), so no study mixes the two losses."""
    results = tmp_path / "results"
    study, url = make_study(results, "pre-eq7", n=1, model="dcsomrl", drain=False)
    old = {k: v for k, v in study.user_attrs["design"].items() if k != "recon"}
    old["space"]["params"]["epochs"] = {"type": "int", "value": 1}
    study.set_user_attr("design", old)
    study.enqueue_trial({"epochs": 1}, user_attrs={"design_index": 99, "seed": 1})  # (ignored: a twin point)
    assert main(["worker", "--study", "pre-eq7", "--results", str(results), "--devices", "cpu"]) == 0
    done = [t for t in open_study(tmp_path, "pre-eq7")[0].get_trials() if t.state == TrialState.COMPLETE]
    record = json.loads((Path(done[0].user_attrs["run_dir"]) / "metrics.json").read_text())
    assert record["params"]["recon"] == "mean"
    code = main(["lhs", "--n", "1", "--space", "adjusted", "--dataset", "digits", "--study", "pre-eq7",
                 "--results", str(results), "--devices", "cpu", "--model", "dcsomrl"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "'pre-eq7' was trained before eq. 7" in err[-1]


def test_racing_workers_never_run_a_trial_twice(tmp_path, monkeypatch):
    """(c) lhs's own workers and two `worker` processes joining later share one queue."""
    log = tmp_path / "starts.log"
    monkeypatch.setenv("FAKE_TRIAL_LOG", str(log))
    monkeypatch.setenv("FAKE_TRIAL_SLEEP", "0.02")
    monkeypatch.setenv("FAKE_TRIAL_MIN_WORKERS", "2")  # the first worker cannot drain the queue alone
    name, n = "fake-race", 16
    url = st.default_url(name, tmp_path / "results")
    lhs = subprocess.Popen([sys.executable, "-m", "dcsomrl_study", *lhs_args(tmp_path, name, n=n, extra=[
        "--workers-per-device", "2"])], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(st.journal_path(url)).exists() and study_exists(url, name), 60)
    joiners = [subprocess.Popen([sys.executable, "-m", "studies.worker", "--study", name, "--storage", url,
                                 "--device", "cpu", "--results", str(tmp_path / "results")], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    assert lhs.wait(120) == 0
    for j in joiners:
        assert j.wait(120) == 0, j.stderr.read()
    study, _ = open_study(tmp_path, name)
    assert completed_points(study) == Counter(range(n))
    assert len(study.get_trials()) == n
    starts = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert len(starts) == n and set(starts.values()) == {1}  # every design point started exactly once
    pids = {t.user_attrs["worker"]["pid"] for t in study.get_trials()}
    assert len(pids) >= 2  # it really ran in parallel


def test_supervisor_replaces_a_killed_worker(tmp_path, monkeypatch, capsys):
    """(a) with the fake: kill -9 the worker while it trains; lhs re-enqueues its trial and goes on."""
    monkeypatch.setenv("FAKE_TRIAL_SLEEP", "1.5")
    name, n = "fake-kill", 3
    url = st.default_url(name, tmp_path / "results")
    lhs = subprocess.Popen([sys.executable, "-m", "dcsomrl_study", *lhs_args(tmp_path, name, n=n)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = kill_a_running_worker(url, name)
    out, err = lhs.communicate(timeout=120)
    assert lhs.returncode == 0, err
    assert f"stopped with signal {signal.SIGKILL}" in err
    study = sy.load(st.open_storage(url), name)
    assert completed_points(study) == Counter(range(n))
    killed = [t for t in study.get_trials() if t.number == victim][0]
    assert killed.state == TrialState.FAIL and killed.user_attrs["reason"].startswith("worker died")
    retry = [t for t in study.get_trials() if t.system_attrs.get("retry_history") == [victim]]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].params == killed.params and retry[0].user_attrs["seed"] == killed.user_attrs["seed"]


def test_sigterm_puts_running_trials_back_and_the_rerun_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_TRIAL_SLEEP", "600")  # the signal cuts it short; it must not end first
    name, n = "fake-term", 2
    url = st.default_url(name, tmp_path / "results")
    cmd = [sys.executable, "-m", "dcsomrl_study", *lhs_args(tmp_path, name, n=n)]
    lhs = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, _ = wait_for_running_trial(url, name, timeout=60, settle=0)
    lhs.send_signal(signal.SIGTERM)
    out, err = lhs.communicate(timeout=60)
    assert lhs.returncode == 130 and "re-run the command to resume" in err
    study = sy.load(st.open_storage(url), name)
    held = [t for t in study.get_trials() if t.number == victim][0]
    assert held.state == TrialState.FAIL and held.user_attrs["reason"] == "interrupted (worker stopped)"
    assert not study.get_trials(states=(TrialState.RUNNING,))
    monkeypatch.setenv("FAKE_TRIAL_SLEEP", "0.01")
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=120).returncode == 0
    study = sy.load(st.open_storage(url), name)
    assert completed_points(study) == Counter(range(n))
    from studies.export import study_table
    table = study_table(study)
    assert table.loc[table.state == "COMPLETE", "retry_of"].dropna().tolist() == [victim]


@pytest.mark.parametrize("where", ["set-up", "reporting"])
def test_an_interrupt_at_any_moment_of_a_held_trial_puts_it_back(tmp_path, monkeypatch, where):
    """A SIGTERM may land before the trial function runs or while its result is being stored (CI caught the first)."""
    from studies import drain as wk

    _, url = make_study(tmp_path / "results", "held", n=2, drain=False)

    def interrupt(*args, **kwargs):
        raise wk.Interrupted("signal 15")

    if where == "set-up":
        monkeypatch.setattr(wk, "_completed_twin", interrupt)
    else:
        monkeypatch.setattr(wk.optuna.Trial, "set_user_attr",
                            lambda self, key, value: interrupt() if key == "purity" else
                            self.storage.set_trial_user_attr(self._trial_id, key, value))
    with pytest.raises(wk.Interrupted):
        wk.run_worker("held", url, out=tmp_path / "results", log=lambda message: None)
    trials = sy.load(st.open_storage(url), "held").get_trials()
    first = trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["reason"] == "interrupted (worker stopped)"
    copy = [t for t in trials if t.system_attrs.get("requeued_from") == first.number]
    assert len(copy) == 1 and copy[0].state == TrialState.WAITING and copy[0].params == first.params
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_a_sigterm_during_set_up_waits_and_the_trial_never_starts(tmp_path, monkeypatch):
    """A real signal while the worker talks to the storage is held until training would start."""
    from studies import drain as wk
    from studies.signals import sigterm_interrupts

    _, url = make_study(tmp_path / "results", "held2", n=2, drain=False)
    started = tmp_path / "started.log"
    monkeypatch.setenv("FAKE_TRIAL_LOG", str(started))
    twin = wk._completed_twin

    def signal_then_look(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs here, and only records the signal
        return twin(*args)

    monkeypatch.setattr(wk, "_completed_twin", signal_then_look)
    with sigterm_interrupts(), pytest.raises(wk.Interrupted):
        wk.run_worker("held2", url, out=tmp_path / "results", log=lambda message: None)
    assert not started.exists()  # the trial function never ran
    trials = sy.load(st.open_storage(url), "held2").get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["reason"] == "interrupted (worker stopped)"
    assert [t.state for t in trials[1:]] == [TrialState.WAITING, TrialState.WAITING]
    assert trials[-1].system_attrs["requeued_from"] == 0
