"""DE-SOM, the Deep Embedded Self-Organizing Map (Forest et al. 2019), a baseline of SPEC section 10.

The DEC autoencoder of SPEC 4 (d-500-500-2000-m, :class:`dcsomrl.autoencoder.Autoencoder`)
plus a fixed ``map_rows`` x ``map_cols`` grid of K prototypes ``w_k`` in its
latent space, trained jointly by gradient (Adam). Each batch, at iteration t::

    z    = enc(x)                                   # (B, m), linear latent layer (as the public code)
    bmu  = argmin_k ||z_i - w_k||^2                 # (B,), no gradient
    L    = mse(dec(z), x) + gamma * L_som           # L_som: :func:`kohonen_loss`
    L_som = 1/B sum_i sum_k K_T(d(bmu_i, k)) ||z_i - w_k||^2
    K_T(d) = exp(-d^2 / T^2)                        # Gaussian neighbourhood, :func:`kernel`
    T(t) = T_max (T_min / T_max)^(t / (N - 1))      # exponential decay over the N iterations

``d`` is the Manhattan distance on the grid (:func:`grid_distances`). A
sample's cluster is its nearest prototype (:func:`dcsomrl.grid.assign`). The
kernel weights are computed from the batch's current assignment and carry no
gradient, as in the public code (it feeds them to Keras as a target).

Defaults (``dcsomrl.params``, the registry :class:`DESOMConfig` is built from)
are the public Keras code's (FlorentF9/DESOM, ``train.py`` and ``DESOM.fit``):
an 8x8 map, latent size 10, gamma 0.001, T_max 10, T_min 0.1, exponential
decay, Gaussian neighbourhood, batch 256, 10,000 iterations (about 43 epochs
of MNIST's 60,000), Adam at Keras's default learning rate 1e-3; inputs scaled
to [0, 1] (its ``x / 255``; here ``load_dataset(scale01=True)``). The public
code does **not** pretrain the autoencoder by default (``--pretrain_epochs
0``; "requires no pre-training"); its pretrained variant used 200 epochs of
reconstruction only. ``pretrain_epochs`` (default 0) mirrors it: that many
epochs of reconstruction only, with their own Adam, before the prototypes are
set. The prototypes start as the codes of K training samples drawn without
replacement (the public ``som_init='random'``).

Where this code differs from the public one, on purpose:

- grid distance: the public ``map_dist`` takes the row term as ``|i - k| // cols``,
  which is not the row difference (on a 2x2 map it puts cells 1 and 2,
  diagonal neighbours, at distance 1); here ``d = |r_i - r_k| + |c_i - c_k|``,
  the Manhattan distance the paper states;
- batches: the public generator walks the training set in its stored order;
  here each pass is a fresh permutation drawn from the trial's seed;
- budget: ``epochs > 0`` sets the budget in epochs (N = epochs * ceil(n / batch_size)),
  so a study can give DE-SOM the same epochs as DC-SOMRL; ``epochs = 0`` uses
  ``iterations``. On digits the default is dcsomrl's digits budget (batch 64, 30 epochs).

A trial is the one runner's (:func:`dcsomrl.run.run_trial` with :data:`DESOM`);
the grid's scores, metrics and files are :class:`dcsomrl.grid.GridLearner`'s.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dcsomrl import params as P
from dcsomrl.autoencoder import Autoencoder
from dcsomrl.data import Dataset
from dcsomrl.grid import GridLearner, assign, grid_positions, optimizer_step, sq_distances
from dcsomrl.run import ModelParts, TrialFailed, train_loop

MODEL = "desom"


class DESOMConfig(P.config_base("desom")):
    """DE-SOM's parameters (names, domains and defaults, the public code's: ``dcsomrl.params.DESOM_PARAMS``),
    frozen and checked on construction."""

    def __post_init__(self):
        super().__post_init__()
        if self.T_min > self.T_max:
            raise P.ParameterError(f"T_min={self.T_min!r} must not exceed T_max={self.T_max!r} "
                                   f"(the temperature decays from T_max to T_min)")

    def total_iterations(self, n_train: int) -> int:
        """N: ``epochs`` epochs of ``batch_size`` when epochs > 0, else ``iterations``."""
        return self.epochs * math.ceil(n_train / self.batch_size) if self.epochs > 0 else self.iterations


# ------------------------------------------------------------------ the math (pure functions)
def grid_distances(rows: int, cols: int) -> torch.Tensor:
    """(K, K) Manhattan distances on the grid, d(i, k) = |r_i - r_k| + |c_i - c_k| (float32)."""
    pos = grid_positions(rows, cols)
    return (pos[:, None, :] - pos[None, :, :]).abs().sum(-1).float()


def kernel(d: torch.Tensor, T: float) -> torch.Tensor:
    """Gaussian neighbourhood K_T(d) = exp(-d^2 / T^2), elementwise (the public ``gaussian``)."""
    return torch.exp(-(d ** 2) / (T ** 2))


def temperature(t: int, iterations: int, T_max: float, T_min: float) -> float:
    """T(t) = T_max (T_min / T_max)^(t / (N - 1)), t = 0..N-1: T(0) = T_max, T(N-1) = T_min.

    With a single iteration (N = 1), T = T_max.
    """
    return float(T_max * (T_min / T_max) ** (t / max(iterations - 1, 1)))


def kohonen_loss(z: torch.Tensor, w: torch.Tensor, grid_d: torch.Tensor, T: float) -> torch.Tensor:
    """L_som = 1/B sum_i sum_k K_T(d(bmu_i, k)) ||z_i - w_k||^2, a scalar.

    z (B, m) codes, w (K, m) prototypes, grid_d (K, K) grid distances. The
    weights K_T(d(bmu_i, k)) (B, K) are constants (no gradient), as in the public code.
    """
    dist = sq_distances(z, w)                            # (B, K)
    bmu = dist.detach().argmin(dim=1)                    # (B,)
    weights = kernel(grid_d[bmu], T).detach()            # (B, K)
    return (weights * dist).sum(dim=1).mean()


# ------------------------------------------------------------------ the model
class DESOMNet(nn.Module):
    """The autoencoder and the (K, m) prototypes."""

    def __init__(self, input_dim: int, cfg: DESOMConfig):
        super().__init__()
        self.rows, self.cols = cfg.map_rows, cfg.map_cols
        self.ae = Autoencoder(input_dim, cfg.dim)
        self.prototypes = nn.Parameter(torch.zeros(cfg.map_rows * cfg.map_cols, cfg.dim))  # (K, m)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> (B, m): the encoder's linear output (no sigmoid, unlike DC-SOMRL's codes)."""
        return self.ae.encoder(x)

    @torch.no_grad()
    def init_prototypes(self, x: torch.Tensor, gen: torch.Generator) -> None:
        """Prototypes := codes of K training samples drawn without replacement (with, if n < K)."""
        n, k = x.shape[0], self.prototypes.shape[0]
        idx = torch.randperm(n, generator=gen)[:k] if n >= k else torch.randint(n, (k,), generator=gen)
        self.prototypes.copy_(self.encode(x[idx.to(x.device)]))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """(N,) each sample's nearest prototype."""
        return torch.cat([assign(self.encode(xb), self.prototypes) for xb in x.split(chunk)])

    def saved(self) -> dict:
        """What autoencoder.pt holds beside the weights."""
        return dict(model=MODEL, latent="linear", output="linear")


