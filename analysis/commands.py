"""The analysis layer's subcommands of ``dcsomrl-study``: analyze, refine, best, final.

``add_commands(subparsers)`` registers them; each sets ``func``, a function of
the parsed arguments returning the exit code. The trials come from a study
(``--study NAME [--storage URL] [--results DIR]``, read with
:func:`studies.export.study_table`) or from a CSV table (``--table FILE``,
e.g. written by ``dcsomrl-study export``). Bad input raises
:class:`analysis.errors.AnalysisError` (a ValueError, one line), which
``studies.cli.run`` prints as ``dcsomrl-study: error: ...`` with exit 2.

    analyze (--study NAME | --table FILE) [--outcomes nmi,purity] [--params a,b] [--seed 0] [--out DIR]
    refine  (--study NAME | --table FILE) [--space FILE] [--outcome nmi] [--out FILE.toml]
    best    (--study NAME | --table FILE) [--space FILE] [--outcome nmi] [--out FILE.toml]
    final   --space FILE --dataset NAME [--seeds 10] [--seed 0] [--epochs E] [--k 64] [--results DIR]

``--results DIR`` is the results folder of every command (the default
storage, ``<results>/<study>/journal.log``, and the default output place);
``--out`` names what analyze, refine and best write (for ``final`` it is a
deprecated alias of ``--results``). ``--space`` defaults to the study's own
space; with ``--table`` it is required. ``final`` runs a study itself (fixed
values over seeds, through the study runner) and writes
``<results>/<study>/final.csv``, ``final_runs.csv`` and ``final.md``
(:mod:`analysis.final`).

Only the standard library and light modules are imported here: ``--help``
must not load pandas or numpy; each command imports what it needs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dcsomrl.util import one_line
from studies.arguments import (add_data_dir, add_devices, add_model, add_results, add_save_models, add_storage,
                               study_name)

from .errors import AnalysisError


def _source(p: argparse.ArgumentParser) -> None:
    """``--study NAME`` (with ``--storage``, ``--results``) or ``--table FILE``."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--study", type=study_name, help="study name (its storage: --storage, else its journal under --results)")
    src.add_argument("--table", help="CSV table of trials, one row per trial (e.g. from dcsomrl-study export)")
    add_storage(p)
    p.add_argument("--results", default="results",
                   help="results folder: the study's default storage and output place")


