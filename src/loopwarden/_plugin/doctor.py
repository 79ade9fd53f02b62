"""What ``loopwarden doctor`` needs from a test run beyond the JSON report: ``--lw-doctor=PATH``.

Not an entry point: the doctor passes ``-p loopwarden._plugin.doctor --lw-doctor=PATH`` to the
pytest subprocess it starts, so ordinary runs pay nothing for it. With it, each finished test
appends one JSON line to ``PATH`` (streamed, so the doctor shows progress while the run goes and
keeps what was found when the run is interrupted):

- where the test is defined, whether it is async, its outcome and real duration;
- ``timer_wait``: real seconds the loop spent in ``select()`` waiting for a timer — a wait that
  ended with no I/O (so nothing but the clock woke it). That is the time virtual time could
  save; the doctor re-runs such tests in virtual time to measure what it really saves;
- ``io_waits``: how many times I/O or another thread (a socket became readable,
  ``call_soon_threadsafe``) woke the loop while a timer was pending: work that takes real time
  finished while the test may have been sleeping. A sleep before a check can only lose its race
  to such work; where none happened the doctor does not report the sleep (LW102);
- ``virtual_skipped``: virtual seconds the clock jumped over during the test;
- ``tasks``: each task the test created, with its creation site and when it was created, ended,
  and how (``done``, ``failed``, ``cancelled``, ``leaked`` — still pending when the leak guard
  looked — or ``pending``), for the HTML report's timelines;
- ``findings``: the guards' findings (as in ``--lw-report``);
- ``seed`` / ``fuzz_run``: the fuzz schedule of the run, when fuzzing.

The first line is ``{"event": "collected", "total": N, "rootdir": ...}``.

Per-test data rides on the teardown report (``report.loopwarden_doctor``), so it reaches the
xdist controller like the guards' findings do; the process that sees every report writes the file.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pytest

from loopwarden._core import _private
from loopwarden._core._loop import WardenLoop
from loopwarden._plugin._keys import (
    FINDINGS_ATTR,
    FUZZ_ARG,
    LEAK_GUARD,
    SEED,
    VIRTUAL,
    base_nodeid,
    outcome_after,
)
from loopwarden._plugin._loops import live_loops, on_new_loop
from loopwarden._plugin.config import forget_marker_args

if TYPE_CHECKING:
    from loopwarden._core._schema import (
        CollectedEvent,
        DoctorRecord,
        FindingJson,
        MeasuredTest,
        Outcome,
        TaskJson,
        TaskState,
    )

_monotonic = time.monotonic

# The attribute that carries a test's record on its teardown report.
RECORD_ATTR = "loopwarden_doctor"
# Enough tasks for a readable timeline; a test that makes more is summarised by the count.
MAX_TASKS = 200


@dataclass
class _TaskRecord:
    """One task of a test: times are ``time.monotonic()`` readings until the record is written."""

    name: str
    coro: str
    site: str | None
    owner: object
    created: float
    ended: float | None = None
    state: TaskState = "pending"


@dataclass
class _TestClock:
    """Per-test readings taken at setup, to turn the session's counters into per-test numbers."""

    started: float
    timer_wait: float
    skipped: float
    io_waits: int = 0
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)


_CLOCK = pytest.StashKey[_TestClock]()


