"""The leak guard fails exactly the test that left something behind, says where it was created,
cleans up, and lets the next test start clean — with loopwarden's runner and in guard mode."""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import textwrap

import pytest

from .conftest import HAS_PYTEST_ASYNCIO

NEXT_TEST_IS_CLEAN = """
async def test_zz_next_test_starts_clean():
    import asyncio
    mine = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not mine and "loopwarden" not in t.get_name()]
    assert others == []
"""


def _errored(result: pytest.RunResult) -> list[str]:
    """The node ids the short test summary lists as errors (a leak fails a test's teardown), in
    order."""
    summary = (re.match(r"ERROR (\S+::\S+)(?: - |$)", line) for line in result.stdout.lines)
    return [match.group(1) for match in summary if match]


def test_a_pending_task_fails_the_test_with_its_site_and_await(pytester, run):
    pytester.makepyfile(
        test_bus=textwrap.dedent(
            """
        import asyncio

        async def listen(event):
            await event.wait()

        async def test_starts_listener():
            event = asyncio.Event()
            asyncio.create_task(listen(event), name="listener")
            await asyncio.sleep(0)
            test_starts_listener.event = event  # keep it alive
        """
        )
        + NEXT_TEST_IS_CLEAN
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_starts_listener _*",
            "loopwarden: test_starts_listener left 1 task behind after teardown:",
            "  task 'listener' running listen() is still pending",
            "      created at test_bus.py:8 in test_starts_listener",
            "      parked at: listen() at test_bus.py:4 -> asyncio wait()",
            "loopwarden cancelled and closed what was left.",
            "Fix: cancel and await background tasks in the fixture that started them (or use a "
            "TaskGroup inside the test).",
        ]
    )
    result.stdout.fnmatch_lines(["ERROR test_bus.py::test_starts_listener - Failed: loopwarden: *"])


def test_timers_servers_and_executor_work_are_reported(pytester, run):
    pytester.makepyfile(
        test_res=textwrap.dedent(
            """
        import asyncio, threading

        release = threading.Event()

        async def test_timer():
            asyncio.get_running_loop().call_later(30, print, "late")

        async def test_server():
            await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)

        async def test_executor():
            asyncio.get_running_loop().run_in_executor(None, release.wait)

        def test_release():
            release.set()
        """
        )
        + NEXT_TEST_IS_CLEAN
    )
    result = run()
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_timer left 1 timer behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_res.py:6 in test_timer",
            "loopwarden cancelled and closed what was left.",
            "Fix: keep the handle of call_later()/call_at() and cancel it in teardown.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_server left 1 server behind after teardown:",
            "  server still open: server on ('127.0.0.1', *)",
            "      created at test_res.py:9 in test_server",
            "loopwarden cancelled and closed what was left.",
            "Fix: close the server (server.close(); await server.wait_closed()) in teardown.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_executor left 1 executor job behind after teardown:",
            "  executor work still running: <Future pending*>",
            "      created at test_res.py:12 in test_executor",
        ]
    )


def test_errors_nobody_saw_fail_the_test_that_caused_them(pytester, run):
    pytester.makepyfile(
        test_err="""
        import asyncio

        async def fetch():
            return 1

        async def boom():
            raise ValueError("kaput")

        def crash():
            raise KeyError("handler")

        async def test_never_awaited():
            fetch()

        async def test_unretrieved():
            task = asyncio.create_task(boom())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            test_unretrieved.task = task

        async def test_callback_crash():
            asyncio.get_running_loop().call_soon(crash)
            await asyncio.sleep(0)

        def test_sync_caller_forgets_await():
            fetch()
        """
    )
    result = run("-W", "default::RuntimeWarning")
    result.assert_outcomes(passed=4, errors=4)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_never_awaited had 1 never-awaited coroutine:",
            "  coroutine fetch() was never awaited",
            "      created at test_err.py:13 in test_never_awaited",
            "Fix: await the coroutine (or pass it to asyncio.create_task and await the task).",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_unretrieved had 1 unretrieved task exception:",
            "  task running boom() failed and nobody retrieved its exception: ValueError: kaput",
            "      created at test_err.py:16 in test_unretrieved",
            "      traceback (most recent call last):",
            "        test_err.py:7 in boom",
            '          raise ValueError("kaput")',
            "      ValueError: kaput",
            "Fix: await the task (or call task.result()) so its exception is seen.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_callback_crash had 1 background error:",
            "  the event loop's exception handler was called: "
            "Exception in callback crash() at test_err.py:9: KeyError: 'handler'",
            "Fix: a callback or task crashed in the background; fix the error above.",
            "A test that provokes this on purpose says so: "
            "@pytest.mark.allow_leaks(errors=['KeyError'], reason=\"...\").",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_sync_caller_forgets_await had 1 never-awaited coroutine:",
            "  coroutine fetch() was never awaited",
            "      created at test_err.py:26 in test_sync_caller_forgets_await",
        ]
    )


def test_a_coroutine_an_async_mock_made_is_sited_at_the_users_call(pytester, run):
    # aiohttp's session.get() returns a context manager; an AsyncMock returns a coroutine, which
    # `async with` rejects and drops. Its origin starts in unittest/mock.py: the user's line is
    # the call that led there.
    pytester.makepyfile(
        test_mocked="""
        from unittest.mock import AsyncMock

        import pytest

        class MediaClient:
            def __init__(self, session):
                self.session = session

            async def labels(self):
                async with self.session.get("/labels") as response:
                    return await response.json()

        async def test_labels():
            with pytest.raises(TypeError):
                await MediaClient(AsyncMock()).labels()
        """
    )
    result = run("-W", "default::RuntimeWarning")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_labels had 1 never-awaited coroutine:",
            "  coroutine AsyncMockMixin._execute_mock_call() was never awaited",
            "      created at unittest/mock.py:* in _mock_call (from test_mocked.py:10 in labels)",
            "      created via (most recent call first):",
            "        unittest/mock.py:* in _mock_call",
            "        unittest/mock.py:* in __call__",
            "        test_mocked.py:10 in labels",
            "Fix: await the coroutine (or pass it to asyncio.create_task and await the task).",
        ],
        consecutive=True,
    )


def test_a_task_that_swallows_cancellation_does_not_hang_the_session(pytester, run):
    pytester.makepyfile(
        test_stubborn=textwrap.dedent(
            """
        import asyncio

        async def stubborn():
            while True:
                try:
                    await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard
                except asyncio.CancelledError:
                    pass

        async def test_leaves_stubborn():
            asyncio.create_task(stubborn(), name="stubborn")
            await asyncio.sleep(0)

        async def test_after():
            pass
        """
        )
        + NEXT_TEST_IS_CLEAN
    )
    result = run()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaves_stubborn left 1 task behind after teardown:",
            "  task 'stubborn' running stubborn() is still pending",
            "      created at test_stubborn.py:11 in test_leaves_stubborn",
            "      parked at: stubborn() at test_stubborn.py:6 -> asyncio sleep()",
            "*swallowed the cancellation*loopwarden closed its coroutine to end it*",
        ]
    )


def test_threads_a_test_starts_must_be_finished(pytester, run):
    pytester.makepyfile(
        test_threads="""
        import threading

        stop = threading.Event()

        def test_starts_thread():
            threading.Thread(target=stop.wait, name="poller").start()

        def test_joins_thread():
            t = threading.Thread(target=len, args=([],))
            t.start()
            t.join()

        def test_stop():
            stop.set()
        """
    )
    result = run()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_starts_thread left 1 thread behind after teardown:",
            "  thread 'poller' (target Event.wait) is still alive",
            "      created at test_threads.py:6 in test_starts_thread",
            "Fix: join threads you start, or run blocking work with asyncio.to_thread(); a "
            "library's worker thread (a database driver's) ends when what started it is closed "
            "(await engine.dispose()).",
        ]
    )


