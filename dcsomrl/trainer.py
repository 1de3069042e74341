"""DC-SOMRL and SOMRL alone: the model, its training step and its run files (SPEC section 4).

Each training batch (paper section 4)::

    z    = sigmoid(enc(x))                       # (B, m), codes in [0, 1]
    som.update(z.detach())                       # one self-organizing step
    loss = L_r(dec(z), x) + alpha * som.loss(z)  # eq. 7: L = L_r + alpha * L_c
    one Adam step

``L_r`` is eq. 7 as printed, ``||x - x_hat||^2``: the squared error summed over
the input dimensions, averaged over the batch (parameter ``recon="sum"``). With
``recon="mean"`` it is the per-dimension mean the toolkit used before eq. 7
(alpha then weighs d times more: 784 on MNIST); only studies made then use it.

Evaluation: every test sample's cluster is its winning node; Purity (eq. 9)
and NMI (eq. 8). The validation curve (appendix A.2, Fig. 7) measures both on
the runner's fixed validation set every ``eval_every`` steps; it is recorded,
never trained on.

A trial is the one runner's (:func:`dcsomrl.run.run_trial`) with the parts
:data:`DCSOMRL` (the autoencoder and the map) or :data:`SOMRL_ALONE` (the map
on the inputs, scaled to [0, 1]; its ``dim`` is theirs). The step queues
without a host sync; the runner's :class:`~dcsomrl.run.Health` checks it at
validation points. Beside the runner's files a run directory holds::

    som_state.npz          centers (K, m), relevances (K, m), distances (K, m),
                           life (K,), slots (K,) of the K active nodes; edges
                           (E, 2) of the topology as row indices into those
                           arrays; a_t
    som.pt                 {"hyperparameters": SOMRLConfig fields, "state_dict": ...}
    autoencoder.pt         {"config": Autoencoder kwargs, "state_dict": ...}
                           (not for SOMRL alone or with save_model=False)

and metrics.json also records ``matmul_precision`` and, for a collapsed map or
a data set too small to measure, ``degenerate`` (:func:`dcsomrl.metrics.degenerate_reason`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcsomrl import metrics as M
from dcsomrl import params as P
from dcsomrl.autoencoder import Autoencoder
from dcsomrl.data import Dataset
from dcsomrl.run import Health, ModelParts, StepResult, train_loop
from dcsomrl.somrl import SOMRL, SOMRLConfig
from dcsomrl.terms import fp32_matmul_precision


class DCSOMRLConfig(P.config_base("dcsomrl")):
    """A DC-SOMRL (or SOMRL alone) trial's parameters: the map's ten (:attr:`som`) and the training's
    batch_size, epochs, alpha, ae_lr, eval_every, recon (names, domains: ``dcsomrl.params.PARAMS``)."""

    @property
    def som(self) -> SOMRLConfig:
        """The map's config."""
        return SOMRLConfig.from_params(vars(self))


@torch.no_grad()
def encode(ae: Autoencoder | None, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Latent codes of x (the inputs themselves for the standalone SOMRL)."""
    if ae is None:
        return x
    was_training = ae.training
    ae.eval()
    z = torch.cat([ae.encode(xb) for xb in x.split(chunk)])
    ae.train(was_training)
    return z


def evaluate(som: SOMRL, ae: Autoencoder | None, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """NMI, Purity, AMI, ARI and node count of the map's clustering of (x, y)."""
    pred = som.predict(encode(ae, x))
    return dict(**M.scores(y, pred), n_nodes=som.n_active)


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, recon: str = "sum") -> torch.Tensor:
    """L_r of eq. 7: ``mean_i ||x_i - x_hat_i||^2`` (``recon="sum"``), or the per-dimension mean
    ``mean_i mean_d (x_id - x_hat_id)^2`` (``recon="mean"``, before eq. 7)."""
    squared = (x_hat - x) ** 2                           # (B, d)
    return squared.sum(1).mean() if recon == "sum" else squared.mean()


