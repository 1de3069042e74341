"""Storages for the runner's tests: a journal file, and PostgreSQL when DCSOMRL_TEST_POSTGRES is set.

PostgreSQL tests are marked ``postgres``. Without ``DCSOMRL_TEST_POSTGRES`` (a
URL, e.g. from ``eval "$(.ci/postgres.sh)"``) they skip, except under
``CI=true``, where they fail: CI must exercise them.
"""
from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def postgres_url(monkeypatch) -> str:
    url = os.environ.get("DCSOMRL_TEST_POSTGRES")
    if not url:
        msg = "DCSOMRL_TEST_POSTGRES is not set (a PostgreSQL URL; see .ci/postgres.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + "; it is required when CI=true")
        pytest.skip(msg)
    # heartbeats on; a generous grace period, so that a worker stalled by a loaded machine is not taken
    # for dead (local deaths are found by pid; test_stale_heartbeat... shortens it to test staleness)
    monkeypatch.setenv("DCSOMRL_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("DCSOMRL_GRACE_PERIOD", "30")
    return url


@pytest.fixture(params=["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request, tmp_path) -> str:
    """A storage URL for each kind (the study names are unique per test, see ``study_name``)."""
    if request.param == "journal":
        return f"journal://{tmp_path / 'journal.log'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def study_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
