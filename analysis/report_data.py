"""The sensitivity report as data: everything ``report.md`` says, computed once, seeded.

:func:`report_data` analyses a trial table and returns a :class:`ReportData`;
:mod:`analysis.report_text` renders it to Markdown and :mod:`analysis.report`
writes it (CSV tables, figures, report.md). Nothing here writes a file, and
nothing that renders runs a test.

What it computes, in this order (the seeded steps take ``seed``):

* the cleaned sample (:func:`analysis.table.prepare`);
* the sensitivity measures and the significance rule
  (:func:`analysis.sensitivity.analyze`, permutations seeded);
* the importance cross-checks (:func:`analysis.importance.analyze`, seeded; none
  when ``importance_methods`` is empty);
* per outcome (:class:`OutcomeData`): its ranked rows, what its n can see
  (:func:`analysis.screening.detectable_correlation`), how far its regressions fit
  (:func:`fit_quality`), its best trial, the ranking's stability over the
  replicates (:func:`analysis.stability.ranking_stability`, 499 permutations,
  seeded) and its figures' names and captions (:func:`figure_specs`);
* the study's one ``extend`` recommendation (:func:`analysis.summary.recommend`)
  and the budget note (:func:`analysis.budget.budget_note`).

How far regression measures are trusted (:func:`fit_quality`): R² >= 0.7
"good", >= 0.4 "partial", else "poor" (then rely on KS/KW and the figures);
the larger of R² and rank R² decides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import importance, screening, sensitivity, stability, summary
from .budget import budget_note
from .errors import AnalysisError
from .plots import BAR_CAPTION
from .refine import best_trial
from .sensitivity import Sensitivity
from .stability import Stability
from .summary import Recommendation
from .table import Prepared, prepare

#: Permutations of each replicate's analysis when the ranking's stability is measured.
STABILITY_PERMUTATIONS = 499

#: Each outcome's figures, in order: (kind, caption); ``choices`` only when a categorical parameter varies.
FIGURES = (
    ("scatter", "outcome vs each parameter with the OLS fit and its 95% confidence band (cf. paper Fig. 6); on a "
                "log or logit axis the fit is on log x or logit x, so the line drawn is the model fitted"),
    ("ecdf", "empirical CDF with the 95% DKW band"),
    ("mcf", "Monte-Carlo filtering: each parameter's CDF over behavioural vs non-behavioural trials"),
    ("sensitivity", BAR_CAPTION),
    ("choices", "outcome per choice of each categorical parameter (box: quartiles; dots: trials)"),
)


def fit_quality(r2: float, r2_rank: float) -> str:
    """'good' (max R² >= 0.7), 'partial' (>= 0.4), 'poor' (< 0.4) or 'not computed'."""
    best_r2 = np.nanmax([r2, r2_rank]) if not (np.isnan(r2) and np.isnan(r2_rank)) else np.nan
    if np.isnan(best_r2):
        return "not computed"
    return "good" if best_r2 >= 0.7 else "partial" if best_r2 >= 0.4 else "poor"


def slug(name: str) -> str:
    """An outcome's name as it appears in file names (anything but letters, digits, ``_.-`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


@dataclass(frozen=True)
class FigureSpec:
    """One figure of an outcome: which kind (:data:`FIGURES`), its file name, its caption."""

    outcome: str
    kind: str
    file: str
    caption: str


def figure_specs(prep: Prepared, outcome: str) -> tuple[FigureSpec, ...]:
    """The figures of ``outcome``: ``<kind>_<outcome>.png`` of each kind of :data:`FIGURES`, ``choices``
    only when a categorical parameter varies where the outcome is finite."""
    drawn = [(k, c) for k, c in FIGURES if k != "choices" or prep.outcome_categorical(outcome)]
    return tuple(FigureSpec(outcome, k, f"{k}_{slug(outcome)}.png", c) for k, c in drawn)


