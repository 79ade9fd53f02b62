"""Real components for tests: client sessions, loopback HTTP and WebSocket servers, ASGI clients.

Each fixture creates its component on the test's loop and closes it in its teardown, before the
loop's own teardown — the order whose absence makes suites hang on ``session.close()`` at loop
shutdown. A fixture whose library is not installed fails the test with the extra to install.

- ``aiohttp_session``: an :class:`aiohttp.ClientSession`, to inject into the client under test.
- ``httpx_client``: an :class:`httpx.AsyncClient`, likewise.
- ``http_server``: a :class:`loopwarden.servers.HttpServer` on 127.0.0.1 (aiohttp).
- ``ws_server``: a :class:`loopwarden.servers.WsServer` on 127.0.0.1 (websockets).
- ``asgi_client``: ``await asgi_client(app)`` gives an ``httpx.AsyncClient`` talking to the ASGI
  app in-process, with the app's lifespan run (asgi-lifespan).
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from loopwarden._plugin._compat import async_fixture

if TYPE_CHECKING:  # imported by the fixtures that use them: a suite without them pays nothing
    from loopwarden.servers import HttpServer, WsServer


def _need(module: str, extra: str, fixture: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"loopwarden: the {fixture} fixture needs {module.split('.')[0]}: "
            f"install loopwarden[{extra}]",
            pytrace=False,
        )


@async_fixture
async def aiohttp_session() -> AsyncGenerator[Any, None]:
    """An aiohttp ``ClientSession`` on the test's loop, closed at the test's teardown.

    Inject it into the client under test (``ApiClient(base_url, session=aiohttp_session)``)
    instead of letting the client create its own session per test.
    """
    aiohttp = _need("aiohttp", "aiohttp", "aiohttp_session")
    session = aiohttp.ClientSession()
    try:
        yield session
    finally:
        await session.close()


@async_fixture
async def httpx_client() -> AsyncGenerator[Any, None]:
    """An ``httpx.AsyncClient`` on the test's loop, closed at the test's teardown."""
    httpx = _need("httpx", "httpx", "httpx_client")
    async with httpx.AsyncClient() as client:
        yield client


@async_fixture
async def http_server() -> AsyncGenerator[HttpServer, None]:
    """A real HTTP server on 127.0.0.1 whose routes the test declares (see ``HttpServer``).

    At teardown the test fails if the server got requests no declared route matched.
    """
    _need("aiohttp.web", "aiohttp", "http_server")
    from loopwarden.servers import HttpServer

    server = HttpServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    if server.unmatched:
        shown = ", ".join(f"{r.method} {r.path}" for r in server.unmatched)
        pytest.fail(
            f"loopwarden: http_server got {len(server.unmatched)} request(s) no route matched: "
            f"{shown} (each got a 404). Declare them with http_server.route(...), or check the "
            "URL the client builds.",
            pytrace=False,
        )


@async_fixture
async def ws_server() -> AsyncGenerator[WsServer, None]:
    """A real WebSocket server on 127.0.0.1 that the test scripts (see ``WsServer``)."""
    _need("websockets.asyncio.server", "ws", "ws_server")
    from loopwarden.servers import WsServer

    server = WsServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    if server.errors:
        message, exc = server.errors[0]
        more = len(server.errors) - 1
        again = f" (and {more} more time{'s' if more > 1 else ''})" if more else ""
        trace = "".join(traceback.format_exception(exc)).rstrip()
        pytest.fail(
            f"loopwarden: ws_server's responder raised {type(exc).__name__} answering "
            f"{message!r}{again}; the connection was closed with 1011 (internal error):\n"
            f"{trace}\n"
            "Fix the responder (a message it did not expect?), or return None for messages it "
            "should not answer.",
            pytrace=False,
        )


def _app_traceback(exc: BaseException, root: str) -> tuple[str, str]:
    """`` at app/main.py:23 in lifespan`` (the app's innermost line) and the traceback's frames
    outside libraries, with where it raised in a library when it did (a driver's connect)."""
    from loopwarden._core._sites import Site, _is_library, shown

    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not _is_library(f.filename)]
    if not own:
        return "", ""
    kept = own + ([frames[-1]] if frames[-1] is not own[-1] else [])
    lines = ["Traceback (the app's frames; library frames left out, but where it raised):"]
    for frame in kept:
        place = shown(Site(frame.filename, frame.lineno or 0, frame.name), root)
        lines.append(f"  {place}")
        if frame.line:
            lines.append(f"    {frame.line}")
    last = own[-1]
    return f" at {shown(Site(last.filename, last.lineno or 0, last.name), root)}", (
        "\n".join(lines) + "\n"
    )


@async_fixture
async def asgi_client(
    request: pytest.FixtureRequest,
) -> AsyncGenerator[Callable[..., Awaitable[Any]], None]:
    """A factory: ``client = await asgi_client(app)`` talks to ``app`` in-process.

    The app's lifespan runs (startup before the first request, shutdown at teardown), so what it
    sets up on startup — a database session factory, a cache — exists, unlike with a bare
    ``httpx.ASGITransport``. A failing startup fails the test with its exception. Exceptions the
    app raises reach the test (``raise_app_exceptions=True``) instead of hiding behind a 500;
    pass ``raise_app_exceptions=False`` to get the 500 response.

    Args of the factory: ``app``; ``base_url`` (default ``http://testserver``);
    ``raise_app_exceptions``; ``lifespan`` (False: do not run it); ``startup_timeout``,
    ``shutdown_timeout`` (seconds); other keyword arguments go to ``httpx.AsyncClient``.
    """
    httpx = _need("httpx", "httpx", "asgi_client")
    lifespan_module = _need("asgi_lifespan", "httpx", "asgi_client")
    opened: list[Any] = []

    async def make(
        app: Any,
        *,
        base_url: str = "http://testserver",
        raise_app_exceptions: bool = True,
        lifespan: bool = True,
        startup_timeout: float = 5.0,
        shutdown_timeout: float = 5.0,
        **client_options: Any,
    ) -> Any:
        target = app
        if lifespan:
            manager = lifespan_module.LifespanManager(
                app, startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout
            )
            failed: Exception | None = None
            try:
                await manager.__aenter__()
            except Exception as exc:
                failed = exc
            if failed is not None:  # (outside the except: no "during handling…" chain)
                where, trace = _app_traceback(failed, str(request.config.rootpath))
                pytest.fail(
                    f"loopwarden: the app's lifespan startup failed{where}: "
                    f"{type(failed).__name__}: {failed}\n{trace}"
                    "Fix the startup (a database, a service it connects to?), or pass "
                    "lifespan=False to asgi_client() to test the app without it.",
                    pytrace=False,
                )
            opened.append(manager)
            target = manager.app
        transport = httpx.ASGITransport(app=target, raise_app_exceptions=raise_app_exceptions)
        client = httpx.AsyncClient(transport=transport, base_url=base_url, **client_options)
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for thing in reversed(opened):
            if hasattr(thing, "aclose"):
                await thing.aclose()
            else:
                await thing.__aexit__(None, None, None)
