"""The study runner's subcommands of ``dcsomrl-study``: lhs, worker, status, export.

``add_commands(subparsers)`` registers them; each parser sets ``func``, a
function of the parsed arguments returning the exit code. Registering imports
nothing heavy (no optuna, pandas or torch: ``dcsomrl-study --help`` stays
fast); each command imports what it needs when it runs. Bad input raises
:class:`studies.errors.StudiesError` (a ValueError; one-line message) or
``dcsomrl.params.ParameterError``, which ``studies.cli.run`` prints as one line.

Every command that reads or writes a study names its results folder
``--results DIR`` (``--out`` is a deprecated alias for lhs, status and worker).

Exit codes: 0 done; 1 design points left unfinished (workers kept dying) or
none completed; 3 a worker hit a problem of the machine (data, device,
imports); 130 interrupted.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import re
import sys
from typing import Any

from studies.errors import StudyError

PROG = "dcsomrl-study"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
EXIT_NONE_COMPLETE = 1


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


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
                        "trial's, or none (default: best)")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="data directory (default: DCSOMRL_DATA or ~/.cache/dcsomrl)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``lhs``, ``extend``, ``worker``, ``status`` and ``export``."""
    p = sub.add_parser("lhs", help="run a Latin Hypercube study (create, enqueue once, train in parallel)",
                       description="Draw an N-point Latin Hypercube design over a parameter space, enqueue it "
                                   "once in an Optuna study and train one model per point on every device "
                                   "given. Re-running the same command resumes the study.")
    p.add_argument("--n", type=int, required=True, help="number of design points")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--space", default="initial",
                   help="initial, adjusted, best (the paper's Table 2; digits has its own), or a .toml file")
    p.add_argument("--seed", type=int, default=0, help="design seed; each trial's seed derives from it")
    p.add_argument("--epochs", type=int, default=None, help="fix the training epochs of every trial")
    p.add_argument("--optimization", choices=["none", "random-cd"], default="none",
                   help="optimize the LHS (random-cd: lower centered discrepancy; keeps the strata)")
    add_devices(p)
    add_storage(p)
    p.add_argument("--study", default=None, help="study name (default <dataset>-<space>-n<N>-s<seed>[-e<E>])")
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder; the study writes <results>/<study>/ (default: results)")
    p.add_argument("--trial-fn", default=None, help=argparse.SUPPRESS)  # module:function (tests)
    p.set_defaults(func=lhs_command)

    p = sub.add_parser("extend", help="add an independent LHS replicate of K points to a study and train it",
                       description="Draw K more points over the study's own space with a new design seed (an "
                                   "independent Latin Hypercube replicate, Iman 1981), enqueue them in the "
                                   "study and train them like lhs. Each trial records its replicate; analyze "
                                   "pools the replicates and measures the stability of the parameter ranking "
                                   "across them (TDCC). Re-running the same command resumes it.")
    p.add_argument("--study", required=True, help="the study to extend")
    p.add_argument("--n", type=int, required=True, help="points of the new replicate")
    p.add_argument("--seed", type=int, default=None,
                   help="design seed of the replicate (default: resume the last replicate while it has "
                        "unfinished points, else a new one with the study's seed + its number)")
    add_devices(p)
    add_storage(p)
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder; the study lives in <results>/<study>/ (default: results)")
    p.set_defaults(func=extend_command)

    p = sub.add_parser("worker", help="join a study from any machine and train its waiting trials",
                       description="Take waiting trials of a study until none remain.")
    p.add_argument("--study", required=True, help="study name")
    add_storage(p)
    p.add_argument("--devices", "--device", dest="device", default="auto",
                   help="this worker's one device: auto (a GPU if one is visible, else cpu), cpu, or cuda:N "
                        "(--device: the same)")
    add_results(p, "results folder; trials write <results>/<study>/trials/<number>/ (default: results)")
    add_data_dir(p)
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads of this worker (>= 1)")
    p.add_argument("--max-trials", type=positive_int, default=None, help="stop after this many trials")
    add_save_models(p)
    p.add_argument("--trial-fn", default=None, help=argparse.SUPPRESS)
    p.add_argument("--device-label", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=worker_command)

    p = sub.add_parser("status", help="a study's progress, failures and best trials",
                       description="Print a study's design, trial counts, running trials (and whether their "
                                   "workers live), failures with their reasons, replicates and best trials.")
    p.add_argument("--study", required=True)
    add_storage(p)
    add_results(p, "results folder (for the default storage; default: results)")
    p.add_argument("--top", type=positive_int, default=5, help="how many best trials to show (>= 1)")
    p.set_defaults(func=status_command)

    p = sub.add_parser("export", help="write a study's trials as a tidy CSV table",
                       description="Write one row per trial (parameters, outcomes, seed, device, state, reason) "
                                   "as CSV, and optionally the validation curves; refuses to overwrite a file "
                                   "without --force.")
    p.add_argument("--study", required=True)
    add_storage(p)
    p.add_argument("--results", default="results", help="results folder (for the default storage; default: results)")
    p.add_argument("--out", required=True, help="CSV file to write (one row per trial)")
    p.add_argument("--curves", default=None, help="also write the validation curves to this CSV file")
    p.add_argument("--force", action="store_true", help="overwrite --out and --curves when they exist")
    p.set_defaults(func=export_command)


