"""Tests of ``dcsomrl-study inspect``: each figure's data on planted models, then the page on real runs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from analysis.inspect import data as D
from analysis.inspect.page import header_lines
from analysis.inspect.report import write_inspection

# A planted latent space of m = 8 dimensions whose relevances cover every case of Fig. 3:
# w < 0.3: dims 0, 1; w < 0.4: + dim 2; w < 0.5: + dim 3; w > 0.6: dims 5, 6, 7.
W = np.array([0.1, 0.2, 0.35, 0.45, 0.55, 0.7, 0.95, 0.99])


@pytest.fixture(autouse=True)
def one_thread():
    """t-SNE's OpenMP threads crawl on a shared machine; one thread is several times faster here."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        yield


def planted(K: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.2, 0.8, (K, len(W))).astype(np.float32)
    return centers, np.tile(W, (K, 1))


def high_only_decoder(z):
    """A decoder whose output depends only on the dimensions with relevance > 0.9 (6 and 7)."""
    z = np.asarray(z)
    B = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]])
    return z[:, 6:8] @ B


def scaled_decoder(gain):
    """dec(z) = z * gain: dimension i moves only output i, by gain_i per unit."""
    return lambda z: np.asarray(z) * gain


# ------------------------------------------------------------------ display scale
def test_affine_fit_undoes_a_per_pixel_standardization():
    rng = np.random.default_rng(0)
    x01 = rng.uniform(size=(300, 6))
    x01[:, 5] = 0.25                                   # a constant pixel
    mean, std = x01.mean(0), np.where(x01.std(0) > 0, x01.std(0), 1.0)
    a, b = D.affine_fit((x01 - mean) / std, x01)
    assert np.allclose(((x01 - mean) / std) * a + b, x01)
    assert a[5] == 0 and b[5] == pytest.approx(0.25)


# ------------------------------------------------------------------ Fig. 2
def test_relevance_histogram_shares_and_counts():
    w = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.85, 0.91, 0.95, 1.0]])
    h = D.relevance_histogram(w, bins=10)
    assert h.n_values == 10 and h.counts.sum() == 10
    assert h.share_high == pytest.approx(0.3)      # 0.91, 0.95, 1.0
    assert h.share_moderate == pytest.approx(0.3)  # 0.5, 0.6, 0.85
    assert h.share_low == pytest.approx(0.4)
    assert h.counts[-1] == 3 and h.edges[0] == 0 and h.edges[-1] == 1


def test_untouched_prototypes_and_the_ceiling_of_learned_relevances():
    from dcsomrl.terms import relevances_from_distances
    d = torch.rand(200, 10)
    d[:3] = 0.0                                      # three nodes never updated: flat distances
    w = relevances_from_distances(d, s=0.426).numpy()
    assert list(np.flatnonzero(D.untouched(w))) == [0, 1, 2]
    assert w[3:].max() < D.max_learned_relevance(0.426) == pytest.approx(0.9127, abs=1e-4)
    # The extreme: one distance at the minimum, the other m - 1 at the maximum, so
    # w = sigmoid((1 - 1/m) / s), which tends to the ceiling as m grows.
    for m in (10, 1000):
        extreme = torch.tensor([[0.0] + [1.0] * (m - 1)])
        top = float(relevances_from_distances(extreme, s=0.426).max())
        assert top == pytest.approx(1 / (1 + np.exp(-(1 - 1 / m) / 0.426)), rel=1e-5)
        assert top < D.max_learned_relevance(0.426)
    assert top == pytest.approx(D.max_learned_relevance(0.426), abs=1e-3)
    h = D.relevance_histogram(w)
    assert h.n_untouched == 3 and h.share_high == pytest.approx(30 / 2000) and h.share_high_learned == 0


def test_relevance_histogram_rejects_an_empty_map():
    with pytest.raises(ValueError, match="no prototypes"):
        D.relevance_histogram(np.zeros((0, 4)))


# ------------------------------------------------------------------ Fig. 3
def test_low_relevance_dimensions_do_not_move_a_decoder_that_ignores_them():
    centers, w = planted()
    effect = D.perturbation_effect(high_only_decoder, centers, w, n_draws=30, seed=1)
    assert list(effect["case"]) == ["w < 0.3", "w < 0.4", "w < 0.5", "w > 0.6"]
    assert list(effect["mean_dims"]) == [2, 3, 4, 3]
    assert np.allclose(effect["change"][:3], 0.0)
    assert effect["change"].iloc[3] > 0.1


