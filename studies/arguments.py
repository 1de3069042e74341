"""The options the commands share: argparse types (``positive_int``, ``study_name``, ``model_name``) and the
``add_*`` helpers (``--results``, ``--storage``, ``--devices``, ``--save-models``, ``--model``, ``--data-dir``).

Each subcommand's parser sits beside its handler (:mod:`studies.commands`,
:mod:`studies.worker`, ``analysis/commands.py``) and takes its shared options
from here, so an option reads and defaults the same in every command. Nothing
here imports anything heavy (no optuna, pandas or torch: ``dcsomrl-study
--help`` stays fast).

Every command that reads or writes a study names its results folder
``--results DIR`` (``--out`` is a deprecated alias for lhs, status and worker).
"""
from __future__ import annotations

import argparse
import sys

from dcsomrl import models
from studies.orchestrate import check_study_name


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def study_name(text: str) -> str:
    """argparse type: a study name (letters, digits, '.', '_', '-'; never empty: an empty --study is
    refused, not replaced by the default name)."""
    try:
        return check_study_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def model_name(text: str) -> str:
    """argparse type: a model of the registry :mod:`dcsomrl.models`."""
    try:
        return models.check(text)
    except models.ParameterError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class _DeprecatedAlias(argparse.Action):
    """An old option name kept working: stores into the new option's dest and says so on stderr."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated here; use {self.new}",
              file=sys.stderr, flush=True)
        setattr(namespace, self.dest, values)


def add_results(p: argparse.ArgumentParser, help: str) -> None:
    """``--results DIR`` (default ``results``), with ``--out`` as a deprecated alias."""
    p.add_argument("--results", default="results", help=help)
    p.add_argument("--out", dest="results", action=_DeprecatedAlias, new="--results")


def add_storage(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default=None,
                   help="storage URL (default: env DCSOMRL_STORAGE, else journal:///<results>/<study>/journal.log; "
                        "postgresql://user:pass@host:port/db for workers on several machines)")


def add_devices(p: argparse.ArgumentParser) -> None:
    """``--devices`` and ``--workers-per-device`` of the commands that start workers (lhs, extend, final)."""
    p.add_argument("--devices", default="auto", help="auto (every GPU, else the CPU), cpu, or cuda:0,cuda:1,...")
    p.add_argument("--workers-per-device", type=int, default=1, help="worker processes per device")


def add_save_models(p: argparse.ArgumentParser) -> None:
    """``--save-models all|best|none`` (studies/weights.py)."""
    p.add_argument("--save-models", choices=("all", "best", "none"), default="best",
                   help="which trials keep their autoencoder weights (about 10 MB each): all, only the best "
                        "trial's, or none")


def model_choices() -> str:
    """The models of the registry (dcsomrl.models) as help text: 'dcsomrl (summary), somrl (...), ...'."""
    return ", ".join(f"{m.name} ({m.summary})" for m in models.REGISTRY.values())


def add_model(p: argparse.ArgumentParser, what: str = "the model each trial trains", check: bool = True) -> None:
    """``--model NAME``, its choices listed from the registry :mod:`dcsomrl.models` (``check``: refused
    by argparse when unknown; else the command checks it)."""
    p.add_argument("--model", type=model_name if check else str, default="dcsomrl", metavar="NAME",
                   help=f"{what}: {model_choices()}")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="data directory (default: $DCSOMRL_DATA or ~/.cache/dcsomrl)")
