"""Virtual time, settle and eventually, without pytest's help: the core API on a WardenLoop."""

from __future__ import annotations

import asyncio
import queue
import re
import socket
import threading
import time

import pytest

import loopwarden
from loopwarden import (
    Clock,
    EventuallyTimeout,
    LoopIdle,
    SettleTimeout,
    eventually,
    settle,
    virtual_time,
)
from loopwarden._core._threads import working

HERE = __file__


def run(main, loop_factory=loopwarden.new_loop):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


def line_of(marker: str) -> int:
    with open(HERE) as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


# -- virtual time --------------------------------------------------------------------------------


def test_sleep_and_timeouts_fire_in_virtual_time():
    async def main():
        loop = asyncio.get_running_loop()
        with virtual_time() as clock:
            start = clock.now()
            await asyncio.sleep(3600)
            after_sleep = clock.now() - start
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), 30)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(45):
                    await asyncio.Event().wait()
            fired = []
            loop.call_later(7, fired.append, "later")
            loop.call_at(loop.time() + 3, fired.append, "at")
            await asyncio.sleep(10)
            return after_sleep, clock.skipped, fired

    after_sleep, skipped, fired = run(main)
    assert after_sleep == pytest.approx(3600)
    assert skipped == pytest.approx(3600 + 30 + 45 + 10)
    assert fired == ["at", "later"]


def test_the_clock_stands_still_while_callbacks_run_and_never_goes_back():
    async def main():
        loop = asyncio.get_running_loop()
        before = loop.time()
        with virtual_time():
            frozen = loop.time()
            sum(range(200_000))  # real time passes; virtual time does not
            still = loop.time()
            await asyncio.sleep(100)
            moved = loop.time()
        after = loop.time()
        return before <= frozen, frozen == still, moved - frozen, after >= moved, loop.virtual_time

    assert run(main) == (True, True, pytest.approx(100), True, False)


def test_executor_work_inside_wait_for_completes():
    async def main():
        loop = asyncio.get_running_loop()
        with virtual_time() as clock:
            work = loop.run_in_executor(None, lambda: time.sleep(0.2) or "done")  # sleep-ok: work
            result = await asyncio.wait_for(work, 5)
            return result, clock.skipped

    assert run(main) == ("done", 0.0)


def test_a_thread_calling_back_inside_wait_for_completes():
    async def main():
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def worker():
            time.sleep(0.2)  # sleep-ok: the real work a thread does before it calls back
            loop.call_soon_threadsafe(future.set_result, "called back")

        with virtual_time() as clock:
            thread = threading.Thread(target=worker)
            thread.start()
            result = await asyncio.wait_for(future, 5)
            thread.join()
            return result, clock.skipped

    assert run(main) == ("called back", 0.0)


def test_a_server_outside_the_loop_answers_inside_wait_for():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            time.sleep(0.3)  # sleep-ok: a slow server outside the loop
            conn.sendall(b"pong\n")

    server = threading.Thread(target=serve, daemon=True)

    async def main():
        with virtual_time() as clock:
            server.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping\n")
            line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            await writer.wait_closed()
            return line, clock.skipped

    try:
        assert run(main) == (b"pong\n", 0.0)
    finally:
        listener.close()


def test_a_server_on_the_same_loop_sleeps_in_virtual_time():
    async def handle(reader, writer):
        await reader.readline()
        await asyncio.sleep(2)  # the server's own delay is virtual too
        writer.write(b"late pong\n")
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with virtual_time() as clock:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"ping\n")
            line = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return line, clock.skipped

    assert run(main) == (b"late pong\n", pytest.approx(2.0))


def test_a_parked_thread_does_not_hold_the_clock():
    jobs: queue.Queue[object] = queue.Queue()
    thread = threading.Thread(target=jobs.get, name="parked-consumer")

    async def main():
        with virtual_time() as clock:
            thread.start()
            await eventually(lambda: working(thread) is None)
            await asyncio.sleep(60)
            return clock.skipped

    try:
        assert run(main) == pytest.approx(60, abs=0.1)  # less a confirming poll of real time
    finally:
        jobs.put(None)
        thread.join()


def test_threads_are_working_or_parked():
    release = threading.Event()
    sleeper = threading.Thread(target=release.wait, args=(30,), name="timed-wait")
    parked = threading.Thread(target=release.wait, name="parked")

    async def main():
        sleeper.start()
        parked.start()
        await eventually(lambda: working(parked) is None)
        return working(sleeper)

    try:
        assert run(main) == "waiting with a timeout"
    finally:
        release.set()
        sleeper.join()
        parked.join()
    assert working(sleeper) is None  # finished


def test_monotonic_follows_the_loop_only_when_asked_and_only_in_its_thread():
    async def main():
        seen = {}
        with virtual_time():
            start = time.monotonic()
            await asyncio.sleep(500)
            seen["plain"] = time.monotonic() - start < 60
        with virtual_time(monotonic=True) as clock:
            start = time.monotonic()
            await asyncio.sleep(500)
            seen["followed"] = time.monotonic() - start
            seen["same"] = time.monotonic() == clock.now()
            other = await asyncio.to_thread(time.monotonic)
            seen["other thread real"] = abs(other - clock.now()) > 400
        seen["restored"] = time.monotonic is real
        return seen

    real = time.monotonic
    assert run(main) == {
        "plain": True,
        "followed": pytest.approx(500),
        "same": True,
        "other thread real": True,
        "restored": True,
    }


