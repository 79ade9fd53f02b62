"""Hangs become a diagnosis and a failure of that test only; blocking calls are named."""

from __future__ import annotations

import json

import pytest


def test_a_hung_await_is_reported_with_every_task_and_the_next_test_runs(pytester, run):
    pytester.makepyfile(
        test_hang="""
        import asyncio, pytest

        async def wait_for_reply(event):
            await event.wait()

        async def worker(queue):
            await queue.get()

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_hangs():
            queue = asyncio.Queue()
            task = asyncio.create_task(worker(queue), name="worker")
            try:
                await wait_for_reply(asyncio.Event())
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
            "*_ test_hangs _*",
            "loopwarden: test did not finish its call phase within 0.2 s (the test's "
            "loopwarden(timeout=...) marker); 2 tasks were pending:",
            "  Task '*' (test_hangs) — the test",
            "    test_hang.py:14 in test_hangs",
            "    test_hang.py:4 in wait_for_reply   ← awaiting Future pending (Event.wait)",
            "  Task 'worker' (worker) created at test_hang.py:12 in test_hangs",
            "    test_hang.py:7 in worker   "
            "← awaiting Future pending (Queue.get; the queue is empty)",
            "  Fix: make the awaits marked ← complete (or cancel what they wait for), or raise "
            "the test's loopwarden(timeout=...) marker if the test is only slow.",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_hang.py::test_hangs - Failed: loopwarden: test *"])


TASK_GROUP_FETCH = """
        import asyncio, pytest

        async def leaf(event):
            await event.wait()

        async def fetch_all(event):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(leaf(event), name="leaf-1")
                tg.create_task(leaf(event), name="leaf-2")
"""


def test_a_hang_report_names_who_awaits_each_task(pytester, run):
    # Python 3.14 records every await edge (asyncio.capture_call_graph); on 3.11-3.13 a task
    # awaited directly, in a gather() or in a TaskGroup is derived from the awaiting task.
    pytester.makepyfile(
        test_hang=TASK_GROUP_FETCH
        + """
        @pytest.mark.loopwarden(timeout=0.2)
        async def test_hangs():
            await asyncio.create_task(fetch_all(asyncio.Event()), name="fetch")
        """
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.2 s (the test's "
            "loopwarden(timeout=...) marker); 4 tasks were pending:",
            "  Task '*' (test_hangs) — the test",
            "    test_hang.py:13 in test_hangs   ← awaiting Task 'fetch' (fetch_all)",
            "  Task 'fetch' (fetch_all) created at test_hang.py:13 in test_hangs",
            "    test_hang.py:7 in fetch_all   ← awaiting Future pending (TaskGroup.*aexit*)",
            "  Task 'leaf-1' (leaf) created at test_hang.py:8 in fetch_all",
            "    test_hang.py:4 in leaf   ← awaiting Future pending (Event.wait)",
            "    awaited by Task 'fetch' (fetch_all) ← the test",
            "  Task 'leaf-2' (leaf) created at test_hang.py:9 in fetch_all",
            "    test_hang.py:4 in leaf   ← awaiting Future pending (Event.wait)",
            "    awaited by Task 'fetch' (fetch_all) ← the test",
            "  Fix: *",
        ]
    )


def test_a_leak_report_names_who_awaits_each_leftover_task(pytester, run):
    pytester.makepyfile(
        test_leak=TASK_GROUP_FETCH
        + """
        async def test_leaks():
            event = asyncio.Event()
            asyncio.create_task(fetch_all(event), name="fetch")
            await asyncio.sleep(0)
            test_leaks.event = event  # keep it alive
        """
    )
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaks left 3 tasks behind after teardown:",
            "  task 'leaf-1' running leaf() is still pending",
            "      created at test_leak.py:8 in fetch_all",
            "      parked at: leaf() at test_leak.py:4 -> asyncio wait()",
            "      awaited by: task 'fetch' running fetch_all()",
            "  task 'leaf-2' running leaf() is still pending",
            "      created at test_leak.py:9 in fetch_all",
            "      parked at: leaf() at test_leak.py:4 -> asyncio wait()",
            "      awaited by: task 'fetch' running fetch_all()",
            "  task 'fetch' running fetch_all() is still pending",
            "      created at test_leak.py:13 in test_leaks",
            "      parked at: fetch_all() at test_leak.py:7 -> asyncio *aexit*()",
            "loopwarden cancelled and closed what was left.",
        ]
    )


def test_loopwardens_own_collection_pass_counts_against_no_tests_deadline(pytester, run):
    # Before the last test's teardown the leak guard runs a garbage collection for late
    # findings. In a big process (or on a loaded machine) it took longer than the test's 0.2 s
    # timeout, and the test was failed for a teardown hang that was loopwarden's own work.
    pytester.makepyfile(
        test_last="""
        import gc, time, pytest

        slow = []

        def slow_collection(phase, info):
            if phase == "start" and slow:
                time.sleep(0.5)  # sleep-ok: stands for a collection in a big process

        gc.callbacks.append(slow_collection)

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_last():
            slow.append(True)
        """
    )
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*did not finish its teardown phase*")


def test_a_hang_inside_an_async_generator_names_the_generators_line(pytester, run):
    """``async for``, ``anext()`` and an ``@asynccontextmanager`` await the generator through
    asyncio's driver objects; an async fixture's teardown is driven by the runner (loopwarden's
    driver, pytest-asyncio's finalizer). The chain goes on into the generator, to the line that
    waits and what it waits on — the same in both modes."""
    pytester.makepyfile(
        test_gen="""
        import asyncio, contextlib, pytest

        async def messages(event):
            while True:
                await event.wait()
                yield 1

        @contextlib.asynccontextmanager
        async def connected(event):
            await event.wait()
            yield

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_consumes():
            async for _ in messages(asyncio.Event()):
                pass

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_anext():
            await anext(messages(asyncio.Event()), None)

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_context_manager():
            async with connected(asyncio.Event()):
                pass

        @pytest.fixture
        async def value():
            yield 1
            await asyncio.Queue().get()

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_fixture_teardown(value):
            assert value == 1
        """
    )
    result = run()
    result.assert_outcomes(passed=1, failed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_fixture_teardown _*",
            "loopwarden: test did not finish its teardown phase within 0.2 s (the test's "
            "loopwarden(timeout=...) marker); 1 task was pending:",
            "  Task '*' (*) — the test",
            "    test_gen.py:30 in value   "
            "← awaiting Future pending (Queue.get; the queue is empty)",
            "  Fix: *",
            "*_ test_consumes _*",
            "  Task '*' (test_consumes) — the test",
            "    test_gen.py:15 in test_consumes",
            "    test_gen.py:5 in messages   ← awaiting Future pending (Event.wait)",
            "*_ test_anext _*",
            "  Task '*' (test_anext) — the test",
            "    test_gen.py:20 in test_anext",
            "    test_gen.py:5 in messages   ← awaiting Future pending (Event.wait)",
            "*_ test_context_manager _*",
            "  Task '*' (test_context_manager) — the test",
            "    test_gen.py:24 in test_context_manager",
            "    test_gen.py:10 in connected   ← awaiting Future pending (Event.wait)",
        ]
    )
    result.stdout.no_fnmatch_line("*_driver.py*")
    result.stdout.no_fnmatch_line("*pytest_asyncio*")


def test_a_loop_blocked_in_sync_code_is_interrupted_at_the_blocking_line(pytester, run):
    pytester.makepyfile(
        test_blocked="""
        import time, pytest

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_blocks():
            time.sleep(60)  # sleep-ok: the blocking call under test

        def test_next():
            pass
        """
    )
    result = run("--lw-blocking=0")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.2 s (the test's "
            "loopwarden(timeout=...) marker).",
            "  The event loop did not answer within 2 s: it is blocked in synchronous code. "
            "Stack of the main thread (innermost last):",
            "    test_blocked.py:5 in test_blocks",
            "  Running task: Task '*' (test_blocks) — the test",
            "  loopwarden raised HangInterrupt in the main thread to stop it.",
            "  Fix: do not block the event loop: await an async equivalent, or run the blocking "
            "call in a thread (asyncio.to_thread).",
        ]
    )


def test_a_loop_blocked_at_the_deadline_is_stopped_at_the_deadline(pytester, run):
    # The watchdog asked the blocked loop to dump its tasks and waited its 2 s grace for an
    # answer that could not come: stopped at timeout + 2 s, "blocked for 2.5 s" under a 0.5 s
    # timeout. With blocking calls watched it knows the loop is stuck, and stops it at once.
    pytester.makepyfile(
        test_blocked="""
        import time, pytest

        @pytest.mark.loopwarden(timeout=0.5)
        async def test_blocks():
            time.sleep(60)  # sleep-ok: the blocking call under test
        """
    )
    result = run("--lw-blocking=0.25")
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.5 s (the test's "
            "loopwarden(timeout=...) marker).",
            "  The event loop is blocked in synchronous code. Stack of the main thread "
            "(innermost last):",
            "    test_blocked.py:5 in test_blocks",
        ]
    )
    result.stdout.re_match_lines(
        [r".*BlockingWarning: loopwarden: the event loop was blocked for 0\.[5-9]\d s .*"]
    )


def test_a_task_that_swallows_cancellation_still_gets_a_verdict(pytester, run):
    pytester.makepyfile(
        test_stubborn="""
        import asyncio, pytest

        @pytest.mark.loopwarden(timeout=0.2)
        async def test_stubborn():
            while True:
                try:
                    await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard
                except asyncio.CancelledError:
                    pass

        def test_next():
            pass
        """
    )
    result = run("--lw-blocking=0")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.2 s (the test's "
            "loopwarden(timeout=...) marker)*",
            "*loopwarden raised HangInterrupt in the main thread to stop it.",
        ]
    )


def test_blocking_calls_warn_with_the_line_or_fail_when_asked(pytester, own):
    pytester.makepyfile(
        test_block="""
        import time

        async def test_sync_http_call_in_async_code():
            time.sleep(0.3)  # sleep-ok: the blocking call under test
        """
    )
    result = own("--lw-blocking=0.1")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            # The warning's location is the blocking line, not the test's def (or decorator).
            "*test_block.py:4: BlockingWarning: loopwarden: the event loop was blocked for 0.* s "
            "(threshold 0.1 s) at test_block.py:4 in test_sync_http_call_in_async_code",
            "*Fix: await an async equivalent, or run the blocking call in a thread "
            "(asyncio.to_thread).",
        ]
    )
    result = own("--lw-blocking=0.1", "--lw-blocking-action=error")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: the event loop was blocked for 0.* s (threshold 0.1 s) at "
            "test_block.py:4 in test_sync_http_call_in_async_code",
        ]
    )


def test_anyio_tests_are_watched_on_the_loop_anyios_runner_makes_within_the_call(pytester, run):
    """anyio's runner makes its loop inside the test's call, after the phase was armed: blocking
    calls went unreported, and a hung await was told as "synchronous code holds the main thread"
    (httpx's anyio tests in the trust corpus)."""
    pytester.makepyfile(
        test_anyio_watch="""
        import asyncio, time, pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_blocks():
            time.sleep(0.3)  # sleep-ok: the blocking call under test

        @pytest.mark.anyio
        @pytest.mark.loopwarden(timeout=0.5)
        async def test_hangs():
            await asyncio.Event().wait()

        @pytest.mark.anyio
        async def test_next():
            await asyncio.sleep(0)
        """
    )
    result = run("--lw-blocking=0.1", "--lw-blocking-action=error", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_blocks _*",
            "loopwarden: the event loop was blocked for 0.* s (threshold 0.1 s) at "
            "test_anyio_watch.py:9 in test_blocks",
            "*_ test_hangs _*",
            # (anyio runs the test in a task of its own, or in its runner's task)
            "loopwarden: test did not finish its call phase within 0.5 s (the test's "
            "loopwarden(timeout=...) marker); * pending:",
            "  Task '*' (*) — the test",
            "    test_anyio_watch.py:14 in test_hangs   ← awaiting Future pending (Event.wait)",
        ]
    )
    result.stdout.no_fnmatch_line("*synchronous code*")
    result.stdout.no_fnmatch_line("*left 1 task*")


def test_a_loop_made_in_a_phase_but_run_in_another_thread_is_not_the_phases(pytester, run):
    # A review case: a fixture of an anyio test makes a server's loop in the main thread and runs
    # it in a thread; the server's own slow start-up is not the test's blocking call.
    pytester.makepyfile(
        test_server_thread="""
        import asyncio, threading, time, pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.fixture
        def background_server():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True)
            thread.start()

            started = threading.Event()

            def slow_start():
                time.sleep(0.3)  # sleep-ok: the server thread's own start-up work
                started.set()

            loop.call_soon_threadsafe(slow_start)
            assert started.wait(10)
            yield loop
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

        @pytest.mark.anyio
        async def test_uses_server(background_server):
            await asyncio.sleep(0)
        """
    )
    result = run("--lw-blocking=0.1", "--lw-blocking-action=error")
    result.assert_outcomes(passed=1)


def test_a_step_through_mocks_that_never_suspend_is_not_called_a_blocking_call(pytester, run):
    # aiohttp-client-cache: 1,000 requests through AsyncMocks held the loop in one step, and the
    # finding was named after the mock internals a sample landed in ("blocking __setattr__"),
    # with advice for a blocking call.
    pytester.makepyfile(
        test_mocks="""
        import time
        from unittest.mock import AsyncMock

        async def test_many_requests():
            fetch = AsyncMock(return_value=200)
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                assert await fetch("a") == 200
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                assert await fetch("b") == 200
        """
    )
    result = run("--lw-blocking=0.1", "--lw-report=report.json")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*BlockingWarning: loopwarden: the event loop was blocked for 0.* s (threshold 0.1 s) "
            "by code that ran through several lines without suspending, seen at * in "
            "test_many_requests*",
            "*Fix: between two awaits that suspended, the code went on from line to line: "
            "await async equivalents of the blocking calls there, or run them in a thread "
            "(asyncio.to_thread); where it is a stretch of work whose awaits never suspend "
            "(awaits of mocks, of finished futures or of a free lock return at once), give the "
            "loop a turn (await asyncio.sleep(0)) or move CPU-bound work to a thread.",
        ]
    )
    report = json.loads((pytester.path / "report.json").read_text())
    [finding] = report["tests"]["test_mocks.py::test_many_requests"]["findings"]
    assert (finding["kind"], finding["name"]) == ("blocking", "test_many_requests")


