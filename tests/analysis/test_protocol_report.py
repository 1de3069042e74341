"""Known answers of protocol.md: a hand-made ProtocolRun in, exact tables and lines out, no storage opened.

analysis.protocol_report computes each table from the typed run (stage_tables, table2, significant,
stage_times), renders the page (protocol_markdown) and writes it (write_protocol_report); the run's
storage below does not exist, so a renderer that opened it would fail.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from analysis import protocol_report as R
from analysis.final import FinalResult
from analysis.final_table import final_table
from analysis.protocol import Protocol, ProtocolRun
from analysis.stages import Stage
from studies.space import resolve_space

T0, MINUTE = pd.Timestamp("2026-01-01 10:00:00"), pd.Timedelta(minutes=1)


def _trials(a_t: list[float], nmi: list[float], host: str = "h") -> pd.DataFrame:
    """COMPLETE trials of one minute each, one after the other, on host:cpu."""
    n = len(nmi)
    starts = [T0 + i * MINUTE for i in range(n)]
    return pd.DataFrame({"state": "COMPLETE", "number": range(n), "seed": range(n), "a_t": a_t, "nmi": nmi,
                         "purity": [v + 0.25 for v in nmi], "n_nodes": 16, "seconds": 60.0, "host": host,
                         "device": "cpu", "datetime_start": starts, "datetime_complete": [s + MINUTE for s in starts]})


def _run(results: Path) -> ProtocolRun:
    p = Protocol("digits", "p", results=str(results), storage=f"journal://{results}/nowhere/journal.log",
                 initial_n=3, adjusted_n=2, seeds=2, final_epochs=2, candidates=1, candidate_seeds=2, fidelity_n=0,
                 incumbent="none")
    sens = pd.DataFrame({"outcome": ["nmi", "nmi"], "parameter": ["a_t", "beta"],
                         "direction": ["increasing", "decreasing"], "p_adj": [0.0123, 0.5], "significant": [True, False]})
    initial = Stage("initial", "p-initial", _trials([0.9, 0.95, 0.99], [0.25, 0.5, 0.75]),
                    resolve_space("initial", "digits"), {"report": results / "p-initial" / "analysis" / "report.md"},
                    sens)
    adjusted = Stage("adjusted", "p-adjusted", _trials([0.98, 0.99], [0.5, 0.625]),
                     resolve_space("adjusted", "digits"), {"report": results / "p-adjusted" / "analysis" / "report.md"})
    ranked = pd.DataFrame({"candidate": [0], "source": ["trial 1"], "trial": [1], "runs": [2], "nmi_mean": [0.625],
                           "nmi_std": [0.125]})
    candidates = Stage("candidates", "p-candidates", _trials([0.99, 0.99], [0.5, 0.75]), adjusted.space)
    best = dataclasses.replace(resolve_space("best", "digits"), description="robust best: trial 1's values")
    trials = _trials([0.99, 0.99], [0.5, 0.75])
    final = FinalResult("p-final", final_table(trials, [], dataset="digits"), pd.DataFrame(), trials,
                        md_path=results / "p-final" / "final.md")
    curves = pd.DataFrame({"number": [0, 0, 1, 1], "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                           "nmi": [0.25, 0.5, 0.5, 0.75], "purity": [0.5, 0.75, 0.75, 1.0]})
    return ProtocolRun(p, initial, adjusted, candidates, ranked, best, final, curves)


def test_stage_tables_in_order_without_the_fidelity_stage_that_did_not_run(tmp_path):
    run = _run(tmp_path)
    tables = R.stage_tables(run)
    assert list(tables) == ["initial", "adjusted", "candidates", "final"]
    assert tables["initial"] is run.initial.table and tables["final"] is run.final.trials
    with pytest.raises(TypeError):
        run["final"]  # a typed record, not a dict read by string keys


def test_an_answer_line_bolds_the_verdicts_own_head_else_the_label():
    assert R.answer_line("Against the published values", "The study beat the published values: NMI +0.030.") == \
        "- **The study beat the published values:** NMI +0.030."
    assert R.answer_line("Screening fidelity", "not measured (--fidelity-n 0).") == \
        "- **Screening fidelity:** not measured (--fidelity-n 0)."


def test_the_page_from_a_hand_made_run(tmp_path):
    run = _run(tmp_path / "results")
    out = tmp_path / "results" / "p"
    lines = R.protocol_markdown(run, R.paper_spaces("digits"), out).split("\n")
    assert lines[:3] == ["# Protocol `p` on digits", "",
                         "DC-SOMRL reaches NMI 0.625 ± 0.177 over 2 runs; no other method was measured beside it."]
    assert lines[7:11] == ["- **initial** (3 trials): NMI: a_t raises.", "- **adjusted** (2 trials): not analysed.",
                          "- **candidates**: trial 1 wins, NMI 0.625 ± 0.125 over 2 seeds.",
                          "- **final** (2 trials): DC-SOMRL NMI 0.625 ± 0.177, Purity 0.875 ± 0.177, 16.0 ± 0.0 nodes "
                          "over 2 runs."]
    assert lines[4:6] == ["- **Against the published values:** No incumbent was re-run (no published values for "
                           "this data set, or --incumbent none).",
                           "- **Screening fidelity:** not measured (the screening ran at the final budget, or "
                           "--fidelity-n 0)."]
    assert lines[12] == ("Appendix A.1 as one command: initial LHS (3 points) → analysis → refine → fidelity (0 points "
                         "at the final budget) → adjusted LHS (2) → robust best (1 candidates and the incumbent × 2 "
                         "seeds) → final (2 seeds). Screening epochs: varied by the initial space; the budget from the "
                         "adjusted stage on: batch_size 64, epochs 2; outcome optimized: nmi; rule: fwer at level 0.05.")
    assert "Details: [final.md](../p-final/final.md)." in lines
    assert "**initial** (3 trials, [report](../p-initial/analysis/report.md)): a_t increasing for nmi (adjusted p " \
           "0.012)" in lines
    assert "**adjusted** (2 trials, [report](../p-adjusted/analysis/report.md)): no parameter passes the rule" in lines
    assert "| a_t | [0.9, 0.9999] (log1m) | [0.99, 0.9999] (log1m) | 0.99 | [0.9, 0.9999] (log1m) | " \
           "[0.99, 0.9999] (log1m) | 0.99 |" in lines  # the paper's Table 2 columns beside this run's
    assert "Chosen: robust best: trial 1's values." in lines and "## Does the screening budget tell the truth?" \
        not in lines
    assert lines[-9:] == ["*wall_minutes*: while any of the stage's trials ran (hours between sessions not counted, nor "
                          "trials lost or interrupted); "
                          "*trial_minutes*: the trials' own times summed (over all workers).", "",
                          "| stage | trials | complete | wall_minutes | trial_minutes | devices |",
                          "| --- | --- | --- | --- | --- | --- |", "| initial | 3 | 3 | 3.000 | 3.000 | h:cpu |",
                          "| adjusted | 2 | 2 | 2.000 | 2.000 | h:cpu |", "| candidates | 2 | 2 | 2.000 | 2.000 | h:cpu |",
                          "| final | 2 | 2 | 2.000 | 2.000 | h:cpu |", ""]


def test_a_trial_lost_with_its_worker_is_not_counted_in_the_stage_lines(tmp_path):
    """The adjusted stage holds a FAIL trial (its worker was lost, its retry completed): the verdict lines
    count the 2 COMPLETE trials the analysis stands on; the times table shows both counts."""
    run = _run(tmp_path / "results")
    lost = _trials([0.98], [0.0]).assign(state="FAIL", number=2, nmi=float("nan"), seconds=float("nan"))
    run = dataclasses.replace(run, adjusted=dataclasses.replace(run.adjusted, table=pd.concat(
        [run.adjusted.table, lost], ignore_index=True)))
    lines = R.protocol_markdown(run, R.paper_spaces("digits"), tmp_path / "results" / "p").split("\n")
    assert "- **adjusted** (2 trials): not analysed." in lines
    assert any(line.startswith("**adjusted** (2 trials, [report]") for line in lines)
    assert R.stage_times(R.stage_tables(run)).set_index("stage").loc["adjusted", ["trials", "complete"]].tolist() == [3, 2]


def test_table1_sets_the_answer_beside_the_incumbent_over_their_common_seeds(tmp_path):
    run = _run(tmp_path)
    assert R.common_seed_rows(run).empty  # no incumbent was re-run
    ranked = pd.DataFrame({"candidate": [1, 0], "source": ["trial 4", "incumbent"], "trial": [4, None],
                           "runs": [2, 2], "nmi_mean": [0.7, 0.55], "nmi_std": [0.1, 0.05]})
    # design rows 0-1: candidate 0 (the incumbent), rows 2-3: candidate 1; row 4 failed
    table = _trials([0.9] * 5, [0.5, 0.6, 0.6, 0.8, 0.9]).assign(design_index=range(5))
    table.loc[4, "state"] = "FAIL"
    run = dataclasses.replace(run, ranked=ranked, candidates=dataclasses.replace(run.candidates, table=table))
    rows = R.common_seed_rows(run)
    assert rows["method"].tolist() == ["DC-SOMRL, the answer (trial 4)", "DC-SOMRL, published values (incumbent)"]
    assert rows["runs"].tolist() == [2, 2] and rows["nmi_mean"].tolist() == pytest.approx([0.7, 0.55])
    assert rows["purity_mean"].tolist() == pytest.approx([0.95, 0.8]) and set(rows["source"]) == {
        "candidates stage, 2 common seeds"}
    lines = R.protocol_markdown(run, R.paper_spaces("digits"), tmp_path / "p").split("\n")
    start = lines.index("## Table 1, measured") + 2
    assert [line.split(" | ")[0] for line in lines[start + 2:start + 5]] == [
        "| DC-SOMRL", "| DC-SOMRL, the answer (trial 4)", "| DC-SOMRL, published values (incumbent)"]
    won = dataclasses.replace(run, ranked=ranked.iloc[::-1].reset_index(drop=True))  # the incumbent wins
    assert R.common_seed_rows(won)["method"].tolist() == ["DC-SOMRL, published values (incumbent)"]


def test_the_writer_draws_the_figures_and_writes_the_page(tmp_path):
    run = _run(tmp_path / "results")
    out = tmp_path / "results" / "p"
    path = R.write_protocol_report(run, out)
    assert path == out / "protocol.md"
    assert path.read_text() == R.protocol_markdown(run, R.paper_spaces("digits"), out)
    assert (out / R.FIG6).stat().st_size > 0 and (out / R.FIG7).stat().st_size > 0
    assert not (tmp_path / "results" / "nowhere").exists()  # the storage was never opened
