"""The protocol command (analysis/protocol.py, analysis/protocol_report.py): every stage, resume, failure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import candidates as C
from analysis import protocol as P
from analysis import protocol_report as R
from analysis.errors import AnalysisError
from dcsomrl_study.cli import main
from studies.export import open_study
from studies.space import load_space

FAKE = "standin-at"  # dcsomrl.standins.a_t_trial: NMI rises with a_t alone
TINY = ["--initial-n", "4", "--adjusted-n", "3", "--candidates", "2", "--candidate-seeds", "2", "--seeds", "2",
        "--epochs", "1", "--final-epochs", "1", "--fidelity-n", "3", "--devices", "cpu", "--no-importance"]


def _trials(results, name):
    return open_study(name, None, str(results)).get_trials(deepcopy=False)


def test_digits_protocol_runs_every_stage_to_the_end_and_resumes(tmp_path, capsys):
    """The real trainer, tiny: each stage is a finished study with its outputs; a re-run trains nothing."""
    out = tmp_path / "results"
    argv = ["protocol", "--dataset", "digits", *TINY, "--results", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for step, stage in enumerate(P.STAGES, 1):
        assert f"stage {step}/5: {stage}" in printed
    # fidelity: the screening varied batch_size, the budget fixes 64 (digits): 3 points re-run at it;
    # candidates: 2 adjusted trials and the incumbent (digits-best) x 2 seeds; final: 2 seeds, ablation 2
    sizes = {"initial": 4, "fidelity": 3, "adjusted": 3, "candidates": 6, "final": 2, "final-ablation": 2}
    for stage, n in sizes.items():
        trials = _trials(out, f"protocol-digits-{stage}")
        assert len(trials) == n and all(t.state.name == "COMPLETE" for t in trials)
        assert all(t.user_attrs.get("ami") is not None for t in trials)  # AMI/ARI recorded on every trial
    for stage in ("initial", "adjusted"):
        assert (out / f"protocol-digits-{stage}" / "analysis" / "report.md").is_file()
    refined = load_space(out / "protocol-digits-initial" / "refined.toml")
    adjusted_design = open_study("protocol-digits-adjusted", None, str(out)).user_attrs["design"]
    # the adjusted LHS ran over the refined space, the budget fixed (batch 64 and epochs 1 here)
    assert adjusted_design["space"] == refined.with_fixed(batch_size=64, epochs=1).to_dict()
    assert adjusted_design["space"]["params"]["batch_size"] == {"type": "int", "value": 64}  # the budget
    ranked = pd.read_csv(out / "protocol-digits-candidates" / "candidates.csv")
    assert len(ranked) == 3 and (ranked["runs"] == 2).all() and "incumbent" in ranked["source"].tolist()
    assert ranked["nmi_mean"].is_monotonic_decreasing
    fidelity = pd.read_csv(out / "protocol-digits-fidelity" / "fidelity.csv")
    assert len(fidelity) == 3 and {"screening", "final", "screening_rank", "final_rank"} <= set(fidelity)
    best = load_space(out / "protocol-digits-candidates" / "best.toml")
    assert all(d.fixed for d in best.dims.values()) and "robust best" in best.description
    final = pd.read_csv(out / "protocol-digits-final" / "final.csv")
    assert final["method"].tolist()[0] == "DC-SOMRL" and "k-means (k = nodes), raw inputs" in final["method"].tolist()
    assert {"AE alone (α = 0)", "k-means (k = nodes), AE-alone codes"} <= set(final["method"])
    assert final.loc[0, "runs"] == 2 and final[["ami_mean", "ari_mean"]].iloc[1:].notna().all().all()
    assert "the fixed values of `--space ../protocol-digits-candidates/best.toml`" in \
        (out / "protocol-digits-final" / "final.md").read_text()  # a path that holds wherever out is copied
    report = (out / "protocol-digits" / "protocol.md").read_text()
    lead = report.splitlines()[2]  # the verdict, right under the title
    assert lead.startswith("At equal k, ") and " on NMI: " in lead and "pooled standard deviations" in lead \
        or "over 2 runs each" in lead, lead
    assert "- **initial** (4 trials): " in report and "- **candidates**: trial " in report
    assert "- **final** (2 trials): DC-SOMRL NMI " in report
    assert any("published values" in line for line in report.splitlines()[:6])  # right under the lead
    assert any("Spearman" in line for line in report.splitlines()[:6])
    for section in ("## Table 1, measured", "## Table 2: initial, adjusted, best", "## What each stage found",
                    "## The robust best", "## Validation curves", "## Time per stage"):
        assert section in report
    assert (out / "protocol-digits" / "fig6_a_t.png").stat().st_size > 0
    assert (out / "protocol-digits" / "fig7_validation.png").stat().st_size > 0

    assert main(argv) == 0  # resume: every stage is finished, nothing trains again
    again = capsys.readouterr().out
    assert again.count("(resumed;") == 6 and "worker(s) on" not in again
    assert len(_trials(out, "protocol-digits-final")) == 2


def test_a_stage_that_fails_stops_the_chain_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_TRIAL_FAIL_ALPHA", "0")  # every trial diverges
    out = tmp_path / "results"
    code = main(["protocol", "--dataset", "digits", *TINY, "--results", str(out),
                 "--model", "standin"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("dcsomrl-study: protocol stage initial (study protocol-digits-standin-initial): no "
                              "trial completed")  # the default name says the model when it is not dcsomrl
    assert not (out / "protocol-digits-standin-adjusted").exists()  # the chain stopped


def test_the_protocol_with_a_stand_in_trial_names_the_a_t_effect(tmp_path, capsys):
    """The fake trial's NMI rises with a_t only: 30 initial points find it, refine narrows a_t, the
    robust best sits high in a_t's range."""
    out = tmp_path / "results"
    assert main(["protocol", "--dataset", "digits", "--initial-n", "30", "--adjusted-n", "10", "--seeds", "2",
                 "--results", str(out), "--devices", "cpu", "--no-importance", "--model", FAKE]) == 0
    sens = pd.read_csv(out / "protocol-digits-standin-at-initial" / "analysis" / "sensitivity.csv")
    flagged = sens.loc[sens["significant"] & (sens["outcome"] == "nmi"), "parameter"].tolist()
    assert flagged == ["a_t"]
    refined = load_space(out / "protocol-digits-standin-at-initial" / "refined.toml").dims["a_t"]
    assert refined.low > 0.9  # narrowed toward the high end of [0.9, 0.9999]
    best = load_space(out / "protocol-digits-standin-at-candidates" / "best.toml").dims["a_t"]
    assert refined.low <= best.value <= refined.high
    report = (out / "protocol-digits-standin-at" / "protocol.md").read_text()
    assert "a_t increasing for nmi" in report


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    for option, value in (("--initial-n", "0"), ("--candidates", "0"), ("--seed", "-1"), ("--outcome", "loss"),
                          ("--baselines", "kmeans,foo"), ("--batch-size", "0"), ("--final-epochs", "0"),
                          ("--fidelity-n", "-1"), ("--incumbent", "no-such-space.toml"),
                          ("--ablation-seeds", "0"), ("--ablation-seeds", "11")):
        code = main(["protocol", "--dataset", "digits", option, value, "--results", str(tmp_path)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and option in err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_robust_best_from_the_best_command(tmp_path, capsys):
    out = str(tmp_path / "results")
    common = ["--dataset", "digits", "--devices", "cpu", "--results", out, "--model", FAKE]
    assert main(["lhs", "--n", "8", "--space", "initial", "--study", "s", *common]) == 0
    assert main(["best", "--study", "s", "--results", out, "--candidates", "2", "--candidate-seeds", "2",
                 "--devices", "cpu", "--incumbent", "none"]) == 0
    printed = capsys.readouterr().out
    assert "robust best" in printed and "| candidate |" in printed
    assert len(_trials(out, "s-candidates")) == 4
    with pytest.raises(SystemExit):
        main(["best", "--table", "x.csv", "--candidates"])  # needs a value


# ----- the robust best's pieces ------------------------------------------------------------------

def test_candidates_share_the_same_seeds_and_rank_by_their_mean():
    from studies.space import resolve_space

    space = resolve_space("initial", "digits")
    cands = [(7, {"a_t": 0.99}), (3, {"a_t": 0.95})]
    design, points = C.candidate_design(space, cands, 3, 5, "digits", None)
    assert points == [cands[0][1]] * 3 + [cands[1][1]] * 3
    assert design["seeds"][:3] == design["seeds"][3:] and len(set(design["seeds"])) == 3  # common seeds
    table = pd.DataFrame({"state": ["COMPLETE"] * 5 + ["FAIL"], "design_index": range(6),
                          "nmi": [0.5, 0.6, 0.4, 0.7, 0.8, np.nan]})
    ranked = C.rank_candidates(table, cands, 3, "nmi")
    assert ranked["trial"].tolist() == [3, 7]  # candidate 1: mean 0.75 of 2 runs beats 0.5 of 3
    assert ranked["runs"].tolist() == [2, 3] and ranked["nmi_mean"].iloc[0] == pytest.approx(0.75)
    none = C.rank_candidates(table.assign(state="FAIL"), cands, 3, "nmi")
    with pytest.raises(AnalysisError, match="no candidate"):
        C.robust_best_space(none, space, "nmi")


def test_the_ranking_reads_trials_as_integers_and_values_to_six_digits():
    ranked = pd.DataFrame({"candidate": [0, 1], "source": ["trial 3", C.INCUMBENT], "trial": [3.0, np.nan],
                           "runs": [3, 3], "nmi_mean": [0.58012, 0.55], "nmi_std": [0.0031, np.nan],
                           "a_t": [0.999884, 0.99], "n_max": [82, 100], "repel": ["radial", "radial"]})
    cells = C.ranked_text(ranked)
    assert cells["trial"].tolist() == ["3", "–"] and cells["nmi_mean"].tolist() == ["0.5801", "0.5500"]
    assert cells["nmi_std"].tolist() == ["0.0031", "–"] and cells["a_t"].tolist() == ["0.999884", "0.99"]
    assert cells["n_max"].tolist() == ["82", "100"] and cells["runs"].tolist() == [3, 3]
    assert ranked["a_t"].iloc[0] == 0.999884  # the ranking itself is left as it was


# ----- the report's tables -----------------------------------------------------------------------

def test_table2_and_the_verdicts():
    from studies.space import resolve_space

    initial = resolve_space("initial", "mnist")
    best = resolve_space("best", "mnist")
    t2 = R.table2({"initial": initial, "adjusted": None, "best": best}, {"best": best})
    row = t2.set_index("parameter").loc["a_t"]
    assert row["initial (paper)"].startswith("[0.95, 0.999]") and row["adjusted (paper)"] == "–"
    assert row["best (this run)"] == row["best (paper)"]
    final = pd.DataFrame([
        {"method": "DC-SOMRL", "source": "this study", "nmi_mean": 0.55, "purity_mean": 0.86},
        {"method": "k-means (k = nodes), raw inputs", "source": "this study", "nmi_mean": 0.60, "purity_mean": 0.88},
        {"method": "SOMRL", "source": "paper, reference", "nmi_mean": 0.521, "purity_mean": 0.884}])
    lines = R.verdicts(final)
    assert lines[0].startswith("DC-SOMRL against the paper's SOMRL: NMI +0.029, Purity -0.024")
    assert "k = nodes" in lines[1] and "NMI -0.050" in lines[1]


def test_stage_times_measure_wall_and_trial_time():
    start = pd.Timestamp("2026-01-01 10:00:00")
    table = pd.DataFrame({"state": ["COMPLETE", "FAIL"], "seconds": [60.0, 30.0], "host": ["h", "h"],
                          "device": ["cpu", "cuda:0"],
                          "datetime_start": [start, start + pd.Timedelta(minutes=1)],
                          "datetime_complete": [start + pd.Timedelta(minutes=1), start + pd.Timedelta(minutes=3)]})
    row = R.stage_times({"initial": table}).iloc[0]
    assert (row["trials"], row["complete"], row["wall_minutes"], row["trial_minutes"]) == (2, 1, 3.0, 1.5)
    assert row["devices"] == "h:cpu, h:cuda:0"


def test_stage_wall_time_leaves_out_a_trial_lost_with_its_worker():
    """The lost trial started before a session ended and was closed when the next session found it,
    10 hours later: its interval would charge those hours; its retry's minutes count."""
    t, m = pd.Timestamp("2026-01-01 10:00:00"), pd.Timedelta(minutes=1)
    table = pd.DataFrame({"state": ["COMPLETE", "FAIL", "COMPLETE"], "seconds": [60.0, np.nan, 120.0],
                          "reason": [None, "worker died: pid 7 on host h", None], "host": "h", "device": "cpu",
                          "datetime_start": [t, t + m, t + 600 * m],
                          "datetime_complete": [t + m, t + 600 * m, t + 602 * m]})
    row = R.stage_times({"final": table}).iloc[0]
    assert (row["trials"], row["complete"], row["wall_minutes"], row["trial_minutes"]) == (3, 2, 3.0, 3.0)


def test_stage_wall_time_skips_the_hours_between_sessions():
    t = pd.Timestamp("2026-01-01 10:00:00")
    m = pd.Timedelta(minutes=1)
    starts = pd.Series([t, t + 2 * m, t + 600 * m, t + 601 * m, pd.NaT])  # resumed 10 h later
    ends = pd.Series([t + 5 * m, t + 3 * m, t + 605 * m, t + 610 * m, pd.NaT])  # the last never ran
    assert R.busy_seconds(starts, ends) == (5 + 10) * 60
    assert np.isnan(R.busy_seconds(pd.Series([pd.NaT]), pd.Series([pd.NaT])))


def test_the_protocol_studies_desom_over_its_own_spaces(tmp_path, capsys):
    """--model desom: DE-SOM's shipped initial space, refined and fixed like dcsomrl's; the report runs
    with no a_t and no paper Table 2 column (that table is DC-SOMRL's)."""
    out = tmp_path / "results"
    tiny = ["--initial-n", "4", "--adjusted-n", "3", "--candidates", "1", "--candidate-seeds", "1", "--seeds", "1",
            *TINY[TINY.index("--epochs"):]]
    assert main(["protocol", "--dataset", "digits", "--model", "desom", *tiny, "--baselines", "kmeans,standin",
                 "--results", str(out)]) == 0
    capsys.readouterr()
    initial = open_study("protocol-digits-desom-initial", None, str(out)).user_attrs["design"]
    assert initial["model"] == "desom" and initial["space_name"] == "digits-initial"
    refined = load_space(out / "protocol-digits-desom-initial" / "refined.toml")
    best = load_space(out / "protocol-digits-desom-candidates" / "best.toml")
    assert refined.model == best.model == "desom" and "T_max" in best.dims and "a_t" not in best.dims
    final = pd.read_csv(out / "protocol-digits-desom-final" / "final.csv")
    assert final["method"].tolist()[:3] == ["DE-SOM", "standin", "k-means (64), raw inputs"]  # --baselines
    assert final.loc[0, "runs"] == 1 and final.loc[1, "runs"] == 1
    assert final.loc[0, "nodes_mean"] <= 64 and final.loc[0, "epochs"] == "1"
    report = (out / "protocol-digits-desom" / "protocol.md").read_text()
    assert "## Table 1, measured" in report and "| DE-SOM | this study | 1 |" in report
    assert R.paper_spaces("mnist", "desom") == {"initial": None, "adjusted": None, "best": None}
    assert R.paper_spaces("mnist", "somrl")["best"].name == "mnist-best"


# ----- the paper's budget: fidelity, the incumbent, the ablation -----------------------------------

def _fidelity_run(tmp_path, monkeypatch, reverse: bool) -> tuple[pd.DataFrame, str]:
    if reverse:
        monkeypatch.setenv("FAKE_REVERSE_ABOVE_EPOCHS", "1")  # 2 final epochs reverse a_t's effect
    out = tmp_path / ("reverse" if reverse else "hold")
    assert main(["protocol", "--dataset", "digits", "--initial-n", "12", "--adjusted-n", "4", "--candidates", "1",
                 "--candidate-seeds", "2", "--seeds", "2", "--epochs", "1", "--final-epochs", "2",
                 "--fidelity-n", "6", "--results", str(out), "--devices", "cpu", "--no-importance",
                 "--model", FAKE, "--name", "protocol-digits"]) == 0
    return (pd.read_csv(out / "protocol-digits-fidelity" / "fidelity.csv"),
            (out / "protocol-digits" / "protocol.md").read_text())


def test_fidelity_says_when_the_screening_ranking_holds_at_the_final_budget(tmp_path, monkeypatch, capsys):
    table, report = _fidelity_run(tmp_path, monkeypatch, reverse=False)
    assert len(table) == 6 and table["screening_rank"].tolist() == table["final_rank"].tolist()
    assert "Spearman ρ = 1.00" in report and "stays in the top half" in report
    assert "ranks points as the final budget does" in report


def test_fidelity_says_when_the_final_budget_reverses_the_ranking(tmp_path, monkeypatch, capsys):
    table, report = _fidelity_run(tmp_path, monkeypatch, reverse=True)
    assert len(table) == 6 and (table["final_rank"] == 7 - table["screening_rank"]).all()
    assert "Spearman ρ = -1.00" in report and "does not stay in the top half" in report
    assert "does not carry over" in report


def test_fidelity_points_spread_over_the_outcome_and_the_result_has_known_answers():
    from analysis.fidelity import fidelity_points, fidelity_result, top_region_size

    table = pd.DataFrame({"state": ["COMPLETE"] * 9 + ["FAIL"], "number": range(10),
                          "nmi": [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, np.nan]})
    picked = fidelity_points(table, "nmi", 3)
    assert picked["nmi"].tolist() == [0.9, 0.5, 0.1]  # best, middle, worst
    assert len(fidelity_points(table, "nmi", 20)) == 9
    assert [top_region_size(n) for n in (2, 8, 9, 30)] == [2, 2, 3, 8]
    same = fidelity_result(pd.Series([1.0, 2, 3, 4]), pd.Series([10.0, 20, 30, 40]), "nmi")
    assert same.rho == pytest.approx(1.0) and same.top_holds and same.n == 4
    swapped = fidelity_result(pd.Series([1.0, 2, 3, 4]), pd.Series([40.0, 30, 20, np.nan]), "nmi")
    assert swapped.n == 3 and swapped.rho == pytest.approx(-1.0) and not swapped.top_holds


def test_the_incumbent_is_a_candidate_and_the_verdict_says_by_how_much():
    from studies.space import resolve_space

    space = resolve_space("adjusted", "mnist")
    published = C.incumbent_values("best", "mnist", "dcsomrl", {"batch_size": 256, "epochs": 30})
    assert published["a_t"] == 0.99425 and published["beta"] == 0.067  # Table 2's best, as printed
    assert C.incumbent_values("best", "my-data.npz", "dcsomrl", {}) is None  # no published values there
    assert C.incumbent_values("none", "mnist", "dcsomrl", {}) is None
    cands = [(4, {**published, "a_t": 0.995}), (None, published)]
    design, _ = C.candidate_design(space, cands, 2, 0, "mnist", 30)
    widened = C.covering(space, [published])
    assert widened.dims["beta"].low == 0.067 and widened.dims["gamma"].low == 1.382  # outside the adjusted ranges
    assert design["space"] == widened.to_dict() and design["candidates"][1] == {"candidate": 1, "trial": None}
    # candidate 0 over seeds (0, 1): 0.60, 0.62; the incumbent: 0.55, 0.58
    table = pd.DataFrame({"state": "COMPLETE", "design_index": range(4), "nmi": [0.60, 0.62, 0.55, 0.58]})
    ranked = C.rank_candidates(table, cands, 2, "nmi")
    assert ranked["source"].tolist() == ["trial 4", "incumbent"]
    paired = C.paired_difference(table, ranked, 2, "nmi")
    assert paired["diff_mean"] == pytest.approx(0.045) and paired["pairs"] == 2 and paired["wins"] == 2
    text = C.incumbent_verdict(ranked, paired, "nmi")
    assert text.startswith("The study beat the published values") and "+0.045 ± 0.007" in text
    best = C.robust_best_space(ranked, space, "nmi")
    assert best.dims["a_t"].value == 0.995 and "trial 4" in best.description
    # when the incumbent has the best mean, it is the answer: never worse than the published values
    worse = table.assign(nmi=[0.50, 0.52, 0.55, 0.58])
    ranked = C.rank_candidates(worse, cands, 2, "nmi")
    assert ranked["source"].iloc[0] == "incumbent"
    assert C.robust_best_space(ranked, space, "nmi").dims["beta"].value == 0.067
    assert C.incumbent_verdict(ranked, C.paired_difference(worse, ranked, 2, "nmi"), "nmi").startswith(
        "The study did not beat the published values")


def test_best_candidates_takes_the_incumbent(tmp_path, capsys):
    out = str(tmp_path / "results")
    common = ["--dataset", "digits", "--devices", "cpu", "--results", out, "--model", FAKE]
    assert main(["lhs", "--n", "8", "--space", "initial", "--study", "s", *common]) == 0
    assert main(["best", "--study", "s", "--results", out, "--candidates", "2", "--candidate-seeds", "2",
                 "--devices", "cpu", "--incumbent", "best"]) == 0
    printed = capsys.readouterr().out
    assert "incumbent" in printed and len(_trials(out, "s-candidates")) == 6  # 2 candidates + the incumbent


def test_a_resumed_stage_keeps_the_space_it_recorded(tmp_path, capsys):
    """If the analysis now refines otherwise (here: another --level), the adjusted stage that exists resumes
    over its recorded space, says so, and trains nothing again."""
    out = tmp_path / "results"
    argv = ["protocol", "--dataset", "digits", "--initial-n", "12", "--adjusted-n", "4", "--candidates", "1",
            "--candidate-seeds", "1", "--seeds", "1", "--epochs", "1", "--final-epochs", "1", "--fidelity-n", "0",
            "--results", str(out), "--devices", "cpu", "--no-importance", "--model", FAKE, "--name", "protocol-digits"]
    assert main(argv) == 0
    before = open_study("protocol-digits-adjusted", None, str(out)).user_attrs["design"]["space"]
    capsys.readouterr()
    assert main([*argv, "--level", "0.9"]) == 0
    printed = capsys.readouterr().out
    refined = load_space(out / "protocol-digits-initial" / "refined.toml")
    assert refined.to_dict()["params"] != before["params"]  # the analysis now refines otherwise
    assert "stage adjusted resumes over the space it recorded" in printed
    assert len(_trials(out, "protocol-digits-adjusted")) == 4


def test_the_budget_note_names_what_varied():
    from analysis.budget import budget_differs, budget_note, varying_budget
    from studies.space import resolve_space

    table = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "FAIL"], "batch_size": [16, 256, 64],
                          "epochs": [3, 3, 30], "alpha": [0.1, 0.2, 0.3]})
    assert varying_budget(table) == ["batch_size"]  # epochs differ only in a failed trial
    assert budget_note(table).startswith("`batch_size` varies in this study: it is the budget")
    assert budget_note(table.assign(batch_size=256)) is None
    assert budget_differs(resolve_space("initial", "mnist"), {"batch_size": 256, "epochs": 30})  # screening varies
    assert not budget_differs(resolve_space("adjusted", "mnist"), {"batch_size": 256, "epochs": 30})
    assert budget_differs(resolve_space("adjusted", "mnist"), {"batch_size": 256, "epochs": 3})
