"""final: the seed design, mean ± std, k-means baselines, the paper's Table 1 rows, the command end to end."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import final as F
from analysis import final_table as T
from analysis import kmeans as K
from analysis import seeds as S
from analysis.final_report import markdown
from analysis.formatting import epochs_text, mean_std
from analysis.paper import PAPER, paper_rows
from analysis.errors import AnalysisError, check_count
from dcsomrl_study.cli import main
from studies.export import open_study
from studies.space import load_space, resolve_space

FAKE = "standin-at"  # dcsomrl.standins.a_t_trial: NMI rises with a_t alone


# ----- summaries ---------------------------------------------------------------------------------

def test_summary_is_mean_and_sample_std_of_complete_runs():
    runs = pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"],
                         "purity": [0.5, 0.7, None, 0.9], "nmi": [1.0, 2.0, None, 3.0],
                         "n_nodes": [10, 20, None, 30]})
    row = T.summarize(runs, "m", dataset="d")
    assert row["runs"] == 3 and row["method"] == "m" and row["source"] == T.THIS_STUDY
    assert row["purity_mean"] == pytest.approx(0.7) and row["purity_std"] == pytest.approx(0.2)  # ddof 1
    assert row["nmi_mean"] == pytest.approx(2.0) and row["nmi_std"] == pytest.approx(1.0)
    assert row["nodes_mean"] == pytest.approx(20.0) and row["nodes_std"] == pytest.approx(10.0)
    one = T.summarize(runs.iloc[:1], "m")
    assert one["purity_mean"] == 0.5 and math.isnan(one["purity_std"])  # std of one run: undefined
    assert mean_std(0.7, 0.2) == "0.700 ± 0.200"
    assert mean_std(0.5, float("nan")) == "0.500" and mean_std(float("nan"), 0.1) == "–"


# ----- the seed design ---------------------------------------------------------------------------

def test_seed_design_repeats_the_fixed_values_with_distinct_seeds():
    space = resolve_space("best", "digits")
    design = S.seed_design(space, 5, first_seed=7)
    assert list(design.columns) == [*space.names, "seed"]
    assert design["seed"].tolist() == [7, 8, 9, 10, 11]
    values = {n: d.value for n, d in space.dims.items()}
    assert design[space.names].to_dict("records") == [values] * 5
    from dcsomrl.params import ParameterError  # run-level values: one registry, one error type

    with pytest.raises(ParameterError, match="--seeds"):
        S.seed_design(space, 0)
    with pytest.raises(ParameterError, match="--seed "):
        S.seed_design(space, 2, first_seed=-1)


def test_a_space_with_ranges_is_refused_naming_its_parameters(tmp_path, capsys):
    space = resolve_space("best", "digits")
    partly = load_space(_write(tmp_path / "partly.toml", space, a_t={"type": "float", "low": 0.9, "high": 0.99},
                               repel={"type": "categorical", "choices": ["symmetric", "paper"]}))
    with pytest.raises(AnalysisError) as err:
        S.seed_design(partly, 3)
    message = str(err.value)
    assert "a_t, repel" in message and "lr" not in message and len(message.splitlines()) == 1
    # the command refuses before it creates anything
    assert main(["final", "--space", str(tmp_path / "partly.toml"), "--dataset", "digits",
                 "--results", str(tmp_path / "results")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.startswith("dcsomrl-study: error: ") and "a_t, repel" in err_text
    assert len(err_text.strip().splitlines()) == 1 and not (tmp_path / "results").exists()


def _write(path, space, **override):
    from studies.space import parse_space, write_space

    doc = space.to_dict()
    doc["params"].update(override)
    return write_space(parse_space(doc, str(path)), path)


def test_default_study_name_identifies_the_values():
    space = resolve_space("best", "digits")
    name = F.default_study_name("digits", space, 10, 0)
    assert name.startswith("final-digits-") and name.endswith("-n10-s0")
    assert F.default_study_name("digits", space, 10, 0, epochs=2) == name + "-e2"
    other = space.with_fixed(a_t=0.95)
    assert F.default_study_name("digits", other, 10, 0) != name


def test_explicit_seeds_are_enqueued_and_part_of_the_design(tmp_path):
    from studies import storage as st
    from studies import study as sy
    from studies.errors import StudyError

    space = resolve_space("best", "digits")
    points = S.seed_design(space, 3, 5)
    design = sy.design_attrs(space, 3, 5, "digits", seeds=points["seed"].tolist())
    storage = st.open_storage(f"journal://{tmp_path}/j.log")
    study, created = sy.create_or_resume(storage, "f", design, points[space.names].to_dict("records"))
    assert created and [t.user_attrs["seed"] for t in study.get_trials()] == [5, 6, 7]
    assert [t.user_attrs["design_index"] for t in study.get_trials()] == [0, 1, 2]
    again = sy.design_attrs(space, 3, 6, "digits", seeds=[6, 7, 8])
    with pytest.raises(StudyError, match="different design"):
        sy.create_or_resume(storage, "f", again, points[space.names].to_dict("records"))
    with pytest.raises(StudyError, match="distinct"):
        sy.design_attrs(space, 3, 0, "digits", seeds=[1, 1, 2])
    assert "seeds" not in sy.design_attrs(space, 3, 0, "digits")  # lhs designs are unchanged


# ----- k-means baselines -------------------------------------------------------------------------

def _blobs(n_per=30, seed=0):
    """Three far-apart Gaussian blobs in 2-D, labels 0, 1, 2; half for training, half for testing."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.normal(0, 0.3, (n_per, 2)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    half = len(y) // 2
    from dcsomrl.data import Dataset

    return Dataset("blobs", torch.from_numpy(x[:half]), torch.from_numpy(y[:half]),
                   torch.from_numpy(x[half:]), torch.from_numpy(y[half:]))


