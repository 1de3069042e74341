"""One trained model's inspection as data: every figure's data, computed once (seeded).

:func:`load_inspection` reads a run directory (``dcsomrl.trainer.load_run``),
reloads its data set (the name recorded in metrics.json, through
``dcsomrl.data.load_dataset``) and encodes its test set (:func:`load_test_set`);
:func:`inspection` then computes each figure's data from plain arrays and a
``decode`` function (:mod:`analysis.inspect.data`) into an :class:`Inspection`.
:mod:`analysis.inspect.page` reads it into ``inspect.md`` and
:mod:`analysis.inspect.report` draws and writes it.

Figures that need a decoder are skipped, with the reason, for ``--model somrl``;
so is everything that needs the encoded test set when the run saved no autoencoder.

Scales: images are drawn, and decoded changes measured, in the data's [0, 1]
scale (``load_dataset(..., scale01=True)``: pixel / 255 for MNIST, / 16 for
digits, min-max for files), the model's normalization undone by
:func:`analysis.inspect.data.affine_fit`; nearest samples (Fig. 10) are
nearest in the model's own input space, as in appendix A.4.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import pdist

from dcsomrl.data import load_dataset
from dcsomrl.trainer import encode, load_run, som_arrays

from . import data as D

#: Why the figures of the test set are skipped for a run without its autoencoder.
NO_AUTOENCODER = "the run saved no autoencoder.pt (--no-save-model)"
#: Why Figs. 3 and 4 are skipped for the standalone SOMRL.
NO_DECODER = ("the standalone SOMRL (--model somrl) has no decoder: its prototypes live in the "
              "input space, so there are no latent dimensions to disturb or sweep")
#: Why Figs. 3 and 4 are skipped when no prototype was updated.
NO_LEARNED = "no prototype has learned relevances (all are 1: none was updated since insertion)"


def decoder_of(ae) -> D.Decoder:
    """The autoencoder's decoder as a numpy function (N, m) -> (N, d), without gradients."""
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


@dataclass(frozen=True)
class Perturbation:
    """Figs. 3 and 4 on one prototype: the one that wins most test samples of those every case can disturb.

    Prototypes never updated (relevances all 1, :func:`analysis.inspect.data.untouched`) are left out:
    their relevances are a default, not learned. Changes are in the data's [0, 1] scale."""
    row: int                  # the prototype's row among all prototypes
    effect: pd.DataFrame      # D.perturbation_effect over the L learned prototypes (perturbation.csv)
    example: dict             # D.perturbed_example of the row
    sensitivity: np.ndarray   # (L, m) D.dimension_sensitivity
    relevances: np.ndarray    # (L, m) the learned prototypes' relevances
    rho: float                # D.sensitivity_correlation of relevances and sensitivity
    n_learned: int            # L
    left_out: int             # never-updated prototypes left out
    spread: float             # mean RMS distance per pixel between two decoded learned prototypes; NaN if L < 2
    traversal: dict           # D.latent_traversal of the row
    n_draws: int
    sigma: float