def test_thread_pools_that_outlive_tests_by_design_are_not_leaks(pytester, run):
    # trio keeps its worker threads ("Trio thread 0") cached, idle, for the whole process: the
    # first test that grew the cache was told it "left 1 thread behind".
    pytest.importorskip("trio")
    pytester.makepyfile(
        test_pools="""
        import threading
        import trio

        stop = threading.Event()

        def test_runs_work_in_trio_s_thread_cache():
            assert trio.run(trio.to_thread.run_sync, lambda: 41 + 1) == 42

        def test_starts_its_own_thread_too():
            assert trio.run(trio.to_thread.run_sync, lambda: 1) == 1
            threading.Thread(target=stop.wait, name="mine").start()

        def test_stop():
            stop.set()
        """
    )
    result = run()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ ERROR at teardown of test_starts_its_own_thread_too _*_",
            "loopwarden: test_starts_its_own_thread_too left 1 thread behind after teardown:",
            "  thread 'mine' (target Event.wait) is still alive",
        ]
    )
    result.stdout.no_fnmatch_line("*Trio thread*")


# A module-scoped async fixture that leaves its heartbeat task running (created at line 9).
LEAKY_MODULE_SERVICE = """
        import asyncio, pytest

        async def heartbeat():
            while True:
                await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard

        @pytest.fixture(scope="module")
        async def service():
            asyncio.create_task(heartbeat(), name="heartbeat")
            yield "svc"
"""


def _heartbeat_left(test, by):
    """The report, at ``test``'s teardown, of LEAKY_MODULE_SERVICE's task left by ``by``."""
    return [
        f"*_ ERROR at teardown of {test} _*",
        f"loopwarden: {by} left 1 task behind after teardown:",
        "  task 'heartbeat' running heartbeat() is still pending",
        "      created at test_fix.py:9 in service",
    ]


def _module_loops(pytester, run):
    if run.mode == "guard":
        # Tests share the module's loop with the module-scoped fixtures.
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = module\n"
            "asyncio_default_test_loop_scope = module\n"
        )


def test_wider_fixture_leaks_are_reported_at_its_teardown_naming_it(pytester, run):
    pytester.makepyfile(
        test_fix=LEAKY_MODULE_SERVICE
        + """
        @pytest.fixture(scope="module")
        async def tidy_service():
            task = asyncio.create_task(heartbeat())
            yield "tidy"
            task.cancel()

        async def test_one(service, tidy_service):
            assert service == "svc"

        async def test_two(service, tidy_service):
            assert tidy_service == "tidy"
        """
    )
    _module_loops(pytester, run)
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(_heartbeat_left("test_two", "the module-scoped fixture 'service'"))


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks came in Python 3.12")
def test_what_an_eager_tasks_first_step_creates_belongs_to_the_tasks_creator(pytester, run):
    # The module fixture's dispatcher starts each handler eagerly (the task factory Home
    # Assistant uses); the handler's first step, run inside create_task, starts a heartbeat the
    # fixture owns and stops. It used to be charged to the running test: a false "left a task".
    pytester.makepyfile(
        test_bus="""
        import asyncio, pytest

        async def heartbeat():
            while True:
                await asyncio.sleep(3600)  # sleep-ok: parked until the fixture cancels it

        async def handle(event, beats):
            beats.append(asyncio.create_task(heartbeat(), name=f"beat-{event}"))
            await asyncio.sleep(0)

        @pytest.fixture(scope="module")
        async def bus():
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            queue, beats = asyncio.Queue(), []

            async def dispatch():
                while True:
                    event = await queue.get()
                    asyncio.create_task(handle(event, beats))
                    queue.task_done()

            dispatcher = asyncio.create_task(dispatch())
            yield queue
            for task in [dispatcher, *beats]:
                task.cancel()
            await asyncio.gather(dispatcher, *beats, return_exceptions=True)
            loop.set_task_factory(None)

        async def test_publishes(bus):
            await bus.put("a")
            await bus.join()
            assert [t.get_name() for t in asyncio.all_tasks() if t.get_name() == "beat-a"]

        async def test_leaks_its_own():
            loop = asyncio.get_running_loop()
            loop.set_task_factory(asyncio.eager_task_factory)
            asyncio.create_task(handle("b", []))
            loop.set_task_factory(None)
        """
    )
    _module_loops(pytester, run)
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    assert _errored(result) == ["test_bus.py::test_leaks_its_own"]
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaks_its_own left 1 task behind after teardown:",
            "  task 'beat-b' running heartbeat() is still pending",
            "      created at test_bus.py:8 in handle",
        ]
    )


def test_a_wider_fixture_parametrized_per_test_leaks_as_the_test(pytester, run):
    # Parametrized with scope="function", a module fixture is set up and torn down for each test
    # (pytest-asyncio's own loop-factory fixture is one): what it leaves is the test's.
    pytester.makepyfile(
        test_fix=LEAKY_MODULE_SERVICE
        + """
        @pytest.mark.parametrize("service", ["a"], indirect=True, scope="function")
        async def test_one(service):
            assert service == "svc"

        async def test_two():
            assert [t for t in asyncio.all_tasks() if t.get_name() == "heartbeat"] == []
        """
    )
    _module_loops(pytester, run)
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(_heartbeat_left("test_one[[]a[]]", "test_one[[]a[]]"))
    result.stdout.no_fnmatch_line("*module-scoped fixture*")


def test_a_class_fixture_of_a_test_outside_a_class_is_checked_at_its_teardown(pytester, run):
    # pytest ends a class-scoped fixture with the test when there is no class; what it left is
    # still reported, naming it.
    pytester.makepyfile(
        test_fix=LEAKY_MODULE_SERVICE.replace('scope="module"', 'scope="class"')
        + """
        async def test_one(service):
            assert service == "svc"
        """
    )
    _module_loops(pytester, run)
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(_heartbeat_left("test_one", "the class-scoped fixture 'service'"))


def test_a_wider_fixture_leak_is_reported_when_the_last_test_failed_its_setup(pytester, run):
    # test_two's wrong marker fails its setup before the leak guard's setup hook runs; its
    # teardown still ends the module's fixture, and what that fixture left is still reported.
    pytester.makepyfile(
        test_fix=LEAKY_MODULE_SERVICE
        + """
        async def test_one(service):
            assert service == "svc"

        @pytest.mark.loopwarden(bogus=1)
        async def test_two(service):
            pass
        """
    )
    _module_loops(pytester, run)
    result = run()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_two _*",
            "loopwarden: test_fix.py::test_two: @pytest.mark.loopwarden(bogus=...) is not an "
            "argument loopwarden knows; *",
            "*_ ERROR at teardown of test_two _*",
            "loopwarden: the module-scoped fixture 'service' left 1 task behind after teardown:",
            "  task 'heartbeat' running heartbeat() is still pending",
        ]
    )


def test_allow_leaks_marker_lets_named_things_through(pytester, run):
    pytester.makepyfile(
        test_allowed="""
        import asyncio, pytest

        async def poll():
            await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard

        async def other():
            await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard

        @pytest.mark.allow_leaks(tasks="poll", reason="the poller is stopped by the app")
        async def test_allowed():
            asyncio.create_task(poll())

        @pytest.mark.allow_leaks(tasks=["poll"], reason="only the poller")
        async def test_not_that_one():
            asyncio.create_task(other())
        """
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_not_that_one left 1 task behind after teardown:",
            "  task 'Task-*' running other() is still pending",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= loopwarden =*",
            "1 finding failing in 1 test",
            "1 finding allowed by @pytest.mark.allow_leaks in 1 test",
        ]
    )


def test_findings_of_xdist_workers_reach_the_controllers_summary(pytester, run):
    # Reports are read only where needed: in a worker once it has findings, and always in the
    # xdist controller, which receives them on the reports.
    pytester.makepyfile(
        test_workers="""
        import asyncio, pytest

        async def poll():
            await asyncio.sleep(3600)  # sleep-ok: parked forever, cancelled by the guard

        async def test_clean():
            await asyncio.sleep(0)

        @pytest.mark.allow_leaks(tasks="poll", reason="the poller is stopped by the app")
        async def test_allowed():
            asyncio.create_task(poll())

        async def test_leaks():
            asyncio.create_task(poll())
        """
    )
    result = run("-n", "2")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*= loopwarden =*",
            "1 finding failing in 1 test",
            "1 finding allowed by @pytest.mark.allow_leaks in 1 test",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "allow_leaks(tasks=True)",
            "needs reason='...' saying why the leak is acceptable (it is shown in reports).",
        ),
        (
            "allow_leaks(task=True, reason='x')",
            "got unknown keyword 'task'; allowed: tasks, timers, threads, resources, errors, "
            "reason.",
        ),
        (
            "allow_leaks(tasks='(', reason='x')",
            "tasks='(' is not a valid regular expression: missing ), unterminated subpattern "
            "at position 0.",
        ),
        (
            "allow_leaks(reason='x')",
            "allows nothing; name what to allow with one of: tasks, timers, threads, resources, "
            "errors.",
        ),
    ],
)
def test_a_bad_allow_leaks_marker_is_a_usage_error(pytester, own, marker, message):
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_it():
            pass
        """
    )
    result = own()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: loopwarden: test_a_bad_allow_leaks_marker_is_a_usage_error.py::test_it: "
            f"@pytest.mark.allow_leaks {message}"
        ]
    )


LEAKY = """
import asyncio

