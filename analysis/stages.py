"""What every protocol stage shares, and the stages any screening chain has.

* :class:`Stage` (one finished stage: its study, trials, space, files) and
  :class:`StageFailed` (a stage that cannot go on, with its runner's exit code);
* :func:`names_stage`: a stage function's one-line errors become StageFailed
  naming the stage and its study;
* :func:`run_points`: create or resume a stage's study and train its waiting
  points (every stage runs through it, and ``analysis.candidates.robust_best``);
* the screening steps, run for the initial and the adjusted stage alike:
  :func:`lhs_stage` (an LHS study, resumed over the space it recorded,
  :func:`recorded_space`), :func:`analyze_stage` (its sensitivity report) and
  :func:`refine_stage` (its refined space).

The protocol's own stages (fidelity, candidates, final) and the chain are in
:mod:`analysis.protocol`; ``p`` below is its ``Protocol`` (settings).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from dcsomrl.util import one_line
from studies import export
from studies import storage as st
from studies import study as sy
from studies.design import sample
from studies.errors import Exit, StudyError
from studies.space import write_space
from studies.where import Where

from . import importance
from .errors import AnalysisError
from .refine import refine_plan, refined_space
from .report import write_report
from .table import recorded_outcomes


class StageFailed(AnalysisError):
    """A stage that cannot go on; ``exit_code`` is its runner's (1 trials failed, 3 machine, 130 stopped)."""

    def __init__(self, message: str, exit_code: int = Exit.UNFINISHED):
        super().__init__(message)
        self.exit_code = exit_code


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

def names_stage(stage_of: Callable[[tuple, dict], str]):
    """Decorate a stage function ``fn(p, *args)``: a one-line error it raises (bad input, a refused
    study, a data set that cannot load) becomes :class:`StageFailed` naming the stage and its study in
    full (exit 2); ``stage_of(args, kwargs)`` says which stage the call runs."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(p, *args, **kwargs):
            try:
                return fn(p, *args, **kwargs)
            except StageFailed:
                raise
            except (ValueError, OSError) as exc:
                stage = stage_of(args, kwargs)
                why = one_line(exc, limit=None).replace(sy.RENAME_HINT, "choose another --name")  # protocol's flag
                raise StageFailed(f"protocol stage {stage} (study {p.study(stage)}): {why}", 2) from None
        return inner
    return wrap


def run_points(where: Where, stage: str, name: str, design: dict, points: list[dict], label: str) -> pd.DataFrame:
    """Create or resume the study ``name``, train its waiting points, return its trial table.

    Raises StageFailed when the runner stopped (interrupted, machine problem,
    points left unfinished) or no point completed.
    """
    study, code = where.run(name, design, points, label)
    table = export.study_table(study)
    if code != 0:
        raise StageFailed(f"{stage} (study {name}) stopped with exit code {code}; see "
                          f"dcsomrl-study status --study {name}, then re-run to resume", code)
    if not (table["state"] == "COMPLETE").any():
        raise StageFailed(f"{stage} (study {name}): no trial completed; see dcsomrl-study status --study {name}")
    return table


# ----- the screening steps: LHS, analysis, refine ------------------------------------------------

@names_stage(lambda args, kwargs: args[1])
def lhs_stage(p, where: Where, stage: str, space, n: int, design_seed: int,
              epochs: int | None = None, say: Callable[[str], None] = print) -> tuple[pd.DataFrame, object]:
    """An ordinary LHS study of ``n`` points over ``space`` (as ``dcsomrl-study lhs`` would make it);
    ``epochs``: the design's recorded epochs (default: the screening's, ``p.epochs``). Returns (its
    trial table, the space it ran over).

    A stage that exists already resumes over the space it recorded, even where the stage before it
    would refine differently now (another version of the analysis): its trials are what was run.
    """
    recorded = recorded_space(where, p.study(stage))
    if recorded is not None and recorded.to_dict() != space.to_dict():
        say(f"   (stage {stage} resumes over the space it recorded, {p.study(stage)}; the analysis now gives "
            "another one)")
        space = recorded
    design = sy.design_attrs(space, n, design_seed, p.dataset, epochs=p.epochs if epochs is None else epochs,
                             model=p.model)
    points = sample(space, n, design_seed).to_dict("records")
    table = run_points(where, f"protocol stage {stage}", p.study(stage), design, points,
                       f"protocol stage {stage}: {n} design points over space {space.name!r} on {p.dataset}")
    return table, space


def recorded_space(where: Where, name: str):
    """The space the study ``name`` was designed over (its name kept), or None when there is no such study."""
    try:
        design = sy.load(st.open_storage(where.url(name), create=False), name).user_attrs["design"]
    except (StudyError, KeyError, ValueError, OSError):
        return None
    return dataclasses.replace(sy.design_space(design), name=design.get("space_name", name))


@names_stage(lambda args, kwargs: args[0].name)
def analyze_stage(p, stage: Stage) -> Stage:
    """Write the stage's sensitivity report (``analysis/``) and keep its sensitivity table."""
    out = Path(p.results) / stage.study / "analysis"
    outcomes = recorded_outcomes(stage.table)
    scales = {name: dim.scale for name, dim in stage.space.dims.items()}
    path = write_report(stage.table, out, outcomes=outcomes, scales=scales, **p.rules, seed=p.seed,
                        importance_methods=importance.METHODS if p.importance else (),
                        title=f"Sensitivity report: protocol stage {stage.name} ({stage.study})", study=stage.study)
    stage.files["report"] = path
    stage.sensitivity = pd.read_csv(out / "sensitivity.csv") if (out / "sensitivity.csv").is_file() else None
    return stage


@names_stage(lambda args, kwargs: args[0].name)
def refine_stage(p, stage: Stage):
    """The refined space of a stage (``refined.toml`` and ``refine_plan.csv`` beside its study)."""
    entries, plan = refine_plan(stage.table, stage.space, p.outcome, **p.rules, seed=p.seed)
    refined = refined_space(entries, stage.space, p.outcome, **p.rules)
    folder = Path(p.results) / stage.study
    stage.files["refined"] = write_space(refined, folder / "refined.toml")
    plan.to_csv(folder / "refine_plan.csv", index=False)
    stage.files["plan"] = folder / "refine_plan.csv"
    return refined
