"""The paper's whole protocol (appendix A.1; SPEC 9) as one resumable chain of ordinary studies.

``dcsomrl-study protocol --dataset NAME`` runs, in order:

==============  ====================================================================
stage           what it is (study ``<name>-<stage>``, files in ``<results>/<study>/``)
==============  ====================================================================
initial         an LHS of ``initial_n`` points (30) over the shipped initial ranges
                (Table 2, column 1), then ``analysis/`` (the sensitivity report) and
                ``refined.toml`` (:func:`analysis.refine.refine_plan`)
fidelity        when the screening ran at another budget than the final one:
                ``fidelity_n`` (8) initial points, spread over its outcome's range,
                re-run at the final budget (``fidelity.csv``; :mod:`analysis.fidelity`)
adjusted        an LHS of ``adjusted_n`` points (10) over ``refined.toml`` with the
                budget fixed, then ``analysis/``
candidates      the robust best: the ``candidates`` (3) best adjusted trials and the
                incumbent (the published values) re-run over ``candidate_seeds`` (3)
                new seeds, the same seeds for each; the best mean wins
                (``candidates.csv``, ``best.toml``; :mod:`analysis.candidates`)
final           the best values over ``seeds`` (10) seeds at the budget, beside
                k-means at k = 64 and at k = each map's node count, and the
                ablation "AE alone (α = 0)" (:func:`analysis.final.run_final`)
==============  ====================================================================

**The budget.** ``batch_size`` and ``epochs`` are the budget, not the model
(:data:`dcsomrl.params.BUDGET`). Screening may vary them (or fix epochs with
``epochs``); from the adjusted stage on they are fixed at ``batch_size`` and
``final_epochs`` (default: the data set's, 256 and 30 on MNIST, as the paper
fixes them "for fair comparisons"), whatever the screening chose.

After the last stage ``dcsomrl-study protocol`` writes ``<results>/<name>/protocol.md``
(:mod:`analysis.protocol_report`) from the :class:`ProtocolRun` that
:func:`run_protocol` returns.

The settings are one :class:`Protocol` (validated once, by :meth:`Protocol.check`,
before any trial). The screening steps every LHS stage takes (the study,
its analysis, its refined space) are in :mod:`analysis.stages`; this module
holds the protocol's own stages (fidelity, candidates, final) and the chain.

Every stage is a study a user can open with ``status``, ``export``,
``analyze`` or optuna-dashboard. Re-running the command resumes: a finished
study is not trained again, its analysis is recomputed (seeded, so the same
trials give the same refined space and the next stage's design matches). A
stage that cannot go on stops the chain with :class:`StageFailed`, one line
naming the stage, its study and why.

Why the robust best re-runs *new* seeds and ranks by their mean alone: the
adjusted stage's best trial is the maximum of ten noisy values, so its own
value is biased upward (the winner's curse); the re-runs are not, and the
common seeds make the candidates' comparison paired.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from dcsomrl import models
from dcsomrl.data import dataset_stem, load_dataset
from dcsomrl.params import BUDGET, ParameterError, check, check_run, defaults_for, registry
from studies import export
from studies import study as sy
from studies.errors import Exit
from studies.space import resolve_space, write_space
from studies.where import Where

from . import candidates as C
from .budget import budget_differs
from .errors import AnalysisError
from .fidelity import Fidelity, fidelity_points, fidelity_result
from .final import FinalResult, check_ablation_seeds, check_baselines, run_final
from .formatting import budget_text
from .stages import Stage, StageFailed, analyze_stage, lhs_stage, names_stage, refine_stage, run_points
from .table import MIN_TRIALS, RECORDED_OUTCOMES

#: The stages, in order; study names are ``<protocol name>-<stage>`` (fidelity only where the budgets differ).
STAGES = ("initial", "fidelity", "adjusted", "candidates", "final")
#: The outcomes a protocol may optimize (AMI and ARI do not reward a bigger map).
OUTCOMES = RECORDED_OUTCOMES
DEFAULT_RULES = {"behavioural_quantile": 0.75, "control": "fwer", "level": 0.05}


@dataclass(frozen=True)
class Protocol:
    """The protocol's settings (constructor only stores them; :meth:`check` validates)."""

    dataset: str
    name: str
    results: str = "results"
    storage: str | None = None
    initial_n: int = 30
    adjusted_n: int = 10
    seeds: int = 10
    seed: int = 0
    epochs: int | None = None
    final_epochs: int | None = None
    candidates: int = 3
    candidate_seeds: int = 3
    outcome: str = "nmi"
    k: int = 64
    rules: dict = field(default_factory=lambda: dict(DEFAULT_RULES))
    data_dir: str | None = None
    model: str = "dcsomrl"
    importance: bool = True        # the Optuna/SALib cross-checks in each stage's report
    save_models: str = "best"      # the weights each stage keeps (studies/weights.py)
    baselines: tuple = ("kmeans",)  # the final stage's rows beside the model (analysis.final.check_baselines)
    batch_size: int | None = None   # the budget's batch (None: the data set's default, 256 on MNIST)
    incumbent: str | None = C.DEFAULT_INCUMBENT  # the published values re-run as a candidate ("none": skip)
    fidelity_n: int = 8             # screening points re-run at the final budget
    ablation: bool = True           # the final stage's "AE alone (alpha = 0)" rows
    ablation_seeds: int | None = None  # ... over the first N final seeds (None: all)

    def study(self, stage: str) -> str:
        return f"{self.name}-{stage}"

    def budget(self) -> dict[str, Any]:
        """The final budget: ``batch_size`` and ``epochs`` (those the model has), the options' values
        or the data set's defaults (dcsomrl.params.defaults_for); ParameterError naming the option."""
        model = registry_of(self.model)
        options = {"batch_size": ("--batch-size", self.batch_size), "epochs": ("--final-epochs", self.final_epochs)}
        budget = {}
        for name in (n for n in BUDGET if n in registry(model)):
            flag, given = options[name]
            try:
                budget[name] = check(name, defaults_for(self.dataset, model)[name] if given is None else given, model)
            except ParameterError as err:
                raise ParameterError(f"{flag}: {err}") from None
        return budget

    def check(self) -> "Protocol":
        """Raise AnalysisError (or ParameterError) naming the first option out of its range, before any
        trial: every check of :data:`CHECKS`, in order (add a new option's check there)."""
        for validate in CHECKS:
            validate(self)
        return self