def make_optimizer(ae: Autoencoder, lr: float, device: torch.device, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam for the autoencoder; on a GPU the fused kernel, whose step count stays on the device
    (no host sync). ``capturable=True`` (GPU only) lets a step be captured in a CUDA graph."""
    return torch.optim.Adam(ae.parameters(), lr=lr, fused=True if device.type == "cuda" else None,
                            capturable=capturable)


def train_step(som: SOMRL, ae: Autoencoder | None, opt, xb: torch.Tensor, alpha: float,
               recon: str = "sum") -> StepResult:
    """One training batch (module docstring), queued without reading anything back from the device.

    Finiteness is not checked here (a host sync per step): the step returns its
    loss and whether the codes were finite, and the runner's Health checks them at
    validation points. A non-finite code runs through the map without error.
    """
    if ae is None:
        som.update(xb)
        return StepResult(None, None)
    z = ae.encode(xb)                                    # (B, m), sigmoid: in [0, 1] when finite
    som.update(z.detach(), validate=False)               # in [0, 1] unless not finite (Health)
    loss = reconstruction_loss(ae.decode(z), xb, recon) + alpha * som.loss(z, validate=False)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return StepResult(loss.detach(), torch.isfinite(z.detach()).all())


class DCSOMRLLearner:
    """The map, the autoencoder (None for SOMRL alone) and its Adam, as the runner sees them
    (:class:`dcsomrl.run.Learner`)."""

    count = "nodes"

    def __init__(self, som: SOMRL, ae: Autoencoder | None, opt, cfg: DCSOMRLConfig):
        self.som, self.ae, self.opt, self.alpha, self.recon = som, ae, opt, cfg.alpha, cfg.recon

    def step(self, t: int, xb: torch.Tensor) -> StepResult:
        return train_step(self.som, self.ae, self.opt, xb, self.alpha, self.recon)

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        return evaluate(self.som, self.ae, x, y)

    def progress_text(self, curve: list[dict]) -> str:
        last = f", validation NMI {curve[-1]['nmi']:.3f}" if curve else ""
        return f", {self.som.n_active} nodes{last}"

    def summary(self, data: Dataset) -> dict[str, Any]:
        """``degenerate`` when the scores measure no clustering: flagged, not failed (a collapse is an outcome)."""
        why = M.degenerate_reason(self.som.n_active, int(torch.unique(data.y_train).numel()), len(data.y_test))
        return {"degenerate": why} if why else {}

    def save(self, out: Path, save_model: bool) -> None:
        """som_state.npz, som.pt and (with ``save_model``) autoencoder.pt (module docstring)."""
        som, ae = self.som, self.ae if save_model else None
        np.savez(out / "som_state.npz", **som_arrays(som))
        torch.save({"hyperparameters": dataclasses.asdict(som.config), "state_dict": som.state_dict()}, out / "som.pt")
        if ae is not None:
            torch.save({"config": ae.config(), "state_dict": ae.state_dict()}, out / "autoencoder.pt")


def fit(data: Dataset, cfg: DCSOMRLConfig, *, seed: int, device: torch.device, progress: bool | str = False,
        autoencoder: bool = True) -> tuple[DCSOMRLLearner, list[dict[str, Any]]]:
    """Train the map (and with ``autoencoder`` the autoencoder) on ``data.x_train``; (learner, curve).

    Raises TrialFailed when the loss or the codes stopped being finite, found at the
    next validation point (:class:`dcsomrl.run.Health`: no host sync per step).
    """
    x = data.x_train.to(device)                                         # (n, d)
    with torch.random.fork_rng(devices=[]):                             # weights from the trial's seed only
        torch.manual_seed(seed)
        ae = Autoencoder(x.shape[1], cfg.dim).to(device) if autoencoder else None
    som = SOMRL(cfg.som).to(device)
    opt = make_optimizer(ae, cfg.ae_lr, device) if ae is not None else None
    gen = torch.Generator().manual_seed(seed)                           # batch order
    steps_per_epoch = math.ceil(x.shape[0] / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    health = Health(min(cfg.eval_every, total), device, steps_per_epoch)
    learner = DCSOMRLLearner(som, ae, opt, cfg)
    curve = train_loop(learner, data, x, total=total, batch_size=cfg.batch_size, eval_every=cfg.eval_every,
                       gen=gen, progress=progress, health=health)
    return learner, curve


def _input_dim(data: Dataset) -> dict[str, int]:
    return {"dim": int(data.x_train.shape[1])}


def _precision(device: torch.device) -> dict[str, str]:
    return {"matmul_precision": fp32_matmul_precision(device.type)}


#: DC-SOMRL: the autoencoder and the map, on the data set's own normalization.
DCSOMRL = ModelParts("dcsomrl", DCSOMRLConfig.from_params, fit, scale01=False, header=_precision)
#: SOMRL alone on the inputs scaled to [0, 1]; its map's dim is theirs.
SOMRL_ALONE = ModelParts("somrl", DCSOMRLConfig.from_params, functools.partial(fit, autoencoder=False),
                         fixed_by_data=_input_dim, header=_precision)


# ------------------------------------------------------------------ run directories
def som_arrays(som: SOMRL) -> dict[str, np.ndarray]:
    """The map's K active nodes as numpy arrays (the contents of som_state.npz):
    centers, relevances, distances (K, m), life, slots (K,), edges (E, 2) as
    row indices into those arrays, and a_t."""
    slots = som.slots.cpu()
    row_of = torch.full((som.config.n_max,), -1, dtype=torch.long)
    row_of[slots] = torch.arange(len(slots))
    edges = row_of[som.topology().cpu()].reshape(-1, 2)
    return dict(centers=som.centers[slots].cpu().numpy(), relevances=som.relevances[slots].cpu().numpy(),
                distances=som.distances[slots].cpu().numpy(), life=som.life[slots].cpu().numpy(),
                slots=slots.numpy(), edges=edges.numpy(), a_t=np.float64(som.config.a_t))


def load_run(run_dir) -> tuple[dict, SOMRL, Autoencoder | None]:
    """(metrics, map, autoencoder or None) of a run directory, on the CPU."""
    run = Path(run_dir)
    if not (run / "metrics.json").is_file():
        raise FileNotFoundError(f"{run} is not a finished run directory (needs metrics.json and som.pt)")
    record = json.loads((run / "metrics.json").read_text())
    if record.get("model", "dcsomrl") not in ("dcsomrl", "somrl"):  # a baseline's run (dcsomrl/grid.py)
        raise FileNotFoundError(f"{run} holds a {record['model']} run, not a DC-SOMRL or SOMRL one (no som.pt)")
    if not (run / "som.pt").is_file():
        raise FileNotFoundError(f"{run} is not a finished run directory (needs metrics.json and som.pt)")
    saved = torch.load(run / "som.pt", map_location="cpu", weights_only=True)
    som = SOMRL(SOMRLConfig(**saved["hyperparameters"]))
    som.load_state_dict(saved["state_dict"])
    ae = None
    if (run / "autoencoder.pt").is_file():
        saved = torch.load(run / "autoencoder.pt", map_location="cpu", weights_only=True)
        cfg = saved["config"]
        ae = Autoencoder(cfg["input_dim"], cfg["latent_dim"], tuple(cfg["hidden"]))
        ae.load_state_dict(saved["state_dict"])
        ae.eval()
    return record, som, ae
