"""Library objects that must be closed, recorded where they are made: aiohttp's ClientSession.

aiohttp reports a session nobody closed ("Unclosed client session") only when the garbage
collector frees it, through the loop's exception handler, and without saying where it was made —
often during a later test, or never (a session in a reference cycle, yielded by a fixture). With
each session recorded on its loop, the leak engine finds one that is still open when its owner
ends, names the line that made it, and closes it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from loopwarden._core._loop import WardenLoop


def track_aiohttp_sessions() -> Callable[[], None]:
    """Record each ``aiohttp.ClientSession`` made on a :class:`WardenLoop`; returns the undo.

    Wraps ``ClientSession.__init__`` (when aiohttp is imported; nested calls leave the wrapper
    to the first, whose undo removes it).
    """
    session_class = getattr(sys.modules.get("aiohttp"), "ClientSession", None)
    if session_class is None or getattr(session_class.__init__, "_loopwarden", False):
        return _nothing_to_undo
    original = session_class.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        loop = getattr(self, "_loop", None)
        if isinstance(loop, WardenLoop):
            connector = getattr(self, "_connector", None)
            owns_connector = connector is not None and getattr(self, "_connector_owner", True)
            loop.record_session(self, connector if owns_connector else None)

    __init__._loopwarden = True  # type: ignore[attr-defined]
    session_class.__init__ = __init__

    def undo() -> None:
        if session_class.__init__ is __init__:
            session_class.__init__ = original

    return undo


def _nothing_to_undo() -> None:
    pass
