"""Fixtures of the analysis tests: synthetic trial tables with known answers."""
from __future__ import annotations

import pytest

from analysis.testfunctions import synthetic_table


@pytest.fixture(scope="session")
def table200():
    """The 200-row known-answer design (analysis.testfunctions), outcome ``y``."""
    return synthetic_table(200, seed=3)


@pytest.fixture(scope="session")
def sens200(table200):
    """The analysis of table200 (an analysis.sensitivity.Sensitivity)."""
    from analysis.sensitivity import analyze

    return analyze(table200, outcomes=["y"])
