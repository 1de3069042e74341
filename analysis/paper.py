"""The paper's Table 1 as data (SPEC 8): what ``final.md`` and ``protocol.md`` show beside the measured rows.

Mean ± std of 10 runs on the test sets, as printed: k-means, SOM-VAE and
DE-SOM with 64 clusters, SOMRL with its time-varying map (node count not
reported); DE-SOM without standard deviations. MNIST and Fashion-MNIST only.
The rows are marked :data:`PAPER` ("paper, reference"): the authors' setup,
not re-run here. :func:`paper_rows` gives them as rows of ``final.csv``.
"""
from __future__ import annotations

#: ``final.csv``'s ``source`` of the paper's rows.
PAPER = "paper, reference"

_NAN = float("nan")
#: (method, nodes, purity, purity_std, nmi, nmi_std) per data set; NaN where the paper gives none.
PAPER_TABLE1: dict[str, list[tuple[str, float, float, float, float, float]]] = {
    "mnist": [
        ("k-means (64)", 64, 0.791, 0.005, 0.537, 0.001),
        ("SOM-VAE (64)", 64, 0.868, 0.003, 0.595, 0.002),
        ("DE-SOM (64)", 64, 0.939, _NAN, 0.657, _NAN),
        ("SOMRL", _NAN, 0.884, 0.014, 0.521, 0.007),
    ],
    "fashion-mnist": [
        ("k-means (64)", 64, 0.703, 0.002, 0.492, 0.001),
        ("SOM-VAE (64)", 64, 0.739, 0.002, 0.520, 0.002),
        ("DE-SOM (64)", 64, 0.752, _NAN, 0.538, _NAN),
        ("SOMRL", _NAN, 0.679, 0.009, 0.404, 0.005),
    ],
}


def paper_key(dataset: str) -> str | None:
    """``mnist`` or ``fashion-mnist`` when the paper's Table 1 has rows for the dataset, else None."""
    key = str(dataset).strip().lower()
    return key if key in PAPER_TABLE1 else None


def paper_rows(dataset: str) -> list[dict]:
    """The paper's Table 1 rows for the dataset (none but for MNIST and Fashion-MNIST)."""
    key = paper_key(dataset)
    if key is None:
        return []
    return [{"method": method, "source": PAPER, "dataset": key, "runs": 10,
             "purity_mean": p, "purity_std": ps, "nmi_mean": m, "nmi_std": ms,
             "nodes_mean": nodes, "nodes_std": _NAN}
            for method, nodes, p, ps, m, ms in PAPER_TABLE1[key]]
