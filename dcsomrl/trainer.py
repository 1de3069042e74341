"""Train and measure one DC-SOMRL trial (SPEC section 4).

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
a fixed set of 10 test samples per class every ``eval_every`` steps; it is
recorded, never trained on.

``run_trial`` is the one entry point used by the CLI, the study runner and the
final runs. A run directory holds::

    metrics.json           status, nmi, purity, ami, ari, n_nodes, seconds, seed, device,
                           host, dataset, model, params (every value), reason
    validation_curve.csv   step, epoch, nmi, purity, ami, ari, n_nodes, loss
    som_state.npz          centers (K, m), relevances (K, m), distances (K, m),
                           life (K,), slots (K,) of the K active nodes; edges
                           (E, 2) of the topology as row indices into those
                           arrays; a_t
    som.pt                 {"hyperparameters": SOMRL kwargs, "state_dict": ...}
    autoencoder.pt         {"config": Autoencoder kwargs, "state_dict": ...}
                           (not for --model somrl or with save_model=False)
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from dcsomrl import metrics as M
from dcsomrl import params as P
from dcsomrl.autoencoder import Autoencoder
from dcsomrl.data import Dataset, canonical_name, load_dataset, validation_indices
from dcsomrl.somrl import SOMRL, fp32_matmul_precision
from dcsomrl.util import host_name

MODELS = ("dcsomrl", "somrl")
CURVE_FIELDS = ["step", "epoch", "nmi", "purity", "ami", "ari", "n_nodes", "loss"]  # validation_curve.csv
RUN_FILES = ("metrics.json", "validation_curve.csv", "som_state.npz", "som.pt", "autoencoder.pt")
#: Seed of the validation set (SPEC 4: a fixed set, one per data set, whatever the trial's seed).
VALIDATION_SEED = 0


class TrialFailed(RuntimeError):
    """A trial that diverged or could not run; ``reason`` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def resolve_params(dataset_name: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The dataset's defaults updated with ``overrides``, all validated."""
    hp = P.defaults_for(dataset_name)
    hp.update(P.validate(dict(overrides or {})))
    return hp


def resolve_device(device: str) -> torch.device:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (the first GPU if any, else the CPU)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but no CUDA GPU is visible")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist ({torch.cuda.device_count()} GPUs visible)")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return dev


def make_som(hp: dict[str, Any], dim: int) -> SOMRL:
    return SOMRL(dim=dim, **{k: hp[k] for k in P.SOMRL_PARAMS if k != "dim"})


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


class StepResult(NamedTuple):
    """What one training batch leaves on the device, read only at validation points (:class:`Health`)."""
    loss: torch.Tensor | None           # () the batch's loss, detached (None for SOMRL alone)
    codes_finite: torch.Tensor | None   # () bool: every latent code was finite


