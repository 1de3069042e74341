"""A fast stand-in for ``dcsomrl.trainer.run_trial`` with a known answer (the runner's ``--trial-fn`` hook).

NMI rises steeply with a_t (the paper's finding) and ignores every other
parameter but a small noise from the seed; trials with alpha > 0.8 fail.
"""
from __future__ import annotations

import math

from tests.studies.fake_trial import FakeDiverged  # a TrialFailed-like error with a one-line reason


def run(dataset, params, *, seed, device="cpu", **_):
    if float(params["alpha"]) > 0.8:
        raise FakeDiverged(f"diverged: loss is nan (alpha={params['alpha']:.3g})")
    u = (math.log(1 - 0.95) - math.log(1 - float(params["a_t"]))) / math.log(50)  # 0..1 on log1m
    nmi = 0.3 + 0.4 * u + 0.01 * ((seed % 97) / 97 - 0.5)
    return {"status": "complete", "nmi": nmi, "purity": min(1.0, nmi + 0.2), "n_nodes": 20 + int(40 * u),
            "seconds": 0.01, "seed": seed, "device": device, "validation": []}