def perturbation(state: dict, test: TestSet, decode: D.Decoder, *, n_draws: int, sigma: float,
                 seed: int) -> Perturbation | None:
    """Figs. 3 and 4 (:class:`Perturbation`); ``decode`` maps codes to images in the data's [0, 1] scale.
    None when no prototype has learned relevances."""
    learned = np.flatnonzero(~D.untouched(state["relevances"]))
    if learned.size == 0:
        return None
    c, w = state["centers"][learned], state["relevances"][learned]
    i = D.example_prototype(w, test.table.sum(0)[learned])
    effect = D.perturbation_effect(decode, c, w, n_draws=n_draws, sigma=sigma, seed=seed)
    example = D.perturbed_example(decode, c[i], w[i], sigma=sigma, seed=seed)
    sens = D.dimension_sensitivity(decode, c, n_draws=max(1, n_draws // 2), sigma=sigma, seed=seed)
    images = decode(c)
    spread = float(np.mean(pdist(images)) / np.sqrt(images.shape[1])) if len(images) > 1 else float("nan")
    return Perturbation(int(learned[i]), effect, example, sens, w, D.sensitivity_correlation(w, sens),
                        len(images), len(state["centers"]) - learned.size, spread,
                        D.latent_traversal(decode, c[i], w[i]), n_draws, sigma)


@dataclass(frozen=True)
class Inspection:
    """Every figure's data of one run (:func:`inspection`); None where a figure is skipped, with the reason.

    ``state``: the map's active nodes (``dcsomrl.trainer.som_arrays``: centers and relevances (K, m),
    edges as row indices, slots); ``s``: its relevance smoothness (eq. 6); ``protos``: (K, d) the
    prototypes in the model's input space (decoded for DC-SOMRL, the centers for SOMRL); ``nearest``:
    (K, 10) each prototype's nearest test samples; ``chosen``: the prototypes Fig. 10 shows;
    ``order``: the clusters' order of the A.3 figure."""
    run: Path
    metrics: dict
    seed: int
    state: dict
    s: float
    histogram: D.RelevanceHistogram
    curve: pd.DataFrame
    test: TestSet | None = None
    no_test: str | None = None            # why the test set's figures are skipped
    protos: np.ndarray | None = None
    perturbation: Perturbation | None = None
    no_perturbation: str | None = None    # why Figs. 3 and 4 are skipped (with a test set)
    tsne: dict | None = None
    nearest: np.ndarray | None = None
    chosen: list[int] | None = None
    order: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(K, m): prototypes and their dimensions."""
        return self.state["centers"].shape


def inspection(run: Path, metrics: dict, state: dict, s: float, curve: pd.DataFrame, test: TestSet | None,
               decode: D.Decoder | None, *, tsne_samples: int = 2000, perplexity: float = 30.0, seed: int = 0,
               n_draws: int = 20, sigma: float = 0.2) -> Inspection:
    """Every figure's data (:class:`Inspection`) of a map ``state`` with its ``test`` set (None: the run
    saved no autoencoder) and ``decode`` (codes -> the model's input scale; None: no decoder, SOMRL)."""
    common = Inspection(run, metrics, seed, state, s, D.relevance_histogram(state["relevances"]), curve)
    if test is None:
        return replace(common, no_test=NO_AUTOENCODER)
    if decode is not None:
        protos = decode(state["centers"])  # decoded prototypes, model's input scale
        pert = perturbation(state, test, lambda z: test.show(decode(z)), n_draws=n_draws, sigma=sigma, seed=seed)
        why = None if pert is not None else NO_LEARNED
    else:
        protos, pert, why = state["centers"], None, NO_DECODER  # SOMRL's prototypes are inputs already
    emb = D.tsne_map(test.z, test.y, state["centers"], state["edges"], n_samples=tsne_samples,
                     perplexity=perplexity, seed=seed)
    index, _ = D.nearest_samples(protos, test.x, k=10)
    return replace(common, test=test, protos=protos, perturbation=pert, no_perturbation=why, tsne=emb,
                    nearest=index, chosen=D.representatives(test.table, per_class=2),
                    order=D.cluster_order(test.table))


def load_inspection(run_dir, data_dir=None, *, tsne_samples: int = 2000, perplexity: float = 30.0,
                    seed: int = 0, n_draws: int = 20, sigma: float = 0.2) -> Inspection:
    """Read the run directory and its data set, then :func:`inspection`. Raises FileNotFoundError for
    a missing run directory or file and ValueError for an unusable one."""
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
    state = som_arrays(som)  # the active nodes as rows, edges as row indices (as som_state.npz)
    model = metrics["model"]
    test = (None if model != "somrl" and ae is None
            else load_test_set(metrics["dataset"], model, data_dir, som, ae, state["slots"]))
    return inspection(run, metrics, state, som.config.s, curve, test, decoder_of(ae) if ae is not None else None,
                      tsne_samples=tsne_samples, perplexity=perplexity, seed=seed, n_draws=n_draws, sigma=sigma)