async def test_leaks():
    asyncio.get_running_loop().call_later(30, print)

async def test_clean():
    pass
"""


def test_warn_and_off(pytester, own):
    pytester.makepyfile(test_w=LEAKY)
    result = own("--lw-leaks=warn", "--lw-report=report.json")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*LeakWarning: loopwarden: test_leaks left 1 timer behind after teardown:",
            "1 finding warned about, not failing (loopwarden_leaks or "
            "loopwarden_blocking_action = warn) in 1 test",
        ]
    )
    report = json.loads((pytester.path / "report.json").read_text())
    [finding] = report["tests"]["test_w.py::test_leaks"]["findings"]
    assert finding["status"] == "warned"
    result = own("--lw-leaks=off")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*loopwarden: test_leaks*")


def test_a_warnings_filter_of_error_decides_a_warned_leak_and_the_report_keeps_it(pytester, run):
    # With `filterwarnings = error`, the LeakWarning was raised inside loopwarden's teardown hook
    # (a traceback into loopwarden) while the report said "warned".
    pytester.makepyfile(test_w=LEAKY)
    result = run("--lw-leaks=warn", "-W", "error::loopwarden.LeakWarning", "--lw-report=r.json")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ ERROR at teardown of test_leaks _*_",
            "loopwarden: test_leaks left 1 timer behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_w.py:4 in test_leaks",
            "loopwarden cancelled and closed what was left.",
            "Fix: keep the handle of call_later()/call_at() and cancel it in teardown.",
            "*= loopwarden =*",
        ]
    )
    result.stdout.no_fnmatch_line("*loopwarden/_plugin*")
    report = json.loads((pytester.path / "r.json").read_text())
    [finding] = report["tests"]["test_w.py::test_leaks"]["findings"]
    assert (finding["kind"], finding["status"]) == ("timer", "new")
    # A baseline's known leak does not fail, whatever the warnings filter says.
    result = run("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=2, warnings=1)
    result = run("--lw-leaks-baseline=leaks.json", "-W", "error", "--lw-report=r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["1 finding known (in the baseline) in 1 test"])
    report = json.loads((pytester.path / "r.json").read_text())
    [finding] = report["tests"]["test_w.py::test_leaks"]["findings"]
    assert finding["status"] == "baselined"


def test_what_dies_in_a_reference_cycle_is_charged_to_its_creator_not_the_running_test(
    pytester, run
):
    # The cyclic collector ran during test_innocent: the coroutine test_makes_a_cycle dropped
    # failed test_innocent; the module fixture's failed task (its weak creation record cleared
    # before its finalizer reported it) failed test_collects.
    pytester.makepyfile(
        test_cycle="""
        import asyncio
        import gc

        import pytest

        async def work():
            pass

        async def test_makes_a_cycle():
            cycle = {}
            cycle["self"] = cycle
            cycle["coro"] = work()

        async def test_innocent():
            gc.collect()

        async def boom():
            raise ValueError("boom")

        @pytest.fixture(scope="module")
        async def failed_job():
            task = asyncio.get_running_loop().create_task(boom())
            await asyncio.sleep(0)
            cycle = {"task": task}
            cycle["self"] = cycle
            yield "job"

        async def test_uses_the_job(failed_job):
            pass

        async def test_collects(failed_job):
            gc.collect()
        """
    )
    _module_loops(pytester, run)
    result = run("-p", "no:randomly", "--lw-report=r.json")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ ERROR at teardown of test_collects _*_",
            "loopwarden: the module-scoped fixture 'failed_job' had 1 unretrieved task exception:",
            "  task running boom() failed and nobody retrieved its exception: ValueError: boom",
            "      created at test_cycle.py:22 in failed_job",
            "*= loopwarden =*",
            "1 finding failing in 1 test",
            "1 late finding, found when no test could fail for it any more: 1 failing the run "
            "(not a test)",
            "late: coroutine work() was never awaited, created at test_cycle.py:12 in "
            "test_makes_a_cycle (by test_cycle.py::test_makes_a_cycle; found after that test "
            "had finished)",
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["tests"]["test_cycle.py::test_innocent"]["findings"] == []
    [found] = report["tests"]["test_cycle.py::test_collects"]["findings"]
    assert found["owner"] == "module-scoped fixture 'failed_job'"
    [late] = report["late"]
    assert (late["kind"], late["owner"]) == ("coroutine", "test_cycle.py::test_makes_a_cycle")
    assert result.ret == 1  # a late finding fails the run, not a test


def test_a_dropped_coroutine_of_a_parametrized_test_is_never_charged_to_the_wrong_one(
    pytester, run
):
    # Parametrized tests share one function: the coroutine test_makes[1] dropped in a cycle,
    # collected during test_makes[2], failed test_makes[2].
    pytester.makepyfile(
        test_params="""
        import gc
        import pytest

        async def work():
            pass

        KEPT = []

        @pytest.mark.parametrize("n", [1, 2])
        async def test_makes(n):
            if n == 1:
                cycle = {"coro": work()}
                cycle["self"] = cycle
            else:
                gc.collect()
        """
    )
    result = run("-p", "no:randomly", "--lw-report=r.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "late: coroutine work() was never awaited, created at test_params.py:12 in "
            "test_makes (by one of test_params.py::test_makes[1], test_params.py::test_makes[2];"
            " found after that test had finished)",
        ]
    )
    assert result.ret == 1


def test_many_alike_findings_are_one_entry_and_the_message_is_bounded(pytester, run):
    # 300 tasks from one line printed 900 lines in random order; the message had no bound.
    pytester.makepyfile(
        test_many="""
        import asyncio

        async def test_many_tasks():
            for _ in range(300):
                asyncio.get_running_loop().create_task(asyncio.sleep(3600))  # sleep-ok: parked

        async def test_timers_from_many_lines():
            loop = asyncio.get_running_loop()
TIMERS
        """.replace("TIMERS", TIMERS)
    )
    result = run("--lw-report=r.json")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_many_tasks left 300 tasks behind after teardown:",
            "  task '*' running sleep() is still pending — and 299 more like it (same creation "
            "line and state)",
            "      created at test_many.py:5 in test_many_tasks",
            "      parked at: asyncio sleep()",
            "loopwarden cancelled and closed what was left.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_timers_from_many_lines left 24 timers behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_many.py:9 in test_timers_from_many_lines",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_many.py:10 in test_timers_from_many_lines",
            "      created at test_many.py:28 in test_timers_from_many_lines",
            "  … and 4 more findings from 4 other lines (--lw-report lists every one)",
            "loopwarden cancelled and closed what was left.",
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert len(report["tests"]["test_many.py::test_many_tasks"]["findings"]) == 300
    assert len(report["tests"]["test_many.py::test_timers_from_many_lines"]["findings"]) == 24


TIMERS = "\n".join(f"            loop.call_later(60, print, {i})" for i in range(24))


def test_json_report(pytester, run):
    pytester.makepyfile(test_j=LEAKY)
    result = run("--lw-report=out/report.json")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["report written to out/report.json"])
    data = json.loads((pytester.path / "out" / "report.json").read_text())
    assert data["version"] == 1
    assert data["findings_total"] == 1
    assert data["late"] == []
    assert data["tests"]["test_j.py::test_clean"] == {"outcome": "passed", "findings": []}
    entry = data["tests"]["test_j.py::test_leaks"]
    assert entry["outcome"] == "error"
    assert entry["findings"] == [
        {
            "kind": "timer",
            "name": "print",
            "message": "timer calling print() was neither run nor cancelled",
            "site": "test_j.py:4 in test_leaks",
            "user_site": None,
            "detail": [],
            "owner": "test_j.py::test_leaks",
            "status": "new",
        }
    ]


def test_baseline_is_recorded_then_honoured(pytester, own):
    pytester.makepyfile(test_b=LEAKY)
    result = own("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "1 finding recorded into the baseline in 1 test",
            "baseline recorded: *leaks.json — later runs with the same --lw-leaks-baseline only "
            "warn about these findings",
        ]
    )
    recorded = json.loads((pytester.path / "leaks.json").read_text())
    assert recorded == {
        "loopwarden_baseline": 1,
        "tests": {"test_b.py::test_leaks": ["timer:print@test_b.py:test_leaks"]},
    }
    result = own("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*LeakWarning: loopwarden: test_leaks (known, in the baseline) left 1 timer behind "
            "after teardown:",
            "1 finding known (in the baseline) in 1 test",
        ]
    )
    # A new leak elsewhere still fails.
    pytester.makepyfile(
        test_b=LEAKY
        + "\nasync def test_new():\n    asyncio.get_running_loop().call_later(9, len)\n"
    )
    result = own("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=3, errors=1, warnings=1)
    result.stdout.fnmatch_lines(["loopwarden: test_new left 1 timer behind after teardown:"])


LATE = """
import gc
import pytest

