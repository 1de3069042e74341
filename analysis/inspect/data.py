"""The data behind each qualitative figure of one trained model (pure, seeded functions).

Every function works on plain arrays of the map and of the data set, and,
where a figure needs the autoencoder's decoder, on ``decode``: any callable
``(N, m) float32 array -> (N, d) array`` (for a planted model in the tests,
a few lines of numpy). Rendering lives in :mod:`analysis.inspect.plots`.

Notation: K prototypes (active nodes) with centers ``c`` (K, m) and
relevances ``w`` (K, m) in the latent space of m dimensions; d input
features (pixels); ``dec`` the decoder.

* Fig. 2  :func:`relevance_histogram`: all K * m relevances, and the shares
  of *highly* relevant (``w > 0.9``), *moderately* relevant
  (``0.5 <= w <= 0.9``) and *little* relevant (``w < 0.5``) dimensions;
  :func:`untouched` marks prototypes never updated (w = 1 everywhere), and
  :func:`max_learned_relevance` is the ceiling eq. 6 puts on the others.
* Fig. 3  :func:`perturbation_effect`, :func:`perturbed_example`,
  :func:`dimension_sensitivity`: how much the decoded prototype changes
  when only the dimensions of one relevance class are disturbed.
* Fig. 4  :func:`latent_traversal`: one highly relevant dimension swept over [0, 1].
* Fig. 5  :func:`tsne_map`: a joint t-SNE of encoded test samples and
  prototypes, with the map's topology edges.
* Fig. 10 :func:`nearest_samples`, :func:`representatives`: each decoded
  prototype's nearest test samples (Euclidean, input space; appendix A.4).
* A.3     :func:`cluster_confusion`: test samples per (class, cluster).
* Fig. 7  :func:`validation_curve`: Purity and NMI per training step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

Decoder = Callable[[np.ndarray], np.ndarray]

#: Relevance classes of Fig. 2 (paper section 5.3.1): high > 0.9, moderate 0.5-0.9, low < 0.5.
HIGH, MODERATE = 0.9, 0.5

#: The perturbed sets of Fig. 3 (paper section 5.3.2): (label, "below"/"above", threshold).
CASES: tuple[tuple[str, str, float], ...] = (
    ("w < 0.3", "below", 0.3), ("w < 0.4", "below", 0.4),
    ("w < 0.5", "below", 0.5), ("w > 0.6", "above", 0.6),
)


# ---------------------------------------------------------------- display
def affine_fit(x_from, x_to) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature ``(a, b)`` with ``x_to ~= a * x_from + b`` (least squares, one column at a time).

    Used to draw images in the data's [0, 1] scale: the model sees them
    normalized (SPEC 5, e.g. digits standardized per pixel), and every such
    normalization is affine per pixel, so the fit on the training set undoes
    it exactly. A constant column gets a = 0, b = its mean in ``x_to``.
    """
    u, v = np.asarray(x_from, dtype=float), np.asarray(x_to, dtype=float)
    du, dv = u - u.mean(0), v - v.mean(0)
    var = (du ** 2).mean(0)
    a = np.where(var > 1e-12, (du * dv).mean(0) / np.where(var > 1e-12, var, 1.0), 0.0)
    return a, v.mean(0) - a * u.mean(0)


# ---------------------------------------------------------------- Fig. 2
@dataclass
class RelevanceHistogram:
    counts: np.ndarray      # (bins,) number of relevances per bin
    edges: np.ndarray       # (bins + 1,) bin edges over [0, 1]
    share_high: float       # share of w > HIGH
    share_moderate: float   # share of MODERATE <= w <= HIGH
    share_low: float        # share of w < MODERATE
    n_values: int           # K * m
    n_untouched: int        # prototypes with w = 1 in every dimension (see untouched)
    share_high_learned: float  # share of w > HIGH in the other prototypes (of all K * m values)


def untouched(relevances) -> np.ndarray:
    """(K,) True where a prototype's relevances are all exactly 1.

    Eq. 6 gives w = 1 only where a node's distances are flat (max d = min d),
    as they are from its insertion (d = 0) until its first update: such
    relevances are a default, not something learned.
    """
    return np.all(np.asarray(relevances) == 1.0, axis=1)


