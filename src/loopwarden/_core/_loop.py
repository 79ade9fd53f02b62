"""``WardenLoop``: a selector event loop with seams for every loopwarden instrument.

The loop stays a stock :class:`asyncio.SelectorEventLoop` in behaviour; it only *records* (task and
timer creation sites, servers, subprocesses, executor work, exception-handler contexts, when each
connection last sent and received) and offers seams that other instruments fill:

- the clock: :meth:`WardenLoop.time` is ``time.monotonic()`` until virtual time is turned on
  (:meth:`WardenLoop.set_virtual_time`). Then the clock stands still while callbacks run, moves
  with real time while the loop waits on real work (a thread, a subprocess, a reply), and, whenever
  the loop is quiet (see :mod:`loopwarden._core._quiet`), jumps to the next timer instead of
  waiting. It never goes back, and turning virtual time off keeps the time gained;
- the scheduling step (:meth:`WardenLoop.set_scheduler`): FIFO by default, at zero cost — the
  scheduler is consulted only while one is installed;
- exception capture (:attr:`WardenLoop.registry`): every context the loop's exception handler
  receives is kept, attributed to the owner that created the task it names.

While a watchdog watches it (:meth:`WardenLoop.watch_blocks`), it also keeps a *heartbeat* for
the blocking-call detector: the real time the current loop iteration started (when ``select()``
returned, or ``run_forever`` began), 0.0 while the loop waits in ``select()`` or does not run. That
costs one wrapped ``select()`` per iteration, never anything per callback, and nothing while off.
The quiet check wraps the same ``select()`` call, and only while virtual time is on or someone
waits for the loop to settle.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import collections
import contextvars
import math
import sys
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, TypeVarTuple, Unpack

from loopwarden._core._quiet import Quiet
from loopwarden._core._registry import (
    AFTER_CLOSE,
    FOUND_BY_GC,
    NO_ENTRIES,
    SITE_HINT,
    CapturedContext,
    Registry,
    TaskOrigin,
)

_monotonic = time.monotonic
# The coroutines a loop's owner runs on it to shut it down (see is_shutdown_task).
_LOOP_SHUTDOWN = frozenset(
    {
        asyncio.BaseEventLoop.shutdown_asyncgens.__code__,
        asyncio.BaseEventLoop.shutdown_default_executor.__code__,
    }
)

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
# The weak tables a WardenLoop makes at their first entry (see WardenLoop._lw_table).
_LW_TABLES = frozenset(
    {
        "_lw_servers",
        "_lw_subprocesses",
        "_lw_connections",
        "_lw_executor_work",
        "_lw_writers",
        "_lw_sessions",
    }
)


class Scheduler(Protocol):
    """Decides the order of the ready queue before each loop iteration runs it."""

    def reorder(self, ready: collections.deque[asyncio.Handle]) -> None:
        """Reorder ``ready`` in place, before each iteration (also when it has 0 or 1 handles).

        A scheduler may take handles out to run them in a later iteration, but must put every
        one back, and must not leave ``ready`` empty while it holds any: the loop would then
        wait in ``select()`` for I/O or a timer that may never come.
        """


class WardenLoop(asyncio.SelectorEventLoop):
    """A selector event loop that records what is created on it, for loopwarden's instruments.

    Create it through :func:`new_loop` (or pass ``new_loop`` as a ``loop_factory``).
    """

    registry: Registry
    #: Called by ``asyncio.Runner.close`` before it cancels the loop's tasks, once
    #: :func:`loopwarden._core._lifecycle.hook_runner_close` is installed.
    on_runner_close: Callable[[WardenLoop], None] | None = None
    #: Called with what the exception handler is given once the loop is closed (its registry is
    #: read by no check any more); such a report is dropped when it is None.
    after_close: Callable[[CapturedContext], None] | None = None

    # What is made on the loop, with its creation record: weak tables, each made at its first
    # entry (see _lw_table). Until then the class's empty stand-in answers every read. Most loops
    # never get one (pytest-asyncio makes a loop per test), and five weak tables cost a third as
    # much as the loop itself.
    _lw_servers: Mapping[asyncio.Server, TaskOrigin] = NO_ENTRIES
    _lw_subprocesses: Mapping[asyncio.BaseTransport, TaskOrigin] = NO_ENTRIES
    _lw_connections: Mapping[asyncio.BaseTransport, TaskOrigin] = NO_ENTRIES
    _lw_executor_work: Mapping[asyncio.Future[Any], TaskOrigin] = NO_ENTRIES
    # Library sessions that must be closed (aiohttp's ClientSession; see _libraries.py).
    _lw_sessions: Mapping[Any, TaskOrigin] = NO_ENTRIES
    # Connections that sent something since they last received (see _WardenSocketTransport).
    _lw_writers: AbstractSet[_WardenSocketTransport] = frozenset()
    # Instruments (see add_instrument), and their hooks cached per event: none by default, and
    # then nothing is called.
    #: True while the leak engine cancels and closes what an owner left.
    lw_cleaning = False
    _lw_instruments: tuple[object, ...] = ()
    _lw_on_task: tuple[Callable[[asyncio.Task[Any]], object], ...] = ()
    _lw_on_select: (
        tuple[
            tuple[Callable[[float | None], object], ...],
            tuple[Callable[[float | None, list[Any]], object], ...],
        ]
        | None
    ) = None

    def __init__(self, selector: Any = None) -> None:
        super().__init__(selector)
        self.registry = Registry()
        self._lw_offset = 0.0  # time() - monotonic() while virtual time is off
        self._lw_now: float | None = None  # the clock's reading while virtual time is on
        self._lw_skipped = 0.0
        self._lw_scheduler: Scheduler | None = None
        # What run_until_done waits for, and whether it gave the loop its one extra iteration.
        self._lw_until: asyncio.Future[Any] | None = None
        self._lw_until_extra = False
        self._lw_until_stop: asyncio.Handle | None = None
        # Heartbeat: see watch_blocks(). Iterations longer than the threshold are queued as
        # (start, end) pairs for the watchdog; a deque because two threads append and pop.
        self._lw_busy_since = 0.0
        self._lw_block_threshold = math.inf
        self._lw_blocks: collections.deque[tuple[float, float]] = collections.deque()
        # The selector's own select(); _lw_select is it, or its instrumented wrapper.
        self._lw_raw_select: Callable[[float | None], Any] = self._selector.select  # type: ignore[attr-defined]
        self._lw_select = self._lw_raw_select
        self._lw_inner_select: Callable[[float | None], Any] = self._lw_select
        self.quiet = Quiet(self, _install_quiet_select)
        #: Called with the loop once it is closed (e.g. to forget it).
        self.close_hooks: list[Callable[[WardenLoop], None]] = []

    def _lw_table(self, name: str) -> Any:
        """The weak table ``name`` (one of the ``_lw_*`` tables above), made if it is not yet."""
        table = self.__dict__.get(name)
        if table is None:
            if name not in _LW_TABLES:  # a misspelt name would record into a table nobody reads
                raise AttributeError(f"WardenLoop has no weak table {name!r}")
            table = weakref.WeakSet() if name == "_lw_writers" else weakref.WeakKeyDictionary()
            setattr(self, name, table)
        return table

    def lw_resources(self) -> tuple[Mapping[Any, TaskOrigin], ...]:
        """The resource tables: servers, connections, subprocesses, executor work."""
        return (
            self._lw_servers,
            self._lw_connections,
            self._lw_subprocesses,
            self._lw_executor_work,
        )

    def close(self) -> None:
        selector = self._selector  # type: ignore[attr-defined]
        super().close()
        # What is bound to this loop and kept where the loop reaches it refers back to it: the
        # select wrappers (on its selector), the fuzzed step (in its own dict), the quiet check's
        # clock callbacks (set while virtual time is on). Left in place, every dropped loop
        # (pytest-asyncio drops one per test) would wait for the cyclic garbage collector. A
        # closed loop never runs again.
        overrides = getattr(selector, "__dict__", None)  # (None: closed before, or no dict)
        if overrides is not None:
            overrides.pop("select", None)
        self.__dict__.pop("_run_once", None)
        quiet = self.quiet
        quiet.jump = quiet.flow = quiet.on_idle = None
        if self._lw_instruments:
            self._lw_instruments = ()
            self._lw_on_task = ()
            self._lw_on_select = None
        hooks, self.close_hooks = self.close_hooks, []
        for hook in hooks:
            hook(self)

    # -- clock ------------------------------------------------------------------------------

    def time(self) -> float:
        now = self._lw_now
        return _monotonic() + self._lw_offset if now is None else now

    @property
    def virtual_time(self) -> bool:
        """True while the clock jumps to the next timer whenever the loop is quiet."""
        return self._lw_now is not None

    def set_virtual_time(self, on: bool) -> None:
        """Turn virtual time on or off.

        The clock never goes back: turning it off keeps the time gained, so timers that other
        owners (a session's fixtures) scheduled keep their order and their distance.
        """
        if on and self._lw_now is None:
            self._lw_now = self.time()
            self.quiet.jump = self._lw_jump
            self.quiet.flow = self._lw_flow
        elif not on and self._lw_now is not None:
            self._lw_offset = self._lw_now - _monotonic()
            self._lw_now = None
            self.quiet.jump = self.quiet.flow = None
        self.quiet.refresh()

    def _lw_jump(self, when: float) -> None:
        now = self._lw_now
        if now is not None and when > now:
            self._lw_skipped += when - now
            self._lw_now = when

    def _lw_flow(self, seconds: float) -> None:
        if self._lw_now is not None:
            self._lw_now += seconds

    @property
    def skipped(self) -> float:
        """Virtual seconds the clock has jumped over in this loop's life."""
        return self._lw_skipped

    def _lw_quiet_select(self, on: bool) -> None:
        self._lw_inner_select = self.quiet.select if on else self._lw_select
        self._lw_place_select()

    def _lw_place_select(self) -> None:
        selector = self._selector  # type: ignore[attr-defined]
        if selector is None:
            return
        if self._lw_block_threshold != math.inf:
            selector.select = self._lw_heartbeat_select
        elif self._lw_inner_select is not self._lw_raw_select:
            selector.select = self._lw_inner_select
        else:
            vars(selector).pop("select", None)

    # -- instruments ------------------------------------------------------------------------

    def add_instrument(self, instrument: object) -> None:
        """Tell ``instrument`` what the loop does, from now until it is removed or the loop closes.

        An instrument is any object with some of these methods (each one it lacks costs nothing):

        - ``task_created(task)``: a task was created on the loop (its creation record is in
          :attr:`registry` already);
        - ``before_select(timeout)`` and ``after_select(timeout, events)``: around each real wait
          for I/O, ``timeout`` as the loop passes it (None: no timer pending; 0: a poll); a
          wait cut short by an exception (a hang report's interrupt) ends with no event.

        They run in the loop's thread, inside the loop: keep them short, and let nothing escape.
        """
        if instrument not in self._lw_instruments:
            self._lw_instruments = (*self._lw_instruments, instrument)
            self._lw_refresh_instruments()

    def remove_instrument(self, instrument: object) -> None:
        """Stop telling ``instrument`` (nothing happens if it was not added)."""
        if instrument in self._lw_instruments:
            self._lw_instruments = tuple(i for i in self._lw_instruments if i is not instrument)
            self._lw_refresh_instruments()

    def _lw_refresh_instruments(self) -> None:
        instruments = self._lw_instruments
        self._lw_on_task = tuple(
            hook for i in instruments if (hook := getattr(i, "task_created", None)) is not None
        )
        before = tuple(
            pre for i in instruments if (pre := getattr(i, "before_select", None)) is not None
        )
        after = tuple(
            post for i in instruments if (post := getattr(i, "after_select", None)) is not None
        )
        self._lw_on_select = (before, after) if before or after else None
        select = self._lw_raw_select if self._lw_on_select is None else self._lw_instrumented_select
        if self._lw_inner_select is self._lw_select:
            self._lw_inner_select = select
        self._lw_select = select
        self.quiet.raw_select = select
        if not self.is_closed():
            self._lw_place_select()

    def _lw_instrumented_select(self, timeout: float | None = None) -> Any:
        hooks = self._lw_on_select
        if hooks is None:  # (removed while a wrapper still held this method)
            return self._lw_raw_select(timeout)
        before, after = hooks
        for pre in before:
            pre(timeout)
        try:
            events = self._lw_raw_select(timeout)
        except BaseException:
            # Cut short (the watchdog's HangInterrupt, Ctrl-C): the wait lasted until now, and
            # the instruments hear of it, with no event.
            for post in after:
                post(timeout, [])
            raise
        for post in after:
            post(timeout, events)
        return events

    # -- scheduling seam --------------------------------------------------------------------

    def set_scheduler(self, scheduler: Scheduler | None) -> None:
        """Install a scheduler that reorders each ready batch; None restores FIFO.

        With no scheduler the loop runs CPython's own ``_run_once`` with no added cost: the
        instrumented step is bound on the instance only while a scheduler is installed.
        """
        previous = self._lw_scheduler
        release = getattr(previous, "release_all", None)
        if release is not None and previous is not scheduler:
            release(self._ready)  # type: ignore[attr-defined]
        self._lw_scheduler = scheduler
        if self._lw_until is not None:
            pass  # inside run_until_done: its step applies the scheduler and must stay in place
        elif scheduler is None:
            self.__dict__.pop("_run_once", None)
        else:
            self._run_once = self._lw_run_once_scheduled

    def _lw_run_once_scheduled(self) -> None:
        scheduler = self._lw_scheduler
        if scheduler is not None:
            scheduler.reorder(self._ready)  # type: ignore[attr-defined]
        super()._run_once()  # type: ignore[misc]

    # -- running until a future is done ------------------------------------------------------

    def run_until_done(self, future: asyncio.Future[_T]) -> _T:
        """``run_until_complete(future)`` for a pending future of this loop, one iteration shorter.

        ``run_until_complete`` learns that the future is done from a done callback, which runs
        in the iteration after. This stops at the end of the iteration in which the future
        completes, unless that iteration left something the next one would do: callbacks ready
        to run, a timer due, a file descriptor watched besides the loop's own wake-up pipe, or a
        task step the scheduler holds back.
        Then it runs one more iteration, as ``run_until_complete`` does, so what the last step
        scheduled still runs now (and under the same owner). A test that awaits once takes two
        iterations instead of three.

        Anything else (a future already done, of another loop, or not a future) goes to
        ``run_until_complete``, which raises as it always does.

        Raises:
            RuntimeError: as ``run_until_complete``: the loop is running or closed, or it was
                stopped before the future completed.
        """
        if (
            self.is_running()
            or self.is_closed()
            or not isinstance(future, asyncio.Future)
            or future.done()
            or future.get_loop() is not self
        ):
            # run_until_complete raises before touching anything of a run under way.
            return self.run_until_complete(future)
        self._lw_until = future
        self._lw_until_extra = False
        self._run_once = self._lw_run_once_until
        try:
            self.run_forever()
        finally:
            self._lw_until = None
            stop, self._lw_until_stop = self._lw_until_stop, None
            if stop is not None:
                stop.cancel()  # the run ended otherwise (an interrupt): not the next run's stop
            if self._lw_scheduler is None:
                self.__dict__.pop("_run_once", None)
            else:
                self._run_once = self._lw_run_once_scheduled
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def _lw_run_once_until(self) -> None:
        scheduler = self._lw_scheduler
        if scheduler is not None:
            scheduler.reorder(self._ready)  # type: ignore[attr-defined]
        super()._run_once()  # type: ignore[misc]
        until = self._lw_until
        if until is not None and until.done() and not self._lw_until_extra:
            if self._stopping:  # type: ignore[attr-defined]
                return  # someone stopped the loop in this iteration: it ends here anyway
            if self._lw_more_to_do():
                # One more iteration, exactly as run_until_complete's done callback gives it:
                # with a callback ready, so its select() does not wait.
                self._lw_until_extra = True
                self._lw_until_stop = self.call_soon(self.stop)
            else:
                self.stop()

    def _lw_more_to_do(self) -> bool:
        """Would another iteration run something now (what run_until_complete's last one runs)?"""
        if self._ready or getattr(self._lw_scheduler, "holding", 0):  # type: ignore[attr-defined]
            return True  # (a step the fuzz scheduler holds back comes back next iteration)
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if scheduled and scheduled[0].when() <= self.time() + self._clock_resolution:  # type: ignore[attr-defined]
            return True
        # I/O that may be ready: anything watched besides the self-pipe.
        return len(self._selector.get_map()) > 1  # type: ignore[attr-defined]

    # -- heartbeat (for the watchdog's blocking-call detector) -------------------------------

    def watch_blocks(self, threshold: float | None) -> bool:
        """Keep the heartbeat and record iterations busy for more than ``threshold`` seconds.

        None stops watching: the loop then runs CPython's own ``select()`` call at no added cost.
        Recorded iterations are collected with :meth:`take_blocks`; each call drops those not
        taken yet. Call it while the loop is not running, or from the loop's own thread.

        Returns:
            False if the heartbeat cannot be kept (a selector whose ``select`` can't be wrapped,
            or a closed loop), True otherwise.
        """
        self._lw_blocks.clear()
        selector = self._selector  # type: ignore[attr-defined]
        if selector is None:
            return False
        if threshold is None:
            self._lw_block_threshold = math.inf
            self._lw_place_select()
            return True
        self._lw_block_threshold = threshold
        self._lw_busy_since = _monotonic() if self.is_running() else 0.0
        try:
            # An instance attribute shadows the selector's method: _run_once calls it directly.
            selector.select = self._lw_heartbeat_select
        except AttributeError:  # a selector with __slots__
            self._lw_block_threshold = math.inf
            return False
        return True

    def _lw_heartbeat_select(self, timeout: float | None = None) -> Any:
        now = _monotonic()
        busy = self._lw_busy_since
        self._lw_busy_since = 0.0
        if now - busy > self._lw_block_threshold and busy:
            self._lw_blocks.append((busy, now))
        # No try/finally: if select() raises, run_forever ends and resets the heartbeat.
        events = self._lw_inner_select(timeout)
        self._lw_busy_since = _monotonic()
        return events

    def run_forever(self) -> None:
        if self.is_running() or self.is_closed():
            super().run_forever()  # raises; must not touch the running loop's heartbeat
            return
        # Stamp the start, so the time the loop spent not running is not taken for a block.
        self._lw_busy_since = _monotonic()
        try:
            super().run_forever()
        finally:
            # The last iteration ends here, not in select().
            now = _monotonic()
            busy = self._lw_busy_since
            self._lw_busy_since = 0.0
            if now - busy > self._lw_block_threshold and busy:
                self._lw_blocks.append((busy, now))

    def busy_since(self) -> float:
        """When (``time.monotonic``) the current loop iteration started; 0.0 when not busy.

        An iteration starts when the selector's ``select()`` returns, or when ``run_forever``
        begins; the loop is not busy while it waits in ``select()`` or does not run. Kept only
        while :meth:`watch_blocks` is on. Safe to read from any thread.
        """
        return self._lw_busy_since

    def take_blocks(self) -> list[tuple[float, float]]:
        """Remove and return the ``(start, end)`` monotonic times of the long iterations seen.

        Safe to call from any thread while the loop runs.
        """
        blocks = self._lw_blocks
        if not blocks:
            return []
        taken = []
        while blocks:
            try:
                taken.append(blocks.popleft())
            except IndexError:  # emptied by another thread in between
                break
        return taken

    def drop_blocks(self) -> None:
        """Forget the long iterations recorded so far (call it while the loop is not running)."""
        if self._lw_blocks:
            self._lw_blocks.clear()

    def running_thread(self) -> int | None:
        """The ident of the thread running the loop, or None when it is not running."""
        thread_id: int | None = self._thread_id  # type: ignore[attr-defined]
        return thread_id

    # -- recording --------------------------------------------------------------------------

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        if getattr(coro, "cr_code", None) in _LOOP_SHUTDOWN:
            # asyncio.Runner's close, after every test pytest-asyncio runs: no user line made it
            # (finding one would walk the whole test runner's stack), and no test owns it.
            task = super().create_task(coro, **kwargs)
            self.registry.record_unowned(task)
        else:
            make = super().create_task
            task = self.registry.make_task(lambda: make(coro, **kwargs))
        for hook in self._lw_on_task:
            hook(task)
        return task

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[_Ts]], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        handle = super().call_at(when, callback, *args, context=context)
        self.registry.record_timer(handle)
        return handle

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        future = super().run_in_executor(executor, func, *args)
        self._lw_table("_lw_executor_work")[future] = self.registry.origin_here()
        return future

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        origin = self.registry.origin_here()
        server = await super().create_server(*args, **kwargs)
        self._lw_table("_lw_servers")[server] = origin
        return server

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        origin = self.registry.origin_here()
        server = await super().create_unix_server(*args, **kwargs)
        self._lw_table("_lw_servers")[server] = origin
        return server

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: Any,
        sslcontext: Any = None,
        server: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # A connection a server accepts, and the tasks that serve it, belong to whoever created
        # the server (a session fixture's server keeps its handlers while tests come and go).
        origin = self._lw_servers.get(server) if server is not None else None
        if origin is None:
            return super()._accept_connection(  # type: ignore[misc]
                protocol_factory, sock, sslcontext, server, *args, **kwargs
            )
        registry = self.registry
        previous, registry.owner = registry.owner, origin.owner
        hint = SITE_HINT.set(origin)
        try:
            return super()._accept_connection(  # type: ignore[misc]
                protocol_factory, sock, sslcontext, server, *args, **kwargs
            )
        finally:
            registry.owner = previous
            SITE_HINT.reset(hint)

    def _make_socket_transport(
        self,
        sock: Any,
        protocol: Any,
        waiter: Any = None,
        *,
        extra: Any = None,
        server: Any = None,
        context: contextvars.Context | None = None,
    ) -> Any:
        # As BaseSelectorEventLoop does, with a transport that notes when it sends and receives.
        if sys.version_info >= (3, 12):
            self._ensure_fd_no_transport(sock)  # type: ignore[attr-defined]
        if context is None:
            transport = _WardenSocketTransport(self, sock, protocol, waiter, extra, server)
        else:
            # Python 3.15 runs a connection's protocol callbacks in the context it was made in.
            transport = _WardenSocketTransport(
                self, sock, protocol, waiter, extra, server, context=context
            )
        origin = self._lw_servers.get(server) if server is not None else None
        if origin is not None:
            self._lw_table("_lw_connections")[transport] = origin
            self.registry.touched.add(origin.owner)
            if context is not None:
                # 3.15 runs the connection's protocol callbacks (connection_made, which starts a
                # streams server's handler task) in the server's context: what the loop makes
                # there comes from the server too.
                try:
                    context.run(SITE_HINT.set, origin)
                except RuntimeError:  # (running in that context now)
                    SITE_HINT.set(origin)
        return transport

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        origin = self.registry.origin_here()
        transport, protocol = await super().create_connection(*args, **kwargs)
        self._lw_table("_lw_connections")[transport] = origin
        return transport, protocol

    async def create_unix_connection(self, *args: Any, **kwargs: Any) -> Any:
        origin = self.registry.origin_here()
        transport, protocol = await super().create_unix_connection(*args, **kwargs)
        self._lw_table("_lw_connections")[transport] = origin
        return transport, protocol

    async def create_datagram_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        origin = self.registry.origin_here()
        transport, protocol = await super().create_datagram_endpoint(*args, **kwargs)
        self._lw_table("_lw_connections")[transport] = origin
        return transport, protocol

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        origin = self.registry.origin_here()
        transport, protocol = await super().subprocess_exec(*args, **kwargs)
        self._lw_table("_lw_subprocesses")[transport] = origin
        return transport, protocol

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        origin = self.registry.origin_here()
        transport, protocol = await super().subprocess_shell(*args, **kwargs)
        self._lw_table("_lw_subprocesses")[transport] = origin
        return transport, protocol

    def abandon_default_executor(self) -> None:
        """Let :meth:`shutdown_default_executor` return without waiting for running work.

        For work that will never finish (a leaked job blocked forever), which would otherwise make
        ``asyncio.Runner.close`` wait forever; the job is reported, its thread left to finish.
        """
        executor = self._default_executor  # type: ignore[has-type]
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False, cancel_futures=True)

    def record_session(self, session: object, connector: object | None = None) -> None:
        """Record a library session made now, which must be closed (and the connector it owns).

        The leak engine reports one still open when its owner ends, with this creation record.
        """
        origin = self.registry.origin_here()
        self.registry.record_object(session, origin)
        if connector is not None:
            self.registry.record_object(connector, origin)
        self._lw_table("_lw_sessions")[session] = origin

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        # Kept where asyncio's default handler sees it: with no handler of its own set, every
        # context; with one (set_exception_handler), what that handler passes on to this default
        # (anyio's does, for what it does not raise itself) — what it handles is its own business
        # (a test asserting on what a library reported).
        exc = context.get("exception")
        session = context.get("client_session")
        if session is not None and self._lw_sessions:
            # The library reported it as it was freed (the report holds it, alive): that report
            # is its finding, not a second one for a session left open.
            self._lw_table("_lw_sessions").pop(session, None)
        if not (self.lw_cleaning and isinstance(exc, asyncio.CancelledError)):
            # (A CancelledError reported while loopwarden cancels what was left, as 3.11's
            # streams do for a server's handler task, is loopwarden's own doing.)
            captured = self.registry.capture(context)
            if self.is_closed():
                # Freed after the loop closed (a future the collector frees once its test's loop
                # is gone): no check reads this loop's registry again.
                self.registry.contexts.remove(captured)
                sink = self.after_close
                if sink is not None:
                    if captured.owner != FOUND_BY_GC:
                        origin = captured.origin
                        owner = origin.owner if origin is not None else None
                        captured.owner = owner if owner is not None else AFTER_CLOSE
                    sink(captured)
        super().default_exception_handler(context)

    # -- helpers for instruments ------------------------------------------------------------

    def run_step(self, awaitable: Awaitable[_T]) -> _T:
        """Run the loop until ``awaitable`` is done (``run_until_complete`` by another name)."""
        return self.run_until_complete(awaitable)

    def set_owner(self, owner: Hashable | None) -> Hashable | None:
        """Attribute what is created from now on to ``owner``; returns the previous owner."""
        previous = self.registry.owner
        self.registry.owner = owner
        return previous


