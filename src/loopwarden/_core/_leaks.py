"""The leak engine: what an owner left behind on loopwarden's loops, found, settled and cleaned up.

One engine serves every way a loop is driven — loopwarden's own runner, loops made for
pytest-asyncio (guard mode), ``unittest.IsolatedAsyncioTestCase``, anyio's runner and a plain
script (:func:`loopwarden.no_leaks`) — so the same code gives the same verdict everywhere.

An *owner* is any hashable token: a test's node id, a wider fixture, a :func:`no_leaks` block.
What a :class:`WardenLoop` creates is attributed to the owner current at creation (see
``_registry.py``), and :meth:`LeakEngine.check` looks, for one owner:

1. at what it left on each live loop (tasks, timers, servers, connections, subprocesses, executor
   work), giving just-scheduled work a short grace (:data:`SETTLE_TIMEOUT`) to finish;
2. at what a wider owner's value holds of it (a shared client keeps a test's pooled connection):
   that is the wider owner's, not a leak of this one;
3. at failures nobody saw: unretrieved task exceptions, contexts sent to the loop's exception
   handler (aiohttp's "Unclosed client session"), never-awaited coroutines;
4. at threads started since a mark, after a short grace to finish.

What is left is cleaned up (cancelled, closed) so the next owner starts clean; observers hear of
each check and clean-up (the watchdog suspends its deadline, the doctor marks tasks as leaked).
When a runner closes a loop before the owner's own check (``asyncio.Runner.close``, as
pytest-asyncio does after each test), :meth:`LeakEngine.before_runner_close` runs the same check
then and keeps its findings for the owner's check.

This module knows nothing of pytest.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import types
import warnings
from collections.abc import Callable, Hashable, Iterable
from typing import Any, ClassVar, Protocol

from loopwarden._core import _private
from loopwarden._core._findings import Finding, Sites, from_context, from_leftovers, never_awaited
from loopwarden._core._lifecycle import CloseReport, aclean_up, clean_up
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._registry import AFTER_CLOSE, FOUND_BY_GC, CapturedContext, collecting
from loopwarden._core._snapshot import (
    Leftovers,
    ResourceLeft,
    TaskLeft,
    ThreadLeft,
    adopt,
    leftovers,
    open_sessions,
)
from loopwarden._core._threads import ThreadMark, started_any_since, started_since, thread_mark

# How long loopwarden waits for leftover tasks to accept cancellation, and for threads a test
# started to finish, before reporting them as resisting.
CLEANUP_TIMEOUT = 1.0
THREAD_GRACE = 0.2
# How long a loop may run to let closing transports and finishing callbacks settle.
SETTLE_TIMEOUT = 0.2


class LeakObserver(Protocol):
    """What an observer of the engine may implement (each method is optional)."""

    def check_started(self) -> None: ...
    def check_ended(self) -> None: ...
    def cleanup_started(self, loop: WardenLoop, left: Leftovers) -> None: ...
    def cleanup_ended(self, loop: WardenLoop, left: Leftovers) -> None: ...
    def collection_started(self) -> None: ...
    def collection_ended(self) -> None: ...


_EVENTS = (
    "check_started",
    "check_ended",
    "cleanup_started",
    "cleanup_ended",
    "collection_started",
    "collection_ended",
)


class TestWatch(Record):
    """What was alive when an owner started: threads and each live loop's transports."""

    __test__ = False  # (not a test class, for pytest)
    threads: ThreadMark
    transports: dict[int, frozenset[Any]]
    _fields = ("threads", "transports")

    def __init__(self, threads: ThreadMark, transports: dict[int, frozenset[Any]]) -> None:
        self.threads = threads
        self.transports = transports


