"""Screening: which parameters have an effect, with false alarms controlled across parameters.

At the paper's design size (30 trials, 12 parameters) a rule that counts every
test of every parameter as one Bonferroni family detects almost nothing. This
rule gives **one p-value per parameter** and controls the family of
parameters with a method that uses their dependence instead of ignoring it.

**Tests of one parameter x_j** (rank based, so any monotone transform of x or
y leaves them unchanged):

* ``spearman``: the rank correlation of x_j and y, statistic |rho|: the most
  powerful test of a monotone effect in a near-orthogonal LHS design;
* ``prcc``: the partial rank correlation (ranks of x_j and y, each
  residualized on the ranks of the other numeric parameters), statistic |r|:
  a monotone effect seen once the other parameters' effects are removed (it
  needs n >= k + 2 trials; with fewer it is left out);
* ``ends``: the rank correlation of y with |rank(x_j) - (n + 1) / 2|, the
  distance from the middle of the design, statistic |r|: effects that are not
  monotone, a U (good at both ends) or a hill (good in the middle).

A categorical parameter has ``kw`` (Kruskal-Wallis of y across its choices)
and ``share`` (the chi-square statistic of choice vs behavioural).

Why these three for numeric parameters: measured on the paper's size (30
points, 12 parameters, one explaining 40% of the variance, 200 replicates,
step-down minP at 0.05): with a linear effect, min-p of Spearman, PRCC and
``ends`` finds it in 74% of the replicates, with a U-shaped one in 58%. The
Kolmogorov-Smirnov test of Monte-Carlo filtering (top quartile vs the rest)
finds the U-shaped effect in 1% of them and adding it lowers the linear
power; the Kruskal-Wallis grid test finds the U in 19%; PRCC, KS and KW
without Spearman find the linear effect in 56%. KS and KW stay in the
sensitivity table as descriptions.

**Permutation null.** The rows of y are permuted B times (seeded); every
statistic of every parameter is recomputed on each permutation, so the null
keeps the design, the ties and the correlation between the tests.

* per test: p_t = share of the B + 1 samples (the observed one included) with
  a statistic at least as large;
* **per parameter**: p_j = share of samples whose smallest per-test p is at
  most the observed one: the min-p over the parameter's tests, calibrated
  (Westfall & Young 1993), an honest combination of correlated tests;
* **across parameters**: ``fwer`` (default): the step-down minP adjustment of
  Westfall & Young (their Algorithm 2.8), which controls the family-wise error
  rate and is uniformly more powerful than Holm on the same p_j; ``fdr``: the
  Benjamini-Hochberg adjustment of the p_j (statsmodels).

``significant`` = adjusted p < ``level`` (default 0.05). The suite measures
the rule on synthetic 30-point designs (tests/analysis/test_screening.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .errors import AnalysisError

CONTROLS = ("fwer", "fdr")

#: Permutations of the null (p-values are multiples of 1 / (B + 1)).
N_PERMUTATIONS = 1999


@dataclass
class Screening:
    """One outcome's screening: a row per parameter (numeric first, then categorical)."""

    table: pd.DataFrame   # parameter, kind, p_spearman, p_prcc, p_ends, p_kw, p_share, p_param, p_adj, significant
    control: str
    level: float
    n_permutations: int


def check_rule(control: str, level: float, n_permutations: int = N_PERMUTATIONS) -> None:
    """One-line errors naming the bad argument and its allowed values."""
    if control not in CONTROLS:
        raise AnalysisError(f"control={control!r}: expected one of {', '.join(CONTROLS)}")
    if not 0 < level < 1:
        raise AnalysisError(f"level={level!r} must lie in (0, 1)")
    if n_permutations < 19:
        raise AnalysisError(f"n_permutations={n_permutations!r} must be at least 19")


# ------------------------------------------------------------ power
def detectable_correlation(n: int, n_params: int, level: float = 0.05, power: float = 0.8) -> float:
    """The |rank correlation| the rule finds with probability ``power`` among ``n_params`` parameters.

    Spearman's Fisher z, atanh(rho) ~ N(atanh(rho_true), 1.06 / (n - 3)) (Fieller et al. 1957), tested
    at the first step of the family-wise adjustment, level / n_params, two-sided:
    rho = tanh((z_{1 - level / (2 n_params)} + z_power) sqrt(1.06 / (n - 3))). The suite checks it against
    the rule's simulated power. NaN below 5 trials.
    """
    if n < 5:
        return float("nan")
    z = stats.norm.ppf(1 - level / (2 * max(n_params, 1))) + stats.norm.ppf(power)
    return float(np.tanh(z * np.sqrt(1.06 / (n - 3))))


def trials_needed(rho: float, n_params: int, level: float = 0.05, power: float = 0.8) -> int:
    """Trials for :func:`detectable_correlation` to reach ``rho``: 3 + 1.06 (z / atanh(rho))^2."""
    z = stats.norm.ppf(1 - level / (2 * max(n_params, 1))) + stats.norm.ppf(power)
    return int(np.ceil(3 + 1.06 * (z / np.arctanh(min(abs(rho), 0.999999))) ** 2))


# ------------------------------------------------------------ statistics
def _orthonormal_basis(a: np.ndarray) -> np.ndarray:
    """Columns spanning [1, a] (n, r)."""
    q, r = np.linalg.qr(np.column_stack([np.ones(len(a)), a]))
    return q[:, np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(r).max())]


