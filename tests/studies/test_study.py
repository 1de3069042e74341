"""Storage URLs, the atomic pop, creating/resuming a study, and recovering lost trials."""
import subprocess
import threading
import time

import pytest
from optuna.trial import TrialState

from studies import storage as st
from studies import study as sy
from studies.design import sample
from studies.errors import StorageError, StudyError
from studies.export import LOST, study_table
from studies.space import resolve_space


def _design(n=4, seed=0, space="adjusted", epochs=None):
    sp = resolve_space(space, "digits")
    if epochs:
        sp = sp.with_fixed(epochs=epochs)
    points = sample(sp, n, seed).to_dict("records")
    return sy.design_attrs(sp, n, seed, "digits", epochs=epochs), points


def _running(storage, study, ident=None):
    """Pop one trial as a worker would and record ``ident`` as its worker."""
    sid = storage.get_study_id_from_name(study.study_name)
    tid = st.pop_waiting(storage, sid)
    if ident is not None:
        storage.set_trial_user_attr(tid, "worker", ident)
    return tid


# --------------------------------------------------------------------------- URLs

def test_storage_urls(tmp_path):
    url = st.default_url("s1", tmp_path)
    assert url == f"journal://{tmp_path.resolve()}/s1/journal.log"
    assert st.journal_path(url) == tmp_path.resolve() / "s1" / "journal.log"
    assert st.journal_path("journal://rel/j.log") == __import__("pathlib").Path("rel/j.log")
    with pytest.raises(StorageError, match="SQLite storage is refused: .*parallel workers .*FOR UPDATE"):
        st.open_storage(f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(StorageError, match="unknown storage URL 'redis://h'"):
        st.open_storage("redis://h")
    with pytest.raises(StorageError, match=r"cannot open storage postgresql://u:\*\*\*@127.0.0.1:1/db: .*refused"):
        st.open_storage("postgresql://u:secret@127.0.0.1:1/db")


def test_resolve_url_takes_the_option_then_the_environment_then_the_journal(tmp_path, monkeypatch):
    monkeypatch.delenv(st.STORAGE_ENV, raising=False)
    assert st.resolve_url(None, "s1", tmp_path) == st.default_url("s1", tmp_path)
    monkeypatch.setenv(st.STORAGE_ENV, "postgresql://u:p@h/db")
    assert st.resolve_url(None, "s1", tmp_path) == "postgresql://u:p@h/db"
    assert st.resolve_url("journal:///x.log", "s1", tmp_path) == "journal:///x.log"


def test_heartbeat_settings_are_checked(monkeypatch):
    monkeypatch.setenv("DCSOMRL_HEARTBEAT_INTERVAL", "5")
    monkeypatch.delenv("DCSOMRL_GRACE_PERIOD", raising=False)
    assert st.heartbeat_settings() == (5, 15)
    monkeypatch.setenv("DCSOMRL_GRACE_PERIOD", "4")
    with pytest.raises(StorageError, match="GRACE_PERIOD"):
        st.heartbeat_settings()


# --------------------------------------------------------------------------- seeds, create, resume

def test_trial_seeds_are_deterministic_and_distinct():
    seeds = [sy.trial_seed(0, i) for i in range(100)]
    assert seeds == [sy.trial_seed(0, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**32 for s in seeds)
    assert sy.trial_seed(1, 0) not in seeds


def test_create_enqueues_each_point_once_and_resume_adds_nothing(storage_url, study_name):
    design, points = _design(n=5)
    storage = st.open_storage(storage_url)
    study, created = sy.create_or_resume(storage, study_name, design, points)
    assert created
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.WAITING] * 5
    assert [t.user_attrs["design_index"] for t in trials] == list(range(5))
    assert [t.user_attrs["seed"] for t in trials] == [sy.trial_seed(0, i) for i in range(5)]
    assert [t.system_attrs["fixed_params"] for t in trials] == points
    again, created = sy.create_or_resume(st.open_storage(storage_url), study_name, design, points)
    assert not created and len(again.get_trials()) == 5
    assert sy.counts(again) == {"n": 5, "complete": 0, "running": 0, "waiting": 5, "failed": 0, "retried": 0}


def test_a_different_design_under_the_same_name_is_refused(storage_url, study_name):
    design, points = _design(n=4)
    storage = st.open_storage(storage_url)
    sy.create_or_resume(storage, study_name, design, points)
    other, other_points = _design(n=5)
    with pytest.raises(StudyError, match=r"already holds a different design \(n 4 vs 5"):
        sy.create_or_resume(storage, study_name, other, other_points)
    other, other_points = _design(n=4, epochs=3)
    with pytest.raises(StudyError, match="space differs in epochs"):
        sy.create_or_resume(storage, study_name, other, other_points)
    with pytest.raises(StudyError, match="no study 'nope' in this storage; it holds: t-"):
        sy.load(storage, "nope")


def test_resume_enqueues_the_points_a_crash_left_out(tmp_path, study_name):
    import optuna

    design, points = _design(n=4)
    storage = st.open_storage(f"journal://{tmp_path}/j.log")
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    study.set_user_attr("design", design)
    study.enqueue_trial(points[1], user_attrs={"design_index": 1, "seed": sy.trial_seed(0, 1)})
    study, created = sy.create_or_resume(storage, study_name, design, points)
    assert not created
    assert sorted(t.user_attrs["design_index"] for t in study.get_trials()) == [0, 1, 2, 3]


# --------------------------------------------------------------------------- atomic pop

def test_parallel_pops_never_hand_out_a_trial_twice(storage_url, study_name):
    n, workers = 24, 6
    design, points = _design(n=n)
    sy.create_or_resume(st.open_storage(storage_url), study_name, design, points)
    got: list[list[int]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def drain(k):
        storage = st.open_storage(storage_url)  # one storage per worker, as separate processes have
        sid = storage.get_study_id_from_name(study_name)
        barrier.wait()
        while (tid := st.pop_waiting(storage, sid)) is not None:
            got[k].append(tid)

    threads = [threading.Thread(target=drain, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [tid for ids in got for tid in ids]
    assert len(flat) == len(set(flat)) == n
    study = sy.load(st.open_storage(storage_url), study_name)
    assert all(t.state == TrialState.RUNNING for t in study.get_trials())
    assert len(study.get_trials()) == n  # the pop never creates trials


# --------------------------------------------------------------------------- recovering lost trials

def _dead_identity():
    proc = subprocess.Popen(["sleep", "30"])
    ident = sy.process_identity(proc.pid)
    proc.kill()
    proc.wait()
    return ident


def test_process_identity_tells_dead_from_alive():
    assert sy.process_alive(sy.process_identity()) is True
    assert sy.process_alive(_dead_identity()) is False
    assert sy.process_alive({**sy.process_identity(), "host": "elsewhere"}) is None
    reused = {**sy.process_identity(), "start": "1"}  # same pid, another process's start time
    assert sy.process_alive(reused) is False


def test_recover_requeues_dead_workers_trials_with_the_same_params(storage_url, study_name):
    design, points = _design(n=4)
    storage = st.open_storage(storage_url)
    study, _ = sy.create_or_resume(storage, study_name, design, points)
    dead = _running(storage, study, _dead_identity())
    alive = _running(storage, study, sy.process_identity())
    remote = _running(storage, study, {**sy.process_identity(), "host": "elsewhere"})
    requeued = sy.recover(study, storage)
    trials = {t._trial_id: t for t in study.get_trials()}
    assert requeued == [trials[dead].number]
    assert trials[dead].state == TrialState.FAIL
    assert trials[dead].user_attrs["reason"].startswith("worker died: pid")
    assert trials[alive].state == trials[remote].state == TrialState.RUNNING
    copy = study.get_trials()[-1]
    assert copy.state == TrialState.WAITING and len(study.get_trials()) == 5
    assert copy.user_attrs == {"design_index": 0, "seed": sy.trial_seed(0, 0)}  # no dead worker record
    assert copy.system_attrs["fixed_params"] == points[0]
    assert copy.system_attrs["retry_history"] == [trials[dead].number]
    assert sy.recover(study, storage) == []  # requeued once only
    c = sy.counts(study)
    assert (c["running"], c["waiting"], c["retried"]) == (2, 2, 1)


def test_retries_stop_after_max_retry(tmp_path, study_name):
    design, points = _design(n=1)
    storage = st.open_storage(f"journal://{tmp_path}/j.log")
    study, _ = sy.create_or_resume(storage, study_name, design, points)
    for _ in range(st.MAX_RETRY + 1):
        _running(storage, study, _dead_identity())
        sy.recover(study, storage)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL] * (st.MAX_RETRY + 1)
    assert sy.counts(study)["failed"] == 1


def test_orphaned_running_trials_are_requeued_after_a_while(tmp_path, study_name):
    design, points = _design(n=2)
    storage = st.open_storage(f"journal://{tmp_path}/j.log")
    study, _ = sy.create_or_resume(storage, study_name, design, points)
    _running(storage, study)  # taken, but its worker died before recording itself
    assert sy.recover(study, storage) == []
    assert sy.recover(study, storage, orphan_after=0) == [0]
    assert "without a worker record" in study.get_trials()[0].user_attrs["reason"]


@pytest.mark.postgres
def test_stale_heartbeat_fails_and_requeues_on_postgres(postgres_url, study_name, monkeypatch):
    monkeypatch.setenv("DCSOMRL_GRACE_PERIOD", "3")
    design, points = _design(n=2)
    storage = st.open_storage(postgres_url)
    study, _ = sy.create_or_resume(storage, study_name, design, points)
    remote = {**sy.process_identity(), "host": "a-machine-that-died"}
    tid = _running(storage, study, remote)
    storage.record_heartbeat(tid)
    assert sy.recover(study, storage) == []  # heartbeat fresh
    time.sleep(4.5)  # grace period 3 s
    number = storage.get_trial(tid).number
    assert sy.recover(study, storage) == [number]
    table = study_table(study)
    assert table.loc[table.number == number, "reason"].item() == LOST
    copy = study.get_trials()[-1]
    assert copy.state == TrialState.WAITING and copy.user_attrs["design_index"] == 0
    assert "worker" not in copy.user_attrs


# --------------------------------------------------------------------------- eq. 7

def test_a_study_records_its_reconstruction_loss_and_one_made_before_eq7_keeps_its_own(tmp_path):
    design, points = _design(n=2)
    assert design["recon"] == "sum" and sy.trial_defaults(design) == {"recon": "sum"}
    old = {k: v for k, v in design.items() if k != "recon"}  # a DC-SOMRL study made before eq. 7
    assert sy.trial_defaults(old) == {"recon": "mean"}       # its workers keep the per-pixel mean
    assert sy.trial_defaults({**design, "model": "desom"}) == {}
    storage = st.open_storage(st.default_url("old", tmp_path))
    sy.create_or_resume(storage, "old", old, points)
    with pytest.raises(StudyError, match="'old' was trained before eq. 7") as err:
        sy.create_or_resume(storage, "old", design, points)  # never one study with two losses
    assert "\n" not in str(err.value)
    made, created = sy.create_or_resume(storage, "new", design, points)
    assert created and made.user_attrs["design"]["recon"] == "sum"
