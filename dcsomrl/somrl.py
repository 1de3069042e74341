"""SOMRL: a self-organizing map with relevance learning and a time-varying
number of nodes (the paper's section 3). The algorithm, step by step, with
every place it departs from the printed paper: ``docs/algorithm.md``.

The map lives in fixed-size buffers of capacity ``n_max`` (no concatenation);
a boolean mask marks the active slots. For latent dimension m::

    centers     c    (n_max, m)   prototypes
    relevances  w    (n_max, m)   per-dimension relevance in [0, 1]
    distances   d    (n_max, m)   moving average of |x - c| per dimension
    life             (n_max,)     1 after a win, minus ld after each batch lost
    active           (n_max,)     bool

Activation of node j for input x (eq. 1-2), eps = 1e-7::

    D_j(x)   = sum_i w_ji (x_i - c_ji)^2
    act_j(x) = sum_i w_ji / (sum_i w_ji + D_j(x) + eps)

One ``update`` on a batch is the seven steps of the algorithm, each a small
function below, computed from the state before the step and applied at once
with tensor operations only (no Python loop over samples, groups or nodes).
The steps work on the K pre-step active nodes, in ascending slot order, so
"lowest slot" is "lowest index" and a first maximum is the lowest slot (the
compacted path, the CPU's). The masked path (``update_masked``, any other
device's) runs the same steps over all n_max slots in fixed shapes, without a
host sync, with the same decisions (docs/algorithm.md, "Two paths").

**Exactness** (docs/algorithm.md, "Exactness"): every decision of a step (the
winner, high or low, neighbour or not, a neighbour's rank) compares
activations computed in the direct form above, summed over i in one fixed
order, so identical nodes get bit-identical activations on any BLAS, CPU and
thread count. A fast matrix-product bound only screens out the entries that
cannot matter (:func:`activation_bounds`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from dcsomrl import params as P

EPS = 1e-7

#: A life at or below this counts as 0 (step 7). Repeated ``life -= ld`` leaves a
#: rounding residue: 1 - 0.1 ten times is 1.4e-16 in float64, not 0, which would
#: cost an 11th loss; exact arithmetic removes a node after ceil(1/ld) losses.
LIFE_EPS = 1e-6


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


# --------------------------------------------------------------- activation
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


def _act(sw: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """act = sw / (sw + D + eps) (eq. 2); monotone in D, also after rounding."""
    return sw / (sw + dist + EPS)


def activation(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact act_j(x) of every input for every node (eq. 1-2).   x: (B, m), c, w: (K, m) -> (B, K)"""
    return _act(ordered_sum(w), weighted_distance(x[:, None, :], c, w))


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
    return _act(nodes.sw[k], weighted_distance(x[b], nodes.c[k], nodes.w[k]))


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


# ------------------------------------------------------------- the steps
def compete(x: torch.Tensor, nodes: Nodes):
    """Step 2, competition: win_i = argmax_j act_j(x_i), ties to the lowest index; a_i = act_win(x_i).

    Only the entries whose upper bound reaches the row's best lower bound can
    win or tie; they are computed exactly.   x: (B, m) -> win (B,) long, a (B,)
    """
    approx, err = activation_bounds(x, nodes)                         # (B, K)
    need = approx + err >= (approx - err).amax(dim=1, keepdim=True)  # (B, K), >= 1 per row
    b, k = need.nonzero(as_tuple=True)                                # (P,) pairs, row-major
    a = activation_pairs(x, nodes, b, k)                              # (P,) exact
    if b.numel() == x.shape[0]:                                       # one candidate per row: the winner
        return k, a
    exact = torch.full(need.shape, -math.inf, dtype=x.dtype, device=x.device).index_put_((b, k), a)
    a, win = exact.max(dim=1)                                         # max returns the first maximum
    return win, a


class Groups(NamedTuple):
    """Step 3: the samples grouped by winner, per node k of the K (rows indexed by node)."""
    n_high: torch.Tensor      # (K,) number of high samples node k won
    n_low: torch.Tensor       # (K,) number of low samples node k won
    high_mean: torch.Tensor   # (K, m) mean of node k's high samples (0 where none)
    low_mean: torch.Tensor    # (K, m) mean of node k's low samples (0 where none)


