import numpy as np
import pytest
import torch
from sklearn.metrics import normalized_mutual_info_score

from dcsomrl.metrics import nmi, purity


def test_purity_known_answer():
    # cluster 0: classes 0,0,1 -> 2; cluster 1: classes 1,1 -> 2; cluster 2: class 2 -> 1
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 2]
    assert purity(y_true, y_pred) == pytest.approx(5 / 6)


def test_purity_is_one_for_singletons_and_a_perfect_clustering():
    y = np.array([0, 1, 2, 1, 0])
    assert purity(y, np.arange(5)) == 1.0
    assert purity(y, y + 10) == 1.0


def test_nmi_is_sklearns_arithmetic_nmi_and_accepts_tensors():
    rng = np.random.default_rng(0)
    y, c = rng.integers(0, 10, 500), rng.integers(0, 30, 500)
    expected = normalized_mutual_info_score(y, c, average_method="arithmetic")
    assert nmi(torch.tensor(y), torch.tensor(c)) == pytest.approx(expected)
    assert nmi(y, y) == pytest.approx(1.0)


def test_purity_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        purity([], [])


def test_ami_and_ari_do_not_reward_more_clusters_while_nmi_and_purity_do():
    """The claim of dcsomrl/metrics.py: random labellings with more clusters raise NMI and Purity, not AMI/ARI."""
    from dcsomrl.metrics import ami, ari, scores

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    few, many = rng.integers(0, 10, 2000), rng.integers(0, 200, 2000)
    assert nmi(y, many) > nmi(y, few) + 0.1 and purity(y, many) > purity(y, few) + 0.1
    for k in (few, many):
        assert abs(ami(y, k)) < 0.01 and abs(ari(y, k)) < 0.01
    perfect = scores(y, y + 3)
    assert perfect == {"nmi": pytest.approx(1.0), "purity": 1.0, "ami": pytest.approx(1.0), "ari": pytest.approx(1.0)}
