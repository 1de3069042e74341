"""The paper's whole protocol (appendix A.1; SPEC 9) as one resumable chain of ordinary studies.

``dcsomrl-study protocol --dataset NAME`` runs, in order:

==============  ====================================================================
stage           what it is (study ``<name>-<stage>``, files in ``<results>/<study>/``)
==============  ====================================================================
initial         an LHS of ``initial_n`` points (30) over the shipped initial ranges
                (Table 2, column 1), then ``analysis/`` (the sensitivity report) and
                ``refined.toml`` (:func:`analysis.refine.refine_plan`)
adjusted        an LHS of ``adjusted_n`` points (10) over ``refined.toml``, then
                ``analysis/``
candidates      the robust best: the ``candidates`` (3) best adjusted trials re-run
                over ``candidate_seeds`` (3) new seeds, the same seeds for each;
                the best mean wins (``candidates.csv``, ``best.toml``)
final           the best values over ``seeds`` (10) seeds at ``final_epochs``, beside
                k-means at k = 64 and at k = each map's node count
                (:func:`analysis.final.run_final`)
==============  ====================================================================

then writes ``<results>/<name>/protocol.md`` (:mod:`analysis.protocol_report`).

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

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import AnalysisError
from .final import Where
from .table import RECORDED_OUTCOMES

#: The stages, in order; study names are ``<protocol name>-<stage>``.
STAGES = ("initial", "adjusted", "candidates", "final")
#: The outcomes a protocol may optimize (AMI and ARI do not reward a bigger map).
OUTCOMES = RECORDED_OUTCOMES
DEFAULT_RULES = {"behavioural_quantile": 0.75, "control": "fwer", "level": 0.05}


class StageFailed(AnalysisError):
    """A stage that cannot go on; ``exit_code`` is its runner's (1 trials failed, 3 machine, 130 stopped)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


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

    def study(self, stage: str) -> str:
        return f"{self.name}-{stage}"

    def check(self) -> "Protocol":
        """Raise AnalysisError naming the first option out of its range."""
        from dcsomrl.params import check_run

        for name, value in (("initial-n", self.initial_n), ("adjusted-n", self.adjusted_n), ("seeds", self.seeds),
                            ("candidates", self.candidates), ("candidate-seeds", self.candidate_seeds),
                            ("k", self.k), ("seed", self.seed)):
            check_run(name, value)
        if self.outcome not in OUTCOMES:
            raise AnalysisError(f"--outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")
        from .final import check_baselines

        check_baselines(self.baselines)
        return self


@dataclass
class Stage:
    """One finished stage: its study, trial table, the space it ran over and its files."""

    name: str
    study: str
    table: pd.DataFrame
    space: object
    files: dict[str, Path] = field(default_factory=dict)
    sensitivity: pd.DataFrame | None = None


# ----- running one stage -----------------------------------------------------------------------

def run_points(where: Where, stage: str, name: str, design: dict, points: list[dict], label: str) -> pd.DataFrame:
    """Create or resume the study ``name``, train its waiting points, return its trial table.

    Raises StageFailed when the runner stopped (interrupted, machine problem,
    points left unfinished) or no point completed.
    """
    from studies import export
    from studies import storage as st
    from studies.orchestrate import run_study

    url = st.resolve_url(where.storage, name, where.results)
    study, code = run_study(name, url, design, points, slots=list(where.slots), out=where.results,
                            data_dir=where.data_dir, label=label, save_models=where.save_models)
    table = export.study_table(study)
    if code != 0:
        raise StageFailed(f"{stage} (study {name}) stopped with exit code {code}; see "
                          f"dcsomrl-study status --study {name}, then re-run to resume", code)
    if not (table["state"] == "COMPLETE").any():
        raise StageFailed(f"{stage} (study {name}): no trial completed; see dcsomrl-study status --study {name}")
    return table


def lhs_stage(p: Protocol, where: Where, stage: str, space, n: int, design_seed: int) -> pd.DataFrame:
    """An ordinary LHS study of ``n`` points over ``space`` (as ``dcsomrl-study lhs`` would make it)."""
    from studies import study as sy
    from studies.design import sample

    design = sy.design_attrs(space, n, design_seed, p.dataset, epochs=p.epochs, model=p.model)
    points = sample(space, n, design_seed).to_dict("records")
    return run_points(where, f"protocol stage {stage}", p.study(stage), design, points,
                      f"protocol stage {stage}: {n} design points over space {space.name!r} on {p.dataset}")


