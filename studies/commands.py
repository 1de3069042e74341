"""The study runner's subcommands, each parser beside its handler: lhs, extend, status, export, repair.

:func:`add_commands` registers them (and ``worker``, whose parser and handler
are :mod:`studies.worker`, the worker process's module). Each ``add_*`` parser
sets ``func``, the handler below it, which takes the parsed arguments and
returns the exit code (:class:`studies.errors.Exit`); a handler imports the
heavy modules (optuna, pandas, torch) when it runs, so registering imports
nothing heavy (``dcsomrl-study --help`` stays fast). The options the
commands share are :mod:`studies.arguments`. Bad input raises
:class:`studies.errors.StudiesError` (a ValueError; one-line message) or
``dcsomrl.params.ParameterError``, which ``studies.cli.run`` prints as one line.
Running a study is :func:`studies.orchestrate.run_study`; what it prints while
it runs, :mod:`studies.progress`.

Exit codes of lhs and extend: 0 done; 1 design points left unfinished (workers
kept dying) or none completed; 3 a worker hit a problem of the machine (data,
device, imports); 130 interrupted.
"""
from __future__ import annotations

import argparse
import collections
import pathlib
import sys

from dcsomrl.params import check, check_run
from studies import worker
from studies.arguments import (add_data_dir, add_devices, add_model, add_results, add_save_models, add_storage,
                               positive_int, study_name)
from studies.cli import PROG
from studies.errors import Exit, StudyError
from studies.orchestrate import check_study_name, default_study_name, run_study
from studies.progress import print_summary, running_lines
from studies.space import is_space_file, resolve_space


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``lhs``, ``extend``, ``worker``, ``status``, ``export`` and ``repair``."""
    add_lhs(sub)
    add_extend(sub)
    worker.add_worker(sub)
    add_status(sub)
    add_export(sub)
    add_repair(sub)


# --------------------------------------------------------------------------- lhs

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
    p.set_defaults(func=lhs_command)


def _lhs_target(args: argparse.Namespace):
    """lhs's checked (dataset, space, study name); nothing is read or created yet."""
    from dcsomrl.data import canonical_name

    check_run("n", args.n)
    check_run("seed", args.seed)
    dataset = canonical_name(args.dataset)  # DataError for an unknown name, reads nothing
    space = resolve_space(args.space, dataset, args.model)
    if args.epochs is not None:
        space = space.with_fixed(epochs=check("epochs", args.epochs, space.model))
    if not space.varying:
        raise StudyError(f"space {space.name!r} varies no parameter: an LHS over it would train one setting "
                         f"{args.n} times; vary one, or run fixed values over seeds with {PROG} final")
    space_label = pathlib.Path(args.space).stem if is_space_file(args.space) else args.space
    name = check_study_name(args.study if args.study is not None
                            else default_study_name(dataset, space_label, args.n, args.seed, args.epochs,
                                                    model=args.model))
    return dataset, space, name


def refuse_foreign_runs(name: str, url: str, results: str) -> None:
    """Refuse (one line) to create study ``name`` while ``<results>/<name>/trials/`` holds run directories
    and the storage holds no such study (its journal deleted or lost): the new study's trials would
    overwrite them. Reads the storage only."""
    from studies import storage as st

    trials = pathlib.Path(results) / name / "trials"
    if not trials.is_dir() or not any(trials.iterdir()):
        return
    path = st.journal_path(url)
    if path is not None and not path.is_file():
        known = False
    else:
        try:
            st.open_storage(url).get_study_id_from_name(name)
            known = True
        except KeyError:
            known = False
    if not known:
        raise StudyError(f"{trials} holds run directories of no study {name!r} in the storage {st.redact(url)} "
                         "(was its journal deleted?); a new study would overwrite them: move them away, "
                         "choose another --study, or add --force")


def lhs_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study lhs``: create (or resume) the study, run local workers, show the best trials.

    Everything the user gave is checked (dataset name, space, devices) before
    the study is created, so a typo never spends a study name.
    """
    from studies import export, launch
    from studies import storage as st
    from studies import study as sy
    from studies.design import sample

    st.quiet_optuna()
    dataset, space, name = _lhs_target(args)
    slots = launch.plan_slots(args.devices, args.workers_per_device)
    optimization = None if args.optimization == "none" else args.optimization
    points = sample(space, args.n, args.seed, optimization).to_dict("records")
    design = sy.design_attrs(space, args.n, args.seed, dataset, optimization=optimization,
                             epochs=args.epochs, model=args.model)
    url = st.resolve_url(args.storage, name, args.results)
    if not args.force:
        refuse_foreign_runs(name, url, args.results)
    label = f"{args.n} design points over space {space.name!r} on {dataset}"
    study, exit_code = run_study(name, url, design, points, slots=slots, out=args.results,
                                 data_dir=args.data_dir, label=label, save_models=args.save_models)
    trials = study.get_trials(deepcopy=False)
    c = sy.count_points(trials, sy.total_points(study))
    print_summary(export.study_table(study, trials), c, top=5)
    if c["running"]:
        print("some trials still run on other workers; follow them with "
              f"{PROG} status --study {name}" + (" --storage URL" if args.storage else ""), flush=True)
    if exit_code == 0 and c["complete"] == 0 and not c["running"]:
        print(f"{PROG}: no design point completed; see the reasons with {PROG} status --study {name}",
              file=sys.stderr, flush=True)
        return Exit.UNFINISHED
    return exit_code


# --------------------------------------------------------------------------- extend

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
    p.set_defaults(func=extend_command)


def default_replicate_seed(study) -> int:
    """Without --seed: the last replicate's seed while some of its points are unfinished (an interrupted
    ``extend`` resumes), else a new one: the study's seed + the new replicate's number."""
    from studies import study as sy

    known = sy.replicates(study)
    if known:
        last = known[-1]
        status = sy.design_status(study.get_trials(deepcopy=False))
        span = range(last["first_index"], last["first_index"] + last["n"])
        if any(i not in status or status[i].state.name != "COMPLETE" for i in span):
            return int(last["seed"])
    return int(study.user_attrs["design"]["seed"]) + len(known) + 1


def extend_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study extend``: add a replicate (resumable) and drain the study's queue like lhs."""
    from studies import export, launch
    from studies import storage as st
    from studies import study as sy
    from studies.design import sample

    st.quiet_optuna()
    check_run("n", args.n)
    if args.seed is not None:
        check_run("seed", args.seed)
    url = st.resolve_url(args.storage, args.study, args.results)
    study = sy.load(st.open_storage(url, create=False), args.study)
    sy.require_lhs(study)
    design = study.user_attrs["design"]
    slots = launch.plan_slots(args.devices, args.workers_per_device)
    space = sy.design_space(design)
    seed = default_replicate_seed(study) if args.seed is None else args.seed
    record = sy.add_replicate(study, sample(space, args.n, seed, design.get("optimization")).to_dict("records"),
                              seed)
    points = sample(space, design["n"], design["seed"], design.get("optimization")).to_dict("records")
    label = (f"replicate {record['replicate']}: {record['n']} points with design seed {seed}, "
             f"{sy.total_points(study)} in all")
    study, exit_code = run_study(args.study, url, design, points, slots=slots, out=args.results,
                                 data_dir=args.data_dir, label=label, save_models=args.save_models)
    trials = study.get_trials(deepcopy=False)
    print_summary(export.study_table(study, trials), sy.count_points(trials, sy.total_points(study)), top=5)
    return exit_code