def monotone_stats(RX: np.ndarray, Y: np.ndarray, partial: bool) -> np.ndarray:
    """|PRCC_j| (partial) or |Spearman_j| of every permuted rank vector.   RX (n, k), Y (P, n) -> (P, k)"""
    n, k = RX.shape
    Yc = Y - Y.mean(axis=1, keepdims=True)
    out = np.empty((Y.shape[0], k))
    for j in range(k):
        if partial:
            q = _orthonormal_basis(np.delete(RX, j, axis=1))
            ex = RX[:, j] - q @ (q.T @ RX[:, j])                      # residual of x_j
            yy = (Y * Y).sum(1) - ((Y @ q) ** 2).sum(1)                # |residual of y|^2
        else:
            ex = RX[:, j] - RX[:, j].mean()
            yy = (Yc * Yc).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.abs(Y @ ex) / np.sqrt((ex @ ex) * yy)
    return np.nan_to_num(out, nan=0.0)


def between_group_stats(groups: list[np.ndarray], V: np.ndarray) -> np.ndarray:
    """sum_c S_c^2 / n_c of each permuted V per grouping: monotone in Kruskal-Wallis H (V = ranks of y)
    and in the chi-square statistic (V = behavioural 0/1).   groups: k codes (n,), V (P, n) -> (P, k)"""
    out = np.empty((V.shape[0], len(groups)))
    for j, codes in enumerate(groups):
        G = np.eye(codes.max() + 1)[codes]                             # (n, C) one-hot
        out[:, j] = ((V @ G) ** 2 / G.sum(0)).sum(1)
    return out


# ------------------------------------------------------------ p-values
def tail_p(T: np.ndarray) -> np.ndarray:
    """Per column, the share of rows with a statistic >= each row's: permutation p of every sample.
    T (P, ...) -> (P, ...), row 0 the observed sample."""
    P = T.shape[0]
    s = np.sort(T, axis=0)
    flat_s, flat_t = s.reshape(P, -1), T.reshape(P, -1)
    out = np.empty_like(flat_t, dtype=float)
    for c in range(flat_t.shape[1]):
        out[:, c] = (P - np.searchsorted(flat_s[:, c], flat_t[:, c] - 1e-12 * np.abs(flat_t[:, c]), "left")) / P
    return out.reshape(T.shape)


def lower_p(Q: np.ndarray) -> np.ndarray:
    """Per column, the share of rows with a value <= each row's (for min-p statistics)."""
    return tail_p(-Q)


def step_down_minp(q: np.ndarray) -> np.ndarray:
    """Westfall-Young step-down minP adjusted p-values of row 0 of q (P, k): per-parameter p of each sample."""
    observed = q[0]
    order = np.argsort(observed, kind="stable")
    # successive minima over the parameters at or after each position, from the last one back
    tail_min = np.minimum.accumulate(q[:, order][:, ::-1], axis=1)[:, ::-1]
    adj = (tail_min <= observed[order][None, :] * (1 + 1e-12)).mean(axis=0)
    adj = np.maximum.accumulate(adj)                                   # monotone in the order
    out = np.empty_like(adj)
    out[order] = adj
    return np.minimum(out, 1.0)


def screen(X: np.ndarray, y: np.ndarray, behavioural: np.ndarray, *, names: list[str],
           categorical: dict[str, np.ndarray] | None = None, control: str = "fwer",
           level: float = 0.05, n_permutations: int = N_PERMUTATIONS, seed: int = 0) -> Screening:
    """The screening rule of the module docstring on one outcome.

    X: (n, k) numeric parameters (``names``), y: (n,), behavioural: (n,) bool;
    ``categorical``: {name: choices (n,)}; ``seed`` seeds the permutations.
    """
    check_rule(control, level, n_permutations)
    categorical = categorical or {}
    n, k = X.shape
    rng = np.random.default_rng(seed)
    perms = np.vstack([np.arange(n)] + [rng.permutation(n) for _ in range(n_permutations)])  # (P, n)
    Y = stats.rankdata(y)[perms]                                       # (P, n) permuted ranks of y
    M = np.asarray(behavioural, bool)[perms]                           # (P, n) permuted behavioural set
    RX = stats.rankdata(X, axis=0) if k else X
    T = [monotone_stats(RX, Y, partial=False),                         # (P, k) each: spearman,
         monotone_stats(np.abs(RX - (n + 1) / 2), Y, partial=False)]  # ends
    if n >= k + 2:
        T.append(monotone_stats(RX, Y, partial=True))                  # prcc
    p = [tail_p(t) for t in T]
    codes = [pd.factorize(np.asarray(v, dtype=str), sort=True)[0] for v in categorical.values()]
    pc = [tail_p(between_group_stats(codes, Y)), tail_p(between_group_stats(codes, M.astype(float)))]
    minp = np.column_stack([np.minimum.reduce(p), np.minimum(*pc)])    # (P, k + c)
    q = lower_p(minp)                                                  # (P, k + c) per-parameter p
    p_param = q[0]
    if control == "fwer":
        p_adj = step_down_minp(q)
    else:
        p_adj = multipletests(p_param, method="fdr_bh")[1] if len(p_param) else p_param
    none, absent = np.full(len(codes), np.nan), np.full(k, np.nan)
    table = pd.DataFrame(dict(
        parameter=[*names, *categorical], kind=["numeric"] * k + ["categorical"] * len(codes),
        p_spearman=np.r_[p[0][0], none], p_prcc=np.r_[p[2][0] if len(p) > 2 else absent, none],
        p_ends=np.r_[p[1][0], none], p_kw=np.r_[absent, pc[0][0]], p_share=np.r_[absent, pc[1][0]],
        p_param=p_param, p_adj=p_adj, significant=p_adj < level))
    return Screening(table, control, level, n_permutations)
