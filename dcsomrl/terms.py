"""The terms the SOMRL steps are built from (docs/algorithm.md), shared by both paths of
:class:`dcsomrl.somrl.SOMRL`: the compacted steps (:mod:`dcsomrl.somrl`) and the masked ones
(:mod:`dcsomrl.masked`).

- the activation of eq. 1-2 in its direct form (:func:`activation`), the matrix-product
  bound that screens it (:func:`activation_bounds`) and the float32 precision torch allows
  for that product (:func:`fp32_matmul_precision`);
- sums in one fixed order (:func:`ordered_sum`, :func:`segment_sum`, :func:`mean_center`),
  on which the exactness rests (docs/algorithm.md, "Exactness");
- the node terms of step 5: the repel of eq. 3 (:func:`repel`), the relevances of eq. 6
  (:func:`relevances_from_distances`), both for every node at once (:func:`node_terms`);
- step 3's groups (:class:`Groups`) and step 7's life threshold (:data:`LIFE_EPS`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

EPS = 1e-7

#: A life at or below this counts as 0 (step 7). Repeated ``life -= ld`` leaves a
#: rounding residue: 1 - 0.1 ten times is 1.4e-16 in float64, not 0, which would
#: cost an 11th loss; exact arithmetic removes a node after ceil(1/ld) losses.
LIFE_EPS = 1e-6


# --------------------------------------- the activation (eq. 1-2), sums in a fixed order
def ordered_sum(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """sum over ``dim``, left to right in float64: ((t_0 + t_1) + t_2) + ..., then rounded once to t's dtype.

    An explicit accumulation, one addition per index (no reduction kernel, no
    float ``cumsum``, which is a parallel scan on CUDA): every row gets the same
    rounding whatever its position, the device, the thread count or the CPU's
    vector width, and the same bits as the loop reference (float64 ``np.cumsum``).
    (..., m, ...) -> (...)
    """
    u = t.movedim(dim, 0)                                             # (m, ...)
    acc = u[0].to(torch.float64, copy=True)
    for i in range(1, u.shape[0]):
        acc.add_(u[i])
    return acc.to(t.dtype)


def weighted_distance(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """D = sum_i w_i (x_i - c_i)^2 (eq. 1) in the direct form, on broadcast rows (..., m) -> (...)."""
    diff = x - c
    return ordered_sum(diff * diff * w)


def act(sw: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """act = sw / (sw + D + eps) (eq. 2); monotone in D, also after rounding."""
    return sw / (sw + dist + EPS)


def activation(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact act_j(x) of every input for every node (eq. 1-2).   x: (B, m), c, w: (K, m) -> (B, K)"""
    return act(ordered_sum(w), weighted_distance(x[:, None, :], c, w))


def _reduced_precision_fp32_matmul(device_type: str) -> bool:
    """Whether torch may compute float32 matrix products in TF32 or bf16 on this device type.

    Reads the new ``fp32_precision`` settings (torch >= 2.9: "ieee", "tf32", "bf16";
    "none" inherits) and the legacy ``get_float32_matmul_precision``, which raises
    once the two APIs are mixed; any doubt counts as reduced (a wider, still valid
    screen: more entries are computed exactly).
    """
    backend = torch.backends.cuda.matmul if device_type == "cuda" else torch.backends.mkldnn.matmul
    parent = torch.backends.cuda if device_type == "cuda" else torch.backends.mkldnn
    for setting in (backend, parent, torch.backends):
        value = getattr(setting, "fp32_precision", "none")
        if value not in ("none", "ieee"):
            return True
        if value == "ieee":
            return False
    try:
        return torch.get_float32_matmul_precision() != "highest"
    except RuntimeError:  # legacy and new API mixed
        return True


def fp32_matmul_precision(device_type: str) -> str:
    """What float32 matrix products may run in on this device type: "float32", or "tf32/bf16" when a
    global torch setting allows reduced precision (recorded with every trial; the map's decisions stay
    exact either way, the screen widens)."""
    return "tf32/bf16" if _reduced_precision_fp32_matmul(device_type) else "float32"


