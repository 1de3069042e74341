"""The supervisor's poll step (:func:`studies.launch.poll_step`): decisions from states, no processes.

And its thin loop (:func:`studies.launch.supervise`) with stand-in processes and study counts, to show
that it carries the decisions out. The same with real worker processes is in test_runner.py.
"""
import ast
from pathlib import Path

import pytest

from studies import launch, worker
from studies.errors import Exit
from studies.launch import Decision, PollState, poll_step


def state(codes, *, left=4, waiting=3, slots=2, fatal=False, stop=False):
    return PollState(dict(codes), left, waiting, slots, fatal, stop)


# --------------------------------------------------------------------------- exit statuses

def test_exit_statuses_keep_their_numbers_and_the_worker_uses_them():
    assert [int(e) for e in Exit] == [0, 1, 2, 3, 130]
    assert (Exit.OK, Exit.ENVIRONMENT, Exit.INTERRUPTED) == (0, 3, 130)
    assert (Exit.FAILED, Exit.INTERNAL) == (Exit.UNFINISHED, Exit.ENVIRONMENT)  # two names, one status each
    assert launch.Exit is Exit and worker.Exit is Exit  # the supervisor and its workers read one enum


def test_exit_statuses_are_one_enum():
    """No module but studies/errors.py defines exit statuses (an ``EXIT_*`` constant or an IntEnum)."""
    root = Path(__file__).resolve().parents[2]
    found = []
    for path in sorted(p for pkg in ("dcsomrl", "studies", "analysis", "dcsomrl_study")
                       for p in (root / pkg).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = getattr(node, "targets", [getattr(node, "target", None)])
            names = [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]
            if any(name.startswith("EXIT_") for name in names) or (
                    isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("IntEnum") for b in node.bases)):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert [where.split(":")[0] for where in found] == ["studies/errors.py"], found


# --------------------------------------------------------------------------- poll_step

def test_running_workers_are_left_alone():
    assert poll_step(state({0: None, 1: None})) == Decision(restarts_left=4)


def test_a_worker_that_exits_0_with_the_queue_empty_means_done():
    assert poll_step(state({0: 0}, waiting=0, slots=1)) == Decision(restarts_left=4, exit=Exit.OK)
    assert poll_step(state({}, waiting=0)) == Decision(restarts_left=4, exit=Exit.OK)  # nothing was started


def test_a_worker_that_exits_0_is_not_replaced_while_others_run():
    assert poll_step(state({0: 0, 1: None})) == Decision(restarts_left=4)


@pytest.mark.parametrize("rc", [1, -9, 130])  # a crash, a kill, a worker stopped on its own
def test_a_dead_worker_is_restarted_while_the_budget_lasts(rc):
    assert poll_step(state({0: None, 1: rc}, left=2)) == Decision(restart=(1,), restarts_left=1)
    assert poll_step(state({1: rc, 0: rc}, left=2)) == Decision(restart=(1, 0), restarts_left=0)
    assert poll_step(state({1: rc, 0: rc}, left=1)) == Decision(restart=(1,), restarts_left=0)


def test_a_dead_worker_is_not_restarted_when_no_point_waits():
    assert poll_step(state({0: None, 1: 1}, waiting=0)) == Decision(restarts_left=4)
    assert poll_step(state({1: 1}, waiting=0)) == Decision(restarts_left=4, exit=Exit.OK)


def test_with_the_budget_spent_the_supervisor_stops_with_points_unfinished():
    assert poll_step(state({0: None, 1: 1}, left=0)) == Decision(restarts_left=0)  # the other one goes on
    assert poll_step(state({1: 1}, left=0, waiting=3)) == Decision(restarts_left=0, exit=Exit.UNFINISHED,
                                                                   unfinished=3)


@pytest.mark.parametrize("rc", [Exit.ENVIRONMENT, Exit.USAGE])
def test_a_problem_of_the_machine_is_never_restarted_and_stops_with_3(rc):
    assert poll_step(state({0: None, 1: int(rc)})) == Decision(restarts_left=4, fatal=True)
    # later deaths are not replaced either, and when none is left it stops with 3 (no "still wait" report)
    assert poll_step(state({0: 1}, fatal=True)) == Decision(restarts_left=4, fatal=True, exit=Exit.ENVIRONMENT)
    assert poll_step(state({0: int(rc)})) == Decision(restarts_left=4, fatal=True, exit=Exit.ENVIRONMENT)


def test_deaths_are_judged_in_start_order_within_one_poll():
    # the crash seen before the machine problem is restarted; the one after it is not
    assert poll_step(state({0: 1, 1: 3, 2: 1}, slots=3)) == Decision(restart=(0,), restarts_left=3, fatal=True)


