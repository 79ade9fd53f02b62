"""The few places loopwarden reads pytest internals (and the one it changes: the assertion
rewriting marks of its own package), each with why and for which versions.

Everything else uses pytest's public API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import pytest


def fixturedefs_of(item: pytest.Item) -> dict[str, Sequence[pytest.FixtureDef[Any]]]:
    """The fixture definitions an item's fixture closure resolves to, by name.

    pytest has no public API for "which FixtureDef will this item use for name X" short of setting
    the fixture up. loopwarden needs it to decide, before the first async step of a test, which
    loop the test must share with the async fixtures it uses (``loopwarden_loop = test``).
    ``_fixtureinfo.name2fixturedefs`` has this shape in pytest 8.0 through 9.x (pytest-asyncio
    reads it too). The last definition in each sequence is the one the item uses.
    """
    info = getattr(item, "_fixtureinfo", None)
    if info is None:  # not a python Function item (e.g. a doctest)
        return {}
    defs: dict[str, Sequence[pytest.FixtureDef[Any]]] = info.name2fixturedefs
    return defs


_F = TypeVar("_F", bound=Callable[..., Any])


def async_fixture(func: _F) -> _F:
    """The decorator for loopwarden's own async fixtures (function scope).

    pytest-asyncio in strict mode runs only the async fixtures declared with its decorator
    ("requested an async fixture … with no plugin or hook that handled it" otherwise);
    loopwarden's own runner runs those as well as plain ones. Its decorator only marks the
    function (``_force_asyncio_fixture``, ``_loop_scope``: pytest-asyncio 0.23 to 1.x) and calls
    ``pytest.fixture``; marking it here spares importing pytest-asyncio (tens of milliseconds at
    every start) in sessions that run without it. ``tests/plugin/test_guard.py`` checks that
    pytest-asyncio still takes the mark.
    """
    func._force_asyncio_fixture = True  # type: ignore[attr-defined]
    func._loop_scope = None  # type: ignore[attr-defined]
    return cast(_F, pytest.fixture(func))


def skip_assertion_rewriting(package: str = "loopwarden") -> None:
    """Let loopwarden's own modules import without pytest's assertion rewriting.

    pytest marks every package of a plugin's distribution for rewriting, so each of loopwarden's
    ~40 modules is parsed, rewritten and cached by pytest's import hook, and each load reads the
    cache with ``marshal.load`` on a file object, which is slow: about a third of loopwarden's
    start-up (160 M instructions of 355 M, bench/README.md). Those modules hold no test
    assertions; their ``assert`` statements check invariants and need no rewritten message.
    pytest has no public way for a plugin to say so (``PYTEST_DONT_REWRITE`` skips only the
    rewriting, not the hook's load path), so this removes the package from the rewriting hook's
    marks (``AssertionRewritingHook._must_rewrite``, and its per-name cache; pytest 8.0 to 9.x)
    once the plugin's package is imported. Any other shape of the hook is left alone: the
    modules are then rewritten as before, only slower to load.
    """
    for finder in sys.meta_path:
        marks = getattr(finder, "_must_rewrite", None)
        if type(finder).__name__ != "AssertionRewritingHook" or not isinstance(marks, set):
            continue
        marks.discard(package)
        cache = getattr(finder, "_marked_for_rewrite_cache", None)
        if isinstance(cache, dict):
            for name in [n for n in cache if n == package or n.startswith(package + ".")]:
                del cache[name]
