"""Issue 20, replayed: every bad input and fault it lists, as a table of cases.

Each refused case asserts its exit code, exactly one line on stderr naming the
problem, and that every file under the test's folder (the user's files, the
study's journal and run directories) is byte-identical afterwards: a refused
command writes nothing. Cases that now succeed with a notice assert that notice.
Then the journal damage round trip: truncate / append garbage -> every command
refuses in one line -> ``repair`` keeps a backup and drops only the partial last
record -> ``lhs`` resumes with no complete trial lost. Studies use the stand-in
models (``standin``), so the whole file runs in seconds of CPU.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from optuna.trial import TrialState

from dcsomrl_study.cli import main
from studies import storage as st
from studies import study as sy
from tests.studies.helpers import STANDIN, make_study

NAME = "s"


# ----- fixtures of the cases ---------------------------------------------------------------------

def results(tmp: Path) -> Path:
    return tmp / "results"


def journal(tmp: Path, name: str = NAME) -> Path:
    return results(tmp) / name / "journal.log"


def a_study(tmp: Path) -> None:
    """A finished 3-point study of the stand-in model, with a run directory per trial."""
    make_study(results(tmp), NAME, n=3)


def truncated(tmp: Path) -> None:
    """The study's journal with its last 25 bytes cut off (a crash or a full disk mid-write)."""
    a_study(tmp)
    data = journal(tmp).read_bytes()
    journal(tmp).write_bytes(data[:-25])


def garbage(tmp: Path) -> None:
    """The study's journal with a garbage line appended."""
    a_study(tmp)
    with open(journal(tmp), "ab") as f:
        f.write(b"this is not a record\n")


def damaged_middle(tmp: Path) -> None:
    """The study's journal with its third record replaced by garbage, records after it intact."""
    a_study(tmp)
    lines = journal(tmp).read_bytes().split(b"\n")
    lines[2] = b'{"op_code": 5, "worker_id'
    journal(tmp).write_bytes(b"\n".join(lines))


def journal_deleted(tmp: Path) -> None:
    """The study's run directories without its journal (deleted by hand)."""
    a_study(tmp)
    journal(tmp).unlink()


def users_folder(tmp: Path) -> None:
    """A study, and a folder of the user's holding their own report.md and a figure."""
    a_study(tmp)
    (tmp / "mine").mkdir()
    (tmp / "mine" / "report.md").write_text("my own notes\n")
    (tmp / "mine" / "mcf_custom.png").write_bytes(b"\x89PNG user figure")


def existing_file(tmp: Path) -> None:
    """A study and a file of the user's, mine.toml."""
    a_study(tmp)
    (tmp / "mine.toml").write_text("# the user's own space\n")


def a_folder(tmp: Path) -> None:
    a_study(tmp)
    (tmp / "outdir").mkdir()


def final_study(tmp: Path) -> None:
    """A study of fixed values over listed seeds (what final and the robust best make)."""
    from analysis.seeds import fixed_values
    from studies.space import resolve_space

    space = resolve_space("best", "digits")
    design = sy.design_attrs(space, 2, 0, "digits", model=STANDIN, seeds=[0, 1])
    url = st.default_url("f", results(tmp))
    sy.create_or_resume(st.open_storage(url), "f", design, [fixed_values(space)] * 2)


def csv(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / "t.csv").write_text(text)
    return write


def space_file(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / "sp.toml").write_text(text)
    return write


def nothing(tmp: Path) -> None:
    pass


# ----- the cases ---------------------------------------------------------------------------------

R = "{results}"
LHS = ["lhs", "--n", "3", "--dataset", "digits", "--space", "adjusted", "--devices", "cpu", "--study", NAME,
       "--results", R, "--model", STANDIN]
TINY_PROTOCOL = ["protocol", "--dataset", "digits", "--model", STANDIN, "--devices", "cpu", "--results", R,
                 "--no-importance"]
CSV_ROWS = "".join(f"{0.1 + i / 10},{0.9 + (i * 7 % 12) / 150},{0.2 + (i * i % 11) / 20},{0.3 + (i * 5 % 13) / 30}\n"
                   for i in range(12))