async def work():
    pass

async def test_cycle():
    cycle = {}
    cycle["self"] = cycle
    cycle["coro"] = work()  # found dead by the garbage collector, whenever it runs

async def test_timer():
    import asyncio
    asyncio.get_running_loop().call_later(30, print)

def test_collects():
    gc.collect()

def test_clean():
    pass
"""


def _collect_only_when_asked(pytester: pytest.Pytester) -> None:
    """No automatic garbage collection in the suite a test writes: what dies in a cycle is then
    found by the suite's own gc.collect() or loopwarden's passes, not whenever the collector's
    thresholds happen to be reached (Python 3.14+ collects incrementally)."""
    pytester.makeconftest("import gc\n\ngc.disable()\n")


_NAMES_NO_TEST = "made by no test loopwarden can name, so no test is failed for it)"


def test_an_unretrieved_future_freed_later_is_reported_alike_in_both_modes_naming_no_test(
    pytester, run
):
    """A plain future (loopwarden records tasks, not futures) given an exception nobody
    retrieves, held in a reference cycle, freed by the collector during a later test. Guard mode
    lost it (the test's loop was closed by then); the own runner reported it. Both now report
    it, late, naming no test: which test made the future is not known (aioesphomeapi's
    @singleton in the trust corpus). The exception was raised through the test, but that is no
    evidence: see the next test."""
    _collect_only_when_asked(pytester)
    pytester.makepyfile(
        test_future="""
        import asyncio, gc

        def fail(future):
            try:
                raise ValueError("never retrieved")
            except ValueError as exc:
                future.set_exception(exc)  # exc -> traceback -> this frame -> future
                raise

        async def test_leaves_unretrieved_future():
            future = asyncio.get_running_loop().create_future()
            try:
                fail(future)
            except ValueError:
                pass

        async def test_innocent():
            gc.collect()

        async def test_after():
            pass
        """
    )
    result = run("-p", "no:randomly")
    assert result.ret == 1
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "1 late finding, found when no test could fail for it any more: 1 failing the run "
            "(not a test)",
            "late: the event loop's exception handler was called: Future exception was never "
            "retrieved: ValueError: never retrieved (found dead in a reference cycle by the "
            "garbage collector; " + _NAMES_NO_TEST,
        ]
    )


def test_an_exception_kept_from_an_earlier_test_does_not_name_that_test(pytester, run):
    # A review case: test_a raises and keeps an exception; test_b sets it on its own future,
    # which nobody retrieves. The exception's frames are test_a's; the future is test_b's.
    _collect_only_when_asked(pytester)
    pytester.makepyfile(
        test_kept="""
        import asyncio, gc

        SAVED = []

        async def test_a_catches_and_keeps_error():
            try:
                raise ValueError("boom")
            except ValueError as exc:
                SAVED.append(exc)

        async def test_b_leaves_unretrieved_future():
            fut = asyncio.get_running_loop().create_future()
            exc = SAVED.pop()
            exc.fut = fut  # a cycle: fut -> exc -> fut
            fut.set_exception(exc)

        async def test_c_collects():
            gc.collect()
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["late: *ValueError: boom (found dead in a reference cycle*"])
    result.stdout.no_fnmatch_line("*by test_kept.py::test_a*")


def test_a_report_after_a_wider_loop_closed_names_not_its_last_test(pytester, run):
    """A review case: a module loop closes with its last test as the loop's owner; a future an
    earlier test left is freed afterwards (by reference counting, in another module's test). It
    was charged to that last test in guard mode. Now: late, no test named, in both modes."""
    pytester.makepyfile(
        test_mod="""
        import asyncio, pytest

        HOLD = []

        @pytest.mark.asyncio(loop_scope="module")
        async def test_makes_future():
            fut = asyncio.get_running_loop().create_future()
            fut.set_exception(ValueError("never retrieved"))
            HOLD.append(fut)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_innocent_last_in_module():
            await asyncio.sleep(0)
        """,
        test_zfree="""
        from test_mod import HOLD

        def test_frees():
            HOLD.clear()

        def test_after():
            pass
        """,
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "late: the event loop's exception handler was called: Future exception was never "
            "retrieved: ValueError: never retrieved (reported after its loop had closed; "
            + _NAMES_NO_TEST,
        ]
    )
    result.stdout.no_fnmatch_line("*by test_mod.py::test_innocent_last_in_module*")


def test_a_no_leaks_block_is_not_failed_by_a_report_from_an_earlier_tests_loop(pytester, run):
    # A review case: what a closed loop of the session is given goes to the session's checks,
    # not to a loopwarden.no_leaks() block that happens to check next.
    pytester.makepyfile(
        test_block="""
        import asyncio, loopwarden

        HOLD = []

        async def test_a_leaves():
            fut = asyncio.get_running_loop().create_future()
            fut.set_exception(ValueError("test_a's"))
            HOLD.append(fut)

        def test_b_frees():
            HOLD.clear()

        async def test_c_uses_no_leaks():
            async with loopwarden.no_leaks():
                await asyncio.sleep(0)
        """
    )
    result = run("-p", "no:randomly", "-o", "loopwarden_loop=test")
    result.assert_outcomes(passed=3)
    result.stdout.no_fnmatch_line("*LeaksFound*")


def test_a_task_a_sync_test_leaves_on_the_runners_loop_is_not_charged_to_the_next_test(
    pytester, own
):
    """A sync test drives the own runner's loop (an async fixture made it current) and leaves a
    task, which nobody owned; the collector frees it during the next test. It was charged to
    that innocent test; now it is a late finding of the test whose function made it (gql's
    sync subscription tests in the trust corpus)."""
    _collect_only_when_asked(pytester)
    pytester.makepyfile(
        test_sync_loop="""
        import asyncio, gc, pytest

        @pytest.fixture
        async def server():
            yield "srv"

        def test_sync_body_runs_the_loop(server):
            loop = asyncio.get_event_loop()

            async def never():
                await asyncio.Event().wait()

            loop.create_task(never())
            loop.run_until_complete(asyncio.sleep(0))

        async def test_innocent():
            gc.collect()
            await asyncio.sleep(0)
        """
    )
    result = own("-p", "no:randomly")
    assert result.ret == 1
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "late: task running test_sync_body_runs_the_loop.<locals>.never() was "
            "garbage-collected while still pending, created at test_sync_loop.py:13 in "
            "test_sync_body_runs_the_loop (by test_sync_loop.py::test_sync_body_runs_the_loop; "
            "found after that test had finished)",
        ]
    )


