"""``dcsomrl-study refine`` and ``best``: one space file each, from the same source options.

    refine  (--study NAME | --table FILE) [--space FILE] [--outcome nmi] [--out FILE.toml]
    best    (--study NAME | --table FILE) [--space FILE] [--outcome nmi] [--out FILE.toml]

``refine`` writes the narrowed space (:func:`analysis.refine.refine_plan`, its plan
printed), ``best`` the best trial's values as a space of fixed values
(:func:`analysis.refine.best`), or with ``--candidates K`` the robust best
(:func:`analysis.candidates.robust_best`: the K best trials re-run over new
seeds). ``--space`` defaults to the study's own space; with ``--table`` it is
required. Default output: ``<results>/<study>/{refined,best}.toml``, or
``<table>-{refined,best}.toml`` beside the table.

Registering the parsers imports nothing heavy (``dcsomrl-study --help`` stays fast): the handlers import
the analysis when they run.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from studies.arguments import add_data_dir, add_devices
from studies.commands import check_outputs
from studies.space import write_space

from .cli_options import add_incumbent, add_rules, add_source, default_out, load_space, load_table, rules_of
from .errors import AnalysisError

# help: a lower-case phrase (the command list); description: a sentence, "Write ..."
REFINE_HELP = "new parameter ranges from the behavioural trials, as a space file"
BEST_HELP = "the best trial's values as a space file of fixed values"


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``refine`` and ``best``."""
    p = sub.add_parser("refine", help=REFINE_HELP, description=f"Write {REFINE_HELP} (rules: analysis/refine.py).")
    add_source(p)
    add_rules(p)
    p.add_argument("--fix", action="append", default=[], metavar="NAME",
                   help="fix this parameter at the best trial's value (repeatable)")
    p.add_argument("--fix-unimportant", action="store_true",
                   help="fix every parameter without evidence at the best trial's value "
                        "(default: they keep their range)")
    p.add_argument("--hull", action="store_true",
                   help="shrink parameters without evidence to the behavioural trials' range "
                        "(default: they keep their range)")
    p.add_argument("--seed", type=int, default=0, help="seed of the significance rule's permutations")
    _space_options(p, "refined", refine_command)

    p = sub.add_parser("best", help=BEST_HELP, description=f"Write {BEST_HELP} (rules: analysis/refine.py).")
    add_source(p)
    p.add_argument("--candidates", type=int, default=None, metavar="K",
                   help="robust best: re-run the K best trials of --study over --candidate-seeds new "
                        "seeds (a study <study>-candidates) and take the best mean (default: the "
                        "single best trial)")
    p.add_argument("--candidate-seeds", type=int, default=3, help="seeds per candidate (default 3)")
    add_incumbent(p)
    add_devices(p)
    add_data_dir(p)
    _space_options(p, "best", best_command)


def _space_options(p: argparse.ArgumentParser, stem: str, func) -> None:
    """The options refine and best end with: the space, the outcome, the TOML file written; ``func``."""
    p.add_argument("--space", default=None,
                   help="space file or shipped name (default: the study's space; needed with --table)")
    p.add_argument("--outcome", default="nmi", help="outcome to optimize")
    p.add_argument("--out", default=None,
                   help=f"TOML file to write (default: <results>/<study>/{stem}.toml, "
                        f"or <table>-{stem}.toml beside the table)")
    p.add_argument("--force", action="store_true", help="overwrite the TOML file when it exists")
    p.set_defaults(func=func)


def _toml_out(args: argparse.Namespace, name: str) -> Path:
    """The TOML file refine or best writes (``--out``, else the default, the command's own file), checked
    before any work: an existing ``--out`` file needs ``--force``, a folder is refused."""
    check_outputs({"--out": args.out}, args.force)
    return Path(args.out) if args.out else default_out(args, name)


def refine_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study refine``: print the plan, write the refined space."""
    from .refine import refine_plan, refined_space  # the analysis: not at --help

    rules = rules_of(args)
    out = _toml_out(args, "refined.toml")
    table = load_table(args)
    space = load_space(args, table)
    entries, plan = refine_plan(table, space, args.outcome, **rules, seed=args.seed, fix=args.fix,
                                fix_unimportant=args.fix_unimportant, hull=args.hull)  # the analysis, once
    refined = refined_space(entries, space, args.outcome, **rules)
    for r in plan.itertuples():
        print(f"{r.parameter:>12}  {r.action:<6} {r.old} -> {r.new}  ({r.reason})")
    path = write_space(refined, out)
    print(f"wrote {path}")
    return 0


def best_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study best``: write the best trial's values (or the robust best's) as a space of fixed values."""
    from .refine import best

    out = _toml_out(args, "best.toml")
    table = load_table(args)
    space = load_space(args, table)
    fixed = best(table, space, args.outcome) if args.candidates is None else _robust_best(args, table, space)
    path = write_space(fixed, out)
    print(f"{fixed.description}")
    print(f"wrote {path}")
    return 0


def _robust_best(args: argparse.Namespace, table, space):
    """``best --candidates K``: the re-runs through the runner (analysis.candidates.robust_best), ranking printed."""
    from dcsomrl import models
    from dcsomrl.params import BUDGET, check_run
    from studies import launch
    from studies.where import Where

    from .candidates import incumbent_values, ranked_text, robust_best  # the analysis: not at --help
    from .markdown import markdown_table

    if args.table:
        raise AnalysisError("--candidates needs --study (the re-runs train on the study's dataset)")
    check_run("candidates", args.candidates)
    check_run("candidate-seeds", args.candidate_seeds)
    design = table.attrs["design"]
    where = Where(args.storage, args.results, args.data_dir,
                  tuple(launch.plan_slots(args.devices, args.workers_per_device)))
    model = models.of_design(design).name
    budget = {n: space.dims[n].value for n in BUDGET if n in space.dims and space.dims[n].fixed}
    incumbent = incumbent_values(args.incumbent, design["dataset"], model, budget)
    _, ranked, fixed = robust_best(where, f"{args.study}-candidates", table, space, dataset=design["dataset"],
                                   epochs=design.get("epochs"), outcome=args.outcome, candidates=args.candidates,
                                   repeats=args.candidate_seeds, design_seed=int(design["seed"]) + 2,
                                   model=model, incumbent=incumbent)
    print(markdown_table(ranked_text(ranked)))
    return fixed