class LeakEngine(Record):
    """A session's leak engine: where its loops come from, what is pending, who was checked."""

    sites: Sites
    # The test running now: what has no owner of its own is charged to it.
    current: Hashable | None
    # The code of the test function running now (its task is the test, not a leak).
    test_code: types.CodeType | None
    dropped: list[tuple[Hashable | None, str, tuple[tuple[str, int, str], ...]]]
    # Findings made before the owner's own check (a runner closed the loop first).
    pending: dict[Hashable, list[Finding]]
    pending_notes: dict[Hashable, list[str]]
    # Threads of wider owners (fixtures, the watchdog): never a test's leak.
    fixture_threads: set[threading.Thread]
    finished: set[Hashable]
    late: list[Finding]
    # Callables returning live loops; their loops are checked (WardenLoops only).
    loops: list[Callable[[], Iterable[WardenLoop]]]
    # The values of the wider owners alive now: what they hold is theirs.
    wide_values: dict[Hashable, object]
    observers: list[Any]
    # What shows a warning while the current owner runs (pytest's per-test recorder, or the
    # warnings module's own): a never-awaited coroutine whose warning goes elsewhere is being
    # recorded on purpose (pytest.warns, catch_warnings(record=True)), and is not a finding.
    recorder: object
    # The code of every test function that ran, by (file, name): whose test made a coroutine that
    # was dropped later.
    test_codes: dict[tuple[str, str], dict[types.CodeType, list[Hashable]]]
    _fields: ClassVar[tuple[str, ...]] = (
        "sites",
        "current",
        "test_code",
        "dropped",
        "pending",
        "pending_notes",
        "fixture_threads",
        "finished",
        "late",
        "loops",
        "wide_values",
        "observers",
        "recorder",
        "test_codes",
    )
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        sites: Sites,
        current: Hashable | None = None,
        test_code: types.CodeType | None = None,
        dropped: list[tuple[Hashable | None, str, tuple[tuple[str, int, str], ...]]] | None = None,
        pending: dict[Hashable, list[Finding]] | None = None,
        pending_notes: dict[Hashable, list[str]] | None = None,
        fixture_threads: set[threading.Thread] | None = None,
        finished: set[Hashable] | None = None,
        late: list[Finding] | None = None,
        loops: list[Callable[[], Iterable[WardenLoop]]] | None = None,
        wide_values: dict[Hashable, object] | None = None,
        observers: list[Any] | None = None,
        recorder: object = None,
        test_codes: dict[tuple[str, str], dict[types.CodeType, list[Hashable]]] | None = None,
    ) -> None:
        self.sites = sites
        self.current = current
        self.test_code = test_code
        self.dropped = [] if dropped is None else dropped
        self.pending = {} if pending is None else pending
        self.pending_notes = {} if pending_notes is None else pending_notes
        self.fixture_threads = set() if fixture_threads is None else fixture_threads
        # (What the collector finds with no owner is reported late, as a finished owner's is.)
        self.finished = {FOUND_BY_GC} if finished is None else finished
        self.late = [] if late is None else late
        self.loops = [] if loops is None else loops
        self.wide_values = {} if wide_values is None else wide_values
        self.observers = [] if observers is None else observers
        self._hooks: dict[str, tuple[Callable[..., object], ...]] = {}
        self._refresh_hooks()
        self.recorder = recorder
        self.test_codes = {} if test_codes is None else test_codes
        #: What closed loops' exception handlers were given, for the next check (see
        #: :meth:`watch_after_close`).
        self.after_close: list[CapturedContext] = []

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

    def enter_test(self, owner: Hashable, code: types.CodeType | None) -> None:
        """``owner`` (a test running ``code``) runs now: what has no owner of its own is its."""
        self.current = owner
        self.test_code = code
        if code is not None:
            owners = self.test_codes.setdefault((code.co_filename, code.co_name), {})
            owners.setdefault(code, []).append(owner)  # (parametrized: one code, many tests)

    def coroutine_dropped(self, coro: types.CoroutineType[Any, Any, Any]) -> None:
        recorder = self.recorder
        if recorder is not None and _private.warning_shower() != recorder:
            return  # recorded by the code that dropped it, which checks it itself
        origin = tuple(getattr(coro, "cr_origin", None) or ())
        owner = self._creator(origin)
        name = coro.cr_code.co_qualname
        if owner != self.current:
            # Its creator's verdict is out (tests run one at a time): a late finding on the
            # creator, not a failure of the running test.
            self.late.append(never_awaited(name, origin, self.sites, str(owner)))
            return
        self.dropped.append((owner, name, origin))

    def _creator(self, origin: tuple[tuple[str, int, str], ...]) -> Hashable | None:
        """The test whose function made a coroutine with this ``cr_origin``.

        A coroutine dropped when its last reference goes is the running test's unless its origin
        names another test's function; one the garbage collector finds (held in a reference
        cycle: an ``AsyncMock``'s call list, a dict holding itself) is charged only to a test
        its origin names.
        """
        collected = collecting()
        named = self._test_named(origin, collected)
        if named is not None:
            return named
        if collected and self.test_codes:
            return FOUND_BY_GC
        return self.current  # (a no_leaks() block knows no test: what dies in it is its own)

    def _late_owner(self, captured: CapturedContext) -> Hashable | None:
        """Who a late report is charged to: its owner; for one with no owner, the test whose
        function made it, by its creation record (a task made while no test owned the loop:
        gql's sync test driving the own runner's loop), if exactly one test runs that function.

        Not by the frames its exception went through: an exception raised in one test can be kept
        and set on another test's future.
        """
        owner = captured.owner
        if owner is not None and owner != FOUND_BY_GC and owner != AFTER_CLOSE:
            return owner
        origin = captured.origin
        if origin is not None:
            frames = [
                (site.filename, site.lineno, site.function)
                for site in (origin.site, origin.user_site, *origin.stack)
                if site is not None
            ]
            named = self._test_named(tuple(frames), collected=True)
            if named is not None:
                return named
        return owner

    def watch_after_close(self, loop: WardenLoop) -> None:
        """What ``loop``'s exception handler is given once it is closed reaches these checks,
        which report it late (see :attr:`WardenLoop.after_close`)."""
        loop.after_close = self.after_close.append

    def _take_after_close(self) -> None:
        reported = self.after_close
        if reported:
            taken = reported[:]
            del reported[: len(taken)]  # (an append meanwhile, from another thread, stays)
            for captured in taken:
                self._report_late(captured)

    def _test_named(
        self, origin: tuple[tuple[str, int, str], ...], collected: bool
    ) -> Hashable | None:
        """The test whose function one of these frames (file, line, function) runs in: the
        running test if it is one of the candidates (unless ``collected``: then only when it is
        the only one), the one test that runs that function, "one of ..." for several; or
        None when no frame is a test's."""
        for filename, lineno, function in origin:
            codes = self.test_codes.get((filename, function))
            if codes:
                for code, owners in codes.items():
                    if code.co_firstlineno <= lineno <= _last_line(code):
                        if self.current in owners and (not collected or len(owners) == 1):
                            return self.current
                        if len(owners) == 1:
                            return owners[0]
                        # Parametrized (or run again): one of these made it, which is unknown.
                        return f"{ONE_OF}{', '.join(str(o) for o in owners)}"
        return None

    def take_dropped(self, owner: Hashable) -> list[Finding]:
        mine = [d for d in self.dropped if d[0] == owner]
        if not mine:
            return []
        self.dropped = [d for d in self.dropped if d[0] != owner]
        return [never_awaited(name, origin, self.sites, str(owner)) for _, name, origin in mine]

    # -- observers ----------------------------------------------------------------------------

    def add_observer(self, observer: object) -> None:
        """Tell ``observer`` of each check and clean-up (see :class:`LeakObserver`)."""
        self.observers.append(observer)
        self._refresh_hooks()

    def remove_observer(self, observer: object) -> None:
        if observer in self.observers:
            self.observers.remove(observer)
            self._refresh_hooks()

    def _refresh_hooks(self) -> None:
        # Each event's methods, looked up once: an event no observer has costs an empty loop.
        self._hooks = {
            event: tuple(
                method
                for observer in self.observers
                if (method := getattr(observer, event, None)) is not None
            )
            for event in _EVENTS
        }

    def _notify(self, event: str, *args: Any) -> None:
        for method in self._hooks[event]:
            method(*args)

    # -- checks -------------------------------------------------------------------------------

    def watch(self) -> TestWatch:
        """Mark what is alive now, for a later :meth:`check` of an owner starting now."""
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

        ``watch``: what was alive when the owner started (threads and transports it did not
        make); None for an owner whose threads and unowned transports are not checked.
        ``loops``: the live loops, when the caller has them already.
        """
        if loops is None:
            loops = self.live_loops()
        if (
            not loops
            and not self.dropped
            and not self.pending
            and not self.pending_notes
            and (watch is None or not started_any_since(watch.threads))
        ):
            # The usual sync test: no loop to look at, nothing reported, no thread started.
            self.finished.add(owner)
            return [], []
        self._notify("check_started")
        try:
            return self._check(owner, watch, loops)
        finally:
            self._notify("check_ended")

    async def acheck(
        self, owner: Hashable, watch: TestWatch | None, loop: WardenLoop, grace: float
    ) -> tuple[list[Finding], list[str]]:
        """:meth:`check` from inside the running ``loop``: the grace and the clean-up are awaited
        (the loop cannot be run from inside), the rest is the same path."""
        self._notify("check_started")
        try:
            before = watch.transports.get(id(loop), _NO_TRANSPORTS) if watch is not None else None
            deadline = loop.time() + grace
            rounds = 0
            previous = loop.set_owner(owner)  # (what a callback makes meanwhile is the owner's)
            try:
                while _left(loop, owner, before, self.test_code) and loop.time() <= deadline:
                    await asyncio.sleep(0 if rounds < 4 else 0.01)
                    rounds += 1
            finally:
                loop.set_owner(previous)
            collected: list[Leftovers] = []
            findings, notes = self._check(owner, watch, [loop], collected)
            if collected:
                loop.lw_cleaning = True
                try:
                    for left in collected:
                        notes.append(_cleanup_note(await self.aclean_up(loop, left)))
                    del left, collected
                    for _ in range(3):
                        await asyncio.sleep(0)
                finally:
                    loop.lw_cleaning = False
                # What the cancelled tasks raised on the way out, as the sync path finds it.
                findings.extend(_unretrieved(loop, owner, self.sites, str(owner)))
                findings.extend(self._contexts(loop, owner, str(owner)))
            loop.registry.touched.discard(owner)
            return findings, notes
        finally:
            self._notify("check_ended")

    def _check(
        self,
        owner: Hashable,
        watch: TestWatch | None,
        loops: list[WardenLoop],
        collected: list[Leftovers] | None = None,
    ) -> tuple[list[Finding], list[str]]:
        findings = list(self.pending.pop(owner, ())) if self.pending else []
        notes: list[str] = self.pending_notes.pop(owner, []) if self.pending_notes else []
        for loop in loops:
            before = watch.transports.get(id(loop), _NO_TRANSPORTS) if watch is not None else None
            registry = loop.registry
            if (
                owner not in registry.touched
                and not registry.contexts
                and (before is None or not _new_transports(loop, before))
            ):
                continue  # the owner made nothing here and nothing was reported: nothing to do
            self._check_loop(loop, owner, before, findings, notes, collected)
            for captured in _take_late(loop, self.finished):
                self._report_late(captured)
        self._take_after_close()
        if self.dropped:
            findings.extend(self.take_dropped(owner))
        threads = _new_threads(watch.threads, self.fixture_threads) if watch is not None else []
        if threads:
            findings.extend(
                from_leftovers(
                    Leftovers(threads=self.held_threads(threads)), self.sites, str(owner)
                )
            )
        self.finished.add(owner)
        return findings, notes

    def _check_loop(
        self,
        loop: WardenLoop,
        owner: Hashable,
        before: frozenset[Any] | None,
        findings: list[Finding],
        notes: list[str],
        collected: list[Leftovers] | None = None,
    ) -> None:
        """What ``owner`` left on ``loop``: the one path of every check, whoever calls it.

        A loop that is running (a check from inside it) is read, not run: no grace, no clean-up;
        what is left goes to ``collected``, for the caller to clean up.
        """
        label = str(owner)
        running = loop.is_running()
        stopped: list[asyncio.Future[Any]] = []
        left = _left(loop, owner, before, self.test_code, stopped)
        if stopped and not running:
            # The test's own task, interrupted (pytest-timeout) and now cancelled: let it end
            # here, so its finally blocks run in its own teardown — what they start is still
            # the test's, and is found next.
            loop.run_until_complete(asyncio.wait(stopped, timeout=CLEANUP_TIMEOUT))
            left = _left(loop, owner, before, self.test_code)
        if left and not running:
            # Just-scheduled work (a callback, a short timer, asyncio's own aclose() of an async
            # generator left by an exception) gets a short grace to finish.
            _settle(loop, owner, before, self.test_code)
            left = _left(loop, owner, before, self.test_code)
        if left:
            left = self._adopt_held(loop, owner, left)
        if left.resources:
            left = _fold_into_sessions(left)
        findings.extend(from_leftovers(left, self.sites, label))
        if left and running and collected is not None:
            collected.append(left)
        if left and not running:
            loop.lw_cleaning = True
            try:
                notes.append(_cleanup_note(self.clean_up(loop, left)))
                # Hold nothing of what was left, and let closed transports finish: libraries
                # report what those held as it is freed ("Unclosed connector"), for this owner.
                del left
                for _ in range(3):
                    loop.run_until_complete(asyncio.sleep(0))
            finally:
                loop.lw_cleaning = False
        # After the cleanup: closing what was left makes libraries report what it held
        # (aiohttp's "Unclosed connector"), and that belongs to this owner too.
        findings.extend(_unretrieved(loop, owner, self.sites, label))
        findings.extend(self._contexts(loop, owner, label))
        if not running:
            # Checked and cleaned up: what it creates from now on is news again.
            loop.registry.touched.discard(owner)

    def clean_up(self, loop: WardenLoop, left: Leftovers) -> CloseReport:
        """End everything in ``left`` (observers hear of it first, and after)."""
        self._notify("cleanup_started", loop, left)
        try:
            return clean_up(loop, left, CLEANUP_TIMEOUT)
        finally:
            self._notify("cleanup_ended", loop, left)

    async def aclean_up(self, loop: WardenLoop, left: Leftovers) -> CloseReport:
        """:meth:`clean_up` from inside the running ``loop``."""
        self._notify("cleanup_started", loop, left)
        try:
            return await aclean_up(loop, left, CLEANUP_TIMEOUT)
        finally:
            self._notify("cleanup_ended", loop, left)

    def _adopt_held(self, loop: WardenLoop, owner: Hashable, left: Leftovers) -> Leftovers:
        """Give what a wider fixture's value (or server) holds to it instead of the test.

        A session-scoped aiohttp ClientSession keeps the connection a test's request opened (and
        its cleanup timer); an engine's pool keeps a connection and its worker thread. Those are
        the fixture's, reported at its teardown if still open then.
        """
        objects = _objects_of(left)
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
        return _keeping(left, set(objects))

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
        """Findings for the exception-handler contexts of ``owner`` (and of no owner, for the
        test running now; another owner's wait for that owner's own check).

        Letting go of a context can free what it names and make a library report more (dropping
        aiohttp's "Unclosed client session" frees its connector: "Unclosed connector"), so take
        them until none is left.
        """
        found: list[Finding] = []
        # (A no_leaks() block owns what is reported while it runs: an ownerless report came from
        # before it.)
        takes_ownerless = isinstance(owner, str)
        for _ in range(5):
            taken = loop.registry.take_contexts(owner)
            if takes_ownerless:
                taken += loop.registry.take_unowned()
            if not taken:
                break
            found.extend(from_context(c, self.sites, label) for c in taken)
            del taken
        return found

    # -- the runner-close hook ----------------------------------------------------------------

    def collect_cycles(self) -> None:
        """One collection pass now: what dies in it is reported as any other death is (a
        coroutine to its creator, a library's report through its loop's exception handler)."""
        # (Whoever records warnings now — pytest, for the phase — is not a test recording its own
        # to check them: what the collection finds is ours to report.)
        if self.recorder is not None:
            self.recorder = _private.warning_shower()
        # Observers hear of it: loopwarden's own pass (it can take a while in a big process) is
        # no part of the phase it runs in, and counts against no test's deadline.
        self._notify("collection_started")
        try:
            gc.collect()
        finally:
            self._notify("collection_ended")

    def collect_late(self, collect: bool = True) -> None:
        """When every owner has ended: one collection pass (unless ``collect`` is false), and what
        it — or anything since the last check — reported through a live loop's exception handler
        ("Future exception was never retrieved", "Unclosed client session") joins :attr:`late`,
        by its owner."""
        if collect:
            self.collect_cycles()
        for loop in self.live_loops():
            registry = loop.registry
            contexts, registry.contexts = registry.contexts, []
            for captured in contexts:
                self._report_late(captured)
        self._take_after_close()

    def _report_late(self, captured: CapturedContext) -> None:
        self.late.append(from_context(captured, self.sites, str(self._late_owner(captured))))

    def before_runner_close(self, loop: WardenLoop) -> None:
        """``asyncio.Runner.close`` is about to cancel this loop's tasks: check them first.

        Each owner with something alive on the loop gets the very check its own check would
        give it (grace, what wider owners hold, clean-up); the findings wait for that check.
        """
        self._notify("check_started")
        try:
            self._before_runner_close(loop)
        finally:
            self._notify("check_ended")

    def _before_runner_close(self, loop: WardenLoop) -> None:
        if loop.virtual_time:
            # Checked and cleaned up in real time, as every check: a leftover timer is
            # reported, not fired by a virtual clock.
            loop.set_virtual_time(False)
        # The usual case (pytest-asyncio closes a runner after each test): no task, timer or
        # resource alive, so nothing to find but the test's failed tasks that nobody read.
        quiet = _nothing_alive(loop)
        owners: list[Hashable]
        if quiet:
            owners = [] if self.current is None else [self.current]
        else:
            owners = _owners_on(loop, self.current)
        for owner in owners:
            found: list[Finding] = []
            notes: list[str] = []
            if quiet:
                # (Its contexts are taken below with everyone's, by their owner.)
                found.extend(_unretrieved(loop, owner, self.sites, str(owner)))
            else:
                self._check_loop(loop, owner, None, found, notes)
            if found:
                self.pending.setdefault(owner, []).extend(found)
            if notes:
                self.pending_notes.setdefault(owner, []).extend(notes)
        for captured in loop.registry.take_contexts():
            owner = captured.owner if captured.owner is not None else self.current
            finding = from_context(captured, self.sites, str(owner))
            if owner in self.finished:
                self.late.append(finding)  # its owner's check ran already: nobody reads pending
            else:
                self.pending.setdefault(owner, []).append(finding)


def _last_line(code: types.CodeType) -> int:
    return max((line for *_, line in code.co_lines() if line is not None), default=0)


# The coroutines a tap is reporting right now (taps nest; the innermost claims).
_CLAIMED: list[object] = []


def tap_never_awaited(
    on_dropped: Callable[[types.CoroutineType[Any, Any, Any]], None],
) -> Callable[[], None]:
    """See "coroutine ... was never awaited" warnings as they are shown; returns the undo.

    The warning carries the coroutine (its ``cr_origin`` names the line that made it). pytest and
    ``catch_warnings(record=True)`` replace what shows a warning, not ``_showwarnmsg`` itself,
    so the tap sees warnings they record too.
    """

    def wrap(
        original: Callable[[warnings.WarningMessage], None],
    ) -> Callable[[warnings.WarningMessage], None]:
        def _showwarnmsg(msg: warnings.WarningMessage) -> None:
            source = getattr(msg, "source", None)
            if (
                isinstance(source, types.CoroutineType)
                and msg.category is RuntimeWarning
                and source not in _CLAIMED
            ):
                on_dropped(source)
                # A tap set up earlier (a pytest session around a no_leaks() block) sees it
                # next: the innermost owner has it.
                _CLAIMED.append(source)
                try:
                    original(msg)
                finally:
                    _CLAIMED.pop()
                return
            original(msg)

        return _showwarnmsg

    return _private.wrap_warning_shower(wrap)


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
    if isinstance(root, types.FunctionType):
        # A function holds what its closure and defaults hold (a session fixture's spawn()
        # helper keeps the executors whose threads it starts), not its module's globals.
        stack = [cell.cell_contents for cell in root.__closure__ or () if _filled(cell)]
        stack.extend(root.__defaults__ or ())
        stack.extend((root.__kwdefaults__ or {}).values())
    elif isinstance(root, _OPAQUE):
        # A fixture whose value is the loop (or a module, a class) holds nothing in particular:
        # through the loop, every timer and task on it is "reachable", and each test's
        # leftovers would be charged to that fixture.
        return found
    else:
        stack = [root]
    for obj in stack:
        seen.add(id(obj))
        if id(obj) in wanted:
            found.add(id(obj))
    if found and len(found) == len(wanted):
        return found
    stack = [obj for obj in stack if not isinstance(obj, _OPAQUE)]
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


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def _cleanup_note(report: CloseReport) -> str:
    if report.resisted:
        names = ", ".join(repr(t.name) for t in report.resisted)
        return (
            f"loopwarden cancelled what was left; {names} swallowed the cancellation, so "
            "loopwarden closed its coroutine to end it."
        )
    return "loopwarden cancelled and closed what was left."


def _nothing_alive(loop: WardenLoop) -> bool:
    """No pending task, no timer, no recorded resource and no open session on ``loop``."""
    return (
        not _private.timers(loop)
        and not any(loop.lw_resources())
        and not asyncio.all_tasks(loop)
        and not open_sessions(loop)
    )


def _fold_into_sessions(left: Leftovers) -> Leftovers:
    """What an open session holds (its connector's connections, keep-alive timer and their
    tasks) is part of that one finding, not findings of its own: closing the session ends it."""
    sessions = [r.obj for r in left.resources if r.kind == "session"]
    if not sessions:
        return left
    objects = set(_objects_of(left)) - {id(session) for session in sessions}
    held: set[int] = set()
    for session in sessions:
        held |= _reachable(session, objects - held)
    if not held:
        return left
    return _keeping(left, set(_objects_of(left)) - held)


def _objects_of(left: Leftovers) -> dict[int, object]:
    """The tasks, timer handles and resources in ``left``, by id (threads are not walked to)."""
    objects: dict[int, object] = {}
    for task in left.tasks:
        objects[id(task.task)] = task.task
    for timer in left.timers:
        objects[id(timer.handle)] = timer.handle
    for resource in left.resources:
        objects[id(resource.obj)] = resource.obj
    return objects


def _keeping(left: Leftovers, kept: set[int]) -> Leftovers:
    """``left`` with only the tasks, timers and resources whose ids are in ``kept``."""
    return Leftovers(
        tasks=[t for t in left.tasks if id(t.task) in kept],
        timers=[t for t in left.timers if id(t.handle) in kept],
        resources=[r for r in left.resources if id(r.obj) in kept],
        threads=left.threads,
    )


def _owners_on(loop: WardenLoop, current: Hashable | None) -> list[Hashable]:
    """Every owner that has a task, timer or resource alive on ``loop`` (and ``current``)."""
    registry = loop.registry
    owners: dict[Hashable, None] = {}
    if current is not None:
        owners[current] = None
    things: list[Any] = [*asyncio.all_tasks(loop), *_private.timers(loop)]
    for thing in things:
        origin = registry.origin_of(thing)
        if origin is not None and origin.owner is not None:
            owners[origin.owner] = None
    for table in (*loop.lw_resources(), loop._lw_sessions):
        for origin in list(table.values()) if table else ():
            if origin.owner is not None:
                owners[origin.owner] = None
    return list(owners)


def _new_transports(loop: asyncio.AbstractEventLoop, before: frozenset[Any]) -> bool:
    table = _private.transports(loop)
    if not table:
        return False
    return any(t is not None and t not in before for t in list(table.values()))


_NO_TRANSPORTS: frozenset[Any] = frozenset()
_NOTHING_LEFT = Leftovers()  # (read only: a loop with nothing alive has nothing to clean up)


def _transports(loop: asyncio.AbstractEventLoop) -> frozenset[Any]:
    table = _private.transports(loop)
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
    """Run the loop briefly so that closing transports and pending callbacks finish.

    ``owner`` is the loop's owner meanwhile: what a callback of its creates now (a task a timer
    starts) is its own, found and cleaned up with the rest.
    """
    deadline = loop.time() + SETTLE_TIMEOUT
    rounds = 0
    previous = loop.set_owner(None)
    try:
        while True:
            # loopwarden's own step: made with no owner (nobody's task, not the doctor's either).
            step = loop.create_task(asyncio.sleep(0 if rounds < 4 else 0.01))
            loop.set_owner(owner)
            try:
                loop.run_until_complete(step)
            finally:
                loop.set_owner(None)
            rounds += 1
            if rounds % 2 == 0 and not _left(loop, owner, before, test_code):
                return
            if loop.time() > deadline:
                return
    finally:
        loop.set_owner(previous)


def _unretrieved(loop: WardenLoop, owner: Hashable, sites: Sites, label: str) -> list[Finding]:
    """Tasks that failed and whose exception nobody read; found now rather than at GC time."""
    found: list[Finding] = []
    if owner not in loop.registry.touched:
        return found
    for task in loop.registry.tasks_of(owner):
        if not task.done() or task.cancelled() or not _private.exception_unread(task):
            continue
        exc = task.exception()  # marks it retrieved: asyncio will not log it again at GC
        captured = CapturedContext(
            {"message": "Task exception was never retrieved", "exception": exc, "future": task},
            owner,
            loop.registry.origin_of(task),
        )
        found.append(from_context(captured, sites, label))
    return found


#: How a late finding made by one of several runs of one test function names its owners.
ONE_OF = "one of "


def candidates(owner: str) -> list[str]:
    """The owners a late finding names: one, or each of "one of a[1], a[2]"."""
    if owner.startswith(ONE_OF):
        return owner[len(ONE_OF) :].split(", ")
    return [owner]


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


# Modules whose worker threads stay alive idle by design, shared by whoever runs work in them:
# concurrent.futures pools (the loop's default executor included; work still running in them is
# reported as executor work instead), trio's process-wide thread cache (trio.to_thread, and
# anyio's trio backend), anyio's worker threads on asyncio (stopped with their loop).
_POOL_THREAD_MODULES = frozenset(
    {"concurrent.futures.thread", "trio._core._thread_cache", "anyio._backends._asyncio"}
)


def _is_pool_thread(thread: threading.Thread) -> bool:
    target = _private.thread_target(thread)
    module = getattr(target, "__module__", None) or type(thread).__module__
    return module in _POOL_THREAD_MODULES
