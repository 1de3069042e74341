"""studies.signals: a SIGTERM inside held() waits for released() or the end of the hold."""
import os
import signal
import threading
import time

import pytest

from studies import signals as sg


def _term():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # let the handler run (Python runs it in the main thread between bytecodes)


def test_outside_held_a_sigterm_interrupts_at_once():
    with sg.sigterm_interrupts():
        with pytest.raises(sg.Interrupted, match="signal 15"):
            _term()
            time.sleep(5)  # never reached in full
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_held_sigterm_is_raised_when_the_hold_ends():
    steps = []
    with sg.sigterm_interrupts():
        with pytest.raises(sg.Interrupted):
            with sg.held():
                with sg.held():
                    _term()
                    steps.append("inner")
                steps.append("outer")  # the inner end is not the outermost: still held
            steps.append("never")
    assert steps == ["inner", "outer"]


def test_released_raises_a_pending_signal_first_and_lets_new_ones_through():
    ran = []
    with sg.sigterm_interrupts():
        with pytest.raises(sg.Interrupted):
            with sg.held():
                _term()
                with sg.released():
                    ran.append("body")  # not reached: the pending signal is raised on entry
    assert ran == []
    with sg.sigterm_interrupts():
        with pytest.raises(sg.Interrupted):
            with sg.held():
                with sg.released():
                    _term()
                    ran.append("after")
    assert ran == []


def test_held_works_while_other_threads_run():
    """With other threads (BLAS, torch) the kernel may pick any of them; the hold must still hold."""
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with sg.sigterm_interrupts():
            with pytest.raises(sg.Interrupted):
                with sg.held():
                    for _ in range(3):
                        _term()  # later ones are ignored
                    survived = True
            assert survived
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_other_threads_neither_hold_nor_disturb_the_main_threads_count():
    seen = []

    def worker():
        with sg.held():
            with sg.released():
                seen.append(sg._State.depth)

    with sg.sigterm_interrupts():
        with sg.held():
            t = threading.Thread(target=worker)
            t.start()
            t.join()
            assert sg._State.depth == 1
    assert seen == [1] and sg._State.depth == 0


def test_a_signal_held_by_a_block_that_failed_otherwise_does_not_fire_later():
    with sg.sigterm_interrupts():
        with pytest.raises(KeyError):
            with sg.held():
                _term()
                raise KeyError("the real error")
        assert not sg.pending()
    with sg.held():
        with sg.released():
            pass  # no stale interrupt
    assert sg._State.depth == 0


def test_released_is_a_checkpoint():
    with sg.sigterm_interrupts():
        with sg.held():
            _term()
            assert sg.pending()
            with pytest.raises(sg.Interrupted):
                with sg.released():
                    pass
            assert not sg.pending()


def test_signals_after_the_first_are_ignored_by_a_handler_not_sig_ign():
    """SIG_IGN set while a second signal is already caught at the C level makes Python raise
    "OSError: Signal 15 ignored due to race condition" (the traceback Ctrl-C left in worker logs)."""
    import os
    import signal as sig

    from studies import signals

    with signals.sigterm_interrupts():
        try:
            os.kill(os.getpid(), sig.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        except signals.Interrupted:
            pass
        for s in (sig.SIGTERM, sig.SIGINT):
            assert callable(sig.getsignal(s))  # a Python handler, never SIG_IGN
        os.kill(os.getpid(), sig.SIGTERM)  # a late signal: nothing raised
        for _ in range(1000):
            pass
