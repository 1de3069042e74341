"""SOM-VAE, static (dcsomrl/somvae.py): the losses on a hand-made case, and trials on digits."""
import json

import pytest
import torch

from dcsomrl import models, somvae
from dcsomrl import params as P
from dcsomrl.data import Dataset, load_dataset
from dcsomrl.run import TrialFailed, run_trial
from dcsomrl_study.cli import main

# a 2x2 map, row-major, embedding k at its grid cell: 0 = (0, 0), 1 = (0, 1) -> (1, 0), 2 -> (0, 1), 3 -> (1, 1)
EMB = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
TINY = dict(epochs=1, batch_size=256, eval_every=2, arch="mlp", map_rows=3, map_cols=3)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", scale01=True)


def test_grid_neighbours_of_a_corner_and_of_an_inner_cell():
    idx, mask = somvae.grid_neighbours(torch.tensor([1, 4]), rows=3, cols=3)
    # order: winner, up (r+1), down (r-1), right (c+1), left (c-1); off the grid: the winner, masked
    assert idx.tolist() == [[1, 4, 1, 2, 0], [4, 7, 1, 5, 3]]
    assert mask.tolist() == [[True, True, False, True, True], [True] * 5]
    idx, mask = somvae.grid_neighbours(torch.tensor([1]), rows=2, cols=2)
    assert idx.tolist() == [[1, 3, 1, 1, 0]] and mask.tolist() == [[True, True, False, False, True]]


def test_the_losses_on_a_tiny_case_by_hand():
    emb = torch.tensor(EMB, requires_grad=True)
    z_e = torch.tensor([[0.9, 0.2]], requires_grad=True)
    k, z_q = somvae.quantize(z_e, emb)
    assert k.tolist() == [1] and z_q.tolist() == [[1.0, 0.0]]
    # ||z_e - e_1||^2 = 0.01 + 0.04 = 0.05, over B m = 2 entries
    assert somvae.commitment_loss(z_e, z_q).item() == pytest.approx(0.025)
    # N(1) on the 2x2 map: 1 itself, 3 (up) and 0 (left): (0.05 + 0.65 + 0.85) / (5 B m = 10)
    som = somvae.som_loss(z_e, emb, k, 2, 2)
    assert som.item() == pytest.approx(0.155)
    som.backward()
    assert z_e.grad is None                       # stop-gradient on z_e
    assert emb.grad[2].abs().sum() == 0 and emb.grad[[0, 1, 3]].abs().sum() > 0   # 2 is not a neighbour of 1
    # d/de_1 of ||z_e - e_1||^2 / 10 = -2 (z_e - e_1) / 10
    assert torch.allclose(emb.grad[1], -2 * (z_e.detach()[0] - emb.detach()[1]) / 10)


def test_straight_through_has_z_q_s_value_and_copies_the_gradient_to_z_e():
    z_e = torch.tensor([[0.9, 0.2]], requires_grad=True)
    z_q = torch.tensor([[1.0, 0.0]], requires_grad=True)
    out = somvae.straight_through(z_e, z_q)
    assert torch.equal(out, z_q.detach())
    (out * torch.tensor([[2.0, 3.0]])).sum().backward()
    assert z_e.grad.tolist() == [[2.0, 3.0]] and z_q.grad.tolist() == [[2.0, 3.0]]


def test_the_total_is_the_weighted_sum_of_the_terms():
    cfg = somvae.SOMVAEConfig(map_rows=2, map_cols=2, dim=2, alpha=0.5, beta=2.0, arch="mlp")
    torch.manual_seed(0)
    net = somvae.SOMVAENet(5, cfg)
    parts = somvae.losses(net, torch.rand(7, 5), cfg)
    assert parts["total"].item() == pytest.approx(
        (parts["reconstruction"] + 0.5 * parts["commitment"] + 2.0 * parts["som"]).item())


