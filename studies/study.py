"""A study = one LHS design enqueued once in an Optuna study, plus the bookkeeping around it.

- :func:`create_or_resume` creates the Optuna study (maximize NMI), stores the
  design's description as the study user attribute ``"design"`` and enqueues
  one trial per design point (``enqueue_trial`` with the point's parameters and
  the user attributes ``design_index`` and ``seed``). Run again with the same
  design it resumes (enqueueing only points that never were, e.g. after a
  crash while enqueueing); with a different design under the same name it
  refuses.
- :func:`trial_seed`: each design point's training seed, derived from the
  study seed and the point's index (so retries and re-runs reuse it);
  :func:`point_seed` returns it, or the design's explicit ``seeds[index]``
  when the design lists them (the final runs: one setting over given seeds).
- :func:`recover` finds RUNNING trials whose worker is gone and re-enqueues
  them: on this machine by the worker's recorded process (pid and start time,
  see :func:`process_identity`), anywhere by RDB heartbeats.
- :func:`count_points` (of trials already read) and :func:`counts` (of a study)
  summarize a study per design point.
- **Replicates** (Iman's replicated LHS): :func:`add_replicate` extends a study
  by an independent LHS of K more points over the same space, with its own
  design seed. Its points continue the design indices (so their training seeds
  differ from every earlier point's) and each of its trials records
  ``replicate`` (the original design is replicate 0). The study attribute
  ``"replicates"`` lists them; :func:`total_points` counts every point.
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from dcsomrl import models
from dcsomrl.util import host_name  # studies.study.host_name stays importable
from studies import storage as st
from studies.errors import StudyError
from studies.space import Space, parse_space

DESIGN_VERSION = 1
#: ``design["recon"]`` of a DC-SOMRL study made since eq. 7 (dcsomrl.params: ``recon``). A DC-SOMRL
#: design without it was made before, with the per-dimension mean: :func:`trial_defaults` keeps that.
EQ7 = "sum"
#: A RUNNING trial with no worker record this old is considered orphaned (its worker
#: died between taking it and recording itself, a window of milliseconds).
ORPHAN_AFTER_S = 600.0


def trial_seed(study_seed: int, index: int) -> int:
    """The training seed of design point ``index``: ``SeedSequence([study_seed, index])``'s first word.

    Independent streams per point (no arithmetic like seed + index that makes
    neighbouring studies share seeds), in [0, 2**32).
    """
    return int(np.random.SeedSequence([int(study_seed), int(index)]).generate_state(1)[0])


def design_attrs(space: Space, n: int, seed: int, dataset: str, *, model: str = "dcsomrl",
                 optimization: str | None = None, epochs: int | None = None,
                 seeds: list[int] | None = None,
                 distinct_seeds: bool = True) -> dict[str, Any]:
    """The study's design description (stored as the study user attribute ``"design"``).

    ``seeds``: each design point's training seed, explicitly (n distinct
    integers, or with ``distinct_seeds=False`` repeats allowed: the same seeds
    for several settings); without it the seeds derive from ``seed``
    (:func:`trial_seed`).
    """
    design = {
        "version": DESIGN_VERSION, "dataset": dataset, "model": models.check(model), "space_name": space.name,
        "space": space.to_dict(), "n": int(n), "seed": int(seed), "optimization": optimization,
        "epochs": epochs,
    }
    if design["model"] == "dcsomrl":  # the reconstruction loss its trials use unless the space sets recon
        design["recon"] = EQ7
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        distinct = len(set(seeds)) == len(seeds) or not distinct_seeds
        if len(seeds) != int(n) or not distinct or min(seeds, default=0) < 0:
            raise StudyError(f"seeds must be {n} {'distinct ' if distinct_seeds else ''}integers >= 0, got {seeds}")
        design["seeds"] = seeds
    return design


def trial_defaults(design: dict[str, Any]) -> dict[str, Any]:
    """Values every trial of the study gets unless its space sets them: the reconstruction loss
    (``recon``) the study was made with: eq. 7 since it exists, the per-dimension mean before."""
    if models.of_design(design).name != "dcsomrl":
        return {}
    return {"recon": design.get("recon", "mean")}


def _loss_mismatch(name: str, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why a study made before eq. 7 cannot be resumed by a design made since (one line), or None."""
    before, since = trial_defaults(old).get("recon"), new.get("recon")
    if since is None or before == since:
        return None
    return (f"study {name!r} was trained before eq. 7, with the reconstruction loss as a per-pixel mean "
            "(its alpha weighs d times the paper's); resuming it now would mix two losses in one study: "
            "choose another study name (dcsomrl-study worker --study NAME still finishes it with its own loss)")