# -- the clock -----------------------------------------------------------------------------------


def test_advance_runs_a_cleanup_loop_twice_in_two_hours():
    purged: list[float] = []

    async def cleanup(clock: Clock):
        while True:
            await asyncio.sleep(3600)
            purged.append(clock.now())

    async def main():
        with virtual_time() as clock:
            start = clock.now()
            task = asyncio.create_task(cleanup(clock))
            await clock.advance(2 * 3600)
            twice = [t - start for t in purged]
            await clock.advance(3600 - 1)
            still_twice = len(purged)
            task.cancel()
            return twice, still_twice, clock.now() - start

    assert run(main) == (pytest.approx([3600, 7200]), 2, pytest.approx(3 * 3600 - 1))


def test_advance_runs_due_timers_in_order_and_settles_each():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []

        async def after(delay, name):
            await asyncio.sleep(delay)
            seen.append((name, loop.time() - start))

        with virtual_time() as clock:
            start = clock.now()
            for delay, name in [(3, "c"), (1, "a"), (2, "b"), (9, "late")]:
                asyncio.create_task(after(delay, name))
            await clock.advance(5)
            return seen

    seen = run(main)
    assert [name for name, _ in seen] == ["a", "b", "c"]
    assert [at for _, at in seen] == pytest.approx([1, 2, 3])


def test_run_until_idle_reports_virtual_seconds_and_refuses_periodic_timers():
    async def ticker():
        while True:
            await asyncio.sleep(1)

    async def main():
        with virtual_time() as clock:
            asyncio.create_task(asyncio.sleep(30))
            asyncio.create_task(asyncio.sleep(90))
            took = await clock.run_until_idle()
            task = asyncio.create_task(ticker(), name="ticker")
            with pytest.raises(RuntimeError) as info:
                await clock.run_until_idle(limit=10)
            task.cancel()
            return took, str(info.value)

    took, message = run(main)
    assert took == pytest.approx(90)
    assert message == (
        "clock.run_until_idle(): timers are still scheduled after 10 virtual seconds "
        "(next: asyncio.sleep() in task 'ticker'); a periodic timer never runs out: use "
        "clock.advance(seconds) instead"
    )


def test_clock_errors_say_what_to_do():
    async def main():
        clock = Clock()
        with pytest.raises(RuntimeError) as off:
            await clock.advance(1)
        with virtual_time(), pytest.raises(ValueError) as negative:
            await clock.advance(-1)
        return str(off.value), str(negative.value)

    off, negative = run(main)
    assert off == (
        "clock.advance() needs virtual time, which is off on this loop: use the clock fixture or "
        "@pytest.mark.loopwarden(virtual_time=True), or loopwarden.virtual_time() outside pytest"
    )
    assert negative == "clock.advance(-1): seconds must be a number >= 0"

    async def stock():
        Clock()

    with pytest.raises(TypeError) as info:
        asyncio.run(stock())
    assert str(info.value) == (
        "loopwarden's clock needs a loopwarden loop, not _UnixSelectorEventLoop: create it with "
        "loopwarden.new_loop() (e.g. "
        "asyncio.Runner(loop_factory=loopwarden.new_loop).run(main()))"
    )


def test_an_idle_loop_in_virtual_time_raises_loop_idle_with_the_stuck_await():
    async def main():
        with virtual_time():
            await asyncio.Event().wait()  # STUCK

    with pytest.raises(LoopIdle) as info:
        run(main)
    message = str(info.value)
    assert message.startswith(
        "loopwarden: the loop went idle in virtual time: no timer is scheduled and nothing is "
        "working, so nothing can ever wake the tasks below.\nPending tasks:\n"
    )
    assert re.search(rf"test_clock\.py:{line_of('STUCK')}\b", message), message


# -- settle ----------------------------------------------------------------------------------------


async def pipeline(stages: int):
    queues = [asyncio.Queue() for _ in range(stages + 1)]

    async def stage(i):
        while True:
            item = await queues[i].get()
            await queues[i + 1].put(item + 1)

    tasks = [asyncio.create_task(stage(i)) for i in range(stages)]
    return queues, tasks


@pytest.mark.parametrize("loop_factory", [loopwarden.new_loop, asyncio.new_event_loop])
def test_settle_waits_for_a_50_stage_pipeline(loop_factory):
    async def main():
        queues, tasks = await pipeline(50)
        queues[0].put_nowait(0)
        await settle()
        done = queues[-1].get_nowait()
        for task in tasks:
            task.cancel()
        return done

    assert run(main, loop_factory) == 50


