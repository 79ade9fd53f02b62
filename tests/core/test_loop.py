"""WardenLoop records creation sites and owners, and its scheduler seam works."""

from __future__ import annotations

import asyncio
import collections
import functools
import gc
import socket
import sys
import threading
import weakref

import pytest

from loopwarden._core._clock import settle
from loopwarden._core._loop import WardenLoop, new_loop
from loopwarden._core._quiet import quiet_of
from loopwarden._core._registry import TaskOrigin
from loopwarden._core._sites import Site

HERE = __file__


def run(coro_fn, loop: WardenLoop | None = None):
    loop = loop or new_loop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def line_of(marker: str) -> int:
    with open(HERE) as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


def test_task_creation_site_and_owner_are_recorded():
    async def child():
        await asyncio.sleep(0)

    async def main(loop: WardenLoop):
        loop.set_owner("test-a")
        task = asyncio.create_task(child())  # SITE-TASK
        origin = loop.registry.origin_of(task)
        await task
        return origin

    origin = run(main)
    assert origin.site == Site(HERE, line_of("SITE-TASK"), "main")
    assert origin.owner == "test-a"
    assert origin.user_site is None
    assert origin.describe() == f"{HERE}:{line_of('SITE-TASK')} in main"


def test_a_task_inherits_the_owner_of_the_task_that_created_it():
    async def grandchild():
        await asyncio.sleep(0)

    async def child(out):
        out.append(asyncio.create_task(grandchild()))

    async def main(loop: WardenLoop):
        made = []
        loop.set_owner("fixture-x")
        await asyncio.create_task(child(made))
        loop.set_owner("test-b")  # a later test is current when the handler task spawns more
        await asyncio.create_task(child(made))
        await asyncio.gather(*made)
        return [loop.registry.origin_of(t).owner for t in made]

    # Tasks created inside a task are the creating task's; the main coroutine here is not a
    # loopwarden-recorded task, so its children take the owner current at the time.
    assert run(main) == ["fixture-x", "test-b"]


@pytest.mark.skipif(sys.version_info < (3, 14), reason="eager_start per call came in 3.14")
def test_what_an_eager_first_step_creates_is_its_creators():
    async def grandchild():
        await asyncio.sleep(0)

    async def child(out):
        out.append(asyncio.create_task(grandchild()))  # SITE-EAGER-CHILD
        await asyncio.sleep(0)

    async def dispatcher(loop: WardenLoop, made):
        await asyncio.sleep(0)  # the next test is current from here on
        await loop.create_task(child(made), eager_start=True)

    async def main(loop: WardenLoop):
        made = []
        loop.set_owner("fixture-x")
        task = asyncio.create_task(dispatcher(loop, made))
        loop.set_owner("test-b")
        await task
        await asyncio.gather(*made)
        return [(loop.registry.origin_of(t).owner, loop.registry.origin_of(t).site) for t in made]

    assert run(main) == [("fixture-x", Site(HERE, line_of("SITE-EAGER-CHILD"), "child"))]


def test_asyncio_runner_shutdown_tasks_belong_to_no_test():
    # asyncio.Runner (pytest-asyncio, unittest) closes every loop it made by running these two
    # coroutines on it: they are nobody's leak, and no user line made them.
    loop = new_loop()
    loop.set_owner("test-c")
    seen = []
    create_task = loop.create_task

    def recording(coro, **kwargs):
        task = create_task(coro, **kwargs)  # SITE-RECORDING
        seen.append((coro.__qualname__, loop.registry.origin_of(task)))
        return task

    loop.create_task = recording
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        runner.run(asyncio.sleep(0))
    # (the user's line is the wrapper's here: it calls create_task on the runner's behalf)
    assert [(name, origin.owner, origin.site) for name, origin in seen] == [
        ("sleep", "test-c", Site(HERE, line_of("SITE-RECORDING"), "recording")),
        ("BaseEventLoop.shutdown_asyncgens", None, None),
        ("BaseEventLoop.shutdown_default_executor", None, None),
    ]


