"""Number formatting of the reports, in one place: how every page writes a number.

* :func:`mean_std`: a mean over runs with its standard deviation, '0.791 ± 0.005'.
* :func:`epochs_text`: the training epochs of a method's runs, '30', '42.7', '3–5'.
* :func:`budget_text`: the protocol's budget, 'batch_size 256, epochs 30'.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd


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
