"""The leak guard: fail exactly the test that left something behind, then clean up after it.

After a test's function-scoped fixtures are torn down, everything the test created on loopwarden's
loops must be finished: pending tasks, live timers, open servers, connections and subprocess
transports, unfinished executor work, threads it started; and nothing may have gone wrong unseen
(never-awaited coroutines, unretrieved task exceptions, unclosed sessions and other errors sent to
the loop's exception handler). Otherwise the test gets one teardown error listing every finding
with where it was created, and loopwarden cleans up so the next test starts clean.

Attribution is by creation owner (see ``_core/_registry.py``): the owner of a task is the test or
the wider-scoped fixture that was current when it was created, inherited by the tasks it creates.
Leaks of a wider-scoped fixture are reported when that fixture is torn down.

In guard mode pytest-asyncio closes a test's loop in its own fixture teardown, cancelling what is
left without a word; loopwarden's hook on ``asyncio.Runner.close`` sees those tasks first.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import sys
import threading
import types
import warnings
from collections.abc import Generator, Hashable
from typing import Any

import pytest

from loopwarden._core._lifecycle import CloseReport, clean_up, hook_runner_close
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._registry import CapturedContext, set_capture_stacks
from loopwarden._core._snapshot import (
    Leftovers,
    ResourceLeft,
    TaskLeft,
    ThreadLeft,
    adopt,
    leftovers,
)
from loopwarden._core._threads import ThreadMark, record_thread_starts, started_since, thread_mark
from loopwarden._plugin import _findings, _settings
from loopwarden._plugin._findings import AllowList, Finding, Sites
from loopwarden._plugin._loops import LiveLoops
from loopwarden._plugin._runtime import ITEM_STATE, FixtureOwner, lives_per_test
from loopwarden._plugin._stash import marker_names, peek
from loopwarden._plugin.config import STATE, Mode, stands_down

# How long loopwarden waits for leftover tasks to accept cancellation, and for threads a test
# started to finish, before reporting them as resisting.
CLEANUP_TIMEOUT = 1.0
THREAD_GRACE = 0.2
# How long a loop may run to let closing transports and finishing callbacks settle.
SETTLE_TIMEOUT = 0.2
# Frames of creation origin kept for every coroutine (so "never awaited" names its line).
ORIGIN_DEPTH = 3
ORIGIN_DEPTH_STACKS = 30


class LeakWarning(pytest.PytestWarning):
    """Findings of the leak guard when ``loopwarden_leaks = warn`` (or baselined/recorded)."""


class TestWatch(Record):
    """What was alive when a test started: threads and each live loop's transports."""

    threads: ThreadMark
    transports: dict[int, frozenset[Any]]
    _fields = ("threads", "transports")

    def __init__(self, threads: ThreadMark, transports: dict[int, frozenset[Any]]) -> None:
        self.threads = threads
        self.transports = transports


