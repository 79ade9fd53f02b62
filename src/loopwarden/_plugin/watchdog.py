"""Hangs and blocking calls: the watchdog armed around each phase of each test.

Each phase (setup, call, teardown) gets ``loopwarden_timeout`` real seconds. When a phase runs
over, the watchdog dumps every task's await chain from inside the loop, cancels the task running
the phase, and the phase fails with that dump; when the loop does not answer (blocked in sync
code) it interrupts the main thread with the stack of the blocking line; if that fails too it
writes the report and ends the process — the one case where no test can go on.

While armed it also reports loop iterations that held the loop longer than
``loopwarden_blocking`` seconds, with the line that blocked, sampled while it blocked.

One watchdog thread serves the whole session (started at the first test), re-armed per phase:
arming costs microseconds, a thread per test would cost a thread start and join.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from loopwarden._core._findings import Finding, Sites
from loopwarden._core._hangs import Armed, HangReport
from loopwarden._core._lifecycle import cancel_tasks
from loopwarden._core._loop import WardenLoop, is_shutdown_task
from loopwarden._core._tasks import idle_driver
from loopwarden._core._watchdog import Watchdog
from loopwarden._plugin import _settings
from loopwarden._plugin._keys import LEAK_GUARD, VIRTUAL, WATCHDOG
from loopwarden._plugin._loops import loop_sources, on_new_loop
from loopwarden._plugin._publish import publish, warn
from loopwarden._plugin._runtime import ITEM_STATE
from loopwarden._plugin._stash import notable_items
from loopwarden._plugin.config import STATE, Mode, marker_arg, stands_down
from loopwarden._warnings import BlockingWarning

if TYPE_CHECKING:
    from loopwarden._plugin._runtime import Runtime
    from loopwarden._plugin.guard import Guard

TIMEOUT = pytest.StashKey[float]()
# Exit status when the last resort ends the process (pytest's own codes go up to 5).
LAST_RESORT_EXIT = 7


class _SuspendDuringCleanup:
    """A leak-engine observer: the leak guard's clean-up (bounded by its own deadline) and its
    garbage-collection pass for late findings do not count against a phase's timeout."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog

    def cleanup_started(self, loop: WardenLoop, left: object) -> None:
        self.watchdog.suspend()

    def cleanup_ended(self, loop: WardenLoop, left: object) -> None:
        self.watchdog.resume()

    def collection_started(self) -> None:
        self.watchdog.suspend()

    def collection_ended(self) -> None:
        self.watchdog.resume()


class Watch:
    """The session's watchdog and its settings."""

    def __init__(self, config: pytest.Config, timeout: float, blocking: float, action: str):
        self.config = config
        self.timeout = timeout
        self.blocking = blocking
        self.action = action
        self.root = str(config.rootpath)
        self.watchdog = Watchdog(on_last_resort=self.last_resort)
        self.item: pytest.Item | None = None
        self.started = False
        # Whether any test has a timeout of its own (set at collection): most sessions have none,
        # and the three phases of every test need not look.
        self.own_timeouts = False
        # Where loops come from, looked up at the first arming (after every configure hook).
        self.sources: tuple[Runtime | None, Guard | None] | None = None

    def session_loop(self) -> WardenLoop | None:
        """The loop a test's phases run on, for a test the own runner has not placed."""
        sources = self.sources
        if sources is None:
            sources = self.sources = loop_sources(self.config)
        runtime, loop_guard = sources
        if runtime is not None and runtime.loops:
            return next(iter(runtime.loops.values())).loop
        return loop_guard.newest_live() if loop_guard is not None else None

    def arm(self, item: pytest.Item, phase: str) -> bool:
        # Three times per test: the stash is read directly (see _stash.peek).
        stash = item.stash
        timeout = stash[TIMEOUT] if self.own_timeouts and TIMEOUT in stash else self.timeout
        # In virtual time the watchdog is armed even with no deadline: an idle loop is reported.
        if not timeout and not self.blocking and VIRTUAL not in stash:
            return False
        if ITEM_STATE in stash:
            loop: WardenLoop | None = stash[ITEM_STATE].loop_state.loop
        else:
            loop = self.session_loop()
        self.item = item
        watchdog = self.watchdog
        watchdog.arm(
            timeout=timeout,
            loop=loop,
            phase=phase,
            owner=item.nodeid,
            on_hang=_cancel_test_task,
            # (kept with no loop yet: anyio's runner makes its loop within the call, see adopt)
            blocking=self.blocking,
            test_task=_runs_the_phase,
        )
        if not self.started:
            self.started = True
            # The leak guard must not count the watchdog's thread, and bounds its cleanup by
            # suspending the watchdog.
            leaks = self.config.stash.get(LEAK_GUARD, None)
            if leaks is not None:
                leaks.add_observer(_SuspendDuringCleanup(watchdog))
                if watchdog.thread is not None:
                    leaks.fixture_threads.add(watchdog.thread)
        return True

    def adopt(self, loop: WardenLoop) -> None:
        """A loop loopwarden made: the armed phase's own, if it had none (anyio's runner makes
        its loop within the test's call)."""
        self.watchdog.adopt_loop(loop)

    def last_resort(self, report: HangReport) -> None:
        """The phase ignored cancellation and interruption: say why, then end the process."""
        item = self.item
        text = report.format(self.root, _timeout_setting(item, self))
        stream = sys.__stderr__ or sys.stderr
        stream.write(
            f"\n{text}\n\nloopwarden: {item.nodeid if item else 'a test'} could not be "
            f"stopped; ending the test run (exit status {LAST_RESORT_EXIT}). Results of the "
            "tests after it are lost: fix the hang above, then run again.\n"
        )
        stream.flush()
        os._exit(LAST_RESORT_EXIT)