def _check_counts(p: Protocol) -> None:
    """Every count and seed in its domain (dcsomrl.params.RUN_VALUES)."""
    for name, value in (("initial-n", p.initial_n), ("adjusted-n", p.adjusted_n), ("seeds", p.seeds),
                        ("candidates", p.candidates), ("candidate-seeds", p.candidate_seeds),
                        ("k", p.k), ("seed", p.seed)):
        check_run(name, value)
    if p.fidelity_n != 0:
        check_run("fidelity-n", p.fidelity_n)
    check_ablation_seeds(p.ablation_seeds, p.seeds, p.ablation)


def _check_stage_sizes(p: Protocol) -> None:
    """Each LHS stage can be analysed (at least analysis.table.MIN_TRIALS points) and the robust best
    has as many adjusted trials as candidates to re-run."""
    for option, n in (("--initial-n", p.initial_n), ("--adjusted-n", p.adjusted_n)):
        if n < MIN_TRIALS:
            raise AnalysisError(f"{option} {n}: its stage's analysis needs at least {MIN_TRIALS} trials")
    if p.candidates > p.adjusted_n:
        raise AnalysisError(f"--candidates {p.candidates} exceeds --adjusted-n {p.adjusted_n}: the robust best "
                            f"re-runs candidates among the adjusted stage's trials")


