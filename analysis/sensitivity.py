"""Sampling-based sensitivity measures on a table of trials (one row per trial).

For an LHS design (the paper's App. A.1; Iman & Helton 1988; Helton et al.
2005, "A comparison of uncertainty and sensitivity analysis results obtained
with random and Latin hypercube sampling") each (outcome y, parameter x_j)
pair gets:

* **Pearson** r and **Spearman** rho with their p-values (scipy.stats).
* **SRC**: the OLS coefficient of x_j when y and all x are standardized
  (z = (v - mean) / sd), ``y_z = b_0 + sum_j SRC_j x_{j,z}``; its p-value is
  the coefficient's t-test; **R²** is the fit's R². **SRRC** and the rank
  **R²** are the same on ranks. Regression measures describe y only as far
  as R² (rank R²) says the linear (rank-linear) model fits.
* **PCC**: the correlation of the residuals of x_j and of y, each regressed
  (OLS, with intercept) on the other k - 1 parameters; **PRCC** the same on
  ranks. p-value: t = r sqrt(df / (1 - r²)), df = n - k - 1 (two-sided).
  Regression measures need n >= k + 2 trials; with fewer they are NaN and
  a note says so.
* **Monte-Carlo filtering** (Saltelli et al. 2004, ch. 5): the trials whose
  outcome is at or above its ``behavioural_quantile`` quantile (default
  0.75: the top quartile; higher outcome = better, as for NMI and Purity)
  are *behavioural*, the rest non-behavioural. ``ks_stat``/``ks_p``: the
  two-sample Kolmogorov-Smirnov test of x_j between the two groups
  (scipy.stats.ks_2samp). ``behavioural_low``/``behavioural_high``: the
  range of x_j in the behavioural trials.
* **Grid test for non-monotone effects**: x_j is cut into ``n_classes``
  equal-probability classes (its empirical quantiles, pandas.qcut) and the
  Kruskal-Wallis H test compares y across the classes (scipy.stats.kruskal).
  Default classes: min(5, n // 5), at least 2.

**Significance rule.** p_min = the smallest of the PRCC, KS and KW p-values
(those that could be computed); p_adj = min(1, p_min * m), m = the number of
such tests performed for the outcome over all parameters, plus the tests of
the categorical parameters (:mod:`analysis.categorical`; Bonferroni over one
family); ``significant`` = p_adj < ``alpha`` (default 0.01).

Categorical parameters (e.g. ``repel``) are compared across their choices by
:mod:`analysis.categorical`; :func:`analyze` keeps that table in
``result.attrs["categorical"]`` (read it with :func:`categorical_table`).

**Direction.** For a significant parameter: "increasing"/"decreasing" when the
monotone test (PRCC, or Spearman where PRCC could not be computed) is
significant on its own (p * m < alpha), by the sign of its coefficient;
otherwise "non-monotone" (only KS/KW see the effect). Empty when not significant.

**Ranking** (per outcome, 1 = most influential): significant before not,
then ascending p_min, ties (e.g. p-values that underflow to 0) broken by the
larger effect = max(|PRCC| (or |Spearman|), KS statistic).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from . import bonferroni, categorical
from .errors import AnalysisError
from .table import Prepared, prepare, varying

#: Columns of :func:`analyze`'s result, in order.
COLUMNS = [
    "outcome", "parameter", "rank", "significant", "direction", "p_adj", "p_min", "effect",
    "pearson_r", "pearson_p", "spearman_rho", "spearman_p",
    "src", "src_p", "r2", "srrc", "srrc_p", "r2_rank",
    "pcc", "pcc_p", "prcc", "prcc_p",
    "ks_stat", "ks_p", "kw_stat", "kw_p",
    "n", "n_behavioural", "threshold", "n_classes", "behavioural_low", "behavioural_high", "best_value",
]


def behavioural(y, quantile: float = 0.75) -> np.ndarray:
    """The behavioural mask: y at or above its ``quantile`` quantile (numpy's linear rule)."""
    y = np.asarray(y, dtype=float)
    if not 0 < quantile < 1:
        raise AnalysisError(f"behavioural_quantile={quantile!r} must lie in (0, 1)")
    return y >= np.quantile(y, quantile)


def default_classes(n: int) -> int:
    """Classes of the Kruskal-Wallis grid test: min(5, n // 5), at least 2."""
    return max(2, min(5, n // 5))


def standardize(a: np.ndarray) -> np.ndarray:
    """(a - mean) / sd (ddof=1), column-wise."""
    a = np.asarray(a, dtype=float)
    return (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)


def ranks(a: np.ndarray) -> np.ndarray:
    """Column-wise ranks (average ranks for ties), as Spearman/SRRC/PRCC use."""
    return stats.rankdata(np.asarray(a, dtype=float), axis=0)


def standardized_regression(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """SRC_j, their p-values and R² of the OLS fit of standardized y on standardized X."""
    fit = sm.OLS(standardize(y), sm.add_constant(standardize(X), has_constant="add")).fit()
    return np.asarray(fit.params)[1:], np.asarray(fit.pvalues)[1:], float(fit.rsquared)


def partial_correlation(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCC_j = corr(e_x, e_y), e = residuals of x_j and of y on the other columns (with intercept).

    p-value: two-sided t-test, t = r sqrt(df / (1 - r²)), df = n - k - 1.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    n, k = X.shape
    df = n - k - 1
    r = np.full(k, np.nan)
    for j in range(k):
        others = sm.add_constant(np.delete(X, j, axis=1), has_constant="add")
        ex = sm.OLS(X[:, j], others).fit().resid
        ey = sm.OLS(y, others).fit().resid
        if ex.std() > 0 and ey.std() > 0:
            r[j] = np.corrcoef(ex, ey)[0, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(df / (1.0 - r ** 2))
    p = 2 * stats.t.sf(np.abs(t), df)
    return r, p


def _regression_block(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    src, src_p, r2 = standardized_regression(X, y)
    srrc, srrc_p, r2_rank = standardized_regression(ranks(X), ranks(y))
    pcc, pcc_p = partial_correlation(X, y)
    prcc, prcc_p = partial_correlation(ranks(X), ranks(y))
    k = X.shape[1]
    return dict(src=src, src_p=src_p, r2=np.full(k, r2), srrc=srrc, srrc_p=srrc_p,
                r2_rank=np.full(k, r2_rank), pcc=pcc, pcc_p=pcc_p, prcc=prcc, prcc_p=prcc_p)


def mcf_test(x: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and p-value of x among behavioural (mask) vs the rest."""
    if mask.sum() < 1 or (~mask).sum() < 1:
        return np.nan, np.nan
    res = stats.ks_2samp(x[mask], x[~mask])
    return float(res.statistic), float(res.pvalue)


def grid_test(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[float, float, int]:
    """Kruskal-Wallis H, p-value and the number of classes used (ties may merge classes)."""
    classes = pd.qcut(x, n_classes, labels=False, duplicates="drop")
    groups = [y[classes == c] for c in np.unique(classes)]
    if len(groups) < 2:
        return np.nan, np.nan, len(groups)
    try:
        res = stats.kruskal(*groups)
    except ValueError:  # all values identical
        return np.nan, np.nan, len(groups)
    return float(res.statistic), float(res.pvalue), len(groups)


def _correlations(x, y) -> tuple[float, float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input warnings; NaN says enough
        pr = stats.pearsonr(x, y)
        sr = stats.spearmanr(x, y)
    return float(pr.statistic), float(pr.pvalue), float(sr.statistic), float(sr.pvalue)


def analyze_outcome(data: pd.DataFrame, params: list[str], outcome: str, *,
                    behavioural_quantile: float = 0.75, n_classes: int | None = None,
                    alpha: float = 0.01, notes: list[str] | None = None, extra_tests: int = 0) -> pd.DataFrame:
    """All measures of one outcome; ``data`` holds finite numeric columns ``params + [outcome]``.

    ``extra_tests``: tests of the same outcome done elsewhere (categorical parameters), counted by Bonferroni.
    """
    notes = notes if notes is not None else []
    y = data[outcome].to_numpy(float)
    kept = varying(data, params)
    if len(kept) < len(params):
        notes.append(f"{outcome}: parameter(s) {', '.join(p for p in params if p not in kept)} constant "
                     f"where {outcome} is finite; left out")
    params = kept
    if not params:
        raise AnalysisError(f"{outcome}: no parameter varies among the trials where {outcome} is finite")
    X = data[params].to_numpy(float)
    n, k = X.shape
    classes = n_classes or default_classes(n)
    mask = behavioural(y, behavioural_quantile)
    threshold = float(np.quantile(y, behavioural_quantile))
    if mask.all():
        notes.append(f"{outcome}: all trials tie at the behavioural threshold; KS not computed")

    if n >= k + 2:
        reg = _regression_block(X, y)
    else:
        notes.append(f"{outcome}: regression measures (SRC, SRRC, PCC, PRCC) skipped: "
                     f"{n} trials for {k} parameters, they need at least k + 2 = {k + 2}")
        reg = {c: np.full(k, np.nan) for c in
               ("src", "src_p", "r2", "srrc", "srrc_p", "r2_rank", "pcc", "pcc_p", "prcc", "prcc_p")}

    best_row = int(np.argmax(y))
    rows = []
    for j, p in enumerate(params):
        x = X[:, j]
        pr, pr_p, sr, sr_p = _correlations(x, y)
        ks, ks_p = mcf_test(x, mask)
        kw, kw_p, used = grid_test(x, y, classes)
        row = dict(outcome=outcome, parameter=p, pearson_r=pr, pearson_p=pr_p,
                   spearman_rho=sr, spearman_p=sr_p, ks_stat=ks, ks_p=ks_p, kw_stat=kw, kw_p=kw_p,
                   n=n, n_behavioural=int(mask.sum()), threshold=threshold, n_classes=used,
                   behavioural_low=float(x[mask].min()), behavioural_high=float(x[mask].max()),
                   best_value=float(x[best_row]))
        row.update({c: float(v[j]) for c, v in reg.items()})
        rows.append(row)
    out = pd.DataFrame(rows)
    return _significance(out, alpha, extra_tests)


#: The p-value columns of the significance rule.
TESTS = ["prcc_p", "ks_p", "kw_p"]


def n_tests(out: pd.DataFrame) -> int:
    """How many of the PRCC, KS and KW tests could be computed (for the Bonferroni count)."""
    return bonferroni.n_tests(out, TESTS)


def _significance(out: pd.DataFrame, alpha: float, extra_tests: int = 0) -> pd.DataFrame:
    """Add p_min, p_adj, significant, direction, effect and rank (rules in the module docstring)."""
    m = max(n_tests(out) + extra_tests, 1)
    bonferroni.adjust(out, TESTS, m, alpha)
    mono_r = out["prcc"].where(out["prcc"].notna(), out["spearman_rho"])
    mono_p = out["prcc_p"].where(out["prcc_p"].notna(), out["spearman_p"])
    monotone = (mono_p * m) < alpha
    out["direction"] = np.where(~out["significant"], "",
                                np.where(~monotone, "non-monotone",
                                         np.where(mono_r > 0, "increasing", "decreasing")))
    out["effect"] = np.fmax(mono_r.abs(), out["ks_stat"])
    order = out.assign(_ns=~out["significant"], _p=out["p_min"].fillna(np.inf), _e=-out["effect"].fillna(0))
    order = order.sort_values(["_ns", "_p", "_e"], kind="stable")
    out.loc[order.index, "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype(int)
    return out.sort_values("rank")


def analyze(table, params=None, outcomes=("nmi", "purity"), *, behavioural_quantile: float = 0.75,
            n_classes: int | None = None, alpha: float = 0.01) -> pd.DataFrame:
    """Sensitivity measures, one row per (outcome, parameter), ranked within each outcome.

    ``table``: the trial table (or a :class:`~analysis.table.Prepared` sample).
    Measures and rules: see the module docstring; columns: :data:`COLUMNS`.
    What was dropped or skipped is listed in ``result.attrs["notes"]``; the
    trial counts in ``result.attrs["counts"]``; each outcome's number of tests
    (the Bonferroni m) in ``result.attrs["tests"]``.
    """
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha={alpha!r} must lie in (0, 1)")
    if not 0 < behavioural_quantile < 1:
        raise AnalysisError(f"behavioural_quantile={behavioural_quantile!r} must lie in (0, 1)")
    if n_classes is not None and n_classes < 2:
        raise AnalysisError(f"n_classes={n_classes!r} must be at least 2")
    prep = table if isinstance(table, Prepared) else prepare(table, params, outcomes)
    notes = list(prep.notes)
    frames, cats, tests = [], [], {}
    for o in prep.outcomes:
        cat = _categorical_tests(prep, o, behavioural_quantile)
        extra = categorical.n_tests(cat)
        frames.append(analyze_outcome(prep.outcome_data(o), prep.params, o,
                                      behavioural_quantile=behavioural_quantile, n_classes=n_classes,
                                      alpha=alpha, notes=notes, extra_tests=extra))
        tests[o] = n_tests(frames[-1]) + extra  # the Bonferroni m of this outcome
        if len(cat):
            cats.append(categorical.adjust(cat, tests[o], alpha))
    result = pd.concat(frames, ignore_index=True)[COLUMNS]
    # records, not a DataFrame: pandas compares attrs when it concatenates frames
    result.attrs["categorical"] = pd.concat(cats, ignore_index=True).to_dict("records") if cats else []
    result.attrs["tests"] = tests
    result.attrs["notes"] = notes
    result.attrs["counts"] = prep.counts
    result.attrs["rules"] = dict(behavioural_quantile=behavioural_quantile, alpha=alpha)
    return result


def categorical_table(sens: pd.DataFrame) -> pd.DataFrame:
    """The categorical parameters' tests that :func:`analyze` kept with ``sens`` (columns categorical.COLUMNS)."""
    return pd.DataFrame(sens.attrs.get("categorical", []), columns=categorical.COLUMNS)


def _categorical_tests(prep: Prepared, outcome: str, behavioural_quantile: float) -> pd.DataFrame:
    """Unadjusted categorical tests of ``outcome`` (empty when no categorical parameter varies)."""
    data, params = prep.categorical_data(outcome), prep.outcome_categorical(outcome)
    if not params:
        return pd.DataFrame(columns=categorical.COLUMNS)
    mask = behavioural(data[outcome].to_numpy(float), behavioural_quantile)
    return categorical.analyze_outcome(data, params, outcome, mask)
