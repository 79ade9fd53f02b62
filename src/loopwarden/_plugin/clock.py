"""Virtual time for tests: ``loopwarden_virtual_time``, ``@pytest.mark.loopwarden(virtual_time=)``,
and the ``clock`` fixture.

A test that wants virtual time gets it from the start of its setup to the end of its teardown,
on every loop it and its fixtures use (loops made during the test are switched on as they are
made). Between tests every loop runs in real time again — the clock keeps the time it gained —
and the leak check after teardown runs in real time, so a leftover timer is reported, not fired.

When, in virtual time, the loop goes idle — nothing scheduled, nothing working — nothing can ever
wake the test: the watchdog reports the hang at once (see :meth:`Watchdog.report_idle`), with
every task's await, instead of after ``loopwarden_timeout`` real seconds.

Threads alive when the session started are background; every thread started later — by a test
or a fixture of any scope — holds ``settle()`` and the virtual clock while it works (a thread
parked until someone wakes it does not).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._plugin import _settings
from loopwarden._plugin._keys import VIRTUAL
from loopwarden._plugin._loops import live_loops, on_new_loop, warn_if_foreign
from loopwarden._plugin._stash import notable_items
from loopwarden._plugin.config import (
    MARKER_ERROR,
    STATE,
    Mode,
    marker_arg,
    register_per_test,
    stands_down,
)

if TYPE_CHECKING:
    from loopwarden._core._clock import Clock

# Per test: does it run in virtual time? And does time.monotonic() follow the loop's clock?
MONOTONIC = pytest.StashKey[bool]()
CLOCKS = pytest.StashKey["Clocks"]()


class Clocks(Record):
    """The session's virtual-time state: the default, and the test running in virtual time."""

    config: pytest.Config
    default: bool
    source: str
    monotonic: bool
    current: pytest.Item | None
    following: contextlib.ExitStack | None
    # Threads alive when the session started (pytest's, xdist's, the interpreter's): background.
    # Every thread started later — by a test or by a fixture of any scope — may call back into
    # the loop, so it holds the clock while it works (a parked one does not).
    baseline: set[int]
    # loopwarden_virtual_peer_wait: how long an unanswered request to an outside peer holds the
    # clock (QuietPolicy.in_flight).
    peer_wait: float
    _fields = (
        "config",
        "default",
        "source",
        "monotonic",
        "current",
        "following",
        "baseline",
        "peer_wait",
    )

    def __init__(
        self,
        config: pytest.Config,
        default: bool,
        source: str,
        monotonic: bool = False,
        current: pytest.Item | None = None,
        following: contextlib.ExitStack | None = None,
        baseline: set[int] | None = None,
        peer_wait: float = 1.0,
    ) -> None:
        self.config = config
        self.default = default
        self.source = source
        self.monotonic = monotonic
        self.current = current
        self.following = following
        self.baseline = set() if baseline is None else baseline
        self.peer_wait = peer_wait

    def switch_on(self, loop: WardenLoop) -> None:
        loop.quiet.on_idle = lambda: self._idle(loop)
        loop.set_virtual_time(True)

    def switch_all(self, on: bool) -> None:
        for loop in live_loops(self.config):
            if on:
                self.switch_on(loop)
            else:
                loop.set_virtual_time(False)
                loop.quiet.on_idle = None

    def new_loop(self, loop: WardenLoop) -> None:
        loop.quiet.reset_baseline(self.baseline)
        loop.quiet.policy.in_flight = self.peer_wait
        if self.current is not None:
            self.switch_on(loop)

    def _idle(self, loop: WardenLoop) -> None:
        if self.current is not None:
            self.config.hook.pytest_loopwarden_loop_idle(config=self.config, loop=loop)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    state = config.stash.get(STATE, None)
    if state is None or state.mode is Mode.LIMITED:
        return
    chosen = _settings.settings(config)
    config.stash[CLOCKS] = Clocks(
        config,
        chosen.virtual_time,
        chosen.source("virtual_time"),
        monotonic=chosen.virtual_monotonic,
        peer_wait=chosen.virtual_peer_wait,
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    # After every plugin's configure hook: the runner and the guard have made their state.
    config = session.config
    clocks = config.stash.get(CLOCKS, None)
    if clocks is None:
        return
    clocks.baseline = {t.ident for t in threading.enumerate() if t.ident is not None}
    on_new_loop(config, clocks.new_loop)


def pytest_report_header(config: pytest.Config) -> str | None:
    clocks = config.stash.get(CLOCKS, None)
    if clocks is None or not clocks.default:
        return None
    return f"loopwarden: virtual time on for every test ({clocks.source})"


def _collected(clocks: Clocks, item: pytest.Item) -> None:
    found, raw = marker_arg(item, "virtual_time")
    if found:
        if not isinstance(raw, bool):
            item.stash[MARKER_ERROR] = (
                f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden(virtual_time={raw!r}) is "
                "not valid; use virtual_time=True or virtual_time=False."
            )
            return
        if not raw and "clock" in getattr(item, "fixturenames", ()):
            item.stash[MARKER_ERROR] = (
                f"loopwarden: {item.nodeid} uses the clock fixture, which needs virtual time, "
                "but its marker says virtual_time=False. Remove one of the two."
            )
            return
        wanted = raw
    else:
        wanted = clocks.default or "clock" in getattr(item, "fixturenames", ())
    if wanted:
        item.stash[VIRTUAL] = True
    found, raw = marker_arg(item, "monotonic")
    if found and not isinstance(raw, bool):
        item.stash[MARKER_ERROR] = (
            f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden(monotonic={raw!r}) is not "
            "valid; use monotonic=True or monotonic=False."
        )
    elif found and raw and not wanted:
        item.stash[MARKER_ERROR] = (
            f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden(monotonic=True) makes "
            "time.monotonic() follow the virtual clock, but the test does not run in virtual "
            "time. Add virtual_time=True."
        )
    elif wanted and (raw if found else clocks.monotonic):
        item.stash[MONOTONIC] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    clocks = session.config.stash.get(CLOCKS, None)
    if clocks is None:
        return
    # Virtual time for every test reaches sync tests too (the watchdog reports an idle loop).
    items = session.items if clocks.default else notable_items(session)
    for item in items:
        _collected(clocks, item)
    if any(VIRTUAL in item.stash for item in items):
        # Only a session with a test in virtual time pays for the per-test hooks.
        register_per_test(session.config, VirtualTests(clocks), "loopwarden-virtual-tests")


class VirtualTests:
    """The per-test hooks: virtual time on from a test's setup to the end of its teardown."""

    # Registered after pytest's capture and logging plugins, so its wrappers are trylast to run
    # inside theirs (what they print is the test's), as when they were module hooks.

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        clocks = self.clocks
        if item.stash.get(VIRTUAL, False):
            warn_if_foreign(item, "virtual time", "run in real time")
            clocks.current = item
            clocks.switch_all(True)
            if item.stash.get(MONOTONIC, False):
                from loopwarden._core._clock import monotonic_follows_loop  # (only when used)

                clocks.following = contextlib.ExitStack()
                clocks.following.enter_context(monotonic_follows_loop())
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        clocks = self.clocks
        try:
            return (yield)
        finally:
            if clocks.current is item:
                clocks.current = None
                clocks.switch_all(False)
                if clocks.following is not None:
                    clocks.following.close()
                    clocks.following = None


@pytest.fixture
def clock() -> Clock:
    """The virtual clock of the test's loop: ``now()``, ``advance(s)``, ``run_until_idle()``.

    Using it turns virtual time on for the test (as ``@pytest.mark.loopwarden(virtual_time=True)``
    does). Use it from async code: it reads the loop the test runs on.
    """
    from loopwarden._core._clock import Clock  # (the virtual clock loads when a test uses it)

    return Clock()
