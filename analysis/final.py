"""The final round (SPEC 7 "final"; the paper's section 5.2 and Table 1): fixed values over N seeds.

``dcsomrl-study final --space FILE --dataset NAME --seeds 10`` trains one
parameter setting (a space of fixed values, as ``best`` writes) once per seed
through the study runner, then reports, per method, the mean ± std over the
runs of Purity (eq. 9), NMI (eq. 8) and the number of nodes (clusters):

==========================  ===========================================================
DC-SOMRL                    the study's COMPLETE trials (one per seed); the row is
                            named after the studied model (``Model.title``)
DE-SOM (64), SOM-VAE (64)   ``--baselines desom,somvae`` (any registered model): the
                            model's shipped ``best`` space for the dataset (else its
                            defaults for it) over the same seeds, as the study
                            ``<study>-<model>``; with ``--epochs`` the same epochs
k-means (k), raw inputs     ``KMeans(k, random_state=seed)`` on the dataset's
                            normalized inputs, one run per seed of the study
k-means (k), latent codes   the same on each trained encoder's codes
                            z = sigmoid(enc(x)) (``dcsomrl.trainer.encode``),
                            one run per COMPLETE trial, seeded with its seed
AE alone (α = 0)            ``ablation=True``: the same setting with alpha = 0 (no
                            clustering loss; the map still trains on the codes) over
                            the same seeds, as the study ``<study>-ablation``: its
                            map's scores, and k-means (k and k = nodes) on its codes.
                            What the clustering loss adds, the paper's central claim;
                            ``ablation_seeds=N``: over the first N seeds only
paper rows                  Table 1 of the paper as printed (k-means, SOM-VAE,
                            DE-SOM, SOMRL; MNIST and Fashion-MNIST only), marked
                            "paper, reference": their setup, not re-run here
==========================  ===========================================================

``--baselines`` lists the rows to measure beside the studied model: ``kmeans``
(the four k-means rows, the default) and model names. Each row reports the
runs, Purity, NMI, AMI, ARI, the clusters used (nodes), the training epochs
(a model's ``epochs``, or DE-SOM's ``iterations`` × batch / training rows)
and the seconds per run (training, or the k-means fit and prediction).

Every method is measured as the trainer measures DC-SOMRL: fitted on the
training set, each *test* sample assigned to its cluster (winning node,
nearest centroid), scored against the test labels. ``std`` is the sample
standard deviation over runs (ddof = 1; undefined for one run), as
``pandas.Series.std``.

This module runs the studies; the other jobs live beside it:

==========================  ==========================================================
``analysis.seeds``          the seed design: one space's fixed values over N seeds
``analysis.kmeans``         the k-means rows, and their cache in ``final_runs.csv``
``analysis.paper``          the paper's Table 1 as data
``analysis.final_table``    ``final.csv`` and ``final_runs.csv`` as data (``FinalTable``)
``analysis.final_report``   ``final.md``: the table for reading, its prose, the files
==========================  ==========================================================

The workflow is :func:`final_study` (what ``dcsomrl-study final`` calls: the
space resolved, the slots planned) and :func:`run_final` (``analysis.protocol``
calls it too): :func:`train_all` trains the studied model, each model baseline
(:func:`model_baselines`) and the ablation (:func:`ablation_rows`) over the
same seeds (:func:`train_seeds`), then :func:`report_final` adds the k-means
rows, computes the table and writes the files.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from dcsomrl import models
from dcsomrl.data import load_dataset
from dcsomrl.params import check, defaults_for, registry
from dcsomrl.util import as_numpy
from studies import export, launch, weights
from studies import study as sy
from studies.errors import Exit, SpaceError
from studies.orchestrate import check_study_name
from studies.orchestrate import default_study_name as study_name
from studies.space import is_space_file, parse_space, resolve_space
from studies.storage import quiet_optuna
from studies.where import Where

from .errors import AnalysisError, check_count
from .final_report import write_final
from .final_table import COLUMNS, RUN_COLUMNS, tabulate, trained_epochs
from .formatting import seeds_text
from .kmeans import NODES, cached_rows, kmeans_latent, kmeans_rows, save_notes
from .seeds import fixed_values, require_fixed, seed_design

#: The ``--baselines`` name of the four k-means rows (any other name is a registered model).
KMEANS = "kmeans"

#: The runner's exit codes after which the finished trials are reported (all done, or some failed).
REPORTABLE = (Exit.OK, Exit.UNFINISHED)
#: The ablation rows' names (:func:`ablation_rows`).
ABLATION = "AE alone (α = 0)"


# ----- the study names ---------------------------------------------------------------------------

def space_hash(space) -> str:
    """8 hex digits identifying a space's parameters (not its name or description)."""
    text = json.dumps(space.to_dict()["params"], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def default_study_name(dataset: str, space, n: int, first_seed: int, epochs: int | None = None, *,
                       label: str | None = None, model: str = "dcsomrl") -> str:
    """``final-<dataset>[-<model>]-<space>-n<N>-s<first seed>[-e<epochs>]`` (studies.orchestrate.default_study_name).

    ``label``: what ``--space`` said. A shipped name (``best``) names the study as it is; a file (or no
    label) adds the first 6 hex digits of :func:`space_hash` to its stem, so that other values in a
    file of the same name make another study.
    """
    if label and not is_space_file(label):
        what = label
    else:
        stem = Path(label).stem if label else space.name
        what = f"{stem}-{space_hash(space)[:6]}"
    return study_name(dataset, what, n, first_seed, epochs, prefix="final", model=model)


# ----- what is run, what comes back --------------------------------------------------------------

@dataclass(frozen=True)
class FinalRun:
    """What :func:`run_final` trains: one setting over seeds on a data set, and where (checked before)."""

    space: Any                     # the fixed values (epochs fixed when given)
    dataset: str
    study: str                     # the studied model's; baselines <study>-<model>, ablation <study>-ablation
    model: str
    title: str                     # the studied model's row name (Model.title)
    seeds: tuple[int, ...]         # one run per seed, the same for every model
    epochs: int | None
    k: int                         # clusters of the k-means rows (besides k = nodes)
    where: Where
    label: str                     # how --space was given (final.md's context line)
    ablation_seeds: int | None = None  # the AE alone's seeds: the first N of ``seeds`` (None: all)


@dataclass
class FinalResult:
    """What :func:`run_final` measured: the tables, notes, files and the runner's exit code."""

    study: str
    table: pd.DataFrame            # final.csv
    runs: pd.DataFrame             # final_runs.csv
    trials: pd.DataFrame           # the study table of the runs
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0
    csv_path: Path | None = None
    md_path: Path | None = None


# ----- the workflow ------------------------------------------------------------------------------

def final_study(space: str, dataset: str, *, devices: str = "auto", workers_per_device: int = 1,
                **options) -> FinalResult:
    """The whole ``final`` workflow from the command's values: resolve ``space`` (a space file or a
    shipped name, for ``dataset``), require fixed values, plan the worker slots of ``devices`` ×
    ``workers_per_device``, then :func:`run_final` (``options``: its keywords; the space is labelled
    ``space`` as given)."""
    quiet_optuna()
    resolved = resolve_space(space, dataset, options.get("model", "dcsomrl"))
    require_fixed(resolved)
    slots = launch.plan_slots(devices, workers_per_device)
    return run_final(resolved, dataset, slots=slots, space_label=space, **options)


def run_final(space, dataset: str, *, seeds: int, first_seed: int = 0, epochs: int | None = None, k: int = 64,
              slots, storage: str | None, results: str, data_dir: str | None = None, study: str | None = None,
              model: str = "dcsomrl", space_label: str | None = None, save_models: str = "best",
              baselines: Iterable[str] = (KMEANS,), ablation: bool = False,
              ablation_seeds: int | None = None) -> FinalResult:
    """Train the fixed values of ``space`` once per seed through the study runner (resumable), then
    each model baseline over the same seeds (study ``<study>-<model>``), then the k-means rows, and
    write final.csv, final_runs.csv and final.md. ``ablation_seeds``: the AE alone trains the first
    N seeds only (when time is short; default all).

    Returns a :class:`FinalResult` (with no table when the runner was
    interrupted or the machine cannot run trials: exit code not 0 or 1). Every
    seed's encoder is kept until the latent-code k-means has read it; then
    ``save_models`` (studies/weights.py) decides which stay.
    """
    require_fixed(space)
    name = check_study_name(study or default_study_name(dataset, space, seeds, first_seed, epochs, label=space_label,
                                                        model=model))
    wanted, title = check_baselines(baselines), models.get(model).title
    check_ablation_seeds(ablation_seeds, seeds, ablation)
    if epochs is not None:
        space = space.with_fixed(epochs=check("epochs", epochs, space.model))
    seed_list = seed_design(space, seeds, first_seed)["seed"].tolist()
    data = load_dataset(dataset, data_dir)  # a DataError stops us before the study exists
    check_count("--k", k, len(data.x_train), f"the training rows of {dataset}")  # the k-means rows' clusters
    run = FinalRun(space, dataset, name, model, title, tuple(seed_list), epochs, k,
                   Where(storage, results, data_dir, tuple(slots), save_models), space_label or space.name,
                   ablation_seeds)
    handle, trials, rows, notes, code = train_all(run, data, wanted, ablation)
    if code not in REPORTABLE:  # interrupted, or the machine cannot run trials: nothing to report yet
        return FinalResult(name, pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=RUN_COLUMNS), trials,
                           exit_code=code)
    result = report_final(run, data, trials, rows, notes, KMEANS in wanted, code)
    weights.prune(handle, save_models)
    return result


