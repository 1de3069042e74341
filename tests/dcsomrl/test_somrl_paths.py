"""The two paths of the SOMRL layer agree, and no global setting changes a decision.

The compacted path (the CPU's) works on the K active nodes; the masked path
(a GPU's) over all n_max slots in fixed shapes. From the same state and batch
they must take the same decisions (winners, high/low, neighbours and ranks,
insertions, removals) and, in float64, reach the same centers, distances and
life bit for bit. Relevances may differ in the last bit only: the CPU's
vectorised sigmoid rounds an element by its place in the tensor, and the two
paths hold tensors of different sizes. The reference tests
(test_somrl_reference.py) run on both paths as well.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dcsomrl.somrl import SOMRL, SOMRLConfig
from dcsomrl.terms import ordered_sum
from tests.conftest import REPO_ROOT
from tests.dcsomrl.test_somrl_reference import crowded_stream, load_nodes, random_params, random_stream


def streams():
    """(name, params, initial nodes or None, batches): 40 random streams and 6 crowded, collapsing ones."""
    for seed in range(40):
        params = random_params(seed)
        yield f"random {seed}", params, None, random_stream(seed, params["dim"])[0]
    for seed in range(6):
        params, nodes, batches = crowded_stream(seed, n_steps=15)
        yield f"crowded {seed}", params, nodes, batches


def test_both_paths_take_the_same_decisions_bit_for_bit_in_float64():
    steps = 0
    for name, params, nodes, batches in streams():
        compact = SOMRL(SOMRLConfig(**params), path="compact").double()
        masked = SOMRL(SOMRLConfig(**params), path="masked").double()
        if nodes is not None:
            load_nodes(compact, nodes, s=params["s"])
        for n, X in enumerate(batches):
            masked.load_state_dict(compact.state_dict())
            x = torch.as_tensor(X)
            compact.update(x)
            masked.update(x)
            where = f"{name} step {n}"
            assert torch.equal(compact.active, masked.active), f"{where}: insertions or removals differ"
            for buf in ("centers", "distances", "life"):
                assert torch.equal(getattr(compact, buf), getattr(masked, buf)), f"{where}: {buf}"
            torch.testing.assert_close(masked.relevances, compact.relevances, rtol=0, atol=1e-15, msg=where)
            assert torch.equal(compact.predict(x), masked.predict(x))
            assert torch.equal(compact.loss(x), masked.loss(x)), f"{where}: loss"
            steps += 1
    assert steps == 40 * 12 + 6 * 15


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ordered_sum_adds_left_to_right_in_float64(dtype):
    """The reference's np.cumsum order (float64), rounded once to the tensor's dtype."""
    g = torch.Generator().manual_seed(4)
    t = (torch.rand(50, 30, 22, generator=g, dtype=torch.float64) ** 4).to(dtype)
    expected = np.cumsum(t.double().numpy(), axis=-1)[..., -1]
    got = ordered_sum(t)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.numpy(), expected.astype(t.numpy().dtype))
    np.testing.assert_array_equal(ordered_sum(t, dim=0).numpy(),
                                  np.cumsum(t.double().numpy(), axis=0)[-1].astype(t.numpy().dtype))


@pytest.mark.parametrize("path", ["compact", "masked"])
def test_autocast_does_not_reach_the_map(path):
    """Under bf16 autocast the map computes exactly what it computes without it."""
    params = dict(dim=22, n_max=60, a_t=0.99, lr=0.2, rho=0.5, ld=0.2, beta=0.2, gamma=1.5, s=0.4)
    g = torch.Generator().manual_seed(1)
    batches = [torch.rand(64, 22, generator=g) * 0.2 + 0.4 for _ in range(6)]
    plain, cast = SOMRL(SOMRLConfig(**params), path=path), SOMRL(SOMRLConfig(**params), path=path)
    for x in batches:
        plain.update(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast.update(x)
            loss = cast.loss(x)
        assert loss.dtype == torch.float32
        assert torch.equal(loss, plain.loss(x))
    for name, buf in plain.state_dict().items():
        assert torch.equal(buf, cast.state_dict()[name]), name


SETTINGS_SCRIPT = """
import json, sys, torch
from dcsomrl.somrl import SOMRL, SOMRLConfig
mode = sys.argv[1]
if mode == "new":
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
elif mode == "legacy":
    torch.set_float32_matmul_precision("medium")
torch.set_num_threads(1)
g = torch.Generator().manual_seed(2)
config = SOMRLConfig(dim=22, n_max=80, a_t=0.99, lr=0.2, rho=0.5, ld=0.2, beta=0.2, gamma=1.5, s=0.4)
som = SOMRL(config, path="compact")
for _ in range(8):
    som.update(torch.rand(128, 22, generator=g) * 0.3 + 0.35)
x = torch.rand(200, 22, generator=g) * 0.3 + 0.35
print(json.dumps(dict(pred=som.predict(x).tolist(), active=som.active.tolist())))
"""


def test_the_screen_works_under_both_precision_apis():
    """TF32/bf16 asked for through the new fp32_precision API (where the legacy getter raises)
    or the legacy one: the float32 screen widens its margin and the decisions stay the same."""
    assert SOMRL.PATHS == ("auto", "compact", "masked")
    out = {}
    for mode in ("default", "new", "legacy"):
        run = subprocess.run([sys.executable, "-c", SETTINGS_SCRIPT, mode], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, f"{mode}: {run.stderr[-2000:]}"
        out[mode] = json.loads(run.stdout)
    assert out["new"] == out["default"] == out["legacy"]
    assert sum(out["default"]["active"]) > 5


def test_mixed_precision_apis_do_not_raise_in_the_screen(monkeypatch):
    """The legacy getter raises once both APIs were used: the screen then assumes reduced precision."""
    from dcsomrl import terms

    def raising():
        raise RuntimeError("mix of the legacy and new APIs")

    monkeypatch.setattr(torch, "get_float32_matmul_precision", raising)
    assert terms._matmul_roundoff(torch.float32, "cuda") == 2.0 ** -8
    assert terms._matmul_roundoff(torch.float64, "cuda") == 2.0 ** -53


def test_auto_path_is_compact_on_the_cpu_and_a_bad_path_is_refused():
    som = SOMRL(SOMRLConfig(**random_params(0)))
    assert som.path is None and not som.uses_masked_path()
    assert SOMRL(SOMRLConfig(**random_params(0)), path="masked").uses_masked_path()
    with pytest.raises(ValueError) as err:
        SOMRL(SOMRLConfig(**random_params(0)), path="gpu")
    assert "path" in str(err.value) and "\n" not in str(err.value)
