"""Canaries for the private details of asyncio, threading and warnings that loopwarden relies on.

One test per detail, named for it, asserting the behaviour loopwarden needs: the readers in
``loopwarden._core._private``, the base-class internals ``WardenLoop`` overrides or reads
(``_loop.py``), and what the await-chain walker steps through (``_tasks.py``). A new Python that
changes one breaks a named test here, rather than a user's suite.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.selector_events
import concurrent.futures
import contextlib
import gc
import inspect
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

import loopwarden
from loopwarden._core import _private
from loopwarden._core._loop import new_loop

POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY
TASK_TYPES = [
    pytest.param(task_type, id=name)
    for name in ("_CTask", "_PyTask")
    if (task_type := getattr(asyncio.tasks, name, None)) is not None
]
FUTURE_TYPES = [
    pytest.param(future_type, id=name)
    for name in ("_CFuture", "_PyFuture")
    if (future_type := getattr(asyncio.futures, name, None)) is not None
]
LOOP_FACTORIES = [
    pytest.param(asyncio.new_event_loop, id="asyncio"),
    pytest.param(new_loop, id="WardenLoop"),
]
# The C types that drive an async generator (loopwarden._core._tasks._DRIVERS).
ASEND, ATHROW, ANEXT = "async_generator_asend", "async_generator_athrow", "anext_awaitable"
CONTEXT_AWARE_WARNINGS = bool(getattr(sys.flags, "context_aware_warnings", False))


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def params(function):
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@contextlib.asynccontextmanager
async def connection():
    """A loopback TCP connection: the client's reader and writer (the server sends b"x")."""
    accepted = []

    def serve(reader, writer):
        accepted.append(writer)
        writer.write(b"x")

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    try:
        await reader.readexactly(1)
        yield reader, writer
    finally:
        for w in [writer, *accepted]:
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()


# -- _private: tasks and futures --------------------------------------------------------------


def test_running_loop_is_the_running_loop_or_none(loop):
    async def main():
        return _private.running_loop()

    assert _private.running_loop() is None
    assert loop.run_until_complete(main()) is loop
    assert _private.running_loop() is None


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_waiter_is_the_future_a_task_awaits(loop, task_type):
    async def main():
        event = asyncio.Event()
        waiting = task_type(event.wait(), loop=loop)
        assert _private.waiter(waiting) is None  # ready to start
        await asyncio.sleep(0)
        future = _private.waiter(waiting)
        assert isinstance(future, asyncio.Future)
        assert not future.done()
        outer = task_type(_await(waiting), loop=loop)
        await asyncio.sleep(0)
        assert _private.waiter(outer) is waiting
        event.set()
        assert future.done()  # the very future Event.set() resolves
        await outer
        assert _private.waiter(waiting) is None
        assert _private.waiter(outer) is None

    loop.run_until_complete(main())


def test_gather_children_are_the_gathered_futures(loop):
    first, second = loop.create_future(), loop.create_future()
    gathered = asyncio.gather(first, second)
    children = _private.gather_children(gathered)
    assert children is not None
    assert [id(child) for child in children] == [id(first), id(second)]
    assert _private.gather_children(first) is None
    first.set_result(1)
    second.set_result(2)
    assert loop.run_until_complete(gathered) == [1, 2]


@pytest.mark.parametrize("future_type", FUTURE_TYPES)
def test_exception_unread_until_someone_retrieves_it(loop, future_type):
    future = future_type(loop=loop)
    assert not _private.exception_unread(future)
    future.set_exception(ValueError("nobody looked"))
    assert _private.exception_unread(future)
    future.exception()
    assert not _private.exception_unread(future)


@pytest.mark.parametrize("future_type", FUTURE_TYPES)
def test_raised_says_a_future_failed_without_retrieving_its_exception(loop, future_type):
    future = future_type(loop=loop)
    assert not _private.raised(future)
    future.set_exception(ValueError("nobody looked"))
    assert _private.raised(future)
    assert _private.exception_unread(future)  # (still logged when it dies)
    future.exception()
    done = future_type(loop=loop)
    done.set_result(1)
    assert not _private.raised(done)


