"""Drivers: long-lived tasks that run submitted steps one after another, from synchronous code.

A test runner is synchronous (pytest calls fixtures and tests one by one) but async fixtures need
a *task* that lives across calls: an async-generator fixture must be finalised in the task that
started it (``asyncio.timeout`` and task groups spanning its ``yield`` depend on that), and the
contextvars a fixture sets must be seen by the test that uses it. A :class:`Driver` is such a task:
:meth:`Driver.run` hands it a coroutine and runs the loop until the driver has awaited it.

A driver can spawn a child driver (:meth:`Driver.child`) whose context starts as a copy of its
parent's: loopwarden gives each test a child of its loop's driver, so contextvars set by the test's
function-scoped fixtures are seen by the test and die with it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Coroutine, Hashable
from typing import Any, TypeVar

from loopwarden._core import _private

_T = TypeVar("_T")


class _Stop:
    pass


_STOP = _Stop()


def _carry_warnings(context: contextvars.Context) -> None:
    """Give ``context`` (not entered now) the caller's warning filters, where they are per
    context."""
    var = _private.WARNINGS_CONTEXT
    if var is None:
        return
    current = var.get(None)
    if current is not None and context.get(var) is not current:
        context.run(var.set, current)


class DriverError(RuntimeError):
    """A driver was used wrongly: from inside a running loop, or after it stopped."""


class Driver:
    """A task on ``loop`` that awaits each submitted coroutine in turn, in one context.

    Args:
        loop: the loop the driver runs on; it must not be running when :meth:`run` is called.
        name: the task name (shown in task dumps).
        context: the context the driver task runs in (a fresh copy of the current one if None).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        context: contextvars.Context | None = None,
    ) -> None:
        self.loop = loop
        self.name = name
        self._inbox: asyncio.Future[tuple[Any, asyncio.Future[Any]]] = loop.create_future()
        self._context = context if context is not None else contextvars.copy_context()
        self.task: asyncio.Task[None] = _internal_task(loop, self._serve(), name, self._context)
        self._busy = False

    @property
    def context(self) -> contextvars.Context:
        """The context the driver's steps run in."""
        return self._context

    @property
    def busy(self) -> bool:
        """True while a step is being awaited."""
        return self._busy

    async def _serve(self) -> None:
        loop = self.loop
        while True:
            inbox = self._inbox
            step, done = await inbox
            if self._inbox is inbox:  # (else _submit replaced it, holding the next step)
                self._inbox = loop.create_future()
            if step is _STOP:
                done.set_result(None)
                return
            if done.done():  # the caller gave up on it before it started (see _end)
                _close_quietly(step)
                continue
            self._busy = True
            try:
                result = await step
            except BaseException as exc:
                task = self.task
                while task.cancelling():
                    task.uncancel()
                if not done.done():
                    done.set_exception(exc)
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
            else:
                if not done.done():
                    done.set_result(result)
            finally:
                self._busy = False

    def _submit(self, step: Any, done: asyncio.Future[Any]) -> None:
        if self._inbox.done():
            # A step dropped before the driver got to it (see run) is still in the inbox.
            dropped, _ = self._inbox.result()
            _close_quietly(dropped)
            self._inbox = self.loop.create_future()
        self._inbox.set_result((step, done))

    def run(self, step: Awaitable[_T], owner: Hashable | None = None) -> _T:
        """Await ``step`` in the driver task and return its result (or raise its exception).

        Args:
            step: a coroutine (or other awaitable) to await inside the driver task.
            owner: attribute tasks and timers created meanwhile to this owner (WardenLoop only).

        Raises:
            DriverError: if the loop is already running (e.g. an async fixture requested with
                ``request.getfixturevalue()`` from inside an async test), or the driver stopped.
        """
        __tracebackhide__ = True
        loop = self.loop
        if loop.is_running():
            _close_quietly(step)
            raise DriverError("the event loop is already running")
        if self.task.done():
            _close_quietly(step)
            raise DriverError(f"driver {self.name!r} has stopped")
        done: asyncio.Future[_T] = loop.create_future()
        _carry_warnings(self._context)
        self._submit(step, done)
        registry = getattr(loop, "registry", None)
        previous = None
        if registry is not None:
            previous, registry.owner = registry.owner, owner
        try:
            return _run(loop, done)
        except BaseException as exc:
            if not done.done() and _ends_here(exc):
                if self._busy:
                    # Interrupted from outside (pytest-timeout's signal, Ctrl-C) while the step
                    # was awaited: cancelling the driver task cancels only the step (see _serve).
                    _end(loop, self.task, done)
                else:  # not started yet: the driver drops it when it gets to it
                    done.cancel()
            raise
        finally:
            if registry is not None:
                registry.owner = previous

    def run_in_task(self, coro: Coroutine[Any, Any, _T], name: str, owner: Hashable | None) -> _T:
        """Run ``coro`` as a one-shot task whose context is a copy of this driver's.

        Cheaper than a child driver when nothing else needs to run in the same task (a test with
        no async function-scoped fixtures): one loop run, no driver to stop afterwards.
        """
        __tracebackhide__ = True
        loop = self.loop
        if loop.is_running():
            coro.close()
            raise DriverError("the event loop is already running")
        context = self._context.copy()
        _carry_warnings(context)
        task = _internal_task(loop, coro, name, context)
        registry = getattr(loop, "registry", None)
        previous = None
        if registry is not None:
            previous, registry.owner = registry.owner, owner
        try:
            return _run(loop, task)
        except BaseException as exc:
            if not task.done() and _ends_here(exc):
                _end(loop, task, task)
            raise
        finally:
            if registry is not None:
                registry.owner = previous

    def child(self, name: str) -> Driver:
        """A new driver whose context starts as a copy of this driver's current context."""
        return Driver(self.loop, name, self._context.copy())

    def stop(self) -> None:
        """Finish the driver task (waits for nothing else to finish)."""
        if self.task.done():
            return
        if self.loop.is_running():
            raise DriverError("the event loop is already running")
        done: asyncio.Future[None] = self.loop.create_future()
        self._submit(_STOP, done)
        self.loop.run_until_complete(self.task)


