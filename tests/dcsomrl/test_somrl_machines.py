"""The exactness tests of the SOMRL layer under other machine settings (docs/algorithm.md, "Exactness").

Ties go to the lowest slot and ``>= a_t`` is an exact test, so their outcome
must not depend on the torch thread count or on the BLAS kernel. The suite
itself runs with one torch thread and the machine's ``OPENBLAS_CORETYPE``;
here the tie, threshold, duplicate, crowded and reference tests run again in a
fresh interpreter with 2 threads, and with ``OPENBLAS_CORETYPE`` unset and set
to another core type.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

EXACTNESS = "tie or duplicate or equal or crowded or bit or random_stream_matches or float32 or thread_setting"


@pytest.mark.slow
@pytest.mark.parametrize("threads, coretype", [("2", None), ("1", "unset"), ("2", "Prescott")])
def test_exactness_tests_pass_under_other_threads_and_blas_kernels(threads, coretype):
    env = dict(os.environ, DCSOMRL_TEST_TORCH_THREADS=threads)
    if coretype == "unset":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/dcsomrl/test_somrl_reference.py", "tests/dcsomrl/test_somrl_machines.py", "-k", EXACTNESS]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = "\n".join(run.stdout.splitlines()[-15:])
    assert run.returncode == 0, f"threads={threads} OPENBLAS_CORETYPE={coretype}:\n{tail}"
    assert " passed" in tail and "failed" not in tail


def test_the_suite_thread_setting_reaches_torch():
    import torch

    from tests.conftest import TEST_THREADS

    assert torch.get_num_threads() == TEST_THREADS