class LeakGuard(Record):
    """The session's leak guard: settings, the coroutine-warning tap, pending findings."""

    action: str
    sites: Sites
    baseline: Any
    current: str | None
    # The code of the test function running now (its task is the test, not a leak).
    test_code: types.CodeType | None
    dropped: list[tuple[str | None, str, tuple[tuple[str, int, str], ...]]]
    # Findings made before the owner's own check (a runner closed the loop first).
    pending: dict[Hashable, list[Finding]]
    pending_notes: dict[Hashable, list[str]]
    # Wider fixtures torn down during a test's teardown: (failure text, findings) per test.
    fixture_reports: dict[str | None, list[tuple[str, list[Finding]]]]
    fixture_threads: set[threading.Thread]
    finished: set[Hashable]
    late: list[Finding]
    loops: list[Any]
    # The session's watchdog (set when it arms): cleanup is bounded by its own deadline and
    # must not count against a phase's timeout.
    watchdog: Any
    # The values of the wider-scoped fixtures alive now: what they hold is theirs.
    wide_values: dict[FixtureOwner, object]
    _fields = (
        "action",
        "sites",
        "baseline",
        "current",
        "test_code",
        "dropped",
        "pending",
        "pending_notes",
        "fixture_reports",
        "fixture_threads",
        "finished",
        "late",
        "loops",
        "watchdog",
        "wide_values",
    )

    def __init__(
        self,
        action: str,
        sites: Sites,
        baseline: Any = None,
        current: str | None = None,
        test_code: types.CodeType | None = None,
        dropped: list[tuple[str | None, str, tuple[tuple[str, int, str], ...]]] | None = None,
        pending: dict[Hashable, list[Finding]] | None = None,
        pending_notes: dict[Hashable, list[str]] | None = None,
        fixture_reports: dict[str | None, list[tuple[str, list[Finding]]]] | None = None,
        fixture_threads: set[threading.Thread] | None = None,
        finished: set[Hashable] | None = None,
        late: list[Finding] | None = None,
        loops: list[Any] | None = None,
        watchdog: Any = None,
        wide_values: dict[FixtureOwner, object] | None = None,
    ) -> None:
        self.action = action
        self.sites = sites
        self.baseline = baseline
        self.current = current
        self.test_code = test_code
        self.dropped = [] if dropped is None else dropped
        self.pending = {} if pending is None else pending
        self.pending_notes = {} if pending_notes is None else pending_notes
        self.fixture_reports = {} if fixture_reports is None else fixture_reports
        self.fixture_threads = set() if fixture_threads is None else fixture_threads
        self.finished = set() if finished is None else finished
        self.late = [] if late is None else late
        self.loops = [] if loops is None else loops
        self.watchdog = watchdog
        self.wide_values = {} if wide_values is None else wide_values

    # -- sources of loops ---------------------------------------------------------------------

    def live_loops(self) -> list[WardenLoop]:
        if len(self.loops) == 1:  # the usual case: one source, no duplicates to drop
            return [loop for loop in self.loops[0]() if not loop.is_closed()]
        found: dict[int, WardenLoop] = {}
        for source in self.loops:
            for loop in source():
                if isinstance(loop, WardenLoop) and not loop.is_closed():
                    found[id(loop)] = loop
        return list(found.values())

    # -- never-awaited coroutines -------------------------------------------------------------

    def coroutine_dropped(self, coro: types.CoroutineType[Any, Any, Any]) -> None:
        origin = getattr(coro, "cr_origin", None) or ()
        self.dropped.append((self.current, coro.cr_code.co_qualname, tuple(origin)))

    def take_dropped(self, owner: str) -> list[Finding]:
        mine = [d for d in self.dropped if d[0] == owner]
        if not mine:
            return []
        self.dropped = [d for d in self.dropped if d[0] != owner]
        return [
            _findings.never_awaited(name, origin, self.sites, owner) for _, name, origin in mine
        ]

    # -- checks -------------------------------------------------------------------------------

    def watch(self) -> TestWatch:
        transports = {}
        for loop in self.live_loops():
            found = _transports(loop)
            if found:  # (a loop left out has none: check() reads it as _NO_TRANSPORTS)
                transports[id(loop)] = found
        return TestWatch(thread_mark(), transports)

    def check(
        self,
        owner: Hashable,
        watch: TestWatch | None,
        loops: list[WardenLoop] | None = None,
    ) -> tuple[list[Finding], list[str]]:
        """Everything ``owner`` left behind on the live loops, cleaned up; plus cleanup notes.

        ``loops``: the live loops, when the caller has them already.
        """
        findings = list(self.pending.pop(owner, ())) if self.pending else []
        notes: list[str] = self.pending_notes.pop(owner, []) if self.pending_notes else []
        for loop in self.live_loops() if loops is None else loops:
            before = watch.transports.get(id(loop), _NO_TRANSPORTS) if watch is not None else None
            registry = loop.registry
            if (
                owner not in registry.touched
                and not registry.contexts
                and (before is None or not _new_transports(loop, before))
            ):
                continue  # the owner made nothing here and nothing was reported: nothing to do
            label = str(owner)
            stopped: list[asyncio.Future[Any]] = []
            left = _left(loop, owner, before, self.test_code, stopped)
            if stopped and not loop.is_running():
                # The test's own task, interrupted (pytest-timeout) and now cancelled: let it
                # end here, so its finally blocks run in its own teardown — what they start is
                # still the test's, and is found next.
                loop.run_until_complete(asyncio.wait(stopped, timeout=CLEANUP_TIMEOUT))
                left = _left(loop, owner, before, self.test_code)
            if left and not loop.is_running():
                _settle(loop, owner, before, self.test_code)
                left = _left(loop, owner, before, self.test_code)
            if left:
                left = self._adopt_held(loop, owner, left)
            findings.extend(_findings.from_leftovers(left, self.sites, label))
            if left and not loop.is_running():
                notes.append(_cleanup_note(self.clean_up(loop, left)))
                # Hold nothing of what was left, and let closed transports finish: libraries
                # report what those held as it is freed ("Unclosed connector"), for this owner.
                del left
                for _ in range(3):
                    loop.run_until_complete(asyncio.sleep(0))
            # After the cleanup: closing what was left makes libraries report what it held
            # (aiohttp's "Unclosed connector"), and that belongs to this owner too.
            findings.extend(_unretrieved(loop, owner, self.sites, label))
            findings.extend(self._contexts(loop, owner, label))
            for captured in _take_late(loop, self.finished):
                self.late.append(_findings.from_context(captured, self.sites, str(captured.owner)))
            if not loop.is_running():
                # Checked and cleaned up: what it creates from now on is news again.
                loop.registry.touched.discard(owner)
        if self.dropped and isinstance(owner, str):
            findings.extend(self.take_dropped(owner))
        threads = _new_threads(watch.threads, self.fixture_threads) if watch is not None else []
        if threads:
            findings.extend(
                _findings.from_leftovers(
                    Leftovers(threads=self.held_threads(threads)), self.sites, str(owner)
                )
            )
        self.finished.add(owner)
        return findings, notes

    def clean_up(self, loop: WardenLoop, left: Leftovers) -> CloseReport:
        watchdog = self.watchdog
        if watchdog is not None:
            watchdog.suspend()
        try:
            return clean_up(loop, left, CLEANUP_TIMEOUT)
        finally:
            if watchdog is not None:
                watchdog.resume()

    def _adopt_held(self, loop: WardenLoop, owner: Hashable, left: Leftovers) -> Leftovers:
        """Give what a wider fixture's value (or server) holds to it instead of the test.

        A session-scoped aiohttp ClientSession keeps the connection a test's request opened (and
        its cleanup timer); an engine's pool keeps a connection and its worker thread. Those are
        the fixture's, reported at its teardown if still open then.
        """
        objects: dict[int, object] = {}
        for task in left.tasks:
            objects[id(task.task)] = task.task
        for timer in left.timers:
            objects[id(timer.handle)] = timer.handle
        for resource in left.resources:
            objects[id(resource.obj)] = resource.obj
        # Roots: the values of live wider fixtures, and the servers others own (a session
        # fixture's server serves this test's requests with handler tasks and keep-alive timers).
        roots: list[tuple[Hashable, object]] = list(self.wide_values.items())
        roots.extend(
            (origin.owner, server)
            for server, origin in list(loop._lw_servers.items())
            if origin.owner is not None and origin.owner != owner and server.is_serving()
        )
        for fixture, value in roots:
            if not objects:
                break
            for held in _reachable(value, set(objects)):
                obj = objects.pop(held)
                if isinstance(obj, threading.Thread):
                    continue
                adopt(loop, obj, fixture)
        return Leftovers(
            tasks=[t for t in left.tasks if id(t.task) in objects],
            timers=[t for t in left.timers if id(t.handle) in objects],
            resources=[r for r in left.resources if id(r.obj) in objects],
            threads=left.threads,
        )

    def held_threads(self, threads: list[ThreadLeft]) -> list[ThreadLeft]:
        """The threads not held by a wider fixture's value (those become the fixture's)."""
        if not threads or not self.wide_values:
            return threads
        objects = {id(t.thread): t for t in threads}
        for value in self.wide_values.values():
            for held in _reachable(value, set(objects)):
                self.fixture_threads.add(objects.pop(held).thread)
        return list(objects.values())

    def _contexts(self, loop: WardenLoop, owner: Hashable, label: str) -> list[Finding]:
        """Findings for the exception-handler contexts of ``owner`` (and of no owner, for a test).

        Letting go of a context can free what it names and make a library report more (dropping
        aiohttp's "Unclosed client session" frees its connector: "Unclosed connector"), so take
        them until none is left.
        """
        found: list[Finding] = []
        for _ in range(5):
            taken = loop.registry.take_contexts(owner)
            if isinstance(owner, str):
                taken += loop.registry.take_contexts(None)
            if not taken:
                break
            found.extend(_findings.from_context(c, self.sites, label) for c in taken)
            del taken
        return found

    # -- the runner-close hook ----------------------------------------------------------------

    def before_runner_close(self, loop: WardenLoop) -> None:
        """``asyncio.Runner.close`` is about to cancel this loop's tasks: report them first."""
        # The usual case (pytest-asyncio closes a runner after each test): no task, timer or
        # resource alive, so nothing to find but the test's failed tasks that nobody read.
        quiet = _nothing_alive(loop)
        owners: list[Hashable]
        if quiet:
            owners = [] if self.current is None else [self.current]
        else:
            owners = _owners_on(loop, self.current)
        for owner in owners:
            found = _unretrieved(loop, owner, self.sites, str(owner))
            left = _NOTHING_LEFT if quiet else _left(loop, owner, None, self.test_code)
            if left:
                found.extend(_findings.from_leftovers(left, self.sites, str(owner)))
                report = self.clean_up(loop, left)
                self.pending_notes.setdefault(owner, []).append(_cleanup_note(report))
            if found:
                self.pending.setdefault(owner, []).extend(found)
        for captured in loop.registry.take_contexts():
            owner = captured.owner if captured.owner is not None else self.current
            self.pending.setdefault(owner, []).append(
                _findings.from_context(captured, self.sites, str(owner))
            )