def test_a_warnings_filter_of_error_fails_the_test_with_the_warning_and_keeps_the_finding(
    pytester, run
):
    # `filterwarnings = error` turned the warning into an exception raised inside loopwarden's
    # hook: a traceback into loopwarden, and the finding lost from --lw-report.
    pytester.makepyfile(
        test_block="""
        import time

        async def test_sync_call():
            time.sleep(0.3)  # sleep-ok: the blocking call under test
        """
    )
    result = run("--lw-blocking=0.1", "-W", "error", "--lw-report=report.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ test_sync_call _*_",
            "loopwarden: the event loop was blocked for 0.* s (threshold 0.1 s) at "
            "test_block.py:4 in test_sync_call",
            "  Fix: await an async equivalent, or run the blocking call in a thread "
            "(asyncio.to_thread).",
            "*= short test summary info =*",
        ]
    )
    result.stdout.no_fnmatch_line("*loopwarden/_plugin*")
    report = json.loads((pytester.path / "report.json").read_text())
    [finding] = report["tests"]["test_block.py::test_sync_call"]["findings"]
    assert (finding["kind"], finding["status"]) == ("blocking", "new")
    assert (finding["site"], finding["user_site"]) == ("test_block.py:4 in test_sync_call", None)


def test_a_bad_timeout_is_a_usage_error(pytester, own):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.loopwarden(timeout="soon")
        async def test_it():
            pass
        """
    )
    result = own()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: loopwarden: test_a_bad_timeout_is_a_usage_error.py::test_it: "
            "@pytest.mark.loopwarden(timeout='soon') is not valid; expected a number of seconds, "
            "e.g. 30 or 0.5 (0 turns it off)."
        ]
    )
    result = own("--lw-timeout=-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: loopwarden: --lw-timeout = '-1' is not valid; expected a number of seconds "
            ">= 0 (0 turns it off)."
        ]
    )


def test_a_bad_timeout_on_a_deselected_test_does_not_stop_the_run(pytester, own):
    # Markers are read for the tests that run.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.loopwarden(timeout="soon")
        async def test_broken():
            pass

        async def test_fine():
            pass
        """
    )
    result = own("-k", "fine")
    result.assert_outcomes(passed=1, deselected=1)