def check_ablation_seeds(count: int | None, seeds: int, ablation: bool = True) -> None:
    """AnalysisError unless ``count`` (``--ablation-seeds``) is None or an integer in [1, ``seeds``], and
    given only with the ablation on."""
    if count is None:
        return
    check_count("--ablation-seeds", count, seeds, "the final seeds")
    if not ablation:
        raise AnalysisError("--ablation-seeds needs the ablation, which --ablation none skips: give one of the two")


def train_all(run: FinalRun, data, wanted: tuple[str, ...], ablation: bool):
    """Train the studied model over the seeds, then each model baseline of ``wanted``, then (``ablation``)
    the AE alone; the first exit code that is not 0 or 1 stops the chain.

    Returns (the studied study's handle, its trial table, the (method, runs) rows of the model baselines
    and the ablation, their notes, the exit code).
    """
    # every encoder is kept until the latent-code k-means has read it
    handle, fetched, trials, code = train_seeds(run, run.space, run.study, run.model,
                                                f"{len(run.seeds)} seeds of space {run.space.name!r} on "
                                                f"{run.dataset}", keep_all=True)
    others, notes, code = (model_baselines(run, [b for b in wanted if b != KMEANS], len(data.x_train))
                           if code in REPORTABLE else ([], [], code))
    ablated, code = (ablation_rows(run, data) if ablation and code in REPORTABLE and has_ablation(run.space, run.model)
                     else (([], []), code))
    counts = sy.count_points(fetched, len(run.seeds))
    notes = [*incomplete_notes(run.title, run.study, counts), *notes, *ablated[1]]
    return handle, trials, [*ablated[0], *others], notes, code


