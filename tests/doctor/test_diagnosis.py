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