def make_optimizer(ae: Autoencoder, lr: float, device: torch.device, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam for the autoencoder; on a GPU the fused kernel, whose step count stays on the device
    (no host sync). ``capturable=True`` (GPU only) lets a step be captured in a CUDA graph."""
    return torch.optim.Adam(ae.parameters(), lr=lr, fused=True if device.type == "cuda" else None,
                            capturable=capturable)


def train_step(som: SOMRL, ae: Autoencoder | None, opt, xb: torch.Tensor, alpha: float,
               recon: str = "sum") -> StepResult:
    """One training batch (module docstring), queued without reading anything back from the device.

    Finiteness is not checked here (a host sync per step): the step returns its
    loss and whether the codes were finite, and :class:`Health` checks them at
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


class Health:
    """The losses and code checks of the steps since the last check, kept on the device.

    ``record`` writes one step's :class:`StepResult` into fixed buffers (no host
    sync); ``check`` reads them once and raises TrialFailed naming the first
    step that diverged ("diverged between steps a and b: ... at step s").
    """

    def __init__(self, size: int, device: torch.device, steps_per_epoch: int):
        self.loss = torch.full((size,), math.nan, dtype=torch.float64, device=device)   # (size,)
        self.finite = torch.ones(size, dtype=torch.bool, device=device)                 # (size,)
        self.steps_per_epoch, self.first, self.n, self.trains = steps_per_epoch, 0, 0, False

    def record(self, result: StepResult) -> None:
        """Keep one step's loss and code check (device-to-device copies)."""
        if result.loss is not None:
            self.trains = True
            self.loss.select(0, self.n).copy_(result.loss)
            self.finite.select(0, self.n).copy_(result.codes_finite)
        self.n += 1

    def check(self) -> float:
        """Raise TrialFailed if a step since the last check diverged; else the last loss (NaN: none)."""
        n, first = self.n, self.first
        loss, finite = self.loss[:n].tolist(), self.finite[:n].tolist()  # the one read of the window
        self.first, self.n = first + n, 0
        for i in range(n):
            why = ("latent codes are not finite" if not finite[i]
                   else f"loss is {loss[i]}" if self.trains and not math.isfinite(loss[i]) else None)
            if why is not None:
                s = first + i
                raise TrialFailed(f"diverged between steps {first} and {first + n - 1}: {why} "
                                  f"at step {s} (epoch {s // self.steps_per_epoch})")
        return loss[-1] if n else math.nan


def train(data: Dataset, hp: dict[str, Any], *, seed: int, device: torch.device,
          model: str = "dcsomrl", progress: bool | str = False):
    """Train one model; returns (som, ae or None, validation curve rows).

    ``progress``: False (silent), True or "bar" (a tqdm bar, for a terminal),
    "lines" (one line per epoch on stderr, for a log file).
    Raises TrialFailed when the loss or the codes stopped being finite, found at the
    next validation point (:class:`Health`: no host sync per step).
    """
    x = data.x_train.to(device)
    # 10 test samples per class, the same for every trial of a data set (not drawn from the trial's
    # seed), so curves of different seeds and settings are measured on the same samples
    val = validation_indices(data.y_test, per_class=10, seed=VALIDATION_SEED)
    x_val, y_val = data.x_test[val].to(device), data.y_test[val].to(device)

    with torch.random.fork_rng(devices=[]):  # weights from the trial's seed only
        torch.manual_seed(seed)
        ae = Autoencoder(x.shape[1], hp["dim"]).to(device) if model == "dcsomrl" else None
    dim = hp["dim"] if ae is not None else x.shape[1]
    som = make_som(hp, dim).to(device)
    opt = make_optimizer(ae, hp["ae_lr"], device) if ae is not None else None
    gen = torch.Generator().manual_seed(seed)  # batch order

    n, bs = x.shape[0], hp["batch_size"]
    steps_per_epoch = math.ceil(n / bs)
    total = hp["epochs"] * steps_per_epoch
    curve: list[dict[str, Any]] = []
    bar = _progress(total, progress in (True, "bar"))
    # finiteness is checked at validation points, not per step (a host sync): Health
    health = Health(min(hp["eval_every"], total), device, steps_per_epoch)
    step, start, loss_value = 0, time.perf_counter(), math.nan
    for epoch in range(hp["epochs"]):
        perm = torch.randperm(n, generator=gen).to(device)
        for idx in perm.split(bs):
            health.record(train_step(som, ae, opt, x[idx], hp["alpha"], hp["recon"]))
            step += 1
            if step % hp["eval_every"] == 0 or step == total:
                loss_value = health.check()                # raises TrialFailed for a diverged step
                row = dict(step=step, epoch=epoch, loss=loss_value, **evaluate(som, ae, x_val, y_val))
                curve.append(row)
                bar.set_postfix(nodes=row["n_nodes"], nmi=f"{row['nmi']:.3f}", loss=f"{loss_value:.4f}")
            bar.update(1)
        if progress == "lines":
            last = f", validation NMI {curve[-1]['nmi']:.3f}" if curve else ""
            print(f"epoch {epoch + 1}/{hp['epochs']}: step {step}, {som.n_active} nodes{last}, "
                  f"loss {loss_value:.4f}, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    bar.close()
    return som, ae, curve


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=not enabled, unit="step", desc="training", leave=False)


def run_trial(dataset: str | Dataset, params: dict[str, Any] | None = None, *, seed: int,
              device: str = "cpu", model: str = "dcsomrl", data_dir=None, out_dir=None,
              save_model: bool = True, progress: bool | str = False) -> dict[str, Any]:
    """Train and measure one trial; write its run directory when ``out_dir`` is given.

    ``params``: any subset of dcsomrl.params names; the rest are the dataset's
    defaults. Returns the metrics dict (also written as metrics.json). A trial
    that diverges writes metrics.json with status "failed" and raises TrialFailed.
    """
    if model not in MODELS:
        raise P.ParameterError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise P.ParameterError(f"seed={seed!r} must be an integer >= 0")
    seed = int(seed)
    name = canonical_name(dataset) if isinstance(dataset, str) else dataset.name
    hp = resolve_params(name, params)
    dev = resolve_device(device)
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, data_dir, scale01=(model == "somrl"))
    if model == "somrl":
        hp["dim"] = int(dataset.x_train.shape[1])
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # a run directory holds one run: files of an earlier one go
        out.mkdir(parents=True, exist_ok=True)
        for f in RUN_FILES:
            (out / f).unlink(missing_ok=True)

    record: dict[str, Any] = dict(status="running", dataset=name, model=model, seed=int(seed),
                                  device=str(dev), host=host_name(), params=hp,
                                  matmul_precision=fp32_matmul_precision(dev.type))
    start = time.perf_counter()
    try:
        som, ae, curve = train(dataset, hp, seed=seed, device=dev, model=model, progress=progress)
        final = evaluate(som, ae, dataset.x_test.to(dev), dataset.y_test.to(dev))
    except TrialFailed as exc:
        record.update(status="failed", reason=exc.reason, seconds=time.perf_counter() - start)
        if out is not None:
            _write_json(out / "metrics.json", record)
        raise
    record.update(status="complete", seconds=time.perf_counter() - start, **final, validation=curve)
    degenerate = M.degenerate_reason(final.get("n_nodes"), int(torch.unique(dataset.y_train).numel()),
                                     len(dataset.y_test))
    if degenerate:  # flagged, not failed: a collapse is an outcome (dcsomrl.metrics.degenerate_reason)
        record["degenerate"] = degenerate
    if out is not None:
        save_run(out, record, som, ae if save_model else None)
    return record