def test_timer_sites_are_recorded():
    async def main(loop: WardenLoop):
        handle = loop.call_later(10, print)  # SITE-TIMER
        origin = loop.registry.origin_of(handle)
        handle.cancel()
        return origin

    origin = run(main)
    assert origin.site == Site(HERE, line_of("SITE-TIMER"), "main")


LIBRARY_CODE = """
def expire_later(cache, key, task):
    # A cache's done callback: once the task it caches is done, its entry expires in 60 s.
    cache["timer"] = task.get_loop().call_later(60, cache.pop, key, None)  # LIB-TIMER
"""


def test_a_timer_a_library_callback_makes_names_the_line_of_the_task_behind_it(
    tmp_path, monkeypatch
):
    # A library's done callback has no user line on its stack: the timer it made was "created at
    # cachelib.py:4" only. The user's line is where the task it was called for was made.
    from loopwarden._core import _sites

    library = tmp_path / "cachelib.py"
    library.write_text(LIBRARY_CODE)
    namespace: dict = {}
    exec(compile(LIBRARY_CODE, str(library), "exec"), namespace)
    monkeypatch.setitem(_sites._KINDS, str(library), _sites._LIBRARY)

    async def main(loop: WardenLoop):
        loop.registry.owner = "test-ttl"
        cache: dict = {}
        task = loop.create_task(asyncio.sleep(0))  # USER-TASK
        loop.registry.owner = "test-later"
        task.add_done_callback(functools.partial(namespace["expire_later"], cache, "k"))
        await task
        await asyncio.sleep(0)
        origin = loop.registry.origin_of(cache["timer"])
        cache["timer"].cancel()
        return origin

    origin = run(main)
    assert origin.site == Site(str(library), 4, "expire_later")
    assert origin.user_site == Site(HERE, line_of("USER-TASK"), "main")
    assert origin.owner == "test-ttl"  # the task's owner, not whoever is current


def test_a_loop_s_creation_records_are_freed_without_the_collector():
    # The table's removal callback held its data strongly: table and keys made a cycle, and a
    # dead loop's records waited for the cyclic collector.
    from loopwarden._core._registry import _OriginTable

    class Key:
        pass

    class Value:
        pass

    table = _OriginTable()
    key, value = Key(), Value()
    table[key] = value
    gone = weakref.ref(value)
    del table, value, key
    assert gone() is None


