"""Reading tasks: where a task is parked, and what it is waiting on.

The one await-chain walker: :func:`chain_frames` follows the ``cr_await`` chain of a task's
coroutine (through coroutines, async generators and generator-based awaitables) down to the
innermost suspended frame; :func:`describe_wait` names what the task is blocked on. The hang
report, the leak report and the virtual clock's idle report all read tasks through this module
(:func:`dump_tasks`, :class:`HungTask`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable
from types import AsyncGeneratorType, CoroutineType, FrameType
from typing import Any

from loopwarden._core import _private
from loopwarden._core._records import Record
from loopwarden._core._registry import TaskOrigin
from loopwarden._core._sites import _ASYNCIO_DIR, Site, _is_library, _is_machinery, shown


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


def chain_frames(task: asyncio.Future[Any]) -> list[FrameType]:
    """The frames a task is suspended in, outermost (the task's coroutine) to innermost.

    Empty for a task that is done, has not started, or is not a Task.
    """
    get_coro = getattr(task, "get_coro", None)
    if get_coro is None or task.done():
        return []
    current: Any = get_coro()
    frames: list[FrameType] = []
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frame, current = _frame_and_next(current)
        if frame is None:
            break
        frames.append(frame)
    return frames


def await_chain(task: asyncio.Future[Any]) -> tuple[Site, ...]:
    """:func:`chain_frames` as sites (file, line, function)."""
    return tuple(
        Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        for frame in chain_frames(task)
    )


#: Python 3.14 records who awaits a future (``await task``, TaskGroup, gather, shield, wait,
#: wait_for) and reads it back with ``asyncio.capture_call_graph``; before, it is derived.
_CALL_GRAPH = getattr(asyncio, "capture_call_graph", None)


def awaiters(tasks: Iterable[asyncio.Future[Any]]) -> dict[asyncio.Future[Any], list[Any]]:
    """For each of ``tasks`` that something awaits now, the tasks that await it.

    Python 3.14+ knows every await edge (``asyncio.capture_call_graph``). On 3.11-3.13 what can be
    derived is found: a task awaiting the task itself, an ``asyncio.gather()`` of it, or a
    ``TaskGroup`` it belongs to, among ``tasks``.
    """
    tasks = list(tasks)
    found: dict[asyncio.Future[Any], list[Any]] = {}
    if _CALL_GRAPH is not None:
        for task in tasks:
            graph = _CALL_GRAPH(task, limit=0)
            if graph is not None and graph.awaited_by:
                found[task] = [node.future for node in graph.awaited_by]
        return found
    for awaiter in tasks:
        for awaited in _awaited(awaiter):
            found.setdefault(awaited, []).append(awaiter)
    return found


def _awaited(task: asyncio.Future[Any]) -> list[asyncio.Future[Any]]:
    """What ``task`` awaits directly: a future, what a gather() gathers, a TaskGroup's tasks."""
    waiter = _private.waiter(task)
    if waiter is None:
        return []
    children = _private.gather_children(waiter)
    if children is not None:
        return list(children)
    if isinstance(waiter, asyncio.Task):
        return [waiter]
    for frame in chain_frames(task):
        group = frame.f_locals.get("self") if frame.f_code.co_name in _GROUP_EXITS else None
        if isinstance(group, asyncio.TaskGroup):
            return list(_private.taskgroup_tasks(group))
    return []


_GROUP_EXITS = frozenset({"__aexit__", "_aexit"})


def awaited_path(
    task: asyncio.Future[Any], index: dict[asyncio.Future[Any], list[Any]], limit: int = 5
) -> list[Any]:
    """Who awaits ``task``, who awaits that one, and so on (the first awaiter of each), up to
    ``limit`` steps."""
    path: list[Any] = []
    current = task
    while len(path) < limit:
        above = index.get(current)
        if not above or above[0] in path or above[0] is task:
            break
        current = above[0]
        path.append(current)
    return path


def blocked_on(task: asyncio.Future[Any]) -> object | None:
    """The future (or task) a task is currently waiting for, if any."""
    return _private.waiter(task)


def coro_name(task: asyncio.Future[Any]) -> str:
    """The qualified name of a task's coroutine, e.g. ``Bus.cleanup_loop``."""
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if get_coro is not None else None
    if coro is None:
        return repr(task)
    if isinstance(coro, CoroutineType):
        return coro.cr_code.co_qualname
    return getattr(coro, "__qualname__", type(coro).__qualname__)


def describe_wait(task: asyncio.Future[Any]) -> str:
    """What a suspended task waits for, e.g. ``awaiting Future pending (Event.wait)``.

    A future created inside asyncio or a library is named by the function that awaits it
    (``Event.wait``, ``Queue.get``, ``Lock.acquire``, ``asyncio.sleep(10)``), with the state of
    the queue, lock or semaphore when that explains the wait.
    """
    waiter = blocked_on(task)
    if waiter is None:
        return "ready to run"
    if isinstance(waiter, asyncio.Task):
        return f"awaiting Task {waiter.get_name()!r} ({coro_name(waiter)})"
    children = _private.gather_children(waiter)
    if children is not None:  # asyncio.gather's future
        pending = sum(1 for child in children if not child.done())
        return f"awaiting gather ({pending} of {len(children)} pending)"
    state = "done" if isinstance(waiter, asyncio.Future) and waiter.done() else "pending"
    where = _waiting_in(chain_frames(task))
    return f"awaiting Future {state} ({where})" if where else f"awaiting Future {state}"


_LOCK_STATES = {
    "Queue.get": ("empty", "the queue is empty"),
    "Queue.put": ("full", "the queue is full"),
    "Lock.acquire": ("locked", "the lock is held"),
    "Semaphore.acquire": ("locked", "no slot is free"),
    "BoundedSemaphore.acquire": ("locked", "no slot is free"),
}


def _waiting_in(frames: list[FrameType]) -> str | None:
    """The function awaiting a future, when it is asyncio's or a library's, with its state.

    That is the innermost public function (``Event.wait``, not a ``_wait`` helper) of the
    library frames at the end of the chain.
    """
    library: list[FrameType] = []
    for frame in reversed(frames):
        if not _is_library(frame.f_code.co_filename):
            break
        library.append(frame)
    if not library:
        return None  # the user's own code awaits a bare future: its line says it all
    frame = next((f for f in library if not f.f_code.co_name.startswith("_")), library[0])
    name = frame.f_code.co_qualname
    if "." not in name and frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
        if name == "sleep":
            return f"asyncio.sleep({frame.f_locals.get('delay')!r})"
        return f"asyncio.{name}"
    check = _LOCK_STATES.get(name)
    owner = frame.f_locals.get("self")
    if check is not None and owner is not None:
        method, text = check
        try:
            if getattr(owner, method)():
                return f"{name}; {text}"
        except Exception:  # a subclass with another signature: the name is enough
            pass
    return name


def idle_driver(task: asyncio.Future[Any]) -> bool:
    """A loopwarden driver task waiting for its next step: machinery, not part of any hang."""
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    if getattr(coro, "__qualname__", "") != "Driver._serve":
        return False
    frame = getattr(coro, "cr_frame", None)
    driver = frame.f_locals.get("self") if frame is not None else None
    return driver is not None and not getattr(driver, "busy", False)


class HungTask(Record):
    """A task pending when a phase timed out.

    Attributes:
        task: the task itself (``on_hang`` may cancel it).
        name: its name.
        coro: the qualified name of its coroutine, e.g. ``Worker.run``.
        origin: where and by which owner it was created (None if the loop did not record it).
        chain: the frames it is suspended in, outermost (its coroutine) to innermost.
        waiting_on: what it waits for, e.g. ``awaiting Future pending (Event.wait)``,
            ``awaiting Task 'worker' (Worker.run)``, ``ready to run`` or ``running``.
        is_test: it runs the armed phase (see ``test_task`` in :meth:`Watchdog.arm`).
        running: it was the loop's current task (only seen when the loop did not answer).
        awaited_by: who awaits it, then who awaits that one…: ``Task 'fetch' (fetch)``, or
            ``the test`` (empty when nothing awaits it, or it cannot be told: see
            :func:`awaiters`).
    """

    task: asyncio.Future[Any]
    name: str
    coro: str
    origin: TaskOrigin | None
    chain: tuple[Site, ...]
    waiting_on: str
    is_test: bool
    running: bool
    awaited_by: tuple[str, ...]
    __slots__ = (
        "awaited_by",
        "chain",
        "coro",
        "is_test",
        "name",
        "origin",
        "running",
        "task",
        "waiting_on",
    )
    _fields = (
        "task",
        "name",
        "coro",
        "origin",
        "chain",
        "waiting_on",
        "is_test",
        "running",
        "awaited_by",
    )

    def __init__(
        self,
        task: asyncio.Future[Any],
        name: str,
        coro: str,
        origin: TaskOrigin | None,
        chain: tuple[Site, ...],
        waiting_on: str,
        is_test: bool = False,
        running: bool = False,
        awaited_by: tuple[str, ...] = (),
    ) -> None:
        self.task = task
        self.name = name
        self.coro = coro
        self.origin = origin
        self.chain = chain
        self.waiting_on = waiting_on
        self.is_test = is_test
        self.running = running
        self.awaited_by = awaited_by

    def headline(self, root: str | None = None) -> str:
        """``Task 'name' (coro)`` plus ``— the test`` or where it was created."""
        text = f"Task {self.name!r} ({self.coro})"
        if self.is_test:
            text += " — the test"
        elif self.origin is not None and self.origin.site is not None:
            text += f" created at {_rel(self.origin.site, root)}"
            if self.origin.user_site is not None:
                text += f" (from {_rel(self.origin.user_site, root)})"
        return text

    def lines(self, root: str | None = None) -> list[str]:
        """The headline, then the await chain without asyncio's and loopwarden's frames, nor the
        test runner's that lead to the user's first (pytest-asyncio's fixture finalizer)."""
        frames = [s for s in self.chain if not _is_machinery(s.filename)] or list(self.chain)
        first_user = next((i for i, s in enumerate(frames) if not _is_library(s.filename)), 0)
        out = [self.headline(root)]
        out.extend(f"  {_rel(site, root)}" for site in frames[first_user:])
        if out[1:]:
            out[-1] += f"   ← {self.waiting_on}"
        else:
            out.append(f"  ← {self.waiting_on}")
        if self.awaited_by:
            out.append(f"  awaited by {' ← '.join(self.awaited_by)}")
        return out


def dump_tasks(
    loop: asyncio.AbstractEventLoop, is_test: Callable[[asyncio.Future[Any]], bool] | None
) -> tuple[HungTask, ...]:
    """Every pending task of ``loop``, the test's first; call it in the loop thread."""
    current = asyncio.current_task(loop)
    tasks = [task for task in asyncio.all_tasks(loop) if not idle_driver(task)]
    index = awaiters(tasks)
    dumps = [
        dump_task(loop, task, is_test, running=task is current, awaited_by=index) for task in tasks
    ]
    dumps.sort(key=lambda d: (not d.is_test, d.name))
    return tuple(dumps)


def _label(task: Any, is_test: Callable[[asyncio.Future[Any]], bool] | None) -> str:
    if is_test is not None and is_test(task):
        return "the test"
    if isinstance(task, asyncio.Task):
        return f"Task {task.get_name()!r} ({coro_name(task)})"
    return type(task).__name__


def dump_task(
    loop: asyncio.AbstractEventLoop,
    task: asyncio.Future[Any],
    is_test: Callable[[asyncio.Future[Any]], bool] | None,
    *,
    running: bool,
    awaited_by: dict[asyncio.Future[Any], list[Any]] | None = None,
) -> HungTask:
    registry = getattr(loop, "registry", None)
    origin = registry.origin_of(task) if registry is not None else None
    name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
    return HungTask(
        task=task,
        name=name,
        coro=coro_name(task),
        origin=origin,
        chain=await_chain(task),
        waiting_on="running" if running else describe_wait(task),
        is_test=bool(is_test is not None and is_test(task)),
        running=running,
        awaited_by=_awaited_by(task, awaited_by or {}, is_test),
    )


def _awaited_by(
    task: asyncio.Future[Any],
    index: dict[asyncio.Future[Any], list[Any]],
    is_test: Callable[[asyncio.Future[Any]], bool] | None,
) -> tuple[str, ...]:
    path = awaited_path(task, index)
    if len(path) == 1 and _private.waiter(path[0]) is task:
        return ()  # its awaiter's own line says "awaiting Task '…'" already
    return tuple(_label(above, is_test) for above in path)


def _rel(site: Site | None, root: str | None) -> str:
    return "<unknown>" if site is None else shown(site, root)
