"""Guard mode: pytest-asyncio runs the tests, loopwarden supplies and instruments the loops."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from tests._stand_ins import old_pytest_asyncio

pytest.importorskip("pytest_asyncio", reason="guard mode needs pytest-asyncio >= 1.4 installed")
PYTEST_ASYNCIO = importlib.metadata.version("pytest-asyncio")


def test_guard_mode_supplies_warden_loops_and_says_so(pytester, guarded):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        """
        import asyncio, pytest

        @pytest.fixture
        async def made_by_fixture():
            return asyncio.get_running_loop()

        async def test_loop(made_by_fixture):
            loop = asyncio.get_running_loop()
            assert type(loop).__name__ == "WardenLoop"
            assert loop is made_by_fixture
            task = asyncio.create_task(asyncio.sleep(0))
            assert loop.registry.origin_of(task).owner == (
                "test_guard_mode_supplies_warden_loops_and_says_so.py::test_loop"
            )
            await task

        @pytest.mark.parametrize("n", [1, 2])
        async def test_ids_unchanged(n, request):
            assert request.node.name == f"test_ids_unchanged[{n}]"
        """
    )
    result = guarded("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            f"loopwarden 0.1.0: guard mode (pytest-asyncio {PYTEST_ASYNCIO} runs async tests; "
            "loopwarden supplies its loops and guards them)",
            "*::test_loop PASSED*",
            "*::test_ids_unchanged[[]1[]] PASSED*",
        ]
    )


def test_project_loop_factory_hook_wins(pytester, guarded):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest(
        """
        import asyncio

        class ProjectLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"project": ProjectLoop}
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        async def test_loop():
            assert type(asyncio.get_running_loop()).__name__ == "ProjectLoop"
        """
    )
    result = guarded()
    result.assert_outcomes(passed=1)
    # The header said "loopwarden supplies its loops and guards them", and nothing said that
    # none of the tests was guarded.
    result.stdout.fnmatch_lines(
        [
            "loopwarden 0.1.0: guard mode (*)",
            "loopwarden: the project's pytest_asyncio_loop_factories hook chooses the loops: "
            "loopwarden guards those of asyncio's plain loop, not others (the summary names "
            "them)",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "loopwarden: the project's pytest_asyncio_loop_factories hook supplies loops "
            "loopwarden does not make: 'project' (conftest.ProjectLoop). Tests on them ran "
            "without loopwarden's loop guards (what they leave on the loop, blocking calls, "
            "virtual time, fuzzing); threads they leave, coroutines never awaited and timeouts "
            "are still checked. Return asyncio.new_event_loop for the tests you want guarded (a "
            "test that needs the project's loop, for its own clock or uvloop, stays unguarded).",
        ]
    )


def test_a_project_asking_for_asyncio_s_plain_loop_gets_it_guarded(pytester, guarded):
    # A conftest answering {"asyncio": asyncio.new_event_loop} (aiosmtplib's, by default) left
    # every loop unguarded: its suite's open connections went unreported in guard mode only.
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest(
        """
        import asyncio

        def pytest_asyncio_loop_factories(config, item):
            return {"asyncio": asyncio.new_event_loop}
        """
    )
    pytester.makepyfile(
        test_plain="""
        import asyncio

        async def test_leaks():
            assert type(asyncio.get_running_loop()).__name__ == "WardenLoop"
            asyncio.get_running_loop().call_later(30, print)
        """
    )
    result = guarded()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaks left 1 timer behind after teardown:",
            "  timer calling print() was neither run nor cancelled",
            "      created at test_plain.py:5 in test_leaks",
        ]
    )


def test_unittest_and_anyio_tests_are_guarded_in_guard_mode(pytester, guarded):
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        """
        import asyncio, unittest, pytest

        class T(unittest.IsolatedAsyncioTestCase):
            async def test_u(self):
                assert type(asyncio.get_running_loop()).__name__ == "WardenLoop"

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_anyio():
            loop = asyncio.get_running_loop()
            assert type(loop).__name__ == "WardenLoop"
            assert loop.registry.owner.endswith("::test_anyio")
        """
    )
    guarded().assert_outcomes(passed=2)


def test_guarded_loop_as_anyios_loop_factory_is_guarded_without_the_policy(pytester, run):
    # The event loop policy (how anyio's runner gets a loop otherwise) goes in Python 3.16;
    # loopwarden.new_loop in the same place gives a loop nobody checks.
    pytester.makepyfile(
        test_anyio_factory="""
        import asyncio, pytest, loopwarden

        @pytest.fixture
        def anyio_backend():
            return ("asyncio", {"loop_factory": loopwarden.guarded_loop})

        async def beat():
            await asyncio.Event().wait()

        # Held: a pending task nothing refers to may be garbage-collected before the check, which
        # then reports it destroyed (as true, but the collector decides which one is seen).
        TASKS = []

        @pytest.mark.anyio
        async def test_leaks():
            TASKS.append(asyncio.create_task(beat(), name="beat"))
            await asyncio.sleep(0)

        @pytest.mark.anyio
        async def test_owns_its_loop():
            loop = asyncio.get_running_loop()
            assert loop.registry.owner.endswith("::test_owns_its_loop")
        """
    )
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_leaks left 1 task behind after teardown:",
            "  task 'beat' running beat() is still pending",
            "      created at test_anyio_factory.py:16 in test_leaks",
        ]
    )


def test_guarded_loop_outside_a_session_is_a_plain_warden_loop():
    # (This suite runs in a session with loopwarden: a plain script is another process.)
    script = (
        "import loopwarden\n"
        "loop = loopwarden.guarded_loop()\n"
        "print(type(loop).__name__, loop.registry.owner)\n"
        "loop.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "WardenLoop None\n", "")


STRICT = (
    "pytest-asyncio is in strict mode: it runs only the async tests marked @pytest.mark.asyncio "
    "and the async fixtures declared with @pytest_asyncio.fixture; others fail. Set asyncio_mode "
    "= auto, or run with -p no:asyncio to let loopwarden run every async test and fixture."
)


def test_under_strict_mode_each_test_left_out_says_why_and_the_fix(pytester, guarded):
    # pytest-asyncio installed as a dependency's dependency, a suite written without markers:
    # pytest said "install pytest-asyncio" (it is installed) and an async fixture ended in a bare
    # AssertionError with loopwarden's frames in its traceback.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_strict="""
        import asyncio, pytest, pytest_asyncio

        @pytest.fixture
        async def value():
            return 1

        @pytest_asyncio.fixture
        async def declared():
            return 2

        async def test_unmarked():
            await asyncio.sleep(0)

        def test_sync_with_async_fixture(value):
            assert value == 1

        @pytest.mark.asyncio
        async def test_marked(declared):
            assert declared == 2

        @pytest.mark.asyncio
        async def test_marked_with_loopwardens_fixture(httpx_client):
            assert not httpx_client.is_closed
        """
    )
    result = guarded("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden *: guard mode (pytest-asyncio * runs async tests; loopwarden supplies "
            "its loops and guards them)",
            f"loopwarden: {STRICT}",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_sync_with_async_fixture _*",
            f"loopwarden: the async fixture 'value' did not run: {STRICT}",
            "(pytest's message: 'test_sync_with_async_fixture' requested an async fixture "
            "'value', with no plugin or hook that handled it.*",
            "*_ test_unmarked _*",
            f"loopwarden: this unmarked async test did not run: {STRICT}",
            "(pytest's message: async def functions are not natively supported.)",
        ]
    )
    result.stdout.no_fnmatch_line("*watchdog.py*")


def test_under_strict_mode_a_failing_anyio_test_keeps_its_own_failure(pytester, guarded):
    """anyio runs its tests and their async fixtures: a failure is the test's own. It was
    rewritten into "this unmarked async test did not run" (httpx's anyio tests in the trust
    corpus: a test that ran, on asyncio and on trio, and failed)."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_anyio_strict="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.fixture
        async def value():
            return 1

        @pytest.mark.anyio
        async def test_fails(value):
            assert value + 1 == 3
        """
    )
    result = guarded()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       assert (1 + 1) == 3"])
    result.stdout.no_fnmatch_line("*did not run*")


def test_auto_mode_prints_no_strict_mode_advice(pytester, guarded):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile("async def test_it():\n    pass\n")
    result = guarded()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*strict mode*")


def test_loopwarden_loop_setting_is_ignored_with_a_warning_in_guard_mode(pytester, guarded):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "loopwarden_loop = test\n"
    )
    pytester.makepyfile("async def test_it():\n    pass\n")
    result = guarded()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestConfigWarning: loopwarden: loopwarden_loop is ignored in guard mode: "
            "pytest-asyncio chooses the loops (use its loop_scope settings).",
        ]
    )


TOO_OLD = (
    "loopwarden: pytest-asyncio 0.23.8 is too old to take loopwarden's loops (it needs "
    "pytest-asyncio >= 1.4, which has the pytest_asyncio_loop_factories hook), so async tests "
    "run without loopwarden's guards. Upgrade with: pip install 'pytest-asyncio>=1.4' — or run "
    "with -p no:asyncio to let loopwarden run the async tests itself."
)


def _old_pytest_asyncio(pytester, monkeypatch):
    """pytest-asyncio older than 1.4 installed (a stand-in distribution shadows the real one)."""
    site = old_pytest_asyncio(pytester.path / "old_site", "0.23.8")
    pytester.makepyfile("def test_it():\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", str(site))


def test_old_pytest_asyncio_gets_a_warning_saying_what_to_upgrade(pytester, monkeypatch):
    _old_pytest_asyncio(pytester, monkeypatch)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden 0.1.0: limited (pytest-asyncio 0.23.8 runs async tests but is older "
            "than 1.4; guards are off)",
            f"*PytestConfigWarning: {TOO_OLD}",
        ]
    )


def test_under_filterwarnings_error_the_upgrade_warning_does_not_end_the_session(
    pytester, monkeypatch
):
    # A configuration warning turned into an error by the suite's filterwarnings ended the
    # session with INTERNALERROR before a test ran.
    _old_pytest_asyncio(pytester, monkeypatch)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.fnmatch_lines(
        [
            "*= loopwarden configuration =*",
            TOO_OLD,
            "(configuration warnings, shown here: the suite's filterwarnings turns warnings into "
            "errors, which at configuration time would end the session)",
        ]
    )


def test_pytest_asyncio_takes_loopwardens_own_async_fixtures_for_its_own():
    # loopwarden marks its fixtures the way pytest_asyncio.fixture does instead of importing
    # pytest-asyncio at every start: strict mode would refuse them if the mark changed.
    from pytest_asyncio import plugin

    from loopwarden._plugin import components

    fixture = components.httpx_client
    function = getattr(fixture, "_get_wrapped_function", lambda: fixture)()
    assert plugin._is_asyncio_fixture_function(function)
