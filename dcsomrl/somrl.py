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
compacted path, the CPU's). The masked path (:mod:`dcsomrl.masked`, any other
device's) runs the same steps over all n_max slots in fixed shapes, without a
host sync, with the same decisions (docs/algorithm.md, "Two paths"). The terms
both paths share (the activation, the ordered sums, the node terms of eq. 3 and
6) are in :mod:`dcsomrl.terms`.

**Exactness** (docs/algorithm.md, "Exactness"): every decision of a step (the
winner, high or low, neighbour or not, a neighbour's rank) compares
activations computed in the direct form above, summed over i in one fixed
order, so identical nodes get bit-identical activations on any BLAS, CPU and
thread count. A fast matrix-product bound only screens out the entries that
cannot matter (:func:`dcsomrl.terms.activation_bounds`).

The map's ten hyperparameters are one frozen :class:`SOMRLConfig`, built from
the registry of :mod:`dcsomrl.params` (``SOMRL(config)``, as nanoGPT's ``GPT(config)``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dcsomrl import params as P
from dcsomrl.masked import MaskedStep, loss_masked, update_masked
from dcsomrl.terms import (LIFE_EPS, Groups, Nodes, activation, activation_bounds, activation_pairs,
                           activation_where, mean_center, node_terms, nodes_of, segment_sum)


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


class SOMRLConfig(P.config_base("dcsomrl", P.SOMRL_PARAMS)):
    """The map's ten hyperparameters (names, domains: ``dcsomrl.params.PARAMS``; defaults: the paper's
    MNIST values), frozen and checked on construction (a ParameterError names the parameter)."""


class SOMRL(nn.Module):
    """Self-organizing map with relevance learning; state in buffers.

    >>> som = SOMRL(SOMRLConfig(dim=22, n_max=200, a_t=0.994, lr=0.14, rho=1.0, ld=0.36,
    ...                         beta=0.067, gamma=1.382, s=0.426))
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

    def __init__(self, config: SOMRLConfig, path: str | None = None):
        super().__init__()
        if path is not None and path not in self.PATHS:
            raise ValueError(f"SOMRL path={path!r} must be one of {', '.join(self.PATHS)}")
        self.config, self.path = config, path
        n_max, dim = config.n_max, config.dim
        self.register_buffer("centers", torch.zeros(n_max, dim))
        self.register_buffer("relevances", torch.ones(n_max, dim))
        self.register_buffer("distances", torch.zeros(n_max, dim))
        self.register_buffer("life", torch.zeros(n_max))
        self.register_buffer("active", torch.zeros(n_max, dtype=torch.bool))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in vars(self.config).items())

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
        dim = self.config.dim
        if x.dim() != 2 or x.shape[1] != dim:
            raise ValueError(f"SOMRL input {name} must have shape (B, {dim}), got {tuple(x.shape)}")
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
        cfg = self.config
        new = update_masked(x, self.centers, self.relevances, self.distances, self.life, self.active,
                            a_t=cfg.a_t, lr=cfg.lr, rho=cfg.rho, ld=cfg.ld, beta=cfg.beta,
                            gamma=cfg.gamma, s=cfg.s, form=cfg.repel)
        for name, value in zip(MaskedStep._fields, new):
            getattr(self, name).copy_(value)

    def _update_compact(self, x: torch.Tensor) -> None:
        """Steps 1-7 on the K active nodes, compacted (``nonzero``: host syncs, shapes that vary)."""
        idx = self.slots                                              # (K,) pre-step active slots
        if idx.numel() == 0:
            return self._first_node(x)                                # 1. empty map
        cfg = self.config
        c, w, d = self.centers[idx], self.relevances[idx], self.distances[idx]  # (K, m)
        nodes = nodes_of(c, w)
        win, a = compete(x, nodes)                                    # 2. competition
        g = group(x, win, a >= cfg.a_t, idx.numel())                  # 3. groups
        gid = (g.n_high > 0).nonzero().squeeze(1)                     # (G,) nodes with a high group
        if gid.numel() > 0:
            xg = g.high_mean[gid]                                     # (G, m) high-group inputs
            eta = learning_rates(xg, gid, nodes, cfg.lr, cfg.gamma, cfg.a_t)  # 4. learning rates
            new = node_update(c, w, d, eta, xg, cfg.beta, cfg.s, cfg.rho, cfg.repel)  # 5. node update
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
        self.life[idx] = torch.where(won, 1.0, self.life[idx] - self.config.ld)
        new = torch.zeros_like(self.active).index_fill_(0, inserted, True)  # (n_max,)
        self.active.copy_((self.active & (self.life > LIFE_EPS)) | new)

    # -------------------------------------------------------------- topology
    @torch.no_grad()
    def topology(self) -> torch.Tensor:
        """LongTensor (E, 2) of connected slot pairs (i < j):
        act_i(c_j) >= a_t and act_j(c_i) >= a_t."""
        M, a_t = self._activation(self.centers), self.config.a_t     # M[k, j] = act_j(c_k)
        both = (M >= a_t) & (M.T >= a_t) & self.active[:, None] & self.active[None, :]
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
