"""DE-SOM (dcsomrl/desom.py): the math against hand-computed values, and trials on digits."""
import json
import math

import numpy as np
import pytest
import torch

from dcsomrl import desom, grid, models
from dcsomrl import params as P
from dcsomrl.data import Dataset, load_dataset
from dcsomrl.run import TrialFailed, run_trial
from dcsomrl_study.cli import main

# cells of a 2x2 map, row-major: 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1)
GRID_2X2 = [[0, 1, 1, 2],
            [1, 0, 2, 1],
            [1, 2, 0, 1],
            [2, 1, 1, 0]]
TINY = dict(epochs=0, iterations=6, eval_every=3, map_rows=2, map_cols=3)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", scale01=True)


def test_grid_distances_are_manhattan_on_a_2x2_map():
    assert desom.grid_distances(2, 2).tolist() == GRID_2X2
    # cells 1 and 2 are diagonal: 2, where the public code's row term |i - k| // cols gives 1
    assert grid.grid_positions(2, 3).tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]


def test_the_gaussian_kernel():
    got = desom.kernel(torch.tensor([0.0, 1.0, 2.0]), T=2.0)
    assert torch.allclose(got, torch.tensor([1.0, math.exp(-0.25), math.exp(-1.0)]))


def test_the_temperature_schedule_ends_at_t_max_and_t_min():
    assert desom.temperature(0, 101, 10.0, 0.1) == 10.0
    assert desom.temperature(100, 101, 10.0, 0.1) == pytest.approx(0.1, rel=1e-12)
    assert desom.temperature(50, 101, 10.0, 0.1) == pytest.approx(1.0)  # geometric: halfway is sqrt(10 * 0.1)
    assert desom.temperature(0, 1, 10.0, 0.1) == 10.0


def test_the_kohonen_loss_on_a_2x2_map_by_hand():
    w = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])   # prototype k at its grid cell
    z = torch.tensor([[0.1, 0.0], [1.0, 1.0]], requires_grad=True)       # winners 0 and 3
    e1, e4 = math.exp(-1.0), math.exp(-4.0)                               # K_1(1), K_1(2)
    # sample 0: distances 0.01, 0.81, 1.01, 1.81 at grid distances 0, 1, 1, 2
    # sample 1: distances 2, 1, 1, 0 at grid distances 2, 1, 1, 0
    by_hand = ((0.01 + e1 * 0.81 + e1 * 1.01 + e4 * 1.81) + (e4 * 2 + e1 + e1 + 0.0)) / 2
    loss = desom.kohonen_loss(z, w, desom.grid_distances(2, 2), T=1.0)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert grid.assign(z, w).tolist() == [0, 3]
    loss.backward()  # the kernel weights are constants: d/dz_0 = (2 / B) sum_k K_k (z_0 - w_k)
    k0 = torch.tensor([1.0, e1, e1, e4])
    assert torch.allclose(z.grad[0], (k0[:, None] * (z[0].detach() - w)).sum(0), atol=1e-6)


def test_t_min_above_t_max_is_refused_with_both_names():
    with pytest.raises(P.ParameterError, match="T_min=.*T_max"):
        desom.DESOMConfig(T_max=1.0, T_min=2.0)


def test_the_parameters_are_the_public_codes_and_live_in_the_registry():
    hp = P.defaults_for("mnist", "desom")
    assert hp == dict(map_rows=8, map_cols=8, dim=10, gamma=0.001, T_max=10.0, T_min=0.1, iterations=10_000,
                      epochs=0, batch_size=256, ae_lr=1e-3, pretrain_epochs=0, eval_every=100)
    assert set(P.defaults_for("digits", "desom")) == set(P.DESOM_PARAMS)
    assert desom.DESOMConfig(**hp) == desom.DESOMConfig()
    assert models.get("desom").params == "desom"
    with pytest.raises(P.ParameterError, match=r"gamma=-1.*a float >= 0"):
        P.check("gamma", -1, "desom")
    assert P.check("gamma", 0, "desom") == 0.0 and P.defaults_for("mnist")["gamma"] == 1.382  # dcsomrl's own