def _runs_the_phase(task: asyncio.Future[Any]) -> bool:
    """Is ``task`` the one running the armed phase (the test, or a fixture step)?"""
    name = task.get_name() if isinstance(task, asyncio.Task) else ""
    if name.startswith("loopwarden "):
        # A driver task waiting for its next step is idle, not running the phase.
        return not idle_driver(task)
    loop = task.get_loop()
    registry = getattr(loop, "registry", None)
    origin = registry.origin_of(task) if registry is not None else None
    # pytest-asyncio (and unittest, anyio) run each test and fixture step through
    # asyncio.Runner: its task is created from the runner's code. Closing a runner's loop runs
    # the loop's shutdown tasks, recorded with no site.
    site = origin.site if origin is not None else None
    if site is None:
        return is_shutdown_task(task)
    return (
        "pytest_asyncio" in site.filename
        or "anyio" in site.filename
        or site.filename.endswith(os.path.join("unittest", "async_case.py"))
    )


def _end_hung_task(report: HangReport) -> None:
    """A test task that survived cancellation and interruption must not stay on the loop."""
    hung = report.test_task
    # A driver that is back to waiting for its next step ended the step it ran: it lives on to
    # tear down the test's async fixtures.
    if hung is None or hung.task.done() or idle_driver(hung.task):
        return
    loop = hung.task.get_loop()
    if not loop.is_closed() and not loop.is_running():
        cancel_tasks(loop, [hung.task], 1.0, force=True)  # type: ignore[list-item]


def _cancel_test_task(report: HangReport) -> None:
    hung = report.test_task
    if hung is not None and not hung.task.done():
        why = (
            "the loop went idle in virtual time"
            if report.idle
            else f"the test did not finish within {report.timeout:g} s"
        )
        hung.task.cancel(f"loopwarden: {why}")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    config.addinivalue_line(
        "markers",
        "loopwarden(timeout=SECONDS): change loopwarden_timeout for this test (0 turns it off).",
    )
    state = config.stash.get(STATE, None)
    if state is None or state.mode is Mode.LIMITED:
        return
    chosen = _settings.settings(config)
    # Made even when both are 0: tests in virtual time arm it to report an idle loop.
    watch = Watch(config, chosen.timeout, chosen.blocking, chosen.blocking_action)
    config.stash[WATCHDOG] = watch
    config.add_cleanup(watch.watchdog.close)


def pytest_sessionstart(session: pytest.Session) -> None:
    watch = session.config.stash.get(WATCHDOG, None)
    if watch is not None:
        on_new_loop(session.config, watch.adopt)


def pytest_collection_finish(session: pytest.Session) -> None:
    watch = session.config.stash.get(WATCHDOG, None)
    if watch is None:
        return
    for item in notable_items(session):
        found, raw = marker_arg(item, "timeout")
        if not found:
            continue
        watch.own_timeouts = True
        try:
            item.stash[TIMEOUT] = _settings._seconds(str(raw))
        except ValueError as exc:
            raise pytest.UsageError(
                f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden(timeout={raw!r}) is not "
                f"valid; {exc}."
            ) from None


