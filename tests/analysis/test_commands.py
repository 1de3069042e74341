"""analyze / refine / best on the command line: from a CSV table and from a real (journal) study."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis.testfunctions import synthetic_table
from dcsomrl_study.cli import main


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 24-point study over the paper's initial space, run in-process with the stand-in model standin-at."""
    from studies import storage as st
    from studies import study as sy
    from studies.design import sample
    from studies.space import resolve_space
    from studies.storage import quiet_optuna
    from studies.drain import run_worker

    quiet_optuna()
    results = tmp_path_factory.mktemp("results")
    name = "fake"
    space = resolve_space("initial", "mnist")
    design = sy.design_attrs(space, 24, 0, "mnist", model="standin-at")
    url = st.default_url(name, results)
    sy.create_or_resume(st.open_storage(url), name, design, sample(space, 24, 0).to_dict("records"))
    run_worker(name, url, out=results, log=lambda msg: None)
    return name, url, results


def test_analyze_a_study(study, capsys):
    name, url, results = study
    assert main(["analyze", "--study", name, "--storage", url, "--results", str(results), "--outcomes", "nmi",
                 "--no-importance"]) == 0
    out = results / name / "analysis"
    text = (out / "report.md").read_text()
    answer = text[:text.index("## Figures")]
    assert "**a_t**: increasing" in answer  # the fake trial's only influential parameter
    assert "FAIL" in answer  # the alpha > 0.8 trials, counted and left out
    assert (out / "scatter_nmi.png").exists() and not (out / "scatter_purity.png").exists()
    assert "wrote" in capsys.readouterr().out


def test_analyze_draws_the_spaces_scales(study, tmp_path, monkeypatch):
    from analysis import report

    name, url, results = study
    seen, write = [], report.write_report
    monkeypatch.setattr(report, "write_report", lambda *a, **k: seen.append(k["scales"]) or write(*a, **k))
    common = ["--no-importance", "--outcomes", "nmi"]
    assert main(["analyze", "--study", name, "--storage", url, "--results", str(results),
                 "--out", str(tmp_path / "s"), *common]) == 0
    assert seen[-1]["lr"] == "log" and seen[-1]["a_t"] == "log1m"  # the study's own space (initial)
    table = tmp_path / "t.csv"
    assert main(["export", "--study", name, "--storage", url, "--out", str(table)]) == 0
    assert main(["analyze", "--table", str(table), "--out", str(tmp_path / "t"), *common]) == 0
    assert seen[-1] == {}  # a CSV table alone: linear axes
    assert main(["analyze", "--table", str(table), "--space", "initial", "--out", str(tmp_path / "u"), *common]) == 0
    assert seen[-1]["lr"] == "log"


def test_refine_and_best_a_study(study, monkeypatch):
    from analysis import sensitivity
    from studies.space import load_space

    name, url, results = study
    calls, analyze = [], sensitivity.analyze
    monkeypatch.setattr(sensitivity, "analyze", lambda *a, **k: calls.append(1) or analyze(*a, **k))
    assert main(["refine", "--study", name, "--storage", url, "--results", str(results)]) == 0
    assert len(calls) == 1  # the plan and the refined space come from one analysis
    refined = load_space(results / name / "refined.toml")
    assert not refined.dims["a_t"].fixed and refined.dims["a_t"].low > 0.95
    assert not refined.dims["lr"].fixed  # no evidence: the range is kept, not pinned
    assert main(["best", "--study", name, "--storage", url, "--results", str(results),
                 "--out", str(results / "b.toml")]) == 0
    assert all(d.fixed for d in load_space(results / "b.toml").dims.values())


def test_analyze_refine_best_from_a_csv_table(tmp_path, capsys):
    t = synthetic_table(40, 1).rename(columns={"y": "nmi"}).assign(purity=lambda d: d["nmi"] / 2)
    path = tmp_path / "trials.csv"
    t.to_csv(path, index=False)
    assert main(["analyze", "--table", str(path), "--params", "lin,mono,ushape,null1",
                 "--no-importance"]) == 0
    sens = pd.read_csv(tmp_path / "trials-analysis" / "sensitivity.csv")
    assert set(sens["parameter"]) == {"lin", "mono", "ushape", "null1"}
    capsys.readouterr()
    # a CSV table carries no space: refine needs --space
    assert main(["refine", "--table", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dcsomrl-study: error: ") and "--space" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["analyze", "--table", "no/such.csv"], "no such table file"),
    (["analyze", "--study", "nope", "--storage", "journal:///{tmp}/j.log"], "no study"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_empty_table_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("a_t,nmi,purity\n")
    assert main(["analyze", "--table", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "empty" in capsys.readouterr().err


def test_best_offers_no_rules_it_would_ignore(tmp_path, capsys):
    t = synthetic_table(12, 0).rename(columns={"y": "nmi"})
    t.to_csv(tmp_path / "t.csv", index=False)
    for flag in ("--alpha", "--behavioural-quantile"):
        with pytest.raises(SystemExit) as exit_:
            main(["best", "--table", str(tmp_path / "t.csv"), flag, "0.5"])
        assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_registering_the_commands_loads_no_heavy_library():
    """``dcsomrl-study --help`` builds every parser: analysis' part must not import pandas, numpy or torch."""
    import subprocess
    import sys

    code = ("import argparse, sys; import analysis.commands as a, analysis.inspect.command as i; "
            "sub = argparse.ArgumentParser().add_subparsers(); a.add_commands(sub); i.add_commands(sub); "
            "print(sorted(m for m in ('pandas', 'numpy', 'torch', 'optuna', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("flags", [["--behavioural-quantile", "1.5"], ["--level", "0"], ["--control", "holm"]])
def test_a_refused_flag_leaves_no_folder_behind(tmp_path, capsys, flags):
    path = tmp_path / "trials.csv"
    synthetic_table(20, 0).rename(columns={"y": "nmi"}).to_csv(path, index=False)
    out = tmp_path / "never"
    assert main(["analyze", "--table", str(path), "--outcomes", "nmi", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dcsomrl-study: ") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_text_cell_in_a_csv_is_named_not_turned_into_choices(tmp_path, capsys):
    t = synthetic_table(20, 0).rename(columns={"y": "nmi"})
    t["lin"] = t["lin"].astype(object)
    t.loc[3, "lin"] = "abc"
    path = tmp_path / "trials.csv"
    t.to_csv(path, index=False)
    assert main(["analyze", "--table", str(path), "--outcomes", "nmi", "--no-importance"]) == 2
    err = capsys.readouterr().err
    assert "parameter column lin: trial 3 holds 'abc'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "trials-analysis").exists()
