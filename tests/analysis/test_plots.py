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


def test_sensitivity_bars_follow_the_ranking(sens200):
    bars = plots.sensitivity_bars(sens200.table, "y")
    order = list(dict.fromkeys(bars["parameter"]))
    assert order == sens200.table.sort_values("rank")["parameter"].tolist()
    assert set(bars["measure"]) == {"spearman_rho", "prcc", "ks_stat"}
    few = plots.sensitivity_bars(S.analyze(synthetic_table(7, 0), outcomes=["y"]).table, "y")
    assert set(few["measure"]) == {"spearman_rho", "ks_stat"}  # PRCC not computed: not drawn, not in a legend
    lin = bars[(bars.parameter == "lin") & (bars.measure == "prcc")]["value"].item()
    assert lin == pytest.approx(sens200.table.set_index("parameter").loc["lin", "prcc"])
    with pytest.raises(AnalysisError):
        plots.sensitivity_bars(sens200.table, "nope")


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


def test_scatter_fit_on_a_log_scale_is_the_same_line(table200):
    data = table200.assign(pos=table200["lin"] - table200["lin"].min() + 0.01)
    points, fit = plots.scatter_fit(data, "pos", "y", n_grid=7, scale="log")
    _, linear = plots.scatter_fit(data, "pos", "y", n_grid=7)
    assert np.allclose(np.diff(np.log(fit["x"])), np.log(fit["x"]).diff().iloc[1])  # geometric grid
    slope = np.polyfit(points["x"], points["y"], 1)
    assert np.allclose(fit["mean"], np.polyval(slope, fit["x"]))
    assert np.allclose(np.polyfit(linear["x"], linear["mean"], 1), slope)


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
