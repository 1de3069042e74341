"""The study runner's command-line arguments: the parsers of ``lhs``, ``extend``, ``worker``, ``status``, ``export``,
``repair``.

``add_commands(subparsers)`` registers them; each parser sets ``func``, a
handler of :mod:`studies.commands` taking the parsed arguments and returning
the exit code. The ``add_*`` option helpers are shared with the analysis
commands (``final``, ``protocol``). Registering imports nothing heavy (no
optuna, pandas or torch: ``dcsomrl-study --help`` stays fast).

Every command that reads or writes a study names its results folder
``--results DIR`` (``--out`` is a deprecated alias for lhs, status and worker).
"""
from __future__ import annotations

import argparse
import sys

from dcsomrl import models
from studies import commands


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
    from studies.orchestrate import check_study_name

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



def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``lhs``, ``extend``, ``worker``, ``status``, ``export`` and ``repair``."""
    add_lhs(sub)
    add_extend(sub)
    add_worker(sub)
    add_status(sub)
    add_export(sub)
    add_repair(sub)


def add_lhs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lhs", help="run a Latin Hypercube study (create, enqueue once, train in parallel)",
                       description="Draw an N-point Latin Hypercube design over a parameter space, enqueue it "
                                   "once in an Optuna study and train one model per point on every device "
                                   "given. Re-running the same command resumes the study.")
    p.add_argument("--n", type=int, required=True, help="number of design points (required)")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--space", default="initial",
                   help="initial, adjusted, best (the paper's Table 2; digits has its own), or a .toml file")
    p.add_argument("--seed", type=int, default=0, help="design seed; each trial's seed derives from it")
    p.add_argument("--epochs", type=int, default=None,
                   help="fix the training epochs of every trial (default: the space's, varied or fixed)")
    p.add_argument("--optimization", choices=["none", "random-cd"], default="none",
                   help="optimize the LHS (random-cd: lower centered discrepancy; keeps the strata)")
    add_devices(p)
    add_storage(p)
    p.add_argument("--study", type=study_name, default=None,
                   help="study name (default: <dataset>[-<model>]-<space>-n<N>-s<seed>[-e<E>], the model named "
                        "when it is not dcsomrl, e.g. digits-initial-n30-s0, digits-desom-initial-n30-s0)")
    p.add_argument("--force", action="store_true",
                   help="create the study even when <results>/<study>/trials/ holds runs of no study in the "
                        "storage (they are overwritten)")
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder; the study writes <results>/<study>/")
    add_model(p)
    p.set_defaults(func=commands.lhs_command)


def add_extend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extend", help="add an independent LHS replicate of K points to a study and train it",
                       description="Draw K more points over the study's own space with a new design seed (an "
                                   "independent Latin Hypercube replicate, Iman 1981), enqueue them in the "
                                   "study and train them like lhs. Each trial records its replicate; analyze "
                                   "pools the replicates and measures the stability of the parameter ranking "
                                   "across them (TDCC). Re-running the same command resumes it.")
    p.add_argument("--study", type=study_name, required=True, help="the study to extend")
    p.add_argument("--n", type=int, required=True, help="points of the new replicate")
    p.add_argument("--seed", type=int, default=None,
                   help="design seed of the replicate (default: resume the last replicate while it has "
                        "unfinished points, else a new one with the study's seed + its number)")
    add_devices(p)
    add_storage(p)
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder; the study lives in <results>/<study>/")
    p.set_defaults(func=commands.extend_command)


def add_worker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="join a study from any machine and train its waiting trials",
                       description="Take waiting trials of a study until none remain.")
    p.add_argument("--study", type=study_name, required=True, help="the study to work on")
    add_storage(p)
    p.add_argument("--devices", "--device", dest="device", default="auto",
                   help="this worker's one device: auto (a GPU if one is visible, else cpu), cpu, or cuda:N "
                        "(--device: the same)")
    add_results(p, "results folder; trials write <results>/<study>/trials/<number>/")
    add_data_dir(p)
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads of this worker, >= 1 (default: every core of its share)")
    p.add_argument("--max-trials", type=positive_int, default=None,
                   help="stop after this many trials (default: when none is waiting)")
    add_save_models(p)
    p.add_argument("--device-label", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=commands.worker_command)


def add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="a study's progress, failures and best trials",
                       description="Print a study's design, trial counts, running trials (and whether their "
                                   "workers live), failures with their reasons, replicates and best trials.")
    p.add_argument("--study", type=study_name, required=True, help="the study to show")
    add_storage(p)
    add_results(p, "results folder, where the default storage lives")
    p.add_argument("--top", type=positive_int, default=5, help="how many best trials to show (>= 1)")
    p.set_defaults(func=commands.status_command)


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a study's trials as a tidy CSV table",
                       description="Write one row per trial (parameters, outcomes, seed, device, state, reason) "
                                   "as CSV, and optionally the validation curves; refuses to overwrite a file "
                                   "without --force.")
    p.add_argument("--study", type=study_name, required=True, help="the study to export")
    add_storage(p)
    p.add_argument("--results", default="results", help="results folder, where the default storage lives")
    p.add_argument("--out", required=True, help="CSV file to write (one row per trial)")
    p.add_argument("--curves", default=None, help="also write the validation curves to this CSV file")
    p.add_argument("--force", action="store_true", help="overwrite --out and --curves when they exist")
    p.set_defaults(func=commands.export_command)


def add_repair(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="drop a study journal's partial last record (a crash mid-write), keeping a "
                                      "backup",
                       description="Check a study's journal file; when its last record was cut off (a crash or a "
                                   "full disk mid-write) or is garbage, copy the journal to "
                                   "journal.log.damaged-<time> and drop that one record, saying what it held. A "
                                   "damaged record with others after it is refused (file and line number).")
    p.add_argument("--study", type=study_name, required=True, help="the study whose journal to repair")
    add_storage(p)
    p.add_argument("--results", default="results", help="results folder, where the default storage lives")
    p.set_defaults(func=commands.repair_command)