def test_a_baseline_recorded_on_the_whole_suite_holds_for_any_subset(pytester, run):
    """Late findings (charged to their creator after its verdict) are recorded into the
    baseline and honoured by it; the last test's cycles are found before the run ends, so
    whether they are reported no longer depends on which tests ran; a subset's summary judges
    only the entries of the tests that ran."""
    pytester.makepyfile(test_late=LATE)
    result = run("--lw-leaks-baseline=leaks.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "1 finding recorded into the baseline in 1 test",
            "late (recorded into the baseline): coroutine work() was never awaited, created at "
            "test_late.py:10 in test_cycle (by test_late.py::test_cycle; found after that test "
            "had finished)",
        ]
    )
    recorded = json.loads((pytester.path / "leaks.json").read_text())
    assert recorded["tests"] == {
        "test_late.py::test_cycle": ["coroutine:work@test_late.py:test_cycle"],
        "test_late.py::test_timer": ["timer:print@test_late.py:test_timer"],
    }
    for subset in ("", "test_cycle", "test_cycle or test_clean", "test_collects or test_clean"):
        result = run("--lw-leaks-baseline=leaks.json", "-k", subset)
        assert result.ret == 0, (subset, result.stdout.str())
        result.stdout.no_fnmatch_line("*no longer occur*")
        if "test_cycle" in subset or not subset:
            # Found while test_cycle runs (the collector ran then: always when it is the last
            # test, whose teardown starts with a collection pass), it is that test's own finding;
            # found later, a late finding of it. Known in the baseline either way.
            late = "late (known, in the baseline): coroutine work() was never awaited, *"
            own = "1 finding known (in the baseline) in 1 test"
            assert any(
                fnmatch.fnmatch(line, late) or line == own for line in result.stdout.lines
            ), (
                subset,
                result.stdout.str(),
            )
    # Fixed: the entry of a test that ran is stale; one of a test that did not run is not judged.
    pytester.makepyfile(test_late=LATE.replace('cycle["coro"] = work()', "pass"))
    result = run("--lw-leaks-baseline=leaks.json", "-k", "test_cycle")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "1 baseline entry of the tests that ran no longer occurs (fixed?); delete "
            "*leaks.json and run the whole suite again to re-record"
        ]
    )


def test_late_findings_follow_the_creators_marker_and_reach_the_xdist_controller(pytester, own):
    """A late finding of a test marked allow_leaks(errors=...) is allowed; under xdist, a
    worker's late findings reach the controller's summary, report and exit status (they were
    lost: the run passed)."""
    _collect_only_when_asked(pytester)
    pytester.makepyfile(
        test_late=LATE.replace(
            "async def test_cycle():",
            '@pytest.mark.allow_leaks(errors=["work"], reason="a probe")\nasync def test_cycle():',
        )
    )
    result = own("-k", "test_cycle or test_clean")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "1 late finding, found when no test could fail for it any more: none failing the run",
            "late (allowed by @pytest.mark.allow_leaks): coroutine work() was never awaited, *",
        ]
    )
    pytester.makepyfile(test_late=LATE)
    # (One worker: test_cycle is then not its worker's last test, whose cycles are its own.)
    result = own("-n", "1", "--lw-report=report.json", "-k", "not test_timer")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "late: coroutine work() was never awaited, created at test_late.py:10 in test_cycle "
            "(by test_late.py::test_cycle; found after that test had finished)",
        ]
    )
    report = json.loads((pytester.path / "report.json").read_text())
    assert [(f["owner"], f["status"]) for f in report["late"]] == [
        ("test_late.py::test_cycle", "new")
    ]


def test_the_last_tests_cycles_are_found_before_the_run_ends_and_follow_their_creator(
    pytester, run
):
    """What the last test leaves in a cycle that only the library reports when it is freed (a
    future's unretrieved exception) is found by the final collection pass; a parametrized
    test's late finding ("one of …") follows the marker its runs share, and a baseline recorded
    on the whole suite holds for one of its runs."""
    _collect_only_when_asked(pytester)
    pytester.makepyfile(
        test_last=textwrap.dedent(
            """
        import asyncio, pytest

        async def work():
            pass

        @pytest.mark.allow_leaks(errors=["work"], reason="a probe")
        @pytest.mark.parametrize("n", [1, 2])
        async def test_marked(n):
            cycle = {}
            cycle["self"] = cycle
            cycle["coro"] = work()

        @pytest.mark.parametrize("n", [1, 2])
        async def test_unmarked(n):
            cycle = {}
            cycle["self"] = cycle
            cycle["coro"] = work()

        async def test_future_last():
            fut = asyncio.get_running_loop().create_future()
            fut.set_exception(RuntimeError("nobody reads me"))
            cycle = {"fut": fut}
            cycle["self"] = cycle
        """
        )
    )
    result = run("-k", "test_future_last")
    assert result.ret == 1  # (it was found after the report, or never: the run passed)
    result.stdout.fnmatch_lines(
        [
            "late: the event loop's exception handler was called: Future exception was never "
            "retrieved: RuntimeError: nobody reads me (found dead in a reference cycle by the "
            "garbage collector; made by no test loopwarden can name, so no test is failed for it)"
        ]
    )
    result = run("-k", "test_marked")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["late (allowed by @pytest.mark.allow_leaks): coroutine work()*"])
    result = run("-k", "test_unmarked", "--lw-leaks-baseline=leaks.json")
    assert result.ret == 0
    recorded = json.loads((pytester.path / "leaks.json").read_text())["tests"]
    assert set(recorded) == {"test_last.py::test_unmarked[1]", "test_last.py::test_unmarked[2]"}
    result = run("-k", "test_unmarked and 1 or test_future_last", "--lw-leaks-baseline=leaks.json")
    result.stdout.fnmatch_lines(["late (known, in the baseline): coroutine work()*"])


def test_a_baseline_judges_only_the_tests_that_ran(pytester, own):
    """Stopped by -x, the tests after the failure did not run: their entries are not stale."""
    pytester.makepyfile(
        test_x="""
        import asyncio

        async def test_a():
            asyncio.get_running_loop().call_later(30, print)

        def test_b():
            assert False

        async def test_c():
            asyncio.get_running_loop().call_later(30, print)
        """
    )
    own("--lw-leaks-baseline=leaks.json")
    result = own("--lw-leaks-baseline=leaks.json", "-x")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines(["1 finding known (in the baseline) in 1 test"])
    result.stdout.no_fnmatch_line("*no longer occur*")


def test_a_baseline_recorded_before_a_finding_had_its_user_line_still_matches(tmp_path):
    # What a library makes in a callback now names the user's line: the baseline key, made from
    # that line, changed, and known leaks failed as new after an upgrade.
    from loopwarden._core._findings import Finding
    from loopwarden._plugin._baseline import Baseline

    old = Finding("timer", "OrderedDict.pop", "timer", site="async_lru/__init__.py:258 in _done")
    baseline = Baseline(tmp_path / "b.json", False, known={"t.py::test_x": {old.signature()}})
    now = Finding(
        "timer",
        "OrderedDict.pop",
        "timer",
        site="async_lru/__init__.py:258 in _done",
        user_site="t.py:7 in test_x",
    )
    baseline.classify("t.py::test_x", now)
    assert now.status == "baselined"
    other = Finding("timer", "OrderedDict.pop", "timer", site="lib.py:1 in f", user_site="t.py:9")
    baseline.classify("t.py::test_x", other)
    assert other.status == "new"


def test_unreadable_baseline_is_a_usage_error(pytester, own):
    pytester.makepyfile(test_b=LEAKY)
    (pytester.path / "leaks.json").write_text("{not json")
    result = own("--lw-leaks-baseline=leaks.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: loopwarden: the leak baseline leaks.json cannot be read (*). Delete it to "
            "record a new one on the next run."
        ]
    )


