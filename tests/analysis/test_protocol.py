"""The protocol command (analysis/protocol.py, analysis/protocol_report.py): every stage, resume, failure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import protocol as P
from analysis import protocol_report as R
from analysis.errors import AnalysisError
from dcsomrl_study.cli import main
from studies.export import open_study
from studies.space import load_space

FAKE = "standin-at"  # dcsomrl.standins.a_t_trial: NMI rises with a_t alone
TINY = ["--initial-n", "4", "--adjusted-n", "3", "--candidates", "2", "--candidate-seeds", "2", "--seeds", "2",
        "--epochs", "1", "--final-epochs", "1", "--devices", "cpu", "--no-importance"]


def _trials(results, name):
    return open_study(name, None, str(results)).get_trials(deepcopy=False)


def test_digits_protocol_runs_every_stage_to_the_end_and_resumes(tmp_path, capsys):
    """The real trainer, tiny: each stage is a finished study with its outputs; a re-run trains nothing."""
    out = tmp_path / "results"
    argv = ["protocol", "--dataset", "digits", *TINY, "--results", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for step, stage in enumerate(P.STAGES, 1):
        assert f"stage {step}/4: {stage}" in printed
    sizes = {"initial": 4, "adjusted": 3, "candidates": 4, "final": 2}
    for stage, n in sizes.items():
        trials = _trials(out, f"protocol-digits-{stage}")
        assert len(trials) == n and all(t.state.name == "COMPLETE" for t in trials)
        assert all(t.user_attrs.get("ami") is not None for t in trials)  # AMI/ARI recorded on every trial
    for stage in ("initial", "adjusted"):
        assert (out / f"protocol-digits-{stage}" / "analysis" / "report.md").is_file()
    refined = load_space(out / "protocol-digits-initial" / "refined.toml")
    adjusted_design = open_study("protocol-digits-adjusted", None, str(out)).user_attrs["design"]
    assert adjusted_design["space"] == refined.to_dict()  # the adjusted LHS ran over the refined space
    ranked = pd.read_csv(out / "protocol-digits-candidates" / "candidates.csv")
    assert len(ranked) == 2 and (ranked["runs"] == 2).all()
    assert ranked["nmi_mean"].iloc[0] >= ranked["nmi_mean"].iloc[1]
    best = load_space(out / "protocol-digits-candidates" / "best.toml")
    assert all(d.fixed for d in best.dims.values()) and "robust best" in best.description
    final = pd.read_csv(out / "protocol-digits-final" / "final.csv")
    assert final["method"].tolist()[0] == "DC-SOMRL" and "k-means (k = nodes), raw inputs" in final["method"].tolist()
    assert final.loc[0, "runs"] == 2 and final[["ami_mean", "ari_mean"]].iloc[1:].notna().all().all()
    report = (out / "protocol-digits" / "protocol.md").read_text()
    lead = report.splitlines()[2]  # the verdict, right under the title
    assert lead.startswith("At equal k, ") and " on NMI: " in lead and "pooled standard deviations" in lead \
        or "over 2 runs each" in lead, lead
    assert "- **initial** (4 trials): " in report and "- **candidates**: trial " in report
    assert "- **final** (2 trials): DC-SOMRL NMI " in report
    for section in ("## Table 1, measured", "## Table 2: initial, adjusted, best", "## What each stage found",
                    "## The robust best", "## Validation curves", "## Time per stage"):
        assert section in report
    assert (out / "protocol-digits" / "fig6_a_t.png").stat().st_size > 0
    assert (out / "protocol-digits" / "fig7_validation.png").stat().st_size > 0

    assert main(argv) == 0  # resume: every stage is finished, nothing trains again
    again = capsys.readouterr().out
    assert again.count("(resumed;") == 4 and "worker(s) on" not in again
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
                          ("--baselines", "kmeans,foo")):
        code = main(["protocol", "--dataset", "digits", option, value, "--results", str(tmp_path)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and option in err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_robust_best_from_the_best_command(tmp_path, capsys):
    out = str(tmp_path / "results")
    common = ["--dataset", "digits", "--devices", "cpu", "--results", out, "--model", FAKE]
    assert main(["lhs", "--n", "8", "--space", "initial", "--study", "s", *common]) == 0
    assert main(["best", "--study", "s", "--results", out, "--candidates", "2", "--candidate-seeds", "2",
                 "--devices", "cpu"]) == 0
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
    design, points = P.candidate_design(space, cands, 3, 5, "digits", None)
    assert points == [cands[0][1]] * 3 + [cands[1][1]] * 3
    assert design["seeds"][:3] == design["seeds"][3:] and len(set(design["seeds"])) == 3  # common seeds
    table = pd.DataFrame({"state": ["COMPLETE"] * 5 + ["FAIL"], "design_index": range(6),
                          "nmi": [0.5, 0.6, 0.4, 0.7, 0.8, np.nan]})
    ranked = P.rank_candidates(table, cands, 3, "nmi")
    assert ranked["trial"].tolist() == [3, 7]  # candidate 1: mean 0.75 of 2 runs beats 0.5 of 3
    assert ranked["runs"].tolist() == [2, 3] and ranked["nmi_mean"].iloc[0] == pytest.approx(0.75)
    none = P.rank_candidates(table.assign(state="FAIL"), cands, 3, "nmi")
    with pytest.raises(AnalysisError, match="no candidate"):
        P.robust_best_space(none, space, "nmi")


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
