"""SOM-VAE, static (Fortuin et al. 2018, without the Markov transition term), a baseline of SPEC 10.

An encoder gives z_e, the nearest of a ``map_rows`` x ``map_cols`` grid of
embeddings e_k gives z_q, and one decoder reconstructs the input from both.
Each batch::

    z_e  = enc(x)                                  # (B, m)
    k    = argmin_j ||z_e - e_j||^2                # (B,), the sample's cluster (:func:`quantize`)
    z_q  = e_k                                     # (B, m)
    L    = mse(dec(z_e), x) + mse(dec(st(z_e, z_q)), x)        # reconstruction from both
         + alpha * mean (z_e - z_q)^2                          # commitment, :func:`commitment_loss`
         + beta  * sum_{j in N(k)} ||sg(z_e) - e_j||^2 / (5 B m) # SOM loss, :func:`som_loss`

``N(k)`` is the winner and its grid neighbours above, below, right and left
(those that exist; :func:`grid_neighbours`); ``sg`` is stop-gradient, so the
SOM loss moves the embeddings only, as in the paper. ``st(z_e, z_q) = z_q + z_e - sg(z_e)``
(:func:`straight_through`): its value is z_q, the decoder's gradient reaches the
embeddings (as in the public code, which decodes the gathered embeddings) and is
copied to z_e, the straight-through estimator of the paper (VQ-VAE's gradient copy).
The public code divides the SOM loss by 5 B m and puts a missing neighbour in as
the zero vector, which adds the constant ||sg(z_e)||^2 (no gradient); here it
adds nothing, so the gradients are the public code's and the value lacks that constant.

Defaults (``dcsomrl.params``, the registry :class:`SOMVAEConfig` is built
from) are the public TensorFlow code's (ratschlab/SOM-VAE, ``somvae_train.py``
config and ``somvae_model.py``): latent size 64, an 8x8 map, Adam at lr 5e-4
with staircase decay by 0.9, alpha 1.0 (commitment), beta 0.9 (SOM), batch 32,
20 epochs of ``n // 32`` full batches, embeddings drawn from a normal of std
0.05 truncated at 2 std, inputs in [0, 1] (``load_dataset(scale01=True)``) and
a sigmoid output. The transition terms (gamma 1.8, tau 1.4) are left out: the
static model. The public decay is every ``decay_steps = 1000`` global steps,
and its global step counts two optimizer calls per batch (the SOM-VAE and the
transition step), so it decays every 500 batches: ``decay_steps`` here counts
batches and defaults to 500.

Encoder and decoder: the public code has a convolutional net for MNIST and an
MLP for flat inputs (d-256-128-m, ReLU, a ReLU latent, decoder m-128-256-d with
a sigmoid output). Every dataset here is flat rows, so ``arch`` chooses an MLP:
``"dec"`` (default) is the DEC autoencoder of SPEC 4 (d-500-500-2000-m, linear
latent), the architecture every model of the runner shares, with the public
sigmoid output; ``"mlp"`` is the public flat-input network.

A trial is the one runner's (:func:`dcsomrl.run.run_trial` with :data:`SOMVAE`);
the grid's scores, metrics and files are :class:`dcsomrl.grid.GridLearner`'s, as DE-SOM's.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dcsomrl import params as P
from dcsomrl.autoencoder import Autoencoder
from dcsomrl.data import Dataset
from dcsomrl.grid import GridLearner, assign, optimizer_step
from dcsomrl.run import ModelParts, train_loop

MODEL = "somvae"
MLP_HIDDEN = (256, 128)  # the public code's flat-input encoder


class SOMVAEConfig(P.config_base("somvae")):
    """SOM-VAE's parameters (names, domains and defaults, the public code's: ``dcsomrl.params.SOMVAE_PARAMS``),
    frozen and checked on construction."""


# ------------------------------------------------------------------ the math (pure functions)
def grid_neighbours(k: torch.Tensor, rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, 5) of each winner k (B,) and its neighbours up (r+1), down (r-1), right (c+1),
    left (c-1) on the row-major grid, and a mask (B, 5), False where a neighbour is off the grid
    (its index is then the winner's)."""
    r, c = k // cols, k % cols                                          # (B,) each
    moves = torch.tensor([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], device=k.device)   # (5, 2)
    nr, nc = r[:, None] + moves[:, 0], c[:, None] + moves[:, 1]         # (B, 5) each
    mask = (nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols)
    idx = torch.where(mask, nr * cols + nc, k[:, None])
    return idx, mask


