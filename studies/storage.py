"""Where a study lives: Optuna storages by URL (SPEC 6, "storage is the record of truth").

Which storage a command uses (:func:`resolve_url`): ``--storage URL``, else
env ``DCSOMRL_STORAGE`` (how ``lhs`` hands the URL to its workers, so that a
password never shows in the process list), else the study's journal file.

URL forms accepted:

- ``journal:///abs/path/journal.log`` (or ``journal://rel/path.log``): Optuna's
  :class:`~optuna.storages.JournalStorage` on a :class:`JournalFileBackend`.
  Every open checks the file first (:func:`check_journal`): a record cut off
  mid-write or garbage is refused in one line naming the file and the record
  (Optuna would skip it, append after it, and fail on every later read);
  :func:`repair_journal` (``dcsomrl-study repair``) drops a damaged *last*
  record, keeping a backup.
  The default, at ``<results>/<study>/journal.log``. For workers on one machine
  (or a file system with working ``link()``/``fcntl`` locks).
- ``postgresql://user:password@host:port/db`` (any SQLAlchemy PostgreSQL or
  MySQL URL): :class:`~optuna.storages.RDBStorage` with heartbeats, for
  workers on several machines. A worker records a heartbeat every
  ``DCSOMRL_HEARTBEAT_INTERVAL`` seconds (default 60); a RUNNING trial whose
  heartbeat is older than ``DCSOMRL_GRACE_PERIOD`` seconds (default 3 x the
  interval) is failed by the next worker that looks and re-enqueued with the
  same parameters by :class:`Requeue`.
- ``sqlite:///...`` is refused: SQLite ignores ``SELECT ... FOR UPDATE``, the
  row lock Optuna's RDB storage relies on to hand each waiting trial to one
  worker only, so parallel workers could run the same design point twice.

Why the pop is atomic (read in optuna 5's source, ``Study._pop_waiting_trial_id``
and the storages' ``set_trial_state_values(trial_id, RUNNING)``):

- RDB: the trial row is read ``FOR UPDATE`` (PostgreSQL/MySQL row lock) and
  switched WAITING -> RUNNING in that transaction; a second worker blocks on
  the lock, then sees RUNNING and gets ``False``.
- Journal: every worker appends a "set RUNNING" record under the file lock and
  replays the log; on replay only the first such record for a trial applies
  (later ones are rejected because the trial is already RUNNING), and a worker
  owns the trial only when its own record was the one applied.

:func:`pop_waiting` uses exactly that storage call, but unlike ``Study.ask``
never creates a fresh trial when the queue is empty.
"""
from __future__ import annotations

import copy
import os
import pathlib
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlparse

import optuna
from optuna.trial import FrozenTrial, TrialState

from dcsomrl.util import one_line
from studies.errors import StorageError

JOURNAL_FILE = "journal.log"
#: Environment variable read when ``--storage`` is absent (see :func:`resolve_url`).
STORAGE_ENV = "DCSOMRL_STORAGE"
#: User attributes that belong to the design point (kept when a trial is re-enqueued).
DESIGN_ATTRS = ("design_index", "seed")
#: How often a design point is retried after its worker died (then it stays failed).
MAX_RETRY = 3


def default_url(study: str, results: str | os.PathLike = "results") -> str:
    """The default storage of a study: its journal file ``<results>/<study>/journal.log``."""
    path = (pathlib.Path(results) / study / JOURNAL_FILE).resolve()
    return f"journal://{path}"


def resolve_url(storage: str | None, study: str, results: str | os.PathLike = "results") -> str:
    """The storage URL a command uses: ``--storage`` when given, else env
    ``DCSOMRL_STORAGE`` (how ``lhs`` hands a URL with a password to its workers,
    never on their command line), else the study's journal under ``results``
    (:func:`default_url`)."""
    return storage or os.environ.get(STORAGE_ENV, "").strip() or default_url(study, results)


def quiet_optuna() -> None:
    """Quiet Optuna for the commands: WARNING-level logs only (its INFO lines,
    "A new study created ...", would interleave with our progress) and no
    ExperimentalWarning (heartbeats and ``fail_stale_trials`` are experimental
    in Optuna; we rely on them knowingly)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@contextmanager
def experimental_ok() -> Iterator[None]:
    """Run a block that uses Optuna's experimental features without their ExperimentalWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def journal_path(url: str) -> pathlib.Path | None:
    """The journal file of a ``journal://`` URL (None for other URLs)."""
    if not url.startswith("journal:"):
        return None
    parsed = urlparse(url)
    path = parsed.netloc + parsed.path
    if not path:
        raise StorageError(f"storage {url!r} names no file; expected journal:///path/to/journal.log")
    return pathlib.Path(path)


