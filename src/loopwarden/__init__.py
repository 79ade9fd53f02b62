"""loopwarden: asyncio test suites you can trust.

The public API is what this module exports; everything under a ``_`` module is private.

Every name is loaded when first asked for (:func:`__getattr__`): the pytest plugin imports this
package at every start of every session, sync-only ones included, and needs none of it there —
not the virtual clock, not ``no_leaks``, not the warnings (which import pytest). So
``import loopwarden`` costs one small module, and stays free of pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopwarden._version import __version__ as __version__

if TYPE_CHECKING:
    from loopwarden._core._clock import Clock as Clock
    from loopwarden._core._clock import eventually as eventually
    from loopwarden._core._clock import settle as settle
    from loopwarden._core._clock import virtual_time as virtual_time
    from loopwarden._core._loop import WardenLoop as WardenLoop
    from loopwarden._core._loop import guarded_loop as guarded_loop
    from loopwarden._core._loop import new_loop as new_loop
    from loopwarden._core._no_leaks import LeakCheck as LeakCheck
    from loopwarden._core._no_leaks import no_leaks as no_leaks
    from loopwarden._exceptions import EventuallyTimeout as EventuallyTimeout
    from loopwarden._exceptions import HangInterrupt as HangInterrupt
    from loopwarden._exceptions import LeaksFound as LeaksFound
    from loopwarden._exceptions import LoopIdle as LoopIdle
    from loopwarden._exceptions import LoopwardenError as LoopwardenError
    from loopwarden._exceptions import SettleTimeout as SettleTimeout
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

# Where each public name lives (a test checks that the table and __all__ agree).
_WHERE = {
    "Clock": "loopwarden._core._clock",
    "eventually": "loopwarden._core._clock",
    "settle": "loopwarden._core._clock",
    "virtual_time": "loopwarden._core._clock",
    "WardenLoop": "loopwarden._core._loop",
    "guarded_loop": "loopwarden._core._loop",
    "new_loop": "loopwarden._core._loop",
    "LeakCheck": "loopwarden._core._no_leaks",
    "no_leaks": "loopwarden._core._no_leaks",
    "EventuallyTimeout": "loopwarden._exceptions",
    "HangInterrupt": "loopwarden._exceptions",
    "LeaksFound": "loopwarden._exceptions",
    "LoopIdle": "loopwarden._exceptions",
    "LoopwardenError": "loopwarden._exceptions",
    "SettleTimeout": "loopwarden._exceptions",
    "BlockingWarning": "loopwarden._warnings",
    "LeakWarning": "loopwarden._warnings",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'loopwarden' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # (asked once: the next lookup is a plain module attribute)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