def _arm(item: pytest.Item, phase: str) -> Watch | None:
    """Arm the watchdog for this phase; the session's :class:`Watch` if it was armed."""
    watch = item.config.stash.get(WATCHDOG, None)
    if watch is None or not watch.arm(item, phase):
        return None
    return watch


def _disarm(item: pytest.Item, watch: Watch) -> str | None:
    """Disarm after the phase; the failure text if the watchdog found it hung or blocking."""
    armed = watch.watchdog.disarm()
    if armed.hang is None and not armed.blocking:  # (Armed.found, without a property call)
        return None
    return _record(item, watch, armed)


def _timeout_setting(item: pytest.Item | None, watch: Watch) -> str:
    """What set the phase's timeout, as a hang report names it (and says to raise): a test's
    marker overrides loopwarden_timeout, which raising would then not change."""
    if item is not None and watch.own_timeouts and TIMEOUT in item.stash:
        return "the test's loopwarden(timeout=...) marker"
    return "loopwarden_timeout"


def _record(item: pytest.Item, watch: Watch, armed: Armed) -> str | None:
    """Keep the phase's findings; the failure text when the phase must fail."""
    texts = []
    extra: list[Finding] = []
    if armed.hang is not None:
        report = armed.hang
        setting = _timeout_setting(item, watch)
        texts.append(report.format(watch.root, setting))
        _end_hung_task(report)
        extra.append(
            Finding(
                "hang",
                report.phase,
                report.summary(watch.root),
                detail=report.lines(watch.root, setting)[1:],
                owner=item.nodeid,
            )
        )
    for event in armed.blocking:
        finding = Finding(
            "blocking",
            event.function,
            event.summary(watch.root),
            site=Sites(watch.root).site(event.site),
            user_site=Sites(watch.root).site(event.user_site),
            owner=item.nodeid,
            status="new" if watch.action == "error" else "warned",
        )
        extra.append(finding)
        if watch.action == "error":
            texts.append(event.format(watch.root))
        else:
            failure = warn(
                item,
                BlockingWarning(event.format(watch.root)),
                [finding],
                at=event.user_site or event.site,
            )
            if failure is not None:
                texts.append(failure)
    if extra:
        publish(item.config, item.nodeid, extra, leaks=False)
    return "\n\n".join(texts) if texts else None


# The three phases written out: a shared generator delegated to with ``yield from`` costs a
# frame per resume, three times per test.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    watch = _arm(item, "setup")
    if watch is None:
        return (yield)
    try:
        result = yield
    except BaseException:
        failure = _disarm(item, watch)  # a hang's failure replaces the phase's own error
        if failure is None:
            raise
    else:
        failure = _disarm(item, watch)
        if failure is None:
            return result
    __tracebackhide__ = True
    pytest.fail(failure, pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    watch = _arm(item, "call")
    if watch is None:
        return (yield)
    try:
        result = yield
    except BaseException:
        failure = _disarm(item, watch)  # a hang's failure replaces the phase's own error
        if failure is None:
            raise
    else:
        failure = _disarm(item, watch)
        if failure is None:
            return result
    __tracebackhide__ = True
    pytest.fail(failure, pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    watch = _arm(item, "teardown")
    if watch is None:
        return (yield)
    try:
        result = yield
    except BaseException:
        failure = _disarm(item, watch)  # a hang's failure replaces the phase's own error
        if failure is None:
            raise
    else:
        failure = _disarm(item, watch)
        if failure is None:
            return result
    __tracebackhide__ = True
    pytest.fail(failure, pytrace=False)


def pytest_enter_pdb(config: pytest.Config) -> None:
    watch = config.stash.get(WATCHDOG, None)
    if watch is not None:
        watch.watchdog.suspend()


def pytest_leave_pdb(config: pytest.Config) -> None:
    watch = config.stash.get(WATCHDOG, None)
    if watch is not None:
        watch.watchdog.resume()


# (optional: the hook is loopwarden's own, registered by the main plugin, which may be off)
@pytest.hookimpl(optionalhook=True)
def pytest_loopwarden_loop_idle(config: pytest.Config, loop: WardenLoop) -> None:
    watch = config.stash.get(WATCHDOG, None)
    if watch is not None:
        watch.watchdog.report_idle(loop)
