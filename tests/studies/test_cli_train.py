"""`dcsomrl-study train` and the CLI's error contract (one line, non-zero exit)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dcsomrl_study.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_on_digits_prints_metrics_and_writes_the_run_dir(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--epochs", "1", "--seed", "2", "--device", "cpu",
               "--out", str(out), "--set", "n_max=40", "--set", "repel=paper"])
    assert rc == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "NMI" in printed and "Purity" in printed
    # not a terminal: one progress line per epoch, for a log file
    assert re.search(r"^epoch 1/1: step \d+, \d+ nodes, validation NMI 0\.\d{3}, loss ", captured.err, re.M)
    m = json.loads((out / "metrics.json").read_text())
    assert m["params"]["n_max"] == 40 and m["params"]["repel"] == "paper" and m["seed"] == 2
    assert m["n_nodes"] <= 40
    for name in ("validation_curve.csv", "som_state.npz", "som.pt", "autoencoder.pt"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize("args,needle", [
    (["--dataset", "cifar"], "unknown dataset"),
    (["--dataset", "digits", "--model", "kmeans"], "unknown model"),
    (["--dataset", "digits", "--set", "alfa=1"], "unknown parameter 'alfa'"),
    (["--dataset", "digits", "--set", "a_t=1.5"], "a_t=1.5 is outside its domain"),
    (["--dataset", "digits", "--set", "n_max=0"], "n_max"),
    (["--dataset", "digits", "--set", "lr=-0.1"], "lr"),
    (["--dataset", "digits", "--set", "s=0"], "s=0"),
    (["--dataset", "digits", "--set", "gamma=0"], "gamma"),
    (["--dataset", "digits", "--set", "repel=inwards"], "repel"),
    (["--dataset", "digits", "--epochs", "0"], "epochs"),
    (["--dataset", "digits", "--device", "tpu"], "device"),
    (["--dataset", "/no/such/file.npz"], "file.npz"),
    (["--dataset", "mnist", "--data-dir", "{empty}"], "MNIST"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DCSOMRL_DATA", str(tmp_path / "cache"))
    # offline: any download attempt fails at once instead of reaching out
    import socket
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    args = [str(tmp_path / "empty") if a == "{empty}" else a for a in args]
    (tmp_path / "empty").mkdir()
    rc = main(["train", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("dcsomrl-study: error:"), err
    assert needle in err
    assert "Traceback" not in err


def test_a_diverging_trial_exits_1_with_its_reason(tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path),
               "--set", "ae_lr=1000000"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "trial failed: diverged" in err
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_usage_errors_from_the_real_process_have_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "dcsomrl_study", "train", "--dataset", "digits",
                           "--seed", "abc"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid int value: 'abc'" in proc.stderr


def test_train_refuses_a_run_directory_that_holds_something(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    rc = main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "is not an empty folder" in err and len(err.splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(list(tmp_path.iterdir())) == 1


def test_train_refuses_a_negative_seed_naming_the_option(tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--seed", "-1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "--seed must be an integer >= 0" in err
    assert not (tmp_path / "run").exists()