# --------------------------------------------------------------------------- the journal's integrity

class JournalDamaged(StorageError):
    """A journal file with a record that is not whole JSON (one line naming the file and the record).

    ``line``: the record's line number (1-based); ``trailing``: it is the last record (a crash or a full
    disk mid-write), which :func:`repair_journal` can drop; a damaged record before others cannot be
    dropped without losing what follows, so it is refused.
    """

    def __init__(self, message: str, path: pathlib.Path, line: int, trailing: bool):
        super().__init__(message)
        self.path, self.line, self.trailing = path, line, trailing


def _records(data: bytes) -> list[bytes]:
    """The journal's records: its lines, the last one kept even without its newline."""
    lines = data.split(b"\n")
    return lines[:-1] + ([lines[-1]] if lines[-1] else [])


def _whole(record: bytes) -> bool:
    """Whether a journal record is one whole JSON object (Optuna writes one per line)."""
    import json

    try:
        return isinstance(json.loads(record), dict)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return False


def _excerpt(record: bytes, width: int = 60) -> str:
    text = record.decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= width else text[:width] + " [cut here]")


def read_journal(path: pathlib.Path) -> bytes:
    """The journal's bytes, read under Optuna's own file lock, so a record being appended by a worker
    right now is never mistaken for a damaged one."""
    from optuna.storages.journal._file import JournalFileSymlinkLock, get_lock_file

    if not path.is_file():
        return b""
    try:
        with get_lock_file(JournalFileSymlinkLock(str(path))):
            return path.read_bytes()
    except PermissionError:  # a read-only results folder: no lock can be taken there, and no worker writes
        return path.read_bytes()


def journal_damage(path: pathlib.Path, data: bytes | None = None) -> JournalDamaged | None:
    """The first damaged record of a journal file as a :class:`JournalDamaged` (not raised), or None.

    A record is damaged when it is not one whole JSON object, or when it is the last one and lacks its
    newline (cut off mid-write). Pure given ``data`` (the file's bytes; read under the lock otherwise).
    """
    data = read_journal(path) if data is None else data
    records = _records(data)
    for number, record in enumerate(records, start=1):
        last = number == len(records)
        cut = last and not data.endswith(b"\n")
        if record.strip() and _whole(record) and not cut:
            continue
        if not record.strip() and not last:
            what = "is empty"
        else:
            what = "is cut off (no end of line)" if cut else "is not a whole JSON record"
        if last:
            return JournalDamaged(
                f"journal {path}: its last record (line {number}, {len(record)} bytes: {_excerpt(record)}) {what}, "
                f"as a crash or a full disk leaves it; nothing more is appended after it: run dcsomrl-study repair "
                f"--study NAME (keeps a backup, drops only that record)", path, number, True)
        return JournalDamaged(
            f"journal {path}: record at line {number} of {len(records)} {what} ({_excerpt(record)}), with "
            f"records after it; it cannot be dropped without losing them: restore the journal from a backup",
            path, number, False)
    return None


def check_journal(path: pathlib.Path) -> None:
    """Raise :class:`JournalDamaged` (one line: the file, the record, what to do) for a damaged journal.

    Every command that opens a journal calls it first (:func:`open_storage`): Optuna itself would skip a
    partial last record silently, append after it, and fail on every later read with a message that
    names no file.
    """
    damage = journal_damage(path)
    if damage is not None:
        raise damage


def repair_journal(path: pathlib.Path) -> tuple[pathlib.Path, str] | None:
    """Drop a journal's partial *last* record, keeping a backup; (backup path, what was dropped), or None
    when the journal is whole. A damaged record before others raises :class:`JournalDamaged` (refused)."""
    import shutil
    import time

    from optuna.storages.journal._file import JournalFileSymlinkLock, get_lock_file

    if not path.is_file():
        raise StorageError(f"no study journal at {path} (is the study name or --storage/--results right?)")
    with get_lock_file(JournalFileSymlinkLock(str(path))):
        data = path.read_bytes()
        damage = journal_damage(path, data)
        if damage is None:
            return None
        if not damage.trailing:
            raise damage
        records = _records(data)
        dropped = records[-1]
        backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(path, backup)
        keep = len(data) - len(dropped) - (1 if data.endswith(b"\n") else 0)
        with open(path, "r+b") as f:
            f.truncate(keep)
    return backup, f"line {damage.line}, {len(dropped)} bytes: {_excerpt(dropped)}"


