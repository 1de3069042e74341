"""Cross-checks from well-kept libraries that accept an existing sample.

Each method ranks the parameters by a different idea of "importance"; they
are cross-checks of :mod:`analysis.sensitivity`, not replacements:

========================  ==========================================================  ==========
method                    what ``value`` is                                           ``conf``
========================  ==========================================================  ==========
``optuna.fanova``         fANOVA (random forest, Hutter et al. 2014), share of        --
                          the outcome's variance; normalized to sum to 1
``optuna.mdi``            mean decrease in impurity of a random forest; sums to 1     --
``optuna.ped_anova``      PED-ANOVA (Watanabe et al. 2023): how the top-10 % trials   --
                          concentrate in the parameter's range; sums to 1
``salib.rbd_fast``        first-order Sobol' index S1 by RBD-FAST (Plischke 2010;     95 % half-width
                          Tissot & Prieur 2012); M = min(10, (n - 1) // 4) harmonics
``salib.delta``           Borgonovo's delta, balanced bootstrap (Plischke et al.      95 % half-width
                          2013)
``salib.pawn``            PAWN index (median KS distance across S conditioning        --
                          slides, Pianosi & Wagener 2015); S = max(2, min(10, n//10))
========================  ==========================================================  ==========

Optuna's evaluators work on a study: :func:`optuna_study` builds one in
memory from the table (``optuna.trial.create_trial`` + ``study.add_trials``;
integer-valued columns get an ``IntDistribution``, the others a
``FloatDistribution`` over the observed [min, max]; direction "maximize",
higher outcome = better). SALib's "problem" takes its bounds from the observed
[min, max] of each parameter.

A method that fails (too few trials, a degenerate column) gives NaN rows with
the reason in ``note``; :func:`analyze` never raises for that.
Randomness: ``seed`` seeds the forests and SALib's bootstraps; it is recorded in
the ``seed`` column.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import optuna
import pandas as pd
from SALib.analyze import delta as salib_delta
from SALib.analyze import pawn as salib_pawn
from SALib.analyze import rbd_fast as salib_rbd_fast

from dcsomrl.util import one_line
from studies.storage import quiet_optuna

from .errors import AnalysisError
from .table import Prepared, prepare, varying

COLUMNS = ["method", "outcome", "parameter", "value", "conf", "seed", "note"]
METHODS = ("optuna.fanova", "optuna.mdi", "optuna.ped_anova", "salib.rbd_fast", "salib.delta", "salib.pawn")


@contextlib.contextmanager
def _quiet():
    """Silence library warnings; restore what SALib changes globally (Optuna's logs: quiet_optuna)."""
    fmt = warnings.formatwarning
    try:
        # record=True: SALib resets the warning filters itself; recorded warnings are dropped
        with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
    finally:
        warnings.formatwarning = fmt


def distributions(data: pd.DataFrame, params: list[str]) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions from the columns: integer-valued -> IntDistribution, else FloatDistribution."""
    out = {}
    for p in params:
        x = data[p].to_numpy(float)
        if np.all(x == np.round(x)):
            out[p] = optuna.distributions.IntDistribution(int(x.min()), int(x.max()))
        else:
            out[p] = optuna.distributions.FloatDistribution(float(x.min()), float(x.max()))
    return out


def optuna_study(data: pd.DataFrame, params: list[str], outcome: str) -> optuna.Study:
    """An in-memory Optuna study holding one COMPLETE trial per row (value = ``outcome``)."""
    quiet_optuna()  # no "A new study created in memory" line per outcome
    dists = distributions(data, params)
    trials = []
    for row in data[params + [outcome]].itertuples(index=False):
        values = dict(zip(params + [outcome], row))
        trial_params = {p: (int(values[p]) if isinstance(dists[p], optuna.distributions.IntDistribution)
                            else float(values[p])) for p in params}
        trials.append(optuna.trial.create_trial(params=trial_params, distributions=dists,
                                                value=float(values[outcome])))
    with _quiet():
        study = optuna.create_study(direction="maximize")
        study.add_trials(trials)
    return study


def _optuna_method(method: str, study: optuna.Study, params: list[str], *, seed: int,
                   n_trees: int, max_depth: int) -> dict[str, tuple[float, float]]:
    imp = optuna.importance
    evaluator = {
        "optuna.fanova": lambda: imp.FanovaImportanceEvaluator(n_trees=n_trees, max_depth=max_depth, seed=seed),
        "optuna.mdi": lambda: imp.MeanDecreaseImpurityImportanceEvaluator(
            n_trees=n_trees, max_depth=max_depth, seed=seed),
        "optuna.ped_anova": lambda: imp.PedAnovaImportanceEvaluator(),
    }[method]()
    # sorted(): Optuna 5.0's MeanDecreaseImpurity evaluator labels the importances in the
    # study's (sorted) parameter order whatever order ``params`` is given in.
    values = imp.get_param_importances(study, evaluator=evaluator, params=sorted(params), normalize=True)
    return {p: (float(values[p]), np.nan) for p in params}


def _salib_method(method: str, X: np.ndarray, y: np.ndarray, params: list[str], *,
                  seed: int, resamples: int = 10) -> tuple[dict[str, tuple[float, float]], str]:
    n = len(y)
    problem = {"num_vars": len(params), "names": list(params),
               "bounds": [[float(X[:, j].min()), float(X[:, j].max())] for j in range(len(params))]}
    salib_seed = int(np.random.default_rng(seed).integers(1, 2**31 - 1))  # SALib ignores seed 0
    note = ""
    if method == "salib.rbd_fast":
        harmonics = min(10, (n - 1) // 4)
        if harmonics < 1:
            raise ValueError(f"RBD-FAST needs at least 5 trials, got {n}")
        res = salib_rbd_fast.analyze(problem, X, y, M=harmonics, num_resamples=resamples, seed=salib_seed)
        value, conf = res["S1"], res["S1_conf"]
    elif method == "salib.delta":
        res = salib_delta.analyze(problem, X, y, num_resamples=resamples, seed=salib_seed, method="delta")
        value, conf = res["delta_balanced"], res["delta_balanced_conf"]
        notes = [s for s in res.get("notes", []) if s and "Step" not in s]  # 'step' mode is not used here
        note = "; ".join(dict.fromkeys(notes))
    elif method == "salib.pawn":
        slides = max(2, min(10, n // 10))
        if n < 2 * slides * 2:
            raise ValueError(f"PAWN needs at least {2 * slides * 2} trials for {slides} slides, got {n}")
        res = salib_pawn.analyze(problem, X, y, S=slides, seed=salib_seed)
        value, conf = res["median"], [np.nan] * len(params)
    else:
        raise ValueError(f"unknown method {method!r}")
    return {p: (float(v), float(c)) for p, v, c in zip(params, value, conf)}, note


def analyze_outcome(data: pd.DataFrame, params: list[str], outcome: str, *, methods=METHODS,
                    seed: int = 0, n_trees: int = 32, max_depth: int = 8,
                    resamples: int = 10) -> pd.DataFrame:
    """Every method on one outcome; ``data`` holds finite ``params + [outcome]`` columns."""
    params = varying(data, params)
    rows = []
    study = None
    for method in methods:
        note = ""
        try:
            with _quiet():
                if method.startswith("optuna."):
                    study = study or optuna_study(data, params, outcome)
                    result = _optuna_method(method, study, params, seed=seed,
                                            n_trees=n_trees, max_depth=max_depth)
                else:
                    result, note = _salib_method(method, data[params].to_numpy(float),
                                                 data[outcome].to_numpy(float), params, seed=seed,
                                                 resamples=resamples)
        except Exception as exc:  # noqa: BLE001 -- a cross-check may fail on a small table; record it
            result = {p: (np.nan, np.nan) for p in params}
            note = f"failed: {one_line(exc, with_type=True, limit=200)}"
        if not note and any(np.isnan(v) for v, _ in result.values()):
            note = f"no value: {method} could not estimate this on {len(data)} trials"
        for p, (value, conf) in result.items():
            rows.append(dict(method=method, outcome=outcome, parameter=p, value=value, conf=conf, seed=seed,
                             note=note))
    return pd.DataFrame(rows, columns=COLUMNS)


def analyze(table, params=None, outcomes=("nmi", "purity"), *, methods=METHODS, seed: int = 0,
            n_trees: int = 32, max_depth: int = 8, resamples: int = 10) -> pd.DataFrame:
    """Tidy importance table: method, outcome, parameter, value, conf, seed, note.

    ``table``: the trial table (cleaned by :func:`analysis.table.prepare`) or
    a :class:`~analysis.table.Prepared` sample. ``n_trees``/``max_depth``: the
    forests of fANOVA and MDI (small keeps it fast); ``resamples``: SALib's
    bootstrap resamples for ``conf`` (RBD-FAST, delta). Failures give NaN + note.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise AnalysisError(f"unknown importance method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    prep = table if isinstance(table, Prepared) else prepare(table, params, outcomes)
    frames = [analyze_outcome(prep.outcome_data(o), prep.params, o, methods=methods, seed=seed,
                              n_trees=n_trees, max_depth=max_depth, resamples=resamples)
              for o in prep.outcomes]
    return pd.concat(frames, ignore_index=True)
