"""The doctor's diagnosis from run records, without running a suite."""

from __future__ import annotations

from pathlib import Path

from loopwarden._doctor import _diagnosis as diag


def _record(nodeid: str, duration: float, timer_wait: float, outcome: str = "passed") -> dict:
    return {
        "nodeid": nodeid,
        "path": "/suite/test_x.py",
        "line": 3,
        "duration": duration,
        "timer_wait": timer_wait,
        "outcome": outcome,
    }


def test_virtual_time_lists_only_tests_it_really_speeds_up() -> None:
    """janus's test_close_after_sync_join waited 0.10 s (on a thread, which virtual time does not
    shorten) and was listed as a problem that "saves 0.00 s"."""
    main = {
        "test_x.py::test_sleeps": _record("test_x.py::test_sleeps", 0.31, 0.3),
        "test_x.py::test_thread": _record("test_x.py::test_thread", 0.11, 0.1),
    }
    rerun = [
        _record("test_x.py::test_sleeps", 0.01, 0.0),
        _record("test_x.py::test_thread", 0.12, 0.0),
    ]
    places = diag.Places(Path("/suite"), "/suite")
    problems, summary = diag.from_virtual(main, rerun, places, min_saving=0.05)
    assert [p.tests for p in problems] == [["test_x.py::test_sleeps"]]
    assert summary == {
        "tests": 1,
        "real_seconds": 0.31,
        "virtual_seconds": 0.01,
        "saved_seconds": 0.3,
    }


def test_what_a_hung_test_left_running_is_part_of_the_hang_not_a_leak() -> None:
    """aiojobs' test_plugin, stopped after 10 s in ``wait_and_close``, was listed twice: as a hang
    and as a "leak" of the scheduler task it was waiting for, which only the doctor's interruption
    left behind. An error the test made is still its own problem."""
    record = {
        **_record("test_x.py::test_waits", 10.0, 0.0, outcome="failed"),
        "findings": [
            {
                "kind": "hang",
                "name": "call",
                "message": "loopwarden: test did not finish its call phase within 10 s",
                "detail": ["parked at: wait_and_close"],
            },
            {
                "kind": "task",
                "name": "Scheduler._wait_failed",
                "message": "task 'Task-4' running Scheduler._wait_failed() is still pending",
            },
            {
                "kind": "callback-error",
                "name": "RuntimeError",
                "message": "the event loop's exception handler was called: RuntimeError",
            },
        ],
    }
    problems = diag.from_findings([record], diag.Places(Path("/suite"), "/suite"))
    assert [(p.category, p.data["kind"]) for p in problems] == [
        ("hang", "hang"),
        ("unseen-error", "callback-error"),
    ]
    assert problems[0].detail == [
        "parked at: wait_and_close",
        "left running when the phase was stopped (not reported apart): task 'Task-4' running "
        "Scheduler._wait_failed() is still pending",
    ]