def test_kmeans_baseline_on_a_tiny_dataset():
    data = _blobs()
    three = K.kmeans_scores(data.x_train, data.x_test, data.y_test, k=3, seed=0)
    assert three == {"purity": 1.0, "nmi": pytest.approx(1.0), "ami": pytest.approx(1.0), "ari": pytest.approx(1.0),
                     "n_nodes": 3}
    one = K.kmeans_scores(data.x_train, data.x_test, data.y_test, k=1, seed=0)
    share = np.bincount(data.y_test.numpy()).max() / len(data.y_test)
    assert one["purity"] == pytest.approx(share) and one["nmi"] == pytest.approx(0.0)
    assert one["ami"] == pytest.approx(0.0, abs=1e-12) and one["ari"] == pytest.approx(0.0)
    runs = K.kmeans_raw(data, [3, 4], k=2)
    assert runs["seed"].tolist() == [3, 4] and (runs["n_nodes"] == 2).all()
    assert ((runs["purity"] > share) & (runs["purity"] < 1)).all()  # two clusters: one blob pair shares one
    per_seed = K.kmeans_raw(data, [3, 4, 5], k={3: 3, 5: 1})  # k = each seed's node count; 4 has none
    assert per_seed["seed"].tolist() == [3, 5] and per_seed["n_nodes"].tolist() == [3, 1]
    assert per_seed["purity"].tolist()[0] == 1.0
    with pytest.raises(AnalysisError, match="--k"):
        K.kmeans_scores(data.x_train, data.x_test, data.y_test, k=len(data.x_train) + 1)


@pytest.mark.parametrize("value", [0, 9, True, 2.0, "3", None])
def test_a_count_outside_its_range_is_one_line_naming_the_option(value):
    with pytest.raises(AnalysisError) as caught:
        check_count("--k", value, 8, "the training rows")
    assert str(caught.value) == f"--k must be an integer in [1, 8] (the training rows), got {value!r}"


def test_a_count_in_range_comes_back_as_an_int():
    assert check_count("--k", np.int64(8), 8, "rows") == 8 and type(check_count("--k", 1, 8, "rows")) is int


