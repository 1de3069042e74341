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

**Significance rule** (:mod:`analysis.screening`): one p-value per parameter
(``p_param``: the min-p of its Spearman, PRCC and "ends" tests, calibrated by
permuting the outcome), adjusted across the parameters of the outcome,
numeric and categorical (:mod:`analysis.categorical`) together: ``fwer``
(default, Westfall-Young step-down minP) or ``fdr`` (Benjamini-Hochberg);
``significant`` = ``p_adj`` < ``level`` (default 0.05). The analytic p-values
(``prcc_p``, ``ks_p``, ``kw_p``, ...) stay in the table as descriptions.

**Direction.** For a significant parameter: "increasing"/"decreasing" by the
sign of its monotone coefficient (Spearman or PRCC, whichever has the smaller
permutation p) when a monotone test carries the evidence (its p is no larger
than the "ends" test's); otherwise "non-monotone". Empty when not significant.

**Ranking** (per outcome, 1 = most influential): significant before not,
then ascending ``p_param``, ties (p-values at the permutation floor) broken
by the larger effect = max(|Spearman|, |PRCC|, KS statistic).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from . import categorical, screening
from .errors import AnalysisError
from .table import Prepared, prepare, varying

#: Columns of :func:`analyze`'s numeric table (:attr:`Sensitivity.table`), in order.
COLUMNS = [
    "outcome", "parameter", "rank", "significant", "direction", "p_adj", "p_param", "effect",
    "p_spearman_perm", "p_prcc_perm", "p_ends_perm",
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
                    notes: list[str] | None = None) -> pd.DataFrame:
    """All measures of one outcome, before significance; ``data`` holds finite numeric columns
    ``params + [outcome]``."""
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
    n = len(X)
    classes = n_classes or default_classes(n)
    mask = behavioural(y, behavioural_quantile)
    threshold = float(np.quantile(y, behavioural_quantile))
    if mask.all():
        notes.append(f"{outcome}: all trials tie at the behavioural threshold; KS not computed")
    reg = _regressions(X, y, outcome, notes)
    best_row = int(np.argmax(y))
    common = dict(n=n, n_behavioural=int(mask.sum()), threshold=threshold)
    rows = [dict(outcome=outcome, parameter=p, **_parameter_measures(X[:, j], y, mask, classes, best_row, common),
                 **{c: float(v[j]) for c, v in reg.items()}) for j, p in enumerate(params)]
    return pd.DataFrame(rows)


def _parameter_measures(x: np.ndarray, y: np.ndarray, mask: np.ndarray, classes: int, best_row: int,
                        common: dict) -> dict:
    """One parameter's correlations, MCF and grid tests, behavioural range and value in the best trial
    (``common``: the outcome's n, n_behavioural and threshold, placed as in :data:`COLUMNS`)."""
    pr, pr_p, sr, sr_p = _correlations(x, y)
    ks, ks_p = mcf_test(x, mask)
    kw, kw_p, used = grid_test(x, y, classes)
    return dict(pearson_r=pr, pearson_p=pr_p, spearman_rho=sr, spearman_p=sr_p, ks_stat=ks, ks_p=ks_p,
                kw_stat=kw, kw_p=kw_p, **common, n_classes=used, behavioural_low=float(x[mask].min()),
                behavioural_high=float(x[mask].max()), best_value=float(x[best_row]))


def _regressions(X: np.ndarray, y: np.ndarray, outcome: str, notes: list[str]) -> dict[str, np.ndarray]:
    """The regression measures (:func:`_regression_block`), NaN with a note below k + 2 trials."""
    n, k = X.shape
    if n >= k + 2:
        return _regression_block(X, y)
    notes.append(f"{outcome}: regression measures (SRC, SRRC, PCC, PRCC) skipped: "
                 f"{n} trials for {k} parameters, they need at least k + 2 = {k + 2}")
    return {c: np.full(k, np.nan) for c in
            ("src", "src_p", "r2", "srrc", "srrc_p", "r2_rank", "pcc", "pcc_p", "prcc", "prcc_p")}


def _significance(out: pd.DataFrame, scr: pd.DataFrame) -> pd.DataFrame:
    """Add the screening's p-values, significant, direction, effect and rank (module docstring).
    ``scr``: :func:`analysis.screening.screen`'s table, indexed by parameter."""
    s = scr.loc[out["parameter"]]
    out["p_param"], out["p_adj"] = s["p_param"].to_numpy(), s["p_adj"].to_numpy()
    out["significant"] = s["significant"].to_numpy(bool)
    out["p_spearman_perm"], out["p_prcc_perm"] = s["p_spearman"].to_numpy(), s["p_prcc"].to_numpy()
    out["p_ends_perm"] = s["p_ends"].to_numpy()
    by_prcc = out["p_prcc_perm"].notna() & (out["p_prcc_perm"] < out["p_spearman_perm"])
    mono_r = out["prcc"].where(by_prcc, out["spearman_rho"])
    monotone = out[["p_spearman_perm", "p_prcc_perm"]].min(axis=1) <= out["p_ends_perm"]
    out["direction"] = np.where(~out["significant"], "",
                                np.where(~monotone, "non-monotone",
                                         np.where(mono_r > 0, "increasing", "decreasing")))
    out["effect"] = np.fmax(np.fmax(out["spearman_rho"].abs(), out["prcc"].abs().fillna(0)), out["ks_stat"])
    order = out.assign(_ns=~out["significant"], _p=out["p_param"].fillna(np.inf), _e=-out["effect"].fillna(0))
    order = order.sort_values(["_ns", "_p", "_e"], kind="stable")
    out.loc[order.index, "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype(int)
    return out.sort_values("rank")


@dataclass
class Rules:
    """How the analysis decides (recorded in the result and the report)."""
    behavioural_quantile: float = 0.75
    control: str = "fwer"
    level: float = 0.05
    n_permutations: int = screening.N_PERMUTATIONS
    seed: int = 0

    def check(self) -> "Rules":
        if not 0 < self.behavioural_quantile < 1:
            raise AnalysisError(f"behavioural_quantile={self.behavioural_quantile!r} must lie in (0, 1)")
        screening.check_rule(self.control, self.level, self.n_permutations)
        return self


@dataclass(frozen=True)
class Sensitivity:
    """What :func:`analyze` found, as plain fields (the tables are not to be modified in place).

    ``table``: the numeric parameters' measures, one row per (outcome, parameter), ranked within each
    outcome (columns :data:`COLUMNS`; written as ``sensitivity.csv``).
    ``categorical``: the categorical parameters' tests, one row per (outcome, parameter), adjusted in
    one family with the numeric ones (columns :data:`analysis.categorical.COLUMNS`; empty when none
    varies; written as ``categorical.csv``).
    ``notes``: what was dropped or skipped, in order (the cleaning's notes first, then the measures').
    ``counts``: the trial counts of the cleaning (:attr:`analysis.table.Prepared.counts`: total,
    complete, used, states, nan_outcomes).
    ``rules``: the behavioural split and the significance rule used (:class:`Rules`).
    """

    table: pd.DataFrame
    categorical: pd.DataFrame
    notes: list[str]
    counts: dict
    rules: Rules


def analyze(table, params=None, outcomes=("nmi", "purity"), *, behavioural_quantile: float = 0.75,
            n_classes: int | None = None, control: str = "fwer", level: float = 0.05,
            n_permutations: int = screening.N_PERMUTATIONS, seed: int = 0) -> Sensitivity:
    """Sensitivity measures of ``table``'s numeric and categorical parameters, as a :class:`Sensitivity`.

    ``table``: the trial table (or a :class:`~analysis.table.Prepared` sample).
    Measures and rules: see the module docstring; the numeric table's columns: :data:`COLUMNS`.
    ``seed`` seeds the permutations of the significance rule.
    """
    rules = Rules(behavioural_quantile, control, level, n_permutations, seed).check()
    if n_classes is not None and n_classes < 2:
        raise AnalysisError(f"n_classes={n_classes!r} must be at least 2")
    prep = table if isinstance(table, Prepared) else prepare(table, params, outcomes)
    notes = list(prep.notes)
    frames, cats = [], []
    for o in prep.outcomes:
        frame = analyze_outcome(prep.outcome_data(o), prep.params, o, behavioural_quantile=behavioural_quantile,
                                n_classes=n_classes, notes=notes)
        cat = _categorical_tests(prep, o, behavioural_quantile)
        scr = _screen(prep, o, list(frame["parameter"]), list(cat["parameter"]), rules)
        frames.append(_significance(frame, scr))
        if len(cat):
            cats.append(categorical.adjust(cat, scr))
    result = pd.concat(frames, ignore_index=True)[COLUMNS]
    cat_table = (pd.concat(cats, ignore_index=True)[categorical.COLUMNS] if cats
                 else pd.DataFrame(columns=categorical.COLUMNS))
    return Sensitivity(result, cat_table, notes, prep.counts, rules)


def _screen(prep: Prepared, outcome: str, params: list[str], cats: list[str], rules: Rules) -> pd.DataFrame:
    """The screening table of one outcome over its numeric and categorical parameters, by parameter."""
    data = prep.data.loc[prep.data[outcome].notna()]
    y = data[outcome].to_numpy(float)
    result = screening.screen(data[params].to_numpy(float), y, behavioural(y, rules.behavioural_quantile),
                              names=params, categorical={c: data[c].astype(str).to_numpy() for c in cats},
                              control=rules.control, level=rules.level, n_permutations=rules.n_permutations,
                              seed=rules.seed)
    return result.table.set_index("parameter")


def _categorical_tests(prep: Prepared, outcome: str, behavioural_quantile: float) -> pd.DataFrame:
    """Unadjusted categorical tests of ``outcome`` (empty when no categorical parameter varies)."""
    data, params = prep.categorical_data(outcome), prep.outcome_categorical(outcome)
    if not params:
        return pd.DataFrame(columns=categorical.COLUMNS)
    mask = behavioural(data[outcome].to_numpy(float), behavioural_quantile)
    return categorical.analyze_outcome(data, params, outcome, mask)
