"""Cheap reads of per-test state: a stash key that is usually missing, a test's marker names,
and the tests the collection passes must look at."""

from __future__ import annotations

import sys
import types
from typing import TypeVar

import pytest

_T = TypeVar("_T")
_D = TypeVar("_D")


def peek(stash: pytest.Stash, key: pytest.StashKey[_T], default: _D) -> _T | _D:
    """``stash.get(key, default)`` without its cost on a miss.

    ``Stash.get`` raises and catches ``KeyError`` for a missing key, which costs six times a hit;
    the per-test path reads keys that most tests never set (a marker's timeout, the own runner's
    state of an async test, an allow-list).
    """
    return stash[key] if key in stash else default  # noqa: SIM401 (the point of it)


_MARKER_NAMES = pytest.StashKey[frozenset[str]]()
# One set object per distinct combination of names, shared by the tests that have it: a test
# suite keeps its items (and so their stashes) to the end, and every object each one keeps makes
# the garbage collector's full passes longer and more frequent.
_NAME_SETS: dict[frozenset[str], frozenset[str]] = {}


def marker_names(item: pytest.Item) -> frozenset[str]:
    """The names of every marker that applies to ``item`` (its own and its parents'), read once.

    Each ``get_closest_marker`` walks the test's node chain; the plugins ask several names of
    every test.
    """
    stash = item.stash
    names = peek(stash, _MARKER_NAMES, None)
    if names is None:
        # What item.iter_markers() walks (each node's own_markers, up to the session), without
        # its two generators per node.
        found = set()
        node: pytest.Item | pytest.Collector | None = item
        while node is not None:
            for mark in node.own_markers:
                found.add(mark.name)
            node = node.parent
        names = frozenset(found)
        names = stash[_MARKER_NAMES] = _NAME_SETS.setdefault(names, names)
    return names


def claimed_elsewhere(item: pytest.Item) -> bool:
    """True for tests another async plugin runs: anyio (marker or backend fixture), trio."""
    return not _OTHER_RUNNERS.isdisjoint(marker_names(item)) or "anyio_backend" in getattr(
        item, "fixturenames", ()
    )


_OTHER_RUNNERS = frozenset({"anyio", "trio"})


def forget_marker_names(item: pytest.Item) -> None:
    """Read the test's marker names again at the next :func:`marker_names` (after add_marker)."""
    if _MARKER_NAMES in item.stash:
        del item.stash[_MARKER_NAMES]


# What the plugins' collection passes read of a test: these markers, these fixtures (virtual
# time's clock, anyio's backend), loopwarden's own parameters, an async function, a unittest class.
_READ_MARKERS = frozenset({"loopwarden", "asyncio", "allow_leaks", "anyio", "trio"})
_READ_FIXTURES = frozenset({"clock", "anyio_backend"})
_OWN_PARAMS = ("_loopwarden_loop_factory", "_loopwarden_fuzz_run")
# CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR
_ASYNC_FLAGS = 0x80 | 0x100 | 0x200
_NOTABLE = pytest.StashKey[tuple[list[pytest.Item], int, list[pytest.Item]]]()


def notable_items(session: pytest.Session) -> list[pytest.Item]:
    """The selected tests loopwarden's collection passes look at: all but the plain ones.

    A plain test is a synchronous test function (or method of a class that is not a unittest
    one) with no marker, fixture or parameter any pass reads: every pass would leave it alone,
    and most tests of most suites are plain. Worked out once, for the passes of one collection
    (each plugin makes one: one hook call per session, not per test).
    """
    items = session.items
    cached = peek(session.stash, _NOTABLE, None)
    if cached is not None and cached[0] is items and cached[1] == len(items):
        return cached[2]
    found = [item for item in items if not _plain(item)]
    session.stash[_NOTABLE] = (items, len(items), found)
    return found


def _plain(item: pytest.Item) -> bool:
    if type(item) is not pytest.Function:
        return False  # another plugin's kind of test (a doctest, pytest-asyncio's, ...)
    func = item.obj
    if type(func) is types.MethodType:
        func = func.__func__
    if (
        type(func) is not types.FunctionType
        or func.__code__.co_flags & _ASYNC_FLAGS
        # A decorator's wrapper (which may hide a coroutine function), or one marked as a
        # coroutine function (inspect.markcoroutinefunction).
        or hasattr(func, "__wrapped__")
        or hasattr(func, "_is_coroutine_marker")
    ):
        return False
    if not _READ_MARKERS.isdisjoint(marker_names(item)):
        return False
    if not _READ_FIXTURES.isdisjoint(item.fixturenames):
        return False
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(name in callspec.params for name in _OWN_PARAMS):
        return False
    parent = item.parent
    if isinstance(parent, pytest.Class):
        # (without importing unittest: a class derives from its TestCase only once it is imported)
        case = sys.modules.get("unittest.case")
        if case is not None and issubclass(parent.obj, case.TestCase):
            return False
    return True
