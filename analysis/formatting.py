"""Number formatting of every report page, in one module.

* :func:`p_text`: a p-value (or R²) to 2 significant digits; an underflow to 0
  reads "< 1e-300"; NaN reads "–".
* :func:`number_text`: a measured number in a table cell, to 3 decimals, or 2
  significant digits when it is tiny or huge (1e-07, 2.5e+04); NaN reads "–";
  True "yes".
* :func:`value_text`: a parameter value, 6 significant digits
  (a_t = 0.99885 must not read 0.999).
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np


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
