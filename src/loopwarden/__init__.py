"""loopwarden: asyncio test suites you can trust."""

from __future__ import annotations

from loopwarden._version import __version__ as __version__