def test_perturbation_numbers_order_as_the_relevances_when_the_decoder_weighs_them():
    # Output i moves by w_i per unit of z_i: every case strictly above the one before.
    centers, w = planted()
    effect = D.perturbation_effect(scaled_decoder(W), centers, w, n_draws=400, sigma=0.2, seed=2)
    assert np.all(np.diff(effect["change"]) > 0)
    assert np.all(np.diff(effect["change_per_dim"]) > 0)
    # E[change^2] / |S| = sigma^2 / d * mean_{i in S} w_i^2 for this diagonal decoder.
    for (_, how, t), got in zip(D.CASES, effect["change_per_dim"]):
        expected = 0.2 * np.sqrt(np.mean(W[D.case_mask(W, how, t)] ** 2) / len(W))
        assert got == pytest.approx(expected, rel=0.05)


def test_change_per_dim_removes_the_number_of_perturbed_dimensions():
    # Every dimension equally important, each prototype its own relevance order:
    # the raw change grows with the number of dimensions, the per-dimension one does not.
    centers, _ = planted(K=6)
    rng = np.random.default_rng(3)
    w = np.stack([rng.permutation(W) for _ in range(6)])
    effect = D.perturbation_effect(scaled_decoder(np.ones(8)), centers, w, n_draws=400, sigma=0.2, seed=4)
    assert effect["change"].iloc[2] > effect["change"].iloc[0] * 1.2   # 4 dims vs 2
    assert np.allclose(effect["change_per_dim"], 0.2 / np.sqrt(8), rtol=0.05)


def test_a_case_without_dimensions_is_reported_empty_not_zero():
    centers = np.full((3, 4), 0.5, dtype=np.float32)
    w = np.full((3, 4), 0.95)  # nothing below 0.5
    effect = D.perturbation_effect(scaled_decoder(np.ones(4)), centers, w, n_draws=5)
    assert list(effect["n_prototypes"]) == [0, 0, 0, 3]
    assert effect["change"][:3].isna().all() and effect["change"].iloc[3] > 0


def test_perturbed_example_row():
    centers, w = planted()
    ex = D.perturbed_example(high_only_decoder, centers[0], w[0], seed=5)
    assert ex["labels"][0] == "prototype" and ex["n_dims"] == [0, 2, 3, 4, 3]
    assert np.allclose(ex["images"][0], high_only_decoder(centers[:1])[0])
    assert np.allclose(ex["change"][:4], 0.0) and ex["change"][4] > 0


def test_dimension_sensitivity_finds_the_dimensions_the_decoder_uses():
    centers, _ = planted()
    s = D.dimension_sensitivity(high_only_decoder, centers, n_draws=5, seed=6)
    assert s.shape == centers.shape
    assert np.allclose(s[:, :6], 0.0) and np.all(s[:, 6:] > 0)
    s = D.dimension_sensitivity(scaled_decoder(W), centers, n_draws=2000, sigma=0.2, seed=7)
    assert np.allclose(s, 0.2 * W / np.sqrt(8), rtol=0.1)


def test_sensitivity_correlation_sign():
    w = np.array([[0.1, 0.5, 0.9], [0.2, 0.6, 0.8]])
    assert D.sensitivity_correlation(w, 2 * w) == pytest.approx(1.0)
    assert D.sensitivity_correlation(w, -w) == pytest.approx(-1.0)
    assert np.isnan(D.sensitivity_correlation(w, np.ones_like(w)))


def test_example_prototype_prefers_covered_cases_then_wins():
    w = np.array([[0.95] * 4, [0.1, 0.35, 0.45, 0.8], [0.2, 0.3, 0.45, 0.7]])
    assert D.example_prototype(w, counts=[100, 5, 7]) == 2   # row 0 has no low dimension
    assert D.example_prototype(w[:1], counts=[3]) == 0       # none covers every case


# ------------------------------------------------------------------ Fig. 4
def test_latent_traversal_sweeps_the_relevant_dimension_that_matters():
    centers, w = planted()
    tr = D.latent_traversal(high_only_decoder, centers[1], w[1], n_steps=5)
    assert tr["dim"] == 7 and tr["chosen"] == "high"  # dim 7's output weights are larger than dim 6's
    assert tr["relevance"] == pytest.approx(0.99)
    codes = np.repeat(centers[1][None], 5, axis=0)
    codes[:, 7] = [0, 0.25, 0.5, 0.75, 1]
    assert np.allclose(tr["images"], high_only_decoder(codes), atol=1e-6)
    tr = D.latent_traversal(high_only_decoder, centers[1], np.full(8, 0.5) + 0.01 * np.arange(8))
    assert tr["dim"] == 7 and tr["chosen"] == "most relevant"