def report_final(run: FinalRun, data, trials: pd.DataFrame, rows: list[tuple[str, pd.DataFrame]],
                 notes: list[str], kmeans: bool, code: int) -> FinalResult:
    """The k-means rows (when ``kmeans``; cached when they match), the final table
    (:func:`analysis.final_table.tabulate`), its files and the k-means notes; the :class:`FinalResult`."""
    trials["epochs"] = trained_epochs(trials, len(data.x_train))
    folder = Path(run.where.results) / run.study
    clustered, clustered_notes = kmeans_rows(kmeans, folder, trials, data, list(run.seeds), run.k, run.title)
    context = (f"Study `{run.study}`: the fixed values of `--space {run.label}` on `{run.dataset}` over "
               + seeds_text(run.seeds) + (f", epochs = {run.epochs}" if run.epochs else "")
               + "; each run's seed is recorded on its trial.")
    final = tabulate(trials, [*rows, *clustered], dataset=run.dataset, title=f"Final runs on {run.dataset}",
                     model=run.title, n_classes=len(np.unique(as_numpy(data.y_train))), n_test=len(data.y_test),
                     context=[context], values=fixed_values(run.space), notes=[*notes, *clustered_notes])
    csv_path, md_path = write_final(final, folder)
    save_notes(csv_path.parent, clustered_notes)
    return FinalResult(run.study, final.table, final.runs, trials, list(final.notes), code, csv_path, md_path)


# ----- the studies: the studied model, the baselines, the ablation -------------------------------

def train_seeds(run: FinalRun, space, name: str, model: str, label: str, keep_all: bool = False):
    """Create or resume the study ``name`` training ``space``'s fixed values once per seed of ``run``;
    (handle, fetched trials, study table, exit code). ``keep_all``: every trial keeps its weights (for
    the latent-code k-means; pruned later), else ``run.where.save_models`` decides."""
    seeds = list(run.seeds)
    design = sy.design_attrs(space, len(seeds), seeds[0], run.dataset, epochs=run.epochs, model=model, seeds=seeds)
    points = seed_design(space, len(seeds), seeds[0])[space.names].to_dict("records")
    where = replace(run.where, save_models="all") if keep_all else run.where
    handle, code = where.run(name, design, points, label)
    fetched = handle.get_trials(deepcopy=False)  # read once, for the table and the counts
    return handle, fetched, export.study_table(handle, fetched), code


def has_ablation(space, model: str) -> bool:
    """True when the setting has a clustering loss to take away (DC-SOMRL's ``alpha`` > 0)."""
    return model == "dcsomrl" and float(fixed_values(space).get("alpha", 0.0)) > 0


