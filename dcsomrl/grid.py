"""What the fixed-grid baselines share (DE-SOM, :mod:`dcsomrl.desom`; SOM-VAE, :mod:`dcsomrl.somvae`).

A grid model is an autoencoder (:class:`dcsomrl.autoencoder.Autoencoder`) and a
``map_rows`` x ``map_cols`` grid of K prototypes ``w_k`` in its latent space; a
sample's cluster is its nearest prototype (:func:`assign`). Its step checks its
own loss (:func:`optimizer_step`, a host sync: TrialFailed at the step, placed
by the runner's loop). :class:`GridLearner` is a grid model as the runner sees
it (:class:`dcsomrl.run.Learner`): its scores count the prototypes used on a
split (``n_nodes``), metrics.json also records ``map_size`` [rows, cols],
``n_prototypes``, ``steps`` and ``train_epochs``, and a run directory holds,
beside the runner's files::

    prototypes.npz        prototypes (K, m), grid (K, 2) row and column of each, map_size (2,)
    autoencoder.pt        {"config": Autoencoder kwargs, "state_dict": ..., "model", "latent", "output"}
                          (not with save_model=False)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dcsomrl import metrics as M
from dcsomrl.data import Dataset
from dcsomrl.run import TrialFailed


def grid_positions(rows: int, cols: int) -> torch.Tensor:
    """(K, 2) row and column of each of the K = rows * cols prototypes, row-major: k = r * cols + c."""
    k = torch.arange(rows * cols)
    return torch.stack([k // cols, k % cols], dim=1)


def sq_distances(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, K) squared Euclidean distances ||z_i - w_k||^2 of codes z (B, m) to prototypes w (K, m)."""
    return ((z[:, None, :] - w[None, :, :]) ** 2).sum(-1)


def assign(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B,) index of each code's nearest prototype, argmin_k ||z_i - w_k||^2 (lowest k on ties)."""
    return sq_distances(z.detach(), w.detach()).argmin(dim=1)


def finite(loss: torch.Tensor) -> float:
    """The loss as a float; TrialFailed when it is not finite."""
    value = loss.item()
    if not math.isfinite(value):
        raise TrialFailed(f"diverged: loss is {value}")
    return value


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One gradient step on ``loss`` (refused when it is not finite); returns its value."""
    value = finite(loss)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return value


class GridLearner:
    """A grid model in training (:class:`dcsomrl.run.Learner`).

    ``net``: ``predict(x)`` gives clusters, ``prototypes`` (K, m), ``rows``, ``cols``, ``ae`` the
    autoencoder, ``saved()`` what autoencoder.pt holds beside its weights. ``step(t, xb) -> float``:
    one checked batch. ``steps``: the batches it trains, of ``batch_size`` samples.
    """

    count = "used"

    def __init__(self, net, step: Callable[[int, torch.Tensor], float], steps: int, batch_size: int):
        self.net, self.step, self.steps, self.batch_size = net, step, steps, batch_size

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """NMI, Purity, AMI, ARI and n_nodes (distinct prototypes used) of its clustering of x."""
        pred = self.net.predict(x)
        return dict(**M.scores(y, pred), n_nodes=int(torch.unique(pred).numel()))

    def progress_text(self, curve: list[dict]) -> str:
        return f", {curve[-1]['n_nodes']} prototypes used, validation NMI {curve[-1]['nmi']:.3f}" if curve else ""

    def summary(self, data: Dataset) -> dict[str, Any]:
        """The grid, its size, the batches trained and the training epochs they amount to
        (samples seen / training samples)."""
        rows, cols = self.net.rows, self.net.cols
        return dict(map_size=[rows, cols], n_prototypes=rows * cols, steps=int(self.steps),
                    train_epochs=round(self.steps * self.batch_size / data.x_train.shape[0], 3))

    def save(self, out: Path, save_model: bool) -> None:
        """prototypes.npz and (with ``save_model``) autoencoder.pt (module docstring)."""
        net = self.net
        np.savez(out / "prototypes.npz", prototypes=net.prototypes.detach().cpu().numpy(),
                 grid=grid_positions(net.rows, net.cols).numpy(), map_size=np.array([net.rows, net.cols]))
        if save_model:
            torch.save({"config": net.ae.config(), "state_dict": net.ae.state_dict(), **net.saved()},
                       out / "autoencoder.pt")