def test_latent_kmeans_skips_trials_without_a_run_directory(tmp_path):
    trials = pd.DataFrame({"state": ["COMPLETE", "FAIL"], "number": [0, 1], "seed": [0, 1],
                           "run_dir": [str(tmp_path / "missing"), None]})
    runs, notes = K.kmeans_latent(trials, _blobs(), k=2)
    assert runs.empty and len(notes) == 1 and "trial 0" in notes[0]  # the FAIL trial is not even looked at


# ----- the paper's Table 1 -----------------------------------------------------------------------

@pytest.mark.parametrize("dataset, kmeans_purity", [("mnist", 0.791), ("fashion-mnist", 0.703), ("MNIST", 0.791)])
def test_paper_rows_for_mnist_and_fashion_mnist(dataset, kmeans_purity):
    trials = pd.DataFrame({"state": ["COMPLETE"], "purity": [0.8], "nmi": [0.5], "n_nodes": [70]})
    runs = pd.DataFrame({"seed": [0], "purity": [0.7], "nmi": [0.4], "n_nodes": [64]})
    table = T.final_table(trials, [("k-means (64), raw inputs", runs), ("k-means (64), latent codes", runs)],
                          dataset=dataset)
    paper = table[table["source"] == PAPER]
    assert paper["method"].tolist() == ["k-means (64)", "SOM-VAE (64)", "DE-SOM (64)", "SOMRL"]
    assert paper.iloc[0]["purity_mean"] == kmeans_purity
    assert math.isnan(paper.iloc[2]["purity_std"])  # DE-SOM: no std in the paper
    ours = table[table["source"] == T.THIS_STUDY]
    assert ours["method"].tolist() == ["DC-SOMRL", "k-means (64), raw inputs", "k-means (64), latent codes"]
    md = markdown(T.FinalTable(table, "t"))
    assert "| SOM-VAE (64) | paper, reference | 10 |" in md
    mnist_somrl = "| SOMRL | paper, reference | 10 | 0.884 ± 0.014 | 0.521 ± 0.007 | – | – | – |"
    assert (mnist_somrl in md) == (dataset != "fashion-mnist")


def test_no_paper_rows_for_digits():
    trials = pd.DataFrame({"state": ["COMPLETE"], "purity": [0.8], "nmi": [0.5], "n_nodes": [70]})
    runs = pd.DataFrame({"seed": [0], "purity": [0.7], "nmi": [0.4], "n_nodes": [64]})
    table = T.final_table(trials, [("k-means (16), raw inputs", runs), ("k-means (16), latent codes", runs)],
                          dataset="digits")
    assert len(table) == 3 and (table["source"] == T.THIS_STUDY).all()
    assert "paper, reference |" not in markdown(T.FinalTable(table, "t"))
    assert paper_rows("data/mine.npz") == []


# ----- end to end --------------------------------------------------------------------------------

