"""Figures of a study, Optuna style: a pure function computes each plot's data
(tested), a thin renderer draws it with matplotlib and writes a PNG.

The renderers build a :class:`matplotlib.figure.Figure` directly (the Agg
canvas, no pyplot state), so they run headless and touch no global state.

* :func:`scatter_fit` / :func:`render_scatter_fits`: outcome vs each parameter
  with the OLS line y = b0 + b1 x and its 95 % confidence band of the mean
  (statsmodels ``get_prediction().summary_frame``) -- the paper's Fig. 6;
  panels ordered by :func:`parameter_order` (a_t first).
  Parameters sampled on a ``log`` scale get a log x-axis and those on
  ``log1m`` (uniform in log(1 - x), e.g. a_t) a logit x-axis, when the
  renderers are given the space's scales.
* :func:`render_ecdf`: the outcome's ECDF with its DKW band (:func:`analysis.cdf.ecdf`).
* :func:`render_conditional_cdfs`: each parameter's CDF over behavioural vs
  non-behavioural trials (:func:`analysis.cdf.conditional_cdfs`).
* :func:`sensitivity_bars` / :func:`render_sensitivity_bars`: PRCC and the KS
  statistic per parameter, in the order of the sensitivity ranking.
* :func:`choice_groups` / :func:`render_choices`: the outcome per choice of a
  categorical parameter (box plot with the trials as dots).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from .cdf import conditional_cdfs
from .errors import AnalysisError

#: Parameters drawn first, in this order (the paper's finding: a_t drives NMI).
FIRST = ("a_t",)


def parameter_order(params) -> list[str]:
    """``params`` with those in :data:`FIRST` moved to the front; the rest keep their order."""
    params = list(params)
    return [p for p in FIRST if p in params] + [p for p in params if p not in FIRST]


#: Matplotlib x-axis scale for each sampling scale of a space (studies.space.SCALES).
AXIS_SCALES = {"linear": "linear", "log": "log", "log1m": "logit"}


def grid_on_scale(low: float, high: float, n: int, scale: str = "linear") -> np.ndarray:
    """``n`` values from ``low`` to ``high``, evenly spaced on ``scale`` (linear, log, log1m)."""
    if scale == "log" and low > 0:
        return np.geomspace(low, high, n)
    if scale == "log1m" and high < 1:
        return 1.0 - np.geomspace(1.0 - low, 1.0 - high, n)
    return np.linspace(low, high, n)


def axis_scale(scale: str, values) -> str:
    """The matplotlib axis a sampling ``scale`` gets for these values: log (all > 0), logit (all in
    (0, 1)), else linear (the one decision the axis and the fit drawn on it share)."""
    axis = AXIS_SCALES.get(scale, "linear")
    values = pd.Series(values, dtype=float)
    ok = {"log": bool((values > 0).all()), "logit": bool(((values > 0) & (values < 1)).all())}
    return axis if ok.get(axis, True) else "linear"


#: The coordinate each axis scale draws: a fit in it is a straight line on that axis.
AXIS_TRANSFORMS = {"linear": lambda x: np.asarray(x, float),
                   "log": lambda x: np.log10(np.asarray(x, float)),
                   "logit": lambda x: np.log10(np.asarray(x, float) / (1 - np.asarray(x, float)))}


def _set_axis_scale(ax, scale: str, values: pd.Series) -> None:
    """Use the scale's axis when the values allow it (:func:`axis_scale`)."""
    axis = axis_scale(scale, values)
    if axis == "linear":
        return
    ax.set_xscale(axis)
    if axis == "logit":  # a_t near 1: a few major ticks, no minor labels, slanted so they never overlap
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.tick_params(axis="x", labelrotation=35, labelsize="small")
    if axis == "log" and values.max() / values.min() < 100:  # under two decades: 1-2-5 steps, not 2x10^-1...
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())