def _run(loop: asyncio.AbstractEventLoop, future: asyncio.Future[_T]) -> _T:
    # A WardenLoop stops one iteration sooner (see WardenLoop.run_until_done).
    run_until_done = getattr(loop, "run_until_done", None)
    if run_until_done is not None:
        result: _T = run_until_done(future)
        return result
    return loop.run_until_complete(future)


#: How long an interrupted step may take to end after it is cancelled.
END_TIMEOUT = 2.0


def _ends_here(exc: BaseException) -> bool:
    # The watchdog's own interrupt comes after the step ignored a cancellation already; the
    # watchdog ends that step itself, within its own deadline.
    from loopwarden._exceptions import HangInterrupt

    return not isinstance(exc, HangInterrupt)


def _end(
    loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], done: asyncio.Future[Any]
) -> None:
    """Cancel a step that something interrupted from outside, and let it end now.

    Its ``finally`` blocks run at once, in the test's own phase, instead of when the loop closes;
    a step that ignores the cancellation is given up on after :data:`END_TIMEOUT` seconds. What the
    step raises is not news: the interruption is what the caller reports.
    """
    if loop.is_running() or loop.is_closed() or _private.running_loop() is not None:
        return  # this thread runs a loop already (an in-process pytest run): cannot wait here
    task.cancel()
    waiting = asyncio.wait([done], timeout=END_TIMEOUT)
    try:
        loop.run_until_complete(waiting)
    except BaseException:  # interrupted again: give up on it, the caller raises the first one
        waiting.close()
        return
    if done.done() and not done.cancelled():
        done.exception()  # retrieved: asyncio does not log it at garbage collection


def _internal_task(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, _T],
    name: str,
    context: contextvars.Context,
) -> asyncio.Task[_T]:
    # loopwarden's own tasks bypass loop.create_task: no creation site to find (the walk would
    # climb through every pytest frame), and no owner — what they run is attributed to the owner
    # the caller sets.
    task = asyncio.Task(coro, loop=loop, name=name, context=context)
    registry = getattr(loop, "registry", None)
    if registry is not None:
        registry.record_unowned(task)
    return task


def _close_quietly(step: Awaitable[Any]) -> None:
    # A coroutine that will never be awaited must be closed, or Python warns that it was
    # "never awaited" and points at loopwarden instead of the user's mistake.
    if isinstance(step, Coroutine):
        step.close()
