"""``protocol.md``: one report of a finished protocol (:class:`analysis.protocol.ProtocolRun`).

Sections, answer first: Table 1 as measured (with the answer and the
incumbent over the candidates stage's common seeds) and what it says against
the paper's SOMRL and k-means at equal k; Table 2's three columns (initial,
adjusted, best) beside the paper's; each stage's sensitivity answer; the
robust best's candidates; the figures (Fig. 6: the outcome against a_t in the
initial and adjusted stages; Fig. 7: the final seeds' validation curves); how
long each stage took, on which devices.

Three parts, as every report: pure functions compute each table from the
:class:`~analysis.protocol.ProtocolRun` (:func:`stage_tables`, :func:`table2`,
:func:`common_seed_rows`, :func:`significant`, :func:`stage_times`, :func:`verdicts`,
:func:`fig6_data`;
tested); :func:`protocol_markdown` renders the page from them (pure: it opens
no storage, reads no file); :func:`write_protocol_report` draws the figures
(:func:`render_fig6`, :func:`render_fig7`) and writes the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dcsomrl import models
from studies.space import resolve_space

from .candidates import INCUMBENT, candidate_runs, incumbent_verdict, ranked_text
from .final_report import display_table
from .final_table import degenerate_notes, summarize
from .formatting import budget_text, value_text
from .markdown import markdown_table
from .paper import PAPER
from .plots import _set_axis_scale, save_figure
from .protocol import ProtocolRun
from .table import complete_only
from .verdicts import candidates_verdict, final_stage_verdict, lead_verdict, stage_verdict

#: The figures' file names, beside protocol.md.
FIG6, FIG7 = "fig6_a_t.png", "fig7_validation.png"


# ----- tables ------------------------------------------------------------------------------------

def stage_tables(run: ProtocolRun) -> dict[str, pd.DataFrame]:
    """Each stage's trial table, in order: initial, fidelity (when it ran), adjusted, candidates, final."""
    stages = {"initial": run.initial, "fidelity": run.fidelity, "adjusted": run.adjusted,
              "candidates": run.candidates}
    tables = {name: stage.table for name, stage in stages.items() if stage is not None}
    tables["final"] = run.final.trials
    return tables


def common_seed_rows(run: ProtocolRun) -> pd.DataFrame:
    """Table 1's rows from the candidates stage: the answer and the incumbent (the published values) over
    their common seeds, so the page sets the two side by side on every outcome; none without an incumbent."""
    ranked, repeats = run.ranked, run.protocol.candidate_seeds
    if INCUMBENT not in set(ranked["source"]):
        return pd.DataFrame()
    model, source = run.final.table["method"].iloc[0], f"candidates stage, {repeats} common seeds"
    answer, incumbent = ranked.iloc[0], ranked.loc[ranked["source"] == INCUMBENT].iloc[0]
    rows = [(answer, f"{model}, the answer ({answer['source']})")] if answer["source"] != INCUMBENT else []
    rows.append((incumbent, f"{model}, published values (incumbent)"))
    return pd.DataFrame([summarize(candidate_runs(run.candidates.table, int(row["candidate"]), repeats), label,
                                   source=source, dataset=run.protocol.dataset) for row, label in rows])


def dim_text(dim) -> str:
    """A space dimension as a Table 2 cell: a value, a range with its scale, or the choices."""
    if dim is None:
        return "–"
    if dim.fixed:
        return value_text(dim.value)
    if dim.type == "categorical":
        return "{" + ", ".join(map(str, dim.choices)) + "}"
    scale = "" if dim.scale == "linear" else f" ({dim.scale})"
    return f"[{value_text(dim.low)}, {value_text(dim.high)}]{scale}"


def table2(paper: dict, ours: dict) -> pd.DataFrame:
    """Parameter rows, the paper's three columns beside this run's (``paper``/``ours``: column -> space)."""
    names = list(dict.fromkeys(n for space in [*ours.values(), *paper.values()] if space for n in space.names))
    frame = {"parameter": names}
    for label, spaces in (("paper", paper), ("this run", ours)):
        for column, space in spaces.items():
            frame[f"{column} ({label})"] = [dim_text(space.dims.get(n)) if space else "–" for n in names]
    return pd.DataFrame(frame)


