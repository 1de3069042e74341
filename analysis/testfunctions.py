"""Known-answer test functions for the sensitivity measures (SALib style).

:func:`synthetic_table` draws an LHS design and evaluates :func:`evaluate`,
whose answer is known by construction, with u_j = (x_j - low_j) / (high_j - low_j)
the parameter scaled to [0, 1]:

    y = 1.0 u_lin + 0.7 (exp(3 u_mono) - 1) / (e^3 - 1) + 0.8 (2 u_ushape - 1)^2 + eps,
    eps ~ N(0, noise^2)

* ``lin``: linear, increasing (|PRCC| near 1 for small noise);
* ``mono``: monotone (increasing) but nonlinear (convex), so its SRC < SRRC;
* ``ushape``: U-shaped, non-monotone: PRCC ~ 0, yet the KW grid test and
  the KS test (behavioural trials sit at both ends) detect it;
* ``null1``, ``null2`` (an integer parameter), ``null3``: no effect at all.

The best y lies at lin = high, mono = high, ushape = low or high.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: name -> (low, high, type) of the known-answer parameters.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "lin": (0.0, 1.0, "float"),
    "mono": (0.0, 2.0, "float"),
    "ushape": (-1.0, 1.0, "float"),
    "null1": (0.95, 0.999, "float"),
    "null2": (10, 50, "int"),
    "null3": (0.01, 1.0, "float"),
}
INFLUENTIAL = ("lin", "mono", "ushape")
NON_INFLUENTIAL = ("null1", "null2", "null3")


def lhs_design(bounds: dict[str, tuple], n: int, seed: int) -> pd.DataFrame:
    """An n-point Latin hypercube over ``bounds``, drawn by the study runner's own design
    (:func:`studies.design.sample`: seeded, every column stratified, integers included).

    ``bounds``: name -> (low, high) or (low, high, type), type "float" (default) or
    "int"; linear scales. Any names (the runner's spaces only take dcsomrl's).
    """
    from studies.design import sample
    from studies.space import Dimension, Space

    dims = {name: Dimension(name, kind[0] if kind else "float", low, high)
            for name, (low, high, *kind) in bounds.items()}
    return sample(Space("known-answer", dims), n, seed).reset_index(drop=True)


def _unit(design: pd.DataFrame, name: str) -> np.ndarray:
    low, high, _ = BOUNDS[name]
    return (design[name].to_numpy(float) - low) / (high - low)


def evaluate(design: pd.DataFrame, *, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """The known-answer outcome (module docstring) for each row of ``design``."""
    rng = np.random.default_rng(seed)
    mono = (np.exp(3 * _unit(design, "mono")) - 1) / (np.e ** 3 - 1)
    y = (1.0 * _unit(design, "lin") + 0.7 * mono + 0.8 * (2 * _unit(design, "ushape") - 1) ** 2)
    return y + noise * rng.standard_normal(len(design))


def synthetic_table(n: int = 200, seed: int = 0, *, noise: float = 0.1, outcome: str = "y") -> pd.DataFrame:
    """A trial table: LHS design over :data:`BOUNDS`, the outcome column, and study-like metadata.

    Metadata: ``number`` (0..n-1), ``seed`` and ``state`` ("COMPLETE").
    """
    table = lhs_design(BOUNDS, n, seed)
    table[outcome] = evaluate(table, noise=noise, seed=seed + 1)
    table.insert(0, "number", np.arange(n))
    table["seed"] = seed
    table["state"] = "COMPLETE"
    return table


def space() -> dict[str, dict]:
    """The known-answer parameter space in the plain dict form of :mod:`analysis.refine`."""
    return {name: {"low": low, "high": high, "type": kind, "scale": "linear"}
            for name, (low, high, kind) in BOUNDS.items()}


def planted_effect(n: int, k: int, share: float, seed: int, shape: str = "linear"):
    """A synthetic screening problem at a study's size: an n-point LHS over k unit parameters, and an
    outcome in which x_0 alone explains ``share`` of the variance (the others are null), plus noise.

    shape "linear": y ~ x_0; "u": y ~ (2 x_0 - 1)^2 (good at both ends); share 0: no effect at all.
    Returns (X (n, k), y (n,)).
    """
    from scipy.stats import qmc

    rng = np.random.default_rng(seed)
    X = qmc.LatinHypercube(d=k, seed=rng).random(n)
    signal = X[:, 0] if shape == "linear" else (2 * X[:, 0] - 1) ** 2
    noise = rng.standard_normal(n)
    if share <= 0:
        return X, noise
    return X, signal / signal.std() + noise * np.sqrt((1 - share) / share)
