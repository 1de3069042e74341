"""The runner's commands: input checked before anything is created, one-line errors,
the worker's plumbing (device, model, storage URL), fast registration.

Studies here are drained in-process with the fake trial function (no worker processes).
"""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies import launch
from studies import storage as st
from studies import study as sy
from studies import drain as wk
from dcsomrl_study.cli import main
from studies.errors import StudyError
from tests.studies.helpers import STANDIN, make_study

ROOT = Path(__file__).resolve().parents[2]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


# --------------------------------------------------------------------------- devices

def test_a_gpu_the_machine_lacks_is_refused_before_anything_starts(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(StudyError, match="device cuda:0 is not visible: this machine shows no CUDA GPU"):
        launch.plan_slots("cuda:0", 1, gpus=lambda: 0)
    with pytest.raises(StudyError, match=r"device cuda:2 is not visible: .*2 GPU\(s\)"):
        launch.plan_slots("cpu,cuda:2", 1, gpus=lambda: 2)
    assert [s.visible for s in launch.plan_slots("cuda:1", 1, gpus=lambda: 2)] == ["1"]


def test_a_worker_on_a_missing_device_takes_no_trial(tmp_path, capsys):
    name = "dev"
    study, url = make_study(tmp_path, name, n=2, drain=False)
    with pytest.raises(wk.EnvironmentProblem, match="cuda:99"):
        wk.run_worker(name, url, device="cuda:99", out=tmp_path, log=lambda msg: None)
    assert main(["worker", "--study", name, "--results", str(tmp_path), "--device", "cuda:99"]) == 3
    assert "cuda:99" in capsys.readouterr().err
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING] * 2  # nothing consumed


def test_lhs_exits_1_when_no_point_completes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_TRIAL_RAISE_ALPHA", "-1")  # every trial raises
    argv = ["lhs", "--n", "2", "--dataset", "digits", "--space", "adjusted", "--devices", "cpu",
            "--study", "none", "--results", str(tmp_path), "--model", STANDIN]
    assert main(argv) == 1
    assert "no design point completed" in capsys.readouterr().err


# --------------------------------------------------------------------------- the worker's plumbing

def test_the_designs_model_chooses_the_trial_function_from_the_registry(tmp_path, monkeypatch):
    from dcsomrl import models

    calls = []

    def probe(dataset, params, *, seed, model, **kwargs):
        calls.append((model, seed))
        return {"nmi": 0.5, "purity": 0.6, "n_nodes": 3, "seconds": 0.0}

    monkeypatch.setitem(models.REGISTRY, "probe", models.Model("probe", "records its calls", probe))
    study, _ = make_study(tmp_path, "m-probe", n=2, model="probe")
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    assert sorted(calls) == sorted(("probe", t.user_attrs["seed"]) for t in study.get_trials())
    assert study.user_attrs["design"]["model"] == "probe" and "trial_fn" not in study.user_attrs["design"]


def test_an_unknown_model_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["lhs", "--n", "2", "--dataset", "digits", "--model", "nope", "--results", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "dcsomrl" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_spawned_workers_get_the_storage_url_in_their_environment_only(tmp_path, monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env, **kwargs):
            seen.update(cmd=cmd, env=env)

    monkeypatch.setattr(launch.subprocess, "Popen", FakePopen)
    url = "postgresql://user:s3cret@db.example:5432/studies"
    slot = launch.plan_slots("cpu", 1, cores=2)[0]
    launch.spawn(slot, 0, study="s", storage=url, out=str(tmp_path), data_dir=None, log_dir=tmp_path / "logs")
    assert not any("s3cret" in part for part in seen["cmd"])
    assert seen["cmd"][1:4] == ["-m", "studies.worker", "--study"]  # the worker's entry point: the CLI's error handling
    assert seen["env"][st.STORAGE_ENV] == url


def test_the_supervisor_starts_the_worker_module_with_options_its_parser_reads(tmp_path, monkeypatch):
    import importlib

    seen = {}
    monkeypatch.setattr(launch.subprocess, "Popen", lambda cmd, **kwargs: seen.update(cmd=cmd))
    slot = launch.plan_slots("cpu", 1, cores=2)[0]
    launch.spawn(slot, 3, study="s", storage="journal:///x", out=str(tmp_path), data_dir="data",
                 log_dir=tmp_path / "logs", save_models="all")
    module = importlib.import_module(seen["cmd"][2])  # python -m <module>: the worker process's entry point
    args = module.build_parser().parse_args(["worker", *seen["cmd"][3:]])
    assert args.func is module.worker_command and module.main is not None
    assert (args.study, args.device, args.device_label, args.results, args.data_dir, args.save_models) == \
        ("s", "cpu", "cpu", str(tmp_path), "data", "all")


def test_python_m_studies_worker_goes_through_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "studies.worker", "--study", "nope", "--results", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"dcsomrl-study: error: no study journal at {tmp_path / 'nope' / 'journal.log'} " \
                                  "(is the study name or --storage/--results right?)"


# --------------------------------------------------------------------------- bad input, one line

@pytest.mark.parametrize("dataset,devices,message", [
    ("digits", "cuda:99", "device cuda:99 is not visible"),  # a missing GPU
    ("mnsit", "cpu", "unknown dataset 'mnsit'"),            # a typo in the data set
])
def test_lhs_refuses_bad_input_before_creating_the_study(tmp_path, capsys, dataset, devices, message):
    argv = ["lhs", "--n", "2", "--dataset", dataset, "--devices", devices, "--study", "bad",
            "--results", str(tmp_path), "--model", STANDIN]
    assert main(argv) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "bad").exists()