_SocketTransport: Any = asyncio.selector_events._SelectorSocketTransport  # type: ignore[attr-defined]


class _WardenSocketTransport(_SocketTransport):  # type: ignore[misc]
    """A socket transport that notes when it last sent and received (real time).

    A connection that sent after it last received may be waiting for a reply: the quiet check
    holds the clock for it, when the peer is outside the loop.
    """

    _lw_sent = 0.0
    _lw_received = 0.0

    def write(self, data: Any) -> None:
        super().write(data)
        if data:
            self._lw_sent = _monotonic()
            self._loop._lw_table("_lw_writers").add(self)

    if "writelines" in vars(_SocketTransport):

        def writelines(self, list_of_data: Any) -> None:
            super().writelines(list_of_data)
            self._lw_sent = _monotonic()
            self._loop._lw_table("_lw_writers").add(self)

    def _read_ready__get_buffer(self) -> None:
        self._lw_received = _monotonic()
        super()._read_ready__get_buffer()

    def _read_ready__data_received(self) -> None:
        self._lw_received = _monotonic()
        super()._read_ready__data_received()


def is_shutdown_task(task: asyncio.Future[Any]) -> bool:
    """Does ``task`` run one of a loop's own shutdown coroutines (async generators, executor)?"""
    get_coro = getattr(task, "get_coro", None)
    return getattr(get_coro() if get_coro is not None else None, "cr_code", None) in _LOOP_SHUTDOWN


