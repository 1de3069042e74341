"""The DC-SOMRL trainer on the embedded digits data (SPEC 4)."""
import json

import numpy as np
import pytest
import torch

from dcsomrl.data import load_dataset
from dcsomrl.run import TrialFailed, run_trial
from dcsomrl.trainer import DCSOMRL, SOMRL_ALONE, encode, load_run

FAST = dict(epochs=2, eval_every=5)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def finished(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return run_trial(DCSOMRL, digits, FAST, seed=3, out_dir=out), out


def test_same_seed_same_result_and_another_seed_differs(digits, finished):
    first, _ = finished
    again = run_trial(DCSOMRL, digits, FAST, seed=3)
    other = run_trial(DCSOMRL, digits, FAST, seed=4)
    for key in ("nmi", "purity", "n_nodes"):
        assert again[key] == first[key]
    assert again["validation"] == first["validation"]
    assert (other["nmi"], other["n_nodes"]) != (first["nmi"], first["n_nodes"])


def test_the_validation_set_is_the_same_for_every_seed(digits, monkeypatch):
    from dcsomrl import run

    drawn, draw = [], run.validation_indices
    monkeypatch.setattr(run, "validation_indices", lambda *a, **k: drawn.append(draw(*a, **k)) or drawn[-1])
    for seed in (1, 2):
        run_trial(DCSOMRL, digits, dict(epochs=1, eval_every=1000), seed=seed)
    assert len(drawn) == 2 and torch.equal(drawn[0], drawn[1]) and len(drawn[0]) == 100


def test_metrics_record_every_parameter_and_the_run(finished):
    record, out = finished
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["status"] == "complete"
    for key in ("nmi", "purity", "n_nodes", "seconds", "seed", "device", "host"):
        assert key in saved
    assert saved["seed"] == 3 and saved["device"] == "cpu"
    assert saved["params"]["epochs"] == 2 and saved["params"]["a_t"] == 0.99  # digits default
    assert 0 < saved["nmi"] <= 1 and 0 < saved["purity"] <= 1 and saved["n_nodes"] >= 1


def test_validation_curve_every_k_steps(finished, digits):
    record, out = finished
    steps_per_epoch = -(-digits.x_train.shape[0] // 64)
    lines = (out / "validation_curve.csv").read_text().splitlines()
    assert lines[0] == "step,epoch,nmi,purity,ami,ari,n_nodes,loss"
    steps = [int(line.split(",")[0]) for line in lines[1:]]
    assert steps[:3] == [5, 10, 15] and steps[-1] == 2 * steps_per_epoch
    assert len(record["validation"]) == len(steps)


def test_saved_map_and_autoencoder_reload_to_the_same_clustering(finished, digits):
    record, out = finished
    metrics, som, ae = load_run(out)
    assert metrics["nmi"] == record["nmi"]
    assert som.n_active == record["n_nodes"]
    state = np.load(out / "som_state.npz")
    assert state["centers"].shape == (record["n_nodes"], 10)
    assert np.allclose(state["centers"], som.centers[som.active].numpy())
    # edges are row indices into the saved arrays and equal the map's topology
    slots = state["slots"]
    assert {tuple(slots[e]) for e in state["edges"]} == {tuple(p) for p in som.topology().tolist()}
    from dcsomrl.metrics import nmi
    pred = som.predict(encode(ae, digits.x_test))
    assert nmi(digits.y_test, pred) == pytest.approx(record["nmi"])


def test_no_save_model_leaves_out_the_autoencoder(digits, tmp_path):
    run_trial(DCSOMRL, digits, dict(epochs=1), seed=0, out_dir=tmp_path, save_model=False)
    assert (tmp_path / "som.pt").is_file() and not (tmp_path / "autoencoder.pt").exists()


def test_a_short_digits_run_reaches_a_sensible_nmi(digits):
    # seeds 0-4 gave NMI 0.54-0.60, Purity 0.71-0.76 (one thread); a random assignment to ~50
    # clusters scores NMI ~0.2. The margin absorbs another CPU's rounding.
    r = run_trial(DCSOMRL, digits, dict(epochs=6), seed=0)
    assert r["nmi"] > 0.45 and r["purity"] > 0.6, r
    assert 10 <= r["n_nodes"] <= 100


def test_standalone_somrl_clusters_tabular_data_in_01():
    data = load_dataset("digits", scale01=True)
    r = run_trial(SOMRL_ALONE, data, dict(epochs=3, a_t=0.95), seed=0)
    assert r["params"]["dim"] == 64
    assert r["nmi"] > 0.6 and r["purity"] > 0.8 and r["n_nodes"] >= 10, r


@pytest.mark.parametrize("hp,why", [(dict(ae_lr=1e6), "loss is inf"),
                                    (dict(ae_lr=1e12), "latent codes are not finite")])
def test_a_diverging_trial_is_a_failure_with_its_reason(digits, tmp_path, hp, why):
    with pytest.raises(TrialFailed, match=why) as err:
        run_trial(DCSOMRL, digits, dict(epochs=1, **hp), seed=0, out_dir=tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["status"] == "failed" and saved["reason"] == err.value.reason
    assert "nmi" not in saved


def test_data_stay_on_the_trial_device_and_batches_are_seeded(digits, monkeypatch):
    seen = []
    from dcsomrl import trainer
    real = trainer.train_step

    def spy(som, ae, opt, xb, alpha, *rest):
        seen.append(xb[:, 0].clone())
        return real(som, ae, opt, xb, alpha, *rest)

    monkeypatch.setattr(trainer, "train_step", spy)
    run_trial(DCSOMRL, digits, dict(epochs=1), seed=7)
    first = torch.cat(seen)
    seen.clear()
    run_trial(DCSOMRL, digits, dict(epochs=1), seed=7)
    assert torch.equal(first, torch.cat(seen))
    assert first.shape[0] == digits.x_train.shape[0]  # every sample once per epoch


def test_dataset_names_are_canonical_in_any_case(tmp_path):
    from dcsomrl.data import DataError, canonical_name, dataset_stem
    assert canonical_name("MNIST") == "mnist" and canonical_name(" Fashion-MNIST ") == "fashion-mnist"
    f = tmp_path / "My_Data.csv"
    f.write_text("a,label\n0,1\n")
    assert canonical_name(str(f)) == str(f) and dataset_stem(str(f)) == "My_Data"
    with pytest.raises(DataError, match="unknown dataset 'mnsit'"):
        canonical_name("mnsit")
    r = run_trial(DCSOMRL, "Digits", dict(epochs=1), seed=0)
    assert r["dataset"] == "digits" and r["params"]["batch_size"] == 64  # the digits defaults


def test_a_reused_run_directory_keeps_no_file_of_the_earlier_run(digits, tmp_path):
    run_trial(DCSOMRL, digits, dict(epochs=1), seed=0, out_dir=tmp_path)
    assert (tmp_path / "autoencoder.pt").is_file()
    run_trial(DCSOMRL, digits, dict(epochs=1, dim=5), seed=0, out_dir=tmp_path, save_model=False)
    assert not (tmp_path / "autoencoder.pt").exists()
    _, som, ae = load_run(tmp_path)
    assert som.config.dim == 5 and ae is None


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_bad_seed_is_refused_before_anything_is_written(digits, tmp_path, seed):
    from dcsomrl.params import ParameterError
    with pytest.raises(ParameterError, match="seed"):
        run_trial(DCSOMRL, digits, dict(epochs=1), seed=seed, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_reconstruction_loss_is_eq7_a_sum_over_input_dimensions():
    """Eq. 7: L_r = ||x - x_hat||^2 summed over the d input dimensions, averaged over the batch;
    "mean" (before eq. 7) divides it by d."""
    from dcsomrl.trainer import reconstruction_loss

    x = torch.zeros(2, 4, dtype=torch.float64)
    x_hat = torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    assert reconstruction_loss(x_hat, x).item() == (2.0 + 4.0) / 2           # per sample sums, batch mean
    assert reconstruction_loss(x_hat, x, "mean").item() == (2.0 + 4.0) / 8   # per-pixel mean
    assert reconstruction_loss(x_hat, x).item() == 4 * reconstruction_loss(x_hat, x, "mean").item()


def test_trials_train_with_eq7_unless_told_and_record_it(digits):
    """The default is eq. 7 (recon "sum"), recorded in the run's params; "mean" is another run."""
    eq7 = run_trial(DCSOMRL, digits, dict(epochs=1), seed=3)
    old = run_trial(DCSOMRL, digits, dict(epochs=1, recon="mean"), seed=3)
    assert eq7["params"]["recon"] == "sum" and old["params"]["recon"] == "mean"
    assert eq7["matmul_precision"] == "float32"  # no global setting asked for TF32/bf16 here
    assert eq7["validation"][-1]["loss"] != old["validation"][-1]["loss"]
    # Adam is invariant to the loss's overall scale: eq. 7 with alpha x d trains as the mean with alpha
    scaled = run_trial(DCSOMRL, digits, dict(epochs=1, alpha=0.1 * 64), seed=3)
    mean = run_trial(DCSOMRL, digits, dict(epochs=1, alpha=0.1, recon="mean"), seed=3)
    first, ref = scaled["validation"][0]["loss"] / 64, mean["validation"][0]["loss"]
    assert abs(first - ref) < 1e-2 * ref  # (up to Adam's eps and float rounding)
