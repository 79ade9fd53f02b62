"""Creating and closing instrumented loops the way ``asyncio.Runner`` does, with a deadline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from loopwarden._core._snapshot import TaskLeft
from loopwarden._core._tasks import await_chain, coro_name


@dataclass
class CloseReport:
    """What :func:`close_loop` had to clean up: tasks it cancelled and tasks that resisted."""

    cancelled: list[TaskLeft] = field(default_factory=list)
    resisted: list[TaskLeft] = field(default_factory=list)


def _describe(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> TaskLeft:
    registry = getattr(loop, "registry", None)
    origin = registry.origin_of(task) if registry is not None else None
    return TaskLeft(task, task.get_name(), coro_name(task), origin, await_chain(task))


def cancel_tasks(
    loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]], timeout: float
) -> CloseReport:
    """Cancel ``tasks`` and run the loop until they finish or ``timeout`` real seconds pass.

    A task that swallows ``CancelledError`` is reported in ``resisted`` and left pending instead of
    being waited on forever.
    """
    report = CloseReport()
    pending = [t for t in tasks if not t.done()]
    if not pending:
        return report
    report.cancelled = [_describe(loop, t) for t in pending]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=timeout))
    report.resisted = [_describe(loop, t) for t in pending if not t.done()]
    return report


def close_loop(loop: asyncio.AbstractEventLoop, timeout: float = 5.0) -> CloseReport:
    """Cancel what is left, finalise async generators and the default executor, close the loop."""
    report = CloseReport()
    if loop.is_closed():
        return report
    try:
        report = cancel_tasks(loop, list(asyncio.all_tasks(loop)), timeout)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    return report
