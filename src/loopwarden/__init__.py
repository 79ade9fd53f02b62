"""loopwarden: asyncio test suites you can trust.

The public API is what this module exports; everything under a ``_`` module is private.
"""

from __future__ import annotations

from loopwarden._core._clock import Clock as Clock
from loopwarden._core._clock import EventuallyTimeout as EventuallyTimeout
from loopwarden._core._clock import LoopIdle as LoopIdle
from loopwarden._core._clock import SettleTimeout as SettleTimeout
from loopwarden._core._clock import eventually as eventually
from loopwarden._core._clock import settle as settle
from loopwarden._core._clock import virtual_time as virtual_time
from loopwarden._core._loop import WardenLoop as WardenLoop
from loopwarden._core._loop import new_loop as new_loop
from loopwarden._version import __version__ as __version__

__all__ = [
    "Clock",
    "EventuallyTimeout",
    "LoopIdle",
    "SettleTimeout",
    "WardenLoop",
    "__version__",
    "eventually",
    "new_loop",
    "settle",
    "virtual_time",
]
