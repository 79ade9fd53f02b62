"""Schedule fuzzing in pytest: runs, the failing seed, the replay, the summary, bad input."""

from __future__ import annotations

import re

import pytest

ORDER_TESTS = """
import asyncio
import pytest

pytestmark = pytest.mark.loopwarden(virtual_time=True)


async def handler(name, finished, work):
    for _ in range(work):
        await asyncio.sleep(0)
    finished.append(name)


async def test_assumes_handler_order():
    finished = []
    await asyncio.gather(handler("index", finished, 1), handler("notify", finished, 2))
    assert finished == ["index", "notify"]


async def test_checks_the_set():
    finished = []
    await asyncio.gather(handler("index", finished, 1), handler("notify", finished, 2))
    assert sorted(finished) == ["index", "notify"]


def test_sync_is_not_fuzzed():
    pass
"""


def test_an_order_dependent_test_is_found_named_and_replayed(pytester, run):
    pytester.makepyfile(test_order=ORDER_TESTS)
    result = run("--lw-fuzz-runs=30", "-p", "no:randomly")
    outcomes = result.parseoutcomes()
    failed = outcomes.get("failed", 0)
    assert failed >= 1
    assert outcomes["passed"] + failed == 61  # 30 + 30 async runs, one sync test
    result.stdout.fnmatch_lines(
        [
            "loopwarden: fuzzing every async test over 30 schedules (the first FIFO)",
            "*- loopwarden fuzz -*",
            "This run used fuzz schedule * Replay it with:",
            "  pytest test_order.py::test_assumes_handler_order --lw-fuzz-seed=*",
            "(the replay is exact if the test makes no real I/O and starts no threads).",
            "*= loopwarden fuzz =*",
            "2 tests fuzzed, 60 schedules run; 1 order-dependent (failed under some schedule, "
            "passed in FIFO order)",
            f"  ORDER-DEPENDENT test_order.py::test_assumes_handler_order: {failed} of 29 "
            "schedules failed; replay: pytest test_order.py::test_assumes_handler_order "
            "--lw-fuzz-seed=*",
        ]
    )
    assert "test_checks_the_set[fuzz" not in "\n".join(
        line for line in result.stdout.lines if line.startswith("FAILED")
    )
    seed = re.search(r"--lw-fuzz-seed=(\d+)", result.stdout.str()).group(1)
    for _ in range(2):  # the replay fails again, every time
        replay = run("test_order.py::test_assumes_handler_order", f"--lw-fuzz-seed={seed}")
        replay.assert_outcomes(failed=1)
        replay.stdout.fnmatch_lines(
            [f"loopwarden: replaying fuzz schedule {seed} (--lw-fuzz-seed)", "*AssertionError*"]
        )


def test_the_marker_sets_runs_per_test_and_opts_out(pytester, own):
    pytester.makepyfile(
        test_marks="""
        import asyncio, pytest

        @pytest.mark.loopwarden(fuzz=5)
        async def test_five():
            await asyncio.sleep(0)

        @pytest.mark.loopwarden(fuzz=False)
        async def test_never():
            await asyncio.sleep(0)

        async def test_default():
            await asyncio.sleep(0)
        """
    )
    result = own("--lw-fuzz-runs=3", "-v")
    result.assert_outcomes(passed=5 + 1 + 3)
    result.stdout.fnmatch_lines(
        [
            "test_marks.py::test_five?fuzz4? PASSED*",  # ? for [ and ]: fnmatch syntax
            "test_marks.py::test_never PASSED*",
            "test_marks.py::test_default?fuzz2? PASSED*",
            "2 tests fuzzed, 8 schedules run; 0 order-dependent (failed under some schedule, "
            "passed in FIFO order)",
        ]
    )