# Factories of the loop asyncio makes by default (on Unix, under asyncio's own policy).
_PLAIN_LOOP_FACTORIES: frozenset[object] = frozenset(
    f
    for f in (
        asyncio.new_event_loop,
        asyncio.SelectorEventLoop,
        getattr(asyncio, "EventLoop", None),  # 3.13+
    )
    if f is not None
)


def plain_loop_factory(factory: object) -> bool:
    """Whether ``factory`` makes asyncio's plain selector loop, which a WardenLoop is.

    A project asking for one (pytest-asyncio's ``pytest_asyncio_loop_factories``) can get a
    WardenLoop in its place. ``asyncio.new_event_loop`` counts only under asyncio's own policy
    (after ``uvloop.install()`` it makes uvloop's loop); on Windows none does (the plain loop
    there is the proactor loop).
    """
    if sys.platform == "win32":
        return False
    try:
        if factory not in _PLAIN_LOOP_FACTORIES:
            return False
    except TypeError:  # unhashable: not one of them
        return False
    if factory is not asyncio.new_event_loop:
        return True
    get_policy = getattr(asyncio, "get_event_loop_policy", None)
    if get_policy is None:  # Python 3.16+: no policies, new_event_loop is the plain loop
        return True
    with warnings.catch_warnings():  # deprecated since 3.14, and still what it follows
        warnings.simplefilter("ignore", DeprecationWarning)
        default = getattr(asyncio, "DefaultEventLoopPolicy", None)
        return default is not None and type(get_policy()) is default


