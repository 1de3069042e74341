"""Clustering metrics of the paper's section 5.1.

Purity (eq. 9): each cluster counts its most frequent class,
    purity = (1 / N) * sum_k max_j |cluster_k ∩ class_j|.
NMI (eq. 8): mutual information normalized by the arithmetic mean of the two
entropies (scikit-learn's default ``average_method="arithmetic"``).
AMI and ARI (not in the paper; SPEC 4): mutual information and the Rand index
adjusted for chance (scikit-learn). Unlike NMI and Purity they do not grow
with the number of clusters, so they do not reward a bigger map: Purity
reaches 1 and NMI rises as every sample gets its own cluster, while AMI and
ARI of a random labelling stay near 0 at any cluster count.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from dcsomrl.util import as_numpy as _as_numpy


def purity(y_true, y_pred) -> float:
    """Share of samples whose cluster's majority class is their class."""
    y_true, y_pred = _as_numpy(y_true), _as_numpy(y_pred)
    if y_true.size == 0:
        raise ValueError("purity of an empty labelling is undefined")
    table = contingency_matrix(y_true, y_pred)  # (classes, clusters)
    return float(table.max(axis=0).sum() / y_true.size)


def nmi(y_true, y_pred) -> float:
    """Normalized mutual information, arithmetic-mean normalization."""
    return float(normalized_mutual_info_score(_as_numpy(y_true), _as_numpy(y_pred)))


def ami(y_true, y_pred) -> float:
    """Adjusted mutual information (arithmetic-mean normalization, as NMI)."""
    return float(adjusted_mutual_info_score(_as_numpy(y_true), _as_numpy(y_pred)))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index."""
    return float(adjusted_rand_score(_as_numpy(y_true), _as_numpy(y_pred)))


def scores(y_true, y_pred) -> dict[str, float]:
    """NMI, Purity, AMI and ARI of one labelling: the outcomes every trial and baseline records."""
    y_true, y_pred = _as_numpy(y_true), _as_numpy(y_pred)
    return dict(nmi=nmi(y_true, y_pred), purity=purity(y_true, y_pred), ami=ami(y_true, y_pred),
                ari=ari(y_true, y_pred))


#: Fewer test samples per class than this and a run's scores measure too little (a degenerate run).
MIN_TEST_PER_CLASS = 10


def degenerate_reason(n_nodes, n_classes: int | None = None, n_test: int | None = None) -> str:
    """Why a run's scores do not measure a clustering, or "" when they do.

    - ``"one node"``: the map collapsed to a single cluster (NMI 0);
    - ``"K clusters for C classes"``: fewer clusters than half the classes (K < C / 2);
    - ``"N test samples for C classes"``: under :data:`MIN_TEST_PER_CLASS` test samples per class
      (a 3-sample data set scores NMI 1 by chance).

    A run is still an outcome (the sensitivity analysis keeps it); the tables that average runs
    name it and give their means without it too.
    """
    reasons = []
    if n_nodes is not None and not (isinstance(n_nodes, float) and np.isnan(n_nodes)):
        k = int(n_nodes)
        if k <= 1:
            reasons.append("one node")
        elif n_classes and k < n_classes / 2:
            reasons.append(f"{k} clusters for {int(n_classes)} classes")
    if n_classes and n_test is not None and n_test < MIN_TEST_PER_CLASS * n_classes:
        reasons.append(f"{int(n_test)} test samples for {int(n_classes)} classes")
    return "; ".join(reasons)
