"""Stopping a worker or a supervisor cleanly on SIGTERM / Ctrl-C.

:func:`sigterm_interrupts` turns the first SIGTERM or SIGINT into
:class:`Interrupted`, so the clean-up (putting the running trial back in the
queue, stopping the workers) runs as an ``except`` block.

An exception raised at an arbitrary bytecode can land inside Optuna's storage
code and leave that process's view of the study half updated (the journal
storage, for one, counts a log record as read before it applies it), and the
clean-up then writes through that view. So the code that talks to the storage
runs inside :func:`held`: a signal that arrives there is only recorded, and
:class:`Interrupted` is raised where the holder says it is safe, in
:func:`released` (around the trial's training, or the supervisor's sleep) or
when the outermost :func:`held` block ends.

A Python-level flag rather than ``pthread_sigmask``: a process with other
threads (BLAS, PyTorch) gets the signal on one of them, and the main thread's
mask does not stop Python from running the handler. Python runs handlers in
the main thread only, so :func:`held` and :func:`released` act there and are
no-ops in other threads.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Interrupted(BaseException):
    """Raised by SIGTERM (and SIGINT) inside :func:`sigterm_interrupts` (like KeyboardInterrupt)."""


class _State:
    depth = 0  # how many held() blocks are open (0: interrupts are raised at once)
    pending: int | None = None  # a signal that arrived while held


def _raise(signum: int) -> None:
    raise Interrupted(f"signal {signum}")


def _raise_pending() -> None:
    """Raise the signal recorded while held, if any (and forget it)."""
    if _State.pending is not None:
        signum, _State.pending = _State.pending, None
        _raise(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def pending() -> bool:
    """Whether a signal arrived inside :func:`held` and waits to be raised (e.g. to skip restarting workers)."""
    return _State.pending is not None


def _ignore(signum, frame) -> None:
    """Further signals during the clean-up: ignored by a Python handler, not SIG_IGN. (A signal that the
    C level caught before SIG_IGN was set reaches Python with no handler left and raises "OSError: Signal
    15 ignored due to race condition": Ctrl-C sends SIGINT to every worker, then the supervisor SIGTERM.)"""


def _handler(signum, frame) -> None:
    # Further signals are ignored so that the clean-up is not itself interrupted.
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(signal.SIGINT, _ignore)
    if _State.depth:
        _State.pending = signum
        return
    _raise(signum)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn the first SIGTERM or SIGINT into :class:`Interrupted` while the block runs (main thread only)."""
    try:
        old = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    _State.pending = None
    try:
        yield
    finally:
        _State.pending = None  # one left by a block that ended in another error: it goes with it
        for sig, previous in old.items():
            signal.signal(sig, previous)


@contextmanager
def held() -> Iterator[None]:
    """Defer interrupts while the block runs; one that arrived is raised when the outermost block ends."""
    if not _main_thread():
        yield
        return
    _State.depth += 1
    try:
        yield
    except BaseException:
        if _State.depth == 1:
            _State.pending = None  # already leaving with another error, which stands for the signal too
        raise
    finally:
        _State.depth -= 1
    if _State.depth == 0:
        _raise_pending()


@contextmanager
def released() -> Iterator[None]:
    """Inside :func:`held`: let interrupts through while the block runs (a pending one is raised first).

    ``with released(): pass`` is a checkpoint: it raises a pending interrupt, if any.
    """
    if not _main_thread():
        yield
        return
    depth, _State.depth = _State.depth, 0
    try:
        _raise_pending()
        yield
    finally:
        _State.depth = depth
