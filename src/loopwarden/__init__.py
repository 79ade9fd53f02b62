"""loopwarden: asyncio test suites you can trust.

The public API is what this module exports; everything under a ``_`` module is private.
"""

from __future__ import annotations

from loopwarden._core._loop import WardenLoop as WardenLoop
from loopwarden._core._loop import new_loop as new_loop
from loopwarden._version import __version__ as __version__

__all__ = ["WardenLoop", "__version__", "new_loop"]