# Objects whose insides say nothing about what a fixture holds, or lead everywhere (a loop holds
# every handle and transport; a frame, its module's globals).
_OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
    types.CoroutineType,
    types.GeneratorType,
    types.AsyncGeneratorType,
    asyncio.AbstractEventLoop,
    asyncio.Future,
    str,
    bytes,
    int,
    float,
)
REACH_LIMIT = 20_000


def _reachable(root: object, wanted: set[int]) -> set[int]:
    """Which of the objects with ids ``wanted`` can be reached from ``root`` (bounded walk)."""
    found: set[int] = set()
    if id(root) in wanted:
        found.add(id(root))
    seen = {id(root)}
    stack = [root]
    while stack and len(seen) < REACH_LIMIT:
        for ref in gc.get_referents(stack.pop()):
            key = id(ref)
            if key in seen:
                continue
            seen.add(key)
            if key in wanted:
                found.add(key)
                if len(found) == len(wanted):
                    return found
                continue
            if not isinstance(ref, _OPAQUE):
                stack.append(ref)
    return found


def _cleanup_note(report: CloseReport) -> str:
    if report.resisted:
        names = ", ".join(repr(t.name) for t in report.resisted)
        return (
            f"loopwarden cancelled what was left; {names} swallowed the cancellation, so "
            "loopwarden closed its coroutine to end it."
        )
    return "loopwarden cancelled and closed what was left."


