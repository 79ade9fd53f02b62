"""Guarding loops that loopwarden does not drive itself.

- pytest-asyncio >= 1.4 (guard mode): loopwarden answers its ``pytest_asyncio_loop_factories``
  hook with a :class:`WardenLoop` factory. A project's own answer to that hook wins: a factory of
  asyncio's plain loop in it is swapped for loopwarden's (the same loop, guarded); other loops
  (uvloop) are left alone.
- ``unittest.IsolatedAsyncioTestCase`` tests collected by pytest: their loop comes from
  loopwarden's factory (``loop_factory`` on Python 3.13+, the event loop policy before).
- anyio-marked tests on the asyncio backend: anyio's runner creates its loop through the event
  loop policy (Python 3.11 to 3.13), which loopwarden points at its factory while such a test runs.

In every case, what a test creates on those loops is attributed to that test.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Generator, Hashable, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from loopwarden._core._loop import GUARDED_FACTORIES, WardenLoop, new_loop, plain_loop_factory
from loopwarden._core._records import Record
from loopwarden._plugin._keys import LOOP_GUARD
from loopwarden._plugin._runtime import (
    FixtureOwner,
    class_of,
    lives_per_test,
    unittest_subclass,
)
from loopwarden._plugin._stash import claimed_elsewhere, notable_items
from loopwarden._plugin.config import STATE, Mode, register_per_test, stands_down


class Guard(Record):
    """Loops loopwarden created for other runners, and the owner of what is created on them."""

    owner: Hashable | None
    loops: weakref.WeakSet[WardenLoop]
    foreign_factories: bool
    # Tells the plugins (the leak guard) that a runner is about to cancel what is left on a loop.
    on_runner_close: Callable[[WardenLoop], None] | None
    # Called with each loop made (the clock and fuzz plugins set it up for the current test).
    new_loop_hooks: list[Callable[[WardenLoop], None]]
    _newest: weakref.ref[WardenLoop] | None
    # The thread the tests run in, and the loops made in others (a server a session fixture runs
    # in a thread): what those create belongs to whoever made the loop, not to the test that is
    # running meanwhile.
    home: int
    pinned: weakref.WeakSet[WardenLoop]
    _fields = (
        "owner",
        "loops",
        "foreign_factories",
        "on_runner_close",
        "new_loop_hooks",
        "_newest",
        "home",
        "pinned",
    )

    def __init__(
        self,
        owner: Hashable | None = None,
        loops: weakref.WeakSet[WardenLoop] | None = None,
        foreign_factories: bool = False,
        on_runner_close: Callable[[WardenLoop], None] | None = None,
        new_loop_hooks: list[Callable[[WardenLoop], None]] | None = None,
        _newest: weakref.ref[WardenLoop] | None = None,
    ) -> None:
        self.owner = owner
        self.loops = weakref.WeakSet() if loops is None else loops
        self.foreign_factories = foreign_factories
        self.on_runner_close = on_runner_close
        self.new_loop_hooks = [] if new_loop_hooks is None else new_loop_hooks
        self._newest = _newest
        self.home = threading.get_ident()
        self.pinned = weakref.WeakSet()
        #: The project's loop factories loopwarden cannot guard (uvloop's, a loop subclass), by
        #: the name the project gave them: said once, in the terminal summary.
        self.unguarded: dict[str, str] = {}
        #: Whether any loop was made: the own runner's sessions ask per test, and mostly none was.
        self.made_any = _newest is not None

    def newest_live(self) -> WardenLoop | None:
        """The loop made last, if still open; else any open loop of ours (None if none)."""
        loop = self._newest() if self._newest is not None else None
        if loop is not None and not loop.is_closed():
            return loop
        if not self.loops:  # walking even an empty weak set is not free, and this runs per phase
            return None
        return next((loop for loop in list(self.loops) if not loop.is_closed()), None)

    def make_loop(self) -> WardenLoop:
        loop = new_loop()
        self.made_any = True
        loop.set_owner(self.owner)
        loop.on_runner_close = self.on_runner_close
        self.loops.add(loop)
        # Forgotten once closed, not when collected: several loops are walked per test.
        loop.close_hooks.append(self.loops.discard)
        if threading.get_ident() != self.home:
            # Another thread's loop (a server's): not the test's newest loop, and the test's
            # clock and fuzzing do not apply to it.
            self.pinned.add(loop)
            return loop
        self._newest = weakref.ref(loop)
        for hook in self.new_loop_hooks:
            hook(loop)
        return loop

    def open_loops(self) -> list[WardenLoop]:
        """The loops made here that are still open (closing one forgets it)."""
        loops = self.loops
        if not loops:  # between tests in guard mode: the test's loop closed with its runner
            return []
        # The usual case, several times per test in guard mode: one open loop, the newest. A walk
        # of the weak set costs more than the rest of this together.
        newest = self._newest() if self._newest is not None else None
        if newest is not None and len(loops) == 1 and newest in loops:
            return [] if newest.is_closed() else [newest]
        return [loop for loop in list(loops) if not loop.is_closed()]

    def set_owner(self, owner: Hashable | None) -> None:
        """``owner`` creates what is created from now on, on the loops of the tests' thread."""
        self.owner = owner
        pinned = self.pinned
        for loop in self.open_loops():
            if not pinned or loop not in pinned:
                loop.set_owner(owner)


