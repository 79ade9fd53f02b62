"""Library clients that must be closed, recorded where they are made: aiohttp's ClientSession
and httpx's AsyncClient.

aiohttp reports a session nobody closed ("Unclosed client session") only when the garbage
collector frees it, through the loop's exception handler, and without saying where it was made —
often during a later test, or never (a session in a reference cycle, yielded by a fixture).
httpx says nothing at all: its pooled connections are found as bare sockets, made inside anyio.
With each client recorded on its loop, the leak engine finds one that is still open when its
owner ends, names the line that made it, reports what it holds as part of it, and closes it.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from loopwarden._core._loop import WardenLoop


class Client(NamedTuple):
    """A library's client class that must be closed, and how loopwarden treats it."""

    module: str
    qualname: str
    #: Whether an instance still holds (or will make) something that closing it would end.
    is_open: Callable[[Any], bool]
    #: Close an instance (a coroutine).
    close: Callable[[Any], Awaitable[object]]
    #: What to do about one left open.
    advice: str

    @property
    def name(self) -> str:
        return f"{self.module}.{self.qualname}"


def _aiohttp_open(session: Any) -> bool:
    # An unused session is still reported: aiohttp warns about it when it is freed.
    return not getattr(session, "closed", True)


def _httpx_open(client: Any) -> bool:
    """Open and holding a pooled connection: an unused or closed client holds nothing (and
    httpx, unlike aiohttp, does not complain about one), and neither does one on a transport
    without sockets (``ASGITransport``)."""
    if getattr(client, "is_closed", True):
        return False
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        for connection in getattr(pool, "connections", ()):
            try:
                if not connection.is_closed():
                    return True
            except Exception:  # a connection that cannot say: not ours to judge
                continue
    return False


CLIENTS = (
    Client(
        "aiohttp",
        "ClientSession",
        _aiohttp_open,
        lambda session: session.close(),
        "close the session after the fixture's yield (await session.close()), or make it with "
        "'async with aiohttp.ClientSession() as session:' (or use loopwarden's aiohttp_session "
        "fixture) — see docs/how-to/leaks.md",
    ),
    Client(
        "httpx",
        "AsyncClient",
        _httpx_open,
        lambda client: client.aclose(),
        "close the client after the fixture's yield (await client.aclose()), or make it with "
        "'async with httpx.AsyncClient() as client:' (or use loopwarden's httpx_client "
        "fixture) — see docs/how-to/leaks.md",
    ),
)


def client_of(obj: object) -> Client | None:
    """The :data:`CLIENTS` entry ``obj`` is an instance of (subclasses included)."""
    for klass in type(obj).__mro__:
        for client in CLIENTS:
            if klass.__name__ == client.qualname and klass.__module__.startswith(client.module):
                return client
    return None


def describe(obj: object) -> str:
    """``aiohttp.ClientSession``, or for a subclass ``app.ApiClient (an httpx.AsyncClient)``."""
    name = f"{type(obj).__module__.split('.')[0]}.{type(obj).__qualname__}"
    client = client_of(obj)
    return name if client is None or name == client.name else f"{name} (an {client.name})"


def advice(text: str) -> str | None:
    """What to do about the client a finding's message (which starts with what
    :func:`describe` says) names, left open."""
    for client in CLIENTS:
        if text.startswith(f"{client.name} ") or f"(an {client.name})" in text:
            return client.advice
    return None


def is_open(obj: object) -> bool:
    """Whether a recorded client still holds something closing it would end."""
    client = client_of(obj)
    return client is not None and client.is_open(obj)


def close(obj: object) -> Awaitable[object]:
    """Close a recorded client (a coroutine)."""
    client = client_of(obj)
    assert client is not None, obj
    return client.close(obj)


def track_clients(done: set[str] | None = None) -> Callable[[], None]:
    """Record each client of :data:`CLIENTS` made on a :class:`WardenLoop`, for the libraries
    already imported (and not in ``done``, to which they are added); returns the undo, which
    also takes them out of ``done`` again.

    Wraps the class's ``__init__`` (nested calls leave the wrapper to the first, whose undo
    removes it). A client made outside a running loop (httpx's can be) is not recorded: which
    loop it will use is not known yet.
    """
    done = set() if done is None else done
    modules = []
    undos = []
    for client in CLIENTS:
        if client.module in sys.modules and client.module not in done:
            undo_one = _track(client)
            undos.append(undo_one)
            # (Wrapped already — by a no_leaks() block in progress: not done here, so it is
            # wrapped again once that block has undone its own.)
            if undo_one is not _nothing_to_undo:
                modules.append(client.module)
    done.update(modules)

    def undo() -> None:
        for each in undos:
            each()
        done.difference_update(modules)

    return undo


def untracked(done: set[str]) -> bool:
    """Whether a library of :data:`CLIENTS` not in ``done`` has been imported (asked before
    every test: a plain loop, no generator, and nothing to look at once all are done)."""
    if len(done) >= len(_CLIENT_MODULES):
        return False
    modules = sys.modules
    for name in _CLIENT_MODULES:  # noqa: SIM110 (a generator per test is what this avoids)
        if name not in done and name in modules:
            return True
    return False


_CLIENT_MODULES = tuple(c.module for c in CLIENTS)


def _track(client: Client) -> Callable[[], None]:
    klass = getattr(sys.modules.get(client.module), client.qualname, None)
    if klass is None or getattr(klass.__init__, "_loopwarden", False):
        return _nothing_to_undo
    original = klass.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        loop = getattr(self, "_loop", None) or _running_loop()
        if isinstance(loop, WardenLoop):
            connector = getattr(self, "_connector", None)
            owns_connector = connector is not None and getattr(self, "_connector_owner", True)
            loop.record_session(self, connector if owns_connector else None)

    __init__._loopwarden = True  # type: ignore[attr-defined]
    klass.__init__ = __init__

    def undo() -> None:
        if klass.__init__ is __init__:
            klass.__init__ = original

    return undo


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _nothing_to_undo() -> None:
    pass