def group(x: torch.Tensor, win: torch.Tensor, high: torch.Tensor, K: int) -> Groups:
    """Step 3, groups: node k's high group is the high samples it won, its low group the low ones.

    One :func:`segment_sum` adds each node's high and low inputs and counts them, in
    sample order.   x: (B, m), win (B,), high (B,) bool -> Groups of (K, ...)
    """
    m = x.shape[1]
    hi = high.to(x.dtype)[:, None]                                    # (B, 1)
    lo = 1 - hi
    rows = torch.cat([x * hi, x * lo, hi, lo], dim=1)                 # (B, 2m + 2)
    sums = segment_sum(win, rows, K)                                  # (K, 2m + 2)
    n_high, n_low = sums[:, 2 * m], sums[:, 2 * m + 1]
    return Groups(n_high, n_low, sums[:, :m] / n_high.clamp(min=1)[:, None],
                  sums[:, m:2 * m] / n_low.clamp(min=1)[:, None])


def learning_rates(xg: torch.Tensor, gid: torch.Tensor, nodes: Nodes,
                   lr: float, gamma: float, a_t: float) -> torch.Tensor:
    """Step 4, learning rates (section 3.5) of the G high groups for the K nodes.

        eta[g, j_g] = lr                            the group's winner
        eta[g, k]   = lr * exp(-r / gamma)          another node with act_k(xg) >= a_t,
                                                    r = 1 + (non-winners ranked above k)
        eta[g, k]   = 0                             every other node

    xg: (G, m) group inputs, gid: (G,) their winners -> eta (G, K)
    """
    G, K, dev = xg.shape[0], nodes.c.shape[0], xg.device
    approx, err = activation_bounds(xg, nodes)
    ag = activation_where(xg, nodes, approx + err >= a_t)            # (G, K) exact where it can reach a_t
    own = torch.zeros(G, K, dtype=torch.bool, device=dev).scatter_(1, gid[:, None], True)
    neighbour = (ag >= a_t) & ~own                                    # (G, K)
    eta = own.to(xg.dtype) * lr
    # Rank only among the J nodes that are some group's neighbour: every node ranked
    # above a neighbour of g is itself one (its activation is as high, so >= a_t).
    # Non-neighbours sort last; a stable sort over ascending slots breaks ties low.
    cols = neighbour.any(dim=0).nonzero().squeeze(1)                  # (J,)
    if cols.numel() == 0:
        return eta
    J, nb = cols.numel(), neighbour[:, cols]                          # (G, J)
    order = torch.sort(torch.where(nb, ag[:, cols], -1.0), dim=1, descending=True, stable=True).indices
    r = torch.empty_like(order).scatter_(1, order, torch.arange(1, J + 1, device=dev).expand(G, J))
    # exponent floored at the smallest normal number: far ranks would give
    # denormals (slow on CPUs) where the rate is ~0 anyway
    floor = math.log(torch.finfo(xg.dtype).tiny) + 1
    eta[:, cols] = torch.where(nb, lr * torch.exp(torch.clamp(-r.to(xg.dtype) / gamma, min=floor)), eta[:, cols])
    return eta


