"""Latin Hypercube designs over a parameter space (SPEC 6; the paper's appendix A.1).

A design of n points is drawn in two steps, both pure functions:

1. :func:`unit_sample`: an LHS in the unit cube [0, 1)^d, one column per
   varying parameter, from :class:`scipy.stats.qmc.LatinHypercube` (seeded;
   optionally optimized with ``"random-cd"``, which permutes within columns
   and so keeps the design a Latin Hypercube). Column j is *stratified*: the
   n strata [i/n, (i+1)/n) each hold exactly one point, at a random place.
2. :func:`map_unit`: each column through its parameter's scale
   (see :mod:`studies.space`):

   - float, ``linear``: x = low + u (high - low)
   - float, ``log``:    x = exp(log low + u (log high - log low))
   - float, ``log1m``:  x = 1 - exp(log(1 - low) + u (log(1 - high) - log(1 - low)))

   all increasing in u, with x(0) = low and x(1) = high.

   Integers and categoricals must keep the stratification. The k admissible
   values (integers low..high, or the k choices) each own a *cell* of the unit
   interval: integer v owns [G(v - 1/2), G(v + 1/2)), where G maps the
   extended range [low - 1/2, high + 1/2] onto [0, 1] by the scale (equal
   cells on a linear scale; choices always get equal cells 1/k). Stratum i,
   [i/n, (i+1)/n), owns the values whose cell centre lies in it:

   - owning one or more (cells narrower than a stratum), its point takes the
     one at its relative place inside the stratum, number
     ``floor(frac * size)`` of them, frac = u n - i. Strata own disjoint sets,
     so these points all differ; on a linear scale with n <= k every stratum
     owns a value and all n values differ, spread over the whole range.
   - owning none (a cell wider than a stratum: n > k, or the wide cells at the
     low end of a log scale), its point takes the value whose cell holds the
     stratum's midpoint (i + 1/2)/n. A value is then shared by the strata its
     cell covers, so it is used by n p_v points, rounded (p_v: its cell's
     width), the discrete analogue of one point per stratum.

   Fixed values are constant columns; a categorical with one choice too.

:func:`sample` composes the two.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from studies.errors import SpaceError
from studies.space import Dimension, Space

OPTIMIZATIONS = (None, "random-cd")
# scipy's other option, "lloyd", moves points off their strata (it breaks the
# Latin Hypercube property), so it is refused.


def unit_sample(d: int, n: int, seed: int, optimization: str | None = None) -> np.ndarray:
    """An (n, d) Latin Hypercube in [0, 1)^d; each column hits each of its n strata once."""
    if n < 1:
        raise SpaceError(f"a design needs n >= 1 points, got n={n}")
    if optimization not in OPTIMIZATIONS:
        raise SpaceError(f"unknown design optimization {optimization!r}; expected one of "
                         f"{', '.join(str(o) for o in OPTIMIZATIONS)} ('lloyd' breaks the strata)")
    if d == 0:
        return np.empty((n, 0))
    from scipy.stats import qmc

    sampler = qmc.LatinHypercube(d=d, optimization=optimization, rng=np.random.default_rng(seed))
    return sampler.random(n)


def map_unit(space: Space, unit: np.ndarray) -> pd.DataFrame:
    """Map a unit-cube design (columns = ``space.varying``) onto the space's parameters.

    Returns one row per design point and one column per parameter of the space
    (in the space's order), with Python-typed values: int columns hold ints,
    categorical columns the choices.
    """
    unit = np.asarray(unit, dtype=float)
    varying = space.varying
    if unit.ndim != 2 or unit.shape[1] != len(varying):
        raise SpaceError(f"unit design has shape {unit.shape}, expected (n, {len(varying)}) "
                         f"for the varying parameters {varying}")
    n = unit.shape[0]
    columns = {}
    for name, dim in space.dims.items():
        if name in varying:
            columns[name] = _map_column(dim, unit[:, varying.index(name)])
        else:
            value = dim.value if dim.fixed else dim.choices[0]
            columns[name] = [value] * n
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n, name="design_index"))
    for name, dim in space.dims.items():
        if dim.type == "int":
            frame[name] = frame[name].astype("int64")
        elif dim.type == "float":
            frame[name] = frame[name].astype("float64")
    return frame


def sample(space: Space, n: int, seed: int, optimization: str | None = None) -> pd.DataFrame:
    """An n-point LHS design over ``space`` (pure: the same arguments give the same frame)."""
    return map_unit(space, unit_sample(len(space.varying), n, seed, optimization))


# --------------------------------------------------------------------------- scales

def _map_column(dim: Dimension, u: np.ndarray) -> list:
    if dim.type == "float":
        return [float(x) for x in scale_map(dim.scale, dim.low, dim.high, u)]
    if dim.type == "int":
        values = np.arange(dim.low, dim.high + 1)
        edges = scale_inverse(dim.scale, dim.low - 0.5, dim.high + 0.5, values[:-1] + 0.5)
        index = stratified_index(u, np.concatenate([[0.0], edges, [1.0]]))
        return [int(values[i]) for i in index]
    k = len(dim.choices)
    index = stratified_index(u, np.linspace(0.0, 1.0, k + 1))
    return [dim.choices[i] for i in index]


def scale_map(scale: str, low: float, high: float, u: np.ndarray) -> np.ndarray:
    """x(u) on ``scale`` from [0, 1] onto [low, high] (increasing; x(0) = low, x(1) = high)."""
    u = np.asarray(u, dtype=float)
    if scale == "linear":
        return low + u * (high - low)
    if scale == "log":
        return np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    if scale == "log1m":
        return 1.0 - np.exp(np.log1p(-low) + u * (np.log1p(-high) - np.log1p(-low)))
    raise SpaceError(f"unknown scale {scale!r}")


def scale_inverse(scale: str, low: float, high: float, x: np.ndarray) -> np.ndarray:
    """u(x), the inverse of :func:`scale_map`."""
    x = np.asarray(x, dtype=float)
    if scale == "linear":
        return (x - low) / (high - low)
    if scale == "log":
        return (np.log(x) - np.log(low)) / (np.log(high) - np.log(low))
    if scale == "log1m":
        return (np.log1p(-x) - np.log1p(-low)) / (np.log1p(-high) - np.log1p(-low))
    raise SpaceError(f"unknown scale {scale!r}")


def stratified_index(u: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Value indices for a stratified column ``u`` of n points over k cells.

    ``cells`` holds the k + 1 increasing cell edges in [0, 1] (cells[0] = 0,
    cells[k] = 1); value v owns [cells[v], cells[v+1]). Stratum i (of u n) owns
    the values whose cell centre lies in it; it takes one of them at its
    relative position ``floor(frac * size)``, frac = u n - i, or, owning none
    (its values' cells are wider than a stratum), the value whose cell holds
    its midpoint. See the module docstring.
    """
    u = np.asarray(u, dtype=float)
    cells = np.asarray(cells, dtype=float)
    n, k = len(u), len(cells) - 1
    stratum = np.minimum((u * n).astype(int), n - 1)
    frac = u * n - stratum
    owner = np.minimum((0.5 * (cells[:-1] + cells[1:]) * n).astype(int), n - 1)  # stratum of each value
    lo = np.searchsorted(owner, stratum, side="left")
    size = np.searchsorted(owner, stratum, side="right") - lo
    inside = lo + np.minimum((frac * size).astype(int), np.maximum(size - 1, 0))
    shared = np.clip(np.searchsorted(cells, (stratum + 0.5) / n, side="right") - 1, 0, k - 1)
    return np.where(size > 0, inside, shared)
