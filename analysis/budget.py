"""The budget in the analysis: ``batch_size`` and ``epochs`` are what a trial costs, not the model.

At a small screening budget small batches and small maps win (more steps,
fewer nodes to fill), so a budget parameter's "effect" in a study that varies
it is a cost, not a property of DC-SOMRL (dcsomrl.params.BUDGET). The report
says so next to its ranking (:func:`budget_note`); the protocol fixes the
budget from its adjusted stage on and measures, in its fidelity stage, whether
the screening budget ranks points as the final budget does
(:func:`budget_differs`).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from dcsomrl.params import BUDGET

from .table import complete_only


def varying_budget(table: pd.DataFrame) -> list[str]:
    """The budget parameters that take more than one value among the table's COMPLETE trials."""
    done, _ = complete_only(table)
    return [name for name in BUDGET if name in done and done[name].dropna().nunique() > 1]


def budget_note(table: pd.DataFrame) -> str | None:
    """One sentence for the report when the study varied its budget, else None."""
    names = varying_budget(table)
    if not names:
        return None
    listed = " and ".join(f"`{n}`" for n in names)
    verb = "vary" if len(names) > 1 else "varies"
    pronoun = "Their" if len(names) > 1 else "Its"
    return (f"{listed} {verb} in this study: {'they are' if len(names) > 1 else 'it is'} the budget, not the "
            f"model. {pronoun} apparent effect is a cost (more steps, smaller maps to fill at a small budget), "
            "not a property of DC-SOMRL; fix the budget to compare settings (the protocol does, from its "
            "adjusted stage on).")


def budget_differs(space, budget: dict[str, Any]) -> bool:
    """True when ``space`` varies a budget parameter or fixes it at another value than ``budget``'s."""
    return any(name in space.dims and (space.dims[name].varies or space.dims[name].value != value)
               for name, value in budget.items())
