"""``write_inspection``: the qualitative figures of one trained model and a page that reads them.

Loads a run directory (``dcsomrl.trainer.load_run``), reloads its data set
(the name recorded in metrics.json, through ``dcsomrl.data.load_dataset``),
computes each figure's data (:mod:`analysis.inspect.data`), draws it
(:mod:`analysis.inspect.plots`) and writes ``inspect.md``: every figure with
one line of reading, measured from the same data. Figures that need a
decoder are skipped, with a note, for ``--model somrl``; so is everything
that needs the encoded test set when the run saved no autoencoder.

Scales: images are drawn, and decoded changes measured, in the data's [0, 1]
scale (``load_dataset(..., scale01=True)``: pixel / 255 for MNIST, / 16 for
digits, min-max for files), the model's normalization undone by
:func:`analysis.inspect.data.affine_fit`; nearest samples (Fig. 10) are
nearest in the model's own input space, as in appendix A.4.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..markdown import markdown_table
from . import data as D
from . import plots

PAGE = "inspect.md"
VRANGE = (0.0, 1.0)  # grey scale of every image: the data's [0, 1] scale


def decoder_of(ae):
    """The autoencoder's decoder as a numpy function (N, m) -> (N, d), without gradients."""
    import torch

    def decode(z):
        with torch.no_grad():
            return ae.decode(torch.as_tensor(np.asarray(z, dtype=np.float32))).numpy()
    return decode


@dataclass
class TestSet:
    """The test set as the figures read it, with the map's clustering of it."""
    x: np.ndarray                     # (M, d) in the model's input scale
    show: Callable                    # rows in the model's input scale -> the data's [0, 1] scale
    y: np.ndarray                     # (M,) classes
    z: np.ndarray                     # (M, m) codes (the inputs themselves for --model somrl)
    table: np.ndarray                 # (C, K) samples per class and prototype row (A.3)
    shape: tuple[int, int] | None     # image shape; None for tabular data

    @property
    def majority(self) -> np.ndarray:
        """(K,) each prototype's most frequent class, -1 where it wins no sample."""
        return np.where(self.table.sum(0) > 0, self.table.argmax(0), -1)


