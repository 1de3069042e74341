"""The seed design of the final round: one space's fixed values, trained once per seed.

A space of fixed values (what ``best`` writes) is one parameter setting;
:func:`seed_design` repeats it ``n`` times, point i with ``seed`` = first_seed + i,
so the runs differ only in their seed. :func:`require_fixed` refuses a space
that still has ranges (naming them), :func:`fixed_values` reads its values.
Pure functions; ``analysis.final`` trains the design, ``analysis.candidates``
reads a trial's values with :func:`fixed_values`.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from dcsomrl.params import check_run

from .errors import AnalysisError


def require_fixed(space) -> None:
    """Raise AnalysisError naming every parameter of ``space`` that still has a range or choices."""
    open_ = [name for name, dim in space.dims.items() if dim.varies]
    if open_:
        raise AnalysisError(f"space {space.name!r} still has ranges for {', '.join(open_)}; final needs "
                            "fixed values (write them with dcsomrl-study best)")


def fixed_values(space) -> dict[str, Any]:
    """``{name: value}`` of a space of fixed values (a one-choice categorical counts as fixed)."""
    require_fixed(space)
    return {name: dim.value if dim.fixed else dim.choices[0] for name, dim in space.dims.items()}


def seed_design(space, n: int, first_seed: int = 0) -> pd.DataFrame:
    """n design points with the space's fixed values, differing only in ``seed`` = first_seed + i.

    One row per point: the parameter columns (space order), then ``seed``.
    """
    n, first_seed = check_run("seeds", n), check_run("seed", first_seed)
    values = fixed_values(space)
    rows = [{**values, "seed": int(first_seed) + i} for i in range(int(n))]
    return pd.DataFrame(rows, columns=[*values, "seed"])