def _check_budget(p: Protocol) -> None:
    """--epochs, --final-epochs and --batch-size in the model's domains (each named), then the budget."""
    params = registry_of(p.model)
    for option, name, value in (("--epochs", "epochs", p.epochs), ("--final-epochs", "epochs", p.final_epochs),
                                ("--batch-size", "batch_size", p.batch_size)):
        if value is None:
            continue
        if name not in registry(params):
            raise AnalysisError(f"{option}: model {p.model!r} has no {name} parameter")
        try:
            check(name, value, params)
        except ParameterError as err:
            raise AnalysisError(f"{option}: {err}") from None
    p.budget()  # ParameterError naming --batch-size / --final-epochs out of range


def _check_choices(p: Protocol) -> None:
    """--outcome among the recorded outcomes; --baselines among kmeans and the registered models."""
    if p.outcome not in OUTCOMES:
        raise AnalysisError(f"--outcome must be one of {', '.join(OUTCOMES)}, got {p.outcome!r}")
    check_baselines(p.baselines)


def _check_incumbent(p: Protocol) -> None:
    """A missing --incumbent file is refused now, not at the candidates stage."""
    C.incumbent_values(p.incumbent, p.dataset, p.model, {})


#: The protocol's option checks, in order (:meth:`Protocol.check`); each raises one line.
CHECKS = (_check_counts, _check_stage_sizes, _check_budget, _check_choices, _check_incumbent)


def check_data(p: Protocol) -> None:
    """The data set loads (an offline MNIST says so now, whole, not after the first stages) and ``--k``
    fits its training rows (the final stage's k-means)."""
    rows = len(load_dataset(p.dataset, p.data_dir).x_train)
    if p.k > rows:
        raise AnalysisError(f"--k {p.k} exceeds the {rows} training rows of {p.dataset}")


def registry_of(model: str) -> str:
    """The parameter registry of a model (dcsomrl.models: ``Model.params``)."""
    return models.get(model).params


def default_name(dataset: str, model: str = "dcsomrl") -> str:
    """``protocol-<dataset stem>[-<model>]``: the model named when it is not dcsomrl."""
    return f"protocol-{dataset_stem(dataset)}" + ("" if model == "dcsomrl" else f"-{model}")


def initial_space(p: Protocol):
    """The shipped initial ranges of the dataset (Table 2, column 1), epochs fixed when given."""
    space = resolve_space("initial", p.dataset, p.model)
    return space.with_fixed(epochs=check("epochs", p.epochs, space.model)) if p.epochs is not None else space


# ----- fidelity, candidates, final ---------------------------------------------------------------

@names_stage(lambda args, kwargs: "fidelity")
def fidelity_stage(p: Protocol, where: Where, initial: Stage) -> tuple[Stage, Fidelity] | None:
    """Re-run ``fidelity_n`` screening points at the final budget, each with its own seed (``fidelity.csv``);
    None when the screening ran at the final budget already or ``fidelity_n`` is 0."""
    budget = p.budget()
    if not p.fidelity_n or not budget_differs(initial.space, budget):
        return None
    picked = fidelity_points(initial.table, p.outcome, p.fidelity_n)
    points = [{**C.trial_values(picked, i, initial.space, p.outcome), **budget} for i in picked.index]
    space = C.covering(initial.space.with_fixed(**budget), points)
    design = sy.design_attrs(space, len(points), p.seed + 3, p.dataset, epochs=budget.get("epochs"), model=p.model,
                             seeds=picked["seed"].astype(int).tolist(), distinct_seeds=False)
    design["fidelity_of"] = [int(t) for t in picked["number"]]
    name = p.study("fidelity")
    table = run_points(where, "protocol stage fidelity", name, design, points,
                       f"fidelity: {len(points)} screening points at the final budget on {p.dataset}")
    done = table[table["state"] == "COMPLETE"]
    by_index = dict(zip(pd.to_numeric(done["design_index"]).astype(int), pd.to_numeric(done[p.outcome])))
    final = pd.Series([by_index.get(i, float("nan")) for i in range(len(points))], dtype=float)
    result = fidelity_result(pd.Series(picked[p.outcome].to_numpy(float)), final, p.outcome,
                             trials=pd.Series(picked["number"].to_numpy()), seeds=pd.Series(picked["seed"].to_numpy()))
    stage = Stage("fidelity", name, table, space)
    stage.files["fidelity"] = Path(p.results) / name / "fidelity.csv"
    result.table.to_csv(stage.files["fidelity"], index=False)
    return stage, result


