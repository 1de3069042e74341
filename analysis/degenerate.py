"""Degenerate runs: a map that collapsed, or a data set too small to measure (dcsomrl.metrics.degenerate_reason).

A degenerate run is an outcome, not an error: the sensitivity analysis keeps it (and
says how many there are); the tables that average runs (``final``, ``protocol``'s
Table 1) name them and give their means without them too. The functions here are pure.
"""
from __future__ import annotations

import pandas as pd

from dcsomrl.metrics import degenerate_reason


def classify(runs: pd.DataFrame, n_classes: int | None = None, n_test: int | None = None) -> pd.Series:
    """Each run's degeneracy reason ("" for a sound run), indexed as ``runs``.

    The reason a run recorded (a ``degenerate`` column, from its metrics.json) when it has one, else
    the one computed from its ``n_nodes`` and the data set's ``n_classes`` and ``n_test`` (when given).
    """
    recorded = runs["degenerate"] if "degenerate" in runs else pd.Series(None, index=runs.index, dtype=object)
    nodes = pd.to_numeric(runs["n_nodes"], errors="coerce") if "n_nodes" in runs \
        else pd.Series(float("nan"), index=runs.index)
    out = []
    for given, k in zip(recorded, nodes):
        text = "" if given is None or (isinstance(given, float) and pd.isna(given)) else str(given).strip()
        out.append(text or degenerate_reason(None if pd.isna(k) else int(k), n_classes, n_test))
    return pd.Series(out, index=runs.index, dtype=object)


def count_note(reasons: pd.Series, unit: str = "seeds") -> str | None:
    """'2 of 10 seeds collapsed to one node' (or '... degenerate (one node; ...)'), or None when none is."""
    bad = reasons[reasons.astype(str) != ""]
    if bad.empty:
        return None
    kinds = sorted(set(bad))
    if kinds == ["one node"]:
        return f"{len(bad)} of {len(reasons)} {unit} collapsed to one node"
    return f"{len(bad)} of {len(reasons)} {unit} degenerate ({'; '.join(kinds)})"
