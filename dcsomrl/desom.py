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
sample's cluster is its nearest prototype (:func:`assign`). The kernel weights
are computed from the batch's current assignment and carry no gradient, as in
the public code (it feeds them to Keras as a target).

Defaults (``dcsomrl.params.DESOM_PARAMS``) are the public Keras code's
(FlorentF9/DESOM, ``train.py`` and ``DESOM.fit``): an 8x8 map, latent size 10,
gamma 0.001, T_max 10, T_min 0.1, exponential decay, Gaussian neighbourhood,
batch 256, 10,000 iterations (about 43 epochs of MNIST's 60,000), Adam at
Keras's default learning rate 1e-3; inputs scaled to [0, 1] (its ``x / 255``;
here ``load_dataset(scale01=True)``). The public code does **not** pretrain
the autoencoder by default (``--pretrain_epochs 0``; "requires no
pre-training"); its pretrained variant used 200 epochs of reconstruction
only. ``pretrain_epochs`` (default 0) mirrors it: that many epochs of
reconstruction only, with their own Adam, before the prototypes are set.
The prototypes start as the codes of K training samples drawn without
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

The run helpers below (:func:`run_baseline` and what it calls) are shared by
the grid baselines (also :mod:`dcsomrl.somvae`): they give a trial the format
of :func:`dcsomrl.trainer.run_trial`. A run directory holds::

    metrics.json          status, nmi, purity, ami, ari, n_nodes (prototypes used on the test split),
                          map_size [rows, cols], n_prototypes, steps, train_epochs, seconds, seed,
                          device, host, dataset, model, params, validation (the curve), reason
    validation_curve.csv  step, epoch, nmi, purity, ami, ari, n_nodes, loss
    prototypes.npz        prototypes (K, m), grid (K, 2) row and column of each, map_size (2,)
    autoencoder.pt        {"config": Autoencoder kwargs, "state_dict": ..., "model", "latent", "output"}
                          (not with save_model=False)
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from dcsomrl import metrics as M
from dcsomrl import params as P
from dcsomrl.autoencoder import Autoencoder
from dcsomrl.data import Dataset, canonical_name, load_dataset, validation_indices
from dcsomrl.trainer import (RUN_FILES, VALIDATION_SEED, TrialFailed, _progress, _write_json,
                             resolve_device, write_curve)
from dcsomrl.util import host_name

MODEL = "desom"
BASELINE_FILES = ("prototypes.npz",)


@dataclass(frozen=True)
class DESOMConfig:
    """DE-SOM's parameters (names and domains: ``dcsomrl.params.DESOM_PARAMS``)."""
    map_rows: int = 8
    map_cols: int = 8
    dim: int = 10
    gamma: float = 1e-3
    T_max: float = 10.0
    T_min: float = 0.1
    iterations: int = 10_000
    epochs: int = 0
    batch_size: int = 256
    ae_lr: float = 1e-3
    pretrain_epochs: int = 0
    eval_every: int = 100

    def __post_init__(self):
        if self.T_min > self.T_max:
            raise P.ParameterError(f"T_min={self.T_min!r} must not exceed T_max={self.T_max!r} "
                                   f"(the temperature decays from T_max to T_min)")

    def total_iterations(self, n_train: int) -> int:
        """N: ``epochs`` epochs of ``batch_size`` when epochs > 0, else ``iterations``."""
        return self.epochs * math.ceil(n_train / self.batch_size) if self.epochs > 0 else self.iterations


# ------------------------------------------------------------------ the math (pure functions)
def grid_positions(rows: int, cols: int) -> torch.Tensor:
    """(K, 2) row and column of each of the K = rows * cols prototypes, row-major: k = r * cols + c."""
    k = torch.arange(rows * cols)
    return torch.stack([k // cols, k % cols], dim=1)


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


def sq_distances(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, K) squared Euclidean distances ||z_i - w_k||^2 of codes z (B, m) to prototypes w (K, m)."""
    return ((z[:, None, :] - w[None, :, :]) ** 2).sum(-1)


def assign(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B,) index of each code's nearest prototype, argmin_k ||z_i - w_k||^2 (lowest k on ties)."""
    return sq_distances(z.detach(), w.detach()).argmin(dim=1)


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


def fit(data: Dataset, cfg: DESOMConfig, *, seed: int, device: torch.device, progress: bool | str = False):
    """Train DE-SOM on ``data.x_train``; returns (net, validation curve, N iterations)."""
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

    curve = train_loop(net, step, data, x, total=total, batch_size=cfg.batch_size,
                       eval_every=cfg.eval_every, gen=gen, progress=progress)
    return net, curve, total


# ------------------------------------------------------------------ shared by the grid baselines
def cluster_scores(pred: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """NMI, Purity, AMI, ARI and n_nodes (distinct clusters used) of a labelling."""
    return dict(**M.scores(y, pred), n_nodes=int(torch.unique(pred).numel()))


def batches(n: int, batch_size: int, total: int, gen: torch.Generator, *, drop_last: bool = False):
    """``total`` (epoch, index batch) pairs over fresh permutations of range(n)."""
    step, epoch = 0, 0
    while step < total:
        perm = torch.randperm(n, generator=gen)
        if drop_last and n >= batch_size:
            perm = perm[: n - n % batch_size]
        for idx in perm.split(batch_size):
            if step == total:
                return
            yield epoch, idx
            step += 1
        epoch += 1


def train_loop(net, step_fn: Callable[[int, torch.Tensor], float], data: Dataset, x: torch.Tensor, *,
               total: int, batch_size: int, eval_every: int, gen: torch.Generator,
               progress: bool | str = False, drop_last: bool = False) -> list[dict[str, Any]]:
    """Run ``step_fn(t, batch)`` for t = 0..total-1; the validation curve every ``eval_every`` steps.

    The curve is measured on the fixed validation set of the trainer (10 test
    samples per class, the same for every trial of a data set).
    """
    val = validation_indices(data.y_test, per_class=10, seed=VALIDATION_SEED)
    x_val, y_val = data.x_test[val].to(x.device), data.y_test[val]
    per_epoch = max(1, (x.shape[0] // batch_size) if drop_last else math.ceil(x.shape[0] / batch_size))
    curve: list[dict[str, Any]] = []
    bar, start = _progress(total, progress in (True, "bar")), time.perf_counter()
    for t, (epoch, idx) in enumerate(batches(x.shape[0], batch_size, total, gen, drop_last=drop_last)):
        try:
            loss = step_fn(t, x[idx.to(x.device)])
        except TrialFailed as exc:
            raise TrialFailed(f"{exc.reason} at step {t} (epoch {epoch})") from None
        if (t + 1) % eval_every == 0 or t + 1 == total:
            curve.append(dict(step=t + 1, epoch=epoch, loss=loss, **cluster_scores(net.predict(x_val), y_val)))
            bar.set_postfix(used=curve[-1]["n_nodes"], nmi=f"{curve[-1]['nmi']:.3f}", loss=f"{loss:.4f}")
        bar.update(1)
        if progress == "lines" and ((t + 1) % per_epoch == 0 or t + 1 == total):
            _epoch_line(epoch, math.ceil(total / per_epoch), t + 1, curve, loss, start)
    bar.close()
    return curve


def _epoch_line(epoch: int, epochs: int, step: int, curve: list[dict], loss: float, start: float) -> None:
    last = f", {curve[-1]['n_nodes']} prototypes used, validation NMI {curve[-1]['nmi']:.3f}" if curve else ""
    print(f"epoch {epoch + 1}/{epochs}: step {step}{last}, loss {loss:.4f}, "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def prepare_run(model: str, make_config: Callable[[dict], Any], dataset: str | Dataset,
                params: dict[str, Any] | None, *, seed: int, device: str, data_dir, out_dir):
    """(dataset name, validated params, config, device, Dataset, run directory or None) of one
    baseline trial; every check comes before the run directory is touched.

    A named dataset is loaded scaled to [0, 1] (``scale01=True``), as both public codes scale it.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise P.ParameterError(f"seed={seed!r} must be an integer >= 0")
    name = canonical_name(dataset) if isinstance(dataset, str) else dataset.name
    hp = P.defaults_for(name, model)
    hp.update(P.validate(dict(params or {}), model))
    cfg = make_config(hp)                                   # cross-parameter checks
    dev = resolve_device(device)
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, data_dir, scale01=True)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # a run directory holds one run: files of an earlier one go
        out.mkdir(parents=True, exist_ok=True)
        for f in (*RUN_FILES, *BASELINE_FILES):
            (out / f).unlink(missing_ok=True)
    return name, hp, cfg, dev, dataset, out


def run_baseline(model: str, make_config: Callable[[dict], Any], fit_fn: Callable, dataset, params, *,
                 seed: int, device: str = "cpu", data_dir=None, out_dir=None, save_model: bool = True,
                 progress: bool | str = False) -> dict[str, Any]:
    """One trial of a grid baseline, with the format of :func:`dcsomrl.trainer.run_trial`.

    ``fit_fn(data, cfg, seed=, device=, progress=) -> (net, curve, steps)``; ``net.predict(x)``
    gives clusters, ``net.prototypes`` (K, m), ``net.ae`` the autoencoder.
    """
    name, hp, cfg, dev, data, out = prepare_run(model, make_config, dataset, params, seed=seed,
                                                device=device, data_dir=data_dir, out_dir=out_dir)
    record: dict[str, Any] = dict(status="running", dataset=name, model=model, seed=int(seed),
                                  device=str(dev), host=host_name(), params=hp)
    start = time.perf_counter()
    try:
        net, curve, steps = fit_fn(data, cfg, seed=int(seed), device=dev, progress=progress)
    except TrialFailed as exc:
        record.update(status="failed", reason=exc.reason, seconds=time.perf_counter() - start)
        if out is not None:
            _write_json(out / "metrics.json", record)
        raise
    final = cluster_scores(net.predict(data.x_test.to(dev)), data.y_test)
    record.update(status="complete", seconds=time.perf_counter() - start, **final,
                  map_size=[cfg.map_rows, cfg.map_cols], n_prototypes=cfg.map_rows * cfg.map_cols,
                  steps=int(steps), train_epochs=_epochs_of(steps, data, cfg), validation=curve)
    if out is not None:
        save_run(out, record, net, save_model)
    return record


def _epochs_of(steps: int, data: Dataset, cfg) -> float:
    """Training epochs that ``steps`` batches amount to (samples seen / training samples)."""
    return round(steps * cfg.batch_size / data.x_train.shape[0], 3)


def save_run(out: Path, record: dict, net, save_model: bool) -> None:
    """Write a baseline's run directory (format in the module docstring)."""
    write_curve(out / "validation_curve.csv", record.get("validation", []))
    np.savez(out / "prototypes.npz", prototypes=net.prototypes.detach().cpu().numpy(),
             grid=grid_positions(net.rows, net.cols).numpy(), map_size=np.array([net.rows, net.cols]))
    if save_model:
        torch.save({"config": net.ae.config(), "state_dict": net.ae.state_dict(), **net.saved()},
                   out / "autoencoder.pt")
    _write_json(out / "metrics.json", record)  # last: its presence means the run is whole


def run_trial(dataset: str | Dataset, params: dict[str, Any] | None = None, *, seed: int,
              device: str = "cpu", model: str = MODEL, data_dir=None, out_dir=None,
              save_model: bool = True, progress: bool | str = False) -> dict[str, Any]:
    """Train and measure one DE-SOM trial (signature and metrics of :func:`dcsomrl.trainer.run_trial`).

    ``params``: any subset of ``dcsomrl.params.DESOM_PARAMS``; the rest are the
    dataset's defaults. Raises TrialFailed (after writing metrics.json) on a non-finite loss.
    """
    return run_baseline(MODEL, lambda hp: DESOMConfig(**hp), fit, dataset, params, seed=seed, device=device,
                        data_dir=data_dir, out_dir=out_dir, save_model=save_model, progress=progress)
