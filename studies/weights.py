"""Which trials keep their model weights (``--save-models all|best|none``, default ``best``).

Every trial's run directory holds its map (``som.pt``, ``som_state.npz``: small)
and its autoencoder (``autoencoder.pt``: about 10 MB on MNIST, also on 8x8
digits). A study keeps the autoencoders it is asked to:

=======  ===================================================================
all      every trial's
best     only the best COMPLETE trial's (highest value, i.e. NMI); the others
         are deleted as soon as a better trial completes
none     none (each is deleted when its trial completes)
=======  ===================================================================

Workers apply the policy after each trial, and ``lhs``/``final`` once more when
their workers are done (so trials of remote workers are covered too).
"""
from __future__ import annotations

import pathlib

import optuna
from optuna.trial import TrialState

POLICIES = ("all", "best", "none")
WEIGHTS = "autoencoder.pt"


def keep(trials: list[optuna.trial.FrozenTrial], policy: str) -> set[int]:
    """The numbers of the COMPLETE trials whose weights the policy keeps."""
    if policy not in POLICIES:
        raise ValueError(f"--save-models must be one of {', '.join(POLICIES)}, got {policy!r}")
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if policy == "all":
        return {t.number for t in done}
    if policy == "none" or not done:
        return set()
    return {max(done, key=lambda t: (t.value, -t.number)).number}


def prune(study: optuna.Study, policy: str) -> list[pathlib.Path]:
    """Delete the autoencoder weights the policy does not keep; returns the files deleted."""
    trials = study.get_trials(deepcopy=False)
    kept, deleted = keep(trials, policy), []
    for t in trials:
        run_dir = t.user_attrs.get("run_dir")
        if t.number in kept or not run_dir or t.state == TrialState.RUNNING:
            continue
        path = pathlib.Path(run_dir) / WEIGHTS
        if path.is_file():
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted
