"""The private details of asyncio, threading and warnings that loopwarden reads, in one place.

None of these is public API; each was checked on Python 3.11-3.15 (C and pure-Python tasks).
``tests/core/test_private.py`` holds one canary per detail, so a new Python breaks a named test
rather than a user's suite; a change lands here, and nowhere else.

``WardenLoop`` (``_loop.py``) is a ``SelectorEventLoop`` subclass and also overrides a few of its
base class's private methods (``_run_once``, ``_make_socket_transport``…); those are its own
business, and have canaries here too.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: The running loop of this thread, or None; cheaper than ``get_running_loop()`` in a ``try``.
#: (In ``asyncio.events.__all__`` for loops written in C, such as uvloop; never documented.)
running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop


def waiter(task: asyncio.Future[Any]) -> object | None:
    """The future a suspended task waits for (``Task._fut_waiter``), or None."""
    return getattr(task, "_fut_waiter", None)


def gather_children(future: object) -> list[asyncio.Future[Any]] | None:
    """The futures an ``asyncio.gather()`` future gathers (``_GatheringFuture._children``), or
    None when ``future`` is not one."""
    children = getattr(future, "_children", None)
    return children if isinstance(children, list) else None


def taskgroup_tasks(group: asyncio.TaskGroup) -> frozenset[asyncio.Task[Any]]:
    """The tasks a ``TaskGroup`` still waits for (``TaskGroup._tasks``)."""
    return frozenset(getattr(group, "_tasks", ()))


def exception_unread(future: asyncio.Future[Any]) -> bool:
    """A done future whose exception nobody retrieved: asyncio logs it when the future dies
    (``Future._log_traceback``)."""
    return bool(getattr(future, "_log_traceback", False))


def raised(future: asyncio.Future[Any]) -> bool:
    """Whether a done future ended with an exception, without retrieving it
    (``Future._exception``): ``exception()`` would mark it retrieved, and asyncio would then not
    log "exception was never retrieved" for it — which code under test may wait for."""
    return getattr(future, "_exception", None) is not None


def timers(loop: asyncio.AbstractEventLoop) -> Sequence[asyncio.TimerHandle]:
    """The loop's timer heap (``BaseEventLoop._scheduled``; the earliest first), cancelled ones
    included; empty for a loop that keeps none."""
    scheduled: Sequence[asyncio.TimerHandle] = getattr(loop, "_scheduled", ())
    return scheduled


def ready(loop: asyncio.AbstractEventLoop) -> Sequence[asyncio.Handle]:
    """The callbacks ready to run on the loop's next iteration (``BaseEventLoop._ready``)."""
    handles: Sequence[asyncio.Handle] = getattr(loop, "_ready", ())
    return handles


def selector(loop: asyncio.AbstractEventLoop) -> Any:
    """A selector loop's selector (``BaseSelectorEventLoop._selector``), or None."""
    return getattr(loop, "_selector", None)


def selector_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """A loop with asyncio's selector machinery: a selector, a self-pipe, a ready queue."""
    return all(hasattr(loop, name) for name in ("_selector", "_ssock", "_ready"))


def self_pipe(loop: asyncio.AbstractEventLoop) -> Any:
    """The socket a selector loop wakes itself with (``_ssock``), or None."""
    return getattr(loop, "_ssock", None)


def transports(loop: asyncio.AbstractEventLoop) -> Mapping[int, asyncio.BaseTransport]:
    """A selector loop's socket transports by file descriptor (``_transports``; weak values)."""
    table: Mapping[int, asyncio.BaseTransport] | None = getattr(loop, "_transports", None)
    return table if table is not None else {}


def loop_thread(loop: asyncio.AbstractEventLoop) -> int | None:
    """The ident of the thread running the loop now (``BaseEventLoop._thread_id``), or None."""
    ident: int | None = getattr(loop, "_thread_id", None)
    return ident


def callback_of(handle: asyncio.Handle) -> Callable[..., Any] | None:
    """What a handle will call (``Handle._callback``; None once it was cancelled)."""
    callback: Callable[..., Any] | None = getattr(handle, "_callback", None)
    return callback


def arguments_of(handle: asyncio.Handle) -> tuple[Any, ...]:
    """The arguments a handle calls its callback with (``Handle._args``)."""
    return tuple(getattr(handle, "_args", None) or ())


#: The callbacks asyncio's own timers call to wake a task: ``asyncio.sleep()`` and ``wait()`` /
#: ``wait_for()``'s timeout (functions private to ``asyncio.tasks``, by name).
WAKE_UP_CALLBACKS = frozenset({"_set_result_unless_cancelled", "_release_waiter"})


def sleeping_task(handle: asyncio.Handle) -> asyncio.Task[Any] | None:
    """The task an ``asyncio.sleep()`` timer wakes (it resolves a future whose done callback is
    the task's wake-up), or None for another handle."""
    callback = callback_of(handle)
    args = arguments_of(handle)
    if getattr(callback, "__name__", "") != "_set_result_unless_cancelled" or not args:
        return None
    for waiter, _ in getattr(args[0], "_callbacks", None) or ():  # (Future._callbacks)
        task: Any = getattr(waiter, "__self__", None)
        if hasattr(task, "get_coro") and hasattr(task, "get_name"):  # (a C or a Python Task)
            return task  # type: ignore[no-any-return]
    return None


def thread_target(thread: threading.Thread) -> Callable[..., Any] | None:
    """What a thread runs (``Thread._target``; None for a subclass that overrides ``run``, and
    once the thread has ended)."""
    target: Callable[..., Any] | None = getattr(thread, "_target", None)
    return target


#: Python 3.14's context-aware warnings (``-X context_aware_warnings=1``, the default on
#: free-threaded builds) keep the warning filters, and the list pytest records into, in this
#: context variable (``warnings._warnings_context``). None where warnings are process-wide.
WARNINGS_CONTEXT: contextvars.ContextVar[Any] | None = (
    getattr(warnings, "_warnings_context", None)
    if getattr(sys.flags, "context_aware_warnings", False)
    else None
)


def warning_shower() -> Callable[[warnings.WarningMessage], None]:
    """What shows a warning now: ``catch_warnings(record=True)`` and pytest's recording replace
    it, so comparing it (``==``) tells who will see a warning.

    That is ``warnings._showwarnmsg_impl`` where warnings are process-wide. With context-aware
    warnings (3.14+) ``catch_warnings`` leaves it alone and records into the current context's
    ``log`` list instead: then it is that list's ``append``.
    """
    var = WARNINGS_CONTEXT
    context = var.get(None) if var is not None else None
    log = getattr(context, "log", None)
    if isinstance(log, list):
        return log.append
    shower: Callable[[warnings.WarningMessage], None] = warnings._showwarnmsg_impl  # type: ignore[attr-defined]
    return shower


def wrap_warning_shower(
    wrap: Callable[[Callable[[warnings.WarningMessage], None]], Callable[..., None]],
) -> Callable[[], None]:
    """Replace ``warnings._showwarnmsg`` (which every shown warning passes, whoever records it)
    with ``wrap(original)``; returns the undo."""
    original = warnings._showwarnmsg  # type: ignore[attr-defined]
    wrapper = wrap(original)
    warnings._showwarnmsg = wrapper  # type: ignore[attr-defined]

    def undo() -> None:
        if warnings._showwarnmsg is wrapper:  # type: ignore[attr-defined]
            warnings._showwarnmsg = original  # type: ignore[attr-defined]

    return undo


def wrap_runner_cancel(
    wrap: Callable[[Callable[[asyncio.AbstractEventLoop], None]], Callable[..., None]],
) -> Callable[[], None] | None:
    """Replace ``asyncio.runners._cancel_all_tasks`` — what ``asyncio.Runner.close()`` and
    ``asyncio.run()`` call on a loop before closing it — with ``wrap(original)``; returns the
    undo, or None on a Python without it (nothing replaced)."""
    original = getattr(asyncio.runners, "_cancel_all_tasks", None)
    if original is None:
        return None
    wrapper = wrap(original)
    asyncio.runners._cancel_all_tasks = wrapper  # type: ignore[attr-defined]

    def undo() -> None:
        if asyncio.runners._cancel_all_tasks is wrapper:  # type: ignore[attr-defined]
            asyncio.runners._cancel_all_tasks = original  # type: ignore[attr-defined]

    return undo


def runner_cancel() -> Callable[[asyncio.AbstractEventLoop], None] | None:
    """The ``asyncio.runners._cancel_all_tasks`` in place now, or None."""
    return getattr(asyncio.runners, "_cancel_all_tasks", None)