def node_update(c: torch.Tensor, w: torch.Tensor, d: torch.Tensor, eta: torch.Tensor, xg: torch.Tensor,
                beta: float, s: float, rho: float, form: str):
    """Step 5, one combined update per touched node (eq. 3, 5, 6).

        eta_k = max_g eta[g, k],   xk = sum_g eta[g, k] xg / sum_g eta[g, k]
        d_k <- (1 - beta eta_k) d_k + beta eta_k |xk - c_k|          (eq. 5, old center)
        w_k <- eq. 6 of d_k
        c_k <- c_k + eta_k ((xk - c_k) - rho repel(cbar - c_k))       (eq. 3)

    cbar is the mean center of the K pre-step nodes; untouched nodes keep their
    state.   c, w, d: (K, m), eta: (G, K), xg: (G, m) -> new (c, w, d)
    """
    K, m = c.shape
    eta_k = eta.amax(dim=0)                                           # (K,)
    touched = (eta_k > 0)[:, None]                                    # (K, 1)
    # The rate-weighted mean over the (group, node) pairs with a rate, summed in group
    # order: xk - c cancels when a node sits on its target, so its rounding must not
    # depend on the BLAS (as a product eta.T @ xg would).
    gi, ki = eta.nonzero(as_tuple=True)                               # (P,) pairs, group order
    rate = eta[gi, ki]                                                # (P,)
    nd = segment_sum(ki, torch.cat([rate[:, None] * xg[gi], rate[:, None]], dim=1), K)  # (K, m + 1)
    xk = nd[:, :m] / nd[:, m].clamp(min=torch.finfo(c.dtype).tiny)[:, None]  # (K, m)
    be = (beta * eta_k)[:, None]                                      # (K, 1)
    d_new = (1 - be) * d + be * (xk - c).abs()
    w_new, c_new = node_terms(c, d_new, xk, eta_k, mean_center(c), s, rho, form)
    return (torch.where(touched, c_new, c), torch.where(touched, w_new, w), torch.where(touched, d_new, d))


# ------------------------------------------- the steps over all n_max slots
# The masked path (docs/algorithm.md, "Two paths"): the same seven steps over all
# N = n_max slots, with inactive slots masked out, so every tensor has a fixed
# shape and nothing is read back to the host (no nonzero, no boolean indexing,
# no Python branch on a count): a step can be queued on a GPU without a sync and
# captured in a CUDA graph. Its decisions are those of the compacted steps above.
class MaskedStep(NamedTuple):
    """The map after one masked step, every tensor over all N slots."""
    centers: torch.Tensor     # (N, m)
    relevances: torch.Tensor  # (N, m)
    distances: torch.Tensor   # (N, m)
    life: torch.Tensor        # (N,)
    active: torch.Tensor      # (N,) bool


def activation_masked(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor, active: torch.Tensor,
                      sw: torch.Tensor | None = None):
    """Exact act_j(x_b) (eq. 1-2) for every row and slot, -inf at inactive slots, and sw.

    The same elementwise terms and left-to-right sum as :func:`activation_pairs`,
    so the same bits; without ``sw`` it is summed in the same loop, as one more row.
    x: (B, m), c, w: (N, m), active: (N,), sw: (N,) -> (act (B, N), sw (N,))
    """
    B = x.shape[0]
    diff = x.T[:, :, None] - c.T[:, None, :]                           # (m, B, N)
    terms = diff * diff * w.T[:, None, :]                             # (m, B, N)
    if sw is None:
        sums = ordered_sum(torch.cat([terms, w.T[:, None, :]], dim=1), dim=0)  # (B + 1, N)
        dist, sw = sums[:B], sums[B]
    else:
        dist = ordered_sum(terms, dim=0)                              # (B, N)
    return _act(sw, dist).masked_fill(~active, -math.inf), sw


def first_max(act: torch.Tensor):
    """(best (R,), slot (R,)): the row maximum and its first (lowest) slot; N where no entry equals it (NaN)."""
    best = act.amax(dim=1, keepdim=True)                              # (R, 1)
    slots = torch.arange(act.shape[1], device=act.device)
    return best.squeeze(1), torch.where(act == best, slots, act.shape[1]).amin(dim=1)


def group_masked(x: torch.Tensor, win: torch.Tensor, high: torch.Tensor, N: int) -> Groups:
    """Step 3 over the N slots (rows indexed by winner slot): :func:`group` with a
    :func:`segment_sum` in sample order; a row without winner (win = N, NaN) is dropped."""
    m = x.shape[1]
    hi = high.to(x.dtype)[:, None]                                    # (B, 1)
    lo = 1 - hi
    sums = segment_sum(win, torch.cat([x * hi, x * lo, hi, lo], dim=1), N)  # (N, 2m + 2)
    n_high, n_low = sums[:, 2 * m], sums[:, 2 * m + 1]
    return Groups(n_high, n_low, sums[:, :m] / n_high.clamp(min=1)[:, None],
                  sums[:, m:2 * m] / n_low.clamp(min=1)[:, None])


