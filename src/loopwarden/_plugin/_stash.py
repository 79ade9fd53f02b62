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
