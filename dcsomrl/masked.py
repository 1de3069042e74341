"""The masked path of :class:`dcsomrl.somrl.SOMRL` (docs/algorithm.md, "Two paths"): steps 1-7
over all N = n_max slots, with inactive slots masked out.

Every tensor has a fixed shape and nothing is read back to the host (no
``nonzero``, no boolean indexing, no Python branch on a count), so a step can
be queued on a GPU without a sync and captured in a CUDA graph. Its decisions
are those of the compacted steps of :mod:`dcsomrl.somrl`; :func:`update_masked`
composes the steps, :func:`loss_masked` is the clustering loss over the slots.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from dcsomrl.terms import LIFE_EPS, Groups, act, mean_center, node_terms, ordered_sum, segment_sum


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
    return act(sw, dist).masked_fill(~active, -math.inf), sw


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

