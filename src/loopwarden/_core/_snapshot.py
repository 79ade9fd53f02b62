"""What an owner left behind on a loop, as records: :func:`leftovers` and :func:`adopt`.

:func:`leftovers` collects everything a given *owner* created on a :class:`WardenLoop` that is
still alive — pending tasks, live timers, unfinished executor work, open servers, connections and
subprocess transports. Attribution is by creation owner, so nothing needs to be recorded before
the owner starts. What has no owner (threads, transports a loop made itself) the leak engine
(``_leaks.py``) diffs against a mark taken when the owner started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable
from typing import Any

from loopwarden._core import _libraries, _private
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._registry import TaskOrigin
from loopwarden._core._sites import Site
from loopwarden._core._tasks import await_chain, awaited_path, awaiters, coro_name
from loopwarden._core._threads import started_at


class TaskLeft(Record):
    """A task still pending: its name, coroutine, creation record, where it is parked and who
    awaits it (``task 'fetch' running fetch_all()``, then who awaits that one…)."""

    task: asyncio.Task[Any]
    name: str
    coro: str
    origin: TaskOrigin | None
    parked_at: tuple[Site, ...]
    awaited_by: tuple[str, ...]
    __slots__ = ("awaited_by", "coro", "name", "origin", "parked_at", "task")
    _fields = ("task", "name", "coro", "origin", "parked_at", "awaited_by")

    def __init__(
        self,
        task: asyncio.Task[Any],
        name: str,
        coro: str,
        origin: TaskOrigin | None,
        parked_at: tuple[Site, ...],
        awaited_by: tuple[str, ...] = (),
    ) -> None:
        self.task = task
        self.name = name
        self.coro = coro
        self.origin = origin
        self.parked_at = parked_at
        self.awaited_by = awaited_by


class TimerLeft(Record):
    """A ``call_later``/``call_at`` handle neither run nor cancelled."""

    handle: asyncio.TimerHandle
    callback: str
    when: float
    origin: TaskOrigin | None
    __slots__ = ("callback", "handle", "origin", "when")
    _fields = ("handle", "callback", "when", "origin")

    def __init__(
        self, handle: asyncio.TimerHandle, callback: str, when: float, origin: TaskOrigin | None
    ) -> None:
        self.handle = handle
        self.callback = callback
        self.when = when
        self.origin = origin


class ResourceLeft(Record):
    """An open server, connection or subprocess transport, or unfinished executor work."""

    kind: str
    obj: object
    description: str
    origin: TaskOrigin | None
    __slots__ = ("description", "kind", "obj", "origin")
    _fields = ("kind", "obj", "description", "origin")

    def __init__(self, kind: str, obj: object, description: str, origin: TaskOrigin | None) -> None:
        self.kind = kind
        self.obj = obj
        self.description = description
        self.origin = origin


class ThreadLeft(Record):
    """A thread started after the snapshot and still alive."""

    thread: threading.Thread
    name: str
    target: str
    #: Where it was started (see :func:`loopwarden._core._threads.record_thread_starts`).
    origin: TaskOrigin | None
    __slots__ = ("name", "origin", "target", "thread")
    _fields = ("thread", "name", "target", "origin")

    def __init__(
        self, thread: threading.Thread, name: str, target: str, origin: TaskOrigin | None = None
    ) -> None:
        self.thread = thread
        self.name = name
        self.target = target
        self.origin = origin

    @classmethod
    def of(cls, thread: threading.Thread) -> ThreadLeft:
        target = _private.thread_target(thread)
        site, user_site = started_at(thread)
        return cls(
            thread,
            thread.name,
            getattr(target, "__qualname__", None) or type(thread).__qualname__,
            TaskOrigin(site, None, user_site) if site is not None else None,
        )


class Leftovers(Record):
    """Everything an owner left alive on a loop (plus ownerless new threads/transports)."""

    tasks: list[TaskLeft]
    timers: list[TimerLeft]
    resources: list[ResourceLeft]
    threads: list[ThreadLeft]
    __slots__ = ("resources", "tasks", "threads", "timers")
    _fields = ("tasks", "timers", "resources", "threads")

    def __init__(
        self,
        tasks: list[TaskLeft] | None = None,
        timers: list[TimerLeft] | None = None,
        resources: list[ResourceLeft] | None = None,
        threads: list[ThreadLeft] | None = None,
    ) -> None:
        self.tasks = [] if tasks is None else tasks
        self.timers = [] if timers is None else timers
        self.resources = [] if resources is None else resources
        self.threads = [] if threads is None else threads

    def __bool__(self) -> bool:
        return bool(self.tasks or self.timers or self.resources or self.threads)

    def count(self) -> int:
        return len(self.tasks) + len(self.timers) + len(self.resources) + len(self.threads)


def _callback_name(handle: asyncio.Handle) -> str:
    callback = _private.callback_of(handle)
    if callback is None:
        return repr(handle)
    return getattr(callback, "__qualname__", None) or repr(callback)


def leftovers(loop: WardenLoop, owner: Hashable) -> Leftovers:
    """Everything ``owner`` created on ``loop`` that is still alive.

    Args:
        loop: the loop to inspect.
        owner: the owner token the things were created under (see :meth:`WardenLoop.set_owner`).
    """
    registry = loop.registry
    left = Leftovers()
    every = asyncio.all_tasks(loop)
    index: dict[asyncio.Future[Any], list[Any]] | None = None
    for task in every:
        origin = registry.origin_of(task)
        if origin is None or origin.owner != owner:
            continue
        if index is None:
            index = awaiters(every)
        above = tuple(
            f"task {a.get_name()!r} running {coro_name(a)}()"
            for a in awaited_path(task, index)
            if isinstance(a, asyncio.Task)
        )
        left.tasks.append(
            TaskLeft(task, task.get_name(), coro_name(task), origin, await_chain(task), above)
        )
    for handle in list(_private.timers(loop)):
        if handle.cancelled():
            continue
        origin = registry.origin_of(handle)
        if origin is None or origin.owner != owner:
            continue
        # A sleeping task's wake-up timer belongs to that task; report the task, not the timer.
        callback = _private.callback_of(handle)
        if getattr(callback, "__name__", "") in _private.WAKE_UP_CALLBACKS:
            continue
        left.timers.append(TimerLeft(handle, _callback_name(handle), handle.when(), origin))
    # Emptiness first: iterating a weak dictionary, even an empty one, is not free, and this runs
    # for every test.
    for server, origin in list(loop._lw_servers.items()) if loop._lw_servers else ():
        if origin.owner == owner and server.is_serving():
            sockets = ", ".join(str(s.getsockname()) for s in server.sockets)
            left.resources.append(ResourceLeft("server", server, f"server on {sockets}", origin))
    for kind, table in (
        ("connection", loop._lw_connections),
        ("subprocess", loop._lw_subprocesses),
    ):
        for transport, origin in list(table.items()) if table else ():
            if origin.owner == owner and not transport.is_closing():
                left.resources.append(ResourceLeft(kind, transport, repr(transport), origin))
    for future, origin in list(loop._lw_executor_work.items()) if loop._lw_executor_work else ():
        if origin.owner == owner and not future.done():
            left.resources.append(ResourceLeft("executor", future, repr(future), origin))
    for session, origin in list(loop._lw_sessions.items()) if loop._lw_sessions else ():
        if origin.owner == owner and _libraries.is_open(session):
            left.resources.append(
                ResourceLeft("session", session, _libraries.describe(session), origin)
            )
    return left


def open_sessions(loop: WardenLoop) -> bool:
    """Whether a recorded library session on ``loop`` is still open."""
    sessions = loop._lw_sessions
    return bool(sessions) and any(_libraries.is_open(s) for s in list(sessions))


def adopt(loop: WardenLoop, obj: object, owner: Hashable) -> None:
    """Attribute ``obj`` (a task, timer handle, server, transport or executor future) to
    ``owner`` from now on — e.g. a pooled connection that a session fixture's client keeps."""
    registry = loop.registry
    tables: list[Any] = [
        registry._tasks,
        registry._timers,
        *loop.lw_resources(),
        loop._lw_sessions,
    ]
    for table in tables:
        try:
            origin = table.get(obj)
        except TypeError:  # not weak-referenceable: recorded nowhere
            return
        if origin is not None:
            table[obj] = origin.replace(owner=owner)
            registry.touched.add(owner)
            return
    if isinstance(obj, asyncio.BaseTransport):
        loop._lw_table("_lw_connections")[obj] = TaskOrigin(None, owner)
        registry.touched.add(owner)
