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

import torch
from torch import nn

from dcsomrl import params as P

EPS = 1e-7


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

    # ------------------------------------------------------------------ checks
    def _check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"SOMRL input {name} must have shape (B, {self.dim}), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"SOMRL input {name} is an empty batch")
        bad = torch.isnan(x).any() | (x < 0).any() | (x > 1).any()
        if bool(bad):
            raise ValueError(f"SOMRL input {name} must lie in [0, 1] without NaN "
                             f"(min {x.min().item():.4g}, max {x.max().item():.4g})")
        return x.to(self.centers.dtype)

    def _check_not_empty(self) -> None:
        if not bool(self.active.any()):
            raise ValueError("the SOMRL map has no active node yet; call update() first")

    # -------------------------------------------------------------- activation
    def _activation(self, x: torch.Tensor) -> torch.Tensor:
        """act_j(x) for all slots (eq. 1-2); inactive slots 0.   x: (B, m) -> (B, n_max)"""
        w, c = self.relevances, self.centers
        dist = (w.unsqueeze(0) * (x.unsqueeze(1) - c.unsqueeze(0)) ** 2).sum(-1)  # (B, n_max)
        sw = w.sum(-1)  # (n_max,)
        act = sw / (sw + dist + EPS)
        return torch.where(self.active, act, torch.zeros_like(act))

    def _winners(self, act: torch.Tensor) -> torch.Tensor:
        """argmax over active slots; ties go to the lowest slot.   (B, n_max) -> (B,)"""
        masked = torch.where(self.active, act, torch.full_like(act, -1.0))
        return masked.argmax(dim=1)  # torch.argmax returns the first maximal index

    @torch.no_grad()
    def activation(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_max) activations of x; inactive slots are 0."""
        return self._activation(self._check_input(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """LongTensor (B,): the winning slot of each row (no update)."""
        x = self._check_input(x)
        self._check_not_empty()
        return torch.cat([self._winners(self._activation(xb)) for xb in x.split(chunk)])

    # ------------------------------------------------------------------ update
    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """One self-organizing step on a batch x (B, m) in [0, 1] (SPEC 3, steps 1-7)."""
        x = self._check_input(x)
        c, w, d, life, active = self.centers, self.relevances, self.distances, self.life, self.active
        n, dtype = self.n_max, c.dtype

        # 1. Empty map: one node at the batch mean; nothing else this step.
        if not bool(active.any()):
            c[0], w[0], d[0], life[0], active[0] = x.mean(0), 1.0, 0.0, 1.0, True
            return

        # 2. Competition.
        A = self._activation(x)                              # (B, n)
        win = self._winners(A)                               # (B,)
        a = A.gather(1, win[:, None]).squeeze(1)             # (B,)
        high = a >= self.a_t                                 # (B,)

        # 3. Groups by winning slot: means of the high and of the low samples.
        onehot = nn.functional.one_hot(win, n).to(dtype)     # (B, n)
        H = onehot * high[:, None].to(dtype)                 # (B, n) high samples per slot
        L = onehot - H                                       # (B, n) low samples per slot
        n_high, n_low = H.sum(0), L.sum(0)                   # (n,)
        has_high, has_low = n_high > 0, n_low > 0            # (n,) slot g has a high/low group
        xg = (H.T @ x) / n_high.clamp(min=1)[:, None]        # (n, m) high-group inputs
        xl = (L.T @ x) / n_low.clamp(min=1)[:, None]         # (n, m) low-group means

        # 4. Learning rates eta[g, k] (section 3.5): lr for the winner k = g; for
        #    another node k with ag_k >= a_t, lr * exp(-r / gamma) with r its rank
        #    among the non-winners (1 = most active; ties to the lower slot).
        ag = self._activation(xg)                            # (n groups, n nodes)
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        key = torch.where(eye, torch.full_like(ag, -1.0), ag)  # winner sorts last
        order = torch.sort(key, dim=1, descending=True, stable=True).indices
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=x.device).expand(n, n))
        r = (rank + 1).to(dtype)                             # (n, n)
        neighbour = (ag >= self.a_t) & active[None, :] & ~eye
        eta = torch.where(eye, torch.full_like(ag, self.lr),
                          torch.where(neighbour, self.lr * torch.exp(-r / self.gamma), torch.zeros_like(ag)))
        eta = eta * has_high[:, None].to(dtype)              # only slots that have a high group

        # 5. One combined update per touched node (eq. 3, 5, 6): the largest rate
        #    and the rate-weighted mean of the group inputs; old center in eq. 5.
        eta_k = eta.amax(dim=0)                              # (n,)
        touched = eta_k > 0
        xk = (eta.T @ xg) / eta.sum(0).clamp(min=torch.finfo(dtype).tiny)[:, None]  # (n, m)
        be = (self.beta * eta_k)[:, None]                    # (n, 1)
        d_new = (1 - be) * d + be * (xk - c).abs()
        w_new = relevances_from_distances(d_new, self.s)
        cbar = (c * active[:, None]).sum(0) / active.sum()    # (m,) pre-step map center
        c_new = c + eta_k[:, None] * ((xk - c) - self.rho * repel(cbar - c, self.repel))
        t = touched[:, None]
        d.copy_(torch.where(t, d_new, d))
        w.copy_(torch.where(t, w_new, w))
        c.copy_(torch.where(t, c_new, c))

        # 6. Insertion: low groups in ascending slot order fill the lowest free
        #    slots while any remain. P[g, k]: low group g creates node k.
        free = ~active
        free_order = torch.argsort(active.long(), stable=True)  # (n,) free slots first, ascending
        group_pos = torch.cumsum(has_low.long(), 0) - 1      # (n,) position of each low group
        creates = has_low & (group_pos < free.sum())         # (n,)
        dest = free_order[group_pos.clamp(min=0)]            # (n,) slot each low group fills
        Pm = (dest[:, None] == torch.arange(n, device=x.device)[None, :]) & creates[:, None]  # (n, n)
        new = Pm.any(0)                                      # (n,)
        c.copy_(torch.where(new[:, None], Pm.to(dtype).T @ xl, c))
        w.masked_fill_(new[:, None], 1.0)
        d.masked_fill_(new[:, None], 0.0)

        # 7. Life and removal (section 3.4): winners of any sample back to 1, other
        #    pre-step nodes lose ld; new nodes start at 1; remove at life <= 0.
        won = (n_high + n_low) > 0
        life.copy_(torch.where(won, torch.ones_like(life), life - self.ld * active.to(dtype)))
        life.masked_fill_(new, 1.0)
        active.copy_((active & (life > 0)) | new)

    # -------------------------------------------------------------- topology
    @torch.no_grad()
    def topology(self) -> torch.Tensor:
        """LongTensor (E, 2) of connected slot pairs (i < j):
        act_i(c_j) >= a_t and act_j(c_i) >= a_t."""
        M = self._activation(self.centers)                   # M[k, j] = act_j(c_k)
        both = (M >= self.a_t) & (M.T >= self.a_t) & self.active[:, None] & self.active[None, :]
        return torch.triu(both, diagonal=1).nonzero()

    # ------------------------------------------------------------------ loss
    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """Clustering loss (section 4) on the current map; gradient flows into z only.

        L_c = mean_i sum_d w_{win_i, d} (z_id - c_{win_i, d})^2
        """
        with torch.no_grad():
            win = self.predict(z.detach())
        c = self.centers[win].detach()                       # (B, m)
        w = self.relevances[win].detach()
        return (w * (z.to(c.dtype) - c) ** 2).sum(1).mean()