def load_test_set(name: str, model: str, data_dir, som, ae, slots) -> TestSet:
    """Reload the run's data set, encode its test set and cluster it with the map."""
    from dcsomrl.data import load_dataset
    from dcsomrl.trainer import encode

    data = load_dataset(name, data_dir, scale01=(model == "somrl"))
    width = ae.input_dim if ae is not None else som.config.dim
    if data.x_test.shape[1] != width:
        raise ValueError(f"the run's model takes {width} features but data set {name!r} has "
                         f"{data.x_test.shape[1]}; pass the data it was trained on")
    # The [0, 1] view is a second read of the data for DC-SOMRL: dcsomrl.data does not expose its
    # normalization (digits: per pixel), so the display map is fitted between the two views.
    view = data if model == "somrl" else load_dataset(name, data_dir, scale01=True)
    every = max(1, len(data.x_train) // 5000)  # an affine map is fitted exactly by a few thousand rows
    a, b = D.affine_fit(data.x_train[::every].numpy(), view.x_train[::every].numpy())
    z = encode(ae, data.x_test)
    rows = np.searchsorted(slots, som.predict(z).numpy())
    y = data.y_test.numpy()
    return TestSet(x=data.x_test.numpy(), show=lambda r: np.asarray(r) * a + b, y=y, z=z.numpy(),
                   table=D.cluster_confusion(y, rows, len(slots)), shape=data.image_shape)


def write_inspection(run_dir, out_dir=None, data_dir=None, *, tsne_samples: int = 2000,
                     perplexity: float = 30.0, seed: int = 0, n_draws: int = 20,
                     sigma: float = 0.2) -> Path:
    """Write the figures of one run's model and ``inspect.md`` into ``out_dir``
    (default ``run_dir/inspect``); returns the page's path.

    ``tsne_samples``: test samples embedded by t-SNE (seeded subsample);
    ``n_draws`` and ``sigma``: random perturbations per prototype and their
    size for Fig. 3 (:func:`analysis.inspect.data.perturbation_effect`).
    Raises FileNotFoundError for a missing run directory or file and
    ValueError for an unusable one.
    """
    from dcsomrl.trainer import load_run, som_arrays

    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist")
    if tsne_samples < 1:
        raise ValueError(f"--tsne-samples must be at least 1, got {tsne_samples}")
    metrics, som, ae = load_run(run)
    if metrics.get("status") != "complete":
        raise ValueError(f"{run}: the trial's status is {metrics.get('status')!r}, not 'complete'")
    for key in ("dataset", "model"):
        if key not in metrics:
            raise ValueError(f"{run / 'metrics.json'} does not record the {key}")
    curve = D.validation_curve(run)
    out = Path(out_dir) if out_dir is not None else run / "inspect"
    out.mkdir(parents=True, exist_ok=True)

    model = metrics["model"]
    state = som_arrays(som)  # the active nodes as rows, edges as row indices (as som_state.npz)
    page = Page(run, metrics, *state["centers"].shape, seed=seed)
    fig_relevances(state, som.config.s, out, page)

    if model != "somrl" and ae is None:
        why = "the run saved no autoencoder.pt (--no-save-model)"
        page.skip("Effect of the relevances (Fig. 3) and latent traversal (Fig. 4)", why)
        page.skip("t-SNE (Fig. 5), nearest samples (Fig. 10) and clusters vs classes (A.3)",
                  why + ", so the test set cannot be encoded")
    else:
        test = load_test_set(metrics["dataset"], model, data_dir, som, ae, state["slots"])
        if test.shape is None:
            page.note("Tabular data: every 'image' below is one row of features drawn as a strip.")
        if ae is not None:
            decode_model = decoder_of(ae)
            protos = decode_model(state["centers"])  # decoded prototypes, model's input scale
            fig_perturbation(state, test, lambda z: test.show(decode_model(z)), out, page,
                             n_draws=n_draws, sigma=sigma, seed=seed)
        else:
            protos = state["centers"]  # the standalone SOMRL's prototypes are inputs already
            page.skip("Effect of the relevances (Fig. 3) and latent traversal (Fig. 4)",
                      "the standalone SOMRL (--model somrl) has no decoder: its prototypes live in the "
                      "input space, so there are no latent dimensions to disturb or sweep")
        fig_tsne(state, test, protos, out, page, n_samples=tsne_samples, perplexity=perplexity, seed=seed)
        fig_nearest(test, protos, out, page)
        fig_confusion(test, out, page)

    if curve.empty:
        page.skip("Validation curve (Fig. 7)", "validation_curve.csv has no rows")
    else:
        plots.plot_validation_curve(curve, out / "validation_curve.png")
        page.figure("Validation curve (Fig. 7)", "validation_curve.png", _read_curve(curve))
    return page.write(out / PAGE)


# ------------------------------------------------------------- one per figure
def fig_relevances(state: dict, s: float, out: Path, page: "Page") -> None:
    """Fig. 2; ``s`` is the map's relevance smoothness (eq. 6)."""
    hist = D.relevance_histogram(state["relevances"])
    plots.plot_relevance_histogram(hist, out / "relevances.png", ceiling=D.max_learned_relevance(s))
    page.figure("Learned relevances (Fig. 2)", "relevances.png",
                _read_histogram(hist, *state["centers"].shape, s))


def fig_perturbation(state: dict, test: TestSet, decode, out: Path, page: "Page", *,
                     n_draws: int, sigma: float, seed: int) -> None:
    """Figs. 3 and 4 on the prototype that wins most test samples (of those every case can disturb).

    Prototypes never updated (relevances all 1, :func:`analysis.inspect.data.untouched`)
    are left out: their relevances are a default, not learned. ``decode`` maps
    codes to images in the data's [0, 1] scale."""
    learned = np.flatnonzero(~D.untouched(state["relevances"]))
    if learned.size == 0:
        page.skip("Effect of the relevances (Fig. 3) and latent traversal (Fig. 4)",
                  "no prototype has learned relevances (all are 1: none was updated since insertion)")
        return
    c, w = state["centers"][learned], state["relevances"][learned]
    i = D.example_prototype(w, test.table.sum(0)[learned])
    row = int(learned[i])  # row among all prototypes, as in the other figures
    effect = D.perturbation_effect(decode, c, w, n_draws=n_draws, sigma=sigma, seed=seed)
    example = D.perturbed_example(decode, c[i], w[i], sigma=sigma, seed=seed)
    sens = D.dimension_sensitivity(decode, c, n_draws=max(1, n_draws // 2), sigma=sigma, seed=seed)
    rho = D.sensitivity_correlation(w, sens)
    effect.to_csv(out / "perturbation.csv", index=False)
    plots.plot_perturbation(example, effect, sens, w, out / "perturbation.png", test.shape, VRANGE,
                            node=row, rho=rho)
    left_out = len(state["centers"]) - learned.size
    page.figure("Effect of the relevances (Fig. 3)", "perturbation.png",
                _read_perturbation(effect, rho, decode(c), row, n_draws, sigma, left_out),
                table=effect)

    trav = D.latent_traversal(decode, c[i], w[i])
    plots.plot_traversal(trav, out / "traversal.png", test.shape, VRANGE, node=row)
    page.figure("Latent traversal (Fig. 4)", "traversal.png", _read_traversal(trav, row, test.majority))


def fig_tsne(state: dict, test: TestSet, protos, out: Path, page: "Page", **options) -> None:
    """Fig. 5, the decoded prototypes drawn at their places."""
    emb = D.tsne_map(test.z, test.y, state["centers"], state["edges"], **options)
    plots.plot_tsne(emb, out / "tsne.png", thumbnails=test.show(protos), shape=test.shape, vrange=VRANGE)
    page.figure("Latent space and topology (Fig. 5)", "tsne.png", _read_tsne(emb, test.majority))


def fig_nearest(test: TestSet, protos, out: Path, page: "Page") -> None:
    """Fig. 10: nearest in the model's input space; two prototypes per class shown."""
    index, _ = D.nearest_samples(protos, test.x, k=10)
    chosen = D.representatives(test.table, per_class=2)
    plots.plot_nearest(test.show(protos), test.show(test.x), index, chosen, out / "nearest.png",
                       test.shape, VRANGE, y=test.y, majority=test.majority)
    page.figure("Prototypes and their nearest test samples (Fig. 10)", "nearest.png",
                _read_nearest(index, test.y, test.majority, chosen))


def fig_confusion(test: TestSet, out: Path, page: "Page") -> None:
    """Appendix A.3, also written as confusion.csv (classes x prototype rows)."""
    K = test.table.shape[1]
    pd.DataFrame(test.table, columns=[f"node{j}" for j in range(K)]).rename_axis("class") \
        .to_csv(out / "confusion.csv")
    plots.plot_confusion(test.table, D.cluster_order(test.table), out / "confusion.png")
    page.figure("Clusters vs classes (appendix A.3)", "confusion.png", _read_confusion(test.table))


# ------------------------------------------------------------------ the page
class Page:
    """The Markdown page: a header, then one section per figure (or per skipped figure)."""

    def __init__(self, run: Path, metrics: dict, K: int, m: int, *, seed: int):
        p, nan = metrics.get("params", {}), float("nan")
        self.lines = [
            f"# Inspection of `{run}`", "",
            f"Data set **{metrics['dataset']}**, model **{metrics['model']}**, training seed "
            f"{metrics.get('seed')}, {p.get('epochs', '?')} epochs, a_t = {p.get('a_t', '?')}. "
            f"Test NMI {metrics.get('nmi', nan):.3f}, Purity {metrics.get('purity', nan):.3f}; {K} prototypes in {m} dimensions. "
            f"Inspection seed {seed} (`--seed`: the t-SNE subsample and embedding, the perturbations).", ""]

    def note(self, text: str) -> None:
        self.lines += [f"*{text}*", ""]

    def figure(self, title: str, png: str, reading: str, table: pd.DataFrame | None = None) -> None:
        self.lines += [f"## {title}", "", f"![{title}]({png})", "", reading, ""]
        if table is not None:
            self.lines += [markdown_table(table), ""]

    def skip(self, title: str, why: str) -> None:
        self.lines += [f"## {title}", "", f"*Skipped: {why}.*", ""]

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines))
        return path


# ------------------------------------------------------- one line per figure
def _read_histogram(h, K: int, m: int, s: float) -> str:
    line = (f"{h.share_high:.0%} of the {h.n_values} relevances ({K} prototypes x {m} dimensions) are "
            f"high (> 0.9), {h.share_moderate:.0%} moderate (0.5-0.9) and {h.share_low:.0%} low (< 0.5) "
            f"(paper: 35% high on MNIST; 30% high, 30% moderate on Fashion-MNIST). An updated node's "
            f"relevance stays below 1 / (1 + exp(-1/s)) = {D.max_learned_relevance(s):.3f} (s = {s:g})")
    if h.n_untouched == 0:
        return line + "; no prototype is still in its never-updated state (w = 1 everywhere)."
    return line + (f"; {h.n_untouched} prototypes still have w = 1 in every dimension (never updated since "
                   f"insertion); high values in updated prototypes: {h.share_high_learned:.1%} of all "
                   "relevances.")


def _read_perturbation(effect: pd.DataFrame, rho: float, proto_images, row: int,
                       n_draws: int, sigma: float, left_out: int) -> str:
    from scipy.spatial.distance import pdist

    by = effect.set_index("case")
    lo, hi = by.iloc[0], by.iloc[-1]
    spread = (float(np.mean(pdist(proto_images)) / np.sqrt(proto_images.shape[1]))
              if len(proto_images) > 1 else float("nan"))
    return (f"Top: node {row}, then disturbed (N(0, {sigma}^2) noise) only where its relevance is in the "
            f"named class. Measured over the {len(proto_images)} prototypes with learned relevances "
            f"({left_out} never updated left out) x {n_draws} draws (RMS change per "
            f"pixel, intensities in [0, 1]): disturbing `{by.index[0]}` changes the decoded image by "
            f"{lo['change']:.3f} ({lo['change_per_dim']:.3f} per perturbed dimension), `{by.index[-1]}` by "
            f"{hi['change']:.3f} ({hi['change_per_dim']:.3f} per dimension); two decoded prototypes differ "
            f"by {spread:.3f} on average. One dimension at a time, change and relevance have Spearman "
            f"rho = {rho:.2f} (> 0: relevant dimensions matter more).")


def _read_traversal(trav: dict, row: int, majority) -> str:
    ends = D.rms(trav["images"][-1] - trav["images"][0])
    cls = f" (majority class {majority[row]})" if majority[row] >= 0 else ""
    why = {"high": "of its dimensions with relevance > 0.9, the one whose sweep changes the image most",
           "most relevant": "its most relevant dimension; none has relevance > 0.9",
           "given": "chosen by the caller"}[trav["chosen"]]
    return (f"Node {row}{cls}, latent dimension {trav['dim']} (relevance {trav['relevance']:.2f}: {why}) "
            f"set from 0 to 1: the decoded image changes by {ends:.3f} (RMS per pixel) between the ends.")


def _read_tsne(emb: dict, majority) -> str:
    e = emb["edges"]
    known = [(i, j) for i, j in e if majority[i] >= 0 and majority[j] >= 0]
    head = (f"{len(emb['labels'])} test samples and {len(emb['prototypes'])} prototypes embedded jointly "
            f"(perplexity {emb['perplexity']:.0f}); ")
    if not known:
        return head + f"topology edges (red): {len(e)}, none between two prototypes that win test samples."
    same = np.mean([majority[i] == majority[j] for i, j in known])
    return head + (f"topology edges (red): {len(e)}; {same:.0%} of those between prototypes that win test "
                   f"samples join two of the same majority class.")


def _read_nearest(index, y, majority, chosen) -> str:
    def share(rows):
        rows = [r for r in rows if majority[r] >= 0]
        return np.mean(y[index[rows]] == majority[rows, None]) if rows else float("nan")
    return (f"{share(chosen):.0%} of the nearest test samples of the {len(chosen)} prototypes shown (the two "
            f"largest clusters of each class) have the prototype's majority class; over all "
            f"prototypes {share(range(len(majority))):.0%} (nearest: Euclidean distance in the input "
            "space to the prototype, decoded for DC-SOMRL, as in appendix A.4).")


def _read_confusion(table) -> str:
    size = table.sum(0)
    used = size > 0
    purity = table.max(0).sum() / size.sum()
    per_class = np.bincount(table.argmax(0)[used], minlength=table.shape[0])
    orphan = [str(c) for c in np.flatnonzero((per_class == 0) & (table.sum(1) > 0))]
    return (f"{int(used.sum())} of {table.shape[1]} clusters win test samples; purity {purity:.3f}; each "
            f"class is the majority of {int(per_class.min())}-{int(per_class.max())} clusters (median "
            f"{np.median(per_class):.0f}); classes that are no cluster's majority: "
            f"{', '.join(orphan) if orphan else 'none'}.")


def _read_curve(curve: pd.DataFrame) -> str:
    last = curve.iloc[-1]
    s90 = D.first_step_reaching(curve, "nmi", 0.9)
    return (f"At the last step ({int(last['step'])}) validation NMI is {last['nmi']:.3f} and Purity "
            f"{last['purity']:.3f}; NMI first reaches 90% of that at step {s90} "
            f"({s90 / last['step']:.0%} of training).")