def test_final_on_digits_end_to_end(tmp_path, capsys):
    """Two seeds, one epoch each, with the real trainer, through local workers; the old --out still works."""
    out = tmp_path / "results"
    assert main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--seed", "3",
                 "--epochs", "1", "--k", "16", "--devices", "cpu", "--study", "fin", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "wrote" in printed.out and "--out is deprecated" in printed.err
    table = pd.read_csv(out / "fin" / "final.csv")
    ablation = table[table["method"].str.contains("AE alone|AE-alone")]  # what the clustering loss adds
    assert ablation["method"].tolist() == ["AE alone (α = 0)", "k-means (16), AE-alone codes",
                                           "k-means (k = nodes), AE-alone codes"] and (ablation["runs"] == 2).all()
    # resumed when finished: the AE-alone k-means is read back, not fitted again on the encoders pruned since
    assert main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--seed", "3",
                 "--epochs", "1", "--k", "16", "--devices", "cpu", "--study", "fin", "--results", str(out)]) == 0
    again = pd.read_csv(out / "fin" / "final.csv")
    assert again[again["method"].str.contains("AE-alone")]["runs"].tolist() == [2, 2]
    assert "holds no autoencoder" not in (out / "fin" / "final.md").read_text()
    alphas = {t.params["alpha"] for t in open_study("fin-ablation", None, str(out)).get_trials(deepcopy=False)}
    assert alphas == {0.0} and "study `fin-ablation`" in (out / "fin" / "final.md").read_text()
    table = table.drop(ablation.index).reset_index(drop=True)
    assert table["method"].tolist() == ["DC-SOMRL", "k-means (16), raw inputs", "k-means (16), latent codes",
                                        "k-means (k = nodes), raw inputs", "k-means (k = nodes), latent codes"]
    assert table["runs"].tolist() == [2, 2, 2, 2, 2] and (table["dataset"] == "digits").all()
    # one epoch may leave a seed's map at one node (NMI 0), so only the k-means rows must have NMI > 0
    assert table["purity_mean"].between(0.1, 1).all() and table["nmi_mean"].ge(0).all()
    assert table["nmi_mean"].iloc[1:].gt(0).all()
    assert table["nodes_mean"].tolist()[1:3] == [16, 16]
    assert table["nodes_mean"].iloc[3] == table["nodes_mean"].iloc[0] == table["nodes_mean"].iloc[4]  # equal k
    assert table[["ami_mean", "ari_mean"]].iloc[1:].notna().all().all()
    runs = pd.read_csv(out / "fin" / "final_runs.csv")
    assert sorted(runs.loc[runs["method"] == "DC-SOMRL", "seed"]) == [3, 4]
    latent = runs[runs["method"] == "k-means (16), latent codes"]
    assert sorted(latent["seed"]) == [3, 4] and latent["number"].notna().all()
    raw = runs[runs["method"] == "k-means (16), raw inputs"]
    assert not np.allclose(latent["nmi"].to_numpy(), raw["nmi"].to_numpy())  # not the same inputs
    md = (out / "fin" / "final.md").read_text()
    assert "| DC-SOMRL | this study | 2 |" in md and "paper, reference" not in md.split("How each row")[0]
    assert "| epochs | 1 |" in md
    assert main(["final", "--space", "best", "--dataset", "digits", "--seeds", "1", "--epochs", "1", "--k", "16",
                 "--devices", "cpu", "--study", "plain", "--results", str(out), "--ablation", "none"]) == 0
    assert not pd.read_csv(out / "plain" / "final.csv")["method"].str.contains("AE alone").any()
    assert not (out / "plain-ablation").exists()


def test_the_chain_analyze_refine_lhs_best_final(tmp_path, capsys):
    """lhs -> analyze -> refine -> lhs --space -> best -> final, with the fast stand-in trial function."""
    out = str(tmp_path / "results")
    common = ["--dataset", "digits", "--devices", "cpu", "--results", out, "--model", FAKE]
    assert main(["lhs", "--n", "12", "--space", "initial", "--study", "s1", *common]) == 0
    src = ["--study", "s1", "--results", out]
    assert main(["analyze", *src, "--no-importance", "--outcomes", "nmi"]) == 0
    assert main(["refine", *src]) == 0
    refined = tmp_path / "results" / "s1" / "refined.toml"
    assert main(["lhs", "--n", "6", "--space", str(refined), "--study", "s2", *common]) == 0
    assert main(["best", "--study", "s2", "--results", out]) == 0
    best = tmp_path / "results" / "s2" / "best.toml"
    assert all(d.fixed for d in load_space(best).dims.values())
    capsys.readouterr()
    argv = ["final", "--space", str(best), "--seeds", "3", "--k", "8", "--study", "fin", *common]
    assert main(argv) == 0
    table = pd.read_csv(tmp_path / "results" / "fin" / "final.csv")
    assert table["runs"].tolist() == [3, 3, 0, 3, 0]  # the stand-in trains no encoder: no latent codes
    assert "no run directory" in (tmp_path / "results" / "fin" / "final.md").read_text()
    # re-running resumes the finished study: nothing is trained again
    assert main(argv) == 0
    assert "resumed" in capsys.readouterr().out
    from studies.export import open_study

    study = open_study("fin", None, out)
    assert len(study.trials) == 3 and sorted(t.user_attrs["seed"] for t in study.trials) == [0, 1, 2]


