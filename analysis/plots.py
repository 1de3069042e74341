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
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

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


def _set_axis_scale(ax, scale: str, values: pd.Series) -> None:
    """Use the scale's axis when the values allow it (log: all > 0; logit: all in (0, 1))."""
    axis = AXIS_SCALES.get(scale, "linear")
    ok = {"log": bool((values > 0).all()), "logit": bool(((values > 0) & (values < 1)).all())}
    if not ok.get(axis, True):
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
    """Points and OLS fit of ``outcome`` on ``param``.

    Returns ``points`` (x, y: the finite pairs) and ``fit`` (x: n_grid values
    over [min x, max x], evenly spaced on ``scale`` so the line is smooth on
    that axis; mean: b0 + b1 x; lower, upper: the 1 - alpha confidence band
    of the mean, statsmodels' mean_ci_lower/upper). The fit itself is on x as
    it is (a straight line in x, as in the paper's Fig. 6).
    """
    points = data[[param, outcome]].dropna().set_axis(["x", "y"], axis=1).reset_index(drop=True)
    if len(points) < 3 or points["x"].nunique() < 2:
        raise AnalysisError(f"scatter of {outcome} vs {param}: need 3 trials and 2 distinct values")
    fit = sm.OLS(points["y"].to_numpy(float), sm.add_constant(points["x"].to_numpy(float))).fit()
    grid = grid_on_scale(points["x"].min(), points["x"].max(), n_grid, scale)
    frame = fit.get_prediction(sm.add_constant(grid, has_constant="add")).summary_frame(alpha=alpha)
    band = pd.DataFrame({"x": grid, "mean": frame["mean"].to_numpy(),
                         "lower": frame["mean_ci_lower"].to_numpy(), "upper": frame["mean_ci_upper"].to_numpy()})
    return points, band


#: The bars of the ranked sensitivity chart and their legend labels.
BAR_MEASURES = {"spearman_rho": "Spearman", "prcc": "PRCC", "ks_stat": "KS statistic"}


def sensitivity_bars(sens: pd.DataFrame, outcome: str, measures=tuple(BAR_MEASURES)) -> pd.DataFrame:
    """Bar data for one outcome: parameter, measure, value, significant, in ranking order (rank 1 first).
    A measure that could not be computed for any parameter (PRCC with too few trials) is left out."""
    rows = sens.loc[sens["outcome"] == outcome].sort_values("rank")
    if rows.empty:
        raise AnalysisError(f"no sensitivity rows for outcome {outcome}")
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


def save_figure(fig: Figure, path, dpi: int = 110, **savefig) -> Path:
    """Save ``fig`` at ``path`` (its folder created), the one place every figure is written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, **savefig)
    return path


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
        ax.plot(band["x"], band["mean"], color="C0", label="OLS fit")
        ax.scatter(points["x"], points["y"], s=12, color="k", alpha=0.7)
        ax.set_xlabel(p)
        ax.set_ylabel(outcome)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{outcome} vs each parameter, OLS fit with its confidence band")
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
    axes[0].legend(fontsize="small")
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
    ax.set_xlabel("value")
    ax.set_title(f"Sensitivity of {outcome}, in rank order")
    if significant.any():
        ax.plot([], [], " ", label="* bold: significant")
    ax.legend(fontsize="small", loc="lower right")
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