def _matmul_roundoff(dtype: torch.dtype, device_type: str = "cpu") -> float:
    """Unit roundoff of a matrix product: TF32/bf16 products when torch allows them for float32."""
    if dtype == torch.float32 and _reduced_precision_fp32_matmul(device_type):
        return 2.0 ** -8
    return torch.finfo(dtype).eps / 2


class Nodes(NamedTuple):
    """The K nodes as the activation needs them, computed once per step (:func:`nodes_of`)."""
    c: torch.Tensor       # (K, m) centers
    w: torch.Tensor       # (K, m) relevances
    sw: torch.Tensor      # (K,) sum_i w_i, in order (:func:`ordered_sum`)
    s2: torch.Tensor      # (K,) S2 = sum_i w_i c_i^2
    rhs: torch.Tensor     # (K, 2m) [w, -2 w c]: D - S2 = [x^2, x] @ rhs^T


def nodes_of(c: torch.Tensor, w: torch.Tensor) -> Nodes:
    wc = w * c
    return Nodes(c, w, ordered_sum(w), (wc * c).sum(1), torch.cat([w, -2 * wc], 1))


def activation_bounds(x: torch.Tensor, nodes: Nodes):
    """(approx, err), both (B, K): |approx - activation(x, c, w)| <= err, elementwise, from one matrix product.

    D = S1 + S2 - 2 S3 with S1 = sum w x^2, S2 = sum w c^2, S3 = sum w x c, as
    [x^2, x] @ [w, -2 w c]^T + S2. Any summation order of that product errs by
    at most gamma_{2m+1} (S1 + S2 + 2|S3|) <= 2 gamma_{2m+1} (S1 + S2), and the
    direct form by less still, so a margin of 8 (2m + 4) u (S1 + S2) on D covers
    both twice over; S1 <= sw max_i x_i^2. act(D) = sw / (sw + D + eps) changes
    by at most |dD| / sw, and computing either activation rounds it by at most
    3u (it is <= 1):

        err = 8 (2m + 4) u (max_i x_i^2 + S2 / sw) + 16 u
    """
    m = x.shape[1]
    k = 8 * (2 * m + 4) * _matmul_roundoff(x.dtype, x.device.type)
    xx = x * x                                                        # (B, m)
    dist = torch.addmm(nodes.s2, torch.cat([xx, x], 1), nodes.rhs.T)  # (B, K) ~ D
    approx = nodes.sw / dist.clamp_(min=0).add_(nodes.sw + EPS)       # (B, K)
    err = (k * xx.amax(1) + 8 * torch.finfo(x.dtype).eps)[:, None] + k * nodes.s2 / nodes.sw  # (B, K)
    return approx, err


def activation_pairs(x: torch.Tensor, nodes: Nodes, b: torch.Tensor, k: torch.Tensor):
    """Exact act_k(x_b) for the P pairs (b, k) (the same values as :func:`activation`).   -> (P,)"""
    return act(nodes.sw[k], weighted_distance(x[b], nodes.c[k], nodes.w[k]))


def activation_where(x: torch.Tensor, nodes: Nodes, need: torch.Tensor) -> torch.Tensor:
    """Exact activations where ``need`` (B, K) is True, -inf elsewhere."""
    b, k = need.nonzero(as_tuple=True)                                # (P,) pairs
    out = torch.full(need.shape, -math.inf, dtype=x.dtype, device=x.device)
    return out.index_put_((b, k), activation_pairs(x, nodes, b, k))


