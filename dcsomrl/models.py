"""The models a study can train, by name: one small typed registry.

A study records its model's *name* (``design["model"]``), never a function
path; a worker looks the name up here to find how to run one trial::

    entry = models.get("dcsomrl")
    data = entry.preload("mnist", data_dir) if entry.preload else "mnist"
    metrics = entry.trial(data, params, seed=0, device="cpu", model=entry.name,
                          data_dir=None, out_dir="run/0", progress=False)

A trial function returns a metrics dict with at least ``nmi``, ``purity``,
``n_nodes`` and ``seconds`` (see :func:`dcsomrl.run.run_trial`) and raises
an exception with a one-line ``reason`` (``TrialFailed``) for a diverged run.
A model that trains is run by the one trial runner, :func:`dcsomrl.run.run_trial`,
with the :class:`~dcsomrl.run.ModelParts` its module defines (:func:`runner`).

Entries:

=============  =============================================================
``dcsomrl``    the autoencoder + SOMRL (``dcsomrl.trainer.DCSOMRL``)
``somrl``      SOMRL alone on the inputs (``dcsomrl.trainer.SOMRL_ALONE``)
``desom``      DE-SOM, the DEC autoencoder + a fixed 8x8 Kohonen grid
               (``dcsomrl.desom.DESOM``; parameters ``params.DESOM_PARAMS``)
``somvae``     SOM-VAE without the Markov term (``dcsomrl.somvae.SOMVAE``;
               parameters ``params.SOMVAE_PARAMS``)
``standin``    a fast stand-in with no training, for testing the runner
               (:mod:`dcsomrl.standins`; behaviour set through the environment)
``standin-at`` a stand-in with a known answer: NMI rises with a_t alone
=============  =============================================================

Adding a model is one module with its parts plus one entry in :data:`REGISTRY`
(``trial=runner("dcsomrl.<module>", "<PARTS>")``). The heavy imports (torch)
happen only when a trial or a preload runs, so a worker of a stand-in never
imports torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from dcsomrl.params import ParameterError

#: Old studies stored a trial function path; these are the ones that ever existed.
LEGACY_TRIAL_FNS = {"dcsomrl.trainer:run_trial": None,  # None: the study's own model
                    "tests.studies.fake_trial:run": "standin",
                    "tests.analysis.fake_trial:run": "standin-at"}


@dataclass(frozen=True)
class Model:
    """One registry entry.

    ``trial``: runs one trial (signature in the module docstring).
    ``preload``: ``(dataset name, data_dir) -> data`` loaded once per worker and
    passed to every trial instead of the name; None when the trial loads its own.
    ``threads``: sets the trial's intra-op thread count, or None when it has none.
    ``params``: the model whose parameter registry and spaces it uses.
    ``label``: its name in tables (Table 1's method column); the entry's name when empty.
    """
    name: str
    summary: str
    trial: Callable[..., dict]
    preload: Callable[[str, str | None], Any] | None = None
    threads: Callable[[int], None] | None = None
    params: str = "dcsomrl"
    label: str = ""

    @property
    def title(self) -> str:
        """The model's name in tables: ``label``, else ``name``."""
        return self.label or self.name


def runner(module: str, parts: str) -> Callable[..., dict]:
    """The trial function of the model whose :class:`dcsomrl.run.ModelParts` are ``module.parts``:
    :func:`dcsomrl.run.run_trial` on them (``model=``, the entry's name, is theirs). Both are
    imported when a trial runs."""

    def trial(dataset, params, *, model: str | None = None, **kwargs) -> dict:
        from dcsomrl.run import run_trial

        return run_trial(getattr(importlib.import_module(module), parts), dataset, params, **kwargs)

    return trial


def _load(name: str, data_dir: str | None):
    from dcsomrl.data import load_dataset

    return load_dataset(name, data_dir)


def _load01(name: str, data_dir: str | None):
    """The data set scaled to [0, 1] (the baselines' public codes scale their inputs so)."""
    from dcsomrl.data import load_dataset

    return load_dataset(name, data_dir, scale01=True)


def _torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))


def _standin(dataset, params, **kwargs) -> dict:
    from dcsomrl.standins import runner_trial

    return runner_trial(dataset, params, **kwargs)


def _standin_at(dataset, params, **kwargs) -> dict:
    from dcsomrl.standins import a_t_trial

    return a_t_trial(dataset, params, **kwargs)


REGISTRY: dict[str, Model] = {m.name: m for m in (
    Model("dcsomrl", "autoencoder + SOMRL map", runner("dcsomrl.trainer", "DCSOMRL"), preload=_load,
          threads=_torch_threads, label="DC-SOMRL"),
    Model("somrl", "SOMRL map alone on the inputs", runner("dcsomrl.trainer", "SOMRL_ALONE"),
          threads=_torch_threads, label="SOMRL"),
    Model("desom", "DE-SOM: autoencoder + Kohonen grid trained by gradient (baseline)",
          runner("dcsomrl.desom", "DESOM"), preload=_load01, threads=_torch_threads, params="desom",
          label="DE-SOM"),
    Model("somvae", "SOM-VAE, static: encoder + quantizing grid + decoders (baseline)",
          runner("dcsomrl.somvae", "SOMVAE"), preload=_load01, threads=_torch_threads, params="somvae",
          label="SOM-VAE"),
    Model("standin", "fast stand-in trial, no training (tests the runner)", _standin),
    Model("standin-at", "stand-in trial whose NMI rises with a_t alone (tests the analysis)", _standin_at),
)}


def get(name: str) -> Model:
    """The entry of ``name``; ParameterError naming the choices otherwise."""
    if name not in REGISTRY:
        raise ParameterError(f"unknown model {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def check(name: str) -> str:
    """``name`` when it is a registered model (argparse ``type=``)."""
    return get(name).name


def of_design(design: dict) -> Model:
    """The model of a stored study design; old designs' trial function paths map to their entries."""
    legacy = design.get("trial_fn")
    if legacy and legacy not in LEGACY_TRIAL_FNS:
        raise ParameterError(f"the study was made with trial function {legacy!r}, which this version does not "
                             f"know; models: {', '.join(REGISTRY)}")
    return get((legacy and LEGACY_TRIAL_FNS[legacy]) or design.get("model", "dcsomrl"))
