"""A plain, loop-based reference of SOMRL (docs/algorithm.md), for the tests only.

Written straight from the algorithm's text, independently of ``dcsomrl/somrl.py``, so
that two readings of the algorithm check each other. It is slow on purpose: float64
numpy arrays, and Python loops over samples, groups and nodes, in the order
docs/algorithm.md lists the sub-steps. Only the per-dimension arithmetic of one node is
left to numpy.

State (docs/algorithm.md), capacity ``n_max``, latent dimension ``m``::

    centers c (n_max, m), relevances w (n_max, m), distances d (n_max, m),
    life (n_max,), active (n_max,) bool

Equations (paper eq. 1-2, 3-6, docs/algorithm.md steps 1-7)::

    D_j(x)   = sum_i w_ji (x_i - c_ji)^2
    act_j(x) = sum_i w_ji / (sum_i w_ji + D_j(x) + eps),   eps = 1e-7
    d_k <- (1 - beta eta_k) d_k + beta eta_k |x_k - c_k|               (old c_k)
    w_ki = 1 / (1 + exp((d_ki - mean_i d_k) / (s (max_i d_k - min_i d_k))))
           (w_k = 1 where max_i d_k == min_i d_k)
    c_k <- c_k + eta_k ((x_k - c_k) - rho repel(cbar - c_k))
    repel(v) = v max(1 - 2||v||, 0)    ("radial", the default; Euclidean norm)
    repel(v) = v max(1 - 2|v|, 0)      ("symmetric", per dimension)
    repel(v) = max(1 - 2v, 0)          ("paper", printed eq. 4)

Sums run left to right (i = 0, 1, ..., m-1, by np.cumsum; samples and groups
in their order): the direct form of D, with one rounding order that does
not depend on a node's slot. The layer sums in the same order, so in float64
the two compute the same activations to the bit (docs/algorithm.md, "Exactness").

``update`` returns a *trace* (a dict of counts of what happened in the step:
insertions refused, removals, ties, ...) so the tests can assert that their
random streams really exercise each branch of the algorithm.
"""
from __future__ import annotations

import math

import numpy as np

EPS = 1e-7
BUFFERS = ("centers", "relevances", "distances", "life", "active")
REPEL_FORMS = ("radial", "symmetric", "paper")


