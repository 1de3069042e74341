"""analysis.verdicts: the one-line verdicts of final.md and protocol.md, on tables with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import verdicts as V


def _row(method, nmi, std, runs=10, source="this study", purity=np.nan, nodes=np.nan):
    return {"method": method, "source": source, "runs": runs, "nmi_mean": nmi, "nmi_std": std,
            "purity_mean": purity, "purity_std": np.nan, "nodes_mean": nodes, "nodes_std": np.nan}


def test_the_strongest_rival_at_equal_k_wins_by_its_margin_in_pooled_standard_deviations():
    table = pd.DataFrame([
        _row("DC-SOMRL", 0.516, 0.028),
        _row("incumbent", 0.70, 0.01),                       # extra rows the lead adds: never the rival at equal k
        _row("AE alone (α = 0)", 0.40, 0.02),
        _row("k-means (k = nodes), raw inputs", 0.567, 0.004),
        _row("k-means (k = nodes), latent codes", 0.580, 0.013),
        _row("k-means (64), raw inputs", 0.557, 0.004),
        _row("SOMRL", 0.9, 0.0, source="paper, reference")])
    text = V.lead_verdict(table)
    pooled = np.sqrt((0.028 ** 2 + 0.013 ** 2) / 2)
    assert text == ("At equal k, k-means (k = nodes), latent codes beats DC-SOMRL on NMI: 0.580 ± 0.013 against "
                    f"0.516 ± 0.028 over 10 runs each (a margin of 0.064, {0.064 / pooled:.1f} pooled standard "
                    "deviations).")
    assert f"{0.064 / pooled:.1f}" == "2.9"


def test_the_studied_model_is_the_first_row_and_can_win():
    table = pd.DataFrame([_row("SOM-VAE", 0.60, 0.01, runs=3), _row("k-means (k = nodes), raw inputs", 0.55, np.nan, 3)])
    assert V.lead_verdict(table) == ("At equal k, SOM-VAE beats k-means (k = nodes), raw inputs on NMI: 0.600 ± 0.010 "
                                     "against 0.550 over 3 runs each (a margin of 0.050).")


def test_without_equal_k_rows_the_best_measured_row_is_the_rival_and_the_paper_is_not():
    table = pd.DataFrame([_row("DC-SOMRL", 0.5, 0.02, 3), _row("DE-SOM (64)", 0.62, 0.0, 3),
                          _row("SOMRL", 0.9, 0.0, source="paper, reference")])
    text = V.lead_verdict(table)
    assert text.startswith("Among the methods measured here (none at equal k), DE-SOM (64) beats DC-SOMRL on NMI")
    alone = V.lead_verdict(table.iloc[[0, 2]])
    assert alone == "DC-SOMRL reaches NMI 0.500 ± 0.020 over 3 runs; no other method was measured beside it."


def test_stage_and_candidate_verdicts():
    sens = pd.DataFrame({"outcome": ["nmi", "nmi", "purity", "ari"], "parameter": ["a_t", "lr", "a_t", "dim"],
                         "significant": [True, False, True, True],
                         "direction": ["increasing", "", "decreasing", "non-monotone"]})
    assert V.stage_verdict("initial", sens, 30) == ("**initial** (30 trials): NMI: a_t raises; Purity: a_t lowers; "
                                                    "ARI: dim changes (not monotone).")
    assert V.stage_verdict("adjusted", sens.assign(significant=False), 10) == \
        "**adjusted** (10 trials): no parameter passes the rule for any outcome."
    assert V.stage_verdict("adjusted", None, 10) == "**adjusted** (10 trials): not analysed."
    ranked = pd.DataFrame({"candidate": [1, 0, 2], "trial": [12, 7, 3], "runs": [3, 3, 0],
                           "nmi_mean": [0.531, 0.519, np.nan], "nmi_std": [0.010, 0.020, np.nan]})
    assert V.candidates_verdict(ranked, "nmi") == ("**candidates**: trial 12 wins, NMI 0.531 ± 0.010 over 3 seeds, "
                                                   "0.012 ahead of trial 7 (0.519 ± 0.020).")
    final = pd.DataFrame([_row("DC-SOMRL", 0.5, 0.02, 10, purity=0.7, nodes=42.3)])
    assert V.final_stage_verdict(final, 10) == ("**final** (10 trials): DC-SOMRL NMI 0.500 ± 0.020, Purity 0.700, "
                                                "42.3 nodes over 10 runs.")


def test_the_incumbent_row_of_the_candidates_is_named_not_numbered():
    ranked = pd.DataFrame({"candidate": [2, 0], "source": ["incumbent", "trial 7"], "trial": [np.nan, 7.0],
                           "runs": [3, 3], "nmi_mean": [0.54, 0.52], "nmi_std": [0.01, 0.01]})
    assert V.candidates_verdict(ranked, "nmi") == ("**candidates**: the incumbent wins, NMI 0.540 ± 0.010 over 3 "
                                                   "seeds, 0.020 ahead of trial 7 (0.520 ± 0.010).")
