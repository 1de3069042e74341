"""What every protocol stage shares: the :class:`Stage` record, :class:`StageFailed`, and
:func:`run_points`, which creates or resumes a stage's study and trains its waiting points."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from studies.errors import Exit

from .errors import AnalysisError
from .final import Where


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
