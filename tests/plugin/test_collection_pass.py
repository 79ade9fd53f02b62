"""The plugins' collection passes skip plain sync tests, and only those.

Each plugin makes one pass over the selected tests at the end of collection (markers, async
functions, unittest classes). A plain synchronous test — no marker, fixture or parameter any pass
reads — is left out of all of them at once; anything a pass could act on must stay in.
"""

from __future__ import annotations

import pytest

SUITE = """
import functools
import unittest

import pytest


def test_plain():
    pass


@pytest.mark.slow
@pytest.mark.parametrize("n", [1])
def test_plain_with_other_markers(n):
    pass


class TestPlainClass:
    def test_method(self):
        pass


async def test_async():
    pass


@pytest.mark.loopwarden(timeout=5)
def test_sync_with_timeout():
    pass


@pytest.mark.allow_leaks(threads="worker", reason="joined by the app")
def test_sync_allowing_leaks():
    pass


@pytest.mark.asyncio
def test_sync_marked_asyncio():
    pass


def _wrapped(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


@_wrapped
def test_behind_a_decorator():
    pass


class TestCaseStyle(unittest.TestCase):
    def test_method(self):
        pass


@pytest.mark.loopwarden(timeout=5)
class TestMarkedClass:
    def test_method(self):
        pass
"""

CONFTEST = """
import pytest

from loopwarden._plugin._stash import notable_items


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    for item in notable_items(session):
        print("notable:", item.nodeid)
"""


@pytest.mark.parametrize("extra", [[], ["-p", "no:asyncio"]], ids=["as-installed", "own"])
def test_plain_tests_are_left_out_and_nothing_else(pytester, extra):
    pytester.makeini("[pytest]\nmarkers =\n    slow\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-s", *extra)
    notable = [line for line in result.outlines if line.startswith("notable:")]
    assert notable == [
        "notable: test_suite.py::test_async",
        "notable: test_suite.py::test_sync_with_timeout",
        "notable: test_suite.py::test_sync_allowing_leaks",
        "notable: test_suite.py::test_sync_marked_asyncio",
        "notable: test_suite.py::test_behind_a_decorator",
        "notable: test_suite.py::TestCaseStyle::test_method",
        "notable: test_suite.py::TestMarkedClass::test_method",
    ]


def test_a_marker_on_a_plain_looking_class_test_still_applies(pytester):
    """A class-level loopwarden marker reaches its sync tests (the watchdog's timeout)."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_suite="""
        import threading

        import pytest


        @pytest.mark.loopwarden(timeout=0.5)
        class TestSlow:
            def test_waits_on_an_event_nobody_sets(self):
                threading.Event().wait(30)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:asyncio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test did not finish its call phase within 0.5 s (the test's "
            "loopwarden(timeout=...) marker).",
            "  No event loop runs this phase; synchronous code holds the main thread. Stack "
            "(innermost last):",
            "    test_suite.py:9 in test_waits_on_an_event_nobody_sets",
        ]
    )
