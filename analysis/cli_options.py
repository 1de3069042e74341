"""The options and inputs the analysis subcommands share (:mod:`analysis.commands` lists the commands).

Options: :func:`add_source` (``--study NAME [--storage URL] [--results DIR]`` or
``--table FILE``), :func:`add_rules` (the behavioural split and the significance
rule) with :func:`rules_of`, :func:`add_baselines`, :func:`add_ablation`,
:func:`add_incumbent`. Inputs: :func:`load_table` (a study's trials through
:func:`studies.export.study_table`, or a CSV table, its header checked by
:func:`check_header`), :func:`load_space` (``--space`` or the study's own),
:func:`default_out` (where a command writes by default).

Only the standard library and light modules are imported here: ``dcsomrl-study --help`` builds every
parser, so pandas, numpy and optuna are imported inside the functions that read input.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from dcsomrl.util import one_line
from studies.arguments import add_storage, study_name
from studies.space import resolve_space

from .errors import AnalysisError


def add_source(p: argparse.ArgumentParser) -> None:
    """``--study NAME`` (with ``--storage``, ``--results``) or ``--table FILE``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--study", type=study_name, help="study name (its storage: --storage, else its journal under --results)")
    src.add_argument("--table", help="CSV table of trials, one row per trial (e.g. from dcsomrl-study export)")
    add_storage(p)
    p.add_argument("--results", default="results",
                   help="results folder: the study's default storage and output place")


def add_rules(p: argparse.ArgumentParser) -> None:
    """The behavioural split and the significance rule (analyze and refine use them; best does not)."""
    p.add_argument("--behavioural-quantile", type=float, default=0.75,
                   help="trials with the outcome at or above this quantile are behavioural")
    p.add_argument("--control", default="fwer", metavar="{fwer,fdr}",
                   help="what the significance rule controls across parameters: fwer (family-wise error, "
                        "Westfall-Young step-down minP) or fdr (false discovery rate, Benjamini-Hochberg)")
    p.add_argument("--level", "--alpha", dest="level", type=float, default=0.05,
                   help="significance level of the adjusted p-values")


def rules_of(args: argparse.Namespace) -> dict:
    """The rule arguments, checked before anything is read or written (one-line errors)."""
    from .sensitivity import Rules  # statistics libraries: not at --help

    Rules(args.behavioural_quantile, args.control, args.level).check()
    return dict(behavioural_quantile=args.behavioural_quantile, control=args.control, level=args.level)


def add_baselines(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baselines", default="kmeans",
                   help="comma-separated rows of Table 1 beside the studied model: kmeans (the four k-means "
                        "rows) and model names, e.g. kmeans,desom,somvae; each model trains its shipped best "
                        "space for the dataset over the same seeds")


def add_ablation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ablation", choices=("ae", "none"), default="ae",
                   help="ae: also train the same values with alpha = 0 over the same seeds (the row 'AE alone "
                        "(α = 0)', with k-means on its codes: what the clustering loss adds); none: skip it "
                        "(default ae)")
    p.add_argument("--ablation-seeds", type=int, default=None,
                   help="train the AE alone over the first N final seeds only (when time is short; the row "
                        "says its runs; default: every final seed)")


def add_incumbent(p: argparse.ArgumentParser) -> None:
    p.add_argument("--incumbent", default="best",
                   help="the published values re-run as one more candidate over the same seeds: best (the "
                        "shipped <dataset>-best space, when the data set has one), a space file, or none "
                        "(default best)")


# ----- input -----------------------------------------------------------------------------------

def load_table(args: argparse.Namespace):
    """The trial table of ``--study`` (studies.export.study_table) or ``--table`` (CSV)."""
    import pandas as pd  # not at --help

    if args.table:
        path = Path(args.table)
        if not path.is_file():
            raise AnalysisError(f"{path}: no such table file")
        try:
            table = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise AnalysisError(f"{path}: not a readable CSV table ({one_line(exc)})") from None
        check_header(path, list(table.columns))
        return table
    from studies import export  # optuna: not at --help
    from studies.storage import quiet_optuna

    quiet_optuna()
    return export.study_table(export.open_study(args.study, args.storage, args.results))


def check_header(path: Path, columns: list[str]) -> None:
    """Refuse (one line) a CSV header pandas would misread: a repeated column name (pandas renames the
    copy ``alpha.1``, a parameter that does not exist) or one column holding ';' or tabs (another separator)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), [])
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise AnalysisError(f"{path}: column {name!r} appears twice in the header (columns {seen[name]} and "
                                f"{i}); keep one")
        seen[name] = i
    if len(columns) == 1:
        for sep, label in ((";", "';'"), ("\t", "tabs")):
            if sep in str(columns[0]):
                raise AnalysisError(f"{path}: its header is one column separated by {label}, not commas; "
                                    "write the table comma-separated")


def load_space(args: argparse.Namespace, table):
    """``--space`` (a file or a shipped name), else the study's own space."""
    from studies.study import design_space  # optuna: not at --help

    design = table.attrs.get("design") or {}
    if args.space:
        return resolve_space(args.space, design.get("dataset"), design.get("model", "dcsomrl"))
    if design:
        return design_space(design)
    raise AnalysisError("--table needs --space FILE or a shipped space name (a CSV table carries no space)")


def default_out(args: argparse.Namespace, name: str) -> Path:
    """What a command writes by default: ``<table>-<name>`` beside ``--table``, else ``<results>/<study>/<name>``."""
    if args.table:
        path = Path(args.table)
        return path.with_name(f"{path.stem}-{name}")
    return Path(args.results) / args.study / name