def test_lhs_refuses_a_space_that_varies_nothing(tmp_path, capsys):
    argv = ["lhs", "--n", "3", "--dataset", "digits", "--space", "best", "--devices", "cpu", "--study", "fixed",
            "--results", str(tmp_path), "--model", STANDIN]
    assert main(argv) == 2
    assert "space 'digits-best' varies no parameter" in one_line_error(capsys)
    assert not (tmp_path / "fixed").exists()


def test_lhs_records_the_canonical_dataset_name(tmp_path, capsys):
    argv = ["lhs", "--n", "1", "--dataset", "Digits", "--space", "adjusted", "--devices", "cpu",
            "--results", str(tmp_path), "--model", STANDIN]
    assert main(argv) == 0
    study = sy.load(st.open_storage(st.default_url("digits-standin-adjusted-n1-s0", tmp_path)), "digits-standin-adjusted-n1-s0")
    assert study.user_attrs["design"]["dataset"] == "digits"


def test_lhs_space_that_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "space.toml"
    folder.mkdir()
    argv = ["lhs", "--n", "2", "--dataset", "digits", "--space", str(folder), "--devices", "cpu",
            "--results", str(tmp_path), "--model", STANDIN]
    assert main(argv) == 2
    assert one_line_error(capsys) == f"dcsomrl-study: error: {folder}: is a directory, not a space file"


@pytest.mark.parametrize("argv,needle", [
    (["worker", "--study", "x", "--threads", "0"], "argument --threads: must be >= 1, got 0"),
    (["worker", "--study", "x", "--threads", "-1"], "argument --threads: must be >= 1, got -1"),
    (["worker", "--study", "x", "--max-trials", "0"], "argument --max-trials: must be >= 1, got 0"),
    (["status", "--study", "x", "--top", "-1"], "argument --top: must be >= 1, got -1"),
])
def test_counts_must_be_positive(argv, needle, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert needle in one_line_error(capsys)


def test_export_to_a_path_it_cannot_write_is_one_line(tmp_path, capsys):
    make_study(tmp_path, "ex", n=1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["export", "--study", "ex", "--results", str(tmp_path), "--out", str(blocker / "sub" / "x.csv")]) == 2
    assert one_line_error(capsys).startswith(f"dcsomrl-study: error: cannot write {blocker / 'sub' / 'x.csv'}: ")
    out = tmp_path / "new" / "dirs" / "x.csv"  # missing folders are created
    assert main(["export", "--study", "ex", "--results", str(tmp_path), "--out", str(out)]) == 0 and out.is_file()


def test_export_refuses_to_overwrite_without_force(tmp_path, capsys):
    make_study(tmp_path, "ex", n=1)
    out = tmp_path / "t.csv"
    out.write_text("precious\n")
    assert main(["export", "--study", "ex", "--results", str(tmp_path), "--out", str(out)]) == 2
    assert "exists; add --force" in one_line_error(capsys) and out.read_text() == "precious\n"
    assert main(["export", "--study", "ex", "--results", str(tmp_path), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("number,state")


# --------------------------------------------------------------------------- --results everywhere

def test_results_names_the_results_folder_and_out_is_a_deprecated_alias(tmp_path, capsys):
    make_study(tmp_path, "res", n=2)
    assert main(["status", "--study", "res", "--results", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "design points: 2 complete" in captured.out and "deprecated" not in captured.err
    assert main(["status", "--study", "res", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "design points: 2 complete" in captured.out
    assert "--out is deprecated here; use --results" in captured.err


# --------------------------------------------------------------------------- reading the storage once

def test_status_and_export_read_the_trials_once(tmp_path, monkeypatch, capsys):
    make_study(tmp_path, "once", n=3)
    calls = []
    original = optuna.storages.JournalStorage.get_all_trials

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(optuna.storages.JournalStorage, "get_all_trials", counting)
    assert main(["status", "--study", "once", "--results", str(tmp_path)]) == 0
    assert len(calls) == 1
    calls.clear()
    assert main(["export", "--study", "once", "--results", str(tmp_path), "--out", str(tmp_path / "t.csv"),
                 "--curves", str(tmp_path / "c.csv")]) == 0
    assert len(calls) == 1


def test_count_points_counts_design_points_from_given_trials(tmp_path):
    study, _ = make_study(tmp_path, "cnt", n=3)
    trials = study.get_trials()
    assert sy.count_points(trials, 3) == {"n": 3, "complete": 3, "running": 0, "waiting": 0, "failed": 0,
                                          "retried": 0}
    assert sy.count_points(trials[:1], 3)["complete"] == 1  # a pure function of the trials given
    assert sy.counts(study) == sy.count_points(trials, 3)


# --------------------------------------------------------------------------- light registration, quiet optuna

def test_registering_the_commands_imports_nothing_heavy():
    code = ("import argparse, sys; from studies.commands import add_commands; "
            "add_commands(argparse.ArgumentParser().add_subparsers()); "
            "print(sorted(m for m in ('optuna', 'pandas', 'numpy', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_quiet_optuna_keeps_warnings_and_experimental_notes_out():
    level = optuna.logging.get_verbosity()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            st.quiet_optuna()
            warnings.warn("x", optuna.exceptions.ExperimentalWarning)
            warnings.warn("y", UserWarning)
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
        assert [str(w.message) for w in caught] == ["y"]
    finally:
        optuna.logging.set_verbosity(level)