# ----- model baselines (--baselines) -------------------------------------------------------------

def test_baseline_names_are_checked_and_kept_in_order():
    assert F.check_baselines("kmeans, desom,somvae,desom") == ("kmeans", "desom", "somvae")
    assert F.check_baselines(["somvae"]) == ("somvae",) and F.check_baselines("") == ()
    with pytest.raises(AnalysisError, match=r"unknown baseline 'dec'; choose from kmeans, dcsomrl") as err:
        F.check_baselines("kmeans,dec")
    assert len(str(err.value).splitlines()) == 1


def test_a_baseline_trains_its_shipped_best_values_or_its_defaults():
    from dcsomrl.params import defaults_for

    mnist = F.baseline_space("desom", "mnist", None)
    assert mnist.name == "mnist-best" and S.fixed_values(mnist)["iterations"] == 10_000
    assert F.baseline_label("desom", mnist) == "DE-SOM (64)"  # as the paper's Table 1 names it
    assert F.baseline_label("somvae", F.baseline_space("somvae", "fashion-mnist", None)) == "SOM-VAE (64)"
    same = F.baseline_space("somvae", "mnist", 5)  # final --epochs: the baselines train as many
    assert S.fixed_values(same)["epochs"] == 5
    mine = F.baseline_space("desom", "data/mine.npz", None)  # no shipped space: the model's defaults
    assert mine.name == "desom-defaults" and S.fixed_values(mine) == defaults_for("digits", "desom")
    assert F.baseline_label("standin", F.baseline_space("standin", "digits", None)) == "standin"


def test_training_epochs_of_each_run():
    runs = pd.DataFrame({"epochs": [5, 0, 0], "iterations": [10, 10_000, 600], "batch_size": [256, 256, 100]})
    assert T.trained_epochs(runs, 60_000).tolist() == [5.0, pytest.approx(42.7), 1.0]
    assert T.trained_epochs(pd.DataFrame({"purity": [0.5]}), 10).isna().all()
    assert epochs_text(pd.Series([30, 30])) == "30" and epochs_text(pd.Series([3, 5])) == "3–5"
    assert epochs_text(pd.Series([42.667])) == "42.7" and epochs_text(pd.Series([None])) == "–"