def significant(sens: pd.DataFrame | None) -> pd.DataFrame:
    """The flagged parameters of a sensitivity table: outcome, parameter, direction, adjusted p."""
    columns = ["outcome", "parameter", "direction", "p_adj"]
    if sens is None or sens.empty:
        return pd.DataFrame(columns=columns)
    flagged = sens.loc[sens["significant"].astype(bool)]
    return flagged[columns].reset_index(drop=True)


def busy_seconds(starts: pd.Series, ends: pd.Series) -> float:
    """Seconds during which at least one of the intervals [start, end] was open (their union's length).

    A stage resumed in a later session is not charged for the hours between
    the sessions, when none of its trials ran. NaN when no interval is whole.
    """
    spans = pd.DataFrame({"a": pd.to_datetime(starts), "b": pd.to_datetime(ends)}).dropna().sort_values("a")
    if spans.empty:
        return np.nan
    total, (lo, hi) = 0.0, spans.iloc[0]
    for a, b in spans.iloc[1:].itertuples(index=False):
        if a > hi:  # a gap: close the current run of overlapping intervals
            total, lo = total + (hi - lo).total_seconds(), a
        hi = max(hi, b)
    return total + (hi - lo).total_seconds()


def complete_trials(table: pd.DataFrame) -> int:
    """The stage's COMPLETE trials: what its analysis and its verdict stand on (a trial lost with its
    worker and retried is counted once, by its retry)."""
    return len(complete_only(table)[0])


