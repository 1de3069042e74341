"""Known answers of the final round's data functions: hand-made runs in, exact tables and text out.

analysis.final_table (the table as data), analysis.final_report (its Markdown and files),
analysis.kmeans (the cache, the equal-k counts), analysis.paper, analysis.formatting.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis import kmeans as K
from analysis.final_report import display_table, markdown, write_final
from analysis.final_table import (COLUMNS, RUN_COLUMNS, THIS_STUDY, FinalTable, degenerate_notes, run_table,
                                  summarize, tabulate)
from analysis.formatting import budget_text, epochs_text, mean_std, seeds_text
from analysis.paper import PAPER, paper_key, paper_rows

NAN = float("nan")


def _trials() -> pd.DataFrame:
    """Four trials of the studied model: three COMPLETE (one collapsed to one node), one FAIL."""
    return pd.DataFrame({"state": ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"], "number": [0, 1, 2, 3],
                         "seed": [5, 6, 7, 8], "purity": [0.5, 0.7, None, 0.1], "nmi": [0.4, 0.6, None, 0.0],
                         "ami": [0.3, 0.5, None, 0.0], "ari": [0.2, 0.4, None, 0.0], "n_nodes": [10, 20, None, 1],
                         "epochs": [3, 3, 3, 3], "seconds": [1.0, 3.0, None, 2.0]})


def _kmeans_runs() -> pd.DataFrame:
    return pd.DataFrame({"seed": [5, 6], "purity": [0.6, 0.8], "nmi": [0.5, 0.5], "ami": [0.4, 0.4],
                         "ari": [0.3, 0.3], "n_nodes": [12, 12], "seconds": [0.5, 0.5]})


# ----- the table ---------------------------------------------------------------------------------

def test_summarize_gives_exact_means_stds_and_the_means_without_degenerate_runs():
    row = summarize(_trials(), "DC-SOMRL", dataset="digits", n_classes=10, n_test=100)
    assert (row["method"], row["source"], row["dataset"], row["runs"]) == ("DC-SOMRL", THIS_STUDY, "digits", 3)
    assert row["purity_mean"] == pytest.approx(0.4333333333) and row["purity_std"] == pytest.approx(0.3055050463)
    assert row["nodes_mean"] == pytest.approx(31 / 3) and row["seconds_mean"] == pytest.approx(2.0)
    assert row["epochs"] == "3"
    assert (row["degenerate"], row["degenerate_note"]) == (1, "1 of 3 seeds collapsed to one node")
    assert row["purity_mean_without"] == pytest.approx(0.6) and row["purity_std_without"] == pytest.approx(0.1414213562)
    assert row["nmi_mean_without"] == pytest.approx(0.5) and row["ari_std_without"] == pytest.approx(0.1414213562)


def test_tabulate_computes_the_table_the_runs_and_the_notes():
    final = tabulate(_trials(), [("k-means (4), raw inputs", _kmeans_runs())], dataset="mnist", title="t",
                     n_classes=10, n_test=100, context=["what ran"], values={"a_t": 0.99}, notes=["a note"])
    assert isinstance(final, FinalTable) and (final.title, final.context, final.values) == ("t", ("what ran",),
                                                                                            {"a_t": 0.99})
    assert list(final.table.columns) == COLUMNS
    assert final.table["method"].tolist() == ["DC-SOMRL", "k-means (4), raw inputs", "k-means (64)", "SOM-VAE (64)",
                                              "DE-SOM (64)", "SOMRL"]
    assert final.table["source"].tolist() == [THIS_STUDY, THIS_STUDY, PAPER, PAPER, PAPER, PAPER]
    assert final.table["runs"].tolist() == [3, 2, 10, 10, 10, 10]
    assert final.table.loc[1, "purity_mean"] == pytest.approx(0.7) and final.table.loc[1, "nmi_std"] == 0.0
    assert final.table.loc[1, "epochs"] == "–" and final.table.loc[1, "degenerate"] == 0
    assert final.notes == ("a note", "DC-SOMRL: 1 of 3 seeds collapsed to one node (kept in the means above); "
                                     "without them (2 runs): Purity 0.600 ± 0.141, NMI 0.500 ± 0.141, "
                                     "AMI 0.400 ± 0.141, ARI 0.300 ± 0.141")
    assert final.runs.equals(run_table(_trials(), [("k-means (4), raw inputs", _kmeans_runs())]))


def test_run_table_lists_every_complete_run_with_integer_ids():
    runs = run_table(_trials(), [("km", _kmeans_runs())], model="M")
    assert list(runs.columns) == RUN_COLUMNS
    assert runs["method"].tolist() == ["M", "M", "M", "km", "km"]
    assert runs["seed"].tolist() == [5, 6, 8, 5, 6] and str(runs["seed"].dtype) == "Int64"
    assert runs["number"].tolist()[:3] == [0, 1, 3] and runs["number"].isna().tolist()[3:] == [True, True]
    assert runs["n_nodes"].tolist() == [10, 20, 1, 12, 12] and runs["purity"].tolist() == [0.5, 0.7, 0.1, 0.6, 0.8]
    assert runs["epochs"].tolist()[:3] == [3, 3, 3] and runs["epochs"].isna().tolist()[3:] == [True, True]


def test_degenerate_notes_only_for_rows_with_degenerate_runs():
    table = pd.DataFrame([{"method": "A", "runs": 4, "degenerate": 0},
                          {"method": "B", "runs": 4, "degenerate": 2, "degenerate_note": "2 of 4 seeds collapsed",
                           "purity_mean_without": 0.5, "purity_std_without": 0.1, "nmi_mean_without": 0.25,
                           "nmi_std_without": NAN, "ami_mean_without": NAN, "ami_std_without": NAN,
                           "ari_mean_without": 0.125, "ari_std_without": 0.0}])
    assert degenerate_notes(table) == ["B: 2 of 4 seeds collapsed (kept in the means above); without them (2 runs): "
                                       "Purity 0.500 ± 0.100, NMI 0.250, AMI –, ARI 0.125 ± 0.000"]
    assert degenerate_notes(pd.DataFrame({"method": ["A"]})) == []  # an old final.csv without the column


# ----- the page and the files --------------------------------------------------------------------

def _two_rows() -> pd.DataFrame:
    return pd.DataFrame([
        {"method": "DC-SOMRL", "source": THIS_STUDY, "runs": 3, "purity_mean": 0.75, "purity_std": 0.05,
         "nmi_mean": 0.5, "nmi_std": NAN, "ami_mean": 0.25, "ami_std": 0.0125, "ari_mean": NAN, "ari_std": NAN,
         "nodes_mean": 31.25, "nodes_std": 2.0, "epochs": "3–5", "seconds_mean": 12.0, "seconds_std": 1.25},
        {"method": "SOMRL", "source": PAPER, "runs": 10, "purity_mean": 0.884, "purity_std": 0.014,
         "nmi_mean": 0.521, "nmi_std": 0.007, "nodes_mean": NAN, "nodes_std": NAN, "epochs": NAN}])


def test_display_table_writes_each_cell_as_mean_and_std():
    shown = display_table(_two_rows())
    assert list(shown.columns) == ["method", "source", "runs", "Purity", "NMI", "AMI", "ARI", "nodes", "epochs",
                                   "seconds"]
    assert shown.iloc[0].tolist() == ["DC-SOMRL", THIS_STUDY, "3", "0.750 ± 0.050", "0.500", "0.250 ± 0.013", "–",
                                      "31.2 ± 2.0", "3–5", "12.0 ± 1.2"]
    assert shown.iloc[1].tolist() == ["SOMRL", PAPER, "10", "0.884 ± 0.014", "0.521 ± 0.007", "–", "–", "–", "–",
                                      "–"]


def test_markdown_renders_the_final_table_and_its_words():
    final = FinalTable(_two_rows().iloc[:1], "Final runs on digits", context=("Study `s`: two seeds.",),
                       values={"a_t": 0.99885, "repel": "paper"}, notes=("one note",))
    lines = markdown(final).split("\n")
    assert lines[:2] == ["# Final runs on digits", ""] and lines[3:6] == ["", "Study `s`: two seeds.", ""]
    assert lines[6:8] == ["| method | source | runs | Purity | NMI | AMI | ARI | nodes | epochs | seconds |",
                          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    assert lines[8] == "| DC-SOMRL | this study | 3 | 0.750 ± 0.050 | 0.500 | 0.250 ± 0.013 | – | 31.2 ± 2.0 | 3–5 " \
                       "| 12.0 ± 1.2 |"
    assert lines[9:12] == ["", "How each row was measured:", ""] and "n_init=1" in lines[14]
    assert lines[-12:] == ["", "Notes:", "", "- one note", "", "## Fixed values", "", "| parameter | value |",
                           "| --- | --- |", "| a_t | 0.99885 |", "| repel | paper |", ""]
    bare = markdown(FinalTable(_two_rows().iloc[:1], "t")).split("\n")
    assert bare[3] == "" and bare[4].startswith("| method |") and "Notes:" not in bare and bare[-1] == ""


def test_write_final_writes_the_csvs_and_the_page(tmp_path):
    final = tabulate(_trials(), [("km", _kmeans_runs())], dataset="digits", title="t", notes=["n"])
    csv_path, md_path = write_final(final, tmp_path / "out")
    assert (csv_path, md_path) == (tmp_path / "out" / "final.csv", tmp_path / "out" / "final.md")
    assert csv_path.read_text() == final.table.to_csv(index=False)
    assert (tmp_path / "out" / "final_runs.csv").read_text() == final.runs.to_csv(index=False)
    assert md_path.read_text() == markdown(final)


# ----- the k-means cache, the paper, the formats -------------------------------------------------

def test_the_kmeans_rows_come_back_from_the_cache_for_the_same_trials(tmp_path):
    trials = _trials()
    rows = [(m, _kmeans_runs().assign(number=pd.NA)) for m in K.baseline_methods(4)]
    run_table(trials, rows).to_csv(tmp_path / "final_runs.csv", index=False)
    assert K.cached_baselines(tmp_path, trials, 4) is None  # no notes written yet: not a finished run
    assert K.save_notes(tmp_path, ["a note"]) == tmp_path / "baseline_notes.json"
    cached, notes = K.cached_baselines(tmp_path, trials, 4)
    assert [m for m, _ in cached] == K.baseline_methods(4) and notes == ["a note"]
    assert cached[0][1]["seed"].tolist() == [5, 6] and cached[0][1]["purity"].tolist() == [0.6, 0.8]
    assert K.cached_baselines(tmp_path, trials, 8) is None  # other k: other rows
    assert K.cached_baselines(tmp_path, trials.iloc[:2], 4) is None  # other trials
    assert K.kmeans_rows(False, tmp_path, trials, None, [5, 6], 4, "DC-SOMRL") == ([], [])


def test_equal_k_counts_and_row_names():
    assert K.node_counts(_trials()) == {5: 10, 6: 20, 8: 1}  # COMPLETE trials only
    assert K.baseline_methods(64) == ["k-means (64), raw inputs", "k-means (64), latent codes",
                                      "k-means (k = nodes), raw inputs", "k-means (k = nodes), latent codes"]


def test_the_paper_rows_as_printed():
    assert paper_key(" Fashion-MNIST ") == "fashion-mnist" and paper_key("digits") is None
    first = paper_rows("fashion-mnist")[0]
    assert {k: v for k, v in first.items() if k != "nodes_std"} == {
        "method": "k-means (64)", "source": PAPER, "dataset": "fashion-mnist", "runs": 10, "purity_mean": 0.703,
        "purity_std": 0.002, "nmi_mean": 0.492, "nmi_std": 0.001, "nodes_mean": 64}
    assert math.isnan(first["nodes_std"]) and [r["method"] for r in paper_rows("mnist")][-1] == "SOMRL"


def test_the_number_formats():
    assert mean_std(0.7, 0.2) == "0.700 ± 0.200" and mean_std(31.25, 2.0, 1) == "31.2 ± 2.0"
    assert mean_std(0.5, None) == "0.500" and mean_std(None, 0.1) == "–"
    assert epochs_text(pd.Series([3, None, 5])) == "3–5" and epochs_text(pd.Series([], dtype=float)) == "–"
    assert budget_text({"batch_size": 256, "epochs": 30}) == "batch_size 256, epochs 30" and budget_text({}) == ""
    assert seeds_text(range(10)) == "10 seeds (0..9)" and seeds_text((5,)) == "1 seed (5)"