def test_the_parameters_are_the_public_codes_and_live_in_the_registry():
    hp = P.defaults_for("fashion-mnist", "somvae")
    assert hp == dict(map_rows=8, map_cols=8, dim=64, lr=5e-4, alpha=1.0, beta=0.9, decay_factor=0.9,
                      decay_steps=500, batch_size=32, epochs=20, arch="dec", eval_every=100)
    assert somvae.SOMVAEConfig(**hp) == somvae.SOMVAEConfig()
    assert set(P.defaults_for("my.csv", "somvae")) == set(P.SOMVAE_PARAMS)
    assert models.get("somvae").params == "somvae"
    with pytest.raises(P.ParameterError, match="arch"):
        P.check("arch", "conv", "somvae")


def test_trains_on_digits_to_a_k_means_level_nmi(digits, tmp_path):
    # a short budget: the public flat-input MLP, 8 epochs at a higher learning rate
    # (k-means with k = 64 on the same split: NMI 0.70, Purity 0.95)
    r = run_trial(somvae.SOMVAE, digits, dict(arch="mlp", epochs=8, lr=3e-3, eval_every=100), seed=0, out_dir=tmp_path)
    assert r["status"] == "complete" and r["nmi"] > 0.5 and r["purity"] > 0.6
    assert r["steps"] == 8 * (1437 // 32) and r["map_size"] == [8, 8] and 1 <= r["n_nodes"] <= 64
    assert [row["step"] for row in r["validation"]] == [100, 200, 300, 352]
    weights = torch.load(tmp_path / "autoencoder.pt", weights_only=True)
    assert weights["config"]["hidden"] == [256, 128] and weights["output"] == "sigmoid"
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == "somvae"


def test_the_learning_rate_decays_in_stairs(digits, monkeypatch):
    seen = []
    real = somvae.optimizer_step
    monkeypatch.setattr(somvae, "optimizer_step",
                        lambda opt, loss: seen.append(opt.param_groups[0]["lr"]) or real(opt, loss))
    run_trial(somvae.SOMVAE, digits, dict(TINY, lr=1.0, decay_steps=2, decay_factor=0.5), seed=0)
    assert seen == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])   # 1437 // 256 = 5 batches


def test_same_seed_same_result_and_another_seed_differs(digits):
    first = run_trial(somvae.SOMVAE, digits, TINY, seed=1)
    again = run_trial(somvae.SOMVAE, digits, TINY, seed=1)
    other = run_trial(somvae.SOMVAE, digits, TINY, seed=2)
    for key in ("nmi", "purity", "ami", "ari", "n_nodes", "validation"):
        assert again[key] == first[key], key
    assert [r["loss"] for r in other["validation"]] != [r["loss"] for r in first["validation"]]


def test_the_dec_architecture_trains(digits):
    r = run_trial(somvae.SOMVAE, digits, dict(epochs=1, batch_size=512, eval_every=1), seed=0)
    assert r["status"] == "complete" and r["steps"] == 2 and len(r["validation"]) == 2


def test_a_non_finite_loss_fails_the_trial(digits, tmp_path):
    bad = Dataset("digits", torch.full_like(digits.x_train, float("inf")), digits.y_train,
                  digits.x_test, digits.y_test)
    with pytest.raises(TrialFailed, match="diverged: loss is .* at step 0"):
        run_trial(somvae.SOMVAE, bad, TINY, seed=0, out_dir=tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_train_command(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--model", "somvae", "--epochs", "1", "--batch-size", "256",
               "--set", "arch=mlp", "--set", "map_rows=4", "--out", str(out), "--no-save-model"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "model somvae" in captured.out and "of 4x8" in captured.out
    assert "epoch 1/1: step 5" in captured.err
    assert (out / "metrics.json").is_file() and not (out / "autoencoder.pt").exists()


@pytest.mark.parametrize("args,needle", [
    (["--set", "decay_factor=0"], "decay_factor=0.0 is outside its domain: expected a float in (0, 1]"),
    (["--set", "gamma=1"], "unknown parameter 'gamma' of model 'somvae'"),
    (["--set", "arch=conv"], "arch='conv' is outside its domain: expected one of 'dec', 'mlp'"),
    (["--epochs", "0"], "epochs"),
])
def test_train_command_errors_name_the_parameter(args, needle, tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--model", "somvae", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
