"""The significance rule shared by :mod:`analysis.sensitivity` and :mod:`analysis.categorical`.

Per row (a parameter), p_min = the smallest of its test p-values that could be
computed; p_adj = min(1, p_min * m), m = the number of tests performed for the
outcome over all parameters, numeric and categorical (Bonferroni over one
family); ``significant`` = p_adj < alpha.
"""
from __future__ import annotations

import pandas as pd


def n_tests(frame: pd.DataFrame, tests: list[str]) -> int:
    """How many of the ``tests`` p-value columns hold a computed value."""
    return int(frame[tests].notna().to_numpy().sum()) if len(frame) else 0


def adjust(frame: pd.DataFrame, tests: list[str], m: int, alpha: float) -> pd.DataFrame:
    """``frame`` with p_min, p_adj (over ``m`` tests, at least 1) and significant added in place."""
    frame["p_min"] = frame[tests].min(axis=1, skipna=True)
    frame["p_adj"] = (frame["p_min"] * max(m, 1)).clip(upper=1.0)
    frame["significant"] = (frame["p_adj"] < alpha).fillna(False).astype(bool)
    return frame
