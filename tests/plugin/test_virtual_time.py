"""Virtual time in pytest: the setting, the marker, the clock fixture, settle and eventually."""

from __future__ import annotations

import pytest

# A module of the field's typical code: an event bus with an hourly cleanup loop, a client with
# a 30 s timeout, and work done in threads and on real sockets.
BUS = """
import asyncio


class EventBus:
    def __init__(self):
        self.events = []
        self.purges = 0
        self._cleanup = None

    def start(self):
        self._cleanup = asyncio.create_task(self._purge_forever(), name="bus-cleanup")

    async def stop(self):
        self._cleanup.cancel()
        try:
            await self._cleanup
        except asyncio.CancelledError:
            pass

    async def _purge_forever(self):
        while True:
            await asyncio.sleep(3600)
            self.events.clear()
            self.purges += 1


async def fetch_with_timeout(event, seconds=30):
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return "gave up"
    return "answered"
"""


def test_timeouts_fixtures_threads_and_sockets_in_virtual_time(pytester, run):
    pytester.makepyfile(bus=BUS)
    pytester.makepyfile(
        test_vt="""
        import asyncio, socket, threading, time
        import pytest
        from bus import EventBus, fetch_with_timeout

        pytestmark = pytest.mark.loopwarden(virtual_time=True)

        @pytest.fixture
        async def bus():
            bus = EventBus()
            await asyncio.sleep(600)  # a slow start-up, in the fixture: virtual too
            bus.start()
            yield bus
            await bus.stop()

        async def test_a_30_second_timeout_path():
            loop = asyncio.get_running_loop()
            virtual, real = loop.time(), time.monotonic()
            assert await fetch_with_timeout(asyncio.Event()) == "gave up"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), 5)
            async with asyncio.TaskGroup() as group:
                group.create_task(asyncio.sleep(120))
            assert loop.time() - virtual == pytest.approx(155)
            assert time.monotonic() - real < 30

        async def test_the_cleanup_loop_runs_twice_in_two_hours(bus, clock):
            bus.events.append("old")
            await clock.advance(2 * 3600)
            assert bus.purges == 2 and bus.events == []

        async def test_executor_work_wins_against_a_5_second_timeout():
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(None, lambda: time.sleep(0.2) or 42)  # sleep-ok: work
            assert await asyncio.wait_for(work, 5) == 42

        async def test_a_thread_calling_back_wins_against_a_5_second_timeout():
            loop = asyncio.get_running_loop()
            reply = loop.create_future()

            def worker():
                time.sleep(0.2)  # sleep-ok: the thread's real work
                loop.call_soon_threadsafe(reply.set_result, "done")

            thread = threading.Thread(target=worker)
            thread.start()
            assert await asyncio.wait_for(reply, 5) == "done"
            thread.join()

        async def test_a_real_server_answers_within_a_5_second_timeout():
            listener = socket.create_server(("127.0.0.1", 0))

            def serve():
                conn, _ = listener.accept()
                with conn:
                    conn.recv(64)
                    time.sleep(0.3)  # sleep-ok: a slow server outside the loop
                    conn.sendall(b"pong\\n")

            thread = threading.Thread(target=serve)
            thread.start()
            reader, writer = await asyncio.open_connection(*listener.getsockname())
            writer.write(b"ping\\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"pong\\n"
            writer.close()
            await writer.wait_closed()
            thread.join()
            listener.close()

        async def test_a_server_on_the_loop_delays_in_virtual_time():
            async def handle(reader, writer):
                await reader.readline()
                await asyncio.sleep(3)
                writer.write(b"late\\n")
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"ping\\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"late\\n"
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=6)


@pytest.mark.parametrize(
    ("flags", "outcome"), [((), "passed"), (("--lw-virtual-peer-wait=0.1",), "failed")]
)
def test_how_long_an_outside_server_holds_the_clock_is_a_setting(pytester, run, flags, outcome):
    """A server in another process answers after 0.4 s real: within the default 1 s the clock
    waits for it; with 0.1 s it is taken to be silent and the 5 s timeout fires."""
    pytester.makepyfile(
        slow_server="""
        import socket, time

        listener = socket.create_server(("127.0.0.1", 0))
        print(listener.getsockname()[1], flush=True)
        conn, _ = listener.accept()
        conn.recv(64)
        time.sleep(0.4)  # sleep-ok: a slow server in another process
        conn.sendall(b"pong\\n")
        conn.close()
        """,
        test_peer="""
        import asyncio, pathlib, subprocess, sys

        SERVER = str(pathlib.Path(__file__).with_name("slow_server.py"))

        async def test_a_slow_server_outside_the_loop():
            server = subprocess.Popen([sys.executable, SERVER], stdout=subprocess.PIPE, text=True)
            try:
                port = int(server.stdout.readline())
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(b"ping\\n")
                    assert await asyncio.wait_for(reader.readline(), 5) == b"pong\\n"
                finally:
                    writer.close()
                    await writer.wait_closed()
            finally:
                server.kill()
                server.wait()
                server.stdout.close()
        """,
    )
    result = run("--lw-virtual-time", "--lw-blocking=0", *flags)
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(
            ["FAILED test_peer.py::test_a_slow_server_outside_the_loop - *TimeoutError*"]
        )


def test_an_idle_loop_fails_the_test_at_once_with_every_await(pytester, run):
    pytester.makepyfile(
        test_idle="""
        import asyncio, pytest

        async def worker(queue):
            await queue.get()

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_waits_for_nothing():
            queue = asyncio.Queue()
            task = asyncio.create_task(worker(queue), name="worker")
            try:
                await asyncio.Event().wait()
            finally:
                task.cancel()

        async def test_next():
            await asyncio.sleep(0)
        """
    )
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_waits_for_nothing _*",
            "loopwarden: test hung in its call phase: the loop went idle in virtual time (no "
            "timer scheduled, nothing working), so nothing can wake it; 2 tasks were pending:",
            "  Task '*' (test_waits_for_nothing) — the test",
            "    test_idle.py:11 in test_waits_for_nothing   "
            "← awaiting Future pending (Event.wait)",
            "  Task 'worker' (worker) created at test_idle.py:9 in test_waits_for_nothing",
            "    test_idle.py:4 in worker   ← awaiting Future pending (Queue.get; the queue is "
            "empty)",
            "  Fix: make the awaits marked ← complete (set the event, resolve the future, send "
            "the data), or give them a timeout.",
        ]
    )


def test_the_option_turns_it_on_the_marker_off_and_tests_between_run_in_real_time(pytester, run):
    pytester.makepyfile(
        test_switch="""
        import asyncio, pytest

        pytestmark = pytest.mark.asyncio(loop_scope="module")  # one loop, in both modes
        readings = []

        async def test_on_by_the_option():
            loop = asyncio.get_running_loop()
            assert loop.virtual_time
            await asyncio.sleep(3600)
            readings.append(loop.time())

        @pytest.mark.loopwarden(virtual_time=False)
        async def test_off_by_the_marker():
            loop = asyncio.get_running_loop()
            assert not loop.virtual_time
            readings.append(loop.time())

        async def test_the_clock_never_went_back():
            assert readings[0] <= readings[1] <= asyncio.get_running_loop().time()
        """
    )
    result = run("--lw-virtual-time", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["loopwarden: virtual time on for every test (--lw-virtual-time)"])


def test_the_ini_key_and_a_class_marker_turn_it_on(pytester, own):
    pytester.makeini("[pytest]\nloopwarden_virtual_time = on\n")
    pytester.makepyfile(
        test_ini="""
        import asyncio, pytest

        async def test_on():
            assert asyncio.get_running_loop().virtual_time

        @pytest.mark.loopwarden(virtual_time=False)
        class TestOff:
            @pytest.mark.loopwarden(timeout=5)
            async def test_off_still(self):
                assert not asyncio.get_running_loop().virtual_time
        """
    )
    result = own()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["loopwarden: virtual time on for every test (loopwarden_virtual_time)"]
    )


def test_a_timer_left_behind_is_reported_not_fired(pytester, run):
    pytester.makepyfile(
        test_timer="""
        import asyncio, pytest

        fired = []

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_leaves_a_timer():
            asyncio.get_running_loop().call_later(3600, fired.append, "late")

        def test_it_never_fired():
            assert fired == []
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaves_a_timer left 1 timer behind after teardown:",
            "  timer calling list.append() was neither run nor cancelled",
            "      created at test_timer.py:7 in test_leaves_a_timer",
        ]
    )