def stage_times(stages: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per stage: study trials, complete, wall time (while any of its trials ran,
    :func:`busy_seconds`), trial time (the trials' seconds summed), devices.

    A trial that did not measure its own time (lost with its worker, interrupted) is left out of the
    wall time: its end is when the runner noticed, which can be the next session, and its interval
    would charge the hours between the sessions.
    """
    rows = []
    for stage, table in stages.items():
        ran = table[table["seconds"].notna()]
        wall = busy_seconds(ran["datetime_start"], ran["datetime_complete"])
        devices = sorted({f"{h}:{d}" for h, d in zip(table["host"], table["device"]) if pd.notna(d)})
        rows.append({"stage": stage, "trials": len(table), "complete": complete_trials(table),
                     "wall_minutes": round(wall / 60, 1), "trial_minutes": round(table["seconds"].sum() / 60, 1),
                     "devices": ", ".join(devices)})
    return pd.DataFrame(rows)


def verdicts(final: pd.DataFrame, outcomes=("nmi", "purity")) -> list[str]:
    """Sentences: the studied model against the paper's SOMRL and against k-means at equal k."""
    ours = final.iloc[0]
    rivals = [("the paper's SOMRL", final[(final["source"] == PAPER) & (final["method"] == "SOMRL")]),
              *((m, final[final["method"] == m]) for m in final["method"] if "k = nodes" in str(m))]
    lines = []
    for label, rows in rivals:
        if rows.empty:
            continue
        r = rows.iloc[0]
        parts = []
        for o in outcomes:
            diff = ours[f"{o}_mean"] - r[f"{o}_mean"]
            if not np.isnan(diff):
                parts.append(f"{o.upper() if o != 'purity' else 'Purity'} {'+' if diff >= 0 else ''}{diff:.3f}")
        if parts:
            lines.append(f"{ours['method']} against {label}: " + ", ".join(parts)
                         + " (mean difference; positive: ours is higher).")
    return lines


# ----- figures -----------------------------------------------------------------------------------

def fig6_data(stages: dict[str, pd.DataFrame], param: str = "a_t", outcome: str = "nmi") -> pd.DataFrame:
    """Points of Fig. 6: stage, the parameter's value and the outcome of every COMPLETE trial."""
    parts = [t.loc[t["state"] == "COMPLETE", [param, outcome]].assign(stage=s)
             for s, t in stages.items() if param in t]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[param, outcome, "stage"])


def render_fig6(points: pd.DataFrame, path, param: str = "a_t", outcome: str = "nmi", scale: str = "linear"):
    """The outcome against ``param`` in each screening stage, one panel per stage (the paper's Fig. 6)."""
    stages = list(dict.fromkeys(points["stage"]))
    fig, axes = plt.subplots(1, max(len(stages), 1), figsize=(3.6 * max(len(stages), 1), 3.0), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        sub = points[points["stage"] == stage]
        ax.scatter(sub[param], sub[outcome], s=18)
        _set_axis_scale(ax, scale, sub[param].astype(float))
        ax.set(title=f"{stage} ({len(sub)} trials)", xlabel=param, ylabel=outcome)
    fig.suptitle(f"{outcome} against {param} in each screening stage (Fig. 6)")
    fig.tight_layout()
    path = save_figure(fig, path)
    plt.close(fig)
    return path


def render_fig7(curves: pd.DataFrame, path):
    """Validation NMI and Purity per step of every final seed (the paper's Fig. 7)."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
    for number, curve in curves.groupby("number"):
        seed = curve["seed"].iloc[0] if "seed" in curve and pd.notna(curve["seed"].iloc[0]) else None
        label = f"trial {number}" + (f" (seed {int(seed)})" if seed is not None else "")
        for ax, outcome in zip(axes, ("nmi", "purity")):
            ax.plot(curve["step"], curve[outcome], lw=0.8, alpha=0.7, label=label)
    for ax, outcome in zip(axes, ("NMI", "Purity")):
        ax.set(xlabel="step", ylabel=f"validation {outcome}", title=f"validation {outcome}")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="x-small", title="final run")
    fig.suptitle(f"Validation curves of the {len(handles)} final runs (Fig. 7)")
    path = save_figure(fig, path)
    plt.close(fig)
    return path


# ----- the report --------------------------------------------------------------------------------

def fidelity_text(result) -> str:
    """The fidelity stage's verdict (analysis.fidelity.Fidelity.verdict), or why there was none."""
    return result.verdict() if result is not None else \
        "not measured (the screening ran at the final budget, or --fidelity-n 0)."


def fidelity_section(result) -> list[str]:
    """``## Does the screening budget tell the truth?``: the verdict and each point at both budgets."""
    if result is None:
        return []
    return ["## Does the screening budget tell the truth?", "", result.verdict(), "",
            markdown_table(result.table.round(4)), ""]


def paper_spaces(dataset: str, model: str = "dcsomrl") -> dict:
    """The shipped spaces of Table 2 (initial, adjusted, best) for the dataset, None where absent (all of
    them for a model without dcsomrl's parameters: the paper's Table 2 is DC-SOMRL's)."""
    spaces = {}
    for column in ("initial", "adjusted", "best"):
        try:
            spaces[column] = resolve_space(column, dataset) if models.get(model).params == "dcsomrl" else None
        except ValueError:
            spaces[column] = None
    return spaces


def protocol_markdown(run: ProtocolRun, paper: dict, out: Path) -> str:
    """``protocol.md``'s text: the verdicts, Table 1, Table 2 (``paper``: :func:`paper_spaces`), what
    each stage found, the robust best, the figures and the time per stage; links relative to ``out``."""
    stages = stage_tables(run)
    return "\n".join([*_opening(run, stages), *_table1(run, out), *_table2(run, paper), *_found(run, out),
                      *fidelity_section(run.fidelity_result), *_robust_best(run), *_closing(stages)])


def write_protocol_report(run: ProtocolRun, out_dir) -> Path:
    """Write ``protocol.md`` and its figures into ``out_dir`` (``run``: from run_protocol)."""
    p, out = run.protocol, Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = stage_tables(run)
    scale = run.initial.space.dims["a_t"].scale if "a_t" in run.initial.space.dims else "linear"
    render_fig6(fig6_data({s: stages[s] for s in ("initial", "adjusted")}, "a_t", p.outcome), out / FIG6,
                outcome=p.outcome, scale=scale)
    render_fig7(run.curves, out / FIG7)
    path = out / "protocol.md"
    path.write_text(protocol_markdown(run, paper_spaces(p.dataset, p.model), out))
    return path


def answer_line(label: str, verdict: str) -> str:
    """One bulleted answer under the lead verdict: the verdict's own head (up to its first ': ') in bold,
    else ``label`` ("The study beat the published values: ..." is not prefixed by what it answers)."""
    head, colon, body = verdict.partition(": ")
    return f"- **{head}:** {body}" if colon else f"- **{label}:** {verdict}"


def _opening(run: ProtocolRun, stages: dict[str, pd.DataFrame]) -> list[str]:
    """The title, the lead verdict, the incumbent and fidelity answers, each stage's verdict, what was run."""
    p = run.protocol
    return [f"# Protocol `{p.name}` on {p.dataset}", "",
            lead_verdict(run.final.table), "",
            answer_line("Against the published values", incumbent_verdict(run.ranked, run.paired, p.outcome)),
            answer_line("Screening fidelity", fidelity_text(run.fidelity_result)), "",
            *(f"- {stage_verdict(s.name, s.sensitivity, complete_trials(s.table))}" for s in (run.initial, run.adjusted)),
            f"- {candidates_verdict(run.ranked, p.outcome)}",
            f"- {final_stage_verdict(run.final.table, complete_trials(stages['final']))}", "",
            f"Appendix A.1 as one command: initial LHS ({p.initial_n} points) → analysis → refine → "
            f"fidelity ({p.fidelity_n} points at the final budget) → adjusted LHS ({p.adjusted_n}) → robust best "
            f"({p.candidates} candidates and the incumbent × {p.candidate_seeds} seeds) → final ({p.seeds} seeds). "
            f"Screening epochs: {p.epochs or 'varied by the initial space'}; the budget from the adjusted stage "
            f"on: {budget_text(p.budget())}; outcome optimized: {p.outcome}; rule: {p.rules['control']} at level "
            f"{p.rules['level']}.", ""]


def _table1(run: ProtocolRun, out: Path) -> list[str]:
    """``## Table 1, measured``: the final table with the answer and the incumbent over the candidates'
    common seeds (:func:`common_seed_rows`) under its first row, what it says, a link to final.md."""
    final = run.final
    table = pd.concat([final.table.iloc[:1], common_seed_rows(run), final.table.iloc[1:]], ignore_index=True)
    return ["## Table 1, measured", "", markdown_table(display_table(table)), "",
            *(f"- {v}" for v in verdicts(final.table)),
            *(f"- {n}" for n in degenerate_notes(final.table)),  # mean with and without degenerate runs
            "- NMI and Purity grow with the number of clusters; compare them at equal k (the *k = nodes* "
            "rows) or read AMI and ARI, which are adjusted for chance.", "",
            f"Details: [{final.md_path.name}]({os.path.relpath(final.md_path, out)}).", ""]


def _table2(run: ProtocolRun, paper: dict) -> list[str]:
    """``## Table 2``: the paper's initial, adjusted and best spaces beside this run's."""
    ours = {"initial": run.initial.space, "adjusted": run.adjusted.space, "best": run.best}
    return ["## Table 2: initial, adjusted, best", "", markdown_table(table2(paper, ours)), ""]


def _found(run: ProtocolRun, out: Path) -> list[str]:
    """``## What each stage found``: the flagged parameters of each screening stage, and Fig. 6."""
    lines = ["## What each stage found", ""]
    for stage in (run.initial, run.adjusted):
        flagged = significant(stage.sensitivity)
        lines += [f"**{stage.name}** ({complete_trials(stage.table)} trials, "
                  f"[report]({os.path.relpath(stage.files['report'], out)})): "
                  + ("; ".join(f"{r.parameter} {r.direction} for {r.outcome} (adjusted p {r.p_adj:.2g})"
                               for r in flagged.itertuples()) or "no parameter passes the rule"), ""]
    return [*lines, f"![Fig. 6]({FIG6})", ""]


def _robust_best(run: ProtocolRun) -> list[str]:
    """``## The robust best``: the candidates ranked, the incumbent's answer, the choice."""
    p = run.protocol
    return ["## The robust best", "",
            f"The {p.candidates} best adjusted trials by {p.outcome} and the incumbent (the published values, "
            f"row *incumbent*), each re-run over the same {p.candidate_seeds} new seeds; the best mean wins "
            "(the single trial's value is biased upward by the selection).", "",
            markdown_table(ranked_text(run.ranked)), "",
            incumbent_verdict(run.ranked, run.paired, p.outcome), "",
            f"Chosen: {run.best.description}.", ""]


def _closing(stages: dict[str, pd.DataFrame]) -> list[str]:
    """Fig. 7 and ``## Time per stage``."""
    return ["## Validation curves of the final seeds (Fig. 7)", "", f"![Fig. 7]({FIG7})", "",
            "## Time per stage", "",
            "*wall_minutes*: while any of the stage's trials ran (hours between sessions not counted, nor "
            "trials lost or interrupted); "
            "*trial_minutes*: the trials' own times summed (over all workers).", "",
            markdown_table(stage_times(stages)), ""]
