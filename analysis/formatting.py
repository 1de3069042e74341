"""Number formatting of every report page, in one module.

* :func:`p_text`: a p-value (or R²) to 2 significant digits; an underflow to 0
  reads "< 1e-300"; NaN reads "–".
* :func:`number_text`: a measured number in a table cell, to 3 decimals, or 2
  significant digits when it is tiny or huge (1e-07, 2.5e+04); NaN reads "–";
  True "yes".
* :func:`value_text`: a parameter value, 6 significant digits
  (a_t = 0.99885 must not read 0.999).
* :func:`mean_std`: a mean over runs with its standard deviation, '0.791 ± 0.005'.
* :func:`epochs_text`: the training epochs of a method's runs, '30', '42.7', '3–5'.
* :func:`budget_text`: the protocol's budget, 'batch_size 256, epochs 30'.
* :func:`seeds_text`: the seeds of a set of runs, '10 seeds (0..9)', '1 seed (5)'.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd


def p_text(p: float) -> str:
    """A p-value (or R²) to 2 significant digits; an underflow to 0 reads '< 1e-300'."""
    if np.isnan(p):
        return "–"
    return "< 1e-300" if p == 0 else f"{p:.2g}"


def number_text(v: Any) -> str:
    """A table cell: bools 'yes'/'', ints as they are, floats to 3 decimals or 2 significant digits."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else ""
    if isinstance(v, Integral):
        return str(v)
    if isinstance(v, Real):
        v = float(v)
        if math.isnan(v):
            return "–"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
            return f"{v:.2g}"
        return f"{v:.3f}"
    return str(v)


def value_text(v: Any) -> str:
    """A parameter value: floats to 6 significant digits, anything else as ``str``."""
    return f"{float(v):.6g}" if isinstance(v, Real) and not isinstance(v, Integral) else str(v)


# --- final / protocol ---

def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """'0.791 ± 0.005'; the mean alone without a std; '–' without a mean."""
    if mean is None or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None or math.isnan(std) else f" ± {std:.{digits}f}")


def epochs_text(epochs: pd.Series) -> str:
    """The training epochs of a method's runs as text: '5', '42.7', '3–5' for differing runs, '–' for none."""
    values = pd.to_numeric(epochs, errors="coerce").dropna()
    if values.empty:
        return "–"
    low, high = (f"{v:.3g}" if v != int(v) else str(int(v)) for v in (values.min(), values.max()))
    return low if low == high else f"{low}–{high}"


def budget_text(budget: dict[str, Any]) -> str:
    """The budget's values as text: 'batch_size 256, epochs 30' (``analysis.protocol.Protocol.budget``)."""
    return ", ".join(f"{k} {v}" for k, v in budget.items())


def seeds_text(seeds) -> str:
    """The seeds of a set of runs, in order: '10 seeds (0..9)'; one seed: '1 seed (5)'."""
    seeds = list(seeds)
    if len(seeds) == 1:
        return f"1 seed ({seeds[0]})"
    return f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]})"