def max_learned_relevance(s: float) -> float:
    """The largest relevance eq. 6 can give a node whose distances are not flat.

    ``(d_ki - mean_i d_k) / (max d_k - min d_k) > -1``, so
    ``w_ki < 1 / (1 + exp(-1 / s))`` (0.913 for the paper's MNIST s = 0.426).
    """
    return float(1.0 / (1.0 + np.exp(-1.0 / s)))


def relevance_histogram(relevances, bins: int = 20) -> RelevanceHistogram:
    """Histogram of all prototypes' relevances (Fig. 2) and the shares of its three classes."""
    w2 = np.asarray(relevances, dtype=float)
    w = w2.ravel()
    if w.size == 0:
        raise ValueError("the map has no prototypes: no relevances to count")
    counts, edges = np.histogram(w, bins=bins, range=(0.0, 1.0))
    high, low = float(np.mean(w > HIGH)), float(np.mean(w < MODERATE))
    flat = untouched(w2.reshape(len(w2), -1))
    learned_high = float(np.sum(w2.reshape(len(w2), -1)[~flat] > HIGH) / w.size)
    return RelevanceHistogram(counts, edges, high, 1.0 - high - low, low, int(w.size),
                              int(flat.sum()), learned_high)


# ---------------------------------------------------------------- Fig. 3
def case_mask(relevances, how: str, threshold: float) -> np.ndarray:
    """Boolean mask of the dimensions a case perturbs: ``w < t`` ("below") or ``w > t`` ("above")."""
    w = np.asarray(relevances)
    if how == "below":
        return w < threshold
    if how == "above":
        return w > threshold
    raise ValueError(f"unknown case direction {how!r}; use 'below' or 'above'")


def rms(a: np.ndarray, axis=-1) -> np.ndarray:
    """Root mean square over ``axis``: the size of an image change per pixel."""
    return np.sqrt(np.mean(np.square(a), axis=axis))