def test_final_with_model_baselines_over_the_same_seeds(tmp_path, capsys):
    """--baselines kmeans,standin-at: the stand-in baseline runs as <study>-standin-at over the same seeds,
    beside the k-means rows, in one table; re-running trains nothing again."""
    out = tmp_path / "results"
    args = ["final", "--space", "best", "--dataset", "digits", "--seeds", "3", "--seed", "4", "--model", "standin",
            "--baselines", "kmeans,standin-at", "--k", "8", "--devices", "cpu", "--study", "fb",
            "--results", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| method | source | runs | Purity | NMI | AMI | ARI | nodes | epochs | seconds |" in printed
    table = pd.read_csv(out / "fb" / "final.csv")
    assert table["method"].tolist()[:3] == ["standin", "standin-at", "k-means (8), raw inputs"]
    assert table["runs"].tolist()[:2] == [3, 3] and table["epochs"].tolist()[:3] == ["30", "30", "–"]
    assert table["seconds_mean"].iloc[:3].notna().all() and (table["seconds_mean"].iloc[:3] >= 0).all()
    runs = pd.read_csv(out / "fb" / "final_runs.csv")
    for method in ("standin", "standin-at", "k-means (8), raw inputs"):
        assert sorted(runs.loc[runs["method"] == method, "seed"]) == [4, 5, 6], method
    from studies import export

    baseline = export.study_table(export.open_study("fb-standin-at", None, str(out)))
    assert sorted(baseline["seed"]) == [4, 5, 6] and (baseline["state"] == "COMPLETE").all()
    assert export.open_study("fb-standin-at", None, str(out)).user_attrs["design"]["model"] == "standin-at"
    md = (out / "fb" / "final.md").read_text()
    assert "standin-at: study `fb-standin-at`, space `digits-best`" in md
    assert main(args) == 0  # resumed: both studies finished, nothing is trained again
    again = capsys.readouterr()
    assert "(created;" not in again.out and again.out.count("(resumed;") == 2
    assert "fb-standin-at: done 3/3 · running 0" in again.err
    assert len(export.study_table(export.open_study("fb-standin-at", None, str(out)))) == 3


def test_an_unknown_baseline_stops_final_before_any_study(tmp_path, capsys):
    code = main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--model", "standin",
                 "--baselines", "kmeans,desom2", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "unknown baseline 'desom2'" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_the_ablation_over_fewer_seeds_says_its_runs(tmp_path, capsys):
    """--ablation-seeds 1 of --seeds 2: the AE alone trains the first seed only; its rows say 1 run, the
    studied model's 2, and the note names the seeds."""
    out = tmp_path / "results"
    assert main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--seed", "5", "--epochs", "1",
                 "--k", "8", "--devices", "cpu", "--study", "few", "--results", str(out),
                 "--ablation-seeds", "1"]) == 0
    table = pd.read_csv(out / "few" / "final.csv").set_index("method")
    assert table.loc["DC-SOMRL", "runs"] == 2
    assert table.loc[["AE alone (α = 0)", "k-means (8), AE-alone codes"], "runs"].tolist() == [1, 1]
    runs = pd.read_csv(out / "few" / "final_runs.csv")
    assert runs.loc[runs["method"] == "AE alone (α = 0)", "seed"].tolist() == [5]
    assert "codes), over 1 seed (5)" in (out / "few" / "final.md").read_text()


@pytest.mark.parametrize("extra, message", [(["--ablation-seeds", "3"], "--ablation-seeds must be an integer in [1, 2]"),
                                            (["--ablation-seeds", "1", "--ablation", "none"], "needs the ablation")])
def test_bad_ablation_seeds_stop_final_before_any_study(tmp_path, capsys, extra, message):
    code = main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--results", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_a_baseline_with_failed_seeds_is_reported_with_a_note(tmp_path, capsys, monkeypatch):
    """The studied model completes every seed, the baseline none (every standin trial diverges): the
    baseline's row says 0 runs and the notes say which study fell short and by how many seeds."""
    monkeypatch.setenv("FAKE_TRIAL_FAIL_ALPHA", "0")  # standin diverges; standin-at ignores it
    out = tmp_path / "results"
    code = main(["final", "--space", "best", "--dataset", "digits", "--seeds", "2", "--model", FAKE,
                 "--baselines", "standin", "--devices", "cpu", "--study", "fn", "--results", str(out)])
    capsys.readouterr()
    assert code in (0, 1)
    table = pd.read_csv(out / "fn" / "final.csv")
    assert table["runs"].tolist()[:2] == [2, 0]
    md = (out / "fn" / "final.md").read_text()
    assert "standin: 0 of 2 seeds completed (2 failed, 0 not finished); see dcsomrl-study status " \
           "--study fn-standin" in md
    assert f"{FAKE}: 0 of" not in md and "of 2 seeds completed" not in md.replace("standin: 0 of 2", "")


def test_incomplete_notes_count_failed_and_unfinished_seeds():
    full = {"n": 3, "complete": 3, "running": 0, "waiting": 0, "failed": 0}
    assert F.incomplete_notes("DE-SOM (64)", "s-desom", full) == []
    part = {**full, "complete": 1, "running": 1, "failed": 1}
    assert F.incomplete_notes("DE-SOM (64)", "s-desom", part) == [
        "DE-SOM (64): 1 of 3 seeds completed (1 failed, 1 not finished); see dcsomrl-study status --study s-desom"]