def ablation_rows(run: FinalRun, data) -> tuple[tuple[list[tuple[str, pd.DataFrame]], list[str]], int]:
    """The ablation: the same setting with alpha = 0 over the same seeds (study ``<study>-ablation``).

    Returns ((rows, notes), exit code): the map's own scores ("AE alone (α = 0)") and k-means with ``k``
    and with k = each map's node count on the AE-alone codes; every encoder is kept until k-means has
    read it, then ``run.where.save_models`` decides.
    """
    run = replace(run, seeds=run.seeds[:run.ablation_seeds])  # the first N seeds (all when None)
    name, count = f"{run.study}-ablation", len(run.seeds)
    handle, fetched, trials, code = train_seeds(run, run.space.with_fixed(alpha=0.0), name, run.model,
                                                f"ablation {ABLATION}: {count} seeds on {run.dataset}", keep_all=True)
    if code not in REPORTABLE:
        return ([], []), code
    methods = [f"k-means ({run.k}), AE-alone codes", "k-means (k = nodes), AE-alone codes"]
    clustered, notes = cached_rows(Path(run.where.results) / run.study, trials, ABLATION, methods), []
    if clustered is None:  # not read back from a finished run's final_runs.csv: fit on the kept encoders
        (latent, notes), (latent_nodes, _) = kmeans_latent(trials, data, run.k), kmeans_latent(trials, data, NODES)
        clustered = list(zip(methods, (latent, latent_nodes)))
    rows = [(ABLATION, trials), *clustered]
    notes = [f"{ABLATION}: study `{name}`, the same values with alpha = 0 (no clustering loss; the map still "
             f"trains on the codes), over {seeds_text(run.seeds)}",
             *incomplete_notes(ABLATION, name, sy.count_points(fetched, count)),
             *(f"{ABLATION}: {note}" for note in notes)]
    weights.prune(handle, run.where.save_models)
    return (rows, notes), code


def incomplete_notes(label: str, study: str, counts: dict[str, int]) -> list[str]:
    """A note when not every seed of ``study`` completed (``counts`` from ``studies.study.count_points``):
    the row ``label`` then rests on fewer runs than asked for, and the note says how many and why."""
    unfinished = counts["waiting"] + counts["running"]
    if not (counts["failed"] or unfinished):
        return []
    return [f"{label}: {counts['complete']} of {counts['n']} seeds completed ({counts['failed']} failed, "
            f"{unfinished} not finished); see dcsomrl-study status --study {study}"]


def check_baselines(names: Iterable[str] | str) -> tuple[str, ...]:
    """The ``--baselines`` list (a comma-separated string or names): ``kmeans`` and registered models,
    each once; AnalysisError naming an unknown one and the choices."""
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in items if n != KMEANS and n not in models.REGISTRY]
    if unknown:
        raise AnalysisError(f"--baselines: unknown baseline {unknown[0]!r}; choose from {KMEANS}, "
                            f"{', '.join(models.REGISTRY)} (comma-separated)")
    return tuple(dict.fromkeys(items))


def baseline_space(model: str, dataset: str, epochs: int | None):
    """The fixed values a model baseline trains: its shipped ``best`` space for the dataset, else its
    defaults for it (``dcsomrl.params.defaults_for``); ``epochs`` fixed when given and the model has it."""
    params = models.get(model).params
    try:
        space = resolve_space("best", dataset, model)
    except SpaceError:
        values = {n: {"value": v} for n, v in defaults_for(dataset, params).items()}
        space = parse_space({"description": f"{model}: its defaults for {dataset}", "params": values},
                            f"{model}-defaults", model)
    if epochs is not None and "epochs" in registry(params):
        space = space.with_fixed(epochs=epochs)
    return space


def baseline_label(model: str, space) -> str:
    """A model baseline's row name: its title, with its grid's cell count as the paper writes it ('DE-SOM (64)')."""
    values = fixed_values(space)
    cells = f" ({values['map_rows'] * values['map_cols']})" if {"map_rows", "map_cols"} <= set(values) else ""
    return models.get(model).title + cells


def model_baselines(run: FinalRun, names: list[str], n_train: int) -> tuple[list[tuple[str, pd.DataFrame]],
                                                                            list[str], int]:
    """Train each model baseline over the seeds as the study ``<study>-<model>``: (method, runs) rows,
    notes (which study and space each row comes from), and the runner's exit code (the first that is not
    0 or 1 stops here; a baseline with seeds failed or unfinished gets an :func:`incomplete_notes` note)."""
    rows, notes = [], []
    for model in names:
        space = baseline_space(model, run.dataset, run.epochs)
        label, name = baseline_label(model, space), f"{run.study}-{model}"
        _, fetched, trials, code = train_seeds(run, space, name, model,
                                               f"baseline {label}: {len(run.seeds)} seeds on {run.dataset}")
        if code not in REPORTABLE:
            return rows, notes, code
        rows.append((label, trials.assign(epochs=trained_epochs(trials, n_train))))
        notes.append(f"{label}: study `{name}`, space `{space.name}` ({space.description or 'fixed values'})")
        notes.extend(incomplete_notes(label, name, sy.count_points(fetched, len(run.seeds))))
    return rows, notes, 0