@pytest.mark.parametrize(
    ("ours", "theirs", "first"), [("0.3", "30", "loopwarden"), ("30", "1", "pytest-timeout")]
)
def test_next_to_pytest_timeout_the_shorter_deadline_fires(pytester, run, ours, theirs, first):
    """docs/how-to/leaks.md: with both installed, whichever deadline is shorter fires first."""
    pytest.importorskip("pytest_timeout")
    # The interrupted test ends before the next test starts: its finally block has run, and so
    # has its async function-scoped fixture's teardown. The own runner ends the test at once, and
    # so does loopwarden's timeout; when pytest-timeout interrupts a test in guard mode,
    # pytest-asyncio tears the fixture down first and loopwarden ends the test's task after it
    # (see docs/how-to/leaks.md).
    own_order = run.mode == "own" or first == "loopwarden"
    order = '["test_hangs", "resource"]' if own_order else '["resource", "test_hangs"]'
    pytester.makepyfile(
        test_both=f"""
        import asyncio

        import pytest

        ENDED = []

        @pytest.fixture
        async def resource():
            yield
            ENDED.append("resource")

        async def test_hangs(resource):
            try:
                await asyncio.Event().wait()
            finally:
                ENDED.append("test_hangs")

        async def test_next():
            assert ENDED == {order}
        """
    )
    result = run("-p", "timeout", f"--timeout={theirs}", f"--lw-timeout={ours}")
    result.assert_outcomes(passed=1, failed=1)
    if first == "loopwarden":
        result.stdout.fnmatch_lines(
            [
                "loopwarden: test did not finish its call phase within 0.3 s (loopwarden_timeout); "
                "1 task was pending:",
                "    test_both.py:14 in test_hangs   ← awaiting Future pending (Event.wait)",
            ]
        )
        result.stdout.no_fnmatch_line("*Timeout (>30.0s) from pytest-timeout*")
    else:
        result.stdout.fnmatch_lines(["*Failed: Timeout (>1.0s) from pytest-timeout."])
        result.stdout.no_fnmatch_line("*loopwarden_timeout*")


def test_a_loops_shutdown_task_counts_as_the_task_running_the_phase():
    # asyncio.Runner's close (pytest-asyncio, unittest) runs these on the test's loop in its
    # teardown: a hang there is cancelled like a hung fixture step, not left running.
    import asyncio

    from loopwarden._core._loop import new_loop
    from loopwarden._plugin.watchdog import _runs_the_phase

    loop = new_loop()
    try:
        shutdown = loop.create_task(loop.shutdown_asyncgens())
        executor = loop.create_task(loop.shutdown_default_executor())
        users = loop.create_task(asyncio.sleep(0))
        assert [_runs_the_phase(t) for t in (shutdown, executor, users)] == [True, True, False]
        loop.run_until_complete(asyncio.gather(shutdown, executor, users))
    finally:
        loop.close()
