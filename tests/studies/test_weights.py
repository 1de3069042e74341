"""--save-models all|best|none (studies/weights.py): which trials keep their autoencoder weights."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from optuna.trial import TrialState

from dcsomrl_study.cli import main
from studies import weights

from .helpers import STANDIN


def _t(number, value, state=TrialState.COMPLETE):
    return SimpleNamespace(number=number, value=value, state=state)


def test_the_policy_keeps_all_the_best_or_none():
    trials = [_t(0, 0.4), _t(1, 0.7), _t(2, 0.7), _t(3, None, TrialState.FAIL), _t(4, 0.9, TrialState.RUNNING)]
    assert weights.keep(trials, "all") == {0, 1, 2}
    assert weights.keep(trials, "best") == {1}  # ties: the first
    assert weights.keep(trials, "none") == set()
    with pytest.raises(ValueError, match="--save-models"):
        weights.keep(trials, "some")


@pytest.mark.parametrize("policy, kept", [("all", 4), ("best", 1), ("none", 0), (None, 1)])
def test_a_study_keeps_the_weights_it_is_asked_to(tmp_path, policy, kept):
    extra = [] if policy is None else ["--save-models", policy]  # default: best
    assert main(["lhs", "--n", "4", "--dataset", "digits", "--devices", "cpu", "--study", "w", "--results",
                 str(tmp_path), "--model", STANDIN, *extra]) == 0
    files = sorted((tmp_path / "w" / "trials").glob("*/autoencoder.pt"))
    assert len(files) == kept
    assert len(list((tmp_path / "w" / "trials").glob("*/metrics.json"))) == 4  # the runs themselves stay
