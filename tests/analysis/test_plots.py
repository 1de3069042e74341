"""analysis.plots: the data functions (tested against formulas) and the PNG renderers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import cdf, plots
from analysis import sensitivity as S
from analysis.testfunctions import synthetic_table
from analysis.errors import AnalysisError

PNG = b"\x89PNG\r\n\x1a\n"


def test_parameter_order_puts_a_t_first():
    assert plots.parameter_order(["lr", "alpha", "a_t", "rho"]) == ["a_t", "lr", "alpha", "rho"]
    assert plots.parameter_order(["lr", "rho"]) == ["lr", "rho"]


def test_scatter_fit_is_ols_with_the_textbook_band(table200):
    points, fit = plots.scatter_fit(table200, "lin", "y", alpha=0.05, n_grid=11)
    x, y = table200["lin"].to_numpy(), table200["y"].to_numpy()
    slope, intercept = np.polyfit(x, y, 1)
    assert np.allclose(fit["mean"], intercept + slope * fit["x"])
    # half-width t_{n-2} * s * sqrt(1/n + (x0 - xbar)^2 / Sxx)
    n = len(x)
    s = np.sqrt(np.sum((y - intercept - slope * x) ** 2) / (n - 2))
    half = stats.t.ppf(0.975, n - 2) * s * np.sqrt(1 / n + (fit["x"] - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    assert np.allclose(fit["upper"] - fit["mean"], half)
    assert np.allclose(fit["mean"] - fit["lower"], half)
    assert fit["x"].iloc[0] == x.min() and fit["x"].iloc[-1] == x.max()
    assert len(points) == n


def test_scatter_fit_needs_spread():
    import pandas as pd
    with pytest.raises(AnalysisError, match="2 distinct"):
        plots.scatter_fit(pd.DataFrame({"a": [1.0, 1.0, 1.0], "y": [1.0, 2.0, 3.0]}), "a", "y")


def test_sensitivity_bars_are_ordered_by_the_quantity_they_draw(sens200):
    bars = plots.sensitivity_bars(sens200.table, "y")
    order = list(dict.fromkeys(bars["parameter"]))
    rho = sens200.table.set_index("parameter")["spearman_rho"].abs()
    assert order == rho.sort_values(ascending=False).index.tolist()  # |Spearman rho|, largest first
    assert list(dict.fromkeys(bars["measure"])) == ["spearman_rho", "prcc"]
    assert "ordered by |Spearman ρ|" in plots.BAR_CAPTION and "PRCC" in plots.BAR_CAPTION
    few = plots.sensitivity_bars(S.analyze(synthetic_table(7, 0), outcomes=["y"]).table, "y")
    assert set(few["measure"]) == {"spearman_rho"}  # PRCC not computed: not drawn, not in a legend
    lin = bars[(bars.parameter == "lin") & (bars.measure == "prcc")]["value"].item()
    assert lin == pytest.approx(sens200.table.set_index("parameter").loc["lin", "prcc"])
    with pytest.raises(AnalysisError):
        plots.sensitivity_bars(sens200.table, "nope")


def test_a_known_ordering_by_absolute_rho_not_by_p():
    """alpha (rho -0.94) must stand above lr (rho 0.20) whatever their ranks by p say (the issue's case)."""
    sens = pd.DataFrame({"outcome": "nmi", "parameter": ["lr", "alpha", "dim"], "rank": [1, 2, 3],
                         "significant": [False, True, False], "spearman_rho": [0.20, -0.94, 0.5],
                         "prcc": [0.1, -0.9, np.nan]})
    bars = plots.sensitivity_bars(sens, "nmi")
    assert list(dict.fromkeys(bars["parameter"])) == ["alpha", "dim", "lr"]


def test_renderers_write_png_files(tmp_path, table200, sens200):
    params = ["lin", "mono", "ushape", "null1", "null2"]
    paths = [
        plots.render_scatter_fits(table200, params, "y", tmp_path / "a" / "scatter.png"),
        plots.render_ecdf(cdf.ecdf(table200["y"]), "y", tmp_path / "ecdf.png"),
        plots.render_conditional_cdfs(table200, params, "y", tmp_path / "mcf.png"),
        plots.render_sensitivity_bars(plots.sensitivity_bars(sens200.table, "y"), "y", tmp_path / "bars.png"),
    ]
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000


def test_grid_on_scale_is_even_on_its_scale():
    lin = plots.grid_on_scale(1.0, 3.0, 5)
    assert np.allclose(np.diff(lin), 0.5)
    log = plots.grid_on_scale(1e-4, 1e-1, 4, "log")
    assert np.allclose(log, [1e-4, 1e-3, 1e-2, 1e-1])
    at = plots.grid_on_scale(0.9, 0.9999, 4, "log1m")
    assert np.allclose(at, [0.9, 0.99, 0.999, 0.9999]) and at[0] == pytest.approx(0.9)
    assert np.allclose(plots.grid_on_scale(-1.0, 1.0, 3, "log"), [-1.0, 0.0, 1.0])  # not positive: linear


def test_a_fit_on_a_log_or_logit_axis_is_linear_in_that_axis(table200):
    """The line drawn is the model fitted: y = b0 + b1 log10 x on a log axis, b0 + b1 logit x on a logit one,
    so it is straight on its axis (equal steps on the axis, equal steps of the mean)."""
    data = table200.assign(pos=table200["lin"] - table200["lin"].min() + 0.01,
                           at=1 - 10 ** (-1 - 3 * table200["null2"].rank(pct=True)))
    points, fit = plots.scatter_fit(data, "pos", "y", n_grid=7, scale="log")
    assert np.allclose(np.diff(np.log(fit["x"])), np.log(fit["x"]).diff().iloc[1])  # geometric grid
    slope = np.polyfit(np.log10(points["x"]), points["y"], 1)
    assert np.allclose(fit["mean"], np.polyval(slope, np.log10(fit["x"])))
    assert np.allclose(np.diff(fit["mean"], 2), 0)  # straight on the log axis
    points, fit = plots.scatter_fit(data, "at", "y", n_grid=7, scale="log1m")
    logit = lambda v: np.log10(v / (1 - v))  # noqa: E731
    slope = np.polyfit(logit(points["x"]), points["y"], 1)
    assert np.allclose(fit["mean"], np.polyval(slope, logit(fit["x"])))
    _, linear = plots.scatter_fit(data, "pos", "y", n_grid=7)  # a linear axis: the fit on x itself
    assert np.allclose(np.polyfit(linear["x"], linear["mean"], 1), np.polyfit(data["pos"], data["y"], 1))


def test_overlaps_is_an_interval_test():
    assert not plots.overlaps([(0, 10), (20, 30)])
    assert plots.overlaps([(20, 30), (0, 21)])
    assert plots.overlaps([(0, 10), (11, 20)], pad=2.0)  # closer than the pad
    assert not plots.overlaps([])


def test_no_tick_labels_overlap_at_twelve_parameters_on_log_and_logit_axes(monkeypatch, tmp_path, table200):
    """The issue's "0.0050.01": a 1-2-5 log axis over two decades in a narrow panel, and a logit a_t axis."""
    from matplotlib.figure import Figure

    figures, save = [], plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or save(fig, path))
    rank = lambda c: table200[c].rank(pct=True)  # noqa: E731
    data = table200.assign(lr=0.004 + 0.096 * rank("null1"), a_t=1 - 10 ** (-1 - 3 * rank("null2")),
                           beta=10 ** (-4 + 4 * rank("null3")), **{f"p{i}": rank("lin") * (i + 1) * 1000
                                                                   for i in range(9)})
    params = ["lr", "a_t", "beta", *[f"p{i}" for i in range(9)]]
    scales = {"lr": "log", "a_t": "log1m", "beta": "log"}
    plots.render_scatter_fits(data, params, "y", tmp_path / "s.png", scales=scales)
    plots.render_conditional_cdfs(data, params, "y", tmp_path / "m.png", scales=scales)
    assert len(figures) == 2
    for fig in figures:
        assert plots.tick_overlaps(fig) == []
        assert len(fig.legends) == 1 and fig.get_suptitle()  # a legend and a title
    tangled = Figure(figsize=(1.6, 1.5))  # what untangle_ticks fixes: too many labels for the width
    ax = tangled.subplots()
    ax.plot(np.linspace(0, 1e6, 5), np.arange(5))
    from matplotlib.ticker import MultipleLocator
    ax.xaxis.set_major_locator(MultipleLocator(1e5))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(tangled)
    assert plots.tick_overlaps(tangled)
    plots.untangle_ticks(tangled)
    assert plots.tick_overlaps(tangled) == []


def test_renderers_draw_each_parameter_on_its_scale(monkeypatch, tmp_path, table200):
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    data = table200.assign(lr=10 ** (-4 + 3 * table200["null1"].rank(pct=True)),
                           a_t=1 - 10 ** (-1 - 3 * table200["null2"].rank(pct=True)),
                           neg=table200["lin"] - 1)
    params = ["lr", "a_t", "neg", "mono"]
    scales = {"lr": "log", "a_t": "log1m", "neg": "log"}  # neg has values <= 0: stays linear
    plots.render_scatter_fits(data, params, "y", tmp_path / "s.png", scales=scales)
    plots.render_conditional_cdfs(data, params, "y", tmp_path / "m.png", scales=scales)
    for fig in figures:
        got = {ax.get_xlabel(): ax.get_xscale() for ax in fig.axes if ax.get_visible()}
        assert got == {"a_t": "logit", "lr": "log", "neg": "linear", "mono": "linear"}
