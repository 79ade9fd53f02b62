"""Library clients recorded where they are made (aiohttp sessions, httpx clients)."""

from __future__ import annotations

import sys
import types

from loopwarden._core._libraries import track_clients, untracked


def test_a_library_wrapped_by_someone_else_is_not_done_until_it_is_wrapped_here(monkeypatch):
    """A no_leaks() block in progress has wrapped httpx's client already: the plugin's call
    wraps nothing, so it must not count httpx as done — else, once the block undoes its own
    wrapper, nobody records httpx clients for the rest of the session."""
    fake = types.ModuleType("httpx")  # (the real one may be wrapped by this very session)

    class AsyncClient:
        def __init__(self) -> None:
            self.is_closed = False

    fake.AsyncClient = AsyncClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "httpx", fake)
    monkeypatch.delitem(sys.modules, "aiohttp", raising=False)
    original = AsyncClient.__init__
    block_undo = track_clients()  # the block's
    done: set[str] = set()
    plugin_undo = track_clients(done)
    assert "httpx" not in done and untracked(done)
    block_undo()
    assert AsyncClient.__init__ is original
    again = track_clients(done)
    assert "httpx" in done and AsyncClient.__init__ is not original
    again()
    plugin_undo()
    assert AsyncClient.__init__ is original and "httpx" not in done