def _nothing_alive(loop: WardenLoop) -> bool:
    """No pending task, no timer and no recorded resource on ``loop``: nobody left anything."""
    return (
        not loop._scheduled  # type: ignore[attr-defined]
        and not any(loop.lw_resources())
        and not asyncio.all_tasks(loop)
    )


def _owners_on(loop: WardenLoop, current: Hashable | None) -> list[Hashable]:
    """Every owner that has a task, timer or resource alive on ``loop`` (and ``current``)."""
    registry = loop.registry
    owners: dict[Hashable, None] = {}
    if current is not None:
        owners[current] = None
    things: list[Any] = [*asyncio.all_tasks(loop), *loop._scheduled]  # type: ignore[attr-defined]
    for thing in things:
        origin = registry.origin_of(thing)
        if origin is not None and origin.owner is not None:
            owners[origin.owner] = None
    for table in loop.lw_resources():
        for origin in list(table.values()) if table else ():
            if origin.owner is not None:
                owners[origin.owner] = None
    return list(owners)


def _new_transports(loop: asyncio.AbstractEventLoop, before: frozenset[Any]) -> bool:
    table = getattr(loop, "_transports", None)
    if not table:
        return False
    return any(t is not None and t not in before for t in list(table.values()))


_NO_TRANSPORTS: frozenset[Any] = frozenset()
_NOTHING_LEFT = Leftovers()  # (read only: a loop with nothing alive has nothing to clean up)