class Doctor:
    """The session's recorder: instruments every loop loopwarden makes, collects per test."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.root = str(config.rootpath)
        self.timer_wait = 0.0
        self.io_waits = 0
        # Off while the leak guard settles and cleans up: its waits are not the test's.
        self.paused = False
        self.loops: weakref.WeakSet[WardenLoop] = weakref.WeakSet()
        self.tasks: list[_TaskRecord] = []
        # Tasks the leak guard found still pending (id of the task -> its record).
        self.by_task: weakref.WeakKeyDictionary[asyncio.Future[Any], _TaskRecord] = (
            weakref.WeakKeyDictionary()
        )
        self._restore: list[Callable[[], None]] = []
        self._out: TextIO | None = None
        self.total: int | None = None
        self.plan: Plan | None = None

    # -- output (the process that sees every report) -------------------------------------------

    def write(self, record: DoctorRecord | CollectedEvent) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("w", encoding="utf-8")
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()  # the doctor reads the file while the run goes on

    def collected(self, total: int) -> None:
        """The first line: how many tests will run, and the configuration later runs need."""
        if self.total is not None:
            return
        self.total = total
        inipath = self.config.inipath
        self.write(
            {
                "event": "collected",
                "total": total,
                "rootdir": self.root,
                # Later runs select tests by id; they must read the same configuration.
                "inifile": str(inipath) if inipath else None,
            }
        )

    def close(self) -> None:
        for restore in reversed(self._restore):
            restore()
        self._restore.clear()
        if self._out is not None:
            self._out.close()
            self._out = None

    # -- instruments ---------------------------------------------------------------------------

    def instrument(self, loop: WardenLoop) -> None:
        """Count timer waits in ``loop``'s real ``select()`` and record the tasks it creates."""
        if loop in self.loops:
            return
        self.loops.add(loop)
        instrument = _LoopInstrument(self, loop)
        loop.add_instrument(instrument)
        self._restore.append(lambda: loop.remove_instrument(instrument))

    def watch_leak_cleanup(self) -> None:
        """Mark the tasks the leak guard cleans up as leaked (they outlived their test)."""
        guard = self.config.stash.get(LEAK_GUARD, None)
        if guard is None:
            return
        observer = _LeakCheckObserver(self)
        guard.add_observer(observer)
        self._restore.append(lambda: guard.remove_observer(observer))

    def skipped(self) -> float:
        return sum(loop.skipped for loop in list(self.loops) if not loop.is_closed())

    # -- per test ------------------------------------------------------------------------------

    def take_tasks(self, owner: str, origin: float) -> list[TaskJson]:
        mine = [t for t in self.tasks if t.owner == owner]
        self.tasks = [t for t in self.tasks if t.owner != owner]
        return [
            {
                "name": t.name,
                "coro": t.coro,
                "site": t.site,
                "created": round(t.created - origin, 6),
                "ended": None if t.ended is None else round(t.ended - origin, 6),
                "state": t.state,
            }
            for t in mine[:MAX_TASKS]
        ]


DOCTOR = pytest.StashKey[Doctor]()


def pytest_addoption(parser: pytest.Parser) -> None:
    # A flag only (no ini key): it is the doctor's channel to its own subprocess, not a setting
    # a project keeps.
    parser.getgroup("loopwarden").addoption(
        "--lw-doctor",
        dest="lw_doctor",
        default="",
        metavar="PATH",
        help="(used by 'loopwarden doctor') write one JSON line per test to PATH: timer waits, "
        "task timelines, findings",
    )
    parser.getgroup("loopwarden").addoption(
        "--lw-doctor-plan",
        dest="lw_doctor_plan",
        default="",
        metavar="PATH",
        help="(used by 'loopwarden doctor') a JSON file naming the tests to run in virtual time "
        "and the fuzz schedules to replay, by test id",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    raw = str(config.getoption("lw_doctor") or "")
    if not raw:
        return
    path = Path(raw)
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    doctor = Doctor(config, path)
    plan = str(config.getoption("lw_doctor_plan") or "")
    if plan:
        doctor.plan = _read_plan(Path(config.invocation_params.dir, plan))
    config.stash[DOCTOR] = doctor
    config.add_cleanup(doctor.close)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(doctor), "loopwarden-doctor-collector")


@dataclass
class Plan:
    """What the doctor asks of a re-run, per test id (without the ``fuzzN`` parameter).

    - ``virtual``: tests to run in virtual time — they passed in it, so fuzzing them there
      costs no real waits;
    - ``replay``: a fuzz schedule (seed) per test, to run once alone, so the doctor can tell a
      test that fails under that schedule from one that fails only when run again after itself.
    """

    virtual: frozenset[str] = frozenset()
    replay: dict[str, int] = field(default_factory=dict)


