"""The task registry: for every task, where it was created and which owner (a test) created it.

The registry is always on, so its per-task cost is kept to one frame walk and one weak-keyed
dictionary entry. It also records timer scheduling sites and exception-handler contexts, all
attributed to the owner that was current when the thing was *created* — a "Task exception was
never retrieved" that surfaces during a later test through garbage collection still belongs to
the test that created the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Any

from loopwarden._core import _private
from loopwarden._core._records import Record
from loopwarden._core._sites import (
    Site,
    creation_sites,
    creation_stack,
    in_library,
    running_callback_args,
)


class TaskOrigin(Record):
    """How a task, timer or resource came to be.

    Attributes:
        site: the first frame outside asyncio and loopwarden that created it.
        owner: the owner (test) current at creation.
        user_site: when ``site`` is inside a library, the first frame of the user's code that led
            there (None otherwise).
        stack: the full creation stack, outermost first, when stacks are captured.
    """

    site: Site | None
    owner: Hashable | None
    user_site: Site | None
    stack: tuple[Site, ...]
    __slots__ = ("owner", "site", "stack", "user_site")
    _fields = ("site", "owner", "user_site", "stack")

    def __init__(
        self,
        site: Site | None,
        owner: Hashable | None,
        user_site: Site | None = None,
        stack: tuple[Site, ...] = (),
    ) -> None:
        self.site = site
        self.owner = owner
        self.user_site = user_site
        self.stack = stack

    def describe(self) -> str:
        """``path:line in func`` plus ``(from path:line in func)`` when created inside a library."""
        if self.site is None:
            return "<unknown site>"
        if self.user_site is None:
            return str(self.site)
        return f"{self.site} (from {self.user_site})"


class CapturedContext(Record):
    """A context passed to the loop's exception handler, with the owner it is attributed to.

    ``owner`` is the owner that created the task or future named in the context when there is one
    (so a late report still lands on the test that caused it), else the owner current when the
    handler was called.
    """

    context: dict[str, Any]
    owner: Hashable | None
    origin: TaskOrigin | None
    __slots__ = ("context", "origin", "owner")
    _fields = ("context", "owner", "origin")

    def __init__(
        self, context: dict[str, Any], owner: Hashable | None, origin: TaskOrigin | None = None
    ) -> None:
        self.context = context
        self.owner = owner
        self.origin = origin

    @property
    def message(self) -> str:
        return str(self.context.get("message", ""))

    @property
    def exception(self) -> BaseException | None:
        exc = self.context.get("exception")
        return exc if isinstance(exc, BaseException) else None


# Whether new registries record full creation stacks (``--lw-leaks-stacks``).
_CAPTURE_STACKS = [False]


def set_capture_stacks(enabled: bool) -> None:
    """Make registries created from now on record each task's full creation stack (costly)."""
    _CAPTURE_STACKS[0] = enabled


# The record of every task loopwarden itself runs (shared: records are never changed in place).
_UNOWNED = TaskOrigin(None, None)
# The stand-in for a weak table until its first entry: empty and read-only, shared by every loop
# (most loops pytest-asyncio makes, one per test, never record a timer or a library object).
NO_ENTRIES: Mapping[Any, Any] = MappingProxyType({})


#: Where what the loop's machinery makes in this context came from, when no running task says: a
#: server's creation, set while it accepts a connection. A context variable, so that it reaches
#: what the accepting task schedules in turn (the protocol's ``connection_made`` callback, and
#: the handler task that makes).
SITE_HINT: contextvars.ContextVar[TaskOrigin | None] = contextvars.ContextVar(
    "loopwarden_site_hint", default=None
)


#: The owner of what the cyclic garbage collector finds dead with no creation record left: no
#: test made it that loopwarden can name, so it is reported late, never charged to the test that
#: happens to be running when the collector runs.
FOUND_BY_GC = "found by the garbage collector"

#: The owner of what a loop's exception handler is given after the loop closed, when it names
#: nothing with a creation record: whoever owned the loop when it closed is no evidence (a
#: module's or session's loop keeps its last test as owner), so no test is named.
AFTER_CLOSE = "reported after its loop closed"