@dataclass(frozen=True)
class OutcomeData:
    """One outcome's part of the report (the tables are not to be modified in place)."""

    outcome: str
    rows: pd.DataFrame            # its numeric parameters' measures, rank 1 first (sensitivity.COLUMNS)
    cats: pd.DataFrame            # its categorical parameters' tests (categorical.COLUMNS); may be empty
    importance: pd.DataFrame      # its importance cross-checks (importance.COLUMNS); empty when not run
    n: int                        # trials used
    k: int                        # parameters tested: numeric and categorical
    detectable: float             # the |rho| the rule finds with 80% probability at (n, k); NaN below 5 trials
    needed: int                   # trials an effect of |rho| 0.5 needs at k parameters
    fit: str                      # fit_quality of its regressions
    best: pd.Series               # the best trial (analysis.refine.best_trial)
    stability: Stability | None   # the replicates' ranking concordance; None with one replicate
    figures: tuple[FigureSpec, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything report.md says, computed by :func:`report_data`.

    ``prep``: the cleaned sample (:func:`analysis.table.prepare`; the figures draw it);
    ``sens``: the analysis (tables, notes, counts, rules); ``importance``: the cross-checks' tidy table
    (written as importance.csv); ``outcomes``: {outcome: :class:`OutcomeData`} in the analysed order;
    ``recommendation``: the one ``extend`` advice; ``budget_note``: the sentence of a study that varied
    its budget, else None; ``study``: the name the offered commands use.
    """

    title: str
    prep: Prepared
    sens: Sensitivity
    importance: pd.DataFrame
    outcomes: dict[str, OutcomeData]
    recommendation: Recommendation
    budget_note: str | None
    study: str | None = None

    @property
    def n_params(self) -> int:
        """The parameters of the study, numeric and categorical."""
        return len(self.prep.params) + len(self.prep.categorical)

    @property
    def replicated(self) -> bool:
        """Whether any outcome's ranking stability was measured (two or more replicates)."""
        return any(o.stability is not None for o in self.outcomes.values())


def report_data(table: pd.DataFrame, params=None, outcomes=("nmi", "purity"), *,
                behavioural_quantile: float = 0.75, control: str = "fwer", level: float = 0.05, seed: int = 0,
                importance_methods=importance.METHODS, title: str = "Sensitivity report",
                study: str | None = None, focus: str | None = None) -> ReportData:
    """Analyse ``table`` for the report (module docstring); arguments as :func:`analysis.report.write_report`.
    Degenerate tables, and a ``focus`` that is not analysed, raise :class:`~analysis.errors.AnalysisError`."""
    prep = prepare(table, params, outcomes)
    if focus is not None and focus not in prep.outcomes:
        raise AnalysisError(f"--outcome {focus!r} is not among the analysed outcomes ({', '.join(prep.outcomes)})")
    sens = sensitivity.analyze(prep, behavioural_quantile=behavioural_quantile, control=control, level=level,
                               seed=seed)
    imp = (importance.analyze(prep, methods=importance_methods, seed=seed) if importance_methods
           else pd.DataFrame(columns=importance.COLUMNS))
    per = {o: outcome_data(table, prep, sens, imp, o) for o in prep.outcomes}
    return ReportData(title, prep, sens, imp, per, summary.recommend(sens, focus), budget_note(table),
                      study)


def outcome_data(table: pd.DataFrame, prep: Prepared, sens: Sensitivity, imp: pd.DataFrame,
                 outcome: str) -> OutcomeData:
    """One outcome's :class:`OutcomeData` (``table``: the trial table, for the best trial and the replicates)."""
    r = sens.rules
    rows = sens.table.loc[sens.table["outcome"] == outcome].sort_values("rank")
    cats = sens.categorical.loc[sens.categorical["outcome"] == outcome]
    n, k = int(rows.iloc[0]["n"]), len(rows) + len(cats)
    stab = stability.ranking_stability(table, prep.params, outcome, behavioural_quantile=r.behavioural_quantile,
                                       control=r.control, level=r.level, seed=r.seed,
                                       n_permutations=STABILITY_PERMUTATIONS)
    return OutcomeData(outcome, rows, cats, imp.loc[imp["outcome"] == outcome], n, k,
                       screening.detectable_correlation(n, k, r.level), screening.trials_needed(0.5, k, r.level),
                       fit_quality(rows.iloc[0]["r2"], rows.iloc[0]["r2_rank"]), best_trial(table, outcome), stab,
                       figure_specs(prep, outcome))


def power_groups(data: ReportData) -> list[tuple[list[str], int, int, float]]:
    """The outcomes grouped by their (n, k), as [(outcomes, n, k, detectable |rho|)]: usually one group."""
    groups: dict[tuple[int, int], list[str]] = {}
    for o, d in data.outcomes.items():
        groups.setdefault((d.n, d.k), []).append(o)
    return [(os_, n, k, data.outcomes[os_[0]].detectable) for (n, k), os_ in groups.items()]