class ReferenceSOMRL:
    """SOMRL of docs/algorithm.md, one obvious loop at a time (float64)."""

    def __init__(self, dim, n_max, a_t, lr, rho, ld, beta, gamma, s, repel="radial"):
        if repel not in REPEL_FORMS:
            raise ValueError(f"repel={repel!r}: expected one of {REPEL_FORMS}")
        self.dim = int(dim)
        self.n_max = int(n_max)
        self.a_t = float(a_t)
        self.lr = float(lr)
        self.rho = float(rho)
        self.ld = float(ld)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.s = float(s)
        self.repel_form = repel
        self.centers = np.zeros((self.n_max, self.dim))
        self.relevances = np.ones((self.n_max, self.dim))
        self.distances = np.zeros((self.n_max, self.dim))
        self.life = np.zeros(self.n_max)
        self.active = np.zeros(self.n_max, dtype=bool)

    # ------------------------------------------------------------------ state
    def load_state(self, som) -> "ReferenceSOMRL":
        """Copy the five buffers of a SOMRL layer (any dtype or device) into float64 arrays."""
        for name in BUFFERS:
            value = getattr(som, name).detach().cpu().numpy()
            dtype = bool if name == "active" else np.float64
            setattr(self, name, np.array(value, dtype=dtype, copy=True))
        return self

    def state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in BUFFERS}

    def active_slots(self) -> list[int]:
        return [j for j in range(self.n_max) if self.active[j]]

    # ------------------------------------------------------------ activation
    def node_activation(self, x, j) -> float:
        """act_j(x) = sum w_j / (sum w_j + D_j(x) + eps) (paper eq. 1-2)."""
        w = self.relevances[j]
        c = self.centers[j]
        diff = np.asarray(x, dtype=np.float64) - c
        # np.cumsum adds strictly left to right: (((t_0 + t_1) + t_2) + ...)
        weighted_distance = float(np.cumsum(diff * diff * w)[-1])
        total_relevance = float(np.cumsum(w)[-1])
        return total_relevance / (total_relevance + weighted_distance + EPS)

    def activation(self, X) -> np.ndarray:
        """(B, n_max) activations; inactive slots 0."""
        X = np.asarray(X, dtype=np.float64)
        out = np.zeros((len(X), self.n_max))
        for i in range(len(X)):
            for j in self.active_slots():
                out[i, j] = self.node_activation(X[i], j)
        return out

    def winner(self, x) -> tuple[int, float, bool]:
        """(winning active slot, its activation, whether another slot tied it); ties: lowest slot."""
        best_slot, best_act, tied = -1, -math.inf, False
        for j in self.active_slots():  # ascending slots: a later equal value never replaces
            a = self.node_activation(x, j)
            if a > best_act:
                best_slot, best_act, tied = j, a, False
            elif a == best_act:
                tied = True
        return best_slot, best_act, tied

    def predict(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.array([self.winner(X[i])[0] for i in range(len(X))], dtype=np.int64)

    # ---------------------------------------------------------- node update
    def relevance_from_distances(self, d) -> np.ndarray:
        """Relevance of one node from its distance vector (paper eq. 6, sign of docs/algorithm.md)."""
        d_max, d_min = float(np.max(d)), float(np.min(d))
        if d_max == d_min:
            return np.ones_like(d)
        d_mean = float(np.mean(d))
        w = np.empty_like(d)
        for i in range(len(d)):
            z = (d[i] - d_mean) / (self.s * (d_max - d_min))
            w[i] = 1.0 / (1.0 + math.exp(z)) if z < 700 else 0.0
        return w

    def repel(self, v) -> np.ndarray:
        if self.repel_form == "radial":
            norm = math.sqrt(sum(float(vi) * float(vi) for vi in v))
            return v * max(1.0 - 2.0 * norm, 0.0)
        if self.repel_form == "symmetric":
            return v * np.maximum(1.0 - 2.0 * np.abs(v), 0.0)
        return np.maximum(1.0 - 2.0 * v, 0.0)

    # --------------------------------------------------------------- update
    def update(self, X) -> dict:
        """One SOMRL step on the batch X (B, m), steps 1-7 of docs/algorithm.md. Returns the step's trace."""
        X = np.asarray(X, dtype=np.float64)
        B = len(X)
        trace = dict(empty_init=0, n_high=0, n_low=0, high_groups=0, low_groups=0,
                     neighbor_rates=0, zero_rates=0, multi_group_nodes=0, winner_ties=0,
                     rank_ties=0, inserted=0, refused=0, decremented=0, removed=0,
                     removed_at_exact_zero=0)

        # 1. Empty map: slot 0 at the batch mean; nothing else happens.
        if not self.active.any():
            self.centers[0] = np.sum(X, axis=0) / B
            self.relevances[0] = 1.0
            self.distances[0] = 0.0
            self.life[0] = 1.0
            self.active[0] = True
            trace["empty_init"] = 1
            return trace

        old_centers = self.centers.copy()
        old_distances = self.distances.copy()
        pre_active = self.active_slots()

        # 2. Competition.
        winners, high = [], []
        for i in range(B):
            slot, a, tied = self.winner(X[i])
            winners.append(slot)
            high.append(a >= self.a_t)
            trace["winner_ties"] += int(tied)
        trace["n_high"] = sum(high)
        trace["n_low"] = B - sum(high)

        # 3. Groups by winner, separately for high and low samples.
        high_members: dict[int, list[int]] = {}
        low_members: dict[int, list[int]] = {}
        for i in range(B):
            members = high_members if high[i] else low_members
            members.setdefault(winners[i], []).append(i)
        trace["high_groups"] = len(high_members)
        trace["low_groups"] = len(low_members)

        def group_mean(indices):
            total = np.zeros(self.dim)
            for i in indices:
                total = total + X[i]
            return total / len(indices)

        # 4. Learning rates: for each high group, the winner gets lr; every other
        #    pre-step node with act(xg) >= a_t gets lr exp(-r / gamma), r its rank
        #    among the non-winners (1 = most active; ties: lower slot first).
        given: dict[int, list[tuple[float, np.ndarray]]] = {}  # node -> [(eta_g,k, xg)]
        for j_g in sorted(high_members):
            xg = group_mean(high_members[j_g])
            ag = {k: self.node_activation(xg, k) for k in pre_active}
            given.setdefault(j_g, []).append((self.lr, xg))
            for k in pre_active:
                if k == j_g or ag[k] < self.a_t:
                    continue
                above = 0
                for other in pre_active:
                    if other in (j_g, k):
                        continue
                    if ag[other] > ag[k] or (ag[other] == ag[k] and other < k):
                        above += 1
                    if ag[other] == ag[k]:
                        trace["rank_ties"] += 1
                r = 1 + above
                eta = self.lr * math.exp(-r / self.gamma)
                given.setdefault(k, []).append((eta, xg))
                trace["neighbor_rates"] += 1

        # 5. One combined update per touched node, from the pre-step state.
        cbar = np.zeros(self.dim)
        for k in pre_active:
            cbar = cbar + old_centers[k]
        cbar = cbar / len(pre_active)
        for k in sorted(given):
            rates = [eta for eta, _ in given[k]]
            eta_k = max(rates)
            if len(rates) > 1:
                trace["multi_group_nodes"] += 1
            if eta_k <= 0.0:
                # A zero rate (lr = 0, or exp(-r/gamma) underflowing to 0 in float64)
                # moves nothing; its target would be 0/0. (Exact arithmetic would still
                # make flat distances non-flat for an underflowed rate and so reset w;
                # the tests avoid pinning that knife edge.)
                trace["zero_rates"] += 1
                continue
            target = np.zeros(self.dim)
            for eta, xg in given[k]:
                target = target + eta * xg
            target = target / sum(rates)
            c_old = old_centers[k]
            d_new = (1.0 - self.beta * eta_k) * old_distances[k] + self.beta * eta_k * np.abs(target - c_old)
            self.distances[k] = d_new
            self.relevances[k] = self.relevance_from_distances(d_new)
            self.centers[k] = c_old + eta_k * ((target - c_old) - self.rho * self.repel(cbar - c_old))

        # 6. Insertion: low groups by ascending winner slot, lowest free slot, while room.
        n_active = len(pre_active)
        created = []
        for j in sorted(low_members):
            if n_active >= self.n_max:
                trace["refused"] += 1
                continue
            slot = min(k for k in range(self.n_max) if not self.active[k])
            self.centers[slot] = group_mean(low_members[j])
            self.relevances[slot] = 1.0
            self.distances[slot] = 0.0
            self.life[slot] = 1.0
            self.active[slot] = True
            created.append(slot)
            n_active += 1
            trace["inserted"] += 1

        # 7. Life and removal (pre-step nodes only; new nodes keep life 1).
        won = set(winners)
        for k in pre_active:
            if k in won:
                self.life[k] = 1.0
            else:
                self.life[k] = self.life[k] - self.ld
                trace["decremented"] += 1
        for k in pre_active:
            if self.life[k] <= 1e-6:  # 0 up to the rounding of repeated subtraction (1 - 10 * 0.1 > 0)
                self.active[k] = False
                trace["removed"] += 1
                trace["removed_at_exact_zero"] += int(self.life[k] == 0.0)
        return trace

    # ------------------------------------------------------- after training
    def topology(self) -> list[tuple[int, int]]:
        """Pairs (j, k), j < k, with act_j(c_k) >= a_t and act_k(c_j) >= a_t."""
        pairs = []
        slots = self.active_slots()
        for j in slots:
            for k in slots:
                if j < k and (self.node_activation(self.centers[k], j) >= self.a_t
                              and self.node_activation(self.centers[j], k) >= self.a_t):
                    pairs.append((j, k))
        return pairs

    def loss(self, Z) -> float:
        """L_c = mean_i sum_d w_{win_i,d} (z_id - c_{win_i,d})^2, winners on the current map."""
        Z = np.asarray(Z, dtype=np.float64)
        total = 0.0
        for i in range(len(Z)):
            j = self.winner(Z[i])[0]
            total += float(np.sum(self.relevances[j] * (Z[i] - self.centers[j]) ** 2))
        return total / len(Z)

    def loss_grad(self, Z) -> np.ndarray:
        """d L_c / d z with centers and relevances held fixed: 2 w_win (z - c_win) / B."""
        Z = np.asarray(Z, dtype=np.float64)
        grad = np.zeros_like(Z)
        for i in range(len(Z)):
            j = self.winner(Z[i])[0]
            grad[i] = 2.0 * self.relevances[j] * (Z[i] - self.centers[j]) / len(Z)
        return grad