# ------------------------------------------------------------------ Fig. 5
def test_tsne_map_embeds_prototypes_with_their_samples():
    rng = np.random.default_rng(0)
    means = np.array([[0.1] * 5, [0.5] * 5, [0.9] * 5])
    labels = np.repeat([0, 1, 2], 40)
    z = means[labels] + rng.normal(0, 0.03, (120, 5))
    edges = np.array([[0, 1], [1, 2]])
    emb = D.tsne_map(z, labels, means, edges, n_samples=90, perplexity=10, seed=3)
    assert emb["samples"].shape == (90, 2) and emb["prototypes"].shape == (3, 2)
    assert len(np.unique(emb["index"])) == 90 and np.array_equal(emb["labels"], labels[emb["index"]])
    assert np.array_equal(emb["edges"], edges)
    for k in range(3):  # each prototype lands among its own class's samples
        nearest = np.argsort(np.linalg.norm(emb["samples"] - emb["prototypes"][k], axis=1))[:5]
        assert np.all(emb["labels"][nearest] == k)
    again = D.tsne_map(z, labels, means, edges, n_samples=90, perplexity=10, seed=3)
    assert np.allclose(again["samples"], emb["samples"])


def test_subsample_is_seeded_and_bounded():
    assert np.array_equal(D.subsample(10, 50, seed=0), np.arange(10))
    a, b = D.subsample(1000, 20, seed=1), D.subsample(1000, 20, seed=1)
    assert np.array_equal(a, b) and len(set(a)) == 20 and np.all(np.diff(a) > 0)


# ------------------------------------------------------------------ Fig. 10, A.3
def test_nearest_samples_are_the_nearest():
    rng = np.random.default_rng(1)
    x, protos = rng.normal(size=(200, 16)), rng.normal(size=(5, 16))
    idx, dist = D.nearest_samples(protos, x, k=10)
    full = np.linalg.norm(protos[:, None] - x[None], axis=2)
    assert np.array_equal(idx, np.argsort(full, axis=1)[:, :10])
    assert np.allclose(dist, np.sort(full, axis=1)[:, :10])


def test_cluster_confusion_counts_every_sample_once():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    rows = np.array([0, 0, 1, 1, 0, 3, 3, 3])
    t = D.cluster_confusion(y, rows, n_clusters=5)
    assert t.shape == (3, 5) and t.sum() == len(y)
    assert np.array_equal(t.sum(1), np.bincount(y)) and np.array_equal(t.sum(0), np.bincount(rows, minlength=5))
    assert t[0, 0] == 2 and t[2, 3] == 2 and t[:, 2].sum() == 0 and t[:, 4].sum() == 0
    order = D.cluster_order(t)
    assert list(order[:3]) == [0, 1, 3] and set(order[3:]) == {2, 4}  # empty clusters last
    assert D.representatives(t, per_class=2) == [0, 1, 3]


# ------------------------------------------------------------------ Fig. 7
def test_first_step_reaching():
    import pandas as pd
    curve = pd.DataFrame(dict(step=[10, 20, 30, 40], nmi=[0.1, 0.5, 0.46, 0.5], purity=[0.2] * 4))
    assert D.first_step_reaching(curve, "nmi", 0.9) == 20
    assert D.first_step_reaching(curve.iloc[:0], "nmi") is None


# ------------------------------------------------------------------ real runs
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from dcsomrl.run import run_trial
    from dcsomrl.trainer import DCSOMRL
    out = tmp_path_factory.mktemp("digits_run")
    metrics = run_trial(DCSOMRL, "digits", dict(epochs=2), seed=0, out_dir=out)
    return out, metrics


@pytest.mark.slow
def test_drawn_edges_are_the_maps_topology(digits_run):
    from dcsomrl.trainer import load_run, som_arrays
    run, _ = digits_run
    _, som, _ = load_run(run)
    state = som_arrays(som)  # what write_inspection draws
    saved = np.load(run / "som_state.npz")
    assert np.array_equal(state["edges"], saved["edges"]) and np.array_equal(state["slots"], saved["slots"])
    assert np.array_equal(state["slots"][state["edges"]], som.topology().numpy())
    assert len(state["edges"]) > 0  # the test would prove nothing on an edgeless map
    z = np.random.default_rng(0).uniform(size=(40, som.config.dim))
    emb = D.tsne_map(z, np.zeros(40, dtype=int), state["centers"], state["edges"], perplexity=5)
    assert np.array_equal(emb["edges"], state["edges"])  # what plot_tsne draws


