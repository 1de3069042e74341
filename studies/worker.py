"""A worker process: ``dcsomrl-study worker``, its parser and handler, and ``python -m studies.worker``.

A worker joins a study from any machine that reaches its storage and trains
the study's waiting trials until none remain (what it does per trial:
:func:`studies.drain.run_worker`). There are two ways to start one, the same
command with the same error handling (:func:`studies.cli.run`):

- ``dcsomrl-study worker --study NAME --storage URL``, by hand;
- ``python -m studies.worker --study NAME ...``, how the supervisor
  (:func:`studies.launch.spawn`) starts its local workers, with the storage URL
  in env ``DCSOMRL_STORAGE``. This module is the worker process's one entry
  point; ``python -m studies.worker ARGS`` is ``dcsomrl-study worker ARGS``.

Exit statuses (:class:`studies.errors.Exit`): 0 the queue is drained; 2 bad
input; 3 a problem of the machine (no such device, the data cannot be loaded),
after putting back any trial it had taken; 130 stopped by SIGTERM or Ctrl-C,
the running trial back in the queue. Importing this module imports nothing
heavy (no optuna, pandas or torch): ``dcsomrl-study --help`` registers it.
"""
from __future__ import annotations

import argparse
import sys

from studies.arguments import add_data_dir, add_results, add_save_models, add_storage, positive_int, study_name
from studies.cli import PROG, OneLineParser, finish, run
from studies.errors import Exit
from studies.signals import Interrupted, sigterm_interrupts


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
    p.set_defaults(func=worker_command)


def worker_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study worker``: drain the queue; 0 when done, 3 on a problem of the machine, 130 if stopped."""
    from studies import drain
    from studies import storage as st

    st.quiet_optuna()
    url = st.resolve_url(args.storage, args.study, args.results)
    try:
        with sigterm_interrupts():
            result = drain.run_worker(args.study, url, device=args.device, device_label=args.device_label,
                                      out=args.results, data_dir=args.data_dir, threads=args.threads,
                                      max_trials=args.max_trials, save_models=args.save_models)
    except drain.EnvironmentProblem as err:
        print(f"{PROG} worker: error: {err}", file=sys.stderr, flush=True)
        return Exit.ENVIRONMENT
    except (KeyboardInterrupt, Interrupted):
        print(f"{PROG} worker: stopped; the running trial went back to the queue", file=sys.stderr, flush=True)
        return Exit.INTERRUPTED
    print(f"worker done: {len(result.complete)} complete, {len(result.failed)} failed", file=sys.stderr, flush=True)
    return Exit.OK


def build_parser() -> argparse.ArgumentParser:
    """``dcsomrl-study`` with the worker command alone: what a worker process parses."""
    parser = OneLineParser(prog=PROG, description="A worker process of dcsomrl-study.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_worker(sub)
    return finish(parser, sub)


def main(argv: list[str] | None = None) -> int:
    """``python -m studies.worker ARGS``: ``dcsomrl-study worker ARGS``, with the CLI's error handling."""
    return run(build_parser(), ["worker", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