def perturbation_effect(decode: Decoder, centers, relevances, *, cases=CASES, n_draws: int = 20,
                        sigma: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """How much disturbing one relevance class of dimensions changes the decoded prototypes.

    For every prototype k, case (a set S_k of its dimensions, e.g. w_ki < 0.3)
    and draw, the perturbed code is ``c_k + delta`` with
    ``delta_i ~ N(0, sigma^2)`` for i in S_k and 0 elsewhere (the same size of
    disturbance in every dimension, so only the decoder's response differs),
    and its effect is the per-pixel RMS change of the decoded image::

        change = || dec(c_k + delta) - dec(c_k) ||_2 / sqrt(d)

    Columns, over the prototypes whose S_k is not empty and all draws:
    ``change`` (mean) and ``change_se`` (its standard error);
    ``change_per_dim = sqrt(mean(change^2 / |S_k|))``: for a locally linear
    decoder E[change^2] = sigma^2 / d * sum_{i in S_k} ||d dec / d c_i||^2 is
    additive over dimensions, so this is the RMS effect of one perturbed
    dimension and compares cases with different numbers of dimensions;
    ``mean_dims`` (mean |S_k|) and ``n_prototypes``.
    """
    c = np.asarray(centers, dtype=np.float32)
    w = np.asarray(relevances)
    rng = np.random.default_rng(seed)
    base = np.asarray(decode(c))                                    # (K, d)
    rows = []
    for label, how, threshold in cases:
        mask = case_mask(w, how, threshold)                         # (K, m)
        k = mask.sum(1)                                             # (K,)
        delta = rng.normal(0.0, sigma, (n_draws, *c.shape)).astype(np.float32) * mask
        out = np.asarray(decode((c + delta).reshape(-1, c.shape[1]))).reshape(n_draws, *base.shape)
        change = rms(out - base)[:, k > 0]                          # (draws, prototypes with S_k)
        n = change.size
        rows.append(dict(
            case=label, n_prototypes=int((k > 0).sum()), mean_dims=float(k[k > 0].mean()) if n else 0.0,
            change=float(change.mean()) if n else np.nan,
            change_se=float(change.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            change_per_dim=float(np.sqrt(np.mean(change ** 2 / k[k > 0]))) if n else np.nan))
    return pd.DataFrame(rows)


def perturbed_example(decode: Decoder, center, relevance, *, cases=CASES, sigma: float = 0.2,
                      seed: int = 0) -> dict:
    """Fig. 3's row for one prototype: its decoded image, then one seeded perturbation per case.

    Returns ``images`` (1 + len(cases), d), ``labels``, ``n_dims`` (dimensions
    perturbed per case) and ``change`` (RMS change of each image, 0 for the first).
    """
    c = np.asarray(center, dtype=np.float32)
    rng = np.random.default_rng(seed)
    codes = [c]
    for _, how, threshold in cases:
        mask = case_mask(relevance, how, threshold)
        codes.append(c + rng.normal(0.0, sigma, c.shape).astype(np.float32) * mask)
    images = np.asarray(decode(np.stack(codes)))
    return dict(images=images, labels=["prototype"] + [label for label, _, _ in cases],
                n_dims=[0] + [int(case_mask(relevance, how, t).sum()) for _, how, t in cases],
                change=rms(images - images[0]))


def dimension_sensitivity(decode: Decoder, centers, *, n_draws: int = 10, sigma: float = 0.2,
                          seed: int = 0) -> np.ndarray:
    """(K, m) RMS change of each decoded prototype when only its dimension i is disturbed.

    ``s_ki = sqrt(mean_draws change^2)`` with change as in
    :func:`perturbation_effect` and ``delta = N(0, sigma^2)`` in dimension i only.
    Set beside the relevances w_ki it asks the question of Fig. 3 one
    dimension at a time: do dimensions of low relevance matter less?
    """
    c = np.asarray(centers, dtype=np.float32)
    K, m = c.shape
    rng = np.random.default_rng(seed)
    base = np.asarray(decode(c))
    out = np.empty((K, m))
    for i in range(m):
        z = np.repeat(c[None], n_draws, axis=0)                      # (draws, K, m)
        z[:, :, i] += rng.normal(0.0, sigma, (n_draws, K)).astype(np.float32)
        change = rms(np.asarray(decode(z.reshape(-1, m))).reshape(n_draws, K, -1) - base)
        out[:, i] = np.sqrt(np.mean(change ** 2, axis=0))
    return out


def sensitivity_correlation(relevances, sensitivity) -> float:
    """Spearman rho between relevances w_ki and one-dimension sensitivities s_ki (NaN if either is
    constant); > 0 means the dimensions a prototype deems relevant move its decoded image more."""
    w, s = np.asarray(relevances).ravel(), np.asarray(sensitivity).ravel()
    if np.ptp(w) == 0 or np.ptp(s) == 0:
        return float("nan")
    return float(spearmanr(w, s).statistic)


def example_prototype(relevances, counts, cases=CASES) -> int:
    """Row of the prototype shown in Figs. 3 and 4: of those where every case perturbs at
    least one dimension (all of them if none), the one that wins most test samples."""
    w = np.asarray(relevances)
    ok = np.ones(len(w), dtype=bool)
    for _, how, threshold in cases:
        ok &= case_mask(w, how, threshold).any(1)
    if not ok.any():
        ok[:] = True
    score = np.where(ok, np.asarray(counts, dtype=float), -1.0)
    return int(np.argmax(score))


# ---------------------------------------------------------------- Fig. 4
def latent_traversal(decode: Decoder, center, relevance, *, n_steps: int = 9, dim: int | None = None) -> dict:
    """Decode one prototype with one highly relevant dimension set to n_steps values in [0, 1].

    Without ``dim``, of the prototype's dimensions with w > 0.9 (its most
    relevant one if none is), the one whose sweep changes the decoded image
    most (RMS between the images at 0 and at 1). Returns ``dim``,
    ``relevance`` (w of that dimension), ``chosen`` ("high", "most relevant"
    or "given"), ``values`` (n_steps,), ``images`` (n_steps, d).
    """
    c = np.asarray(center, dtype=np.float32)
    w = np.asarray(relevance)
    chosen = "given"
    if dim is None:
        candidates, chosen = np.flatnonzero(w > HIGH), "high"
        if candidates.size == 0:
            candidates, chosen = np.array([int(np.argmax(w))]), "most relevant"
        ends = np.repeat(c[None], 2 * candidates.size, axis=0)
        ends[np.arange(candidates.size), candidates] = 0.0
        ends[candidates.size + np.arange(candidates.size), candidates] = 1.0
        img = np.asarray(decode(ends))
        spread = rms(img[:candidates.size] - img[candidates.size:])
        dim = int(candidates[np.argmax(spread)])
    values = np.linspace(0.0, 1.0, n_steps, dtype=np.float32)
    codes = np.repeat(c[None], n_steps, axis=0)
    codes[:, dim] = values
    return dict(dim=int(dim), relevance=float(w[dim]), chosen=chosen, values=values,
                images=np.asarray(decode(codes)))


# ---------------------------------------------------------------- Fig. 5
def subsample(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(size, n)`` of n items drawn without replacement (seeded)."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def tsne_map(z, labels, centers, edges, *, n_samples: int = 2000, perplexity: float = 30.0,
             seed: int = 0) -> dict:
    """Joint 2-D t-SNE (scikit-learn, seeded, PCA initialised) of encoded samples and prototypes.

    ``n_samples`` of the rows of z are drawn (seeded) and embedded together
    with the K centers, so samples and prototypes share one map. The
    perplexity is lowered to (n - 1) / 3 when there are few points. Returns
    ``samples`` (n, 2), ``labels`` (n,), ``index`` (n,) rows of z used,
    ``prototypes`` (K, 2) and ``edges`` (E, 2), the map's topology as rows
    of ``centers`` (drawn as lines between prototypes).
    """
    z, c = np.asarray(z, dtype=np.float32), np.asarray(centers, dtype=np.float32)
    if n_samples < 1:
        raise ValueError(f"t-SNE needs at least 1 sample, got n_samples={n_samples}")
    index = subsample(len(z), n_samples, seed)
    points = np.concatenate([z[index], c])
    perplexity = float(min(perplexity, max(1.0, (len(points) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
    return dict(samples=xy[:len(index)], labels=np.asarray(labels)[index], index=index,
                prototypes=xy[len(index):], edges=np.asarray(edges, dtype=np.int64).reshape(-1, 2),
                perplexity=perplexity)


# ---------------------------------------------------------------- Fig. 10 and A.3
def nearest_samples(prototypes, x, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Indices (K, k) and Euclidean distances (K, k) of the k rows of x nearest to each
    decoded prototype, nearest first (appendix A.4: distances in input space)."""
    x = np.asarray(x)
    k = min(k, len(x))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(np.asarray(prototypes))
    return idx, dist


def cluster_confusion(y_true, rows, n_clusters: int) -> np.ndarray:
    """(C, K) test samples of class c won by prototype row k (appendix A.3).

    Classes are 0..max(y); ``rows`` are winning prototypes as rows 0..K-1
    (prototypes that win nothing keep an empty column). Sums to len(y).
    """
    y, r = np.asarray(y_true, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    table = np.zeros((int(y.max()) + 1, n_clusters), dtype=np.int64)
    np.add.at(table, (y, r), 1)
    return table


def cluster_order(table) -> np.ndarray:
    """Columns ordered by majority class, then by size (largest first); empty clusters last."""
    t = np.asarray(table)
    size, major = t.sum(0), t.argmax(0)
    return np.lexsort((-size, np.where(size > 0, major, t.shape[0])))


def representatives(table, per_class: int = 2) -> list[int]:
    """Prototype rows shown in Fig. 10: per class (in class order), the ``per_class`` clusters
    with that majority class that win the most test samples."""
    t = np.asarray(table)
    size, major = t.sum(0), t.argmax(0)
    chosen = []
    for cls in range(t.shape[0]):
        mine = np.flatnonzero((major == cls) & (size > 0))
        chosen += [int(j) for j in mine[np.argsort(-size[mine], kind="stable")][:per_class]]
    return chosen


# ---------------------------------------------------------------- Fig. 7
def validation_curve(run_dir) -> pd.DataFrame:
    """The run's validation curve (step, epoch, nmi, purity, n_nodes, loss), one row per evaluation."""
    path = Path(run_dir) / "validation_curve.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a run directory written by train/lhs/final")
    curve = pd.read_csv(path)
    missing = {"step", "nmi", "purity"} - set(curve.columns)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
    return curve


def first_step_reaching(curve: pd.DataFrame, column: str, fraction: float = 0.9) -> int | None:
    """The first step at which ``column`` reaches ``fraction`` of its final value (None if empty)."""
    if curve.empty:
        return None
    target = fraction * float(curve[column].iloc[-1])
    return int(curve.loc[curve[column] >= target, "step"].iloc[0])