def test_a_requested_stop_restarts_nothing_and_ends_with_130():
    assert poll_step(state({0: None, 1: 1}, stop=True)) == Decision(restarts_left=4)  # the signal ends it
    assert poll_step(state({1: 1}, stop=True)) == Decision(restarts_left=4, exit=Exit.INTERRUPTED, unfinished=3)
    assert poll_step(state({1: 130}, waiting=0, stop=True)) == Decision(restarts_left=4, exit=Exit.INTERRUPTED)
    assert poll_step(state({1: 3}, stop=True)) == Decision(restarts_left=4, fatal=True, exit=Exit.INTERRUPTED)


def test_when_no_worker_is_left_and_points_wait_the_slots_start_again():
    # e.g. workers that ended their run (exit 0) while trials of a dead one went back to the queue
    assert poll_step(state({0: 0, 1: 0}, waiting=5, slots=2, left=4)) == Decision(relaunch=2, restarts_left=2)
    assert poll_step(state({0: 0}, waiting=1, slots=2, left=1)) == Decision(relaunch=1, restarts_left=0)
    assert poll_step(state({0: 0}, waiting=1, left=0)) == Decision(restarts_left=0, exit=Exit.UNFINISHED,
                                                                   unfinished=1)


# --------------------------------------------------------------------------- the loop

class FakeProc:
    """A worker whose poll() answers from a script: None while it runs, then its exit status."""

    def __init__(self, script):
        self.script = list(script)
        self.signalled = False

    def poll(self):
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def send_signal(self, sig):
        self.signalled = True

    def wait(self, timeout=None):
        return 0


@pytest.fixture
def fake_study(monkeypatch):
    """The storage side of supervise: `waiting` design points, counted by a stand-in count_points."""
    queue = {"waiting": 2, "recovered": 0}
    monkeypatch.setattr(launch.sy, "total_points", lambda study: 2)
    monkeypatch.setattr(launch.sy, "count_points", lambda trials, n: {"waiting": queue["waiting"]})
    monkeypatch.setattr(launch.sy, "recover", lambda study, storage: queue.__setitem__(
        "recovered", queue["recovered"] + 1))

    class Study:
        def get_trials(self, deepcopy=False):
            return []

    return Study(), queue


def run(fake_study, tmp_path, scripts, **kw):
    study, queue = fake_study
    started, procs = [], []

    def start(slot, i):
        started.append(i)
        procs.append(FakeProc(scripts.pop(0)))
        if len(started) == 2:  # both first workers took their point
            queue["waiting"] = 0
        return procs[-1]

    slots = launch.plan_slots("cpu", 2, cores=2)
    outcome = launch.supervise(study, None, slots, start, log_dir=tmp_path, poll=0, **kw)
    return outcome, started, procs


def test_the_loop_restarts_a_dead_worker_and_ends_when_the_queue_is_drained(fake_study, tmp_path, monkeypatch):
    study, queue = fake_study
    scripts = [[None, -9], [None, None, 0], [None, 0]]

    def back_in_queue(*args):  # the killed worker's trial goes back until its replacement has started
        queue["waiting"] = 1 if len(scripts) == 1 else 0

    monkeypatch.setattr(launch.sy, "recover", back_in_queue)
    outcome, started, _ = run(fake_study, tmp_path, scripts)
    assert outcome.exit_code is Exit.OK and started == [0, 1, 0]
    assert outcome.messages == ["worker 0 (cpu) stopped with signal 9"]


def test_the_loop_stops_with_3_on_a_problem_of_the_machine(fake_study, tmp_path):
    (tmp_path / "worker-1.log").write_text("cannot load the data set\n")
    outcome, started, _ = run(fake_study, tmp_path, [[None, 0], [3]])
    assert outcome.exit_code is Exit.ENVIRONMENT and started == [0, 1]
    assert outcome.messages == ["worker 1 (cpu) stopped with exit status 3: cannot load the data set"]


def test_the_loop_gives_up_when_the_budget_is_spent(fake_study, tmp_path, monkeypatch):
    study, queue = fake_study
    monkeypatch.setattr(launch.sy, "recover", lambda *args: queue.__setitem__("waiting", 1))
    outcome, started, _ = run(fake_study, tmp_path, [[1], [0], [1], [1]], max_restarts=2)
    assert outcome.exit_code is Exit.UNFINISHED and started == [0, 1, 0, 0]
    assert outcome.messages[-1] == f"1 design points still wait: workers kept failing; see {tmp_path}"


def test_an_interrupt_stops_the_workers_and_exits_130(fake_study, tmp_path):
    study, queue = fake_study

    def progress(counts, eta):
        raise KeyboardInterrupt

    outcome, started, procs = run(fake_study, tmp_path, [[None], [None]], progress=progress)
    assert outcome.exit_code is Exit.INTERRUPTED and all(p.signalled for p in procs)
    assert outcome.messages[-1].startswith("interrupted: running trials went back to the queue")
    assert queue["recovered"] >= 1