# ------------------------------------------------------------------ training
def pretrain(ae: Autoencoder, x: torch.Tensor, cfg: DESOMConfig, gen: torch.Generator) -> None:
    """``cfg.pretrain_epochs`` epochs of reconstruction only (own Adam, lr ``ae_lr``)."""
    if cfg.pretrain_epochs == 0:
        return
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.ae_lr)
    for epoch in range(cfg.pretrain_epochs):
        for idx in torch.randperm(x.shape[0], generator=gen).to(x.device).split(cfg.batch_size):
            xb = x[idx]                                                 # (B, d)
            try:
                optimizer_step(opt, nn.functional.mse_loss(ae.decode(ae.encoder(xb)), xb))
            except TrialFailed as exc:
                raise TrialFailed(f"{exc.reason} in pretraining epoch {epoch}") from None


def fit(data: Dataset, cfg: DESOMConfig, *, seed: int, device: torch.device,
        progress: bool | str = False) -> tuple[GridLearner, list[dict[str, Any]]]:
    """Train DE-SOM on ``data.x_train``: pretraining, the prototypes' start, then N joint iterations
    (:func:`dcsomrl.run.train_loop`); returns (learner, validation curve)."""
    x = data.x_train.to(device)                                         # (n, d)
    gen = torch.Generator().manual_seed(seed)                           # batch order, prototype sample
    with torch.random.fork_rng(devices=[]):                             # weights from the seed only
        torch.manual_seed(seed)
        net = DESOMNet(x.shape[1], cfg).to(device)
    pretrain(net.ae, x, cfg, gen)
    net.init_prototypes(x, gen)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.ae_lr)
    total = cfg.total_iterations(x.shape[0])
    grid_d = grid_distances(cfg.map_rows, cfg.map_cols).to(device)     # (K, K)

    def step(t: int, xb: torch.Tensor) -> float:
        z = net.encode(xb)                                              # (B, m)
        som = kohonen_loss(z, net.prototypes, grid_d, temperature(t, total, cfg.T_max, cfg.T_min))
        return optimizer_step(opt, nn.functional.mse_loss(net.ae.decode(z), xb) + cfg.gamma * som)

    learner = GridLearner(net, step, total, cfg.batch_size)
    curve = train_loop(learner, data, x, total=total, batch_size=cfg.batch_size, eval_every=cfg.eval_every,
                       gen=gen, progress=progress)
    return learner, curve


#: DE-SOM's parts for the one trial runner (inputs scaled to [0, 1], as the public code scales them).
DESOM = ModelParts(MODEL, DESOMConfig.from_params, fit)
