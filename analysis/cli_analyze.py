"""``dcsomrl-study analyze``: its parser beside its handler.

    analyze (--study NAME | --table FILE) [--outcomes nmi,purity] [--params a,b] [--seed 0] [--out DIR]

writes report.md, sensitivity.csv, importance.csv, categorical.csv and the figures
(:func:`analysis.report.write_report`) into ``--out`` (default
``<results>/<study>/analysis``, or ``<table>-analysis`` beside the table), over
its own earlier files only (:mod:`analysis.manifest`; the user's need ``--force``).

Registering the parser imports nothing heavy (``dcsomrl-study --help`` stays fast):
the handler imports the analysis (pandas, statistics, matplotlib) when it runs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from . import manifest
from .cli_options import add_rules, add_source, default_out, load_space, load_table, rules_of
from .errors import AnalysisError


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``analyze``."""
    p = sub.add_parser("analyze", help="sensitivity analysis of a study: report.md, CSV tables, figures",
                       description="Which parameters drive the outcomes, in which direction, how sure, "
                                   "and which range looks best: regression (PRCC, SRC, ...), CDF "
                                   "(Monte-Carlo filtering) and library cross-checks, written as a "
                                   "Markdown report with tables and figures.")
    add_source(p)
    add_rules(p)
    p.add_argument("--outcomes", default=None,
                   help="comma-separated outcome columns (default: those of nmi, purity, ami, ari and n_nodes "
                        "the table records)")
    p.add_argument("--outcome", default=None,
                   help="the outcome the one extend recommendation serves (default: the largest need over "
                        "the outcomes with a signal)")
    p.add_argument("--params", default=None, help="comma-separated parameter columns (default: all that vary)")
    p.add_argument("--out", default=None,
                   help="output folder (default: <results>/<study>/analysis, or <table>-analysis beside the table)")
    p.add_argument("--space", default=None,
                   help="space file or shipped name whose scales (log, log1m) the figures' axes use "
                        "(default: the study's space; with --table, linear axes)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the importance cross-checks (recorded in report.md and importance.csv)")
    p.add_argument("--no-importance", action="store_true", help="skip the Optuna/SALib cross-checks")
    p.add_argument("--force", action="store_true",
                   help="write into --out even where it holds files of the report's names that no earlier analyze "
                        "wrote (they are overwritten; other files are never touched)")
    p.set_defaults(func=analyze_command)


def analyze_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study analyze``: write report.md, sensitivity.csv, importance.csv and the figures."""
    from . import importance  # the analysis: not at --help
    from .report import write_report
    from .table import recorded_outcomes

    rules = rules_of(args)
    table = load_table(args)
    space = load_space(args, table) if args.space or table.attrs.get("design") else None
    scales = {name: dim.scale for name, dim in space.dims.items()} if space else {}
    out = Path(args.out) if args.out else default_out(args, "analysis")
    outcomes = args.outcomes or ",".join(recorded_outcomes(table))
    refuse_users_files(out, [o.strip() for o in outcomes.split(",") if o.strip()], args.force)
    path = write_report(table, out, params=args.params, outcomes=outcomes, scales=scales, **rules,
                        seed=args.seed,
                        importance_methods=() if args.no_importance else importance.METHODS,
                        title=f"Sensitivity report: {args.study or Path(args.table).name}", study=args.study,
                        focus=args.outcome)
    print(f"wrote {path} (with sensitivity.csv, importance.csv and figures in {path.parent})")
    return 0


def _legacy_report(path: Path) -> bool:
    """Whether ``path`` lies in the folder of a report of ours written before manifests existed."""
    try:
        return (path.parent / "report.md").read_text(errors="replace").startswith("# Sensitivity report")
    except OSError:
        return False


def refuse_users_files(out: Path, outcomes: list[str], force: bool) -> None:
    """analyze writes into ``out`` only over its own earlier files (analysis/manifest.py): a file there with
    a name the report of ``outcomes`` writes that no analyze wrote is the user's, refused without ``--force``."""
    from .report import OWN_FILES  # pandas: not at --help
    from .report_data import slug

    names = [p.replace("*", slug(o)) for p in OWN_FILES for o in outcomes]
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out {out} is a file; analyze writes a folder")
    theirs = manifest.foreign(out, sorted(set(names)), _legacy_report)
    if theirs and not force:
        names = ", ".join(f.name for f in theirs[:3]) + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "")
        raise AnalysisError(f"--out {out} holds {names}, which no earlier analyze wrote; choose another folder "
                            "or add --force to overwrite them (other files are never touched)")