# -- _private: the loop ---------------------------------------------------------------------


def test_timers_are_the_loops_timer_heap_cancelled_ones_included(loop):
    late = loop.call_later(60, int)
    early = loop.call_later(30, int)
    assert _private.timers(loop)[0] is early
    assert any(handle is late for handle in _private.timers(loop))
    early.cancel()
    late.cancel()
    assert _private.timers(loop)[0] is early
    assert early.cancelled()


def test_ready_holds_the_callbacks_of_the_next_iteration(loop):
    handle = loop.call_soon(int)
    assert _private.ready(loop)[-1] is handle
    loop.run_until_complete(asyncio.sleep(0))
    assert all(h is not handle for h in _private.ready(loop))


@pytest.mark.parametrize("factory", LOOP_FACTORIES)
def test_selector_loop_is_true_for_selector_loops_only(factory):
    selector_loop = factory()
    try:
        assert _private.selector_loop(selector_loop)
    finally:
        selector_loop.close()
    assert not _private.selector_loop(object())


def test_selector_selects_and_maps_the_watched_files(loop):
    selector = _private.selector(loop)
    assert selector.select(0) == []
    assert len(selector.get_map()) >= 1  # (at least the self-pipe)
    assert _private.selector(object()) is None


def test_self_pipe_is_a_socket_the_selector_watches(loop):
    fileno = _private.self_pipe(loop).fileno()
    assert isinstance(fileno, int)
    assert fileno in _private.selector(loop).get_map()


@pytest.mark.parametrize("factory", LOOP_FACTORIES)
def test_transports_map_a_connections_fd_to_its_transport(factory):
    async def main():
        async with connection() as (_, writer):
            transport = writer.transport
            fd = transport.get_extra_info("socket").fileno()
            return _private.transports(running)[fd] is transport

    running = factory()
    try:
        assert running.run_until_complete(main())
    finally:
        running.close()


def test_loop_thread_is_the_running_thread_or_none(loop):
    async def main():
        return _private.loop_thread(loop)

    assert _private.loop_thread(loop) is None
    assert loop.run_until_complete(main()) == threading.get_ident()
    assert _private.loop_thread(loop) is None


def test_callback_of_and_arguments_of_a_handle_until_it_is_cancelled(loop):
    def callback(*args):
        pass

    handle = loop.call_soon(callback, 1, 2)
    assert _private.callback_of(handle) is callback
    assert _private.arguments_of(handle) == (1, 2)
    handle.cancel()
    assert _private.callback_of(handle) is None
    assert _private.arguments_of(handle) == ()


def test_thread_target_is_the_target_until_the_thread_ends():
    def work():
        pass

    thread = threading.Thread(target=work)
    assert _private.thread_target(thread) is work
    thread.start()
    thread.join()
    assert _private.thread_target(thread) is None


# -- _private: warnings and asyncio.run -------------------------------------------------------


def test_warnings_context_is_none_where_warnings_are_process_wide():
    if CONTEXT_AWARE_WARNINGS:
        assert _private.WARNINGS_CONTEXT is not None
    else:
        assert _private.WARNINGS_CONTEXT is None