def quantize(z_e: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(k (B,), z_q (B, m)): each code's nearest embedding of emb (K, m) and that embedding."""
    k = assign(z_e, emb)
    return k, emb[k]


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_q + z_e - sg(z_e): the value of z_q; a gradient reaches z_q and is copied to z_e."""
    return z_q + z_e - z_e.detach()


def commitment_loss(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """mean over the B x m entries of (z_e - z_q)^2 (gradient to both)."""
    return ((z_e - z_q) ** 2).mean()


def som_loss(z_e: torch.Tensor, emb: torch.Tensor, k: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """sum over i and the existing j in N(k_i) of ||sg(z_e_i) - e_j||^2, divided by 5 B m (a scalar)."""
    idx, mask = grid_neighbours(k, rows, cols)                          # (B, 5) each
    diff = (z_e.detach()[:, None, :] - emb[idx]) ** 2                   # (B, 5, m)
    return (diff * mask[..., None]).sum() / diff.numel()


# ------------------------------------------------------------------ the model
class SOMVAENet(nn.Module):
    """Encoder/decoder (an :class:`Autoencoder`) and the (K, m) embeddings."""

    def __init__(self, input_dim: int, cfg: SOMVAEConfig):
        super().__init__()
        self.rows, self.cols, self.arch = cfg.map_rows, cfg.map_cols, cfg.arch
        hidden = MLP_HIDDEN if cfg.arch == "mlp" else None
        self.ae = Autoencoder(input_dim, cfg.dim, hidden) if hidden else Autoencoder(input_dim, cfg.dim)
        emb = torch.empty(cfg.map_rows * cfg.map_cols, cfg.dim)                      # (K, m)
        self.embeddings = nn.Parameter(nn.init.trunc_normal_(emb, std=0.05, a=-0.1, b=0.1))

    @property
    def prototypes(self) -> torch.Tensor:
        return self.embeddings

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) -> z_e (B, m): linear latent (dec) or ReLU latent (mlp, as the public MLP)."""
        z = self.ae.encoder(x)
        return torch.relu(z) if self.arch == "mlp" else z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, m) -> (B, d) in (0, 1): sigmoid output, as the public code."""
        return torch.sigmoid(self.ae.decoder(z))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """(N,) each sample's nearest embedding."""
        return torch.cat([assign(self.encode(xb), self.embeddings) for xb in x.split(chunk)])

    def saved(self) -> dict:
        """What autoencoder.pt holds beside the weights."""
        return dict(model=MODEL, latent="relu" if self.arch == "mlp" else "linear", output="sigmoid")


def losses(net: SOMVAENet, x: torch.Tensor, cfg: SOMVAEConfig) -> dict[str, torch.Tensor]:
    """The loss terms of one batch x (B, d): reconstruction, commitment, som and their weighted total."""
    z_e = net.encode(x)                                                 # (B, m)
    k, z_q = quantize(z_e, net.embeddings)                              # (B,), (B, m)
    mse = nn.functional.mse_loss
    rec = mse(net.decode(z_e), x) + mse(net.decode(straight_through(z_e, z_q)), x)
    commit = commitment_loss(z_e, z_q)
    som = som_loss(z_e, net.embeddings, k, cfg.map_rows, cfg.map_cols)
    return dict(reconstruction=rec, commitment=commit, som=som,
                total=rec + cfg.alpha * commit + cfg.beta * som)


# ------------------------------------------------------------------ training
def fit(data: Dataset, cfg: SOMVAEConfig, *, seed: int, device: torch.device,
        progress: bool | str = False) -> tuple[GridLearner, list[dict[str, Any]]]:
    """Train SOM-VAE on ``data.x_train`` (:func:`dcsomrl.run.train_loop`, full batches only, as the
    public code); returns (learner, validation curve)."""
    x = data.x_train.to(device)                                         # (n, d)
    gen = torch.Generator().manual_seed(seed)                           # batch order
    with torch.random.fork_rng(devices=[]):                             # weights from the seed only
        torch.manual_seed(seed)
        net = SOMVAENet(x.shape[1], cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_steps, gamma=cfg.decay_factor)
    per_epoch = max(1, x.shape[0] // cfg.batch_size)                    # full batches only (public code)
    total = cfg.epochs * per_epoch

    def step(t: int, xb: torch.Tensor) -> float:
        value = optimizer_step(opt, losses(net, xb, cfg)["total"])
        sched.step()                                                    # lr0 * factor^(floor(t / steps))
        return value

    learner = GridLearner(net, step, total, cfg.batch_size)
    curve = train_loop(learner, data, x, total=total, batch_size=cfg.batch_size, eval_every=cfg.eval_every,
                       gen=gen, progress=progress, drop_last=True)
    return learner, curve


#: SOM-VAE's parts for the one trial runner (inputs scaled to [0, 1], as the public code scales them).
SOMVAE = ModelParts(MODEL, SOMVAEConfig.from_params, fit)