@dataclass
class Case:
    """One bad input: how to set it up, the command, the exit code and what its one stderr line says."""

    issue: str                    # the issue's case number and what it was
    setup: Callable[[Path], None]
    argv: list[str]
    code: int
    says: tuple[str, ...]
    never: tuple[str, ...] = ()   # what the line must not say
    extra: list[str] = field(default_factory=list)


CASES = [
    # 1. a damaged journal: every command that opens it says which file and record, and appends nothing
    *(Case(f"1 truncated journal: {argv[0]}", truncated, argv, 2, ("journal.log", "last record (line", "repair")) for argv in (
        ["status", "--study", NAME, "--results", R],
        ["export", "--study", NAME, "--results", R, "--out", "{tmp}/x.csv"],
        LHS,
        ["worker", "--study", NAME, "--results", R, "--device", "cpu"],
        ["extend", "--study", NAME, "--n", "2", "--results", R, "--devices", "cpu"],
        ["analyze", "--study", NAME, "--results", R, "--no-importance"],
    )),
    *(Case(f"1 garbage appended: {argv[0]}", garbage, argv, 2, ("journal.log", "is not a whole JSON record")) for argv in (
        ["status", "--study", NAME, "--results", R], LHS)),
    Case("1 damaged record in the middle: repair refuses", damaged_middle,
         ["repair", "--study", NAME, "--results", R], 2, ("journal.log", "line 3", "restore")),
    Case("1 damaged record in the middle: status refuses", damaged_middle,
         ["status", "--study", NAME, "--results", R], 2, ("journal.log", "line 3")),
    # 2. a deleted journal, then lhs: the run directories are not overwritten
    Case("2 lhs over run directories of no study", journal_deleted, LHS, 2,
         ("holds run directories of no study", "--force")),
    # 3. analyze --out into the user's folder
    Case("3 analyze --out into a folder with the user's report.md", users_folder,
         ["analyze", "--study", NAME, "--results", R, "--out", "{tmp}/mine", "--no-importance"], 2,
         ("report.md", "no earlier analyze wrote", "--force")),
    # 4. refine/best --out over an existing file, export --out and --curves the same file
    Case("4 refine --out an existing file", existing_file,
         ["refine", "--study", NAME, "--results", R, "--out", "{tmp}/mine.toml"], 2, ("mine.toml exists", "--force")),
    Case("4 best --out an existing file", existing_file,
         ["best", "--study", NAME, "--results", R, "--out", "{tmp}/mine.toml"], 2, ("mine.toml exists", "--force")),
    Case("4 export --out and --curves the same file", a_study,
         ["export", "--study", NAME, "--results", R, "--out", "{tmp}/same.csv", "--curves", "{tmp}/same.csv"], 2,
         ("--out and --curves name the same file",)),
    # 5. a refused lhs appends nothing to the journal (the snapshot compares its bytes)
    *(Case(f"5 lhs refused ({flag} {value})", a_study, [*LHS, flag, value], 2, ("already holds a different design",))
      for flag, value in (("--seed", "7"), ("--space", "initial"))),
    Case("5 lhs refused (--n 4)", a_study, [a if a != "3" else "4" for a in LHS], 2, ("already holds a different design",)),
    # 7. a duplicated column
    Case("7 a duplicated column in a CSV table", csv("alpha,a_t,nmi,purity,alpha\n" + "".join(
        r.rstrip("\n") + ",0.5\n" for r in CSV_ROWS.splitlines(keepends=True))),
         ["analyze", "--table", "{tmp}/t.csv", "--no-importance"], 2, ("column 'alpha' appears twice",)),
    # 8. silent changes
    Case("8 best --candidates more than the study has", a_study,
         ["best", "--study", NAME, "--results", R, "--candidates", "99", "--devices", "cpu"], 2,
         ("--candidates 99", "only 3 COMPLETE")),
    Case("8 --study ''", nothing, [*LHS[:-5], "", *LHS[-4:]], 2, ("argument --study", "study name ''")),
    Case("8 a bound written as text", space_file('[params.a_t]\ntype = "float"\nlow = "0.95"\nhigh = 0.999\n'),
         ["lhs", "--n", "3", "--dataset", "digits", "--space", "{tmp}/sp.toml", "--results", R], 2,
         ("parameter a_t", "low='0.95' is text")),
    Case("8 --epochs and --set epochs", nothing,
         ["train", "--dataset", "digits", "--epochs", "1", "--set", "epochs=3", "--out", "{tmp}/run"], 2,
         ("epochs given twice",)),
    Case("8 an option prefix", nothing, ["lhs", "--n", "3", "--dataset", "digits", "--epoch", "1"], 2,
         ("unrecognized arguments: --epoch",)),
    # 9. internal errors
    Case("9 extend on a final study", final_study,
         ["extend", "--study", "f", "--n", "2", "--results", R, "--devices", "cpu"], 2,
         ("fixed values over listed seeds",), never=("internal error",)),
    # 10. protocol options checked before the first trial
    Case("10 protocol --adjusted-n 2", nothing, [*TINY_PROTOCOL, "--adjusted-n", "2"], 2,
         ("--adjusted-n 2", "at least 3")),
    Case("10 protocol --final-epochs 0", nothing, [*TINY_PROTOCOL, "--final-epochs", "0"], 2, ("--final-epochs",)),
    Case("10 protocol --candidates above --adjusted-n", nothing,
         [*TINY_PROTOCOL, "--adjusted-n", "4", "--candidates", "5"], 2, ("--candidates 5 exceeds --adjusted-n 4",)),
    Case("10 protocol --k above the training rows", nothing, [*TINY_PROTOCOL, "--k", "100000"], 2,
         ("--k 100000 exceeds",)),
    # 11. misleading messages
    Case("11 export --out a folder, with --force", a_folder,
         ["export", "--study", NAME, "--results", R, "--out", "{tmp}/outdir", "--force"], 2, ("is a folder",),
         never=("--force to overwrite",)),
    Case("11 a semicolon-separated CSV", csv("alpha;a_t;nmi;purity\n" + CSV_ROWS.replace(",", ";")),
         ["analyze", "--table", "{tmp}/t.csv", "--no-importance"], 2, ("separated by ';'",),
         never=("not in the table",)),
]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (what a refused command must leave as it was)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(argv: list[str], tmp: Path, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    try:
        code = main([a.replace(R, str(results(tmp))).replace("{tmp}", str(tmp)) for a in argv])
    except SystemExit as exc:  # a usage error (argparse)
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("case", CASES, ids=[c.issue for c in CASES])
def test_a_bad_input_is_one_line_and_changes_no_file(case: Case, tmp_path, capsys):
    case.setup(tmp_path)
    before = snapshot(tmp_path)
    code, err = run_cli(case.argv, tmp_path, capsys)
    assert code == case.code, err
    assert len(err) == 1, err
    assert "Traceback" not in err[0] and "…" not in err[0] and not err[0].endswith("...")
    for text in case.says:
        assert text in err[0], err[0]
    for text in case.never:
        assert text not in err[0], err[0]
    assert snapshot(tmp_path) == before  # nothing written, nothing deleted, the journal included


# ----- cases that now go on, with a notice ----------------------------------------------------------

def test_2_lhs_force_takes_over_the_orphaned_run_directories(tmp_path, capsys):
    journal_deleted(tmp_path)
    code, _ = run_cli([*LHS, "--force"], tmp_path, capsys)
    assert code == 0 and journal(tmp_path).is_file()


def test_3_analyze_removes_only_its_own_files(tmp_path, capsys):
    users_folder(tmp_path)
    argv = ["analyze", "--study", NAME, "--results", R, "--out", "{tmp}/mine", "--no-importance", "--force"]
    code, _ = run_cli(argv, tmp_path, capsys)
    mine = tmp_path / "mine"
    assert code == 0 and (mine / "mcf_custom.png").read_bytes() == b"\x89PNG user figure"
    assert (mine / "report.md").read_text().startswith("# Sensitivity report")  # --force: overwritten
    written = json.loads((mine / ".dcsomrl-written.json").read_text())["files"]
    assert "report.md" in written and "mcf_custom.png" not in written and "mcf_nmi.png" in written
    (mine / "mcf_nmi.png").write_bytes(b"stale")  # a file of the last run: the next run replaces it
    (mine / "later.txt").write_text("the user's, added later")
    code, _ = run_cli(argv[:-1], tmp_path, capsys)  # no --force needed over its own files
    assert code == 0 and (mine / "later.txt").read_text() == "the user's, added later"
    assert (mine / "mcf_custom.png").is_file() and (mine / "mcf_nmi.png").read_bytes() != b"stale"


def test_8_a_space_file_without_type_is_read_with_a_notice(tmp_path, capsys):
    from studies.space import load_space

    path = tmp_path / "sp.toml"
    path.write_text("[params.a_t]\nlow = 0.95\nhigh = 0.999\n")
    capsys.readouterr()
    space = load_space(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert space.dims["a_t"].type == "float"
    assert len(err) == 1 and "no 'type' given for a_t as float" in err[0]


def test_9_an_inf_parameter_cell_is_dropped_with_a_note_not_an_internal_error(tmp_path, capsys):
    rows = CSV_ROWS.splitlines(keepends=True)
    rows[2] = "inf," + rows[2].split(",", 1)[1]
    csv("alpha,a_t,nmi,purity\n" + "".join(rows))(tmp_path)
    code, err = run_cli(["analyze", "--table", "{tmp}/t.csv", "--no-importance", "--out", "{tmp}/a"], tmp_path,
                        capsys)
    assert code == 0 and err == []  # no internal error, no numpy warning
    assert "1 trial(s) dropped: a parameter value is not finite (alpha)" in (tmp_path / "a" / "report.md").read_text()


def test_10_a_long_error_is_printed_whole(monkeypatch, capsys):
    from dcsomrl.data import DataError
    from dcsomrl_study.cli import build_parser
    from studies import cli

    why = "MNIST not found in /data/MNIST/raw (download disabled); " + "x" * 400 + " put these four files into /data"

    def fail(args):
        raise DataError(why)

    parser = build_parser()
    monkeypatch.setattr("studies.commands.status_command", fail)
    parser = build_parser()
    assert cli.run(parser, ["status", "--study", "s"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dcsomrl-study: error: {why}"


def test_11_a_protocol_design_mismatch_names_the_stage_and_protocols_flag(tmp_path, capsys):
    make_study(results(tmp_path), "p-initial", n=4)  # another design (n = 4) under the initial stage's name
    before = snapshot(tmp_path)
    code, err = run_cli([*TINY_PROTOCOL, "--name", "p", "--initial-n", "3", "--adjusted-n", "3", "--candidates",
                         "1", "--candidate-seeds", "1", "--seeds", "2"], tmp_path, capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("dcsomrl-study: protocol stage initial (study p-initial): ")
    assert "choose another --name" in err[0] and "--study name" not in err[0]
    assert snapshot(tmp_path) == before


# ----- 6. degenerate runs -----------------------------------------------------------------------------

def test_6_degenerate_reasons():
    from dcsomrl.metrics import degenerate_reason

    assert degenerate_reason(1, 10, 360) == "one node"
    assert degenerate_reason(4, 10, 360) == "4 clusters for 10 classes"
    assert degenerate_reason(5, 10, 360) == ""
    assert degenerate_reason(3, 3, 3) == "3 test samples for 3 classes"


def test_6_final_reports_the_mean_with_and_without_the_collapsed_seeds():
    from analysis.final_table import degenerate_notes, final_table

    nmi = [0.5, 0.52, 0.48, 0.5, 0.51, 0.49, 0.5, 0.5, 0.0, 0.0]
    trials = pd.DataFrame({"state": "COMPLETE", "seed": range(10), "number": range(10), "nmi": nmi,
                           "purity": [0.6] * 8 + [0.1] * 2, "ami": 0.4, "ari": 0.3,
                           "n_nodes": [40] * 8 + [1] * 2, "seconds": 1.0})
    table = final_table(trials, [], dataset="digits", n_classes=10, n_test=360)
    row = table.iloc[0]
    assert row["runs"] == 10 and row["degenerate"] == 2
    assert row["nmi_mean"] == pytest.approx(sum(nmi) / 10)  # kept in the mean ...
    assert row["nmi_mean_without"] == pytest.approx(sum(nmi[:8]) / 8)  # ... and given without them
    (note,) = degenerate_notes(table)
    assert note.startswith("DC-SOMRL: 2 of 10 seeds collapsed to one node (kept in the means above); "
                           "without them (8 runs): Purity 0.600")


def test_6_the_sensitivity_analysis_keeps_degenerate_trials_and_says_how_many():
    from analysis.table import prepare

    table = pd.DataFrame({"state": "COMPLETE", "a_t": [0.9, 0.95, 0.97, 0.99, 0.995],
                          "nmi": [0.0, 0.3, 0.4, 0.5, 0.6], "n_nodes": [1, 20, 30, 40, 50]})
    prep = prepare(table, params=["a_t"], outcomes=["nmi"])
    assert len(prep.data) == 5
    assert "1 of 5 COMPLETE trials collapsed to one node: kept in the analysis (a collapse is an outcome)" in prep.notes


def test_6_a_run_on_a_data_set_too_small_to_measure_is_flagged_in_metrics_json(tmp_path):
    from dcsomrl.run import run_trial
    from dcsomrl.trainer import DCSOMRL

    path = tmp_path / "tiny.csv"
    rows = [f"{i % 3},{(i * 7) % 5},{i % 2},{i % 3}" for i in range(12)]
    path.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    metrics = run_trial(DCSOMRL, str(path), {"epochs": 1, "batch_size": 4, "dim": 2}, seed=0,
                        out_dir=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test samples for 3 classes" in metrics["degenerate"] and recorded["degenerate"] == metrics["degenerate"]


# ----- 1. the journal damage round trip -----------------------------------------------------------

def _complete(tmp: Path, name: str = NAME) -> dict[int, int]:
    """{design point: trial number} of the study's COMPLETE trials."""
    study = sy.load(st.open_storage(st.default_url(name, results(tmp)), create=False), name)
    return {t.user_attrs["design_index"]: t.number for t in study.get_trials() if t.state == TrialState.COMPLETE}


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_1_truncate_or_garbage_refuse_repair_resume_loses_no_complete_trial(damage, tmp_path, capsys):
    assert run_cli(LHS, tmp_path, capsys)[0] == 0  # its workers are processes that have ended, as after a crash
    whole = journal(tmp_path).read_bytes()
    complete_before = _complete(tmp_path)
    assert len(complete_before) == 3
    if damage == "truncate":
        journal(tmp_path).write_bytes(whole[:-25])
    else:
        journal(tmp_path).write_bytes(whole + b'{"op_code": 4, "garbage\n')
    damaged = journal(tmp_path).read_bytes()

    code, err = run_cli(LHS, tmp_path, capsys)  # refuses to append after the partial record
    assert code == 2 and len(err) == 1 and str(journal(tmp_path)) in err[0]
    assert journal(tmp_path).read_bytes() == damaged

    code, _ = run_cli(["repair", "--study", NAME, "--results", R], tmp_path, capsys)
    assert code == 0
    backups = list(journal(tmp_path).parent.glob("journal.log.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged  # the journal as it was, kept
    repaired = journal(tmp_path).read_bytes()
    if damage == "garbage":
        assert repaired == whole  # only the garbage went
    else:
        assert repaired == whole[:whole.rstrip(b"\n").rfind(b"\n") + 1]  # only the partial last record went
    complete_repaired = _complete(tmp_path)
    assert complete_repaired.items() <= complete_before.items()  # no complete record lost by the repair

    code, _ = run_cli(["repair", "--study", NAME, "--results", R], tmp_path, capsys)
    assert code == 0 and journal(tmp_path).read_bytes() == repaired  # whole now: nothing more to drop

    code, _ = run_cli(LHS, tmp_path, capsys)  # resume
    assert code == 0
    after = _complete(tmp_path)
    assert sorted(after) == [0, 1, 2]  # every design point complete
    assert complete_repaired.items() <= after.items()  # and no complete trial re-run or lost


def test_1_repair_says_what_it_dropped(tmp_path, capsys):
    garbage(tmp_path)
    capsys.readouterr()
    assert main(["repair", "--study", NAME, "--results", str(results(tmp_path))]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "dropped its partial last record" in out[0] and "this is not a record" in out[0]
    assert "journal.log.damaged-" in out[0]
