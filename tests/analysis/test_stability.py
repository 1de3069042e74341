"""analysis.stability: the TDCC of Iman & Conover (1987) on known answers and on replicated designs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import stability as T
from analysis.errors import AnalysisError
from analysis.report import write_report
from analysis.testfunctions import INFLUENTIAL, NON_INFLUENTIAL, synthetic_table

PARAMS = list(INFLUENTIAL + NON_INFLUENTIAL)


def test_savage_scores_by_hand():
    assert T.savage_scores([1, 2, 3]) == pytest.approx([1 + 1 / 2 + 1 / 3, 1 / 2 + 1 / 3, 1 / 3])
    assert T.savage_scores([3, 1, 2]) == pytest.approx([1 / 3, 11 / 6, 5 / 6])
    assert T.savage_scores(np.arange(1, 11)).mean() == pytest.approx(1.0)  # scores average 1


def test_identical_rankings_concord_fully_and_two_rankings_are_the_savage_correlation():
    same = np.tile(np.arange(1, 11), (3, 1))
    c, p = T.tdcc(same)
    assert c == pytest.approx(1.0) and p == pytest.approx(1e-4)  # no random ranking concords fully
    rng = np.random.default_rng(0)
    a, b = rng.permutation(10) + 1, rng.permutation(10) + 1
    c, _ = T.tdcc(np.array([a, b]))
    assert 2 * c - 1 == pytest.approx(stats.pearsonr(T.savage_scores(a), T.savage_scores(b)).statistic)
    reversed_, _ = T.tdcc(np.array([np.arange(1, 11), np.arange(10, 0, -1)]))
    assert reversed_ < 0.5  # below the null mean 1 / m
    with pytest.raises(AnalysisError):
        T.tdcc(np.array([[1, 2]]))


def test_independent_rankings_are_flagged_as_stable_about_5_percent_of_the_time():
    rng = np.random.default_rng(1)
    ps = [T.tdcc(np.array([rng.permutation(12) + 1 for _ in range(2)]), n_null=999, seed=s)[1] for s in range(1000)]
    assert 0.03 <= np.mean(np.array(ps) < 0.05) <= 0.07


def replicated(n, seeds, noise=0.1):
    parts = [synthetic_table(n, s, noise=noise).assign(replicate=r) for r, s in enumerate(seeds)]
    table = pd.concat(parts, ignore_index=True)
    return table.assign(number=np.arange(len(table)))


def test_replicates_of_the_known_answer_rank_alike_and_the_report_says_so(tmp_path):
    table = replicated(60, [1, 2])
    stab = T.ranking_stability(table, PARAMS, "y", n_permutations=199)
    assert list(stab.rankings.index) == [0, 1] and stab.stable and stab.tdcc > 0.8
    text = write_report(table, tmp_path, outcomes=("y",), importance_methods=(), study="s").read_text()
    assert "**Ranking stability** over 2 replicates" in text and "y **stable** (TDCC " in text
    assert "replicate" not in pd.read_csv(tmp_path / "sensitivity.csv")["parameter"].tolist()


def test_one_replicate_offers_the_extend_command(tmp_path):
    text = write_report(synthetic_table(30, 0, noise=1.0), tmp_path, outcomes=("y",), importance_methods=(),
                        study="mystudy").read_text()
    assert "**Ranking stability** is not measured: the study has one replicate." in text
    assert text.count("`dcsomrl-study extend --study mystudy --n ") == 1
    assert T.ranking_stability(synthetic_table(30, 0), PARAMS, "y") is None
