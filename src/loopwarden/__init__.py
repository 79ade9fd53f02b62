"""loopwarden: asyncio test suites you can trust.

The public API is what this module exports; everything under a ``_`` module is private.
``LeakWarning`` and ``BlockingWarning`` are pytest warnings: they are loaded (with pytest) only
when asked for, so ``import loopwarden`` stays free of pytest; ``no_leaks`` too, as the pytest
plugin, which imports this package at every start, does not use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopwarden._core._clock import Clock as Clock
from loopwarden._core._clock import eventually as eventually
from loopwarden._core._clock import settle as settle
from loopwarden._core._clock import virtual_time as virtual_time
from loopwarden._core._loop import WardenLoop as WardenLoop
from loopwarden._core._loop import guarded_loop as guarded_loop
from loopwarden._core._loop import new_loop as new_loop
from loopwarden._exceptions import EventuallyTimeout as EventuallyTimeout
from loopwarden._exceptions import HangInterrupt as HangInterrupt
from loopwarden._exceptions import LeaksFound as LeaksFound
from loopwarden._exceptions import LoopIdle as LoopIdle
from loopwarden._exceptions import LoopwardenError as LoopwardenError
from loopwarden._exceptions import SettleTimeout as SettleTimeout
from loopwarden._version import __version__ as __version__

if TYPE_CHECKING:
    from loopwarden._core._no_leaks import LeakCheck as LeakCheck
    from loopwarden._core._no_leaks import no_leaks as no_leaks
    from loopwarden._warnings import BlockingWarning as BlockingWarning
    from loopwarden._warnings import LeakWarning as LeakWarning

__all__ = [
    "BlockingWarning",
    "Clock",
    "EventuallyTimeout",
    "HangInterrupt",
    "LeakCheck",
    "LeakWarning",
    "LeaksFound",
    "LoopIdle",
    "LoopwardenError",
    "SettleTimeout",
    "WardenLoop",
    "__version__",
    "eventually",
    "guarded_loop",
    "new_loop",
    "no_leaks",
    "settle",
    "virtual_time",
]

_WARNINGS = frozenset({"BlockingWarning", "LeakWarning"})
_NO_LEAKS = frozenset({"LeakCheck", "no_leaks"})


def __getattr__(name: str) -> Any:
    # Loaded when first asked for: the pytest plugin imports this package at every start, and
    # neither the warnings (which import pytest) nor no_leaks() is needed there.
    if name in _WARNINGS:
        from loopwarden import _warnings

        return getattr(_warnings, name)
    if name in _NO_LEAKS:
        from loopwarden._core import _no_leaks

        return getattr(_no_leaks, name)
    raise AttributeError(f"module 'loopwarden' has no attribute {name!r}")
