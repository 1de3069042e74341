"""analysis.inspect.inspection: one model's inspection as data, on a planted map; the page renders only it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from analysis.inspect import data as D
from analysis.inspect.inspection import NO_AUTOENCODER, NO_DECODER, NO_LEARNED, inspection
from analysis.inspect.inspection import TestSet as Planted  # not "Test*": pytest would collect it
from analysis.inspect.page import render_page

W = np.array([0.1, 0.2, 0.35, 0.45, 0.55, 0.7, 0.95, 0.99])  # every case of Fig. 3 (as test_inspect)
K, M, N = 4, len(W), 40


def planted_state(relevances=None):
    rng = np.random.default_rng(0)
    return dict(centers=rng.uniform(0.2, 0.8, (K, M)).astype(np.float32),
                relevances=np.tile(W, (K, 1)) if relevances is None else relevances,
                edges=np.array([[0, 1], [1, 2], [2, 3]]), slots=np.arange(K))


def planted_test(state) -> Planted:
    """N samples around the K centers, sample i of class i % K and won by prototype i % K."""
    rng = np.random.default_rng(1)
    y = np.arange(N) % K
    z = state["centers"][y] + rng.normal(0, 0.01, (N, M)).astype(np.float32)
    return Planted(x=z, show=lambda r: np.asarray(r) * 0.5, y=y, z=z, table=D.cluster_confusion(y, y, K), shape=None)


def double(z):
    """A decoder: the code, doubled (d = m)."""
    return np.asarray(z) * 2.0


CURVE = pd.DataFrame(dict(step=[10, 20], nmi=[0.4, 0.5], purity=[0.5, 0.6]))
METRICS = dict(dataset="planted", model="dcsomrl", seed=0, nmi=0.5, purity=0.6)
OPTIONS = dict(tsne_samples=30, perplexity=5.0, seed=2, n_draws=3, sigma=0.2)


@pytest.fixture(scope="module")
def full():
    state = planted_state()
    with threadpool_limits(limits=1):
        return inspection(Path("run"), METRICS, state, 0.4, CURVE, planted_test(state), double, **OPTIONS)


def test_every_figure_has_its_data(full):
    assert full.shape == (K, M) and full.no_test is None and full.no_perturbation is None
    assert np.allclose(full.protos, 2 * full.state["centers"])  # decoded prototypes
    p = full.perturbation
    assert p.row == 0 and p.n_learned == K and p.left_out == 0  # every prototype wins 10 samples: the first
    assert (p.n_draws, p.sigma) == (3, 0.2)
    decode = lambda z: double(z) * 0.5  # what the figures measure: the decoder, shown in [0, 1]
    pd.testing.assert_frame_equal(p.effect, D.perturbation_effect(decode, full.state["centers"], W[None].repeat(K, 0),
                                                                  n_draws=3, sigma=0.2, seed=2))
    c = full.state["centers"]
    pairs = [np.sqrt(np.mean((c[i] - c[j]) ** 2)) for i in range(K) for j in range(i + 1, K)]
    assert p.spread == pytest.approx(np.mean(pairs))  # decode * show is the identity here
    assert p.traversal["dim"] in (6, 7) and p.traversal["chosen"] == "high"
    assert len(full.tsne["labels"]) == 30 and full.tsne["prototypes"].shape == (K, 2)
    assert (full.test.y[full.nearest] == np.arange(K)[:, None]).all()  # each prototype's own samples
    assert full.chosen == [0, 1, 2, 3] and list(full.order) == [0, 1, 2, 3]


def test_the_page_reads_the_data_only(full):
    text = render_page(full)
    assert text.startswith("# Inspection of `run`") and text.count("![") == 7 and "Skipped" not in text
    assert "*Tabular data: every 'image' below is one row" in text
    assert f"Top: node {full.perturbation.row}, then disturbed" in text and "| case |" in text
    assert render_page(full) == text


def test_without_an_autoencoder_only_the_maps_own_figures():
    ins = inspection(Path("run"), METRICS, planted_state(), 0.4, CURVE, None, None, **OPTIONS)
    assert ins.no_test == NO_AUTOENCODER and ins.test is ins.perturbation is ins.tsne is ins.nearest is None
    text = render_page(ins)
    assert text.count("Skipped: the run saved no autoencoder.pt") == 2 and text.count("![") == 2


def test_without_a_decoder_or_learned_relevances_figs_3_and_4_are_skipped():
    state = planted_state()
    with threadpool_limits(limits=1):
        somrl = inspection(Path("run"), METRICS, state, 0.4, CURVE, planted_test(state), None, **OPTIONS)
        flat = planted_state(np.ones((K, M)))
        fresh = inspection(Path("run"), METRICS, flat, 0.4, CURVE.iloc[:0], planted_test(flat), double, **OPTIONS)
    assert somrl.perturbation is None and somrl.no_perturbation == NO_DECODER
    assert somrl.protos is state["centers"] and somrl.tsne is not None
    assert fresh.perturbation is None and fresh.no_perturbation == NO_LEARNED
    text = render_page(fresh)
    assert f"*Skipped: {NO_LEARNED}.*" in text and "*Skipped: validation_curve.csv has no rows.*" in text