def segment_sum(index: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """out[j] = sum of rows[r] with index[r] == j, added in row order; rows with index n are dropped.

    ``index_put_(accumulate=True)``: a sequential loop on the CPU; on CUDA a
    stable radix sort of the indices, then each segment added in order by one
    thread (no atomics, the same order), with an asynchronous range check (no
    host sync). The order is that of ``index_add_`` on the CPU, which the
    compacted path and the loop reference use.   index (R,), rows (R, k) -> (n, k)
    """
    out = torch.zeros(n + 1, rows.shape[1], dtype=rows.dtype, device=rows.device)
    return out.index_put_((index,), rows, accumulate=True)[:n]


def mean_center(c: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """cbar: the mean of the rows of c (those where ``keep``), summed in row order (:func:`segment_sum`),
    so the compacted and the masked paths get the same bits.   c: (K, m) -> (m,)"""
    if keep is None:
        return segment_sum(torch.zeros(c.shape[0], dtype=torch.long, device=c.device), c, 1)[0] / c.shape[0]
    total = segment_sum((~keep).long(), c, 1)[0]                      # rows not kept go to the dropped segment
    return total / keep.sum().clamp(min=1).to(c.dtype)


# --------------------------------------------------------------- node terms
def repel(v: torch.Tensor, form: str, sq: torch.Tensor | None = None) -> torch.Tensor:
    """The repel term of eq. 3 for v = cbar - c, one row per node (docs/algorithm.md).

    radial:    v * max(1 - 2||v||, 0)   ||v|| the Euclidean norm of the node's row
    symmetric: v * max(1 - 2|v|, 0)     per dimension
    paper:     max(1 - 2v, 0)           eq. 4 as printed (a drift toward 0)
    v: (K, m) -> (K, m); sq (K,): ordered_sum(v * v) when the caller has it
    """
    if form == "radial":  # the norm summed in order (:func:`ordered_sum`): the same bits for equal rows
        sq = ordered_sum(v * v) if sq is None else sq
        return v * torch.clamp(1 - 2 * sq.sqrt()[:, None], min=0)
    if form == "symmetric":
        return v * torch.clamp(1 - 2 * v.abs(), min=0)
    return torch.clamp(1 - 2 * v, min=0)


def relevances_from_distances(d: torch.Tensor, s: float, total: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 6 with the sign of the text and of the public code (docs/algorithm.md).

    w_ki = 1 / (1 + exp((d_ki - mean_i d_k) / (s * (max_i d_k - min_i d_k)))),
    and w_k = 1 where max_i d_k == min_i d_k.       d: (K, m) -> w: (K, m); total (K,): ordered_sum(d) if known
    The mean is summed in order (:func:`ordered_sum`), so a row's relevances do
    not depend on its position or on how many rows there are.
    """
    spread = d.amax(dim=1, keepdim=True) - d.amin(dim=1, keepdim=True)  # (K, 1)
    flat = spread == 0
    total = ordered_sum(d) if total is None else total
    z = (d - (total / d.shape[1])[:, None]) / (s * torch.where(flat, torch.ones_like(spread), spread))
    return torch.where(flat, torch.ones_like(d), torch.sigmoid(-z))


def node_terms(c: torch.Tensor, d_new: torch.Tensor, xk: torch.Tensor, eta_k: torch.Tensor, cbar: torch.Tensor,
               s: float, rho: float, form: str):
    """Eq. 6 and 3 for every row: (w_new, c_new). The two ordered row sums they need (sum_i d_i for
    the mean, sum_i v_i^2 for the radial norm) run in one loop.   c, d_new, xk: (K, m), eta_k (K,)"""
    v = cbar - c                                                      # (K, m)
    if form == "radial":
        total, sq = ordered_sum(torch.stack([d_new, v * v]))          # (K,), (K,)
    else:
        total, sq = ordered_sum(d_new), None
    w_new = relevances_from_distances(d_new, s, total)
    c_new = c + eta_k[:, None] * ((xk - c) - rho * repel(v, form, sq))
    return w_new, c_new


# --------------------------------------------------------------- step 3's groups
class Groups(NamedTuple):
    """Step 3: the samples grouped by winner, per node k of the K (rows indexed by node)."""
    n_high: torch.Tensor      # (K,) number of high samples node k won
    n_low: torch.Tensor       # (K,) number of low samples node k won
    high_mean: torch.Tensor   # (K, m) mean of node k's high samples (0 where none)
    low_mean: torch.Tensor    # (K, m) mean of node k's low samples (0 where none)
