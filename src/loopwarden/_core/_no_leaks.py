"""``no_leaks()``: the leak engine around a block of code, for scripts and unittest.

The block's owner is a fresh token: what the loop creates while the block is open (tasks and what
they create, timers, servers, connections, subprocesses, executor work), threads started in it,
coroutines never awaited and failures nobody saw are checked when it ends, by the same engine that
checks a pytest test — then cleaned up, and raised as :class:`~loopwarden.LeaksFound`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import types
from typing import Any

from loopwarden._core import _private
from loopwarden._core._findings import Finding, Sites, describe
from loopwarden._core._leaks import SETTLE_TIMEOUT, LeakEngine, TestWatch, tap_never_awaited
from loopwarden._core._libraries import track_clients
from loopwarden._core._loop import WardenLoop
from loopwarden._core._registry import tap_collections
from loopwarden._core._threads import record_thread_starts
from loopwarden._exceptions import LeaksFound, LoopwardenError

# Frames of creation origin kept for each coroutine made in the block ("never awaited" names it).
_ORIGIN_DEPTH = 3


class _Block:
    """The owner token of one ``no_leaks()`` block (named in reports by its label)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label

    __str__ = __repr__


class LeakCheck:
    """A ``no_leaks()`` block: a context manager (``with``) and an async one (``async with``).

    Attributes:
        findings: what the block left behind, set when it ends (empty when clean).
        report: the text of :class:`~loopwarden.LeaksFound` ("" when clean).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None, raise_on_leaks: bool, label: str):
        self._loop = loop
        self.raise_on_leaks = raise_on_leaks
        self.label = label
        self.findings: list[Finding] = []
        self.report = ""
        self._state: tuple[WardenLoop, _Block, Any, LeakEngine, TestWatch, list[Any]] | None = None

    # -- entering and leaving ------------------------------------------------------------------

    def _enter(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if self._state is not None:
            raise LoopwardenError(
                "loopwarden.no_leaks(): this block is already open; make one per use"
            )
        if not isinstance(loop, WardenLoop):
            raise LoopwardenError(_not_ours(loop))
        if loop.is_closed():
            raise LoopwardenError("loopwarden.no_leaks(): the loop is closed; pass an open loop")
        token = _Block(self.label)
        engine = LeakEngine(
            Sites(os.getcwd()),
            current=token,
            loops=[lambda: [loop]],
            recorder=_private.warning_shower(),
        )
        undo: list[Any] = [
            tap_never_awaited(engine.coroutine_dropped),
            track_clients(),
            tap_collections(),
        ]
        record_thread_starts(True)
        undo.append(lambda: record_thread_starts(False))
        depth = sys.get_coroutine_origin_tracking_depth()
        if depth < _ORIGIN_DEPTH:
            sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
            undo.append(lambda: sys.set_coroutine_origin_tracking_depth(depth))
        previous = loop.set_owner(token)
        self._state = (loop, token, previous, engine, engine.watch(), undo)

    def _leave(self, findings: list[Finding], notes: list[str]) -> None:
        self.findings = findings
        if findings:
            self.report = describe(findings, self.label, notes, when="when it ended")

    def _restore(self) -> tuple[WardenLoop, _Block, LeakEngine, TestWatch]:
        assert self._state is not None
        loop, token, previous, engine, watch, undo = self._state
        loop.set_owner(previous)
        for step in reversed(undo):
            step()
        return loop, token, engine, watch

    def _raise(self, exc: BaseException | None) -> None:
        if not self.report or not self.raise_on_leaks:
            return
        error = LeaksFound(self.report, self.findings)
        if exc is not None:
            # The block failed on its own: that error stands, with what was left as a note.
            exc.add_note(self.report)
            return
        raise error

    def __enter__(self) -> LeakCheck:
        loop = self._loop
        if loop is None:
            raise LoopwardenError(
                "loopwarden.no_leaks() needs the loop it guards when used with 'with': "
                "no_leaks(loop); inside a coroutine use 'async with loopwarden.no_leaks():'"
            )
        if loop.is_running():
            raise LoopwardenError(
                "loopwarden.no_leaks(): the loop is running, so the block cannot run it to clean "
                "up; inside a coroutine use 'async with loopwarden.no_leaks():'"
            )
        self._enter(loop)
        return self

    def __exit__(
        self, exc_type: Any, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        loop, token, engine, watch = self._restore()
        self._state = None
        findings, notes = engine.check(token, watch, [loop])
        self._leave(findings + engine.late, notes)
        self._raise(exc)

    async def __aenter__(self) -> LeakCheck:
        running = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not running:
            raise LoopwardenError(
                "loopwarden.no_leaks(loop): 'async with' guards the running loop; leave out the "
                "loop argument"
            )
        self._enter(running)
        task = asyncio.current_task()
        if task is not None and self._state is not None:
            # What this task creates in the block is the block's, whoever owns the task (a test
            # in guard mode, an outer block); another task's blocks are theirs.
            assert isinstance(running, WardenLoop)
            self._state[5].append(running.registry.reown(task, self._state[1]))
        return self

    async def __aexit__(
        self, exc_type: Any, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        loop, token, engine, watch = self._restore()
        self._state = None
        findings, notes = await engine.acheck(token, watch, loop, SETTLE_TIMEOUT)
        # (What the garbage collector found dead meanwhile with no owner is the block's.)
        self._leave(findings + engine.late, notes)
        self._raise(exc)


def no_leaks(
    loop: asyncio.AbstractEventLoop | None = None,
    *,
    raise_on_leaks: bool = True,
    label: str = "the no_leaks() block",
) -> LeakCheck:
    """Check that a block of code leaves nothing behind on a loopwarden loop.

    ``with no_leaks(loop): loop.run_until_complete(main())`` around code that runs a loop made
    by :func:`loopwarden.new_loop`; ``async with no_leaks(): ...`` inside a coroutine on such a
    loop (``asyncio.run(main(), loop_factory=loopwarden.new_loop)``, or an
    ``IsolatedAsyncioTestCase`` with ``loop_factory = loopwarden.WardenLoop``: a class there,
    since a function in a class attribute would be called as a method).

    When the block ends, what it created and left — pending tasks, live timers, open servers,
    connections and subprocesses, unfinished executor work, threads it started — is reported
    with where each was created, after a short grace for work about to finish, then cancelled
    and closed; so are never-awaited coroutines, unretrieved task exceptions and what libraries
    report to the loop's exception handler (an unclosed aiohttp session). The findings raise
    :class:`~loopwarden.LeaksFound` (an ``AssertionError``) unless ``raise_on_leaks=False``;
    either way they are on the returned object's ``findings`` and ``report``. An exception
    from the block itself is kept, with the report added as a note.
    """
    return LeakCheck(loop, raise_on_leaks, label)


def _not_ours(loop: object) -> str:
    what = "no loop" if loop is None else f"{type(loop).__module__}.{type(loop).__qualname__}"
    return (
        f"loopwarden.no_leaks() guards loopwarden's loops, and got {what}: it cannot tell what "
        "the block created on another loop. Make the loop with loopwarden.new_loop(): "
        "asyncio.run(main(), loop_factory=loopwarden.new_loop), asyncio.Runner(loop_factory="
        "loopwarden.new_loop), or loop_factory = loopwarden.WardenLoop on an "
        "IsolatedAsyncioTestCase (Python 3.13+)."
    )