def _transports(loop: asyncio.AbstractEventLoop) -> frozenset[Any]:
    table = getattr(loop, "_transports", None)
    if not table:
        return _NO_TRANSPORTS
    return frozenset(t for t in list(table.values()) if t is not None)


# Long-lived tasks of other test runners, which they end themselves: (file part, qualname).
_RUNNER_TASKS = frozenset({("anyio", "TestRunner._run_tests_and_fixtures")})


def _runs(task: TaskLeft, code: types.CodeType) -> bool:
    get_coro = getattr(task.task, "get_coro", None)
    return getattr(get_coro() if get_coro is not None else None, "cr_code", None) is code


def _runner_machinery(task: TaskLeft) -> bool:
    get_coro = getattr(task.task, "get_coro", None)
    code = getattr(get_coro() if get_coro is not None else None, "cr_code", None)
    if code is None:
        return False
    return any(
        part in code.co_filename and code.co_qualname == name for part, name in _RUNNER_TASKS
    )


def _left(
    loop: WardenLoop,
    owner: Hashable,
    before: frozenset[Any] | None,
    test_code: types.CodeType | None = None,
    stopped: list[asyncio.Future[Any]] | None = None,
) -> Leftovers:
    """What ``owner`` left on ``loop``; ``test_code``: the running test function's code.

    The task running the test function itself is not a leak: pending at teardown, something
    interrupted the test's call (pytest-timeout's signal, say) and the test already failed for
    it. That task is cancelled here, without a finding, and added to ``stopped``.
    """
    # An owner that created nothing on this loop has nothing of its own there to find.
    left = leftovers(loop, owner) if owner in loop.registry.touched else Leftovers()
    if left.tasks:
        kept = []
        for task in left.tasks:
            if _runner_machinery(task):
                continue
            if test_code is not None and _runs(task, test_code):
                task.task.cancel()
                if stopped is not None:
                    stopped.append(task.task)
                continue
            kept.append(task)
        left.tasks = kept
    if before is not None:
        for transport in _transports(loop) - before:
            if transport.is_closing() or transport in loop._lw_connections:
                continue  # closing, or owned (and then listed by leftovers() if it is ours)
            left.resources.append(ResourceLeft("transport", transport, repr(transport), None))
    return left


