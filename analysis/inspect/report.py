"""``write_inspection``: the qualitative figures of one trained model and the page that reads them, on disk.

The inspection is computed apart from how it is written:
:func:`analysis.inspect.inspection.load_inspection` reads the run and computes
every figure's data (:class:`~analysis.inspect.inspection.Inspection`),
:func:`analysis.inspect.page.render_page` reads it into Markdown, and this
module draws the figures (:mod:`analysis.inspect.plots`) and writes them, the
CSV tables (``perturbation.csv``, ``confusion.csv``) and ``inspect.md``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import data as D
from . import plots
from .inspection import Inspection, load_inspection
from .page import render_page

PAGE = "inspect.md"
VRANGE = (0.0, 1.0)  # grey scale of every image: the data's [0, 1] scale


def write_inspection(run_dir, out_dir=None, data_dir=None, *, tsne_samples: int = 2000,
                     perplexity: float = 30.0, seed: int = 0, n_draws: int = 20,
                     sigma: float = 0.2) -> Path:
    """Write the figures of one run's model and ``inspect.md`` into ``out_dir``
    (default ``run_dir/inspect``); returns the page's path.

    ``tsne_samples``: test samples embedded by t-SNE (seeded subsample);
    ``n_draws`` and ``sigma``: random perturbations per prototype and their
    size for Fig. 3 (:func:`analysis.inspect.data.perturbation_effect`).
    Raises FileNotFoundError for a missing run directory or file and
    ValueError for an unusable one, before anything is written.
    """
    ins = load_inspection(run_dir, data_dir, tsne_samples=tsne_samples, perplexity=perplexity, seed=seed,
                          n_draws=n_draws, sigma=sigma)
    out = Path(out_dir) if out_dir is not None else ins.run / "inspect"
    out.mkdir(parents=True, exist_ok=True)
    write_figures(ins, out)
    path = out / PAGE
    path.write_text(render_page(ins))
    return path


def write_figures(ins: Inspection, out: Path) -> None:
    """Draw every figure the inspection has data for, and its CSV table, into ``out``."""
    plots.plot_relevance_histogram(ins.histogram, out / "relevances.png", ceiling=D.max_learned_relevance(ins.s))
    if ins.perturbation is not None:
        write_perturbation(ins, out)
    if ins.test is not None:
        write_test_figures(ins, out)
    if not ins.curve.empty:
        plots.plot_validation_curve(ins.curve, out / "validation_curve.png")


def write_perturbation(ins: Inspection, out: Path) -> None:
    """Fig. 3 (with perturbation.csv) and Fig. 4."""
    p, shape = ins.perturbation, ins.test.shape
    p.effect.to_csv(out / "perturbation.csv", index=False)
    plots.plot_perturbation(p.example, p.effect, p.sensitivity, p.relevances, out / "perturbation.png", shape,
                            VRANGE, node=p.row, rho=p.rho)
    plots.plot_traversal(p.traversal, out / "traversal.png", shape, VRANGE, node=p.row)


def write_test_figures(ins: Inspection, out: Path) -> None:
    """Fig. 5 (the prototypes drawn at their places), Fig. 10 and A.3 (with confusion.csv: classes x
    prototype rows)."""
    test = ins.test
    plots.plot_tsne(ins.tsne, out / "tsne.png", thumbnails=test.show(ins.protos), shape=test.shape, vrange=VRANGE)
    plots.plot_nearest(test.show(ins.protos), test.show(test.x), ins.nearest, ins.chosen, out / "nearest.png",
                       test.shape, VRANGE, y=test.y, majority=test.majority)
    K = test.table.shape[1]
    pd.DataFrame(test.table, columns=[f"node{j}" for j in range(K)]).rename_axis("class") \
        .to_csv(out / "confusion.csv")
    plots.plot_confusion(test.table, ins.order, out / "confusion.png")