@names_stage(lambda args, kwargs: "candidates")
def candidates_stage(p: Protocol, where: Where, adjusted: Stage) -> tuple[Stage, pd.DataFrame, object]:
    """The robust best of the adjusted stage, the incumbent among the candidates.
    Files: candidates.csv, best.toml."""
    incumbent = C.incumbent_values(p.incumbent, p.dataset, p.model, p.budget())
    table, ranked, best_space = C.robust_best(where, p.study("candidates"), adjusted.table, adjusted.space,
                                              dataset=p.dataset, epochs=p.budget().get("epochs"),
                                              outcome=p.outcome, candidates=p.candidates, repeats=p.candidate_seeds,
                                              design_seed=p.seed + 2, model=p.model, incumbent=incumbent)
    stage = Stage("candidates", p.study("candidates"), table, adjusted.space)
    folder = Path(p.results) / stage.study
    ranked.to_csv(folder / "candidates.csv", index=False)
    stage.files.update(candidates=folder / "candidates.csv", best=write_space(best_space, folder / "best.toml"))
    return stage, ranked, best_space


@names_stage(lambda args, kwargs: "final")
def final_stage(p: Protocol, best_space, slots, space_label: str) -> FinalResult:
    """The last stage: the robust best over ``seeds`` seeds beside k-means (:func:`analysis.final.run_final`)."""
    return run_final(best_space, p.dataset, seeds=p.seeds, first_seed=p.seed, epochs=p.budget().get("epochs"),
                     k=p.k, slots=slots, storage=p.storage, results=p.results, data_dir=p.data_dir,
                     study=p.study("final"), model=p.model, space_label=space_label,
                     save_models=p.save_models, baselines=p.baselines, ablation=p.ablation,
                     ablation_seeds=p.ablation_seeds)


# ----- the chain ----------------------------------------------------------------------------------

@dataclass
class ProtocolRun:
    """What a finished protocol measured (what :mod:`analysis.protocol_report` writes up)."""

    protocol: Protocol
    initial: Stage
    adjusted: Stage
    candidates: Stage
    ranked: pd.DataFrame             # candidates.csv: the candidates, best mean first
    best: Any                        # the robust best: a space of fixed values (best.toml)
    final: FinalResult
    curves: pd.DataFrame             # the final seeds' validation curves (studies.export.validation_table)
    fidelity: Stage | None = None
    fidelity_result: Fidelity | None = None
    paired: dict | None = None       # analysis.candidates.paired_difference


def run_protocol(p: Protocol, *, slots, say: Callable[[str], None] = print) -> ProtocolRun:
    """Run (or resume) every stage in order; returns what the report needs (:mod:`analysis.protocol_report`)."""
    p.check()
    check_data(p)
    where = Where(p.storage, p.results, p.data_dir, tuple(slots), p.save_models)
    initial, refined = _initial(p, where, say)
    fidelity = _fidelity(p, where, initial, say)
    adjusted = _adjusted(p, where, refined, say)
    candidates, ranked, best_space, paired = _candidates(p, where, adjusted, say)
    # final.md names the space by its path from the final study's folder: it stays true when copied
    final, curves = _final(p, best_space, slots,
                           os.path.relpath(candidates.files["best"], Path(p.results) / p.study("final")), say)
    return ProtocolRun(p, initial, adjusted, candidates, ranked, best_space, final, curves,
                       fidelity[0] if fidelity else None, fidelity[1] if fidelity else None, paired)


