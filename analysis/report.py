"""The sensitivity report a person reads first, written to disk: report.md, CSV tables, PNG figures.

The report is computed apart from how it is written: :func:`analysis.report_data.report_data`
analyses the table (seeded), :func:`analysis.report_text.render_report` renders the Markdown,
and :func:`write_report` (this module) only puts the files into ``out_dir``:

* ``report.md`` (:mod:`analysis.report_text`: the summary first, each outcome's detail once, how sure,
  the figures, the tables and the rules);
* ``sensitivity.csv`` (:func:`analysis.sensitivity.analyze`),
  ``importance.csv`` (:func:`analysis.importance.analyze`);
* ``categorical.csv``: the categorical parameters (e.g. ``repel``) compared
  across their choices (:mod:`analysis.categorical`);
* per outcome ``scatter_<o>.png`` (paper Fig. 6), ``ecdf_<o>.png``,
  ``mcf_<o>.png`` (conditional CDFs), ``sensitivity_<o>.png`` (ranked bars),
  and ``choices_<o>.png`` when a categorical parameter varies
  (:func:`analysis.report_data.figure_specs` names them, :func:`draw_figure` draws them).

The files the last report wrote are removed first (:mod:`analysis.manifest`), never any other.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import cdf, importance, manifest, plots
from .report_data import FigureSpec, ReportData, report_data
from .report_text import render_report
from .table import Prepared

#: What write_report writes; an earlier report's files of these names are removed first.
OWN_FILES = ("report.md", "sensitivity.csv", "importance.csv", "categorical.csv", "scatter_*.png", "ecdf_*.png",
             "mcf_*.png", "sensitivity_*.png", "choices_*.png")


def clear_previous(out_dir: Path) -> list[Path]:
    """Remove an earlier report's own files from ``out_dir`` (never anything else), so that no stale
    figure stands beside the new report. Returns what was removed."""
    removed = [f for pattern in OWN_FILES for f in out_dir.glob(pattern) if f.is_file()]
    for f in removed:
        f.unlink()
    return removed


def draw_figure(spec: FigureSpec, prep: Prepared, sens: pd.DataFrame, out_dir: Path, *,
                behavioural_quantile: float = 0.75, scales: dict[str, str] | None = None) -> Path:
    """Draw one figure of :func:`analysis.report_data.figure_specs` into ``out_dir`` (``sens``: the numeric
    sensitivity table; ``scales``: see analysis.plots); returns its path."""
    o, path = spec.outcome, out_dir / spec.file
    if spec.kind == "ecdf":
        return plots.render_ecdf(cdf.ecdf(prep.outcome_data(o)[o]), o, path)
    if spec.kind == "sensitivity":
        return plots.render_sensitivity_bars(plots.sensitivity_bars(sens, o), o, path)
    if spec.kind == "choices":
        return plots.render_choices(prep.categorical_data(o), prep.outcome_categorical(o), o, path)
    data, params = prep.outcome_data(o), prep.outcome_params(o)
    if spec.kind == "scatter":
        return plots.render_scatter_fits(data, params, o, path, scales=scales)
    return plots.render_conditional_cdfs(data, params, o, path, behavioural_quantile=behavioural_quantile,
                                         scales=scales)


def write_figures(data: ReportData, out_dir: Path, *, scales: dict[str, str] | None = None) -> list[Path]:
    """Draw every outcome's figures (:attr:`analysis.report_data.OutcomeData.figures`) into ``out_dir``."""
    q = data.sens.rules.behavioural_quantile
    return [draw_figure(f, data.prep, data.sens.table, out_dir, behavioural_quantile=q, scales=scales)
            for d in data.outcomes.values() for f in d.figures]


def write_report(table: pd.DataFrame, out_dir, params=None, outcomes=("nmi", "purity"), *,
                 behavioural_quantile: float = 0.75, control: str = "fwer", level: float = 0.05, seed: int = 0,
                 importance_methods=importance.METHODS, title: str = "Sensitivity report",
                 scales: dict[str, str] | None = None, study: str | None = None, focus: str | None = None) -> Path:
    """Analyse ``table`` and write the report, tables and figures into ``out_dir``; returns report.md's path.

    ``scales``: each parameter's sampling scale (``{"lr": "log", "a_t": "log1m"}``,
    from the study's space), used for the figures' x-axes; missing ones are linear.

    ``control`` and ``level``: the significance rule (analysis.screening). ``study``: the study's
    name, for the commands the report offers; ``focus``: the outcome the ``extend`` recommendation
    serves (default: the largest need over the outcomes with a signal, analysis.summary.recommend). With
    two or more replicates (a ``replicate`` column), the ranking's stability across them is measured
    (analysis.stability). ``importance_methods``: the cross-checks to run (empty: none); ``seed``
    seeds them and the permutations, and is recorded (the Rules section, importance.csv's ``seed``
    column). Degenerate tables raise :class:`~analysis.errors.AnalysisError` before anything is written.
    """
    data = report_data(table, params, outcomes, behavioural_quantile=behavioural_quantile, control=control,
                       level=level, seed=seed, importance_methods=importance_methods, title=title, study=study,
                       focus=focus)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = manifest.clear(out_dir)  # only the files the last report wrote (analysis/manifest.py)
    data.sens.table.to_csv(out_dir / "sensitivity.csv", index=False)
    data.importance.to_csv(out_dir / "importance.csv", index=False)
    data.sens.categorical.to_csv(out_dir / "categorical.csv", index=False)
    write_figures(data, out_dir, scales=scales)
    path = out_dir / "report.md"
    path.write_text(render_report(data))
    manifest.record(out_dir, before)
    return path
