"""SOMRL: a self-organizing map with relevance learning and a time-varying
number of nodes (the paper's section 3; exact semantics in SPEC section 3).

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

One ``update`` on a batch is computed from the state before the step and
applied at once, with tensor operations only (no Python loop over samples,
groups or nodes). Samples are grouped by their winning slot, so "group g"
below is simply "the samples won by slot g" and every per-group quantity is
an (n_max, ...) tensor indexed by that slot, with a mask of the slots that
have a group.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dcsomrl import params as P

EPS = 1e-7

#: A life at or below this counts as 0 (step 7). Repeated ``life -= ld`` leaves a
#: rounding residue: 1 - 0.1 ten times is 1.4e-16 in float64, not 0, which would
#: cost an 11th loss; exact arithmetic removes a node after ceil(1/ld) losses.
LIFE_EPS = 1e-6


def repel(v: torch.Tensor, form: str) -> torch.Tensor:
    """The repel term of eq. 3 for v = cbar - c (SPEC 3).

    symmetric: v * max(1 - 2|v|, 0)   zero at the map's center and beyond 0.5
    paper:     max(1 - 2v, 0)         eq. 4 as printed (a drift toward 0)
    """
    if form == "symmetric":
        return v * torch.clamp(1 - 2 * v.abs(), min=0)
    return torch.clamp(1 - 2 * v, min=0)


def relevances_from_distances(d: torch.Tensor, s: float) -> torch.Tensor:
    """Eq. 6 with the sign of the text and of the public code (SPEC 3).

    w_ki = 1 / (1 + exp((d_ki - mean_i d_k) / (s * (max_i d_k - min_i d_k)))),
    and w_k = 1 where max_i d_k == min_i d_k.       d: (K, m) -> w: (K, m)
    """
    spread = d.amax(dim=1, keepdim=True) - d.amin(dim=1, keepdim=True)  # (K, 1)
    flat = spread == 0
    z = (d - d.mean(dim=1, keepdim=True)) / (s * torch.where(flat, torch.ones_like(spread), spread))
    return torch.where(flat, torch.ones_like(d), torch.sigmoid(-z))


def activation(x: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """act_j(x) = sum_i w_ji / (sum_i w_ji + D_j(x) + eps) (eq. 1-2).

    x: (B, m), c and w: (K, m) -> (B, K). D_j(x) = sum_i w_ji (x_i - c_ji)^2 is
    expanded into matrix products (no (B, K, m) temporary); rounding can leave
    it just below 0, hence the clamp.
    """
    wc = w * c                                                        # (K, m)
    dist = torch.addmm((wc * c).sum(1), x * x, w.T)                   # (B, K) sum w x^2 + sum w c^2
    dist = torch.addmm(dist, x, wc.T, alpha=-2).clamp_(min=0)        #        - 2 sum w x c
    sw = w.sum(1)                                                     # (K,)
    return sw / dist.add_(sw + EPS)


class SOMRL(nn.Module):
    """Self-organizing map with relevance learning; state in buffers.

    >>> som = SOMRL(dim=22, n_max=200, a_t=0.994, lr=0.14, rho=1.0, ld=0.36,
    ...             beta=0.067, gamma=1.382, s=0.426)
    >>> som.update(z)        # z: (B, 22) in [0, 1]
    >>> som.predict(z)       # (B,) winning slot per row
    """

    def __init__(self, dim: int, n_max: int, a_t: float, lr: float, rho: float, ld: float,
                 beta: float, gamma: float, s: float, repel: str = "symmetric"):
        super().__init__()
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
    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        """act_j(x) for all slots (eq. 1-2); inactive slots 0.   x: (B, m) -> (B, n_max)"""
        act = activation(x, self.centers, self.relevances)
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
        return torch.cat([idx[activation(xb, c, w).argmax(dim=1)] for xb in x.split(chunk)])

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def update(self, x: torch.Tensor, *, validate: bool = True) -> None:
        """One self-organizing step on a batch x (B, m) in [0, 1] (SPEC 3, steps 1-7).

        The step works on the K pre-step active slots (``idx``, ascending, so
        "lowest slot" is "lowest index" below) and writes the result back.
        ``validate=False`` skips the input check (a host sync) for callers that
        have checked x themselves, as the trainer does once per batch.
        """
        x = self._check_input(x) if validate else x.to(self.centers.dtype)
        dtype, dev = self.centers.dtype, x.device
        idx = self.slots                                     # (K,) pre-step active slots
        K = idx.numel()

        # 1. Empty map: one node at the batch mean; nothing else this step.
        if K == 0:
            self.centers[0], self.relevances[0], self.distances[0] = x.mean(0), 1.0, 0.0
            self.life[0], self.active[0] = 1.0, True
            return
        c, w, d = self.centers[idx], self.relevances[idx], self.distances[idx]  # (K, m)

        # 2. Competition (max returns the first maximum: ties to the lowest slot).
        A = activation(x, c, w)                              # (B, K)
        a, win = A.max(dim=1)                                # (B,): activation, index into idx
        high = a >= self.a_t                                 # (B,)

        # 3. Groups by winner: group g is "the samples won by node g", split into
        #    its high and its low samples. One product sums, per node, the inputs
        #    of its low and of its high samples and counts both.
        m = x.shape[1]
        onehot = torch.zeros(x.shape[0], K, dtype=dtype, device=dev).scatter_(1, win[:, None], 1.0)  # (B, K)
        hi = high.to(dtype)[:, None]                         # (B, 1)
        lo = 1 - hi
        sums = onehot.T @ torch.cat([x * lo, x * hi, lo, hi], dim=1)  # (K, 2m + 2)
        n_low, n_high = sums[:, 2 * m], sums[:, 2 * m + 1]   # (K,)
        has_high, has_low = n_high > 0, n_low > 0            # (K,) node g has a high/low group
        xl = sums[:, :m] / n_low.clamp(min=1)[:, None]       # (K, m) low-group means

        # 4. Learning rates eta[g, k] (section 3.5) for the G nodes g that have a
        #    high group: lr for the winner k = g; for another node k with
        #    ag_k >= a_t, lr * exp(-r / gamma) with r its rank among the
        #    non-winners (1 = most active; ties to the lower slot).
        gid = has_high.nonzero().squeeze(1)                  # (G,) nodes with a high group
        G = gid.numel()
        if G > 0:
            xg = sums[gid, m:2 * m] / n_high[gid, None]      # (G, m) high-group inputs (means)
            ag = activation(xg, c, w)                        # (G groups, K nodes)
            own = torch.zeros(G, K, dtype=torch.bool, device=dev).scatter_(1, gid[:, None], True)  # (G, K) winner
            neighbour = (ag >= self.a_t) & ~own              # (G, K)
            eta = own.to(dtype) * self.lr                    # (G, K)
            # Rank only among the J nodes that are some group's neighbour: every node
            # ranked above a neighbour of g is itself a neighbour of g (its
            # activation is as high, so >= a_t), so this rank is the rank among all
            # non-winners. Non-neighbours sort last; stable sort over ascending
            # slots breaks ties to the lower slot.
            cols = neighbour.any(dim=0).nonzero().squeeze(1)  # (J,)
            if cols.numel() > 0:
                J, nb = cols.numel(), neighbour[:, cols]     # (G, J)
                key = torch.where(nb, ag[:, cols], -1.0)
                order = torch.sort(key, dim=1, descending=True, stable=True).indices
                r = torch.empty_like(order).scatter_(1, order, torch.arange(1, J + 1, device=dev).expand(G, J))
                # exponent floored at the smallest normal number: far ranks would
                # give denormals (slow on CPUs) where the rate is ~0 anyway
                decay = torch.exp(torch.clamp(-r.to(dtype) / self.gamma, min=math.log(torch.finfo(dtype).tiny) + 1))
                eta[:, cols] = torch.where(nb, self.lr * decay, eta[:, cols])

            # 5. One combined update per touched node (eq. 3, 5, 6): the largest
            #    rate and the rate-weighted mean of the group inputs; old center in eq. 5.
            eta_k = eta.amax(dim=0)                          # (K,)
            touched = (eta_k > 0)[:, None]                   # (K, 1)
            xk = (eta.T @ xg) / eta.sum(0).clamp(min=torch.finfo(dtype).tiny)[:, None]  # (K, m)
            be = (self.beta * eta_k)[:, None]                # (K, 1)
            d_new = (1 - be) * d + be * (xk - c).abs()
            w_new = relevances_from_distances(d_new, self.s)
            cbar = c.mean(0)                                 # (m,) pre-step map center
            c_new = c + eta_k[:, None] * ((xk - c) - self.rho * repel(cbar - c, self.repel))
            self.centers[idx] = torch.where(touched, c_new, c)
            self.relevances[idx] = torch.where(touched, w_new, w)
            self.distances[idx] = torch.where(touched, d_new, d)

        # 7a. Life (section 3.4): winners of any sample back to 1, the other
        #     pre-step nodes lose ld; removal below, after insertion.
        won = (n_high + n_low) > 0
        self.life[idx] = torch.where(won, 1.0, self.life[idx] - self.ld)

        # 6. Insertion: low groups in ascending slot order fill the lowest free
        #    slots while any remain (the i-th group takes the i-th free slot).
        free_slots = (~self.active).nonzero().squeeze(1)    # (n - K,) ascending
        makers = has_low.nonzero().squeeze(1)[:free_slots.numel()]  # (I,) ascending
        slots = free_slots[:makers.numel()]                  # (I,) the new nodes' slots
        self.centers[slots] = xl[makers]
        self.relevances[slots] = 1.0
        self.distances[slots] = 0.0
        self.life[slots] = 1.0
        new = torch.zeros_like(self.active).index_fill_(0, slots, True)  # (n,)

        # 7b. Removal at life <= 0, up to rounding (LIFE_EPS); new nodes start at 1 and stay.
        self.active.copy_((self.active & (self.life > LIFE_EPS)) | new)

    # -------------------------------------------------------------- topology
    @torch.no_grad()
    def topology(self) -> torch.Tensor:
        """LongTensor (E, 2) of connected slot pairs (i < j):
        act_i(c_j) >= a_t and act_j(c_i) >= a_t."""
        M = self._activation(self.centers)                   # M[k, j] = act_j(c_k)
        both = (M >= self.a_t) & (M.T >= self.a_t) & self.active[:, None] & self.active[None, :]
        return torch.triu(both, diagonal=1).nonzero()

    # ------------------------------------------------------------------ loss
    def loss(self, z: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """Clustering loss (section 4) on the current map; gradient flows into z only.

        L_c = mean_i sum_d w_{win_i, d} (z_id - c_{win_i, d})^2
        """
        zd = self._check_input(z.detach(), "z") if validate else z.detach().to(self.centers.dtype)
        _, c, w = self._active_nodes()
        c, w = c.detach(), w.detach()                        # (K, m): no gradient into the map
        win = activation(zd, c, w).argmax(dim=1)             # (B,) ties to the lowest slot
        return (w[win] * (z.to(c.dtype) - c[win]) ** 2).sum(1).mean()