def point_seed(design: dict[str, Any], index: int) -> int:
    """The training seed of design point ``index``: ``design["seeds"][index]`` if listed, else :func:`trial_seed`."""
    seeds = design.get("seeds")
    return int(seeds[index]) if seeds is not None else trial_seed(design["seed"], index)


def design_space(design: dict[str, Any]) -> Space:
    """The space a study was designed over (from its ``"design"`` attribute)."""
    space = parse_space(design["space"], f"study space {design.get('space_name', '')}",
                        models.of_design(design).params)
    return replace(space, name=design.get("space_name", space.name))


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a, sort_keys=True)) == json.loads(json.dumps(b, sort_keys=True))


def _comparable(design: dict[str, Any]) -> dict[str, Any]:
    """A design as resuming compares it: without its space's label, and with an old design's trial function
    path (stored before the model registry) read as the model it stands for."""
    d = {k: v for k, v in design.items() if k != "space_name"}
    legacy = d.get("trial_fn", None)
    if "trial_fn" in d and (legacy is None or legacy in models.LEGACY_TRIAL_FNS):
        del d["trial_fn"]
        d["model"] = models.LEGACY_TRIAL_FNS.get(legacy) or d.get("model", "dcsomrl")
    if d.get("model", "dcsomrl") != "dcsomrl":
        d.pop("recon", None)  # only DC-SOMRL has a reconstruction loss
    return d


def _difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if k != "space_name" and not _same(old.get(k), new.get(k))]
    parts = []
    for k in keys:
        if k == "space":
            params = sorted(set(old["space"].get("params", {})) | set(new["space"].get("params", {})))
            diff = [p for p in params if not _same(old["space"]["params"].get(p), new["space"]["params"].get(p))]
            parts.append(f"space differs in {', '.join(diff) or 'its description'}")
        else:
            parts.append(f"{k} {old.get(k)!r} vs {new.get(k)!r}")
    return "; ".join(parts)


def create_or_resume(storage: optuna.storages.BaseStorage, name: str, design: dict[str, Any],
                     points: list[dict[str, Any]]) -> tuple[optuna.Study, bool]:
    """Create the study and enqueue ``points`` once, or resume it. Returns (study, created).

    ``points[i]`` is design point i's parameters. Creation is atomic in the
    storage (a study name is unique), so of two commands started together one
    creates and enqueues, the other resumes.
    """
    if len(points) != design["n"]:
        raise StudyError(f"design has n={design['n']} but {len(points)} points were given")
    study = _existing(storage, name)  # looked up first: a refused resume appends nothing to the journal
    created = study is None
    if created:
        try:
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
            study.set_user_attr("design", design)
        except optuna.exceptions.DuplicatedStudyError:  # another command created it just now
            study, created = optuna.load_study(study_name=name, storage=storage), False
    if not created:
        _check_resume(study, name, design)
    existing = {t.user_attrs.get("design_index") for t in study.get_trials(deepcopy=False)}
    for index, params in enumerate(points):
        if index not in existing:
            study.enqueue_trial(params, user_attrs={"design_index": index,
                                                    "seed": point_seed(design, index)})
    if not study.user_attrs.get("enqueued"):
        study.set_user_attr("enqueued", True)
    return study, created


#: The advice of a refused resume; ``protocol`` (whose flag is ``--name``) rewrites it.
RENAME_HINT = "choose another --study name"