def new_loop() -> WardenLoop:
    """Create a :class:`WardenLoop`; usable as ``loop_factory`` for :class:`asyncio.Runner`."""
    return WardenLoop()


#: Who makes a guarded loop now: the pytest plugin's loop guard while a session runs (the last
#: one set, for a session run inside another), none outside one.
GUARDED_FACTORIES: list[Callable[[], WardenLoop]] = []


def guarded_loop() -> WardenLoop:
    """A :class:`WardenLoop` for a test runner that makes its own loop, guarded by loopwarden.

    Give it where a runner takes a loop factory — anyio's backend options
    (``anyio_backend = ("asyncio", {"loop_factory": loopwarden.guarded_loop})``),
    ``asyncio.Runner(loop_factory=…)``, ``IsolatedAsyncioTestCase.loop_factory`` — in place of
    the event loop policy, which Python 3.14 deprecates and 3.16 removes. Inside a pytest session
    with loopwarden, what is created on the loop belongs to the running test and is checked for
    leaks at its end; elsewhere it is :func:`new_loop`.
    """
    return GUARDED_FACTORIES[-1]() if GUARDED_FACTORIES else WardenLoop()


def _install_quiet_select(loop: asyncio.AbstractEventLoop, on: bool) -> None:
    """A WardenLoop's quiet check puts its select wrapper in place (or takes it out) this way."""
    assert isinstance(loop, WardenLoop)
    loop._lw_quiet_select(on)