# --------------------------------------------------------------------------- status

def add_status(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="a study's progress, failures and best trials",
                       description="Print a study's design, trial counts, running trials (and whether their "
                                   "workers live), failures with their reasons, replicates and best trials.")
    p.add_argument("--study", type=study_name, required=True, help="the study to show")
    add_storage(p)
    add_results(p, "results folder, where the default storage lives")
    p.add_argument("--top", type=positive_int, default=5, help="how many best trials to show (>= 1)")
    p.set_defaults(func=status_command)


def status_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study status``: design, counts, running trials, failures, best trials.

    Reads the study's trials once and derives every section from them.
    """
    from studies import export
    from studies import storage as st
    from studies import study as sy

    st.quiet_optuna()
    study = export.open_study(args.study, args.storage, args.results)
    trials = study.get_trials(deepcopy=False)
    table = export.study_table(study, trials)
    d = table.attrs["design"]
    print(f"study {study.study_name}: {d['n']} points over space {d['space_name']!r} on {d['dataset']} "
          f"(seed {d['seed']}" + (f", {d['epochs']} epochs" if d.get("epochs") else "") + ")")
    states = collections.Counter(t.state.name for t in trials)
    print("trials: " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(states.items())))
    for line in running_lines(trials):
        print(line)
    for _, r in table[table["state"].isin(["FAIL", "PRUNED"])].iterrows():
        print(f"  {r['state'].lower()}: trial {r['number']} (point {r['design_index']}): {r['reason']}")
    for r in sy.replicates(study):
        print(f"replicate {r['replicate']}: {r['n']} points, design seed {r['seed']} "
              f"(points {r['first_index']}..{r['first_index'] + r['n'] - 1})")
    print_summary(table, sy.count_points(trials, sy.total_points(study)), args.top)
    return 0


# --------------------------------------------------------------------------- export

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
    p.set_defaults(func=export_command)


def check_outputs(targets: dict[str, str | None], force: bool) -> None:
    """Refuse (one line) output files that would lose something: two options naming one file, a folder
    where a file goes, an existing file without ``force``. ``targets``: {option: path or None}."""
    seen: dict[pathlib.Path, str] = {}
    for option, target in targets.items():
        if not target:
            continue
        path = pathlib.Path(target)
        if path.resolve() in seen:
            raise StudyError(f"{seen[path.resolve()]} and {option} name the same file {target}; give each its own")
        seen[path.resolve()] = option
        if path.is_dir():
            raise StudyError(f"{option} {target} is a folder; give a file name (e.g. {path / 'trials.csv'})")
        if path.exists() and not force:
            raise StudyError(f"{option} {target} exists; add --force to overwrite it")


def export_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study export``: the tidy trial table as CSV (and the validation curves)."""
    from studies import export
    from studies import storage as st

    st.quiet_optuna()
    check_outputs({"--out": args.out, "--curves": args.curves}, args.force)
    study = export.open_study(args.study, args.storage, args.results)
    trials = study.get_trials(deepcopy=False)
    table = export.study_table(study, trials)
    path = export.write_csv(table, args.out)
    print(f"wrote {len(table)} trials to {path}")
    if args.curves:
        curves = export.validation_table(study, trials)
        export.write_csv(curves, args.curves)
        print(f"wrote {len(curves)} validation points to {args.curves}")
    return 0


# --------------------------------------------------------------------------- repair

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
    p.set_defaults(func=repair_command)


def repair_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study repair``: drop a journal's partial last record, keeping a backup (studies.storage)."""
    from studies import storage as st

    url = st.resolve_url(args.storage, args.study, args.results)
    path = st.journal_path(url)
    if path is None:
        raise StudyError(f"repair mends journal files; storage {st.redact(url)} is a database")
    result = st.repair_journal(path)
    if result is None:
        print(f"journal {path} is whole: nothing to repair")
        return 0
    backup, dropped = result
    print(f"journal {path}: dropped its partial last record ({dropped}); the journal as it was is in {backup}")
    return 0
