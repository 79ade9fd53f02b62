"""A cheap read of a stash key that is usually missing."""

from __future__ import annotations

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


def forget_marker_names(item: pytest.Item) -> None:
    """Read the test's marker names again at the next :func:`marker_names` (after add_marker)."""
    if _MARKER_NAMES in item.stash:
        del item.stash[_MARKER_NAMES]
