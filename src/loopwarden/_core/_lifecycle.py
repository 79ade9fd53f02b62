"""Cleaning up and closing instrumented loops the way ``asyncio.Runner`` does, with a deadline.

Also :func:`hook_runner_close`: ``asyncio.Runner`` (which pytest-asyncio, anyio and
``unittest.IsolatedAsyncioTestCase`` all use) cancels every pending task silently when it closes,
and waits forever for a task that swallows ``CancelledError``. The hook lets a
:class:`WardenLoop` see those tasks first, and clean them up with a deadline.
"""

from __future__ import annotations

import asyncio
import asyncio.runners
import contextlib
from collections.abc import Callable
from typing import Any

from loopwarden._core import _libraries, _private
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._snapshot import Leftovers, TaskLeft
from loopwarden._core._tasks import await_chain, coro_name


class CloseReport(Record):
    """What :func:`close_loop` had to clean up: tasks it cancelled and tasks that resisted."""

    cancelled: list[TaskLeft]
    resisted: list[TaskLeft]
    _fields = ("cancelled", "resisted")

    def __init__(
        self, cancelled: list[TaskLeft] | None = None, resisted: list[TaskLeft] | None = None
    ) -> None:
        self.cancelled = [] if cancelled is None else cancelled
        self.resisted = [] if resisted is None else resisted


def _describe(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> TaskLeft:
    registry = getattr(loop, "registry", None)
    origin = registry.origin_of(task) if registry is not None else None
    return TaskLeft(task, task.get_name(), coro_name(task), origin, await_chain(task))


def cancel_tasks(
    loop: asyncio.AbstractEventLoop,
    tasks: list[asyncio.Task[Any]],
    timeout: float,
    *,
    force: bool = False,
) -> CloseReport:
    """Cancel ``tasks`` and run the loop until they finish or ``timeout`` real seconds pass.

    A task that swallows ``CancelledError`` is reported in ``resisted``; with ``force`` its
    coroutine is then closed (``GeneratorExit`` at its ``await``) and the task cancelled again,
    which ends it, so that nothing waits on it forever.
    """
    report = CloseReport()
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return report
    report.cancelled = [_describe(loop, t) for t in pending]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
    resisting = [t for t in pending if not t.done()]
    report.resisted = [_describe(loop, t) for t in resisting]
    if force and resisting:
        _force_end(loop, resisting, timeout)
    return report


def _force_end(
    loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], timeout: float
) -> None:
    for task in tasks:
        coro: Any = task.get_coro()
        # RuntimeError: "coroutine ignored GeneratorExit" — the cancel below still ends the task.
        with contextlib.suppress(RuntimeError):
            coro.close()
        task.cancel()
    loop.run_until_complete(asyncio.wait(tasks, timeout=timeout))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # its "cannot reuse already awaited coroutine" is ours, not a finding


def clean_up(loop: asyncio.AbstractEventLoop, left: Leftovers, timeout: float) -> CloseReport:
    """End everything in ``left``: cancel tasks (forcing resisters), timers and executor work;
    close sessions, servers, connections and subprocess transports. Threads cannot be stopped from
    outside and are left alone."""
    for resource in left.resources:
        if resource.kind == "session":  # first: closing one closes what its connector holds
            _close_session(loop, resource.obj)
    _end_timers_and_resources(loop, left)
    report = cancel_tasks(loop, [t.task for t in left.tasks], timeout, force=True)
    if any(r.kind == "server" for r in left.resources):
        loop.run_until_complete(asyncio.sleep(0))  # let closed servers detach their sockets
    return report


def _end_timers_and_resources(loop: asyncio.AbstractEventLoop, left: Leftovers) -> None:
    for timer in left.timers:
        timer.handle.cancel()
    for resource in left.resources:
        obj: Any = resource.obj
        if resource.kind == "executor":
            obj.cancel()
            if isinstance(loop, WardenLoop):
                # Its thread cannot be stopped: do not let the loop's shutdown wait for it.
                loop.abandon_default_executor()
        elif resource.kind in ("connection", "transport", "subprocess", "server"):
            obj.close()


async def aclean_up(loop: asyncio.AbstractEventLoop, left: Leftovers, within: float) -> CloseReport:
    """:func:`clean_up` from a coroutine on the running ``loop`` (which it cannot run itself)."""
    for resource in left.resources:
        if resource.kind == "session":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_libraries.close(resource.obj), within)
    _end_timers_and_resources(loop, left)
    report = CloseReport()
    pending = [t.task for t in left.tasks if not t.task.done()]
    if pending:
        report.cancelled = [_describe(loop, t) for t in pending]
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=within)
        resisting = [t for t in pending if not t.done()]
        report.resisted = [_describe(loop, t) for t in resisting]
        for task in resisting:
            coro: Any = task.get_coro()
            with contextlib.suppress(RuntimeError):
                coro.close()
            task.cancel()
        if resisting:
            await asyncio.wait(resisting, timeout=within)
            for task in resisting:
                if task.done() and not task.cancelled():
                    task.exception()
    await asyncio.sleep(0)  # let closed servers and transports detach their sockets
    return report


def _close_session(loop: asyncio.AbstractEventLoop, session: Any) -> None:
    # (A session that fails to close is left to the garbage collector: aiohttp then reports it.)
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.wait_for(_libraries.close(session), _SESSION_CLOSE_TIMEOUT))


_SESSION_CLOSE_TIMEOUT = 5.0

RunnerCloseHook = Callable[[WardenLoop], None]


def hook_runner_close() -> Callable[[], None]:
    """Make ``asyncio.Runner.close`` call ``loop.on_runner_close`` first on a WardenLoop.

    Returns the undo (a session's cleanup calls it). Nested calls (a pytest session run inside
    another) leave the hook to the first, whose undo removes it. A Python whose
    ``asyncio.runners`` has no ``_cancel_all_tasks`` is left alone: runners then cancel leftovers
    unseen, as before.
    """
    if getattr(_private.runner_cancel(), "_loopwarden", False):
        return _nothing_to_undo

    def wrap(
        original: Callable[[asyncio.AbstractEventLoop], None],
    ) -> Callable[[asyncio.AbstractEventLoop], None]:
        def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
            hook = getattr(loop, "on_runner_close", None)
            if hook is not None:
                hook(loop)
            original(loop)

        _cancel_all_tasks._loopwarden = True  # type: ignore[attr-defined]
        return _cancel_all_tasks

    return _private.wrap_runner_cancel(wrap) or _nothing_to_undo


def _nothing_to_undo() -> None:
    pass


def close_loop(loop: asyncio.AbstractEventLoop, timeout: float = 5.0) -> CloseReport:
    """Cancel what is left, finalise async generators and the default executor, close the loop.

    A loopwarden loop is put back in real time and FIFO order first: the deadline for what
    resists cancellation is real seconds, whichever plugin switches the test's clock back later.
    """
    report = CloseReport()
    if loop.is_closed():
        return report
    set_virtual_time = getattr(loop, "set_virtual_time", None)
    if set_virtual_time is not None and getattr(loop, "virtual_time", False):
        set_virtual_time(False)
    set_scheduler = getattr(loop, "set_scheduler", None)
    if set_scheduler is not None:
        set_scheduler(None)
    try:
        report = cancel_tasks(loop, list(asyncio.all_tasks(loop)), timeout, force=True)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    return report