def learning_rates_masked(xg: torch.Tensor, has_group: torch.Tensor, c: torch.Tensor, w: torch.Tensor,
                          sw: torch.Tensor, active: torch.Tensor, lr: float, gamma: float,
                          a_t: float) -> torch.Tensor:
    """Step 4 over the N slots: row g is the high group won by slot g (zero where ``has_group`` is False).

    The rates of :func:`learning_rates`; the ranks come from one stable
    descending sort of the fixed (N, N) matrix (non-neighbours at -1 sort last,
    ties to the lower slot).   xg: (N, m), has_group: (N,) -> eta (N groups, N nodes)
    """
    N = c.shape[0]
    ag, _ = activation_masked(xg, c, w, active, sw)                   # (N, N), -inf at inactive nodes
    own = torch.eye(N, dtype=torch.bool, device=c.device) & has_group[:, None]
    neighbour = (ag >= a_t) & ~own & has_group[:, None]               # (N, N)
    order = torch.sort(torch.where(neighbour, ag, -1.0), dim=1, descending=True, stable=True).indices
    ranks = torch.arange(1, N + 1, device=c.device).expand(N, N)
    r = torch.empty_like(order).scatter_(1, order, ranks)             # (N, N), 1 = most active
    floor = math.log(torch.finfo(xg.dtype).tiny) + 1                  # as in learning_rates
    eta_nb = lr * torch.exp(torch.clamp(-r.to(xg.dtype) / gamma, min=floor))
    return torch.where(own, own.to(xg.dtype) * lr, torch.where(neighbour, eta_nb, 0.0))


def node_update_masked(c: torch.Tensor, w: torch.Tensor, d: torch.Tensor, active: torch.Tensor,
                       eta: torch.Tensor, xg: torch.Tensor, beta: float, s: float, rho: float, form: str):
    """Step 5 over the N slots (eq. 3, 5, 6): :func:`node_update`, the rate-weighted targets summed
    over all (group, node) pairs in group order (:func:`segment_sum`; a zero rate adds an exact 0,
    so the sums are those of the compacted path), cbar the mean of the active centers.
    c, w, d: (N, m), active (N,), eta: (N, N), xg: (N, m) -> new (c, w, d)"""
    N, m = c.shape
    eta_k = eta.amax(dim=0)                                           # (N,)
    touched = (eta_k > 0)[:, None]                                    # (N, 1), active nodes only
    rate = eta.reshape(-1, 1)                                         # (N*N, 1), pair (g, k) row-major
    xgp = xg[:, None, :].expand(N, N, m).reshape(N * N, m)            # (N*N, m): xg[g] of pair (g, k)
    nodes = torch.arange(N, device=c.device).repeat(N)                # (N*N,): k of pair (g, k)
    nd = segment_sum(nodes, torch.cat([rate * xgp, rate], dim=1), N)  # (N, m + 1)
    xk = nd[:, :m] / nd[:, m].clamp(min=torch.finfo(c.dtype).tiny)[:, None]  # (N, m)
    cbar = mean_center(c, active)                                     # (m,) mean of the active centers
    be = (beta * eta_k)[:, None]                                      # (N, 1)
    d_new = (1 - be) * d + be * (xk - c).abs()
    w_new, c_new = node_terms(c, d_new, xk, eta_k, cbar, s, rho, form)
    return (torch.where(touched, c_new, c), torch.where(touched, w_new, w), torch.where(touched, d_new, d))


def insert_masked(active: torch.Tensor, has_low: torch.Tensor):
    """Step 6 over the N slots: low group number i (ascending winner slot) goes to free slot number i.

    Both numbers come from exact integer cumulative sums; the (N, N) match
    matrix pairs free slot f with low group g.   -> (inserted (N,) bool, source group slot (N,))
    """
    N = active.shape[0]
    free = ~active
    fi = free.long().cumsum(0) - 1                                    # (N,) number of each free slot
    gi = has_low.long().cumsum(0) - 1                                 # (N,) number of each low group
    match = free[:, None] & has_low[None, :] & (fi[:, None] == gi[None, :])  # (N free, N groups)
    source = (match.long() * torch.arange(N, device=active.device)).sum(1)  # (N,) 0 where none
    return match.any(dim=1), source