def announce(p: Protocol, say: Callable[[str], None], stage: str, text: str) -> None:
    """'== protocol NAME, stage i/5: STAGE: TEXT', the line that opens each stage."""
    say(f"== protocol {p.name}, stage {STAGES.index(stage) + 1}/{len(STAGES)}: {stage}: {text}")


def _initial(p: Protocol, where: Where, say: Callable[[str], None]):
    """Stage 1: the initial LHS, its report and its refined space; (the stage, the refined space)."""
    announce(p, say, "initial", f"LHS of {p.initial_n} points over the initial ranges")
    space0 = initial_space(p)
    initial = Stage("initial", p.study("initial"), *lhs_stage(p, where, "initial", space0, p.initial_n, p.seed,
                                                               say=say))
    return initial, refine_stage(p, analyze_stage(p, initial))


def _fidelity(p: Protocol, where: Where, initial: Stage, say: Callable[[str], None]):
    """Stage 2: the fidelity re-runs and their verdict, or why they were skipped (None)."""
    announce(p, say, "fidelity", f"{p.fidelity_n} screening points re-run at the final budget "
                                 f"({budget_text(p.budget())})")
    fid = fidelity_stage(p, where, initial)
    if fid is None:
        say("   (skipped: the screening ran at the final budget)" if p.fidelity_n else "   (skipped: --fidelity-n 0)")
    else:
        say(f"   {fid[1].verdict()}")
    return fid


def _adjusted(p: Protocol, where: Where, refined, say: Callable[[str], None]) -> Stage:
    """Stage 3: the adjusted LHS over the refined ranges at the budget, and its report."""
    budget = p.budget()
    announce(p, say, "adjusted", f"LHS of {p.adjusted_n} points over the refined ranges at the budget "
                                 f"({budget_text(budget)})")
    refined = refined.with_fixed(**budget)
    adjusted = Stage("adjusted", p.study("adjusted"),
                     *lhs_stage(p, where, "adjusted", refined, p.adjusted_n, p.seed + 1, budget.get("epochs"), say))
    return analyze_stage(p, adjusted)


def _candidates(p: Protocol, where: Where, adjusted: Stage, say: Callable[[str], None]):
    """Stage 4: the robust best; (the stage, the ranking, the winner, its paired difference to the incumbent)."""
    announce(p, say, "candidates", f"the {p.candidates} best adjusted trials"
             + ("" if p.incumbent in (None, C.NO_INCUMBENT) else " and the incumbent (published values)")
             + f" over {p.candidate_seeds} seeds")
    candidates, ranked, best_space = candidates_stage(p, where, adjusted)
    paired = C.paired_difference(candidates.table, ranked, p.candidate_seeds, p.outcome)
    say(f"   {C.incumbent_verdict(ranked, paired, p.outcome)}")
    return candidates, ranked, best_space, paired


def _final(p: Protocol, best_space, slots, label: str, say: Callable[[str], None]):
    """Stage 5: the final round; (its FinalResult, the validation curves of its seeds). StageFailed
    when it did not finish."""
    announce(p, say, "final", f"the robust best over {p.seeds} seeds, beside k-means"
             + (" and the AE alone (alpha = 0)" if p.ablation else "")
             + (f" over the first {p.ablation_seeds} seeds" if p.ablation_seeds else ""))  # checked: needs ablation
    final = final_stage(p, best_space, slots, label)
    if final.md_path is None or final.exit_code != 0:
        raise StageFailed(f"protocol stage final (study {final.study}) stopped with exit code {final.exit_code}; "
                          f"see dcsomrl-study status --study {final.study}", final.exit_code or Exit.UNFINISHED)
    return final, export.validation_table(export.open_study(final.study, p.storage, p.results))
