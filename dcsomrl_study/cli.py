"""``dcsomrl-study``: the one command-line entry point, with a static registry of subcommands.

    train                                           this file (the model layer's one trial)
    lhs, extend, status, export, repair             studies/commands.py
    worker                                          studies/worker.py (also ``python -m studies.worker``)
    analyze, refine, best, final, protocol          analysis/commands.py
    inspect                                         analysis/inspect/

It sits above the three layers and imports each layer's commands statically
(registering them imports nothing heavy: ``--help`` stays fast). Every
subcommand returns an exit code (:class:`studies.errors.Exit`); errors are
handled by :func:`studies.cli.run`: bad input (a name, value, file or URL) is
one line, ``dcsomrl-study: error: ...``, with exit status 2; a failed trial
exits 1. Set DCSOMRL_DEBUG=1 to see the traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from analysis import commands as analysis_commands
from analysis.inspect import command as inspect_command
from studies import arguments as study_arguments
from studies import commands as study_commands
from studies.cli import PROG, OneLineParser, finish, run

#: The subcommand registry: each entry registers its commands (``add_commands(subparsers)``).
REGISTRY = (study_commands.add_commands, analysis_commands.add_commands, inspect_command.add_commands)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train and measure one DC-SOMRL (or SOMRL) trial",
                       description="Train one trial with the paper's Table 2 best values for the "
                                   "dataset (digits and files: the defaults in dcsomrl/params.py) "
                                   "unless overridden with --set.")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--data-dir", help="data directory (default: $DCSOMRL_DATA or ~/.cache/dcsomrl)")
    study_arguments.add_model(p, "the model to train (--set takes its parameters)", check=False)
    p.add_argument("--epochs", type=int,
                   help="training epochs, a shortcut for --set epochs=N (default: the dataset's value)")
    p.add_argument("--batch-size", type=int,
                   help="batch size, a shortcut for --set batch_size=B (default: the dataset's value)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights' initialization and the batches")
    p.add_argument("--devices", "--device", dest="device", default="auto",
                   help="the one device to train on: auto, cpu, cuda or cuda:N (--device: the same)")
    p.add_argument("--out", help="run directory (default: <results>/runs/<dataset>-<model>-s<seed>-<time>)")
    p.add_argument("--results", default="results", help="results folder of the run directory when --out is not given")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter, repeatable (default: the paper's Table 2 best values for the dataset)")
    p.add_argument("--no-save-model", action="store_true", help="do not save the autoencoder's weights")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    """Train one trial of ``--model`` through its registry entry (the one trial runner for a model
    that trains) and print its scores; a diverged trial exits 1."""
    from dcsomrl import models
    from dcsomrl.run import TrialFailed

    entry = models.get(args.model)  # "unknown model ..." naming the choices
    overrides = _train_overrides(args, entry.params)
    out = _run_dir(args)
    progress = "bar" if sys.stderr.isatty() or os.environ.get("DCSOMRL_PROGRESS") == "1" else "lines"
    extra = {"save_model": False} if args.no_save_model else {}
    try:
        r = entry.trial(args.dataset, overrides, seed=args.seed, device=args.device, model=entry.name,
                        data_dir=args.data_dir, out_dir=out, progress=progress, **extra)  # a log: a line per epoch
    except TrialFailed as exc:
        print(f"{PROG}: trial failed: {exc.reason} (see {out / 'metrics.json'})", file=sys.stderr)
        return 1
    _print_trial(r, out)
    return 0


def _train_overrides(args, registry: str) -> dict:
    """``--set`` and the ``--epochs``/``--batch-size`` shortcuts as checked parameters of the model's
    ``registry``; the seed checked too (all before anything is created)."""
    from dcsomrl import params as P

    overrides = P.parse_set(args.set, registry)
    for name, value in (("epochs", args.epochs), ("batch_size", args.batch_size)):
        if value is None:
            continue
        if name in overrides:  # one value per parameter: neither may silently win
            raise P.ParameterError(f"{name} given twice: --{name.replace('_', '-')} {value} and --set "
                                   f"{name}={overrides[name]}; give it once")
        overrides[name] = P.check(name, value, registry)
    P.check_run("seed", args.seed)
    return overrides


def _run_dir(args) -> Path:
    """``--out``, else ``<results>/runs/<dataset>-<model>-s<seed>-<time>``; refused when it holds something."""
    from dcsomrl.data import dataset_stem

    stem = dataset_stem(args.dataset)
    out = Path(args.out) if args.out else Path(args.results, "runs",
                                                f"{stem}-{args.model}-s{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"--out {out} exists and is not an empty folder; a run directory holds one run")
    return out


def _print_trial(r: dict, out: Path) -> None:
    """The trial's scores, its nodes (or a grid's prototypes used), a degenerate run's note, its directory."""
    print(f"dataset {r['dataset']}  model {r['model']}  seed {r['seed']}  device {r['device']}")
    if "map_size" in r:  # a fixed grid: the prototypes used of the grid's
        used = f"prototypes used {r['n_nodes']} of {r['map_size'][0]}x{r['map_size'][1]}"
    else:
        used = f"nodes {r['n_nodes']}"
    print(f"NMI {r['nmi']:.4f}  Purity {r['purity']:.4f}  {used}  time {r['seconds']:.1f}s")
    if r.get("degenerate"):  # dcsomrl.metrics.degenerate_reason: the scores measure no clustering
        print(f"note: a degenerate run ({r['degenerate']}): its scores do not measure a clustering")
    print(f"run directory: {out}")


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("dcsomrl")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Hyperparameter studies and sensitivity "
                                     "analysis of DC-SOMRL.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_train(sub)
    for add_commands in REGISTRY:
        add_commands(sub)
    return finish(parser, sub)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