def update_masked(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor, d: torch.Tensor, life: torch.Tensor,
                  active: torch.Tensor, *, a_t: float, lr: float, rho: float, ld: float, beta: float,
                  gamma: float, s: float, form: str) -> MaskedStep:
    """Steps 1-7 of docs/algorithm.md over all N slots, in fixed shapes and without a host sync.

    x: (B, m) in the map's dtype; c, w, d: (N, m); life (N,); active (N,) bool.
    """
    N = c.shape[0]
    slots = torch.arange(N, device=c.device)
    act, sw = activation_masked(x, c, w, active)                      # (B, N), sw (N,)
    a, win = first_max(act)                                           # 2. competition (B,)
    g = group_masked(x, win, a >= a_t, N)                             # 3. groups, by winner slot
    has_high = g.n_high > 0                                           # (N,)
    eta = learning_rates_masked(g.high_mean, has_high, c, w, sw, active, lr, gamma, a_t)  # 4.
    c1, w1, d1 = node_update_masked(c, w, d, active, eta, g.high_mean, beta, s, rho, form)  # 5.
    inserted, source = insert_masked(active, g.n_low > 0)             # 6. insertion
    ins = inserted[:, None]
    c1 = torch.where(ins, g.low_mean[source], c1)
    w1 = torch.where(ins, 1.0, w1)
    d1 = torch.where(ins, 0.0, d1)
    won = (g.n_high + g.n_low) > 0                                    # 7. life and removal
    life1 = torch.where(active, torch.where(won, 1.0, life - ld), torch.where(inserted, 1.0, life))
    active1 = (active & (life1 > LIFE_EPS)) | inserted
    # 1. an empty map gets one node at the batch mean in slot 0, and nothing else happens
    empty = ~active.any()
    first = (slots == 0) & empty                                      # (N,)
    f = first[:, None]
    return MaskedStep(torch.where(f, x.mean(0), c1), torch.where(f, 1.0, w1), torch.where(f, 0.0, d1),
                      torch.where(first, 1.0, life1), torch.where(empty, first, active1))