# Set at collection on the tests whose runner creates its loop through asyncio.Runner.
NEEDS_LOOP_FROM_US = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    guard = config.stash[LOOP_GUARD] = Guard()
    # loopwarden.guarded_loop() (a runner's loop_factory) makes the loops of this session.
    GUARDED_FACTORIES.append(guard.make_loop)
    config.add_cleanup(lambda: GUARDED_FACTORIES.remove(guard.make_loop))

    def runner_closing(loop: WardenLoop) -> None:
        config.hook.pytest_loopwarden_runner_closing(config=config, loop=loop)

    guard.on_runner_close = runner_closing


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Generator[None, Mapping[str, Callable[[], asyncio.AbstractEventLoop]] | None, Any]:
    result = yield
    state = config.stash.get(STATE, None)
    if state is None or state.mode is not Mode.GUARD:
        return result  # the own runner asks what the project answers, to refuse it if it must
    guard = config.stash[LOOP_GUARD]
    if result is None:
        return {"loopwarden": guard.make_loop}
    # The project chose its loops. asyncio's plain loop, under whatever name, is what a WardenLoop
    # is: loopwarden makes it, guarded. Others (uvloop) are used as they are, unguarded.
    chosen = {
        name: guard.make_loop if plain_loop_factory(factory) else factory
        for name, factory in result.items()
    }
    for name, factory in chosen.items():
        if factory is result[name]:
            guard.foreign_factories = True
            guard.unguarded.setdefault(name, _factory_name(factory))
    return chosen


def _factory_name(factory: Callable[[], object]) -> str:
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", None) or repr(factory)
    return f"{module}.{name}" if module else name


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    guard = config.stash.get(LOOP_GUARD, None)
    if guard is None or not guard.unguarded:
        return
    names = ", ".join(f"{name!r} ({what})" for name, what in sorted(guard.unguarded.items()))
    terminalreporter.write_line(
        "loopwarden: the project's pytest_asyncio_loop_factories hook supplies loops loopwarden "
        f"does not make: {names}. Tests on them ran without loopwarden's loop guards (what "
        "they leave on the loop, blocking calls, virtual time, fuzzing); threads they leave, "
        "coroutines never awaited and timeouts are still checked. Return "
        "asyncio.new_event_loop for the tests you want guarded (a test that needs the "
        "project's loop, for its own clock or uvloop, stays unguarded)."
    )


@contextmanager
def _loops_from(guard: Guard, cls: type[Any] | None) -> Generator[None, None, None]:
    """Make asyncio.Runner-based runners (unittest, anyio) create loopwarden's loops."""
    if (
        sys.version_info >= (3, 13)
        and cls is not None
        and unittest_subclass(cls, "IsolatedAsyncioTestCase")
    ):
        if getattr(cls, "loop_factory", None) is not None:
            yield  # the test case chose its own loop
            return
        cls.loop_factory = staticmethod(guard.make_loop)
        try:
            yield
        finally:
            del cls.loop_factory
        return
    if not hasattr(asyncio, "set_event_loop_policy"):
        yield  # Python 3.16 removes event loop policies: nothing to point at our factory
        return
    # Deprecated since Python 3.14, and still how anyio's runner (asyncio.Runner without a
    # loop_factory) makes its loop: the class is looked up with its warning silenced too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        base: Any = asyncio.DefaultEventLoopPolicy

        class _Policy(base):  # type: ignore[misc]
            def new_event_loop(self) -> asyncio.AbstractEventLoop:
                return guard.make_loop()

        previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(_Policy())
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(previous)


def _needs_policy(item: pytest.Item) -> bool:
    if unittest_subclass(class_of(item), "IsolatedAsyncioTestCase"):
        return True
    return claimed_elsewhere(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    guard, state = config.stash.get(LOOP_GUARD, None), config.stash.get(STATE, None)
    if guard is None or state is None:
        return
    needs_us = False
    for item in notable_items(session):
        if _needs_policy(item):
            item.stash[NEEDS_LOOP_FROM_US] = True
            needs_us = True
    if state.mode is Mode.GUARD or needs_us:
        # Own runner with no unittest or foreign-runner tests: no per-test hook at all.
        register_per_test(config, OwnedTests(guard), "loopwarden-owned-tests")


class OwnedTests:
    """The per-test hooks: what a test's loops create is the test's, what a wider fixture's
    set-up creates is that fixture's."""

    # Registered after pytest's capture and logging plugins, so its wrappers are trylast to run
    # inside theirs (what they print is the test's), as when they were module hooks.

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        guard = self.guard
        needs_policy = NEEDS_LOOP_FROM_US in item.stash
        if not needs_policy and item.config.stash[STATE].mode is not Mode.GUARD:
            return (yield)
        guard.set_owner(item.nodeid)
        try:
            if needs_policy:
                with _loops_from(guard, getattr(item, "cls", None)):
                    return (yield)
            return (yield)
        finally:
            guard.set_owner(None)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        guard = self.guard
        if guard.owner is None or lives_per_test(fixturedef, request):
            return (yield)
        # What a wider fixture creates belongs to it (and is checked at its teardown), not to
        # the test that happened to set it up.
        previous = guard.owner
        guard.set_owner(FixtureOwner.of(fixturedef, request))
        try:
            return (yield)
        finally:
            guard.set_owner(previous)