def test_trains_on_digits_to_a_k_means_level_nmi(digits, tmp_path):
    # a short budget: 5 pretraining epochs, then 60 joint iterations on a cooler map
    # (k-means with k = 64 on the same split: NMI 0.70, Purity 0.95)
    r = run_trial(desom.DESOM, digits, dict(epochs=0, iterations=60, pretrain_epochs=5, T_max=2.0, eval_every=20),
                        seed=0, out_dir=tmp_path)
    assert r["status"] == "complete" and r["nmi"] > 0.5 and r["purity"] > 0.6
    assert r["map_size"] == [8, 8] and r["n_prototypes"] == 64 and 1 <= r["n_nodes"] <= 64
    assert [row["step"] for row in r["validation"]] == [20, 40, 60] and r["steps"] == 60
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["nmi"] == r["nmi"] and saved["model"] == "desom" and saved["params"]["T_max"] == 2.0
    protos = np.load(tmp_path / "prototypes.npz")
    assert protos["prototypes"].shape == (64, 10) and protos["grid"].shape == (64, 2)
    weights = torch.load(tmp_path / "autoencoder.pt", weights_only=True)
    assert weights["config"]["latent_dim"] == 10 and weights["model"] == "desom"
    assert (tmp_path / "validation_curve.csv").read_text().startswith("step,epoch,nmi,purity,ami,ari,n_nodes,loss")


def test_same_seed_same_result_and_another_seed_differs(digits):
    first = run_trial(desom.DESOM, digits, TINY, seed=1)
    again = run_trial(desom.DESOM, digits, TINY, seed=1)
    other = run_trial(desom.DESOM, digits, TINY, seed=2)
    for key in ("nmi", "purity", "ami", "ari", "n_nodes", "validation"):
        assert again[key] == first[key], key
    assert [r["loss"] for r in other["validation"]] != [r["loss"] for r in first["validation"]]


def test_epochs_set_the_budget_when_given(digits):
    r = run_trial(desom.DESOM, digits, dict(TINY, epochs=1, batch_size=512), seed=0)
    assert r["steps"] == 3 and r["train_epochs"] == pytest.approx(1.0, abs=0.1)  # ceil(1437 / 512)


def test_a_non_finite_loss_fails_the_trial(digits, tmp_path):
    bad = Dataset("digits", torch.full_like(digits.x_train, float("nan")), digits.y_train,
                  digits.x_test, digits.y_test)
    with pytest.raises(TrialFailed, match="diverged: loss is nan at step 0"):
        run_trial(desom.DESOM, bad, TINY, seed=0, out_dir=tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_train_command(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--model", "desom", "--device", "cpu", "--out", str(out),
               "--set", "epochs=0", "--set", "iterations=4", "--set", "eval_every=2", "--batch-size", "128"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "model desom" in captured.out and "prototypes used" in captured.out and "of 8x8" in captured.out
    assert "epoch 1/1: step 4" in captured.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["params"]["batch_size"] == 128 and m["steps"] == 4
    from dcsomrl.trainer import load_run  # what inspect and the latent k-means read: a DC-SOMRL run

    with pytest.raises(FileNotFoundError, match="holds a desom run, not a DC-SOMRL or SOMRL one"):
        load_run(out)


@pytest.mark.parametrize("args,needle", [
    (["--set", "gamma=-1"], "gamma=-1"),
    (["--set", "T_max=0"], "T_max=0.0 is outside its domain: expected a float > 0"),
    (["--set", "a_t=0.9"], "unknown parameter 'a_t' of model 'desom'"),
    (["--epochs", "-1"], "epochs"),
])
def test_train_command_errors_name_the_parameter(args, needle, tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--model", "desom", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "run").exists()


def test_lhs_studies_desom_over_its_own_space(tmp_path, capsys):
    """`lhs --model desom` draws DE-SOM's shipped digits space, trains through the runner, records the model."""
    import pandas as pd

    from studies import export
    from studies.study import design_space

    results = tmp_path / "results"
    assert main(["lhs", "--model", "desom", "--dataset", "digits", "--n", "2", "--epochs", "1", "--devices", "cpu",
                 "--study", "d", "--results", str(results)]) == 0
    study = export.open_study("d", None, str(results))
    design = study.user_attrs["design"]
    assert design["model"] == "desom" and design["space"]["model"] == "desom"
    space = design_space(design)
    assert space.name == "digits-initial" and space.model == "desom" and "T_max" in space.varying
    table = export.study_table(study)
    assert (table["state"] == "COMPLETE").all() and len(table) == 2
    assert table["T_max"].between(3, 30).all() and (table["epochs"] == 1).all()
    assert table["nmi"].gt(0).all() and pd.notna(table["ari"]).all()
    capsys.readouterr()
    code = main(["lhs", "--model", "desom", "--dataset", "digits", "--n", "2", "--space", "adjusted",
                 "--study", "e", "--results", str(results)])  # dcsomrl's Table 2 column, not DE-SOM's
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "no space 'adjusted' of model 'desom'" in err and not (results / "e").exists()