def _read_plan(path: Path) -> Plan:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Plan(
            frozenset(str(n) for n in raw.get("virtual", [])),
            {str(k): int(v) for k, v in raw.get("replay", {}).items()},
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise pytest.UsageError(
            f"--lw-doctor-plan={path}: not a doctor plan ({exc}); it is written by "
            "'loopwarden doctor' for its own runs"
        ) from None


# Before the clock plugin reads the test's markers, once collection is finished. (The fuzz
# plugin's seeds do not interfere: a replay run is not fuzzed, so it gives no test a seed.)
@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    doctor = item.config.stash.get(DOCTOR, None)
    if doctor is None or doctor.plan is None:
        return

    base = base_nodeid(item.nodeid)
    if base in doctor.plan.virtual:
        # Appended: a marker on the test function comes first and wins (the plan lists only
        # tests that ran in virtual time, so none of them says virtual_time=False anyway).
        item.add_marker(pytest.mark.loopwarden(virtual_time=True))
        forget_marker_args(item)
    seed = doctor.plan.replay.get(base)
    if seed is not None:
        item.stash[SEED] = seed


def pytest_sessionstart(session: pytest.Session) -> None:
    doctor = session.config.stash.get(DOCTOR, None)
    if doctor is None:
        return
    on_new_loop(session.config, doctor.instrument)
    doctor.watch_leak_cleanup()


def pytest_collection_finish(session: pytest.Session) -> None:
    doctor = session.config.stash.get(DOCTOR, None)
    if doctor is not None and not hasattr(session.config, "workerinput"):
        doctor.collected(len(session.items))


def _instrument_live(doctor: Doctor) -> None:

    for loop in live_loops(doctor.config):
        doctor.instrument(loop)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    doctor = item.config.stash.get(DOCTOR, None)
    if doctor is not None:
        _instrument_live(doctor)
        item.stash[_CLOCK] = _TestClock(
            _monotonic(), doctor.timer_wait, doctor.skipped(), doctor.io_waits
        )
    return (yield from _phase(item, "setup"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _phase(item, "call"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _phase(item, "teardown"))


def _phase(item: pytest.Item, name: str) -> Generator[None, None, None]:
    clock = item.stash.get(_CLOCK, None)
    started = _monotonic()
    try:
        return (yield)
    finally:
        if clock is not None:
            clock.phases[name] = (started - clock.started, _monotonic() - clock.started)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    doctor = item.config.stash.get(DOCTOR, None)
    clock = item.stash.get(_CLOCK, None)
    if doctor is None or clock is None or call.when != "teardown":
        return report

    _instrument_live(doctor)  # loops made during the test (a per-test loop)
    path, line, _ = item.location
    callspec = getattr(item, "callspec", None)
    fuzz_run = callspec.params.get(FUZZ_ARG) if callspec is not None else None
    ended = _monotonic()
    record: MeasuredTest = {
        "path": str(Path(item.config.rootpath, path)),
        "line": (line or 0) + 1,
        # The own runner swaps an async test for a sync wrapper; __wrapped__ leads back.
        "async": inspect.iscoroutinefunction(inspect.unwrap(getattr(item, "obj", _no_function))),
        "virtual": bool(item.stash.get(VIRTUAL, False)),
        "duration": round(ended - clock.started, 6),
        "timer_wait": round(doctor.timer_wait - clock.timer_wait, 6),
        "io_waits": doctor.io_waits - clock.io_waits,
        "virtual_skipped": round(doctor.skipped() - clock.skipped, 6),
        "phases": {k: [round(a, 6), round(b, 6)] for k, (a, b) in clock.phases.items()},
        "seed": item.stash.get(SEED, None),
        "fuzz_run": fuzz_run,
        "tasks": doctor.take_tasks(item.nodeid, clock.started),
    }
    setattr(report, RECORD_ATTR, record)
    return report


def _no_function() -> None:
    """Stands in for a test item without a Python function (a doctest, a YAML item)."""


class _Collector:
    """Joins each test's outcome (from its reports) with its record; writes a line per test."""

    def __init__(self, doctor: Doctor) -> None:
        self.doctor = doctor
        self.outcomes: dict[str, Outcome] = {}
        self.messages: dict[str, str] = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        # Under xdist the controller collects nothing itself: each worker collects the whole
        # suite and tells the controller its test ids; the first to finish gives the total.
        self.doctor.collected(len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        outcome = outcome_after(self.outcomes.get(nodeid), report)
        if outcome is not None:
            self.outcomes[nodeid] = outcome
        if report.failed and nodeid not in self.messages:
            self.messages[nodeid] = _first_line(report)
        if report.when != "teardown":
            return
        record: MeasuredTest | None = getattr(report, RECORD_ATTR, None)
        if record is None:
            return
        findings: list[FindingJson] = getattr(report, FINDINGS_ATTR, None) or []
        line: DoctorRecord = {
            "event": "test",
            "nodeid": nodeid,
            "outcome": self.outcomes.pop(nodeid, "passed"),
            "message": self.messages.pop(nodeid, None),
            **record,
            "findings": findings,
        }
        self.doctor.write(line)


def _first_line(report: pytest.TestReport) -> str:
    lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("E "):
            return line[2:].strip()
    return lines[0] if lines else ""


def pytest_unconfigure(config: pytest.Config) -> None:
    doctor = config.stash.get(DOCTOR, None)
    if doctor is not None:
        doctor.close()


class _LeakCheckObserver:
    """The doctor's view of the leak engine: paused while it checks, and the tasks it cleans up
    marked as leaked (they outlived their test)."""

    def __init__(self, doctor: Any) -> None:
        self.doctor = doctor

    def check_started(self) -> None:
        self.doctor.paused = True

    def check_ended(self) -> None:
        self.doctor.paused = False

    def cleanup_started(self, loop: WardenLoop, left: Any) -> None:
        now = _monotonic()
        by_task = self.doctor.by_task
        for task_left in left.tasks:
            entry = by_task.get(task_left.task)
            if entry is not None and entry.ended is None:
                entry.ended = now
                entry.name = task_left.task.get_name()
                entry.state = "leaked"


class _LoopInstrument:
    """The doctor's instrument on one loop: real waits for a timer, and the tasks it creates."""

    def __init__(self, doctor: Doctor, loop: WardenLoop) -> None:
        self.doctor = doctor
        self.registry = loop.registry
        self.started = 0.0
        self.loop = weakref.ref(loop)

    def before_select(self, timeout: float | None) -> None:
        self.started = _monotonic()

    def after_select(self, timeout: float | None, events: list[Any]) -> None:
        # A wait with a timeout that ended with no event: the loop waited for its next timer
        # (None: no timer pending; 0: a poll).
        doctor = self.doctor
        if doctor.paused:
            return
        if events:
            # I/O, or another thread's call_soon_threadsafe, while a timer is pending: work that
            # takes real time raced a sleep.
            loop = self.loop()
            if loop is not None and any(not t.cancelled() for t in _private.timers(loop)):
                doctor.io_waits += 1
        elif timeout:
            doctor.timer_wait += _monotonic() - self.started

    def task_created(self, task: asyncio.Task[Any]) -> None:
        origin = self.registry.origin_of(task)
        if origin is None or origin.owner is None:
            return  # loopwarden's own driver tasks
        doctor = self.doctor
        coro = task.get_coro()
        code = getattr(coro, "__qualname__", None) or type(coro).__name__
        site = origin.site.relative_to(doctor.root) if origin.site is not None else None
        entry = _TaskRecord(
            task.get_name(), str(code), str(site) if site else None, origin.owner, _monotonic()
        )
        doctor.tasks.append(entry)
        doctor.by_task[task] = entry
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Future[Any]) -> None:
        entry = self.doctor.by_task.get(task)
        if entry is None or entry.ended is not None:
            return
        entry.ended = _monotonic()
        # asyncio.create_task(name=...) names the task after the loop made it (3.11).
        entry.name = task.get_name() if isinstance(task, asyncio.Task) else entry.name
        if task.cancelled():
            entry.state = "cancelled"
        elif _private.raised(task):  # (not exception(): that would mark it retrieved)
            entry.state = "failed"
        else:
            entry.state = "done"
