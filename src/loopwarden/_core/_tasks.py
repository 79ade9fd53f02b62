"""Reading tasks: where a task is parked, and what it is waiting on.

Walks the ``cr_await`` chain of a task's coroutine (through coroutines, async generators and
generator-based awaitables) down to the innermost suspended frame, and the task's
``_fut_waiter`` for the object it is blocked on.
"""

from __future__ import annotations

import asyncio
import gc
from types import AsyncGeneratorType, CoroutineType
from typing import Any

from loopwarden._core._sites import Site


def _frame_and_next(awaitable: Any) -> tuple[Any, Any]:
    """The frame an awaitable is suspended in and what it awaits in turn (None, None if neither).

    ``async for``/``anext()``/``aclose()`` await not the async generator but a small object
    that drives it (``async_generator_asend``, ``…_athrow``, ``anext_awaitable``), which has no
    frame and does not say which generator it drives: it is stepped through to the generator.
    """
    for _ in range(3):  # (anext_awaitable → async_generator_asend → the generator)
        for frame_attr, await_attr in _FRAMES:
            if hasattr(awaitable, frame_attr):
                return getattr(awaitable, frame_attr), getattr(awaitable, await_attr, None)
        if type(awaitable).__name__ not in _DRIVERS:
            break
        awaitable = _driven(awaitable)
    return None, None


_FRAMES = (("cr_frame", "cr_await"), ("ag_frame", "ag_await"), ("gi_frame", "gi_yieldfrom"))
# The objects that drive an async generator (or another awaitable) for ``async for``, anext()
# and aclose(), by their (C) type names.
_DRIVERS = frozenset({"async_generator_asend", "async_generator_athrow", "anext_awaitable"})


def _driven(driver: object) -> object | None:
    """What a driver object steps: the async generator, or the awaitable ``anext()`` wraps."""
    found = None
    for referent in gc.get_referents(driver):
        if isinstance(referent, AsyncGeneratorType):
            return referent
        if found is None and (type(referent).__name__ in _DRIVERS or hasattr(referent, "cr_frame")):
            found = referent
    return found


def await_chain(task: asyncio.Future[Any]) -> tuple[Site, ...]:
    """The frames a task is suspended in, outermost (the task's coroutine) to innermost.

    Returns an empty tuple for a task that is done, has not started, or is not a Task.
    """
    get_coro = getattr(task, "get_coro", None)
    if get_coro is None or task.done():
        return ()
    current: Any = get_coro()
    chain: list[Site] = []
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frame, nxt = _frame_and_next(current)
        if frame is None:
            break
        chain.append(Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        current = nxt
    return tuple(chain)


def blocked_on(task: asyncio.Future[Any]) -> object | None:
    """The future (or task) a task is currently waiting for, if any."""
    waiter = getattr(task, "_fut_waiter", None)
    return waiter


def coro_name(task: asyncio.Future[Any]) -> str:
    """The qualified name of a task's coroutine, e.g. ``Bus.cleanup_loop``."""
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if get_coro is not None else None
    if coro is None:
        return repr(task)
    if isinstance(coro, CoroutineType):
        return coro.cr_code.co_qualname
    return getattr(coro, "__qualname__", type(coro).__qualname__)