def test_a_test_failing_in_fifo_order_is_not_called_order_dependent(pytester, own):
    pytester.makepyfile(
        test_broken="""
        async def test_always_fails():
            assert False
        """
    )
    result = own("--lw-fuzz-runs=3")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "1 test fuzzed, 3 schedules run; 0 order-dependent (failed under some schedule, "
            "passed in FIFO order)",
            "  FAILS IN FIFO ORDER TOO test_broken.py::test_always_fails (not a scheduling "
            "problem, or not only)",
        ]
    )


def test_a_leaking_fixture_does_not_make_a_test_fail_in_fifo_order(pytester, run):
    # The FIFO run's assertion passed and only its teardown failed (the fixture leaks under every
    # schedule): that used to read "FAILS IN FIFO ORDER TOO", and the leak was printed per run.
    pytester.makepyfile(
        test_order=ORDER_TESTS
        + """

@pytest.fixture
async def leaky():
    asyncio.get_running_loop().call_later(3600, print, "late")
    yield


async def test_order_with_a_leak(leaky):
    finished = []
    await asyncio.gather(handler("index", finished, 1), handler("notify", finished, 2))
    assert finished == ["index", "notify"]


async def test_only_leaks(leaky):
    pass
"""
    )
    # (-rN: no short summary, which repeats each message in full under CI=true)
    result = run("--lw-fuzz-runs=30", "-p", "no:randomly", "-k", "leak", "-rN")
    result.stdout.fnmatch_lines(
        [
            "*= loopwarden fuzz =*",
            "2 tests fuzzed, 60 schedules run; 1 order-dependent (failed under some schedule, "
            "passed in FIFO order)",
            "  ORDER-DEPENDENT test_order.py::test_order_with_a_leak: * of 29 schedules failed; "
            "replay: pytest test_order.py::test_order_with_a_leak --lw-fuzz-seed=*; its teardown "
            "also fails (30 of 30 runs: a leak?)",
            "  TEARDOWN FAILS test_order.py::test_only_leaks: passes under every schedule; its "
            "teardown fails in 30 of 30 runs (a leak?)",
        ]
    )
    result.stdout.no_fnmatch_line("*FAILS IN FIFO ORDER TOO*")
    text = result.stdout.str()
    # Each test's leak is printed in full once; the other 29 runs say so in one line.
    assert text.count("timer calling print() was neither run nor cancelled") == 2
    assert (
        text.count(
            "loopwarden: the same teardown failure as test_order.py::test_only_leaks"
            "[fuzz0] (shown there)"
        )
        == 29
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "fuzz=0",
            "loopwarden: test_bad.py::test_it: @pytest.mark.loopwarden(fuzz=0) is not valid; "
            "use fuzz=N (a number of schedules, e.g. fuzz=50) or fuzz=False.",
        ),
        (
            "fuzz=True",
            "loopwarden: test_bad.py::test_it: @pytest.mark.loopwarden(fuzz=True) is not valid; "
            "use fuzz=N (a number of schedules, e.g. fuzz=50) or fuzz=False.",
        ),
    ],
)
def test_a_bad_fuzz_marker_fails_that_test(pytester, own, marker, message):
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.loopwarden({marker})
        async def test_it():
            pass
        """
    )
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--lw-fuzz-runs=-2",
            "ERROR: loopwarden: --lw-fuzz-runs = '-2' is not valid; expected a whole number >= 0 "
            "(0 turns it off).",
        ),
        (
            "--lw-fuzz-runs=many",
            "ERROR: loopwarden: --lw-fuzz-runs = 'many' is not valid; expected a whole number, "
            "e.g. 50 (0 turns it off).",
        ),
        (
            "--lw-fuzz-seed=abc",
            "ERROR: loopwarden: --lw-fuzz-seed = 'abc' is not valid; expected the whole-number "
            "seed a fuzz report printed.",
        ),
    ],
)
def test_a_bad_fuzz_option_stops_the_run(pytester, own, flag, message):
    pytester.makepyfile(test_x="async def test_x(): pass\n")
    result = own(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