def test_exception_handler_contexts_are_captured_by_creation_owner(caplog):
    async def boom():
        raise ValueError("background failure")

    async def main(loop: WardenLoop):
        loop.set_owner("test-that-leaked")
        task = asyncio.create_task(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        loop.set_owner("test-that-notices")
        del task  # dropped unretrieved: the loop reports it when the task is collected
        import gc

        gc.collect()

    loop = new_loop()
    run(main, loop)
    contexts = loop.registry.take_contexts("test-that-leaked")
    assert [c.message for c in contexts] == ["Task exception was never retrieved"]
    assert isinstance(contexts[0].exception, ValueError)
    assert loop.registry.take_contexts("test-that-notices") == []
    # The context still reaches the default handler (which logs it).
    assert "Task exception was never retrieved" in caplog.text


def test_scheduler_seam_reorders_ready_batches_and_is_removable():
    class Reverse:
        calls = 0

        def reorder(self, ready: collections.deque) -> None:
            Reverse.calls += 1
            ready.reverse()

    order: list[int] = []

    def record(n: int) -> None:
        order.append(n)

    loop = new_loop()
    try:
        loop.set_scheduler(Reverse())
        for n in range(3):
            loop.call_soon(record, n)
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert order == [2, 1, 0]  # reversed batch: stop ran first, then the callbacks
        assert Reverse.calls >= 1
        loop.set_scheduler(None)
        assert "_run_once" not in loop.__dict__  # FIFO again, with CPython's own step
        order.clear()
        for n in range(3):
            loop.call_soon(record, n)
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert order == [0, 1, 2]
    finally:
        loop.close()


class CountIterations:
    """A scheduler that keeps FIFO order and counts the loop's iterations."""

    def __init__(self) -> None:
        self.iterations = 0

    def reorder(self, ready: collections.deque) -> None:
        self.iterations += 1


async def awaits_once() -> str:
    await asyncio.sleep(0)
    return "done"


def test_run_until_done_stops_in_the_iteration_the_future_completes():
    counts = {}
    for how in ("run_until_complete", "run_until_done"):
        loop = new_loop()
        try:
            counter = CountIterations()
            loop.set_scheduler(counter)
            task = loop.create_task(awaits_once())
            assert getattr(loop, how)(task) == "done"
            counts[how] = counter.iterations
            assert loop.__dict__["_run_once"] == loop._lw_run_once_scheduled  # scheduler kept
            loop.set_scheduler(None)
            assert "_run_once" not in loop.__dict__
        finally:
            loop.close()
    # run_until_complete waits one more iteration for its done callback.
    assert counts == {"run_until_complete": 3, "run_until_done": 2}


def test_run_until_done_runs_what_the_last_step_scheduled():
    ran: list[str] = []

    async def schedules_on_its_way_out() -> None:
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(ran.append, "callback")

    loop = new_loop()
    try:
        loop.run_until_done(loop.create_task(schedules_on_its_way_out()))
        assert ran == ["callback"]  # as run_until_complete would: one more iteration
        assert "_run_once" not in loop.__dict__
    finally:
        loop.close()


def test_run_until_done_gives_due_timers_and_io_their_iteration():
    # What run_until_complete's last iteration runs still runs: a timer that fell due and I/O
    # that became ready in the future's last step.
    ran: list[object] = []
    reader, writer = socket.socketpair()

    async def leaves_a_timer_and_a_byte() -> None:
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        loop.call_later(0, ran.append, "timer")
        writer.send(b"x")

    loop = new_loop()
    try:
        loop.add_reader(reader, lambda: ran.append(reader.recv(1)))
        loop.run_until_done(loop.create_task(leaves_a_timer_and_a_byte()))
        assert sorted(ran, key=str) == [b"x", "timer"]
        # Still watched, nothing to read: that extra iteration must not wait for it.
        waited: list[str] = []

        def waited_for_the_reader() -> None:
            waited.append("waited")
            loop.stop()

        safety = loop.call_later(5, waited_for_the_reader)
        loop.run_until_done(loop.create_task(asyncio.sleep(0)))
        assert waited == []
        safety.cancel()
        loop.remove_reader(reader)
        done = loop.create_future()
        done.set_result("already")
        assert loop.run_until_done(done) == "already"  # a done future: no iteration to wait on
    finally:
        loop.close()
        reader.close()
        writer.close()


def test_run_until_done_keeps_stopping_when_the_scheduler_changes_inside():
    loop = new_loop()
    late: list[str] = []

    async def swaps_schedulers() -> None:
        this = asyncio.get_running_loop()
        this.set_scheduler(CountIterations())
        await asyncio.sleep(0)
        this.set_scheduler(None)
        await asyncio.sleep(0)

    try:

        def ran_on() -> None:
            late.append("ran on")
            loop.stop()

        # Were the stop lost, the loop would run on until this timer.
        safety = loop.call_later(5, ran_on)
        loop.run_until_done(loop.create_task(swaps_schedulers()))
        assert late == []
        assert "_run_once" not in loop.__dict__
        safety.cancel()
    finally:
        loop.close()


def test_run_until_done_leaves_no_stop_behind_for_the_next_run():
    reader, writer = socket.socketpair()

    async def stops_the_loop_itself() -> None:
        await asyncio.sleep(0)
        asyncio.get_running_loop().stop()

    async def interrupts_after_it() -> None:
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_soon(_raise_keyboard_interrupt)

    loop = new_loop()
    try:
        loop.add_reader(reader, reader.recv, 1)  # watched: each run gets its extra iteration
        loop.run_until_done(loop.create_task(stops_the_loop_itself()))
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_done(loop.create_task(interrupts_after_it()))
        # Either run could have left its stop queued, ending this one after its first iteration.
        assert loop.run_until_done(loop.create_task(awaits_once())) == "done"
        loop.remove_reader(reader)
    finally:
        loop.close()
        reader.close()
        writer.close()


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def test_run_until_done_waits_for_a_step_the_scheduler_holds_back():
    class Holding(CountIterations):
        holding = 1  # as FuzzScheduler.holding: a task step it took out of the ready queue

    loop = new_loop()
    try:
        counter = Holding()
        loop.set_scheduler(counter)
        loop.run_until_done(loop.create_task(awaits_once()))
        assert counter.iterations == 3  # the held step gets its iteration, as before
    finally:
        loop.set_scheduler(None)
        loop.close()


def test_run_until_done_raises_as_run_until_complete():
    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    async def stops_the_loop() -> None:
        asyncio.get_running_loop().stop()
        await asyncio.sleep(1)  # sleep-ok: parked, cancelled below

    loop = new_loop()
    try:
        with pytest.raises(ValueError, match="boom"):
            loop.run_until_done(loop.create_task(fails()))
        task = loop.create_task(stops_the_loop())
        with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed\.$"):
            loop.run_until_done(task)
        task.cancel()
        loop.run_until_complete(asyncio.wait([task]))

        async def calls_it_from_inside() -> None:
            inner = loop.create_future()
            inner.set_result(None)
            with pytest.raises(RuntimeError, match=r"^This event loop is already running$"):
                loop.run_until_done(inner)
            await asyncio.sleep(0)

        # The run under way is not disturbed: it still ends when its own task is done.
        loop.run_until_done(loop.create_task(calls_it_from_inside()))
        assert "_run_once" not in loop.__dict__
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_until_done(loop.create_future())


def test_servers_connections_and_executor_work_are_recorded():
    async def main(loop: WardenLoop):
        loop.set_owner("net-test")
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = threading.Event()
        release = threading.Event()

        def work():
            started.set()
            release.wait(5)

        fut = loop.run_in_executor(None, work)
        server_origin = loop._lw_servers[server]
        conn_origin = loop._lw_connections[writer.transport]
        exec_origin = loop._lw_executor_work[fut]
        release.set()
        await fut
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return server_origin, conn_origin, exec_origin

    server_origin, conn_origin, exec_origin = run(main)
    assert {server_origin.owner, conn_origin.owner, exec_origin.owner} == {"net-test"}
    # start_server/open_connection live in asyncio: the site is the user's line that called them.
    assert server_origin.site.filename == HERE
    assert conn_origin.site.filename == HERE
    assert exec_origin.site.filename == HERE


def test_each_loop_makes_its_own_tables_at_their_first_entry():
    # Until something is recorded, a loop's tables are one shared, read-only empty stand-in: a
    # write that missed _lw_table would fail here rather than record into every loop at once.
    first, second = new_loop(), new_loop()
    try:
        for loop in (first, second):
            assert not loop._lw_servers and not loop._lw_connections and not loop._lw_writers
            assert dict(loop._lw_executor_work) == {}
            assert "_lw_servers" not in vars(loop)
        with pytest.raises(TypeError):
            first._lw_servers[object()] = None  # type: ignore[index]
        with pytest.raises(AttributeError, match=r"^WardenLoop has no weak table '_lw_server'$"):
            first._lw_table("_lw_server")

        async def serve_and_call():
            server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            return server, writer

        server, writer = first.run_until_complete(serve_and_call())
        assert list(first._lw_servers) == [server]
        assert writer.transport in first._lw_connections
        assert writer.transport in first._lw_writers
        assert not second._lw_servers and not second._lw_connections and not second._lw_writers

        async def close():
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()

        first.run_until_complete(close())
        # The registry's timer and library-object tables, likewise.
        timer = second.call_later(60, print)
        assert second.registry.origin_of(timer) is not None
        assert not first.registry._timers
        origin = TaskOrigin(None, "test_a")
        first.registry.record_object(server, origin)
        assert first.registry.origin_of(server) is origin
        assert not second.registry._objects
        timer.cancel()
    finally:
        first.close()
        second.close()


class _Reverse:
    def reorder(self, ready: collections.deque) -> None:
        ready.reverse()


@pytest.mark.parametrize(
    "state", ["fresh", "heartbeat on", "virtual time on", "settled", "scheduler set"]
)
def test_a_closed_loop_is_freed_at_once(state):
    # pytest-asyncio drops a loop per test: a reference cycle through the loop would leave each
    # one, and everything it holds, to the cyclic garbage collector.
    loop = new_loop()
    if state == "heartbeat on":
        assert loop.watch_blocks(0.5)
    elif state == "virtual time on":
        loop.set_virtual_time(True)
    elif state == "settled":
        loop.run_until_complete(settle())
    elif state == "scheduler set":
        loop.set_scheduler(_Reverse())
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    gone = weakref.ref(loop)
    collecting = gc.isenabled()
    gc.disable()
    try:
        del loop
        assert gone() is None
    finally:
        if collecting:
            gc.enable()


def test_the_quiet_check_of_a_plain_loop_does_not_keep_it_alive():
    loop = asyncio.new_event_loop()
    quiet = quiet_of(loop)
    assert quiet.loop is loop
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None
    with pytest.raises(RuntimeError, match=r"^this quiet check's event loop no longer exists$"):
        _ = quiet.loop


@pytest.mark.parametrize("marked_by", ["start counter", "thread set"])
def test_background_threads_are_those_alive_when_the_loop_was_made(marked_by, monkeypatch):
    # The quiet check's baseline is read at its first use, from a mark taken when the loop was
    # made: a thread started in between is not background.
    from loopwarden._core import _quiet
    from loopwarden._core._threads import record_thread_starts

    if marked_by == "thread set":
        monkeypatch.setattr(_quiet, "thread_mark", lambda: frozenset(threading.enumerate()))
    release = threading.Event()
    early = threading.Thread(target=release.wait, name="early")
    late = threading.Thread(target=release.wait, name="late")
    early.start()
    record_thread_starts(True)
    loop = new_loop()
    try:
        late.start()
        baseline = loop.quiet.baseline
        assert early.ident in baseline
        assert threading.main_thread().ident in baseline
        assert late.ident not in baseline
        loop.quiet.reset_baseline({1})
        assert loop.quiet.baseline == {1}
    finally:
        record_thread_starts(False)
        release.set()
        early.join()
        late.join()
        loop.close()


def test_new_loop_is_a_loop_factory():
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert isinstance(runner.get_loop(), WardenLoop)


@pytest.mark.parametrize("capture", [False, True])
def test_creation_stacks_only_when_asked(capture):
    async def main(loop: WardenLoop):
        loop.registry.capture_stacks = capture
        task = asyncio.create_task(asyncio.sleep(0))
        await task
        return loop.registry.origin_of(task)

    origin = run(main)
    if capture:
        assert origin.stack[-1].function == "create_task"
        assert any(s.function == "main" and s.filename == HERE for s in origin.stack)
    else:
        assert origin.stack == ()


def test_an_echo_round_trip_over_tcp():
    """Every client and server connection goes through WardenLoop._make_socket_transport (Python
    3.15 passes it the connection's context: it failed there with a TypeError)."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main(loop: WardenLoop) -> bytes:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        reply = await reader.readline()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return reply

    assert run(main) == b"ping\n"


def test_make_socket_transport_takes_what_asyncio_passes():
    """A private-asyncio canary: WardenLoop overrides _make_socket_transport, so a new Python that
    passes it a new argument breaks this test, not a user's suite."""
    import inspect

    base = inspect.signature(asyncio.selector_events.BaseSelectorEventLoop._make_socket_transport)
    ours = inspect.signature(WardenLoop._make_socket_transport)
    assert [(p.name, p.kind) for p in base.parameters.values()] == [
        (p.name, p.kind) for p in ours.parameters.values()
    ][: len(base.parameters)]
    assert set(ours.parameters) - set(base.parameters) <= {"context"}


def test_instruments_hear_of_tasks_and_real_waits_and_cost_nothing_once_removed():
    loop = new_loop()
    heard: list[tuple[str, object]] = []

    class Instrument:
        def task_created(self, task):
            # (asyncio.create_task(name=...) names a task after the loop made it, on 3.11.)
            heard.append(("task", task.get_coro().__name__))

        def before_select(self, timeout):
            heard.append(("before", timeout))

        def after_select(self, timeout, events):
            heard.append(("after", (timeout, len(events))))

    class OnlyTasks:
        def task_created(self, task):
            heard.append(("only-tasks", task.get_coro().__name__))

    async def main():
        asyncio.create_task(asyncio.sleep(0))
        await asyncio.sleep(0.01)  # sleep-ok: the real timer wait the instrument must see

    instrument, only_tasks = Instrument(), OnlyTasks()
    try:
        loop.add_instrument(instrument)
        loop.add_instrument(only_tasks)
        loop.add_instrument(instrument)  # (once is enough)
        # No heartbeat and no virtual time: the instrumented select is the selector's own.
        assert loop._selector.select == loop._lw_instrumented_select
        loop.run_until_complete(main())
        tasks = [what for kind, what in heard if kind in ("task", "only-tasks")]
        assert tasks == ["main", "main", "sleep", "sleep"]
        waits = [what for kind, what in heard if kind == "after"]
        assert any(timeout and timeout > 0 and events == 0 for timeout, events in waits), waits
        assert heard.count(("before", 0)) == heard.count(("after", (0, 0)))
        loop.remove_instrument(instrument)
        loop.remove_instrument(instrument)  # (nothing happens)
        assert "select" not in vars(loop._selector)  # the selector's own select() again
        heard.clear()
        loop.run_until_complete(main())
        assert [kind for kind, _ in heard] == ["only-tasks", "only-tasks"]
        loop.remove_instrument(only_tasks)
        assert (loop._lw_on_task, loop._lw_on_select) == ((), None)
    finally:
        loop.close()


def test_a_wait_cut_short_by_an_exception_still_ends_for_the_instruments():
    """The watchdog's HangInterrupt (a signal handler raising inside select) ends a wait; the
    doctor's timer accounting must hear of it, with no event."""
    loop = new_loop()
    heard: list[tuple[float | None, int]] = []

    class Instrument:
        def after_select(self, timeout, events):
            heard.append((timeout, len(events)))

    loop.add_instrument(Instrument())
    raw = loop._lw_raw_select

    def select(timeout=None):
        if timeout:  # the wait for the timer below: cut short
            raise KeyboardInterrupt
        return raw(timeout)

    loop._lw_raw_select = select
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(3600))  # sleep-ok: never waited for
        assert heard[-1][1] == 0
        assert heard[-1][0] is not None and heard[-1][0] > 3000
    finally:
        loop._lw_raw_select = raw
        loop.close()


def test_instruments_see_the_waits_under_the_heartbeat_and_the_quiet_check():
    """Whichever select wrappers are on (the blocking check's, virtual time's), the real wait is
    the instrument's; a closed loop drops its instruments."""
    loop = new_loop()
    waited: list[float | None] = []

    class Instrument:
        def after_select(self, timeout, events):
            waited.append(timeout)

    loop.watch_blocks(10.0)
    loop.add_instrument(Instrument())
    loop.run_until_complete(asyncio.sleep(0.01))  # sleep-ok: a real timer wait to see
    assert any(timeout for timeout in waited)
    waited.clear()
    loop.set_virtual_time(True)
    loop.run_until_complete(asyncio.sleep(3600))  # sleep-ok: virtual, the clock jumps
    assert all(not timeout or timeout < 1 for timeout in waited), waited
    loop.set_virtual_time(False)
    loop.watch_blocks(None)
    loop.close()
    assert loop._lw_instruments == ()