def _rules(p: argparse.ArgumentParser) -> None:
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
    from .sensitivity import Rules

    Rules(args.behavioural_quantile, args.control, args.level).check()
    return dict(behavioural_quantile=args.behavioural_quantile, control=args.control, level=args.level)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``analyze``, ``refine``, ``best``, ``final`` and ``protocol``."""
    add_analyze(sub)
    add_refine_and_best(sub)
    add_final(sub)
    add_protocol(sub)


def add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="sensitivity analysis of a study: report.md, CSV tables, figures",
                       description="Which parameters drive the outcomes, in which direction, how sure, "
                                   "and which range looks best: regression (PRCC, SRC, ...), CDF "
                                   "(Monte-Carlo filtering) and library cross-checks, written as a "
                                   "Markdown report with tables and figures.")
    _source(p)
    _rules(p)
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


def add_refine_and_best(sub: argparse._SubParsersAction) -> None:
    """``refine`` and ``best``: one space file each, from the same source options."""
    commands = (("refine", "refined", "new parameter ranges from the behavioural trials, as a space file"),
                ("best", "best", "the best trial's values as a space file of fixed values"))
    # help: a lower-case phrase (the command list); description: a sentence, "Write ..."
    for name, stem, helptext in commands:
        p = sub.add_parser(name, help=helptext,
                           description=f"Write {helptext} (rules: analysis/refine.py).")
        _source(p)
        if name == "refine":
            _rules(p)
            p.add_argument("--fix", action="append", default=[], metavar="NAME",
                           help="fix this parameter at the best trial's value (repeatable)")
            p.add_argument("--fix-unimportant", action="store_true",
                           help="fix every parameter without evidence at the best trial's value "
                                "(default: they keep their range)")
            p.add_argument("--hull", action="store_true",
                           help="shrink parameters without evidence to the behavioural trials' range "
                                "(default: they keep their range)")
            p.add_argument("--seed", type=int, default=0, help="seed of the significance rule's permutations")
        else:
            p.add_argument("--candidates", type=int, default=None, metavar="K",
                           help="robust best: re-run the K best trials of --study over --candidate-seeds new "
                                "seeds (a study <study>-candidates) and take the best mean (default: the "
                                "single best trial)")
            p.add_argument("--candidate-seeds", type=int, default=3, help="seeds per candidate (default 3)")
            add_incumbent(p)
            add_devices(p)
            add_data_dir(p)
        p.add_argument("--space", default=None,
                       help="space file or shipped name (default: the study's space; needed with --table)")
        p.add_argument("--outcome", default="nmi", help="outcome to optimize")
        p.add_argument("--out", default=None,
                       help=f"TOML file to write (default: <results>/<study>/{stem}.toml, "
                            f"or <table>-{stem}.toml beside the table)")
        p.add_argument("--force", action="store_true", help="overwrite the TOML file when it exists")
        p.set_defaults(func=refine_command if name == "refine" else best_command)


def add_final(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("final", help="fixed values over N seeds through the runner, beside k-means and "
                                     "the paper's Table 1",
                       description="Train one setting (a space of fixed values, as `best` writes) once per "
                                   "seed through the study runner (resumable like lhs), then report mean ± "
                                   "std of Purity, NMI, AMI, ARI and nodes (with epochs and seconds per run) "
                                   "beside k-means (on the raw inputs and on the "
                                   "trained encoders' latent codes) and the paper's Table 1 rows, as "
                                   "<results>/<study>/final.csv and final.md.")
    p.add_argument("--space", required=True,
                   help="space file of fixed values (from `best`), or a shipped name such as best")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (runs)")
    p.add_argument("--seed", type=int, default=0, help="first seed; the runs use seed, seed+1, ...")
    p.add_argument("--epochs", type=int, default=None,
                   help="fix the training epochs of every run, baselines included (default: each space's)")
    p.add_argument("--k", type=int, default=64, help="clusters of the k-means baselines, as the paper")
    add_baselines(p)
    add_ablation(p)
    add_devices(p)
    add_storage(p)
    p.add_argument("--study", type=study_name, default=None,
                   help="study name (default: final-<dataset>[-<model>]-<space>-n<N>-s<seed>[-e<E>]; a space "
                        "file adds a short hash of its values, e.g. final-digits-best-n10-s0, "
                        "final-digits-d2-best-3f9a1c-n10-s0)")
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder: the study and final.csv/final.md go to <results>/<study>/")
    add_model(p)
    p.set_defaults(func=final_command)


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


def add_incumbent(p: argparse.ArgumentParser) -> None:
    p.add_argument("--incumbent", default="best",
                   help="the published values re-run as one more candidate over the same seeds: best (the "
                        "shipped <dataset>-best space, when the data set has one), a space file, or none "
                        "(default best)")


def add_protocol(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocol", help="the paper's whole protocol (appendix A.1) as one resumable command",
                       description="Initial LHS -> analyze -> refine -> adjusted LHS -> analyze -> robust best "
                                   "(the top candidates re-run over new seeds; best mean wins) -> final over N "
                                   "seeds beside k-means, each stage an ordinary study <name>-<stage>; then "
                                   "<results>/<name>/protocol.md. Re-running resumes at the first unfinished "
                                   "stage (analysis/protocol.py).")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--name", type=study_name, default=None,
                   help="protocol name, the prefix of its studies (default: protocol-<dataset>[-<model>], the "
                        "model named when it is not dcsomrl)")
    p.add_argument("--initial-n", type=int, default=30, help="points of the initial LHS")
    p.add_argument("--adjusted-n", type=int, default=10, help="points of the adjusted LHS")
    p.add_argument("--candidates", type=int, default=3, help="top adjusted trials re-run for the robust best")
    p.add_argument("--candidate-seeds", type=int, default=3, help="seeds each candidate is re-run over")
    p.add_argument("--seeds", type=int, default=10, help="seeds of the final stage")
    p.add_argument("--seed", type=int, default=0, help="design seed (stages use seed, seed+1, seed+2; final "
                                                       "seeds start here)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs of the screening (initial) stage "
                                                             "(default: the initial space varies them)")
    p.add_argument("--final-epochs", type=int, default=None,
                   help="the budget's epochs, fixed from the adjusted stage on (default: the data set's, 30 as "
                        "the paper)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="the budget's batch size, fixed from the adjusted stage on (default: the data set's, "
                        "256 on MNIST and Fashion-MNIST as the paper)")
    p.add_argument("--fidelity-n", type=int, default=8,
                   help="screening points re-run at the final budget when the screening ran at another "
                        "(Spearman between the budgets in protocol.md); 0: none (default 8)")
    add_incumbent(p)
    add_ablation(p)
    p.add_argument("--outcome", default="nmi", help="outcome refine and the best optimize (nmi, purity, ami, ari)")
    p.add_argument("--k", type=int, default=64, help="clusters of the k-means baselines (besides k = nodes)")
    p.add_argument("--no-importance", action="store_true", help="skip the Optuna/SALib cross-checks of the reports")
    add_baselines(p)
    _rules(p)
    add_devices(p)
    add_storage(p)
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder: every stage's study and the report go under it")
    add_model(p)
    p.set_defaults(func=protocol_command)


# ----- input -----------------------------------------------------------------------------------

def load_table(args: argparse.Namespace):
    """The trial table of ``--study`` (studies.export.study_table) or ``--table`` (CSV)."""
    import pandas as pd

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
    from studies import export
    from studies.storage import quiet_optuna

    quiet_optuna()
    return export.study_table(export.open_study(args.study, args.storage, args.results))


def check_header(path: Path, columns: list[str]) -> None:
    """Refuse (one line) a CSV header pandas would misread: a repeated column name (pandas renames the
    copy ``alpha.1``, a parameter that does not exist) or one column holding ';' or tabs (another separator)."""
    import csv

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
    from studies.space import resolve_space
    from studies.study import design_space

    design = table.attrs.get("design") or {}
    if args.space:
        return resolve_space(args.space, design.get("dataset"), design.get("model", "dcsomrl"))
    if design:
        return design_space(design)
    raise AnalysisError("--table needs --space FILE or a shipped space name (a CSV table carries no space)")


def _default_out(args: argparse.Namespace, name: str) -> Path:
    if args.table:
        path = Path(args.table)
        return path.with_name(f"{path.stem}-{name}")
    return Path(args.results) / args.study / name


# ----- commands --------------------------------------------------------------------------------

def analyze_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study analyze``: write report.md, sensitivity.csv, importance.csv and the figures."""
    from . import importance
    from .report import write_report

    rules = rules_of(args)
    table = load_table(args)
    space = load_space(args, table) if args.space or table.attrs.get("design") else None
    scales = {name: dim.scale for name, dim in space.dims.items()} if space else {}
    out = Path(args.out) if args.out else _default_out(args, "analysis")
    from .table import recorded_outcomes

    outcomes = args.outcomes or ",".join(recorded_outcomes(table))
    _refuse_users_files(out, [o.strip() for o in outcomes.split(",") if o.strip()], args.force)
    path = write_report(table, out, params=args.params, outcomes=outcomes, scales=scales, **rules,
                        seed=args.seed,
                        importance_methods=() if args.no_importance else importance.METHODS,
                        title=f"Sensitivity report: {args.study or Path(args.table).name}", study=args.study,
                        focus=args.outcome)
    print(f"wrote {path} (with sensitivity.csv, importance.csv and figures in {path.parent})")
    return 0