@pytest.mark.slow
def test_inspect_digits_run_writes_every_figure_and_page(digits_run, tmp_path):
    run, metrics = digits_run
    page = write_inspection(run, tmp_path / "insp", tsne_samples=150, n_draws=4)
    out = page.parent
    for png in ("relevances", "perturbation", "traversal", "tsne", "nearest", "confusion", "validation_curve"):
        assert (out / f"{png}.png").stat().st_size > 1000
    text = page.read_text()
    assert text.count("![") == 7 and "Skipped" not in text
    assert f"{metrics['n_nodes']} prototypes" in text
    import pandas as pd
    confusion = pd.read_csv(out / "confusion.csv", index_col="class")
    assert confusion.to_numpy().sum() == 360 and confusion.shape[1] == metrics["n_nodes"]  # digits test set
    effect = pd.read_csv(out / "perturbation.csv")
    assert list(effect["case"]) == [c for c, _, _ in D.CASES] and (effect["change"].dropna() > 0).all()
    curve = D.validation_curve(run)
    assert list(curve["step"]) == [r["step"] for r in metrics["validation"]]


@pytest.mark.slow
def test_run_without_autoencoder_degrades_to_the_maps_own_figures(digits_run, tmp_path):
    run = tmp_path / "no_ae"
    shutil.copytree(digits_run[0], run)
    (run / "autoencoder.pt").unlink()
    text = write_inspection(run).read_text()  # default out: RUN_DIR/inspect
    assert (run / "inspect" / "relevances.png").is_file() and (run / "inspect" / "validation_curve.png").is_file()
    assert not (run / "inspect" / "tsne.png").exists()
    assert text.count("Skipped: the run saved no autoencoder.pt") == 2


@pytest.mark.slow
def test_standalone_somrl_skips_the_decoder_figures(tmp_path):
    from dcsomrl.run import run_trial
    from dcsomrl.trainer import SOMRL_ALONE
    run_trial(SOMRL_ALONE, "digits", dict(epochs=1), seed=0, out_dir=tmp_path / "run")
    page = write_inspection(tmp_path / "run", tsne_samples=100, n_draws=2)
    text = page.read_text()
    assert "Skipped: the standalone SOMRL" in text and not (page.parent / "perturbation.png").exists()
    for png in ("relevances", "tsne", "nearest", "confusion", "validation_curve"):
        assert (page.parent / f"{png}.png").is_file()


@pytest.mark.slow
def test_tabular_data_are_drawn_as_strips(tmp_path):
    from dcsomrl.run import run_trial
    from dcsomrl.trainer import DCSOMRL
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    x = rng.normal(size=(3, 6))[y] + rng.normal(0, 0.2, (180, 6))
    np.savez(tmp_path / "blobs.npz", x=x, y=y)
    run_trial(DCSOMRL, str(tmp_path / "blobs.npz"), dict(epochs=1, batch_size=32), seed=0, out_dir=tmp_path / "run")
    text = write_inspection(tmp_path / "run", tsne_samples=100, n_draws=2).read_text()
    assert "Tabular data" in text and text.count("![") == 7


def test_page_header_records_both_seeds(tmp_path):
    metrics = dict(dataset="digits", model="dcsomrl", seed=1, nmi=0.5, purity=0.6, params=dict(epochs=2, a_t=0.99))
    header = "\n".join(header_lines(tmp_path, metrics, 12, 8, seed=3))
    assert "training seed 1" in header and "Inspection seed 3" in header and "12 prototypes in 8" in header


def test_bad_run_directories_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_inspection(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="not a finished run directory"):
        write_inspection(tmp_path)
    with pytest.raises(FileNotFoundError, match="validation_curve.csv is missing"):
        D.validation_curve(tmp_path)


def test_cli_prints_one_line_and_exits_2_on_a_bad_run_dir(tmp_path, capsys):
    from dcsomrl_study.cli import main
    assert main(["inspect", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dcsomrl-study: error:") and "nowhere" in err and "\n" not in err


@pytest.mark.slow
def test_cli_inspect_writes_the_page(digits_run, tmp_path, capsys):
    from dcsomrl_study.cli import main
    assert main(["inspect", str(digits_run[0]), "--out", str(tmp_path / "o"), "--tsne-samples", "120",
                 "--seed", "3"]) == 0
    assert "inspection page:" in capsys.readouterr().out
    assert "Inspection seed 3" in (tmp_path / "o" / "inspect.md").read_text()