# Whether the cyclic garbage collector is collecting now (see tap_collections), and the records
# of what it is collecting: it clears weak references before it runs finalizers, so by the time
# a dead task's finalizer reports "exception was never retrieved", its entry in a weak table is
# gone. The tables below keep it here, by the dead key's hash (the object's id-based hash, which
# a dead weak reference keeps), until the collection ends.
# The thread the collector runs in (0: none). Finalizers run Python code and let other threads
# run meanwhile: only the collecting thread's reports come from the collection.
_COLLECTING = [0]
_DYING: dict[int, TaskOrigin] = {}
_TAPS = [0]


def _on_collection(phase: str, info: Mapping[str, int]) -> None:
    if phase == "start":
        _COLLECTING[0] = threading.get_ident()
    else:
        _COLLECTING[0] = 0
        _DYING.clear()


def collecting() -> bool:
    """Whether the cyclic garbage collector runs now, in this thread (known while
    :func:`tap_collections` is on)."""
    return _COLLECTING[0] != 0 and _COLLECTING[0] == threading.get_ident()


def tap_collections() -> Callable[[], None]:
    """Follow the cyclic garbage collector's collections; returns the undo (taps nest)."""
    _TAPS[0] += 1
    if _TAPS[0] == 1:
        gc.callbacks.append(_on_collection)

    def undo() -> None:
        _TAPS[0] -= 1
        if _TAPS[0] == 0:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(_on_collection)
            _COLLECTING[0] = 0
            _DYING.clear()

    return undo


class _OriginTable(weakref.WeakKeyDictionary):  # type: ignore[type-arg]
    """A weak table of creation records that keeps what dies in a collection until it ends."""

    def __init__(self) -> None:
        super().__init__()
        remove = self._remove  # type: ignore[has-type]
        # (The table only weakly: each key's weak reference holds this callback, and a strong
        # reference to the table's data would make table and keys a cycle.)
        table = weakref.ref(self)

        def keep_then_remove(
            key: weakref.ref[Any], remove: Any = remove, table: Any = table
        ) -> None:
            if _COLLECTING[0]:
                owner = table()
                origin = owner.data.get(key) if owner is not None else None
                if origin is not None:
                    with contextlib.suppress(TypeError):
                        _DYING[hash(key)] = origin
            remove(key)

        self._remove = keep_then_remove


def _dying_origin(obj: object) -> TaskOrigin | None:
    if not _DYING:
        return None
    try:
        return _DYING.get(hash(obj))
    except TypeError:
        return None


