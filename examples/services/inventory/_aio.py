"""Task helpers shared by the services."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task[object]) -> None:
    """Cancel ``task`` and wait until it has really finished.

    The task's own ``CancelledError`` is swallowed; ours is not: if the caller is cancelled while
    it waits, the cancellation propagates (``cancelling()`` tells the two apart).
    """
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