def analyze_stage(p: Protocol, stage: Stage) -> Stage:
    """Write the stage's sensitivity report (``analysis/``) and keep its sensitivity table."""
    from . import importance
    from .report import write_report
    from .table import recorded_outcomes

    out = Path(p.results) / stage.study / "analysis"
    outcomes = recorded_outcomes(stage.table)
    scales = {name: dim.scale for name, dim in stage.space.dims.items()}
    path = write_report(stage.table, out, outcomes=outcomes, scales=scales, **p.rules, seed=p.seed,
                        importance_methods=importance.METHODS if p.importance else (),
                        title=f"Sensitivity report: protocol stage {stage.name} ({stage.study})", study=stage.study)
    stage.files["report"] = path
    stage.sensitivity = pd.read_csv(out / "sensitivity.csv") if (out / "sensitivity.csv").is_file() else None
    return stage


def refine_stage(p: Protocol, stage: Stage):
    """The refined space of a stage (``refined.toml`` and ``refine_plan.csv`` beside its study)."""
    from studies.space import write_space

    from .refine import refine_plan, refined_space

    entries, plan = refine_plan(stage.table, stage.space, p.outcome, **p.rules, seed=p.seed)
    refined = refined_space(entries, stage.space, p.outcome, **p.rules)
    folder = Path(p.results) / stage.study
    stage.files["refined"] = write_space(refined, folder / "refined.toml")
    plan.to_csv(folder / "refine_plan.csv", index=False)
    stage.files["plan"] = folder / "refine_plan.csv"
    return refined


# ----- the robust best ----------------------------------------------------------------------------

def candidate_values(table: pd.DataFrame, space, outcome: str, k: int) -> list[tuple[int, dict]]:
    """The ``k`` best COMPLETE trials by ``outcome`` as (trial number, fixed values) pairs, best first."""
    from .final import fixed_values
    from .refine import best
    from .table import complete_only

    done, _ = complete_only(table)
    y = pd.to_numeric(done[outcome], errors="coerce")
    order = done.loc[y[np.isfinite(y)].sort_values(ascending=False, kind="stable").index].head(k)
    return [(int(row["number"]), fixed_values(best(order.loc[[i]], space, outcome)))
            for i, row in order.iterrows()]


def candidate_design(space, candidates: list[tuple[int, dict]], repeats: int, design_seed: int, dataset: str,
                     epochs: int | None, model: str = "dcsomrl") -> tuple[dict, list[dict]]:
    """The re-run study's design: point c * repeats + r is candidate c with common seed r."""
    from studies import study as sy

    seeds = [sy.trial_seed(design_seed, r) for r in range(repeats)]
    points = [values for _, values in candidates for _ in range(repeats)]
    design = sy.design_attrs(space, len(points), design_seed, dataset, epochs=epochs, model=model,
                             seeds=seeds * len(candidates), distinct_seeds=False)
    design["candidates"] = [{"candidate": c, "trial": number} for c, (number, _) in enumerate(candidates)]
    design["repeats"] = repeats
    return design, points


def rank_candidates(table: pd.DataFrame, candidates: list[tuple[int, dict]], repeats: int,
                    outcome: str) -> pd.DataFrame:
    """One row per candidate: its source trial, runs, mean and std of ``outcome`` over its re-runs,
    best mean first (a candidate with no COMPLETE re-run ranks last, mean NaN)."""
    from .table import complete_only

    done, _ = complete_only(table)
    by = pd.to_numeric(done["design_index"], errors="coerce") // repeats
    y = pd.to_numeric(done[outcome], errors="coerce")
    rows = []
    for c, (number, values) in enumerate(candidates):
        v = y[by == c].dropna()
        rows.append({"candidate": c, "trial": number, "runs": len(v), f"{outcome}_mean": v.mean() if len(v) else np.nan,
                     f"{outcome}_std": v.std(ddof=1) if len(v) > 1 else np.nan, **values})
    ranked = pd.DataFrame(rows).sort_values(f"{outcome}_mean", ascending=False, kind="stable", na_position="last")
    return ranked.reset_index(drop=True)


def robust_best_space(ranked: pd.DataFrame, space, outcome: str):
    """The winner's values as a space of fixed values, its description saying how it won."""
    from .refine import best

    top = ranked.iloc[0]
    if top["runs"] == 0:
        raise AnalysisError("no candidate re-run completed: no robust best")
    fixed = best(pd.DataFrame([{**top.to_dict(), "state": "COMPLETE", "number": int(top["trial"]),
                                outcome: top[f"{outcome}_mean"]}]), space, outcome)
    return dataclasses.replace(fixed, description=f"robust best: trial {int(top['trial'])}'s values, mean "
                               f"{outcome} {top[f'{outcome}_mean']:.4g} over {int(top['runs'])} re-runs "
                               f"(best of {len(ranked)} candidates)")