def _settle(
    loop: WardenLoop,
    owner: Hashable,
    before: frozenset[Any] | None,
    test_code: types.CodeType | None = None,
) -> None:
    """Run the loop briefly so that closing transports and pending callbacks finish."""
    deadline = loop.time() + SETTLE_TIMEOUT
    rounds = 0
    while True:
        loop.run_until_complete(asyncio.sleep(0 if rounds < 4 else 0.01))
        rounds += 1
        if rounds % 2 == 0 and not _left(loop, owner, before, test_code):
            return
        if loop.time() > deadline:
            return


def _unretrieved(loop: WardenLoop, owner: Hashable, sites: Sites, label: str) -> list[Finding]:
    """Tasks that failed and whose exception nobody read; found now rather than at GC time."""
    found: list[Finding] = []
    if owner not in loop.registry.touched:
        return found
    for task in loop.registry.tasks_of(owner):
        if not task.done() or task.cancelled() or not getattr(task, "_log_traceback", False):
            continue
        exc = task.exception()  # marks it retrieved: asyncio will not log it again at GC
        captured = CapturedContext(
            {"message": "Task exception was never retrieved", "exception": exc, "future": task},
            owner,
            loop.registry.origin_of(task),
        )
        found.append(_findings.from_context(captured, sites, label))
    return found


def _take_late(loop: WardenLoop, finished: set[Hashable]) -> list[Any]:
    """Contexts attributed to owners whose check already ran (surfaced later through GC)."""
    registry = loop.registry
    late = [c for c in registry.contexts if c.owner is not None and c.owner in finished]
    if late:
        registry.contexts = [c for c in registry.contexts if c not in late]
    return late


def _new_threads(before: ThreadMark, ignore: set[threading.Thread]) -> list[ThreadLeft]:
    started = started_since(before)
    if started and ignore:
        started -= ignore
    if not started:
        return []
    new = [t for t in started if t.is_alive() and not _is_pool_thread(t)]
    if not new:
        return []
    # Give threads that are finishing a moment; a thread still alive after that is a leak.
    deadline = THREAD_GRACE
    for thread in new:
        thread.join(timeout=deadline)
    return [ThreadLeft.of(t) for t in new if t.is_alive()]


def _is_pool_thread(thread: threading.Thread) -> bool:
    # Workers of concurrent.futures pools (the loop's default executor included) stay alive
    # idle by design; work still running in them is reported as executor work instead.
    target = getattr(thread, "_target", None)
    return getattr(target, "__module__", "") == "concurrent.futures.thread"


GUARD = pytest.StashKey[LeakGuard]()
_NOT_SET = object()
WATCH = pytest.StashKey[TestWatch]()
ALLOW = pytest.StashKey[AllowList]()


def _guard(config: pytest.Config) -> LeakGuard | None:
    return config.stash.get(GUARD, None)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    config.addinivalue_line(
        "markers",
        "allow_leaks(tasks=, timers=, threads=, resources=, errors=, reason=): let this test "
        "leave the named things behind (True, a regular expression, or a list of them); "
        "reason is required.",
    )
    state = config.stash.get(STATE, None)
    action = str(_settings.read(config, "leaks").value)
    if state is None or state.mode is Mode.LIMITED or action == "off":
        return
    stacks = bool(_settings.read_value(config, "leaks_stacks"))
    set_capture_stacks(stacks)
    guard = LeakGuard(action, Sites(str(config.rootpath)))
    from loopwarden._plugin import report

    guard.baseline = report.load_baseline(config)
    config.stash[GUARD] = guard
    _connect_loops(config, guard)
    hook_runner_close()
    _tap_warnings(guard)
    # A leftover thread is reported with the line that started it.
    record_thread_starts(True)
    config.add_cleanup(lambda: record_thread_starts(False))
    depth = ORIGIN_DEPTH_STACKS if stacks else ORIGIN_DEPTH
    if sys.get_coroutine_origin_tracking_depth() < depth:
        previous = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(depth)
        config.add_cleanup(lambda: sys.set_coroutine_origin_tracking_depth(previous))