def test_what_wider_fixtures_hold_is_theirs_not_the_tests(pytester, run):
    """A session-scoped client keeps the connection a test opened; a session-scoped server
    serves the test with handler tasks; an engine's pool keeps a second connection's thread."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("aiosqlite")
    pytest.importorskip("sqlalchemy")
    if run.mode == "guard":
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
            "asyncio_default_test_loop_scope = session\n"
        )
    pytester.makeconftest(
        """
        import aiohttp, pytest
        from aiohttp import web
        from sqlalchemy.ext.asyncio import create_async_engine

        async def hello(request):
            return web.Response(text="hi")

        @pytest.fixture(scope="session")
        async def server():
            app = web.Application()
            app.router.add_get("/", hello)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
            await runner.cleanup()

        @pytest.fixture(scope="session")
        async def http():
            async with aiohttp.ClientSession() as session:
                yield session

        @pytest.fixture(scope="session")
        async def engine(tmp_path_factory):
            engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('d')}/x.db")
            yield engine
            await engine.dispose()
        """
    )
    pytester.makepyfile(
        test_pool="""
        from sqlalchemy import text

        async def test_one(server, http):
            async with http.get(server) as resp:
                assert await resp.text() == "hi"

        async def test_two(server, http):
            async with http.get(server) as resp:
                assert await resp.text() == "hi"

        async def test_two_connections(engine):
            async with engine.connect() as a, engine.connect() as b:
                assert (await a.execute(text("select 1"))).scalar() == 1
                assert (await b.execute(text("select 2"))).scalar() == 2
        """
    )
    # Leaks only: on a loaded machine, creating the engine can hold the loop past the blocking
    # threshold, which is a (correct) finding of another kind.
    result = run("--lw-report=report.json", "--lw-blocking=0")
    result.assert_outcomes(passed=3)
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["findings_total"] == 0, report  # the report says what was found, if anything


def test_a_wider_fixture_whose_value_is_the_loop_does_not_take_the_tests_leftovers(pytester, run):
    """Through the loop, every timer on it is reachable: a session fixture returning the running
    loop (an old suite's stand-in for ``event_loop``) was charged with the timer a later test
    left, at the end of the session, and the test that left it passed."""
    if run.mode == "guard":
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
            "asyncio_default_test_loop_scope = session\n"
        )
    pytester.makeconftest(
        """
        import asyncio, pytest

        @pytest.fixture(scope="session")
        async def loop():
            return asyncio.get_running_loop()
        """
    )
    pytester.makepyfile(
        test_timer="""
        import asyncio

        async def test_uses_the_loop(loop):
            assert loop is asyncio.get_running_loop()

        async def test_leaves_a_timer():
            asyncio.get_running_loop().call_later(30, print)

        def test_last():
            pass
        """
    )
    result = run()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ ERROR at teardown of test_leaves_a_timer _*_",
            "loopwarden: test_leaves_a_timer left 1 timer behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_timer.py:7 in test_leaves_a_timer",
        ]
    )


def test_what_a_wider_fixtures_function_value_holds_in_its_closure_is_the_fixtures(pytester, run):
    """aiologic's session fixture yields a spawn() helper whose closure holds two executors; the
    executor starts its threads at the first submit, in whichever test calls spawn() first. Those
    threads are the fixture's (reached through the function's closure, not its module's
    globals), not that test's leak."""
    if run.mode == "guard":
        pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makeconftest(
        """
        import queue, threading
        import pytest

        class Executor:  # starts its worker at the first submit, as aiologic's does
            def __init__(self):
                self.jobs = queue.Queue()
                self.worker = None

            def _run(self):
                while (job := self.jobs.get()) is not None:
                    func, args, answer = job
                    answer.put(func(*args))

            def submit(self, func, *args):
                if self.worker is None:
                    self.worker = threading.Thread(target=self._run, name="executor")
                    self.worker.start()
                answer = queue.Queue()
                self.jobs.put((func, args, answer))
                return answer.get()

            def shutdown(self):
                if self.worker is not None:
                    self.jobs.put(None)
                    self.worker.join()

        @pytest.fixture(scope="session")
        def spawn():
            executor = Executor()

            def _spawn(func, *args):
                return executor.submit(func, *args)

            yield _spawn
            executor.shutdown()
        """
    )
    pytester.makepyfile(
        test_spawn="""
        async def test_first(spawn):
            assert spawn(sum, [1, 2]) == 3

        def test_second(spawn):
            assert spawn(max, [1, 2]) == 2
        """
    )
    result = run()
    result.assert_outcomes(passed=2)


def test_an_unclosed_aiohttp_session_names_the_line_that_made_it(pytester, run):
    pytest.importorskip("aiohttp")
    pytester.makepyfile(
        test_session="""
        import gc
        import aiohttp

        class ApiClient:
            def __init__(self):
                self.session = aiohttp.ClientSession()  # the anti-pattern: its own session

        async def test_forgets_to_close():
            client = ApiClient()
            del client
            gc.collect()
        """
    )
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_forgets_to_close had 1 unclosed session:",
            "  Unclosed client session (reported by the library when it was garbage-collected)",
            "      created at test_session.py:6 in __init__",
        ]
    )


SAME_VERDICT = """
import asyncio, threading
import aiohttp
import pytest

release = threading.Event()

async def test_call_soon():
    asyncio.get_running_loop().call_soon(print, "soon")

async def test_call_later_within_the_grace():
    asyncio.get_running_loop().call_later(0.1, print, "later")

async def numbers():
    try:
        for i in range(10):
            yield i
            await asyncio.sleep(0)
    finally:
        await asyncio.sleep(0)

async def test_async_for_left_by_an_exception():
    with pytest.raises(ValueError):
        async for _ in numbers():
            raise ValueError

async def test_task():
    asyncio.create_task(asyncio.sleep(100), name="sleeper")  # sleep-ok: the planted leak
    await asyncio.sleep(0)

async def test_timer():
    asyncio.get_running_loop().call_later(30, print, "late")

async def test_thread():
    threading.Thread(target=release.wait, name="waiter", daemon=True).start()

async def test_transport():
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))

async def test_session():
    aiohttp.ClientSession()

async def test_zz_next_test_is_clean():
    release.set()
"""


def test_the_same_leaks_get_the_same_verdict_in_both_modes(pytester, run):
    """One leak engine checks both modes: a callback or a short timer that runs within the grace,
    and asyncio's own aclose() of an async generator left by an exception, are no leak in either
    (guard mode used to report the last two); a task, timer, thread, transport and unclosed
    session are the same findings in both."""
    pytest.importorskip("aiohttp")
    pytester.makepyfile(test_verdicts=SAME_VERDICT)
    result = run()
    result.assert_outcomes(passed=9, errors=5)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_task _*",
            "loopwarden: test_task left 1 task behind after teardown:",
            "  task 'sleeper' running sleep() is still pending",
            "      created at test_verdicts.py:27 in test_task",
            "      parked at: asyncio sleep()",
            "loopwarden cancelled and closed what was left.",
            "Fix: cancel and await background tasks in the fixture that started them (or use a "
            "TaskGroup inside the test).",
            "*_ ERROR at teardown of test_timer _*",
            "loopwarden: test_timer left 1 timer behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_verdicts.py:31 in test_timer",
            "loopwarden cancelled and closed what was left.",
            "Fix: keep the handle of call_later()/call_at() and cancel it in teardown.",
            "*_ ERROR at teardown of test_thread _*",
            "loopwarden: test_thread left 1 thread behind after teardown:",
            "  thread 'waiter' (target Event.wait) is still alive",
            "      created at test_verdicts.py:34 in test_thread",
            "Fix: join threads you start, *",
            "*_ ERROR at teardown of test_transport _*",
            "loopwarden: test_transport left 1 connection behind after teardown:",
            "  connection still open: <_SelectorDatagramTransport fd=* read=polling *>",
            "      created at test_verdicts.py:38 in test_transport",
            "loopwarden cancelled and closed what was left.",
            "Fix: close connections in teardown (writer.close(); await writer.wait_closed()).",
            "*_ ERROR at teardown of test_session _*",
            "loopwarden: test_session had 1 unclosed session:",
            "  Unclosed client session (reported by the library when it was garbage-collected)",
            "      created at test_verdicts.py:41 in test_session",
            "Fix: close sessions in the fixture's teardown *",
        ]
    )
    assert _errored(result) == [
        "test_verdicts.py::test_task",
        "test_verdicts.py::test_timer",
        "test_verdicts.py::test_thread",
        "test_verdicts.py::test_transport",
        "test_verdicts.py::test_session",
    ]


