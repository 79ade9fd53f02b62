"""Waiting without sleeping: :func:`settle`, :func:`eventually`, and the virtual :class:`Clock`.

All three rest on one definition of a *quiet* loop (:mod:`loopwarden._core._quiet`), checked where
the loop decides to wait. None of them needs pytest.

- ``await settle()`` returns as soon as the loop is quiet — everything that was set in motion has
  run as far as it can without time passing. It never moves the clock.
- ``await eventually(predicate)`` checks the predicate, and again each time the loop has settled
  and each time the clock moved (a timer fired, I/O arrived), until it holds or the deadline
  passes on the loop's clock — in virtual time, a deadline that nothing else precedes is reached
  at once.
- :class:`Clock` reads and moves a :class:`~loopwarden._core._loop.WardenLoop`'s virtual clock;
  :func:`virtual_time` turns virtual time on for a block of code.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from typing import Any, TypeVar

from loopwarden._core import _private
from loopwarden._core._loop import WardenLoop
from loopwarden._core._quiet import Quiet, quiet_of
from loopwarden._core._tasks import dump_tasks
from loopwarden._exceptions import EventuallyTimeout, LoopIdle, SettleTimeout

_T = TypeVar("_T")

#: settle()'s and eventually()'s default deadline, in seconds.
DEFAULT_TIMEOUT = 5.0


def _tasks_text(loop: asyncio.AbstractEventLoop, me: asyncio.Task[Any] | None) -> str:
    root = os.getcwd()
    lines: list[str] = []
    for task in dump_tasks(loop, None):
        if task.task is me:
            continue
        lines.extend("  " + line for line in task.lines(root))
    if not lines:
        return "No other task is pending."
    return "Pending tasks:\n" + "\n".join(lines)


def _check_timeout(name: str, timeout: float) -> float:
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}(timeout={timeout!r}): timeout must be a number of seconds"
        ) from None
    if not value > 0:
        raise ValueError(f"{name}(timeout={timeout!r}): timeout must be more than 0 seconds")
    return value


async def _until(
    quiet: Quiet, add: Callable[[asyncio.Future[None]], None], deadline: float
) -> bool:
    """Wait for ``add``'s future or the deadline (loop clock); True if the future came first."""
    loop = quiet.loop
    future: asyncio.Future[None] = loop.create_future()
    add(future)
    handle = loop.call_at(deadline, _wake, future)
    try:
        await future
    finally:
        handle.cancel()
        quiet.discard(future)
    return future.result() is None and not getattr(future, "_lw_deadline", False)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future._lw_deadline = True  # type: ignore[attr-defined]
        future.set_result(None)


