"""leftovers() finds what an owner left alive; the leak engine finds the threads started since a
mark."""

from __future__ import annotations

import asyncio
import threading

from loopwarden._core._leaks import _new_threads
from loopwarden._core._lifecycle import cancel_tasks, close_loop
from loopwarden._core._loop import new_loop
from loopwarden._core._snapshot import leftovers
from loopwarden._core._threads import thread_mark

HERE = __file__


def test_leftovers_lists_each_kind_with_its_site():
    loop = new_loop()
    parked = asyncio.Event()

    async def forever():
        await parked.wait()

    async def the_test():
        loop.set_owner("t1")
        asyncio.create_task(forever(), name="bg-worker")
        loop.call_later(30, print, "late")
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        return server

    server = loop.run_until_complete(the_test())
    left = leftovers(loop, "t1")
    assert [(t.name, t.coro) for t in left.tasks] == [
        ("bg-worker", "test_leftovers_lists_each_kind_with_its_site.<locals>.forever")
    ]
    # The task is parked in forever() -> Event.wait()
    assert [s.function for s in left.tasks[0].parked_at] == ["forever", "wait"]
    assert [t.callback for t in left.timers] == ["print"]
    assert left.timers[0].origin.site.function == "the_test"
    assert [r.kind for r in left.resources] == ["server"]
    assert left.resources[0].description.startswith("server on ('127.0.0.1', ")
    assert left.count() == 3
    assert not leftovers(loop, "another-test")
    server.close()
    report = close_loop(loop)
    assert [t.name for t in report.cancelled] == ["bg-worker"]
    assert report.resisted == []


def test_sleeping_task_is_reported_as_task_not_as_its_timer():
    loop = new_loop()

    async def the_test():
        loop.set_owner("t2")
        asyncio.create_task(asyncio.sleep(100))  # sleep-ok: the leftover under test
        await asyncio.sleep(0)

    loop.run_until_complete(the_test())
    left = leftovers(loop, "t2")
    assert len(left.tasks) == 1
    assert left.timers == []
    close_loop(loop)


def test_a_task_that_resists_cancellation_is_reported_not_awaited_forever():
    loop = new_loop()
    stop = asyncio.Event()

    async def stubborn():
        while not stop.is_set():
            try:
                await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard
            except asyncio.CancelledError:
                pass

    async def start():
        return asyncio.create_task(stubborn(), name="stubborn")

    task = loop.run_until_complete(start())
    report = cancel_tasks(loop, [task], timeout=0.05)
    assert [t.name for t in report.resisted] == ["stubborn"]
    stop.set()
    task.cancel()
    loop.run_until_complete(asyncio.wait([task]))
    close_loop(loop)


def test_new_threads_are_found_and_executor_workers_are_not():
    loop = new_loop()
    before = thread_mark()
    release = threading.Event()

    def idle():
        release.wait(10)

    thread = threading.Thread(target=idle, name="stray")
    thread.start()
    loop.run_until_complete(loop.run_in_executor(None, lambda: None))
    try:
        found = _new_threads(before, set())
        assert [(t.name, t.target) for t in found] == [
            ("stray", "test_new_threads_are_found_and_executor_workers_are_not.<locals>.idle")
        ]
    finally:
        release.set()
        thread.join()
    assert not _new_threads(before, set())
    close_loop(loop)


def test_close_loop_cancels_in_real_time_and_fifo_order():
    """A loop closed while a test's virtual time or fuzz schedule is still on (the plugins switch
    them off after the runner's teardown): what resists cancellation gets real seconds."""
    from loopwarden._core._fuzz import FuzzScheduler

    loop = new_loop()
    loop.set_virtual_time(True)
    loop.set_scheduler(FuzzScheduler(1))
    seen = []

    async def parked():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append((loop.virtual_time, loop._lw_scheduler))
            raise

    task = loop.create_task(parked())
    loop.run_until_complete(asyncio.sleep(0))
    close_loop(loop)
    assert task.cancelled()
    assert seen == [(False, None)]