def test_what_asyncio_makes_for_a_test_is_named_by_the_test_line_that_led_there(pytester, run):
    """A server's handler task and the connections it accepts were "created at" the server's
    start_server line; a connection made in 3.11's wait_for inner task, at the wait_for line — not
    in pytest's or pytest-asyncio's frames that run the loop. And loopwarden cancelling the
    handler is no "background error" (3.11's streams report its CancelledError)."""
    pytester.makepyfile(
        test_made=textwrap.dedent(
            """
        import asyncio, loopwarden

        async def handler(reader, writer):
            await reader.read()

        async def test_server_left_open():
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            transport, _ = await asyncio.wait_for(
                loop.create_connection(asyncio.Protocol, "127.0.0.1", port), 1
            )
            await loopwarden.settle()  # the server has accepted and its handler is reading
            test_server_left_open.keep = (server, transport)
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_server_left_open left 1 task, 1 server, 2 connections behind after "
            "teardown:",
            "  task '*' running handler() is still pending",
            "      created at test_made.py:7 in test_server_left_open",
            "      parked at: handler() at test_made.py:4 -> *",
            "  server still open: server on ('127.0.0.1', *)",
            "      created at test_made.py:7 in test_server_left_open",
            "  connection still open: <_WardenSocketTransport *>",
            "      created at test_made.py:*",
            "  connection still open: <_WardenSocketTransport *>",
            "      created at test_made.py:*",
            "loopwarden cancelled and closed what was left.",
            "Fix: cancel and await background tasks *; close the server *; close connections *.",
        ]
    )
    # (The teardown report's own lines: under CI=true pytest repeats the whole message in its
    # short summary.)
    report = result.stdout.lines
    report = report[
        report.index(
            "loopwarden: test_server_left_open left 1 task, 1 server, 2 "
            "connections behind after teardown:"
        ) :
    ]
    report = report[: next(i for i, line in enumerate(report) if line.startswith("Fix:"))]
    created = [line for line in report if "created at" in line]
    assert sorted(line.strip() for line in created) == [
        "created at test_made.py:10 in test_server_left_open",
        "created at test_made.py:7 in test_server_left_open",
        "created at test_made.py:7 in test_server_left_open",
        "created at test_made.py:7 in test_server_left_open",
    ]
    result.stdout.no_fnmatch_line("*background error*")


def test_the_tests_own_exception_handler_and_recorded_warnings_are_its_business(pytester, run):
    """A context the test's own exception handler receives, and a never-awaited coroutine whose
    warning the test records (pytest.warns, catch_warnings(record=True)), are what the test checks,
    not findings. Without them, both still are."""
    pytester.makepyfile(
        test_own=textwrap.dedent(
            """
        import asyncio, gc, warnings
        import pytest

        async def work():
            pass

        async def test_handler_of_its_own():
            loop = asyncio.get_running_loop()
            seen = []
            loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
            try:
                loop.call_exception_handler({"message": "the library said so"})
            finally:
                loop.set_exception_handler(None)
            assert seen == ["the library said so"]

        async def test_handler_that_passes_it_on():
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda lp, context: lp.default_exception_handler(context))
            try:
                loop.call_exception_handler({"message": "passed on"})
            finally:
                loop.set_exception_handler(None)

        async def test_pytest_warns():
            with pytest.warns(RuntimeWarning, match="never awaited"):
                work()
                gc.collect()

        async def test_catch_warnings_record():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                work()
                gc.collect()
            assert [str(w.message).splitlines()[0] for w in caught] == [
                "coroutine 'work' was never awaited"
            ]

        async def test_dropped():
            work()
            gc.collect()
        """
        )
    )
    result = run("-W", "ignore::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_handler_that_passes_it_on _*",
            "loopwarden: test_handler_that_passes_it_on had 1 background error:",
            "  the event loop's exception handler was called: passed on",
            "*_ ERROR at teardown of test_dropped _*",
            "loopwarden: test_dropped had 1 never-awaited coroutine:",
            "  coroutine work() was never awaited",
            "      created at test_own.py:40 in test_dropped",
        ]
    )


def test_a_session_a_fixture_never_closes_is_the_tests_with_its_line(pytester, run):
    """An aiohttp session yielded by a fixture and never closed, kept alive by a reference cycle
    (so aiohttp never reports it, or reports it during a later test), is found open when its
    test ends: one finding with the fixture's line and the session fix, its connection and
    keep-alive timer folded in, and closed — the next tests are clean in both modes."""
    pytest.importorskip("aiohttp")
    pytester.makepyfile(
        test_client=textwrap.dedent(
            """
        import aiohttp, pytest

        @pytest.fixture
        async def client(http_server):
            http_server.route("GET", "/ping", json={"ok": True})
            session = aiohttp.ClientSession(base_url=http_server.url)
            session.cycle = session  # as a client object that refers back to its owner
            yield session

        async def test_request(client):
            async with client.get("/ping") as response:
                assert (await response.json()) == {"ok": True}

        async def test_next():
            import gc
            gc.collect()  # were it still open, aiohttp would report it now, against this test
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_request _*",
            "loopwarden: test_request left 1 unclosed session behind after teardown:",
            "  aiohttp.ClientSession was never closed",
            "      created at test_client.py:6 in client",
            "loopwarden cancelled and closed what was left.",
            "Fix: close the session after the fixture's yield (await session.close()), or make it "
            "with 'async with aiohttp.ClientSession() as session:' (or use loopwarden's "
            "aiohttp_session fixture) — see docs/how-to/leaks.md.",
        ]
    )
    result.stdout.no_fnmatch_line("*timer*")
    result.stdout.no_fnmatch_line("*Unclosed*")
    assert _errored(result) == ["test_client.py::test_request"]


def test_an_httpx_client_a_fixture_never_closes_is_one_finding_with_its_line(pytester, run):
    """httpx says nothing about a client nobody closed: its pooled connection is a bare socket
    made inside anyio. loopwarden reports the client, with the fixture's line and httpx's fix,
    the connection folded in; a subclass is named as such; a client that holds nothing (never
    used, or on a transport without sockets) is no finding."""
    pytest.importorskip("httpx")
    pytester.makepyfile(
        test_client=textwrap.dedent(
            """
        import httpx, pytest

        class ApiClient(httpx.AsyncClient):
            pass

        @pytest.fixture
        async def client(http_server):
            http_server.route("GET", "/ping", json={"ok": True})
            client = httpx.AsyncClient(base_url=http_server.url)
            yield client

        async def test_request(client):
            assert (await client.get("/ping")).json() == {"ok": True}

        @pytest.fixture
        async def api(http_server):
            http_server.route("GET", "/ping", json={"ok": True})
            return ApiClient(base_url=http_server.url)

        async def test_subclass(api):
            assert (await api.get("/ping")).status_code == 200

        async def test_unused_and_socketless():
            async def app(scope, receive, send):
                await send({"type": "http.response.start", "status": 204, "headers": []})
                await send({"type": "http.response.body", "body": b""})
            httpx.AsyncClient()
            asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")
            assert (await asgi.get("/")).status_code == 204

        async def test_next():
            import gc
            gc.collect()
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_request _*",
            "loopwarden: test_request left 1 unclosed session behind after teardown:",
            "  httpx.AsyncClient was never closed",
            "      created at test_client.py:9 in client",
            "loopwarden cancelled and closed what was left.",
            "Fix: close the client after the fixture's yield (await client.aclose()), or make it "
            "with 'async with httpx.AsyncClient() as client:' (or use loopwarden's httpx_client "
            "fixture) — see docs/how-to/leaks.md.",
            "*_ ERROR at teardown of test_subclass _*",
            "loopwarden: test_subclass left 1 unclosed session behind after teardown:",
            "  test_client.ApiClient (an httpx.AsyncClient) was never closed",
            "      created at test_client.py:18 in api",
        ]
    )
    result.stdout.no_fnmatch_line("*connection still open*")
    assert _errored(result) == [
        "test_client.py::test_request",
        "test_client.py::test_subclass",
    ]


def test_a_builtin_session_fixture_owns_nothing_it_did_not_make(pytester, run):
    """pytest-mock's ``mocker`` depends on the session-scoped ``pytestconfig``, which a test sets
    up first: what the test then makes on the loop is still the test's, reported at its own
    teardown, in both modes — not "the session-scoped fixture 'pytestconfig'"'s, nor the next
    test's."""
    pytester.makepyfile(
        test_mocked=textwrap.dedent(
            """
        import asyncio, pytest

        @pytest.fixture
        def mocker(pytestconfig):  # as pytest-mock's
            yield pytestconfig.getini("python_files")

        @pytest.fixture
        async def patched(mocker):
            asyncio.get_running_loop().call_later(30, print, "fixture")
            yield mocker

        async def test_timer(patched):
            asyncio.get_running_loop().call_later(30, print, "test")

        async def test_task(mocker, pytestconfig):
            asyncio.get_running_loop().create_task(asyncio.sleep(30))  # sleep-ok: the planted leak
            await asyncio.sleep(0)

        async def test_next(mocker):
            pass
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_timer left 2 timers behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_mocked.py:9 in patched",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_mocked.py:13 in test_timer",
            "loopwarden: test_task left 1 task behind after teardown:",
            "  task '*' running sleep() is still pending",
            "      created at test_mocked.py:16 in test_task",
        ]
    )
    result.stdout.no_fnmatch_line("*pytestconfig*")
    assert _errored(result) == [
        "test_mocked.py::test_timer",
        "test_mocked.py::test_task",
    ]


def test_a_server_on_another_threads_loop_owns_what_it_makes_while_tests_run(pytester, run):
    """A session fixture serves on a loop in its own thread (as uvicorn in a thread); the loop is
    loopwarden's (anyio's runner makes the test's loop, and so the thread's, through the event
    loop policy). The keep-alive timers its protocol sets while a test's request is served are
    the server's — found at the fixture's teardown — not the test's that happened to be
    running."""
    pytester.makepyfile(
        test_served=textwrap.dedent(
            """
        import asyncio, threading
        import pytest

        class Keepalive(asyncio.Protocol):
            # as uvicorn's HTTP protocol: a keep-alive timer set from the transport's callbacks
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                asyncio.get_running_loop().call_later(30, print, "keep-alive")
                self.transport.write(b"ok\\n")

        class Server:
            def __init__(self):
                self.ready = threading.Event()

            async def serve(self):
                self.loop = asyncio.get_running_loop()
                self.stop = asyncio.Event()
                server = await self.loop.create_server(Keepalive, "127.0.0.1", 0)
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                async with server:
                    await self.stop.wait()

        @pytest.fixture(scope="session")
        def server():
            s = Server()
            thread = threading.Thread(target=asyncio.run, args=(s.serve(),))
            thread.start()
            s.ready.wait()
            yield s
            s.loop.call_soon_threadsafe(s.stop.set)
            thread.join()

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        @pytest.mark.parametrize("i", range(20))
        async def test_request(server, i):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"hi\\n")
            assert await reader.readline() == b"ok\\n"
            writer.close()
            await writer.wait_closed()

        def test_last():
            pass
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=21, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_last _*",
            "loopwarden: the session-scoped fixture 'server' left 20 timers behind after teardown:",
            "  timer calling print() was neither run nor cancelled — and 19 more like it (same "
            "creation line and state)",
            "      created at test_served.py:10 in data_received",
        ]
    )
    assert _errored(result) == ["test_served.py::test_last"]