# --------------------------------------------------------------------------- lhs

def default_study_name(dataset: str, space: str, n: int, seed: int, epochs: int | None,
                       prefix: str | None = None) -> str:
    """``[<prefix>-]<dataset>-<space>-n<N>-s<seed>[-e<epochs>]``: lhs's (and final's) default study name."""
    from dcsomrl.data import dataset_stem

    name = f"{dataset_stem(dataset)}-{space}-n{n}-s{seed}" + (f"-e{epochs}" if epochs else "")
    return f"{prefix}-{name}" if prefix else name


def check_study_name(name: str) -> str:
    if not _NAME.match(name):
        raise StudyError(f"study name {name!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
    return name


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


def lhs_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study lhs``: create (or resume) the study, run local workers, show the best trials.

    Everything the user gave is checked (dataset name, space, devices) before
    the study is created, so a typo never spends a study name.
    """
    from dcsomrl.data import canonical_name
    from dcsomrl.params import check, check_run

    from studies import export, launch
    from studies import storage as st
    from studies import study as sy
    from studies.design import sample
    from studies.space import is_space_file, resolve_space

    st.quiet_optuna()
    check_run("n", args.n)
    check_run("seed", args.seed)
    dataset = canonical_name(args.dataset)  # DataError for an unknown name, reads nothing
    space = resolve_space(args.space, dataset)
    if args.epochs is not None:
        space = space.with_fixed(epochs=check("epochs", args.epochs))
    if not space.varying:
        raise StudyError(f"space {space.name!r} varies no parameter: an LHS over it would train one setting "
                         f"{args.n} times; vary one, or run fixed values over seeds with {PROG} final")
    optimization = None if args.optimization == "none" else args.optimization
    space_label = pathlib.Path(args.space).stem if is_space_file(args.space) else args.space
    name = check_study_name(args.study or default_study_name(dataset, space_label, args.n, args.seed, args.epochs))
    slots = launch.plan_slots(args.devices, args.workers_per_device)
    points = sample(space, args.n, args.seed, optimization).to_dict("records")
    design = sy.design_attrs(space, args.n, args.seed, dataset, optimization=optimization,
                             epochs=args.epochs, trial_fn=args.trial_fn)
    url = st.resolve_url(args.storage, name, args.results)
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


def run_study(name: str, url: str, design: dict, points: list[dict], *, slots, out: str,
              data_dir: str | None, label: str, save_models: str = "best"):
    """Create (or resume) a study, re-enqueue lost trials and drain it with local
    workers, one per slot, showing progress; returns (study, exit code).

    ``out`` is the results folder; ``save_models`` the weights kept (studies/weights.py).
    Used by ``lhs``, ``extend``, and by ``final`` and ``protocol`` (analysis/).
    """
    from studies import weights

    from studies import launch
    from studies import storage as st
    from studies import study as sy
    from studies.signals import sigterm_interrupts

    storage = st.open_storage(url)
    study, created = sy.create_or_resume(storage, name, design, points)
    folder = pathlib.Path(out) / name
    print(f"study {name}: {label} ({'created' if created else 'resumed'}; storage {st.redact(url)})", flush=True)
    lost = sy.recover(study, storage)
    if lost:
        print(f"re-enqueued {len(lost)} trial(s) whose worker was lost: {', '.join(map(str, lost))}", flush=True)
    c = sy.count_points(study.get_trials(deepcopy=False), sy.total_points(study))
    if c["waiting"]:
        devices = sorted({s.label for s in slots})
        used = min(len(slots), c["waiting"])
        print(f"{used} worker(s) on {', '.join(devices)}, {slots[0].threads} thread(s) each; "
              f"logs in {folder / 'logs'}", flush=True)
    reporter = ProgressReporter(name, c["n"])
    try:
        with sigterm_interrupts():  # SIGTERM/Ctrl-C: stop the workers, their trials go back to the queue
            outcome = launch.supervise(
                study, storage, slots,
                lambda slot, i: launch.spawn(slot, i, study=name, storage=url, out=out, data_dir=data_dir,
                                             log_dir=folder / "logs", save_models=save_models),
                log_dir=folder / "logs", progress=reporter)
    finally:
        reporter.close()
    for message in outcome.messages:
        print(message, file=sys.stderr, flush=True)
    weights.prune(study, save_models)  # trials of workers elsewhere too
    return study, outcome.exit_code


class ProgressReporter:
    """Live progress (rich) on a terminal; one plain line per change otherwise."""

    def __init__(self, name: str, n: int):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.name, self.n, self.last = name, n, None
        self.live = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=self.console)
            self.task = self.live.add_task(name, total=n, info="")
            self.live.start()

    def __call__(self, counts: dict[str, int], eta: float) -> None:
        info = (f"running {counts['running']} · failed {counts['failed']} · waiting {counts['waiting']}"
                + (f" · retried {counts['retried']}" if counts.get("retried") else "")
                + (f" · ETA {_duration(eta)}" if math.isfinite(eta) and eta > 0 else ""))
        done = counts["complete"] + counts["failed"]
        if self.live is not None:
            self.live.update(self.task, completed=done, info=info)
        elif (done, counts["running"], counts["failed"]) != self.last:
            self.last = (done, counts["running"], counts["failed"])
            print(f"{self.name}: done {counts['complete']}/{self.n} · {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


# --------------------------------------------------------------------------- worker

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
                                   max_trials=args.max_trials, trial_fn=args.trial_fn, save_models=args.save_models)
    except wk.EnvironmentProblem as err:
        print(f"{PROG} worker: error: {err}", file=sys.stderr, flush=True)
        return wk.EXIT_ENVIRONMENT
    except (KeyboardInterrupt, wk.Interrupted):
        print(f"{PROG} worker: stopped; the running trial went back to the queue", file=sys.stderr, flush=True)
        return wk.EXIT_INTERRUPTED
    print(f"worker done: {len(result.complete)} complete, {len(result.failed)} failed", file=sys.stderr, flush=True)
    return wk.EXIT_OK


# --------------------------------------------------------------------------- status / export

def print_summary(table, counts: dict[str, int], top: int = 5) -> None:
    """Counts per design point and the ``top`` best trials of a study table
    (:func:`studies.export.study_table`) as a table."""
    from rich.console import Console
    from rich.table import Table

    from studies import export

    console = Console() if sys.stdout.isatty() else Console(width=200)
    c = counts
    console.print(f"design points: {c['complete']} complete, {c['failed']} failed, {c['running']} running, "
                  f"{c['waiting']} waiting (of {c['n']}); {c['retried']} lost trial(s) retried")
    best = export.best(table, top)
    if best.empty:
        return
    design = table.attrs["design"]
    varying = [p for p, d in design["space"]["params"].items() if "value" not in d]
    t = Table(title=f"best {len(best)} trials by NMI")
    for col in ["trial", "point", "NMI", "Purity", "nodes", "seconds"]:
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("parameters", overflow="fold")
    for _, r in best.iterrows():
        t.add_row(str(r["number"]), str(r["design_index"]), f"{r['nmi']:.4f}", f"{r['purity']:.4f}",
                  str(r["n_nodes"]), f"{r['seconds']:.1f}", "  ".join(f"{p}={_fmt(r[p])}" for p in varying))
    console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def status_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study status``: design, counts, running trials, failures, best trials.

    Reads the study's trials once and derives every section from them.
    """
    import collections
    import datetime

    from optuna.trial import TrialState

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
    now = datetime.datetime.now()
    for t in trials:
        if t.state != TrialState.RUNNING:
            continue
        w = t.user_attrs.get("worker") or {}
        alive = sy.process_alive(w) if w else None
        age = f"{(now - t.datetime_start).total_seconds():.0f} s" if t.datetime_start else "?"
        flag = " (worker dead: re-run lhs or start a worker to re-enqueue)" if alive is False else ""
        print(f"  running: trial {t.number} (point {t.user_attrs.get('design_index')}) on "
              f"{w.get('host', '?')} {t.user_attrs.get('device', '')} pid {w.get('pid', '?')} for {age}{flag}")
    for _, r in table[table["state"].isin(["FAIL", "PRUNED"])].iterrows():
        print(f"  {r['state'].lower()}: trial {r['number']} (point {r['design_index']}): {r['reason']}")
    for r in sy.replicates(study):
        print(f"replicate {r['replicate']}: {r['n']} points, design seed {r['seed']} "
              f"(points {r['first_index']}..{r['first_index'] + r['n'] - 1})")
    print_summary(table, sy.count_points(trials, sy.total_points(study)), args.top)
    return 0


def export_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study export``: the tidy trial table as CSV (and the validation curves)."""
    from studies import export
    from studies import storage as st

    st.quiet_optuna()
    for option, target in (("--out", args.out), ("--curves", args.curves)):
        if target and pathlib.Path(target).exists() and not args.force:
            raise StudyError(f"{option} {target} exists; add --force to overwrite it")
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