def heartbeat_settings() -> tuple[int, int]:
    """(interval, grace period) in seconds for RDB storages, from the environment."""
    try:
        interval = int(os.environ.get("DCSOMRL_HEARTBEAT_INTERVAL", "60"))
        grace = int(os.environ.get("DCSOMRL_GRACE_PERIOD", str(3 * interval)))
    except ValueError:
        raise StorageError("DCSOMRL_HEARTBEAT_INTERVAL and DCSOMRL_GRACE_PERIOD must be integers (seconds)") from None
    if interval < 1 or grace <= interval:
        raise StorageError(f"need DCSOMRL_HEARTBEAT_INTERVAL >= 1 and DCSOMRL_GRACE_PERIOD > it; "
                           f"got {interval} and {grace}")
    return interval, grace


def open_storage(url: str, *, create: bool = True) -> optuna.storages.BaseStorage:
    """An Optuna storage for a URL (see the module docstring for the forms).

    ``create=False``: a journal file must exist already (for commands that
    read a study: worker, status, export).
    """
    scheme = urlparse(url).scheme.split("+")[0].lower()
    if scheme == "journal":
        path = journal_path(url)
        if not create and not path.is_file():
            raise StorageError(f"no study journal at {path} (is the study name or --storage/--results right?)")
        check_journal(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    if scheme == "sqlite":
        raise StorageError("SQLite storage is refused: it cannot hand a waiting trial to exactly one of "
                           "several parallel workers (no SELECT ... FOR UPDATE row lock); use the default "
                           "journal file (journal:///path/journal.log) or postgresql://")
    if scheme in ("postgresql", "postgres", "mysql"):
        interval, grace = heartbeat_settings()
        given, url = url, _with_driver(url)
        with experimental_ok():
            try:
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=interval, grace_period=grace,
                    heartbeat_stale_trial_callback=Requeue(max_retry=MAX_RETRY),
                    engine_kwargs={"pool_pre_ping": True})
            except Exception as err:  # sqlalchemy's OperationalError, ImportError of a driver...
                raise StorageError(f"cannot open storage {redact(given)}: {one_line(err)}") from None
    raise StorageError(f"unknown storage URL {redact(url)!r}; expected journal:///path/journal.log "
                       "or postgresql://user:password@host:port/database")


def _with_driver(url: str) -> str:
    """Name an installed driver for a bare ``postgresql://`` (``postgres://``) URL.

    SQLAlchemy 2.1 picks psycopg (3) for a bare URL; the project ships
    psycopg2-binary, so psycopg2 is named when psycopg is not installed.
    """
    head, sep, rest = url.partition("://")
    if head not in ("postgresql", "postgres"):
        return url
    import importlib.util

    driver = "" if importlib.util.find_spec("psycopg") or not importlib.util.find_spec("psycopg2") else "+psycopg2"
    return f"postgresql{driver}{sep}{rest}"


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


# --------------------------------------------------------------------------- queue

def pop_waiting(storage: optuna.storages.BaseStorage, study_id: int) -> int | None:
    """Atomically take one WAITING trial (set it RUNNING); its trial id, or None when none waits.

    The same storage call as ``Study._pop_waiting_trial_id`` (see the module
    docstring for why only one worker can win a trial), without ``Study.ask``'s
    fallback of creating a new trial when the queue is empty.
    """
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every interval while the block runs (RDB storages only)."""
    if not heartbeat_enabled(storage):
        yield
        return
    stop = threading.Event()
    interval = storage.get_heartbeat_interval()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a lost connection: the next beat retries; staleness handles the rest
                pass
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Requeue(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Re-enqueue a trial whose worker was lost, with the same parameters, up to ``max_retry`` times.

    Optuna's retry callback, except that only the design point's attributes
    (:data:`DESIGN_ATTRS`: design index and seed) are carried over, not the
    dead worker's runtime records. The copy keeps the original's
    ``fixed_params`` (enqueued values) and the retry history in its system
    attributes. Called by ``fail_stale_trials`` (RDB heartbeats) and by
    :func:`studies.study.recover` (dead processes on this machine), each time
    after the trial was switched to FAIL by exactly one process, so a lost
    trial is re-enqueued once.
    """

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        keep = copy.copy(trial)
        keep.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in DESIGN_ATTRS}
        super().__call__(study, keep)


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Re-enqueue a lost trial (see :class:`Requeue`)."""
    with experimental_ok():
        Requeue(max_retry=MAX_RETRY)(study, trial)