def test_what_a_wider_fixture_owns_is_not_charged_to_the_test_running_when_it_surfaces(
    pytester, run
):
    """A module fixture's task fails, nobody reads its exception, and asyncio reports it when the
    task is freed — during test_a. It is the fixture's, reported at its teardown; test_a, which
    only dropped the reference, passes (it was failed for it)."""
    _module_loops(pytester, run)
    pytester.makepyfile(
        test_worker=textwrap.dedent(
            """
        import asyncio, pytest

        class Worker:
            task = None

        @pytest.fixture(scope="module")
        async def worker():
            async def boom():
                raise RuntimeError("boom")
            w = Worker()
            w.task = asyncio.create_task(boom())
            await asyncio.sleep(0)
            yield w

        async def test_a(worker):
            worker.task = None  # the fixture's failed task is freed here

        async def test_b(worker):
            pass
        """
        )
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_b _*",
            "loopwarden: the module-scoped fixture 'worker' had 1 unretrieved task exception:",
            "  task running worker.<locals>.boom() failed and nobody retrieved its exception: "
            "RuntimeError: boom",
            "      created at test_worker.py:11 in worker",
        ]
    )
    assert _errored(result) == ["test_worker.py::test_b"]


def test_a_task_a_timer_starts_within_the_grace_is_the_tests_in_both_modes(pytester, run):
    """The grace lets a short timer run; what it starts then is the test's (the own runner used
    to let it through unowned, alive into the next test)."""
    pytester.makepyfile(
        test_late=textwrap.dedent(
            """
        import asyncio

        keep = []

        async def forever():
            await asyncio.Event().wait()

        async def test_timer_starts_a_task():
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, lambda: keep.append(loop.create_task(forever(), name="late")))
        """
        )
        + NEXT_TEST_IS_CLEAN
    )
    result = run()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_timer_starts_a_task left 1 task behind after teardown:",
            "  task 'late' running forever() is still pending",
        ]
    )


def test_a_sync_sessions_cycles_are_found_by_the_one_collection_pass_at_its_end(
    pytester, own, guarded
):
    """A session with no loop open pays one collection pass, at its end, not three (two are for
    libraries that report through an open loop): what a sync test left in a cycle is still found
    and charged to it, last test or not. A collect-only run makes no pass; an async session two."""
    pytester.makeconftest(
        textwrap.dedent(
            """
            import gc

            gc.disable()
            PASSES = []

            def _count(phase, info):
                if phase == "start" and info["generation"] == 2:
                    PASSES.append(1)

            gc.callbacks.append(_count)

            def pytest_unconfigure(config):
                print(f"full collection passes: {len(PASSES)}")
            """
        )
    )
    pytester.makepyfile(
        test_sync=textwrap.dedent(
            """
            async def work():
                pass

            def test_cycle():
                cycle = {}
                cycle["self"] = cycle
                cycle["coro"] = work()

            def test_clean():
                pass
            """
        )
    )
    late = (
        "late: coroutine work() was never awaited, created at test_sync.py:7 in test_cycle (by "
        "test_sync.py::test_cycle; found after that test had finished)"
    )
    for order in ("test_cycle or test_clean", "test_cycle"):
        result = own("-s", "-k", order)
        assert result.ret == 1, result.stdout.str()
        result.stdout.fnmatch_lines([late, "full collection passes: 1"])
    result = own("-s", "--collect-only")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["full collection passes: 0"])
    # An async session on the own runner: one pass, after the last test's teardown, while the
    # runner's loop is still open (it made three); in guard mode, where pytest-asyncio closes the
    # test's loop in its teardown, one before it and one at the session's end.
    pytester.makepyfile(
        test_sync=textwrap.dedent(
            """
            async def work():
                pass

            async def test_cycle():
                cycle = {}
                cycle["self"] = cycle
                cycle["coro"] = work()

            async def test_clean():
                pass
            """
        )
    )
    result = own("-s", "-k", "test_cycle or test_clean")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines([late, "full collection passes: 1"])
    if HAS_PYTEST_ASYNCIO:
        pytester.makeini("[pytest]\nasyncio_mode = auto\n")
        result = guarded("-s", "-k", "test_cycle or test_clean")
        assert result.ret == 1, result.stdout.str()
        result.stdout.fnmatch_lines([late, "full collection passes: 2"])


def test_a_baselined_task_stays_known_when_the_collector_destroys_it_first(pytester, own):
    # A pending task nothing refers to is "still pending" at the check, or "destroyed" when the
    # garbage collector takes it first: the run's allocations decide, and a known leak failed as
    # new in a run where the collector came first.
    held = """
import asyncio, gc

TASKS = []

async def beat():
    await asyncio.Event().wait()

async def test_leaks():
    TASKS.append(asyncio.create_task(beat()))
    await asyncio.sleep(0)
"""
    pytester.makepyfile(test_t=held)
    result = own("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=1)
    recorded = json.loads((pytester.path / "leaks.json").read_text())
    assert recorded["tests"] == {"test_t.py::test_leaks": ["task:beat@test_t.py:test_leaks"]}
    collected = held.replace(
        "TASKS.append(asyncio.create_task(beat()))", "asyncio.create_task(beat())"
    ).replace("await asyncio.sleep(0)", "await asyncio.sleep(0)\n    gc.collect()")
    pytester.makepyfile(test_t=collected)
    result = own("--lw-leaks-baseline=leaks.json")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*LeakWarning: loopwarden: test_leaks (known, in the baseline) had 1 destroyed "
            "pending task:",
            "1 finding known (in the baseline) in 1 test",
        ]
    )
