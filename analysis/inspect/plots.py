"""Thin matplotlib (Agg) renderers of the data in :mod:`analysis.inspect.data`.

Each ``plot_*`` draws one figure and writes it as a PNG at ``path``. They
build a :class:`matplotlib.figure.Figure` directly (no pyplot, no global
backend state). Images are flat rows reshaped to ``shape`` (h, w); tabular
rows (``shape`` None) are drawn as 1-pixel-high strips. ``vrange`` (vmin,
vmax) gives every image of a figure one grey scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from analysis.plots import save_figure

DPI = 110


def _show(ax, row, shape, vrange) -> None:
    """One flat row as a grey image (or a strip for tabular rows), without ticks."""
    img = np.asarray(row).reshape(shape) if shape else np.asarray(row).reshape(1, -1)
    ax.imshow(img, cmap="gray", vmin=vrange[0], vmax=vrange[1], interpolation="nearest",
              aspect="equal" if shape else "auto")
    ax.set_xticks([])
    ax.set_yticks([])


def _class_colors(n: int):
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_relevance_histogram(hist, path, title: str = "", ceiling: float | None = None) -> Path:
    """Fig. 2: share of all relevances per bin, the three classes shaded; ``ceiling``
    (dashed) marks the largest relevance an updated node can have."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    ax.axvspan(0.5, 0.9, color="tab:orange", alpha=0.12,
               label=f"moderate 0.5-0.9: {hist.share_moderate:.0%}")
    ax.axvspan(0.9, 1.0, color="tab:green", alpha=0.15, label=f"high > 0.9: {hist.share_high:.0%}")
    ax.axvspan(0.0, 0.5, color="grey", alpha=0.08, label=f"low < 0.5: {hist.share_low:.0%}")
    ax.bar(hist.edges[:-1], hist.counts / hist.n_values, width=np.diff(hist.edges), align="edge",
           color="tab:blue", edgecolor="white")
    if ceiling is not None:
        ax.axvline(ceiling, color="black", ls="--", lw=0.8,
                   label=f"ceiling of updated nodes {ceiling:.3f} ({hist.n_untouched} never updated)")
    ax.set_xlim(0, 1)
    ax.set_xlabel("relevance")
    ax.set_ylabel(f"share of {hist.n_values} relevances")
    ax.set_title(title or "Relevances of all prototypes (Fig. 2)")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def plot_perturbation(example, table, sensitivity, relevances, path, shape, vrange,
                      node: int | None = None, rho: float | None = None) -> Path:
    """Fig. 3: the example prototype and its perturbations (top); the measured changes
    per case and the one-dimension sensitivities against relevance (bottom), titled with
    their Spearman ``rho`` (:func:`analysis.inspect.data.sensitivity_correlation`) when given."""
    n = len(example["images"])
    fig = Figure(figsize=(max(8.0, 1.7 * n), 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
    axes = top.subplots(1, n)
    for i, ax in enumerate(axes):
        _show(ax, example["images"][i], shape, vrange)
        sub = "" if i == 0 else f"\n{example['n_dims'][i]} dims, change {example['change'][i]:.3f}"
        ax.set_title(f"({'abcdefgh'[i]}) {example['labels'][i]}{sub}", fontsize=8)
    who = f"Node {node}" if node is not None else "One prototype"
    top.suptitle(f"{who}, disturbed only in dimensions of one relevance class", fontsize=9)

    ax1, ax2 = bottom.subplots(1, 2)
    x = np.arange(len(table))
    ax1.bar(x - 0.2, table["change"], 0.4, yerr=table["change_se"], label="change (all dims of the case)")
    ax1.bar(x + 0.2, table["change_per_dim"], 0.4, label="change per perturbed dim")
    ax1.set_xticks(x, [f"{c}\n({d:.1f} dims)" for c, d in zip(table["case"], table["mean_dims"])], fontsize=8)
    ax1.set_ylabel("RMS change of decoded image")
    ax1.set_title("Mean over prototypes and draws", fontsize=9)
    ax1.legend(fontsize=7)
    ax2.scatter(np.ravel(relevances), np.ravel(sensitivity), s=6, alpha=0.4)
    ax2.set_xlabel("relevance w of the dimension")
    ax2.set_ylabel("RMS change, that dimension alone")
    ax2.set_title("One dimension at a time" + (f" (Spearman rho = {rho:.2f})" if rho is not None else ""),
                  fontsize=9)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def plot_traversal(traversal, path, shape, vrange, node: int | None = None) -> Path:
    """Fig. 4: the decoded prototype as one relevant dimension goes from 0 to 1."""
    images, values = traversal["images"], traversal["values"]
    fig = Figure(figsize=(1.3 * len(values), 1.9 if shape else 1.2), layout="constrained")
    for ax, img, v in zip(fig.subplots(1, len(values)), images, values):
        _show(ax, img, shape, vrange)
        ax.set_title(f"{v:.2f}", fontsize=8)
    who = f"node {node}, " if node is not None else ""
    fig.suptitle(f"{who}latent dimension {traversal['dim']} (relevance {traversal['relevance']:.2f}) "
                 "swept over [0, 1]", fontsize=9)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def plot_tsne(emb, path, thumbnails=None, shape=None, vrange=(0, 1)) -> Path:
    """Fig. 5: t-SNE of test samples (coloured by class), prototypes and their edges."""
    fig = Figure(figsize=(8, 7))
    ax = fig.add_subplot()
    labels = emb["labels"]
    classes = np.unique(labels)
    colors = _class_colors(int(classes.max()) + 1)
    for cls in classes:
        pts = emb["samples"][labels == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=4, color=colors[cls], alpha=0.5, label=str(cls))
    p = emb["prototypes"]
    for i, j in emb["edges"]:  # above the thumbnails
        ax.plot(p[[i, j], 0], p[[i, j], 1], color="crimson", lw=1.0, alpha=0.8, zorder=5)
    ax.scatter(p[:, 0], p[:, 1], s=14, color="black", marker="D", label="prototype")
    if thumbnails is not None and shape:
        zoom = (14.0 if len(p) <= 100 else 10.0) / shape[1]  # thumbnail width in pixels
        for xy, img in zip(p, thumbnails):
            box = OffsetImage(np.asarray(img).reshape(shape), cmap="gray", zoom=zoom,
                              norm=None, interpolation="nearest")
            box.get_children()[0].set_clim(*vrange)
            ax.add_artist(AnnotationBbox(box, xy, frameon=True, pad=0.05, bboxprops=dict(lw=0.4)))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"t-SNE of {len(labels)} test samples and {len(p)} prototypes, "
                 f"{len(emb['edges'])} topology edges (Fig. 5)", fontsize=9)
    ax.legend(markerscale=3, fontsize=7, loc="best", ncols=2)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def mosaic(tiles, shape, pad: int = 1) -> np.ndarray:
    """(R, C, d) flat images -> one (R*(h+pad)-pad, C*(w+pad)-pad) array, NaN in the gaps.

    One imshow of a mosaic is much faster than R * C axes."""
    tiles = np.asarray(tiles, dtype=float)
    R, C, d = tiles.shape
    h, w = shape if shape else (1, d)
    out = np.full((R * (h + pad) - pad, C * (w + pad) - pad), np.nan)
    for r in range(R):
        for c in range(C):
            out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[r, c].reshape(h, w)
    return out


def plot_nearest(prototype_images, x, index, rows, path, shape, vrange, y=None, majority=None) -> Path:
    """Fig. 10: each chosen prototype (left column) beside its nearest test samples,
    each sample's class printed in its corner."""
    k = index.shape[1]
    tiles = np.stack([np.concatenate([np.asarray(prototype_images)[[r]], np.asarray(x)[index[r]]])
                      for r in rows])                                   # (R, k + 1, d)
    h, w = shape if shape else (1, tiles.shape[-1])
    inch = 0.9 if shape else 0.3  # height of one row
    fig = Figure(figsize=(inch * (k + 1) + 1.2 if shape else 10.0, inch * len(rows) + 0.8),
                 layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mosaic(tiles, shape), cmap=colormaps["gray"].with_extremes(bad="white"),
              vmin=vrange[0], vmax=vrange[1], interpolation="nearest", aspect="equal" if shape else "auto")
    ax.set_xticks([j * (w + 1) + (w - 1) / 2 for j in range(k + 1)],
                  ["prototype"] + [str(j + 1) for j in range(k)], fontsize=7)
    ax.set_yticks([r * (h + 1) + (h - 1) / 2 for r in range(len(rows))],
                  [f"node {r}" + (f", class {majority[r]}" if majority is not None else "") for r in rows],
                  fontsize=7)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    if y is not None and shape:
        for i, r in enumerate(rows):
            for j in range(k):
                ax.text((j + 1) * (w + 1), i * (h + 1), str(y[index[r, j]]), fontsize=5, va="top",
                        ha="left", color="yellow")
    ax.set_title(f"Decoded prototypes and their {k} nearest test samples (Fig. 10)", fontsize=9)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def plot_confusion(table, order, path) -> Path:
    """Appendix A.3: each cluster's test samples by class (column shares), cluster sizes above."""
    t = np.asarray(table)[:, order]
    size = t.sum(0)
    share = t / np.maximum(size, 1)
    width = min(20.0, 3.0 + 0.09 * t.shape[1])
    fig = Figure(figsize=(width, 4.2), layout="constrained")
    ax_top, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 3])
    ax_top.bar(np.arange(t.shape[1]), size, width=0.9, color="grey")
    ax_top.set_ylabel("samples", fontsize=8)
    im = ax.imshow(share, aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(np.arange(t.shape[0]))
    ax.set_ylabel("class")
    if t.shape[1] <= 60:
        ax.set_xticks(np.arange(t.shape[1]), [str(j) for j in order], fontsize=6, rotation=90)
        ax.set_xlabel("cluster (prototype row), ordered by majority class")
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{t.shape[1]} clusters, ordered by majority class (rows: confusion.csv)")
    fig.colorbar(im, ax=ax, label="share of the cluster's samples")
    ax_top.set_title("Clusters vs classes on the test set (appendix A.3)", fontsize=9)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def plot_validation_curve(curve, path) -> Path:
    """Fig. 7: Purity and NMI on the validation set per training step (nodes on the right axis)."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(curve["step"], curve["purity"], label="Purity", color="tab:blue")
    ax.plot(curve["step"], curve["nmi"], label="NMI", color="tab:orange")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation metric")
    ax.set_ylim(0, 1)
    handles = list(ax.get_lines())
    if "n_nodes" in curve:
        ax2 = ax.twinx()
        handles += ax2.plot(curve["step"], curve["n_nodes"], color="grey", ls=":", label="nodes (right)")
        ax2.set_ylabel("active nodes", color="grey")
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title("Validation curve: 10 test samples per class (Fig. 7)", fontsize=9)
    return save_figure(fig, path, dpi=DPI, bbox_inches="tight")