async def settle(timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109 (the public API)
    """Return once the running loop is quiet: nothing ready, nothing working, nothing arriving.

    Use it where a test would ``await asyncio.sleep(0.1)`` before asserting: it waits exactly as
    long as the work set in motion needs, and no longer. It never moves a virtual clock, so a
    background task sleeping on a timer does not keep it waiting. When a task the test set in
    motion calls ``settle()`` too, the task's returns first, and the test's once what the task
    did next has settled as well.

    Args:
        timeout: real seconds to wait at most (the loop's clock, which moves in real time while
            the loop is not quiet).

    Raises:
        SettleTimeout: the loop was still busy at the deadline; the message says with what.
        TypeError: the running loop has no selector (uvloop, Windows' proactor loop).
    """
    limit = _check_timeout("settle", timeout)
    loop = asyncio.get_running_loop()
    quiet = quiet_of(loop)
    if await _until(quiet, quiet.add_settler, loop.time() + limit):
        return
    raise SettleTimeout(
        f"loopwarden: settle() timed out after {limit:g} s: the loop never became quiet; "
        f"{quiet.why_not_quiet()}.\n{_tasks_text(loop, asyncio.current_task())}"
    )


async def eventually(
    predicate: Callable[[], _T | Awaitable[_T]],
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (the public API)
) -> _T:
    """Wait until ``predicate()`` returns a true value, and return that value.

    The predicate (a function or an async function) is called now, then again whenever something
    may have changed it: once the work running since the last call has settled, and whenever
    something arrives from outside the loop (I/O, a thread's callback, the virtual clock's next
    timer). While threads or subprocesses work, it is also re-checked every few milliseconds.
    An exception it raises counts as "not yet" (so a helper that asserts works) and is shown if
    the deadline passes.

    Args:
        predicate: what to wait for.
        timeout: seconds on the loop's clock — virtual seconds under virtual time, so a deadline
            that nothing earlier can change is reached at once.

    Raises:
        EventuallyTimeout: the predicate did not hold by the deadline.
    """
    limit = _check_timeout("eventually", timeout)
    if not callable(predicate):
        raise TypeError(
            f"eventually() takes a function to call, not {type(predicate).__name__} "
            f"{predicate!r}: write eventually(lambda: ...)"
        )
    loop = asyncio.get_running_loop()
    quiet = quiet_of(loop)
    deadline = loop.time() + limit
    last: object = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # "not yet"; shown at the deadline
            last = exc
        else:
            if value:
                return value
            last = value
        if loop.time() >= deadline:
            break
        await _until(quiet, quiet.add_stepper, deadline)
    shown = (
        f"it last raised {type(last).__name__}: {last}"
        if isinstance(last, BaseException)
        else f"it last returned {last!r}"
    )
    name = getattr(predicate, "__qualname__", repr(predicate))
    raise EventuallyTimeout(
        f"loopwarden: eventually({name}) did not hold within {limit:g} s"
        f"{' (virtual time)' if _is_virtual(loop) else ''}; {shown}.\n"
        f"{_tasks_text(loop, asyncio.current_task())}",
        last,
    )


def _is_virtual(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, WardenLoop) and loop.virtual_time


def _warden(loop: asyncio.AbstractEventLoop) -> WardenLoop:
    if not isinstance(loop, WardenLoop):
        raise TypeError(
            f"loopwarden's clock needs a loopwarden loop, not {type(loop).__qualname__}: "
            "create it with loopwarden.new_loop() (e.g. "
            "asyncio.Runner(loop_factory=loopwarden.new_loop).run(main()))"
        )
    return loop


class Clock:
    """The clock of a :class:`~loopwarden._core._loop.WardenLoop`, for tests that move it by hand.

    ``now()`` is ``loop.time()``. With virtual time on, the clock also jumps by itself whenever the
    loop is quiet; :meth:`advance` and :meth:`run_until_idle` move it on purpose, running every
    timer due along the way in order.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None  # bound to the running loop at each use
        self._loop = _warden(loop) if loop is not None else None

    @property
    def loop(self) -> WardenLoop:
        """The loop this clock reads: the one given, else the running loop."""
        if self._loop is not None:
            return self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "loopwarden's clock has no loop here: use it from async code (an async test or "
                "fixture), where it reads the running loop"
            ) from None
        return _warden(running)

    def now(self) -> float:
        """The loop's time (``loop.time()``)."""
        return self.loop.time()

    @property
    def skipped(self) -> float:
        """Virtual seconds skipped so far on this loop."""
        return self.loop.skipped

    def _require_virtual(self, what: str) -> None:
        if not self.loop.virtual_time:
            raise RuntimeError(
                f"clock.{what} needs virtual time, which is off on this loop: use the clock "
                "fixture or @pytest.mark.loopwarden(virtual_time=True), or "
                "loopwarden.virtual_time() outside pytest"
            )

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, running every timer due on the way, in order.

        Returns when the clock has reached the target and the loop has settled.
        """
        if not isinstance(seconds, int | float) or not seconds >= 0:
            raise ValueError(f"clock.advance({seconds!r}): seconds must be a number >= 0")
        self._require_virtual("advance()")
        loop = self.loop
        target = loop.time() + seconds
        await settle()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_at(target, _wake, future)
        try:
            await future
        finally:
            handle.cancel()
        await settle()

    async def run_until_idle(self, limit: float = 86400.0) -> float:
        """Run timers, moving the clock, until none is left; return the virtual seconds it took.

        Raises:
            RuntimeError: timers were still scheduled after ``limit`` virtual seconds (a
                periodic task re-arms forever: use :meth:`advance` instead).
        """
        self._require_virtual("run_until_idle()")
        loop = self.loop
        start = loop.time()
        await settle()
        while True:
            upcoming = _next_timer(loop)
            if upcoming is None:
                return loop.time() - start
            if upcoming - start > limit:
                raise RuntimeError(
                    f"clock.run_until_idle(): timers are still scheduled after {limit:g} "
                    f"virtual seconds (next: {_timer_names(loop)}); a periodic timer never "
                    "runs out: use clock.advance(seconds) instead"
                )
            await self.advance(max(0.0, upcoming - loop.time()))


def _next_timer(loop: WardenLoop) -> float | None:
    scheduled = [h for h in _private.timers(loop) if not h.cancelled()]
    return min((h.when() for h in scheduled), default=None)


def _timer_names(loop: WardenLoop) -> str:
    live = sorted(
        (h for h in _private.timers(loop) if not h.cancelled()),
        key=lambda h: h.when(),
    )
    return ", ".join(_describe_timer(handle) for handle in live[:3])


def _describe_timer(handle: asyncio.TimerHandle) -> str:
    callback = _private.callback_of(handle)
    name = getattr(callback, "__qualname__", None) or repr(callback)
    args = _private.arguments_of(handle)
    if name == "_set_result_unless_cancelled" and args and isinstance(args[0], asyncio.Future):
        task = _private.sleeping_task(handle)
        return f"asyncio.sleep() in task {task.get_name()!r}" if task else "asyncio.sleep()"
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_name()!r}"
    return name


_real_monotonic = time.monotonic
_following = 0


def _monotonic_of_the_loop() -> float:
    """``time.monotonic()`` while :func:`monotonic_follows_loop` is active."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _real_monotonic()
    if isinstance(loop, WardenLoop) and loop.virtual_time:
        return loop.time()
    return _real_monotonic()


@contextmanager
def monotonic_follows_loop() -> Generator[None, None, None]:
    """Make ``time.monotonic()`` read the running loop's clock while it is in virtual time.

    For code that mixes ``loop.time()`` deadlines with ``time.monotonic()`` measurements (a rate
    limiter, a TTL cache): both then see the same virtual seconds. Called anywhere else — another
    thread, no running loop, a loop in real time — ``time.monotonic()`` is the real one.

    It replaces the ``time.monotonic`` attribute, so it reaches code that calls
    ``time.monotonic()``, not code that imported the function before (``from time import
    monotonic``) — nor ``time.perf_counter()`` or ``time.time()``. Nested uses are counted; the
    real function is back when the outermost ends.
    """
    global _following
    _following += 1
    time.monotonic = _monotonic_of_the_loop
    try:
        yield
    finally:
        _following -= 1
        if _following == 0:
            time.monotonic = _real_monotonic


@contextmanager
def virtual_time(
    loop: asyncio.AbstractEventLoop | None = None, *, monotonic: bool = False
) -> Generator[Clock, None, None]:
    """Run a block in virtual time on the running loopwarden loop; yields its :class:`Clock`.

    If inside the block the loop has nothing scheduled and nothing working (every task waits on
    something that nothing will ever do), the task that entered the block gets :class:`LoopIdle`
    with the pending tasks, instead of waiting forever.

    With ``monotonic=True``, ``time.monotonic()`` follows the loop's clock inside the block
    (see :func:`monotonic_follows_loop`).

    Example::

        async def main():
            with loopwarden.virtual_time() as clock:
                await asyncio.sleep(3600)       # returns at once
                print(clock.skipped)            # about 3600.0

        with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
            runner.run(main())
    """
    clock = Clock(loop)
    warden = clock.loop
    clock = Clock(warden)
    task = asyncio.current_task(warden) if warden.is_running() else None
    quiet = warden.quiet
    was_on, previous_idle = warden.virtual_time, quiet.on_idle
    idle: list[str] = []

    def on_idle() -> None:
        if task is not None and not task.done():
            idle.append(_tasks_text(warden, None))
            task.cancel("loopwarden: the loop is idle with nothing scheduled")

    quiet.on_idle = on_idle
    warden.set_virtual_time(True)
    following = monotonic_follows_loop() if monotonic else contextlib.nullcontext()
    try:
        with following:
            yield clock
    except asyncio.CancelledError:
        if idle and task is not None and task.uncancel() == 0:
            raise LoopIdle(
                "loopwarden: the loop went idle in virtual time: no timer is scheduled and "
                "nothing is working, so nothing can ever wake the tasks below.\n" + idle[0]
            ) from None
        raise
    finally:
        quiet.on_idle = previous_idle
        warden.set_virtual_time(was_on)