# ------------------------------------------------------------------ run dirs
def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    tmp.replace(path)  # atomic: a reader never sees half a file


def som_arrays(som: SOMRL) -> dict[str, np.ndarray]:
    """The map's K active nodes as numpy arrays (the contents of som_state.npz):
    centers, relevances, distances (K, m), life, slots (K,), edges (E, 2) as
    row indices into those arrays, and a_t."""
    slots = som.slots.cpu()
    row_of = torch.full((som.n_max,), -1, dtype=torch.long)
    row_of[slots] = torch.arange(len(slots))
    edges = row_of[som.topology().cpu()].reshape(-1, 2)
    return dict(centers=som.centers[slots].cpu().numpy(), relevances=som.relevances[slots].cpu().numpy(),
                distances=som.distances[slots].cpu().numpy(), life=som.life[slots].cpu().numpy(),
                slots=slots.numpy(), edges=edges.numpy(), a_t=np.float64(som.a_t))


def write_curve(path: Path, curve: list[dict]) -> None:
    """``validation_curve.csv``: one row per validation point, columns :data:`CURVE_FIELDS`."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        writer.writerows(curve)


def save_run(out: Path, record: dict, som: SOMRL, ae: Autoencoder | None) -> None:
    """Write a run directory (format in the module docstring)."""
    write_curve(out / "validation_curve.csv", record.get("validation", []))
    np.savez(out / "som_state.npz", **som_arrays(som))
    torch.save({"hyperparameters": som.hyperparameters(), "state_dict": som.state_dict()}, out / "som.pt")
    if ae is not None:
        torch.save({"config": ae.config(), "state_dict": ae.state_dict()}, out / "autoencoder.pt")
    _write_json(out / "metrics.json", record)  # last: its presence means the run is whole


def load_run(run_dir) -> tuple[dict, SOMRL, Autoencoder | None]:
    """(metrics, map, autoencoder or None) of a run directory, on the CPU."""
    run = Path(run_dir)
    if not (run / "metrics.json").is_file():
        raise FileNotFoundError(f"{run} is not a finished run directory (needs metrics.json and som.pt)")
    record = json.loads((run / "metrics.json").read_text())
    if record.get("model", "dcsomrl") not in ("dcsomrl", "somrl"):  # a baseline's run (dcsomrl/desom.py)
        raise FileNotFoundError(f"{run} holds a {record['model']} run, not a DC-SOMRL or SOMRL one (no som.pt)")
    if not (run / "som.pt").is_file():
        raise FileNotFoundError(f"{run} is not a finished run directory (needs metrics.json and som.pt)")
    saved = torch.load(run / "som.pt", map_location="cpu", weights_only=True)
    som = SOMRL(**saved["hyperparameters"])
    som.load_state_dict(saved["state_dict"])
    ae = None
    if (run / "autoencoder.pt").is_file():
        saved = torch.load(run / "autoencoder.pt", map_location="cpu", weights_only=True)
        cfg = saved["config"]
        ae = Autoencoder(cfg["input_dim"], cfg["latent_dim"], tuple(cfg["hidden"]))
        ae.load_state_dict(saved["state_dict"])
        ae.eval()
    return record, som, ae