_AIOHTTP_TRACKED: list[bool] = []


def _track_aiohttp_sessions(config: pytest.Config) -> None:
    """Record where each ``aiohttp.ClientSession`` is made, on loopwarden's loops.

    aiohttp reports a session nobody closed ("Unclosed client session") only when it is
    garbage-collected, through the loop's exception handler, and without saying where it was
    created. With the site recorded, the report names the test's line, and is attributed to the
    test that made the session even when it is collected during a later one.
    """
    _AIOHTTP_TRACKED.append(True)
    session_class = getattr(sys.modules["aiohttp"], "ClientSession", None)
    if session_class is None:
        return
    original = session_class.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        registry = getattr(getattr(self, "_loop", None), "registry", None)
        if registry is not None:
            origin = registry.origin_here()
            registry.record_object(self, origin)
            connector = getattr(self, "_connector", None)
            if connector is not None and getattr(self, "_connector_owner", True):
                registry.record_object(connector, origin)

    session_class.__init__ = __init__

    def restore() -> None:
        session_class.__init__ = original
        _AIOHTTP_TRACKED.clear()

    config.add_cleanup(restore)


def _connect_loops(config: pytest.Config, guard: LeakGuard) -> None:
    from loopwarden._plugin import guard as guard_plugin

    guard.loops.append(LiveLoops(config))
    loop_guard = config.stash.get(guard_plugin.GUARD, None)
    if loop_guard is not None:
        loop_guard.on_runner_close = guard.before_runner_close


def _tap_warnings(guard: LeakGuard) -> None:
    """See "coroutine ... was never awaited" warnings as they are shown (pytest keeps them)."""
    original = warnings._showwarnmsg  # type: ignore[attr-defined]
    if getattr(original, "_loopwarden", False):
        original = original._original  # a previous session in this process (pytester inline runs)

    def _showwarnmsg(msg: warnings.WarningMessage) -> None:
        source = getattr(msg, "source", None)
        if isinstance(source, types.CoroutineType) and msg.category is RuntimeWarning:
            guard.coroutine_dropped(source)
        original(msg)

    _showwarnmsg._loopwarden = True  # type: ignore[attr-defined]
    _showwarnmsg._original = original  # type: ignore[attr-defined]
    warnings._showwarnmsg = _showwarnmsg  # type: ignore[attr-defined]


def pytest_collection_finish(session: pytest.Session) -> None:
    if _guard(session.config) is None:
        return
    for item in session.items:
        if "allow_leaks" not in marker_names(item):
            continue
        marker = item.get_closest_marker("allow_leaks")
        if marker is None:
            continue
        try:
            item.stash[ALLOW] = _findings.parse_allow_leaks(marker.args, marker.kwargs)
        except ValueError as exc:
            message = f"loopwarden: {item.nodeid}: @pytest.mark.allow_leaks {exc}."
            raise pytest.UsageError(message) from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    guard = _guard(item.config)
    if guard is None:
        return
    if not _AIOHTTP_TRACKED and "aiohttp" in sys.modules:
        _track_aiohttp_sessions(item.config)
    guard.current = item.nodeid
    guard.test_code = _test_code(getattr(item, "obj", None))
    item.stash[WATCH] = guard.watch()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    guard = _guard(request.config)
    if guard is None or lives_per_test(fixturedef, request):
        return (yield)
    # Threads a wider fixture starts belong to it, not to the test that happened to set it up.
    before = thread_mark()
    try:
        value = yield
    finally:
        guard.fixture_threads.update(started_since(before))
    owner = FixtureOwner.of(fixturedef, request)
    guard.wide_values[owner] = value
    return value


