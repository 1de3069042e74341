"""CLI conventions: every default in --help, a description on every subcommand, --version, bare help."""
from __future__ import annotations

import argparse

import numpy as np

import pytest

from dcsomrl_study.cli import build_parser, main


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_with_a_default_shows_it_and_every_subcommand_has_a_description(name):
    command = _subcommands()[name]
    assert command.description, f"{name} has no description"
    from studies.cli import empty_default

    formatter = command.formatter_class(prog=command.prog)
    for action in command._actions:
        empty = empty_default(action.default)  # None, False, SUPPRESS, [] (an appending option)
        if not action.option_strings or empty or action.help is argparse.SUPPRESS:
            continue
        text = formatter._get_help_string(action)
        assert "default" in text.lower(), f"{name} {action.option_strings[0]}: no default in its help"


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_option_has_help_and_its_default_in_one_format(name):
    """Every option of every subcommand: a help text; its default shown as "(default: X)" when it has one;
    no other way of writing a default ("(default 0.75)", ", default 10")."""
    import re

    from studies.cli import empty_default

    command = _subcommands()[name]
    formatter = command.formatter_class(prog=command.prog)
    for action in command._actions:
        if not action.option_strings or action.help is argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        option = action.option_strings[0]
        assert action.help and action.help.strip(), f"{name} {option}: no help text"
        text = formatter._get_help_string(action) % {"default": action.default, "prog": command.prog}
        if not empty_default(action.default):
            assert f"(default: {action.default})" in text or "default: " in text, f"{name} {option}: {text}"
        assert not re.search(r"[(,;]\s*default(?!:)", text), f"{name} {option}: a default not as '(default: X)': {text}"


def test_descriptions_and_help_lines_start_the_same_way():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        assert action.help[0].islower(), f"{action.dest}: its help line should start in lower case"
        assert command.description[0].isupper() and command.description.rstrip().endswith("."), action.dest


def test_every_model_option_lists_the_registry():
    from dcsomrl import models

    taking = [n for n, c in _subcommands().items() if any("--model" in a.option_strings for a in c._actions)]
    assert {"train", "lhs", "final", "protocol"} <= set(taking)
    for name in taking:
        action = next(a for a in _subcommands()[name]._actions if "--model" in a.option_strings)
        for model in models.REGISTRY:
            assert f"{model} (" in action.help, f"{name} --model does not list {model}"


def test_default_study_names_are_readable():
    from studies.orchestrate import default_study_name

    from analysis import final as F
    from analysis.protocol import default_name
    from studies.space import resolve_space

    assert default_study_name("digits", "initial", 30, 0, None) == "digits-initial-n30-s0"
    assert default_study_name("digits", "initial", 30, 0, 2, model="desom") == "digits-desom-initial-n30-s0-e2"
    best = resolve_space("best", "digits")
    assert F.default_study_name("digits", best, 10, 0, label="best") == "final-digits-best-n10-s0"
    assert F.default_study_name("digits", best, 2, 0, label="best", model="somvae") == "final-digits-somvae-best-n2-s0"
    named = F.default_study_name("digits", best, 10, 0, label="runs/d2-best.toml")
    assert named == f"final-digits-d2-best-{F.space_hash(best)[:6]}-n10-s0"  # a file: a short hash of its values
    assert F.default_study_name("digits", best.with_fixed(a_t=0.95), 10, 0, label="runs/d2-best.toml") != named
    assert (default_name("digits"), default_name("mnist", "desom")) == ("protocol-digits", "protocol-mnist-desom")


def test_version_and_bare_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("dcsomrl-study ")
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "protocol" in out and "usage: dcsomrl-study" in out


def test_the_eta_comes_from_trial_durations_and_never_climbs_while_a_long_trial_runs():
    import datetime
    from types import SimpleNamespace

    from studies.launch import eta_seconds

    t0 = datetime.datetime(2026, 1, 1, 10, 0, 0)

    def trial(state, start, minutes=None):
        end = t0 + datetime.timedelta(minutes=start + minutes) if minutes is not None else None
        return SimpleNamespace(state=SimpleNamespace(name=state), datetime_start=t0 + datetime.timedelta(minutes=start),
                               datetime_complete=end)

    trials = [trial("COMPLETE", 0, 2), trial("FAIL", 2, 4), trial("RUNNING", 6)]  # mean duration 3 min
    assert np.isnan(eta_seconds([trial("RUNNING", 0)], 5, 1, t0))
    etas = [eta_seconds(trials, 4, 2, t0 + datetime.timedelta(minutes=m)) for m in (6, 7, 8, 9, 20)]
    assert etas[0] == (4 * 180 + 180) / 2  # the running one has its whole mean duration left
    assert all(a >= b for a, b in zip(etas, etas[1:]))  # falls with the clock ...
    assert etas[-1] == 4 * 180 / 2  # ... and the overdue trial counts 0, never negative


def _best_table():
    import pandas as pd

    best = pd.DataFrame({"number": [3, 12], "design_index": [3, 12], "nmi": [0.61234, 0.5], "purity": [0.7, 0.65],
                         "n_nodes": [42, 7], "seconds": [12.34, 8.0], "lr": [0.001234, 0.01], "a_t": [0.99885, 0.95],
                         "repel": ["radial", "paper"], "state": ["COMPLETE", "COMPLETE"]})
    best.attrs["design"] = {"space": {"params": {"lr": {"low": 1e-4}, "a_t": {"low": 0.9}, "repel": {"choices": []},
                                                 "epochs": {"value": 2}}}}
    return best


def test_terminal_tables_are_plain_unwrapped_lines_in_a_log(capsys, monkeypatch):
    from studies import export
    from studies.progress import plain_lines, print_summary

    monkeypatch.setattr(export, "best", lambda table, top: table.head(top))
    counts = {"complete": 2, "failed": 0, "running": 0, "waiting": 0, "n": 2, "retried": 0}
    print_summary(_best_table(), counts, top=5, terminal=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("design points: 2 complete") and lines[1] == "best 2 trials by NMI"
    assert lines[2].split() == ["trial", "point", "NMI", "Purity", "nodes", "seconds", "parameters"]
    assert lines[3].split() == ["3", "3", "0.6123", "0.7000", "42", "12.3", "lr=0.001234", "a_t=0.9989", "repel=radial"]
    assert len(lines) == 5  # one line per trial, however long: nothing wraps
    assert plain_lines("t", [["1", "2", "3", "4", "5", "6", "x" * 300]])[2].endswith("x" * 300)


def test_terminal_tables_follow_columns(capsys, monkeypatch):
    from studies import export
    from studies.progress import print_summary

    monkeypatch.setattr(export, "best", lambda table, top: table.head(top))
    counts = {"complete": 2, "failed": 0, "running": 0, "waiting": 0, "n": 2, "retried": 0}
    for columns in (60, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        print_summary(_best_table(), counts, top=5, terminal=True)
        table = capsys.readouterr().out.splitlines()[1:]
        assert max(len(line) for line in table) <= columns and table, columns