def scatter_fit(data: pd.DataFrame, param: str, outcome: str, *, alpha: float = 0.05,
                n_grid: int = 50, scale: str = "linear") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points and OLS fit of ``outcome`` on ``param``, in the coordinate of the axis it is drawn on.

    Returns ``points`` (x, y: the finite pairs) and ``fit`` (x: n_grid values
    over [min x, max x], evenly spaced on ``scale``; mean: b0 + b1 t(x); lower, upper: the 1 - alpha
    confidence band of the mean, statsmodels' mean_ci_lower/upper). t is the axis's coordinate
    (:func:`axis_scale`, :data:`AXIS_TRANSFORMS`): x on a linear axis (the paper's Fig. 6), log10 x on
    a log axis, log10(x / (1 - x)) on a logit axis, so the line drawn is the model fitted: straight on
    its axis.
    """
    points = data[[param, outcome]].dropna().set_axis(["x", "y"], axis=1).reset_index(drop=True)
    if len(points) < 3 or points["x"].nunique() < 2:
        raise AnalysisError(f"scatter of {outcome} vs {param}: need 3 trials and 2 distinct values")
    t = AXIS_TRANSFORMS[axis_scale(scale, points["x"])]
    fit = sm.OLS(points["y"].to_numpy(float), sm.add_constant(t(points["x"]))).fit()
    grid = grid_on_scale(points["x"].min(), points["x"].max(), n_grid, scale)
    frame = fit.get_prediction(sm.add_constant(t(grid), has_constant="add")).summary_frame(alpha=alpha)
    band = pd.DataFrame({"x": grid, "mean": frame["mean"].to_numpy(),
                         "lower": frame["mean_ci_lower"].to_numpy(), "upper": frame["mean_ci_upper"].to_numpy()})
    return points, band


#: The bars of the ranked sensitivity chart and their legend labels; the first orders the parameters.
BAR_MEASURES = {"spearman_rho": "Spearman ρ", "prcc": "PRCC"}
#: The caption of the ranked sensitivity chart (it names the quantity the order follows).
BAR_CAPTION = ("Spearman ρ (first bar) and PRCC (second) of each parameter, ordered by |Spearman ρ|, the "
               "largest on top (* bold: significant after the adjustment)")


def sensitivity_bars(sens: pd.DataFrame, outcome: str, measures=tuple(BAR_MEASURES)) -> pd.DataFrame:
    """Bar data for one outcome: parameter, measure, value, significant; the parameters ordered by the
    first measure's absolute value, largest first (the quantity drawn, not a p-value it does not show).
    A measure that could not be computed for any parameter (PRCC with too few trials) is left out."""
    rows = sens.loc[sens["outcome"] == outcome]
    if rows.empty:
        raise AnalysisError(f"no sensitivity rows for outcome {outcome}")
    first = list(measures)[0]
    rows = rows.assign(_key=-rows[first].abs().fillna(-1)).sort_values(["_key", "rank"], kind="stable")
    measures = [m for m in measures if rows[m].notna().any()]
    tidy = rows.melt(id_vars=["parameter", "rank", "significant"], value_vars=list(measures),
                     var_name="measure", value_name="value")
    order = {p: i for i, p in enumerate(rows["parameter"])}
    tidy = tidy.assign(_o=tidy["parameter"].map(order), _m=tidy["measure"].map(list(measures).index))
    return tidy.sort_values(["_o", "_m"])[["parameter", "measure", "value", "significant"]].reset_index(drop=True)


def choice_groups(data: pd.DataFrame, param: str, outcome: str) -> dict[str, np.ndarray]:
    """{choice: the finite outcome values of its trials}, choices in sorted order."""
    finite = data[[param, outcome]].dropna()
    keys = finite[param].astype(str)
    return {c: finite.loc[keys == c, outcome].to_numpy(float) for c in sorted(keys.unique())}


# ----- renderers -------------------------------------------------------------------------------

def _grid(k: int, width: float = 3.2, height: float = 2.8) -> tuple[Figure, list]:
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[k:]:
        ax.set_visible(False)
    return fig, axes[:k]


def _figure_legend(fig: Figure, axes) -> None:
    """One legend for the whole figure, below the panels: every distinct label of ``axes`` once."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=len(seen), fontsize="small")


def overlaps(spans, pad: float = 2.0) -> bool:
    """Whether any two intervals (lo, hi) of ``spans`` (pixels) come closer than ``pad``."""
    spans = sorted(spans)
    return any(b[0] < a[1] + pad for a, b in zip(spans, spans[1:]))


def _label_spans(axis, renderer) -> list[tuple[float, float]]:
    """The pixel extents of an axis's visible, non-empty tick labels (x: horizontal, y: vertical)."""
    spans = []
    for label in axis.get_ticklabels(which="both"):
        if label.get_visible() and label.get_text():
            box = label.get_window_extent(renderer)
            spans.append((box.x0, box.x1) if axis.axis_name == "x" else (box.y0, box.y1))
    return spans


def tick_overlaps(fig: Figure) -> list[str]:
    """'<panel title or label> <x|y>' for every axis whose tick labels overlap (drawn at the figure's size)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [f"{ax.get_xlabel() or ax.get_title()} {axis.axis_name}" for ax in fig.axes
            for axis in (ax.xaxis, ax.yaxis) if overlaps(_label_spans(axis, renderer))]


def untangle_ticks(fig: Figure, max_rounds: int = 6) -> None:
    """Thin every axis whose tick labels overlap: minor labels off, then every 2nd, 3rd, ... major tick
    kept (a fixed locator over the ticks shown), until none overlaps."""

    for _ in range(max_rounds):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        tangled = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                   if overlaps(_label_spans(axis, renderer))]
        if not tangled:
            return
        for axis in tangled:
            axis.set_minor_formatter(NullFormatter())
            lo, hi = sorted(axis.get_view_interval())
            ticks = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
            if len(ticks) > 2:
                axis.set_major_locator(FixedLocator(ticks[::2]))


def save_figure(fig: Figure, path, dpi: int = 110, **savefig) -> Path:
    """Save ``fig`` at ``path`` (its folder created), the one place every figure is written; tick labels
    that would overlap are thinned first (:func:`untangle_ticks`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.canvas is None or not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    untangle_ticks(fig)
    fig.savefig(path, dpi=dpi, **savefig)
    return path


#: The fit's legend label: one model on every panel, linear in its axis's coordinate (x, log x, logit x).
FIT_LABEL = "OLS fit, a straight line in the axis's scale (x, log x or logit x)"


def render_scatter_fits(data: pd.DataFrame, params, outcome: str, path, *, alpha: float = 0.05,
                        scales: dict[str, str] | None = None) -> Path:
    """One panel per parameter (a_t first): points, OLS line, 1 - alpha band (paper Fig. 6).

    ``scales``: each parameter's sampling scale (default linear), drawn as its axis.
    """
    params = parameter_order(params)
    scales = scales or {}
    fig, axes = _grid(len(params))
    for ax, p in zip(axes, params):
        scale = scales.get(p, "linear")
        points, band = scatter_fit(data, p, outcome, alpha=alpha, scale=scale)
        _set_axis_scale(ax, scale, points["x"])
        ax.fill_between(band["x"], band["lower"], band["upper"], color="C0", alpha=0.25,
                        label=f"{int(round((1 - alpha) * 100))}% CI")
        ax.plot(band["x"], band["mean"], color="C0", label=FIT_LABEL)
        ax.scatter(points["x"], points["y"], s=12, color="k", alpha=0.7)
        ax.set_xlabel(p)
        ax.set_ylabel(outcome)
    _figure_legend(fig, axes)
    fig.suptitle(f"{outcome} vs each parameter: OLS fit on the axis's scale, with its confidence band")
    return save_figure(fig, path)


def render_ecdf(ecdf_frame: pd.DataFrame, outcome: str, path, *, alpha: float = 0.05) -> Path:
    """The ECDF as a step line and its DKW band (columns of :func:`analysis.cdf.ecdf`)."""
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.fill_between(ecdf_frame["x"], ecdf_frame["lower"], ecdf_frame["upper"], step="post",
                    color="C0", alpha=0.25, label=f"DKW {int(round((1 - alpha) * 100))}% band")
    ax.step(ecdf_frame["x"], ecdf_frame["F"], where="post", color="C0", label="ECDF")
    ax.set_xlabel(outcome)
    ax.set_ylabel("F(x)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    ax.set_title(f"Empirical CDF of {outcome} over the trials")
    return save_figure(fig, path)


def render_conditional_cdfs(data: pd.DataFrame, params, outcome: str, path, *,
                            behavioural_quantile: float = 0.75, scales: dict[str, str] | None = None) -> Path:
    """One panel per parameter: its CDF over behavioural vs non-behavioural trials (``scales`` as above)."""
    params = parameter_order(params)
    scales = scales or {}
    fig, axes = _grid(len(params))
    for ax, p in zip(axes, params):
        c = conditional_cdfs(data, p, outcome, behavioural_quantile)
        _set_axis_scale(ax, scales.get(p, "linear"), c["x"])
        ax.step(c["x"], c["behavioural"], where="post", color="C2", label="behavioural")
        ax.step(c["x"], c["non_behavioural"], where="post", color="C3", label="non-behavioural")
        ax.set_xlabel(p)
        ax.set_ylabel("CDF")
    _figure_legend(fig, axes)
    fig.suptitle(f"Monte-Carlo filtering: behavioural = {outcome} in its top "
                 f"{int(round((1 - behavioural_quantile) * 100))}%")
    return save_figure(fig, path)


def render_sensitivity_bars(bars: pd.DataFrame, outcome: str, path) -> Path:
    """Grouped horizontal bars (:func:`sensitivity_bars`), rank 1 on top; significant parameters' labels
    in bold with a '*', as the legend says."""
    params = list(dict.fromkeys(bars["parameter"]))
    measures = list(dict.fromkeys(bars["measure"]))
    fig = Figure(figsize=(6.4, 0.3 * len(params) * len(measures) + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    height = 0.8 / len(measures)
    y = np.arange(len(params))[::-1]                                  # rank 1 at the top
    for i, m in enumerate(measures):
        values = bars.loc[bars["measure"] == m].set_index("parameter").loc[params, "value"]
        ax.barh(y + (len(measures) - 1 - i) * height - 0.4 + height / 2, values.to_numpy(float),
                height=height, color=f"C{i}", label=BAR_MEASURES.get(m, m))
    significant = bars.drop_duplicates("parameter").set_index("parameter").loc[params, "significant"]
    ax.set_yticks(y, [f"{p} *" if s else p for p, s in zip(params, significant)])
    for label, s in zip(ax.get_yticklabels(), significant):
        label.set_fontweight("bold" if s else "normal")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("rank correlation with " + outcome)
    ax.set_title(f"Sensitivity of {outcome}: ordered by |Spearman ρ|")
    if significant.any():
        ax.plot([], [], " ", label="* bold: significant")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize="small")
    return save_figure(fig, path)


def render_choices(data: pd.DataFrame, params, outcome: str, path) -> Path:
    """One panel per categorical parameter: a box of the outcome per choice, the trials as dots."""
    fig, axes = _grid(len(params))
    for ax, p in zip(axes, params):
        groups = choice_groups(data, p, outcome)
        ax.boxplot(list(groups.values()), showfliers=False)
        for i, values in enumerate(groups.values(), start=1):
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
            ax.scatter(i + jitter, values, s=12, color="k", alpha=0.7)
        ax.set_xticks(range(1, len(groups) + 1), [f"{c}\n(n={len(v)})" for c, v in groups.items()])
        ax.set_xlabel(p)
        ax.set_ylabel(outcome)
    fig.suptitle(f"{outcome} per choice")
    return save_figure(fig, path)
