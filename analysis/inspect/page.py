"""``inspect.md`` as text: a pure function of :class:`analysis.inspect.inspection.Inspection`.

:func:`render_page` writes a header (the run, its scores, the seeds), then one
section per figure -- the figure and one line of reading, measured from the
same data -- or per skipped figure with the reason. Nothing here reads a
file, calls the model or draws.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..markdown import markdown_table
from . import data as D
from .inspection import Inspection, Perturbation

FIG_3_4 = "Effect of the relevances (Fig. 3) and latent traversal (Fig. 4)"
FIG_5_10 = "t-SNE (Fig. 5), nearest samples (Fig. 10) and clusters vs classes (A.3)"


def render_page(ins: Inspection) -> str:
    """The text of inspect.md (module docstring)."""
    K, m = ins.shape
    lines = header_lines(ins.run, ins.metrics, K, m, seed=ins.seed)
    lines += figure("Learned relevances (Fig. 2)", "relevances.png", read_histogram(ins.histogram, K, m, ins.s))
    if ins.test is None:
        lines += skip(FIG_3_4, ins.no_test) + skip(FIG_5_10, ins.no_test + ", so the test set cannot be encoded")
    else:
        lines += test_sections(ins)
    if ins.curve.empty:
        lines += skip("Validation curve (Fig. 7)", "validation_curve.csv has no rows")
    else:
        lines += figure("Validation curve (Fig. 7)", "validation_curve.png", read_curve(ins.curve))
    return "\n".join(lines)


def test_sections(ins: Inspection) -> list[str]:
    """The sections of the figures that read the encoded test set: Figs. 3, 4, 5, 10 and A.3."""
    test = ins.test
    lines = [] if test.shape is not None else note("Tabular data: every 'image' below is one row of features "
                                                   "drawn as a strip.")
    p = ins.perturbation
    if p is None:
        lines += skip(FIG_3_4, ins.no_perturbation)
    else:
        lines += figure("Effect of the relevances (Fig. 3)", "perturbation.png", read_perturbation(p), table=p.effect)
        lines += figure("Latent traversal (Fig. 4)", "traversal.png",
                        read_traversal(p.traversal, p.row, test.majority))
    return lines + [
        *figure("Latent space and topology (Fig. 5)", "tsne.png", read_tsne(ins.tsne, test.majority)),
        *figure("Prototypes and their nearest test samples (Fig. 10)", "nearest.png",
                read_nearest(ins.nearest, test.y, test.majority, ins.chosen)),
        *figure("Clusters vs classes (appendix A.3)", "confusion.png", read_confusion(test.table))]


# ------------------------------------------------------------------ sections
def header_lines(run: Path, metrics: dict, K: int, m: int, *, seed: int) -> list[str]:
    """The page's title and the run it inspects: data set, model, seeds, scores, the map's size."""
    p, nan = metrics.get("params", {}), float("nan")
    return [
        f"# Inspection of `{run}`", "",
        f"Data set **{metrics['dataset']}**, model **{metrics['model']}**, training seed "
        f"{metrics.get('seed')}, {p.get('epochs', '?')} epochs, a_t = {p.get('a_t', '?')}. "
        f"Test NMI {metrics.get('nmi', nan):.3f}, Purity {metrics.get('purity', nan):.3f}; {K} prototypes in {m} dimensions. "
        f"Inspection seed {seed} (`--seed`: the t-SNE subsample and embedding, the perturbations).", ""]


def note(text: str) -> list[str]:
    return [f"*{text}*", ""]


def figure(title: str, png: str, reading: str, table: pd.DataFrame | None = None) -> list[str]:
    lines = [f"## {title}", "", f"![{title}]({png})", "", reading, ""]
    return lines + ([markdown_table(table), ""] if table is not None else [])


def skip(title: str, why: str) -> list[str]:
    return [f"## {title}", "", f"*Skipped: {why}.*", ""]


# ------------------------------------------------------- one line per figure
def read_histogram(h: D.RelevanceHistogram, K: int, m: int, s: float) -> str:
    line = (f"{h.share_high:.0%} of the {h.n_values} relevances ({K} prototypes x {m} dimensions) are "
            f"high (> 0.9), {h.share_moderate:.0%} moderate (0.5-0.9) and {h.share_low:.0%} low (< 0.5) "
            f"(paper: 35% high on MNIST; 30% high, 30% moderate on Fashion-MNIST). An updated node's "
            f"relevance stays below 1 / (1 + exp(-1/s)) = {D.max_learned_relevance(s):.3f} (s = {s:g})")
    if h.n_untouched == 0:
        return line + "; no prototype is still in its never-updated state (w = 1 everywhere)."
    return line + (f"; {h.n_untouched} prototypes still have w = 1 in every dimension (never updated since "
                   f"insertion); high values in updated prototypes: {h.share_high_learned:.1%} of all "
                   "relevances.")


def read_perturbation(p: Perturbation) -> str:
    by = p.effect.set_index("case")
    lo, hi = by.iloc[0], by.iloc[-1]
    return (f"Top: node {p.row}, then disturbed (N(0, {p.sigma}^2) noise) only where its relevance is in the "
            f"named class. Measured over the {p.n_learned} prototypes with learned relevances "
            f"({p.left_out} never updated left out) x {p.n_draws} draws (RMS change per "
            f"pixel, intensities in [0, 1]): disturbing `{by.index[0]}` changes the decoded image by "
            f"{lo['change']:.3f} ({lo['change_per_dim']:.3f} per perturbed dimension), `{by.index[-1]}` by "
            f"{hi['change']:.3f} ({hi['change_per_dim']:.3f} per dimension); two decoded prototypes differ "
            f"by {p.spread:.3f} on average. One dimension at a time, change and relevance have Spearman "
            f"rho = {p.rho:.2f} (> 0: relevant dimensions matter more).")


def read_traversal(trav: dict, row: int, majority) -> str:
    ends = D.rms(trav["images"][-1] - trav["images"][0])
    cls = f" (majority class {majority[row]})" if majority[row] >= 0 else ""
    why = {"high": "of its dimensions with relevance > 0.9, the one whose sweep changes the image most",
           "most relevant": "its most relevant dimension; none has relevance > 0.9",
           "given": "chosen by the caller"}[trav["chosen"]]
    return (f"Node {row}{cls}, latent dimension {trav['dim']} (relevance {trav['relevance']:.2f}: {why}) "
            f"set from 0 to 1: the decoded image changes by {ends:.3f} (RMS per pixel) between the ends.")


def read_tsne(emb: dict, majority) -> str:
    e = emb["edges"]
    known = [(i, j) for i, j in e if majority[i] >= 0 and majority[j] >= 0]
    head = (f"{len(emb['labels'])} test samples and {len(emb['prototypes'])} prototypes embedded jointly "
            f"(perplexity {emb['perplexity']:.0f}); ")
    if not known:
        return head + f"topology edges (red): {len(e)}, none between two prototypes that win test samples."
    same = np.mean([majority[i] == majority[j] for i, j in known])
    return head + (f"topology edges (red): {len(e)}; {same:.0%} of those between prototypes that win test "
                   f"samples join two of the same majority class.")


def read_nearest(index, y, majority, chosen) -> str:
    def share(rows):
        rows = [r for r in rows if majority[r] >= 0]
        return np.mean(y[index[rows]] == majority[rows, None]) if rows else float("nan")
    return (f"{share(chosen):.0%} of the nearest test samples of the {len(chosen)} prototypes shown (the two "
            f"largest clusters of each class) have the prototype's majority class; over all "
            f"prototypes {share(range(len(majority))):.0%} (nearest: Euclidean distance in the input "
            "space to the prototype, decoded for DC-SOMRL, as in appendix A.4).")


def read_confusion(table) -> str:
    size = table.sum(0)
    used = size > 0
    purity = table.max(0).sum() / size.sum()
    per_class = np.bincount(table.argmax(0)[used], minlength=table.shape[0])
    orphan = [str(c) for c in np.flatnonzero((per_class == 0) & (table.sum(1) > 0))]
    return (f"{int(used.sum())} of {table.shape[1]} clusters win test samples; purity {purity:.3f}; each "
            f"class is the majority of {int(per_class.min())}-{int(per_class.max())} clusters (median "
            f"{np.median(per_class):.0f}); classes that are no cluster's majority: "
            f"{', '.join(orphan) if orphan else 'none'}.")


def read_curve(curve: pd.DataFrame) -> str:
    last = curve.iloc[-1]
    s90 = D.first_step_reaching(curve, "nmi", 0.9)
    return (f"At the last step ({int(last['step'])}) validation NMI is {last['nmi']:.3f} and Purity "
            f"{last['purity']:.3f}; NMI first reaches 90% of that at step {s90} "
            f"({s90 / last['step']:.0%} of training).")