def loss_masked(z: torch.Tensor, c: torch.Tensor, w: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Clustering loss (section 4) over the N slots; c, w detached by the caller; gradient into z only."""
    zd = z.detach().to(c.dtype)
    _, win = first_max(activation_masked(zd, c, w, active)[0])       # (B,)
    win = win.clamp(max=c.shape[0] - 1)                               # N only for a NaN row
    cw, ww = c.index_select(0, win), w.index_select(0, win)           # (B, m)
    return (ww * (z.to(c.dtype) - cw) ** 2).sum(1).mean()


class SOMRL(nn.Module):
    """Self-organizing map with relevance learning; state in buffers.

    >>> som = SOMRL(dim=22, n_max=200, a_t=0.994, lr=0.14, rho=1.0, ld=0.36,
    ...             beta=0.067, gamma=1.382, s=0.426)
    >>> som.update(z)        # z: (B, 22) in [0, 1]
    >>> som.predict(z)       # (B,) winning slot per row

    ``path`` picks how ``update`` and ``loss`` run (docs/algorithm.md, "Two paths"):
    "compact" works on the K active nodes (fewest operations: the CPU's choice),
    "masked" over all n_max slots in fixed shapes without a host sync (a GPU's),
    "auto" (default) the masked path on any device but the CPU. Both make the
    same decisions. The class attribute ``default_path`` is used when ``path`` is None.
    """

    PATHS = ("auto", "compact", "masked")
    default_path = "auto"

    def __init__(self, dim: int, n_max: int, a_t: float, lr: float, rho: float, ld: float,
                 beta: float, gamma: float, s: float, repel: str = "radial", path: str | None = None):
        super().__init__()
        if path is not None and path not in self.PATHS:
            raise ValueError(f"SOMRL path={path!r} must be one of {', '.join(self.PATHS)}")
        self.path = path
        # Validation lives in dcsomrl.params (one place for every domain).
        hp = P.validate(dict(dim=dim, n_max=n_max, a_t=a_t, lr=lr, rho=rho, ld=ld,
                             beta=beta, gamma=gamma, s=s, repel=repel))
        self.dim, self.n_max = hp["dim"], hp["n_max"]
        self.a_t, self.lr, self.rho, self.ld = hp["a_t"], hp["lr"], hp["rho"], hp["ld"]
        self.beta, self.gamma, self.s, self.repel = hp["beta"], hp["gamma"], hp["s"], hp["repel"]
        self.register_buffer("centers", torch.zeros(n_max, dim))
        self.register_buffer("relevances", torch.ones(n_max, dim))
        self.register_buffer("distances", torch.zeros(n_max, dim))
        self.register_buffer("life", torch.zeros(n_max))
        self.register_buffer("active", torch.zeros(n_max, dtype=torch.bool))

    def hyperparameters(self) -> dict:
        """The constructor's keyword arguments (to rebuild an equal map)."""
        return dict(dim=self.dim, n_max=self.n_max, a_t=self.a_t, lr=self.lr, rho=self.rho,
                    ld=self.ld, beta=self.beta, gamma=self.gamma, s=self.s, repel=self.repel)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hyperparameters().items())

    def uses_masked_path(self) -> bool:
        """Whether ``update`` and ``loss`` take the masked path (``path``, else ``default_path``; auto: not on the CPU)."""
        path = self.path or type(self).default_path
        if path == "auto":
            return self.centers.device.type != "cpu"
        return path == "masked"

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    @property
    def slots(self) -> torch.Tensor:
        """LongTensor (K,): the active slots, ascending (so a first maximum over them is the lowest slot)."""
        return self.active.nonzero().squeeze(1)

    # ------------------------------------------------------------------ checks
    def _check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"SOMRL input {name} must have shape (B, {self.dim}), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"SOMRL input {name} is an empty batch")
        if not bool(((x >= 0) & (x <= 1)).all()):  # NaN fails both comparisons
            raise ValueError(f"SOMRL input {name} must lie in [0, 1] without NaN "
                             f"(min {x.min().item():.4g}, max {x.max().item():.4g})")
        return x.to(self.centers.dtype)

    def _active_nodes(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(slots (K,), centers (K, m), relevances (K, m)) of the active nodes (:attr:`slots` order)."""
        idx = self.slots
        if idx.numel() == 0:
            raise ValueError("the SOMRL map has no active node yet; call update() first")
        return idx, self.centers[idx], self.relevances[idx]

    # -------------------------------------------------------------- activation
    def _activation(self, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """Exact act_j(x) for all slots (eq. 1-2); inactive slots 0.   x: (B, m) -> (B, n_max)"""
        act = torch.cat([activation(xb, self.centers, self.relevances) for xb in x.split(chunk)])
        return torch.where(self.active, act, torch.zeros_like(act))

    @torch.no_grad()
    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_max) activations of x; inactive slots are 0."""
        return self._activation(self._check_input(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """LongTensor (B,): the winning slot of each row (no update)."""
        x = self._check_input(x)
        idx, c, w = self._active_nodes()
        nodes = nodes_of(c, w)
        return torch.cat([idx[compete(xb, nodes)[0]] for xb in x.split(chunk)])

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def update(self, x: torch.Tensor, *, validate: bool = True) -> None:
        """One self-organizing step on a batch x (B, m) in [0, 1]: steps 1-7 of docs/algorithm.md.

        ``validate=False`` skips the input check (a host sync) for callers that
        have checked x themselves, as the trainer does once per batch.
        """
        x = self._check_input(x) if validate else x.to(self.centers.dtype)
        with torch.autocast(self.centers.device.type, enabled=False):  # exact math, whatever the caller's autocast
            if self.uses_masked_path():
                return self._update_masked(x)
            return self._update_compact(x)

    def _update_masked(self, x: torch.Tensor) -> None:
        """Steps 1-7 over all n_max slots (:func:`update_masked`): fixed shapes, no host sync."""
        new = update_masked(x, self.centers, self.relevances, self.distances, self.life, self.active,
                            a_t=self.a_t, lr=self.lr, rho=self.rho, ld=self.ld, beta=self.beta,
                            gamma=self.gamma, s=self.s, form=self.repel)
        for name, value in zip(MaskedStep._fields, new):
            getattr(self, name).copy_(value)

    def _update_compact(self, x: torch.Tensor) -> None:
        """Steps 1-7 on the K active nodes, compacted (``nonzero``: host syncs, shapes that vary)."""
        idx = self.slots                                              # (K,) pre-step active slots
        if idx.numel() == 0:
            return self._first_node(x)                                # 1. empty map
        c, w, d = self.centers[idx], self.relevances[idx], self.distances[idx]  # (K, m)
        nodes = nodes_of(c, w)
        win, a = compete(x, nodes)                                    # 2. competition
        g = group(x, win, a >= self.a_t, idx.numel())                 # 3. groups
        gid = (g.n_high > 0).nonzero().squeeze(1)                     # (G,) nodes with a high group
        if gid.numel() > 0:
            xg = g.high_mean[gid]                                     # (G, m) high-group inputs
            eta = learning_rates(xg, gid, nodes, self.lr, self.gamma, self.a_t)  # 4. learning rates
            new = node_update(c, w, d, eta, xg, self.beta, self.s, self.rho, self.repel)  # 5. node update
            self.centers[idx], self.relevances[idx], self.distances[idx] = new
        inserted = self._insert(g.low_mean[g.n_low > 0])              # 6. insertion
        self._life_and_removal(idx, won=(g.n_high + g.n_low) > 0, inserted=inserted)  # 7.

    def _first_node(self, x: torch.Tensor) -> None:
        """Step 1: an empty map gets one node at the batch mean (w = 1, d = 0, life 1); nothing else."""
        self.centers[0], self.relevances[0], self.distances[0] = x.mean(0), 1.0, 0.0
        self.life[0], self.active[0] = 1.0, True

    def _insert(self, means: torch.Tensor) -> torch.Tensor:
        """Step 6: the low groups' means (in ascending winner order) take the lowest free slots
        while any remain (c = mean, w = 1, d = 0, life 1). Returns the new slots (I,)."""
        free = (~self.active).nonzero().squeeze(1)                    # (n_max - K,) ascending
        slots = free[:means.shape[0]]                                 # (I,)
        self.centers[slots] = means[:slots.numel()]
        self.relevances[slots], self.distances[slots], self.life[slots] = 1.0, 0.0, 1.0
        return slots

    def _life_and_removal(self, idx: torch.Tensor, won: torch.Tensor, inserted: torch.Tensor) -> None:
        """Step 7 (section 3.4): pre-step nodes that won a sample get life 1, the others lose ld;
        those at life <= 0 (up to rounding, LIFE_EPS) leave. New nodes are neither decremented nor removed."""
        self.life[idx] = torch.where(won, 1.0, self.life[idx] - self.ld)
        new = torch.zeros_like(self.active).index_fill_(0, inserted, True)  # (n_max,)
        self.active.copy_((self.active & (self.life > LIFE_EPS)) | new)

    # -------------------------------------------------------------- topology
    @torch.no_grad()
    def topology(self) -> torch.Tensor:
        """LongTensor (E, 2) of connected slot pairs (i < j):
        act_i(c_j) >= a_t and act_j(c_i) >= a_t."""
        M = self._activation(self.centers)                            # M[k, j] = act_j(c_k)
        both = (M >= self.a_t) & (M.T >= self.a_t) & self.active[:, None] & self.active[None, :]
        return torch.triu(both, diagonal=1).nonzero()

    # ------------------------------------------------------------------ loss
    def loss(self, z: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """Clustering loss (section 4) on the current map; gradient flows into z only.

        L_c = mean_i sum_d w_{win_i, d} (z_id - c_{win_i, d})^2
        """
        zd = self._check_input(z.detach(), "z") if validate else z.detach().to(self.centers.dtype)
        with torch.autocast(self.centers.device.type, enabled=False):  # exact winners, whatever the autocast
            if self.uses_masked_path():
                return loss_masked(z, self.centers.detach(), self.relevances.detach(), self.active)
            _, c, w = self._active_nodes()
            c, w = c.detach(), w.detach()                             # (K, m): no gradient into the map
            win, _ = compete(zd, nodes_of(c, w))                      # (B,) ties to the lowest slot
            return (w[win] * (z.to(c.dtype) - c[win]) ** 2).sum(1).mean()