def _refuse_users_files(out: Path, outcomes: list[str], force: bool) -> None:
    """analyze writes into ``out`` only over its own earlier files (analysis/manifest.py): a file there with
    a name the report of ``outcomes`` writes that no analyze wrote is the user's, refused without ``--force``."""
    import re

    from . import manifest
    from .report import OWN_FILES

    names = [p.replace("*", re.sub(r"[^A-Za-z0-9_.-]", "_", o)) for p in OWN_FILES for o in outcomes]

    def legacy_report(path: Path) -> bool:  # the folder of a report of ours written before manifests existed
        try:
            return (path.parent / "report.md").read_text(errors="replace").startswith("# Sensitivity report")
        except OSError:
            return False

    if out.exists() and not out.is_dir():
        raise AnalysisError(f"--out {out} is a file; analyze writes a folder")
    theirs = manifest.foreign(out, sorted(set(names)), legacy_report)
    if theirs and not force:
        names = ", ".join(f.name for f in theirs[:3]) + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "")
        raise AnalysisError(f"--out {out} holds {names}, which no earlier analyze wrote; choose another folder "
                            "or add --force to overwrite them (other files are never touched)")


def _write_space(space, path: Path) -> Path:
    from studies.space import write_space

    return write_space(space, path)


def _toml_out(args: argparse.Namespace, name: str) -> Path:
    """The TOML file refine or best writes (``--out``, else the default, the command's own file), checked
    before any work: an existing ``--out`` file needs ``--force``, a folder is refused."""
    from studies.commands import check_outputs

    check_outputs({"--out": args.out}, args.force)
    return Path(args.out) if args.out else _default_out(args, name)