@pytest.mark.parametrize("loop_factory", [loopwarden.new_loop, asyncio.new_event_loop])
def test_a_settle_inside_the_work_returns_before_the_tests(loop_factory):
    # Both callers were woken by the same quiet moment: the test went on before the task had
    # done what it settled for.
    async def main():
        done = []

        async def worker(name):
            await settle()
            for _ in range(3):
                await asyncio.sleep(0)
            done.append(name)

        tasks = [asyncio.create_task(worker(name)) for name in ("a", "b")]
        await settle()
        done.append("test")
        await asyncio.gather(*tasks)
        return done

    assert run(main, loop_factory)[-1] == "test"


def test_settle_never_moves_the_clock_and_does_not_wait_for_timers():
    async def main():
        loop = asyncio.get_running_loop()
        with virtual_time():
            sleeper = asyncio.create_task(asyncio.sleep(600))
            before = loop.time()
            await settle()
            return loop.time() - before, sleeper.done()

    assert run(main) == (0, False)


def test_settle_waits_for_executor_work():
    async def main():
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, time.sleep, 0.1)  # sleep-ok: real work in a thread
        await settle()
        return job.done()

    assert run(main) is True


def test_settle_timeout_names_what_kept_the_loop_busy():
    async def spin():
        while True:
            await asyncio.sleep(0)  # SPIN

    async def main():
        asyncio.create_task(spin(), name="spinner")
        await settle(timeout=0.05)

    with pytest.raises(SettleTimeout) as info:
        run(main)
    message = str(info.value)
    first, rest = message.split("\n", 1)
    assert first == (
        "loopwarden: settle() timed out after 0.05 s: the loop never became quiet; callbacks "
        "kept becoming ready to run (task 'spinner')."
    )
    assert rest.startswith("Pending tasks:\n")
    assert "spinner" in rest and f"test_clock.py:{line_of('SPIN')}" in rest


@pytest.mark.parametrize(
    ("timeout", "error", "message"),
    [
        ("soon", TypeError, "settle(timeout='soon'): timeout must be a number of seconds"),
        (0, ValueError, "settle(timeout=0): timeout must be more than 0 seconds"),
        (-1.5, ValueError, "settle(timeout=-1.5): timeout must be more than 0 seconds"),
    ],
)
def test_settle_rejects_a_bad_timeout(timeout, error, message):
    async def main():
        await settle(timeout=timeout)

    with pytest.raises(error) as info:
        run(main)
    assert str(info.value) == message


def test_settle_needs_a_selector_loop():
    class Proactorish(asyncio.AbstractEventLoop):
        pass

    from loopwarden._core._quiet import quiet_of

    with pytest.raises(TypeError) as info:
        quiet_of(Proactorish())
    assert str(info.value) == (
        "loopwarden needs a selector event loop to tell when the loop is quiet; this one is "
        "tests.core.test_clock.test_settle_needs_a_selector_loop.<locals>.Proactorish. Run it "
        "on asyncio's default loop or loopwarden.new_loop()."
    )


# -- eventually ----------------------------------------------------------------------------------


def test_eventually_returns_the_first_true_value_after_settling():
    async def main():
        results: list[int] = []

        async def worker():
            for i in range(5):
                await asyncio.sleep(0)
                results.append(i)

        asyncio.create_task(worker())
        return await eventually(lambda: len(results) == 5 and list(results))

    assert run(main) == [0, 1, 2, 3, 4]


def test_eventually_follows_the_virtual_clock_and_accepts_async_predicates():
    async def main():
        state = {"ready": False}

        async def warm_up():
            await asyncio.sleep(30)
            state["ready"] = True

        async def is_ready():
            return state["ready"]

        with virtual_time() as clock:
            asyncio.create_task(warm_up())
            await eventually(is_ready, timeout=60)
            return clock.skipped

    assert run(main) == pytest.approx(30)


def test_eventually_times_out_with_the_last_exception_at_once_in_virtual_time():
    def check():
        assert 1 + 1 == 3, "arithmetic"

    async def main():
        with virtual_time() as clock:
            with pytest.raises(EventuallyTimeout) as info:
                await eventually(check, timeout=10)
            return info.value, clock.skipped

    error, skipped = run(main)
    assert skipped == pytest.approx(10)
    assert isinstance(error.last, AssertionError)
    assert str(error) == (
        "loopwarden: eventually(test_eventually_times_out_with_the_last_exception_at_once_in_"
        "virtual_time.<locals>.check) did not hold within 10 s (virtual time); it last raised "
        "AssertionError: arithmetic\nassert (1 + 1) == 3.\nNo other task is pending."
    )


def test_eventually_shows_the_last_value_and_rejects_a_non_callable():
    async def main():
        with pytest.raises(EventuallyTimeout) as timeout:
            await eventually(lambda: [], timeout=0.05)
        with pytest.raises(TypeError) as wrong:
            await eventually(True)  # type: ignore[arg-type]
        return timeout.value, str(wrong.value)

    error, wrong = run(main)
    assert error.last == []
    assert str(error).startswith(
        "loopwarden: eventually(test_eventually_shows_the_last_value_and_rejects_a_non_callable."
        "<locals>.main.<locals>.<lambda>) did not hold within 0.05 s; it last returned []."
    )
    assert wrong == (
        "eventually() takes a function to call, not bool True: write eventually(lambda: ...)"
    )