def test_settle_and_eventually_replace_sleep_barriers(pytester, run):
    pytester.makepyfile(
        test_settle="""
        import asyncio, pytest
        from loopwarden import eventually, settle

        async def pipeline(stages):
            queues = [asyncio.Queue() for _ in range(stages + 1)]

            async def stage(i):
                while True:
                    await queues[i + 1].put(await queues[i].get() + 1)

            return queues, [asyncio.create_task(stage(i)) for i in range(stages)]

        async def test_settle():
            queues, tasks = await pipeline(50)
            queues[0].put_nowait(0)
            await settle()
            assert queues[-1].get_nowait() == 50
            for task in tasks:
                task.cancel()

        async def test_eventually():
            state = {"ready": False}

            async def warm_up():
                await asyncio.sleep(0.05)  # sleep-ok: the work eventually() waits for
                state["ready"] = True

            task = asyncio.create_task(warm_up())
            assert await eventually(lambda: state["ready"])
            await task

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_eventually_gives_up_with_the_last_value():
            await eventually(lambda: [], timeout=10)
        """
    )
    result = run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * loopwarden: eventually(test_eventually_gives_up_with_the_last_value.<locals>."
            "<lambda>) did not hold within 10 s (virtual time); it last returned [].",
            "E * No other task is pending.",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "loopwarden(virtual_time='yes')",
            "loopwarden: test_bad.py::test_it: @pytest.mark.loopwarden(virtual_time='yes') is "
            "not valid; use virtual_time=True or virtual_time=False.",
        ),
        (
            "loopwarden(virtul_time=True)",
            "loopwarden: test_bad.py::test_it: @pytest.mark.loopwarden(virtul_time=...) is not "
            "an argument loopwarden knows; did you mean virtual_time? known arguments: "
            "fuzz, loop_scope, monotonic, timeout, virtual_time.",
        ),
        (
            "loopwarden(True)",
            "loopwarden: test_bad.py::test_it: @pytest.mark.loopwarden(True,) takes keyword "
            "arguments only (fuzz=..., loop_scope=..., monotonic=..., timeout=..., "
            "virtual_time=...).",
        ),
    ],
)
def test_a_bad_marker_fails_that_test_with_the_fix(pytester, own, marker, message):
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.{marker}
        async def test_it():
            pass

        async def test_fine():
            pass
        """
    )
    result = own()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([message])


def test_monotonic_follows_the_loop_clock_when_asked(pytester, run):
    pytester.makepyfile(
        test_ttl="""
        import asyncio, time
        import pytest

        class TtlCache:
            def __init__(self, ttl):
                self.ttl, self.items = ttl, {}

            def put(self, key, value):
                self.items[key] = (value, time.monotonic() + self.ttl)

            def get(self, key):
                value, expires = self.items.get(key, (None, 0.0))
                return value if time.monotonic() < expires else None

        @pytest.mark.loopwarden(virtual_time=True, monotonic=True)
        async def test_an_entry_expires():
            cache = TtlCache(ttl=300)
            cache.put("token", "abc")
            await asyncio.sleep(299)
            assert cache.get("token") == "abc"
            await asyncio.sleep(2)
            assert cache.get("token") is None

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_without_the_opt_in_monotonic_is_real():
            before = time.monotonic()
            await asyncio.sleep(3600)
            assert time.monotonic() - before < 60

        @pytest.mark.loopwarden(monotonic=True)
        async def test_the_opt_in_needs_virtual_time():
            pass
        """
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_ttl.py::test_the_opt_in_needs_virtual_time: "
            "@pytest.mark.loopwarden(monotonic=True) makes time.monotonic() follow the virtual "
            "clock, but the test does not run in virtual time. Add virtual_time=True."
        ]
    )


def test_the_clock_fixture_with_virtual_time_off_is_an_error(pytester, own):
    pytester.makepyfile(
        test_clash="""
        import pytest

        @pytest.mark.loopwarden(virtual_time=False)
        async def test_it(clock):
            pass
        """
    )
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_clash.py::test_it uses the clock fixture, which needs virtual "
            "time, but its marker says virtual_time=False. Remove one of the two."
        ]
    )


def test_a_bad_setting_value_stops_the_run(pytester, own):
    pytester.makeini("[pytest]\nloopwarden_virtual_time = maybe\n")
    pytester.makepyfile(test_x="async def test_x(): pass\n")
    result = own()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: loopwarden: loopwarden_virtual_time = 'maybe' is not valid; expected on or "
            "off (or true, false)."
        ]
    )


def test_aiohttp_and_httpx_client_timeouts_fire_in_virtual_time(pytester, run):
    pytest.importorskip("aiohttp")
    pytest.importorskip("httpx")
    pytester.makepyfile(
        test_clients="""
        import asyncio
        import aiohttp, httpx, pytest
        from aiohttp import web

        pytestmark = pytest.mark.loopwarden(virtual_time=True)

        @pytest.fixture
        async def slow_server():
            async def slow(request):
                await asyncio.sleep(float(request.query.get("delay", "60")))
                return web.json_response({"ok": True})

            app = web.Application()
            app.router.add_get("/slow", slow)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            yield f"http://{host}:{port}/slow"
            await runner.cleanup()

        async def test_aiohttp_gives_up_after_5_seconds(slow_server):
            loop = asyncio.get_running_loop()
            start = loop.time()
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                with pytest.raises(asyncio.TimeoutError):
                    async with session.get(slow_server) as response:
                        await response.read()
                async with session.get(slow_server + "?delay=2") as response:
                    assert await response.json() == {"ok": True}
            # 5 + 2 virtual seconds, plus the real time the requests took (a resolver thread).
            assert 7 - 1e-6 <= loop.time() - start < 30  # (float clock readings)

        async def test_httpx_gives_up_after_5_seconds(slow_server):
            async with httpx.AsyncClient(timeout=5) as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.get(slow_server)
                response = await client.get(slow_server, params={"delay": "2"})
                assert response.json() == {"ok": True}
        """
    )
    result = run()
    result.assert_outcomes(passed=2)


def test_a_project_loop_factory_keeps_real_time_and_says_so(pytester, guarded):
    pytest.importorskip("pytest_asyncio")
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest(
        """
        import asyncio

        class ProjectLoop(asyncio.SelectorEventLoop):  # (not asyncio's plain loop: kept)
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"project": ProjectLoop}
        """
    )
    pytester.makepyfile(
        test_foreign="""
        import asyncio, pytest

        @pytest.mark.loopwarden(virtual_time=True, fuzz=2)
        async def test_it():
            assert not hasattr(asyncio.get_running_loop(), "virtual_time")
        """
    )
    result = guarded("-W", "default")
    result.assert_outcomes(passed=2, warnings=3)
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: loopwarden: this test asks for virtual time, but the project's "
            "pytest_asyncio_loop_factories hook supplies its own loops, which run in real time. "
            "Let loopwarden supply the loops (remove the hook's answer) or drop virtual time "
            "for this test.",
            "*PytestWarning: loopwarden: this test asks for a fuzzed schedule, but the project's "
            "pytest_asyncio_loop_factories hook supplies its own loops, which keep FIFO order. "
            "Let loopwarden supply the loops (remove the hook's answer) or drop a fuzzed "
            "schedule for this test.",
        ]
    )


def test_threads_that_fixtures_start_hold_the_clock_while_they_work(pytester, run):
    pytester.makeconftest(
        """
        import queue, threading, time
        import pytest

        def start_worker():
            jobs = queue.Queue()

            def serve():
                while True:
                    job = jobs.get()
                    if job is None:
                        return
                    loop, reply, seconds = job
                    time.sleep(seconds)  # sleep-ok: the worker's real work
                    loop.call_soon_threadsafe(reply.set_result, "done")

            thread = threading.Thread(target=serve)
            thread.start()
            return jobs, thread

        @pytest.fixture
        def worker():
            jobs, thread = start_worker()
            yield jobs
            jobs.put(None)
            thread.join()

        @pytest.fixture(scope="session")
        def session_worker():
            jobs, thread = start_worker()
            yield jobs
            jobs.put(None)
            thread.join()
        """
    )
    pytester.makepyfile(
        test_workers="""
        import asyncio, pytest

        pytestmark = pytest.mark.loopwarden(virtual_time=True)

        async def ask(jobs):
            loop = asyncio.get_running_loop()
            reply = loop.create_future()
            jobs.put((loop, reply, 0.2))
            return await asyncio.wait_for(reply, 5)

        async def test_function_fixture_thread(worker):
            assert await ask(worker) == "done"

        async def test_session_fixture_thread_first(session_worker):
            assert await ask(session_worker) == "done"

        async def test_session_fixture_thread_again(session_worker):
            assert await ask(session_worker) == "done"
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_an_idle_loop_is_reported_with_the_watchdog_off(pytester, run):
    pytester.makepyfile(
        test_idle_off="""
        import asyncio, pytest

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_waits_for_nothing():
            await asyncio.Event().wait()
        """
    )
    result = run("--lw-timeout=0", "--lw-blocking=0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test hung in its call phase: the loop went idle in virtual time (no "
            "timer scheduled, nothing working), so nothing can wake it; 1 task was pending:",
        ]
    )