def refine_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study refine``: print the plan, write the refined space."""
    from .refine import refine_plan, refined_space

    rules = rules_of(args)
    out = _toml_out(args, "refined.toml")
    table = load_table(args)
    space = load_space(args, table)
    entries, plan = refine_plan(table, space, args.outcome, **rules, seed=args.seed, fix=args.fix,
                                fix_unimportant=args.fix_unimportant, hull=args.hull)  # the analysis, once
    refined = refined_space(entries, space, args.outcome, **rules)
    for r in plan.itertuples():
        print(f"{r.parameter:>12}  {r.action:<6} {r.old} -> {r.new}  ({r.reason})")
    path = _write_space(refined, out)
    print(f"wrote {path}")
    return 0


def best_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study best``: write the best trial's values (or the robust best's) as a space of fixed values."""
    from .refine import best

    out = _toml_out(args, "best.toml")
    table = load_table(args)
    space = load_space(args, table)
    fixed = best(table, space, args.outcome) if args.candidates is None else _robust_best(args, table, space)
    path = _write_space(fixed, out)
    print(f"{fixed.description}")
    print(f"wrote {path}")
    return 0


def _robust_best(args: argparse.Namespace, table, space):
    """``best --candidates K``: the re-runs through the runner (analysis.protocol.robust_best), ranking printed."""
    from studies import launch

    from .markdown import markdown_table
    from .candidates import incumbent_values, robust_best
    from studies.where import Where

    if args.table:
        raise AnalysisError("--candidates needs --study (the re-runs train on the study's dataset)")
    from dcsomrl import models
    from dcsomrl.params import BUDGET, check_run

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
    print(markdown_table(ranked.round(4)))
    return fixed


def final_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study final``: run the seeds (analysis.final.final_study), print the table."""
    from dcsomrl.params import check_run

    from . import final as F
    from .final_report import display_table
    from .markdown import markdown_table

    check_run("k", args.k)
    result = F.final_study(args.space, args.dataset, devices=args.devices, workers_per_device=args.workers_per_device,
                           seeds=args.seeds, first_seed=args.seed, epochs=args.epochs, k=args.k,
                           storage=args.storage, results=args.results, data_dir=args.data_dir, study=args.study,
                           model=args.model, save_models=args.save_models, baselines=args.baselines,
                           ablation=args.ablation == "ae")
    if result.md_path is None:
        return result.exit_code
    print(markdown_table(display_table(result.table)))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {result.csv_path} and {result.md_path}")
    return result.exit_code


def protocol_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study protocol``: run or resume every stage (analysis.protocol), then write protocol.md."""
    import sys

    from dcsomrl.data import canonical_name
    from studies import launch
    from studies.orchestrate import check_study_name
    from studies.storage import quiet_optuna

    from . import final as F
    from .protocol import Protocol, StageFailed, default_name, run_protocol
    from .protocol_report import write_protocol_report

    quiet_optuna()
    rules = rules_of(args)
    dataset = canonical_name(args.dataset)
    name = check_study_name(args.name or default_name(dataset, args.model))
    p = Protocol(dataset, name, args.results, args.storage, args.initial_n, args.adjusted_n, args.seeds, args.seed,
                 args.epochs, args.final_epochs, args.candidates, args.candidate_seeds, args.outcome, args.k, rules,
                 args.data_dir, args.model, not args.no_importance, args.save_models,
                 F.check_baselines(args.baselines), batch_size=args.batch_size, incumbent=args.incumbent,
                 fidelity_n=args.fidelity_n, ablation=args.ablation == "ae").check()
    slots = launch.plan_slots(args.devices, args.workers_per_device)
    try:
        run = run_protocol(p, slots=slots, say=lambda line: print(line, flush=True))
    except StageFailed as exc:
        print(f"dcsomrl-study: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    path = write_protocol_report(run, Path(args.results) / name)
    print(f"wrote {path}")
    return 0
