"""Fixtures shared by the test packages."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: torch threads of the test process: 1, unless DCSOMRL_TEST_TORCH_THREADS says otherwise
#: (tests/dcsomrl/test_somrl_machines.py reruns the exactness tests with 2).
TEST_THREADS = int(os.environ.get("DCSOMRL_TEST_TORCH_THREADS", "1"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only data folder beside the checkout (``../shared/data``), else env ``DCSOMRL_SHARED_DATA``.

    It holds MNIST and Fashion-MNIST in torchvision's layout (``MNIST/raw/*.gz``,
    ``FashionMNIST/raw/*.gz``). Missing, the test is skipped, except under CI
    (``CI=true``), where it fails.
    """
    candidates = [REPO_ROOT.parent / "shared" / "data", os.environ.get("DCSOMRL_SHARED_DATA")]
    for c in candidates:
        if c and (Path(c) / "MNIST" / "raw").is_dir():
            return Path(c)
    msg = "shared data folder not found (../shared/data beside the checkout, or env DCSOMRL_SHARED_DATA)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One torch thread (TEST_THREADS) in the test process, from the start of the session (module fixtures that train
    run before any function fixture): results must not depend on the core count or on test order."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(TEST_THREADS)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _same_conditions_for_every_test(monkeypatch):
    """No study storage taken from the developer's shell; one torch thread again after a test that changed it."""
    import torch

    monkeypatch.delenv("DCSOMRL_STORAGE", raising=False)
    yield
    torch.set_num_threads(TEST_THREADS)