def robust_best(where: Where, name: str, table: pd.DataFrame, space, *, dataset: str, epochs: int | None,
                outcome: str = "nmi", candidates: int = 3, repeats: int = 3, design_seed: int = 2,
                model: str = "dcsomrl") -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """Re-run the ``candidates`` best trials of ``table`` over ``repeats`` common seeds in the study
    ``name``; returns (its trial table, the ranking, the winner as a space of fixed values)."""
    cands = candidate_values(table, space, outcome, candidates)
    design, points = candidate_design(space, cands, repeats, design_seed, dataset, epochs, model)
    reruns = run_points(where, "the robust best", name, design, points,
                        f"robust best: the {len(cands)} best trials x {repeats} seeds on {dataset}")
    ranked = rank_candidates(reruns, cands, repeats, outcome)
    return reruns, ranked, robust_best_space(ranked, space, outcome)


def candidates_stage(p: Protocol, where: Where, adjusted: Stage) -> tuple[Stage, pd.DataFrame, object]:
    """Stage 3: the robust best of the adjusted stage. Files: candidates.csv, best.toml."""
    from studies.space import write_space

    table, ranked, best_space = robust_best(where, p.study("candidates"), adjusted.table, adjusted.space,
                                            dataset=p.dataset, epochs=p.epochs, outcome=p.outcome,
                                            candidates=p.candidates, repeats=p.candidate_seeds,
                                            design_seed=p.seed + 2, model=p.model)
    stage = Stage("candidates", p.study("candidates"), table, adjusted.space)
    folder = Path(p.results) / stage.study
    ranked.to_csv(folder / "candidates.csv", index=False)
    stage.files.update(candidates=folder / "candidates.csv", best=write_space(best_space, folder / "best.toml"))
    return stage, ranked, best_space


# ----- the chain ----------------------------------------------------------------------------------

def initial_space(p: Protocol):
    """The shipped initial ranges of the dataset (Table 2, column 1), epochs fixed when given."""
    from dcsomrl.params import check
    from studies.space import resolve_space

    space = resolve_space("initial", p.dataset, p.model)
    return space.with_fixed(epochs=check("epochs", p.epochs, space.model)) if p.epochs is not None else space


def run_protocol(p: Protocol, *, slots, say: Callable[[str], None] = print) -> dict:
    """Run (or resume) every stage in order; returns what the report needs (:mod:`analysis.protocol_report`)."""
    from .final import run_final

    p.check()
    where = Where(p.storage, p.results, p.data_dir, tuple(slots), p.save_models)
    step = iter(range(1, len(STAGES) + 1))

    def announce(stage: str, text: str) -> None:
        say(f"== protocol {p.name}, stage {next(step)}/{len(STAGES)}: {stage}: {text}")

    announce("initial", f"LHS of {p.initial_n} points over the initial ranges")
    space0 = initial_space(p)
    initial = Stage("initial", p.study("initial"), lhs_stage(p, where, "initial", space0, p.initial_n, p.seed),
                    space0)
    refined = refine_stage(p, analyze_stage(p, initial))

    announce("adjusted", f"LHS of {p.adjusted_n} points over the refined ranges")
    adjusted = Stage("adjusted", p.study("adjusted"),
                     lhs_stage(p, where, "adjusted", refined, p.adjusted_n, p.seed + 1), refined)
    analyze_stage(p, adjusted)

    announce("candidates", f"the {p.candidates} best adjusted trials over {p.candidate_seeds} seeds")
    candidates, ranked, best_space = candidates_stage(p, where, adjusted)

    announce("final", f"the robust best over {p.seeds} seeds, beside k-means")
    final = run_final(best_space, p.dataset, seeds=p.seeds, first_seed=p.seed, epochs=p.final_epochs, k=p.k,
                      slots=slots, storage=p.storage, results=p.results, data_dir=p.data_dir,
                      study=p.study("final"), model=p.model, space_label=str(candidates.files["best"]),
                      save_models=p.save_models, baselines=p.baselines)
    if final.md_path is None or final.exit_code != 0:
        raise StageFailed(f"protocol stage final (study {final.study}) stopped with exit code {final.exit_code}; "
                          f"see dcsomrl-study status --study {final.study}", final.exit_code or 1)
    return dict(protocol=p, initial=initial, adjusted=adjusted, candidates=candidates, ranked=ranked,
                best=best_space, final=final)


def default_name(dataset: str, model: str = "dcsomrl") -> str:
    """``protocol-<dataset stem>[-<model>]``: the model named when it is not dcsomrl."""
    from dcsomrl.data import dataset_stem

    return f"protocol-{dataset_stem(dataset)}" + ("" if model == "dcsomrl" else f"-{model}")