def _existing(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study | None:
    """The study ``name`` when the storage holds it (read only), else None."""
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def _check_resume(study: optuna.Study, name: str, design: dict[str, Any]) -> None:
    """Refuse to resume ``study`` with another design (one line saying what differs)."""
    old = study.user_attrs.get("design")
    if old is None:
        raise StudyError(f"study {name!r} exists but was not created by dcsomrl-study lhs "
                         f"(no design recorded); {RENAME_HINT}")
    mismatch = _loss_mismatch(name, _comparable(old), design)
    if mismatch:
        raise StudyError(mismatch)
    old, mine = _comparable(old), _comparable(design)
    if not _same(old, mine):
        raise StudyError(f"study {name!r} already holds a different design ({_difference(old, mine)}); "
                         f"re-run with the same options to resume it, or {RENAME_HINT}")


def replicates(study: optuna.Study) -> list[dict[str, Any]]:
    """The replicates added to a study: [{"replicate": r, "seed": s, "n": k, "first_index": i}, ...]."""
    return list(study.user_attrs.get("replicates", []))


def total_points(study: optuna.Study) -> int:
    """Design points of the study and of every replicate added to it."""
    return int(study.user_attrs["design"]["n"]) + sum(int(r["n"]) for r in replicates(study))


def require_lhs(study: optuna.Study) -> None:
    """Refuse (one line) a study that is not an LHS design: a final or candidates study lists its seeds."""
    if study.user_attrs["design"].get("seeds") is not None:
        raise StudyError(f"study {study.study_name!r} runs fixed values over listed seeds (a final or candidates "
                         "study), not an LHS design: extend adds LHS replicates to a study made by lhs")


def add_replicate(study: optuna.Study, points: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Enqueue ``points`` (an LHS drawn with design seed ``seed``) as a replicate of the study; resumable.

    The same (seed, n) again resumes that replicate (enqueueing only its points that never were), so an
    interrupted ``extend`` can be re-run. Returns the replicate's record.
    """
    design, known = study.user_attrs["design"], replicates(study)
    require_lhs(study)
    if int(seed) == int(design["seed"]):
        raise StudyError(f"--seed {seed} is the study's own design seed; a replicate needs another one")
    record = next((r for r in known if r["seed"] == int(seed)), None)
    if record is not None and record["n"] != len(points):
        raise StudyError(f"replicate {record['replicate']} of study {study.study_name!r} has seed {seed} with "
                         f"{record['n']} points, not {len(points)}; give another --seed for a new replicate")
    if record is None:
        record = {"replicate": len(known) + 1, "seed": int(seed), "n": len(points),
                  "first_index": total_points(study)}
        study.set_user_attr("replicates", known + [record])
    existing = {t.user_attrs.get("design_index") for t in study.get_trials(deepcopy=False)}
    for offset, params in enumerate(points):
        index = record["first_index"] + offset
        if index not in existing:
            study.enqueue_trial(params, user_attrs={"design_index": index, "seed": point_seed(design, index),
                                                    "replicate": record["replicate"]})
    return record


def load(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """Load a study created by ``lhs``; StudyError naming the study when it is missing."""
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        listed = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        raise StudyError(f"no study {name!r} in this storage"
                         + (f"; it holds: {listed}" if known else " (it holds none)")) from None
    if "design" not in study.user_attrs:
        raise StudyError(f"study {name!r} was not created by dcsomrl-study lhs (no design recorded)")
    return study


# --------------------------------------------------------------------------- workers

def _namespace() -> str:
    """Which pids are comparable: the kernel boot and pid namespace (containers differ)."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return "no-proc"


def _start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot; field 22 of /proc/<pid>/stat)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # zombies are dead


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What a worker records on the trial it runs, so that others can tell whether it still lives."""
    pid = os.getpid() if pid is None else pid
    return {"host": host_name(), "pid": pid, "start": _start_time(pid), "ns": _namespace()}


def process_alive(ident: dict[str, Any]) -> bool | None:
    """True/False for a process recorded on this machine; None when it ran elsewhere (cannot tell).

    A pid counts as the same process only if its start time matches (pids are reused).
    """
    if ident.get("host") != host_name() or ident.get("ns") != _namespace():
        return None
    pid = int(ident["pid"])
    if ident.get("start") is not None and os.path.exists("/proc"):
        return _start_time(pid) == ident["start"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail(study: optuna.Study, storage: optuna.storages.BaseStorage, trial: FrozenTrial, reason: str) -> bool:
    """Switch a RUNNING trial to FAIL with ``reason``; False when another process finished it first."""
    try:
        storage.set_trial_user_attr(trial._trial_id, "reason", reason)
        return storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def recover(study: optuna.Study, storage: optuna.storages.BaseStorage,
            orphan_after: float = ORPHAN_AFTER_S) -> list[int]:
    """Fail and re-enqueue RUNNING trials whose worker is gone; the numbers of the trials re-enqueued.

    - any storage: trials whose recorded worker process is dead on this machine;
    - trials RUNNING for ``orphan_after`` seconds without a worker record;
    - RDB storages: trials whose heartbeat is older than the grace period
      (Optuna's ``fail_stale_trials``; its callback :class:`studies.storage.Requeue`
      re-enqueues them), e.g. those of a machine that went away.

    Each lost trial is switched to FAIL by exactly one process (the storage
    refuses the second), and only that process re-enqueues it.
    """
    requeued: list[int] = []
    study_id = storage.get_study_id_from_name(study.study_name)
    now = datetime.datetime.now()
    for trial in storage.get_all_trials(study_id, deepcopy=True, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker is None:
            started = trial.datetime_start
            if started is None or (now - started).total_seconds() < orphan_after:
                continue
            reason = f"worker lost: RUNNING for over {orphan_after:.0f} s without a worker record"
        elif process_alive(worker) is False:
            reason = f"worker died: pid {worker['pid']} on host {worker['host']}"
        else:
            continue
        if fail(study, storage, trial, reason):
            st.requeue(study, trial)
            requeued.append(trial.number)
    if st.heartbeat_enabled(storage):
        before = {t.number for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.FAIL,))}
        with st.experimental_ok():
            optuna.storages.fail_stale_trials(study)
        after = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.FAIL,))
        requeued += [t.number for t in after if t.number not in before]
    return requeued


# --------------------------------------------------------------------------- summaries

def design_status(trials: list[FrozenTrial]) -> dict[int, FrozenTrial]:
    """Each design point's deciding trial among ``trials``: a COMPLETE one if any, else its latest trial."""
    out: dict[int, FrozenTrial] = {}
    for t in trials:
        index = t.user_attrs.get("design_index")
        if index is None:
            continue
        old = out.get(index)
        if old is None or old.state != TrialState.COMPLETE and (
                t.state == TrialState.COMPLETE or t.number > old.number):
            out[index] = t
    return out


def count_points(trials: list[FrozenTrial], n: int) -> dict[str, int]:
    """Design points by state (complete, running, waiting, failed) of a study of ``n`` points
    with these ``trials``, plus ``retried`` (lost trials that were re-run)."""
    status = design_status(trials)
    names = {TrialState.COMPLETE: "complete", TrialState.RUNNING: "running",
             TrialState.WAITING: "waiting", TrialState.FAIL: "failed", TrialState.PRUNED: "failed"}
    out = {"n": int(n), "complete": 0, "running": 0, "waiting": 0, "failed": 0}
    for t in status.values():
        out[names[t.state]] += 1
    deciding = {t.number for t in status.values()}
    out["retried"] = sum(1 for t in trials if t.state == TrialState.FAIL and t.number not in deciding)
    return out


def counts(study: optuna.Study) -> dict[str, int]:
    """:func:`count_points` of a study and its replicates (reads its trials once)."""
    return count_points(study.get_trials(deepcopy=False), total_points(study))