@pytest.mark.skipif(sys.version_info < (3, 14), reason="context-aware warnings came in 3.14")
def test_warnings_context_holds_the_filters_catch_warnings_sets():
    code = """if True:
        import contextvars, warnings
        from loopwarden._core._private import WARNINGS_CONTEXT as var
        outside = var.get(None)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            inside = var.get()
            assert inside is not outside
            contextvars.Context().run(warnings.warn, "not carried")
            carried = contextvars.Context()
            carried.run(var.set, inside)
            try:
                carried.run(warnings.warn, "carried")
            except UserWarning:
                pass
            else:
                raise AssertionError("the filters did not travel with the variable")
        assert var.get(None) is not inside
    """
    src = str(Path(loopwarden.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-X", "context_aware_warnings=1", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_warning_shower_is_the_recorder_while_warnings_are_recorded():
    # (With context-aware warnings, catch_warnings records into the context: the same holds.)
    before = _private.warning_shower()
    with warnings.catch_warnings():
        assert _private.warning_shower() == before  # filters only: the same recorder
    with warnings.catch_warnings(record=True) as log:
        recorder = _private.warning_shower()
        assert recorder != before
        recorder(warnings.WarningMessage(UserWarning("shown"), UserWarning, "here.py", 1))
        assert len(log) == 1
    assert _private.warning_shower() == before


def test_wrap_warning_shower_sees_every_shown_warning_and_undoes():
    original = warnings._showwarnmsg
    seen = []

    def wrap(show):
        def wrapper(message):
            seen.append(str(message.message))
            show(message)

        return wrapper

    undo = _private.wrap_warning_shower(wrap)
    try:
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always")
            warnings.warn("shown", UserWarning, stacklevel=1)
    finally:
        undo()
    assert seen == ["shown"]
    assert len(log) == 1
    assert warnings._showwarnmsg is original


def test_wrap_warning_shower_undo_leaves_a_later_wrapper_alone():
    original = warnings._showwarnmsg
    undo_first = _private.wrap_warning_shower(lambda show: lambda message: show(message))
    undo_second = _private.wrap_warning_shower(lambda show: lambda message: show(message))
    second = warnings._showwarnmsg
    try:
        undo_first()
        assert warnings._showwarnmsg is second
    finally:
        undo_second()
        undo_first()
    assert warnings._showwarnmsg is original


@pytest.mark.parametrize("how", ["asyncio.run", "Runner.close"])
def test_wrap_runner_cancel_runs_before_the_runner_cancels_the_tasks(how):
    original = _private.runner_cancel()
    assert original is not None
    left = []
    called = []

    async def main():
        left.append(asyncio.create_task(asyncio.Event().wait()))
        return asyncio.get_running_loop()

    def wrap(cancel):
        def wrapper(loop):
            called.append((loop, loop.is_closed(), left[0].done()))
            cancel(loop)

        return wrapper

    undo = _private.wrap_runner_cancel(wrap)
    assert undo is not None
    try:
        if how == "asyncio.run":
            ran_on = asyncio.run(main())
        else:
            with asyncio.Runner() as runner:
                ran_on = runner.run(main())
    finally:
        undo()
    assert called == [(ran_on, False, False)]
    assert left[0].cancelled()
    assert _private.runner_cancel() is original


# -- _tasks: what the await-chain walker steps through ----------------------------------------


def _inner():
    yield


class _Parked:
    """A generator-based awaitable, parked in the generator it delegates to."""

    def __await__(self):
        return (yield from _inner())


async def _parked_agen():
    await _Parked()
    yield


class _ParkedIterator:
    def __aiter__(self):
        return self

    async def __anext__(self):
        await _Parked()


async def _iterate(agen):
    async for _ in agen:
        pass


async def _anext(iterator):
    await anext(iterator, None)


async def _await(awaitable):
    await awaitable


def _suspended(coro):
    coro.send(None)
    return coro


def test_async_for_awaits_an_async_generator_asend_that_refers_to_the_generator():
    agen = _parked_agen()
    coro = _suspended(_iterate(agen))
    try:
        driver = coro.cr_await
        assert type(driver).__name__ == ASEND
        assert agen in gc.get_referents(driver)
    finally:
        coro.close()
    step = anext(_parked_agen())  # (anext() without a default is the generator's asend)
    assert type(step).__name__ == ASEND
    step.close()  # (3.14+ warns of an asend never awaited)


def test_athrow_and_aclose_are_async_generator_athrow_that_refer_to_the_generator():
    agen = _parked_agen()
    for driver in (agen.athrow(ValueError()), agen.aclose()):
        assert type(driver).__name__ == ATHROW
        assert agen in gc.get_referents(driver)
        driver.close()


def test_anext_with_a_default_is_an_anext_awaitable_around_the_asend():
    agen = _parked_agen()
    coro = _suspended(_anext(agen))
    try:
        driver = coro.cr_await
        assert type(driver).__name__ == ANEXT
        (asend,) = (r for r in gc.get_referents(driver) if type(r).__name__ == ASEND)
        assert agen in gc.get_referents(asend)
    finally:
        coro.close()


def test_anext_of_an_async_iterator_refers_to_its_anext_coroutine():
    coro = _suspended(_anext(_ParkedIterator()))
    try:
        driver = coro.cr_await
        assert type(driver).__name__ == ANEXT
        stepped = [r for r in gc.get_referents(driver) if hasattr(r, "cr_frame")]
        assert [c.cr_code.co_name for c in stepped] == ["__anext__"]
    finally:
        coro.close()


def test_cr_await_is_the_coroutine_a_coroutine_awaits():
    agen = _parked_agen()
    inner = _iterate(agen)
    coro = _suspended(_await(inner))
    try:
        assert coro.cr_frame is not None
        assert coro.cr_await is inner
    finally:
        coro.close()


def test_ag_await_is_what_an_async_generator_awaits():
    agen = _parked_agen()
    coro = _suspended(_iterate(agen))
    try:
        assert agen.ag_frame is not None
        assert agen.ag_await.gi_code is _Parked.__await__.__code__
    finally:
        coro.close()


def test_gi_yieldfrom_is_the_generator_a_generator_delegates_to():
    agen = _parked_agen()
    coro = _suspended(_iterate(agen))
    try:
        parked = agen.ag_await
        assert parked.gi_frame is not None
        assert parked.gi_yieldfrom.gi_code is _inner.__code__
    finally:
        coro.close()


# -- read outside _private.py: what task steps and timers call ---------------------------------


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_a_task_steps_through_a_handle_whose_callback_has_the_task_as_self(loop, task_type):
    task = task_type(asyncio.sleep(0), loop=loop)
    assert _private.callback_of(_private.ready(loop)[-1]).__self__ is task
    loop.run_until_complete(task)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_asyncio_sleep_wakes_its_task_with_set_result_unless_cancelled(loop, task_type):
    task = task_type(asyncio.sleep(60), loop=loop)  # sleep-ok: parked, then cancelled
    loop.run_until_complete(asyncio.sleep(0))
    (timer,) = _private.timers(loop)
    assert _private.callback_of(timer).__qualname__ == "_set_result_unless_cancelled"
    future = _private.arguments_of(timer)[0]
    assert [callback.__self__ for callback, _ in future._callbacks] == [task]
    assert _private.sleeping_task(timer) is task
    assert _private.callback_of(timer).__name__ in _private.WAKE_UP_CALLBACKS
    task.cancel()
    loop.run_until_complete(asyncio.wait([task]))


def test_asyncio_wait_times_out_with_release_waiter(loop):
    async def main():
        never = loop.create_future()
        waiting = asyncio.create_task(asyncio.wait([never], timeout=60))
        await asyncio.sleep(0)
        names = [_private.callback_of(h).__name__ for h in _private.timers(loop)]
        assert [_private.sleeping_task(h) for h in _private.timers(loop)] == [None]
        assert set(names) <= _private.WAKE_UP_CALLBACKS
        waiting.cancel()
        never.cancel()
        return names

    assert loop.run_until_complete(main()) == ["_release_waiter"]


# -- _loop: the base-class internals WardenLoop overrides or reads -----------------------------


def test_base_make_socket_transport_takes_what_warden_loop_overrides():
    # (test_loop.py checks that WardenLoop's override matches the base; this pins the base.)
    expected = [
        ("self", POSITIONAL),
        ("sock", POSITIONAL),
        ("protocol", POSITIONAL),
        ("waiter", POSITIONAL),
        ("extra", KEYWORD),
        ("server", KEYWORD),
    ]
    if sys.version_info >= (3, 15):
        expected.append(("context", KEYWORD))
    base = asyncio.selector_events.BaseSelectorEventLoop._make_socket_transport
    assert params(base) == expected


def test_selector_socket_transport_takes_what_warden_loop_passes():
    expected = ["self", "loop", "sock", "protocol", "waiter", "extra", "server"]
    if sys.version_info >= (3, 15):
        expected.append("context")
    init = asyncio.selector_events._SelectorSocketTransport.__init__
    assert [name for name, _ in params(init)] == expected


def test_selector_socket_transport_reads_through_its_read_ready_methods(loop, monkeypatch):
    cls = asyncio.selector_events._SelectorSocketTransport
    assert params(cls._read_ready__get_buffer) == [("self", POSITIONAL)]
    assert params(cls._read_ready__data_received) == [("self", POSITIONAL)]
    original = cls._read_ready__data_received
    reads = []

    def counted(self):
        reads.append(self)
        original(self)

    monkeypatch.setattr(cls, "_read_ready__data_received", counted)

    async def main():
        async with connection() as (_, writer):
            return any(transport is writer.transport for transport in reads)

    assert loop.run_until_complete(main())


@pytest.mark.skipif(sys.version_info < (3, 12), reason="WardenLoop calls it on 3.12+ only")
def test_ensure_fd_no_transport_refuses_an_fd_in_use(loop):
    assert params(asyncio.selector_events.BaseSelectorEventLoop._ensure_fd_no_transport) == [
        ("self", POSITIONAL),
        ("fd", POSITIONAL),
    ]

    async def main():
        async with connection() as (_, writer):
            with pytest.raises(RuntimeError):
                loop._ensure_fd_no_transport(writer.transport.get_extra_info("socket"))

    loop.run_until_complete(main())


def test_accept_connection_takes_the_server_fourth():
    accept = asyncio.selector_events.BaseSelectorEventLoop._accept_connection
    assert params(accept)[:5] == [
        (name, POSITIONAL) for name in ("self", "protocol_factory", "sock", "sslcontext", "server")
    ]


def test_run_forever_calls_run_once_through_the_instance(loop):
    assert params(asyncio.base_events.BaseEventLoop._run_once) == [("self", POSITIONAL)]
    base = loop._run_once
    steps = []

    def step():
        steps.append(loop.time())
        base()

    loop._run_once = step
    loop.run_until_complete(asyncio.sleep(0))
    assert steps


def test_run_once_calls_select_through_the_selector_instance(loop):
    selector = _private.selector(loop)
    select = selector.select
    timeouts = []

    def counted(timeout=None):
        timeouts.append(timeout)
        return select(timeout)

    selector.select = counted
    try:
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        del selector.select
    assert timeouts


def test_stopping_is_true_in_the_iteration_that_called_stop(loop):
    seen = []

    def stop():
        loop.stop()
        seen.append(loop._stopping)

    assert loop._stopping is False
    loop.call_soon(stop)
    loop.run_forever()
    assert seen == [True]
    assert loop._stopping is False


def test_default_executor_is_made_by_run_in_executor_and_can_be_dropped(loop):
    assert loop._default_executor is None
    assert loop.run_until_complete(loop.run_in_executor(None, int)) == 0
    executor = loop._default_executor
    assert isinstance(executor, concurrent.futures.ThreadPoolExecutor)
    loop._default_executor = None  # as WardenLoop.abandon_default_executor does
    executor.shutdown(wait=True)
    loop.run_until_complete(loop.shutdown_default_executor())
    assert loop._default_executor is None


def test_clock_resolution_is_a_small_positive_float(loop):
    assert 0 < loop._clock_resolution < 1
