"""The study runner's subcommand handlers: lhs, extend, worker, status, export, repair.

Each takes the parsed arguments (:mod:`studies.arguments` defines them) and
returns the exit code; each imports what it needs when it runs. Bad input
raises :class:`studies.errors.StudiesError` (a ValueError; one-line message) or
``dcsomrl.params.ParameterError``, which ``studies.cli.run`` prints as one line.
Running a study is :func:`studies.orchestrate.run_study`; what it prints
while it runs, :mod:`studies.progress`.

Exit codes: 0 done; 1 design points left unfinished (workers kept dying) or
none completed; 3 a worker hit a problem of the machine (data, device,
imports); 130 interrupted.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from studies.errors import StudyError
from studies.orchestrate import check_study_name, default_study_name, run_study
from studies.progress import print_summary, running_lines

PROG = "dcsomrl-study"
EXIT_NONE_COMPLETE = 1


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
    from dcsomrl.params import check_run
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


def _lhs_target(args: argparse.Namespace):
    """lhs's checked (dataset, space, study name); nothing is read or created yet."""
    from dcsomrl.data import canonical_name
    from dcsomrl.params import check, check_run
    from studies.space import is_space_file, resolve_space

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
        return EXIT_NONE_COMPLETE
    return exit_code


def worker_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study worker``: drain the queue; 0 when done, 3 on a problem of the machine, 130 if stopped."""
    from studies import storage as st
    from studies import worker as wk
    from studies.signals import sigterm_interrupts

    st.quiet_optuna()
    url = st.resolve_url(args.storage, args.study, args.results)
    try:
        with sigterm_interrupts():
            result = wk.run_worker(args.study, url, device=args.device, device_label=args.device_label,
                                   out=args.results, data_dir=args.data_dir, threads=args.threads,
                                   max_trials=args.max_trials, save_models=args.save_models)
    except wk.EnvironmentProblem as err:
        print(f"{PROG} worker: error: {err}", file=sys.stderr, flush=True)
        return wk.EXIT_ENVIRONMENT
    except (KeyboardInterrupt, wk.Interrupted):
        print(f"{PROG} worker: stopped; the running trial went back to the queue", file=sys.stderr, flush=True)
        return wk.EXIT_INTERRUPTED
    print(f"worker done: {len(result.complete)} complete, {len(result.failed)} failed", file=sys.stderr, flush=True)
    return wk.EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study status``: design, counts, running trials, failures, best trials.

    Reads the study's trials once and derives every section from them.
    """
    import collections

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

