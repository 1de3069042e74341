"""``dcsomrl-study``: the one command-line entry point, with subcommands.

    train     one trial (model layer)               this file
    lhs, extend, worker, status, export             studies/commands.py
    analyze, refine, best, final                    analysis/commands.py
    inspect                                         analysis/inspect/

Every subcommand returns an exit code. Errors a user can cause (a bad name,
value, file or URL) are printed as one line, ``dcsomrl-study: error: ...``,
with exit status 2; a failed trial exits 1. Set DCSOMRL_DEBUG=1 to see the
traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from dcsomrl.util import one_line

PROG = "dcsomrl-study"
# Packages that register their own subcommands (each has add_commands(subparsers)).
COMMAND_MODULES = ("studies.commands", "analysis.commands", "analysis.inspect")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train and measure one DC-SOMRL (or SOMRL) trial",
                       description="Train one trial with the paper's Table 2 best values for the "
                                   "dataset (digits and files: the defaults in dcsomrl/params.py) "
                                   "unless overridden with --set.")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--data-dir", help="data directory (default: $DCSOMRL_DATA or ~/.cache/dcsomrl)")
    p.add_argument("--model", default="dcsomrl", help="dcsomrl (autoencoder + map) or somrl (map alone)")
    p.add_argument("--epochs", type=int, help="training epochs (shortcut for --set epochs=N)")
    p.add_argument("--batch-size", type=int, help="batch size (shortcut for --set batch_size=B)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", help="run directory (default: results/runs/<dataset>-<model>-s<seed>-<time>)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--no-save-model", action="store_true", help="do not save the autoencoder's weights")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from dcsomrl import params as P
    from dcsomrl.data import dataset_stem
    from dcsomrl.trainer import TrialFailed, run_trial

    overrides = P.parse_set(args.set)
    if args.epochs is not None:
        overrides["epochs"] = P.check("epochs", args.epochs)
    if args.batch_size is not None:
        overrides["batch_size"] = P.check("batch_size", args.batch_size)
    if args.seed < 0:
        raise P.ParameterError(f"--seed must be an integer >= 0, got {args.seed}")
    stem = dataset_stem(args.dataset)
    out = Path(args.out) if args.out else Path("results", "runs",
                                                f"{stem}-{args.model}-s{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"--out {out} exists and is not an empty folder; a run directory holds one run")
    try:
        r = run_trial(args.dataset, overrides, seed=args.seed, device=args.device, model=args.model,
                      data_dir=args.data_dir, out_dir=out, save_model=not args.no_save_model,
                      progress="bar" if sys.stderr.isatty() or os.environ.get("DCSOMRL_PROGRESS") == "1"
                      else "lines")  # a log file gets one line per epoch
    except TrialFailed as exc:
        print(f"{PROG}: trial failed: {exc.reason} (see {out / 'metrics.json'})", file=sys.stderr)
        return 1
    print(f"dataset {r['dataset']}  model {r['model']}  seed {r['seed']}  device {r['device']}")
    print(f"NMI {r['nmi']:.4f}  Purity {r['purity']:.4f}  nodes {r['n_nodes']}  time {r['seconds']:.1f}s")
    print(f"run directory: {out}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Hyperparameter studies and sensitivity "
                                     "analysis of DC-SOMRL.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


# Exception kinds that mean bad input (a name, value, file or URL), printed as
# one line: ParameterError, DataError, SpaceError, AnalysisError, ... are all
# ValueErrors; missing or unreadable files are OSErrors.
USER_ERRORS = (ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if os.environ.get("DCSOMRL_DEBUG"):
            raise
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for the user; DCSOMRL_DEBUG=1 shows it
        if os.environ.get("DCSOMRL_DEBUG"):
            raise
        print(f"{PROG}: internal error: {one_line(exc, with_type=True)} "
              f"(set DCSOMRL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