class Registry(Record):
    """Creation records for tasks and timers on one loop, and the exception contexts it saw.

    Attributes:
        owner: the current owner token (the plugin sets a test's node id); new tasks and timers
            are attributed to it.
        capture_stacks: also record the full creation stack of each task (costly; off by default).
    """

    owner: Hashable | None
    capture_stacks: bool
    _tasks: weakref.WeakKeyDictionary[asyncio.Future[Any], TaskOrigin]
    # NO_ENTRIES until the first entry.
    _timers: Mapping[asyncio.TimerHandle, TaskOrigin]
    _objects: Mapping[object, TaskOrigin]
    contexts: list[CapturedContext]
    #: Owners that created something here (a task, timer, server, connection, executor job…)
    #: since they were last checked: an owner not in it has nothing on this loop to look for.
    touched: set[Hashable]
    #: The creation records of the tasks being made right now, innermost last: an eager task's
    #: first step runs inside ``create_task``, before the task can be recorded.
    _making: list[TaskOrigin]
    __slots__ = (
        "_making",
        "_objects",
        "_tasks",
        "_timers",
        "capture_stacks",
        "contexts",
        "owner",
        "touched",
    )
    _fields = ("owner", "capture_stacks", "_tasks", "_timers", "_objects", "contexts", "touched")

    def __init__(
        self,
        owner: Hashable | None = None,
        capture_stacks: bool | None = None,
        _tasks: weakref.WeakKeyDictionary[asyncio.Future[Any], TaskOrigin] | None = None,
        _timers: Mapping[asyncio.TimerHandle, TaskOrigin] | None = None,
        _objects: Mapping[object, TaskOrigin] | None = None,
        contexts: list[CapturedContext] | None = None,
        touched: set[Hashable] | None = None,
    ) -> None:
        self.owner = owner
        self.capture_stacks = _CAPTURE_STACKS[0] if capture_stacks is None else capture_stacks
        self._tasks = _OriginTable() if _tasks is None else _tasks
        self._timers = NO_ENTRIES if _timers is None else _timers
        self._objects = NO_ENTRIES if _objects is None else _objects
        self.contexts = [] if contexts is None else contexts
        self.touched = set() if touched is None else touched
        self._making = []

    def record_object(self, obj: object, origin: TaskOrigin) -> None:
        """Remember where a library object was made (an aiohttp session), for late reports."""
        objects = self._objects
        if not isinstance(objects, weakref.WeakKeyDictionary):  # NO_ENTRIES until now
            objects = self._objects = _OriginTable()
        with contextlib.suppress(TypeError):  # not weak-referenceable: nothing to name later
            objects[obj] = origin

    def record_task(self, task: asyncio.Future[Any], depth: int = 1) -> TaskOrigin:
        """Record ``task`` as created now, at the caller's first user frame."""
        origin = self.origin_here(depth + 1)
        self._tasks[task] = origin
        return origin

    def make_task(self, make: Callable[[], asyncio.Task[Any]], depth: int = 1) -> asyncio.Task[Any]:
        """Call ``make`` and record the task it returns as created now by the caller.

        The creation record is taken first and stands for the new task while ``make`` runs: an
        eager task (``eager_start=True``, ``asyncio.eager_task_factory``) runs its first step
        inside the call, and what that step creates belongs to the task's creator's owner.
        """
        origin = self.origin_here(depth + 1)
        self._making.append(origin)
        try:
            task = make()
        finally:
            self._making.pop()
        self._tasks[task] = origin
        return task

    def _running_origin(self) -> TaskOrigin | None:
        task = asyncio.current_task() if _private.running_loop() is not None else None
        if task is None:
            return None
        origin = self._tasks.get(task)
        if origin is None and self._making:
            return self._making[-1]  # an eager task's first step, inside create_task
        return origin

    def reown(self, task: asyncio.Future[Any], owner: Hashable) -> Callable[[], None]:
        """Make ``task`` (and what it creates from now on) ``owner``'s; returns the undo."""
        previous = self._tasks.get(task)
        self._tasks[task] = (previous or TaskOrigin(None, None)).replace(owner=owner)

        def undo() -> None:
            if previous is None:
                self._tasks.pop(task, None)
            else:
                self._tasks[task] = previous

        return undo

    def current_owner(self) -> Hashable | None:
        """Who creates things right now: the owner of the running task, else :attr:`owner`.

        A task inherits the owner of the task that created it, so a session fixture's server
        that spawns a handler task while some test runs still owns that handler. Tasks recorded
        with no owner (loopwarden's own driver tasks) defer to :attr:`owner`.
        """
        origin = self._running_origin()
        if origin is not None and origin.owner is not None:
            return origin.owner
        return self.owner

    def origin_here(self, depth: int = 1) -> TaskOrigin:
        """A creation record for something made by the caller's caller, now.

        When no line of the running callback made it (the loop's own machinery did, for a task:
        a server's accept, the inner task of 3.11's ``wait_for``), its site is where the running
        task was made, else :data:`SITE_HINT`'s (a server's creation, for what its accepting makes).
        """
        site, user_site = creation_sites(depth + 1)
        stack = creation_stack(depth + 1) if self.capture_stacks else ()
        running = self._running_origin()
        owner = running.owner if running is not None and running.owner is not None else self.owner
        if site is None or (user_site is None and in_library(site)):
            # No user line on the stack: the loop's machinery made it, or a library's code did
            # (in a task the library runs, in a done callback). The line that led here is where
            # the running task was made, else the task the running callback was given, else the
            # server's (SITE_HINT).
            lead = running if running is not None and running.site is not None else None
            if lead is None and running is None:
                lead = self._callback_lead(depth + 1)
                if lead is not None and lead.owner is not None:
                    owner = lead.owner  # a done callback of a wider fixture's task: its owner
            lead = lead or SITE_HINT.get()
            if lead is not None:
                if site is None:
                    site, user_site = lead.site, lead.user_site
                else:
                    user_site = lead.user_site or lead.site
        self.touched.add(owner)
        return TaskOrigin(site, owner, user_site, stack)

    def _callback_lead(self, depth: int) -> TaskOrigin | None:
        """The origin of a recorded task the running loop callback was given (a done callback)."""
        if _private.running_loop() is None:
            return None  # no loop runs a callback now (a runner making its task from outside)
        for arg in running_callback_args(depth + 1):
            if isinstance(arg, asyncio.Future):
                origin = self._tasks.get(arg)
                if origin is not None and origin.site is not None:
                    return origin
        return None

    def record_unowned(self, task: asyncio.Future[Any]) -> None:
        """Record one of loopwarden's own tasks: what it runs is attributed to :attr:`owner`."""
        self._tasks[task] = _UNOWNED

    def tasks_of(self, owner: Hashable) -> list[asyncio.Future[Any]]:
        """The live tasks (done or not) that ``owner`` created."""
        return [task for task, origin in list(self._tasks.items()) if origin.owner == owner]

    def record_timer(self, handle: asyncio.TimerHandle, depth: int = 1) -> None:
        """Record where a ``call_at``/``call_later`` timer was scheduled."""
        timers = self._timers
        if not isinstance(timers, weakref.WeakKeyDictionary):  # NO_ENTRIES until now
            timers = self._timers = weakref.WeakKeyDictionary()
        timers[handle] = self.origin_here(depth + 1)

    def origin_of(self, obj: object) -> TaskOrigin | None:
        """The creation record of a task or timer handle, or None if it was not seen created."""
        try:
            if isinstance(obj, asyncio.TimerHandle):
                return self._timers.get(obj)
            if isinstance(obj, asyncio.Future):
                return self._tasks.get(obj)
            return self._objects.get(obj)
        except TypeError:  # not weak-referenceable
            return None

    def capture(self, context: dict[str, Any]) -> CapturedContext:
        """Keep an exception-handler context, attributed by creation owner when it names a task."""
        origin = None
        # aiohttp names the unclosed session or connector in its report.
        for key in ("task", "future", "client_session", "connector"):
            obj = context.get(key)
            if obj is not None:
                origin = self.origin_of(obj)
                if origin is not None:
                    break
        if origin is None and collecting():
            # The collector found it dead in a reference cycle: its record, if it had one, is
            # kept until the collection ends; without one, it is nobody's that we can name.
            for key in ("task", "future", "client_session", "connector"):
                obj = context.get(key)
                if obj is not None and (origin := _dying_origin(obj)) is not None:
                    break
            # Made while nobody owned the loop (a sync test driving the own runner's loop) is
            # nobody's either: not the test checked next (gql in the trust corpus).
            owner: Hashable | None = (
                origin.owner if origin is not None and origin.owner is not None else FOUND_BY_GC
            )
        else:
            owner = origin.owner if origin is not None else self.owner
        captured = CapturedContext(dict(context), owner, origin)
        self.contexts.append(captured)
        return captured

    def take_unowned(self) -> list[CapturedContext]:
        """Remove and return the captured contexts that name nothing with an owner."""
        taken = [c for c in self.contexts if c.owner is None]
        if taken:
            self.contexts = [c for c in self.contexts if c.owner is not None]
        return taken

    def take_contexts(self, owner: Hashable | None = None) -> list[CapturedContext]:
        """Remove and return the captured contexts of ``owner`` (all of them when owner is None)."""
        if owner is None:
            taken, self.contexts = self.contexts, []
            return taken
        taken = [c for c in self.contexts if c.owner == owner]
        self.contexts = [c for c in self.contexts if c.owner != owner]
        return taken