def pytest_fixture_post_finalizer(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    guard = _guard(request.config)
    if guard is None or lives_per_test(fixturedef, request):
        return
    owner = FixtureOwner.of(fixturedef, request)
    if guard.wide_values.pop(owner, _NOT_SET) is _NOT_SET:
        return  # never set up (or already finalised)
    findings, notes = guard.check(owner, None)
    if findings:
        guard.fixture_reports.setdefault(guard.current, []).append(
            (_findings.describe(findings, f"the {owner}", notes), findings)
        )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    guard = _guard(item.config)
    if guard is None:
        return (yield)
    if guard.current is None:
        # The test's setup failed before the leak guard's setup hook ran (a wrong marker): what
        # its teardown finalises (the last test of a module ends the module's fixtures) is still
        # reported under this test.
        guard.current = item.nodeid
    try:
        result = yield
    except BaseException as exc:
        # The teardown failed on its own: keep that error, and add what loopwarden found to it.
        text = _finish(item, guard)
        if text:
            exc.add_note(text)
        raise
    text = _finish(item, guard)
    if text:
        __tracebackhide__ = True
        if guard.action == "warn":
            item.warn(LeakWarning(text))
        else:
            pytest.fail(text, pytrace=False)
    return result


def _finish(item: pytest.Item, guard: LeakGuard) -> str:
    """Check what the test left, record the findings; the failure text ("" when clean)."""
    stash = item.stash
    watch = None
    if WATCH in stash:
        watch = stash[WATCH]
        del stash[WATCH]  # a finished test's item is kept to the end of the session: keep it lean
    # The runner's per-test driver ends first: what its last loop run frees is this test's.
    item_state = peek(stash, ITEM_STATE, None)
    if item_state is not None and item_state.driver is not None:
        item_state.driver.stop()
    loops = guard.live_loops()
    for loop in loops:
        # What is left is checked and cleaned up in real time: a leftover timer is reported,
        # not fired by a virtual clock.
        if loop.virtual_time:
            loop.set_virtual_time(False)
    nodeid = item.nodeid
    findings, notes = guard.check(nodeid, watch, loops)
    fixture_reports = guard.fixture_reports.pop(nodeid, None) if guard.fixture_reports else None
    guard.current = None
    guard.test_code = None
    if not findings and not fixture_reports:
        return ""  # the usual case: nothing left behind
    fixture_reports = fixture_reports or []
    fixture_findings = [f for _, found in fixture_reports for f in found]
    allow = peek(item.stash, ALLOW, None)
    for finding in findings:
        if allow is not None and allow.allows(finding):
            finding.status = "allowed"
        elif guard.baseline is not None:
            guard.baseline.classify(item.nodeid, finding)
    for finding in fixture_findings:
        if guard.baseline is not None:
            guard.baseline.classify(finding.owner, finding)
    everything = findings + fixture_findings
    if everything:
        _findings.publish(item.config, item.nodeid, everything, leaks=True)
    failing = [f for f in findings if f.status == "new"]
    warned = [f for f in findings if f.status in ("baselined", "recorded")]
    texts = []
    if failing:
        texts.append(_findings.describe(failing, item.name, notes))
    texts.extend(text for text, found in fixture_reports if any(f.status == "new" for f in found))
    if warned:
        state = "known (in the baseline)" if warned[0].status == "baselined" else "recorded"
        item.warn(LeakWarning(_findings.describe(warned, f"{item.name} ({state})", [])))
    if guard.action == "warn":
        for finding in everything:
            if finding.status == "new":
                finding.status = "warned"  # reported as a warning; the test does not fail
    return "\n\n".join(texts)


def _test_code(function: Any) -> types.CodeType | None:
    """The code of the test function behind its wrappers (None for a doctest, a YAML item)."""
    for _ in range(100):  # as inspect.unwrap, without its cycle bookkeeping
        inner = getattr(function, "__wrapped__", None)
        if inner is None:
            break
        function = inner
    return getattr(function, "__code__", None)
