"""Real loopback servers for tests: HTTP (aiohttp) and WebSocket (websockets).

Both run on 127.0.0.1 and a free port, in the test's event loop, so their delays run in virtual
time and ``settle()`` waits for them. They record what clients sent, and can misbehave on purpose
— delay, drop the connection, answer with errors, close with a code, restart — the behaviours
mocks never show, and the ones reconnect logic exists for.

Use them through the ``http_server`` and ``ws_server`` fixtures; the classes are here for type
annotations and for use without pytest (``async with HttpServer() as server: …``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

__all__ = ["HttpServer", "Recorded", "WsServer"]


def _need(module: str, extra: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeError(
            f"loopwarden: {what} needs {module}: install loopwarden[{extra}]"
        ) from None


class _Served:
    """``async with Server() as server:`` starts it and stops it, whatever happens inside."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# -- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request the HTTP server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return _json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        return self.body.decode()


Handler = Callable[[Any], Awaitable[Any]]


@dataclass
class _Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    handler: Handler | None = None


class HttpServer(_Served):
    """An aiohttp server on 127.0.0.1 whose routes a test declares.

    Example::

        async def test_login(http_server, aiohttp_session):
            http_server.route("POST", "/api/login", json={"token": "t-1"})
            client = ApiClient(http_server.url, session=aiohttp_session)
            assert await client.login("ada", "pw") == "t-1"
            assert http_server.requests[0].json() == {"user": "ada", "password": "pw"}

    A request no route matches gets a 404 listing the declared routes, and is kept in
    :attr:`unmatched`; the ``http_server`` fixture fails the test at teardown if there were any.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], list[_Reply]] = {}
        #: Every request received, in order.
        self.requests: list[Recorded] = []
        #: Requests no route matched.
        self.unmatched: list[Recorded] = []
        self._runner: Any = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if not self._port:
            raise RuntimeError("the HTTP server is not started: use it inside the test")
        return f"http://127.0.0.1:{self._port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        text: str | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        handler: Handler | None = None,
    ) -> None:
        """Declare how ``METHOD path`` is answered; declare it again to queue another answer.

        Answers are given in the order declared; the last one repeats.

        Args:
            status, json, text, body, headers: the response (one of json/text/body).
            delay: seconds (on the loop's clock, so virtual in virtual time) before answering.
            drop: close the connection without answering (the client sees a disconnect).
            handler: ``async def handler(request) -> response`` (aiohttp's ``web.Request`` and
                ``web.Response``), for anything the options above do not cover.
        """
        given = [n for n, v in (("json", json), ("text", text), ("body", body)) if v is not None]
        if len(given) > 1 or (handler is not None and (given or drop)):
            raise ValueError(
                f"http_server.route({method!r}, {path!r}): give one of json=, text=, body=, "
                "drop=True or handler=, not several"
            )
        if not path.startswith("/"):
            raise ValueError(f"http_server.route({method!r}, {path!r}): the path starts with '/'")
        key = (method.upper(), path)
        reply = _Reply(status, json, text, body, dict(headers or {}), delay, drop, handler)
        self._routes.setdefault(key, []).append(reply)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        """The recorded requests for ``METHOD path``."""
        method = method.upper()
        return [r for r in self.requests if r.method == method and r.path == path]

    async def start(self) -> None:
        web = _need("aiohttp.web", "aiohttp", "http_server")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port or 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _dispatch(self, request: Any) -> Any:
        web = _need("aiohttp.web", "aiohttp", "http_server")
        body = await request.read()
        recorded = Recorded(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            body,
        )
        self.requests.append(recorded)
        replies = self._routes.get((request.method, request.path))
        if not replies:
            self.unmatched.append(recorded)
            known = ", ".join(f"{m} {p}" for m, p in self._routes) or "none"
            return web.Response(
                status=404,
                text=f"loopwarden http_server: no route for {request.method} {request.path}; "
                f"declared: {known}",
            )
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly
        if reply.handler is not None:
            return await reply.handler(request)
        if reply.json is not None:
            return web.json_response(reply.json, status=reply.status, headers=reply.headers)
        if reply.text is not None:
            return web.Response(text=reply.text, status=reply.status, headers=reply.headers)
        return web.Response(body=reply.body or b"", status=reply.status, headers=reply.headers)


# -- WebSocket ---------------------------------------------------------------------------------


def _encode(message: Any) -> str | bytes:
    if isinstance(message, str | bytes):
        return message
    return _json.dumps(message)


def _decode(message: str | bytes) -> Any:
    if isinstance(message, bytes):
        return message
    try:
        return _json.loads(message)
    except ValueError:
        return message


class WsServer(_Served):
    """A WebSocket server (the websockets library) on 127.0.0.1 that a test scripts.

    Messages are JSON-encoded when they are not ``str``/``bytes``, and received text that parses
    as JSON is decoded. Example::

        async def test_reconnects_after_a_restart(ws_server):
            client = await GatewayClient.connect(ws_server.url)
            await ws_server.wait_for_connection()
            await ws_server.close(code=1012)            # "service restart"
            await ws_server.wait_for_connection(2)      # the client came back
            assert await ws_server.received() == {"type": "resume"}
    """

    def __init__(self) -> None:
        #: Every message clients sent, decoded, in order.
        self.messages: list[Any] = []
        #: Connections accepted so far (reconnections included).
        self.connections = 0
        self._open: list[Any] = []
        self._server: Any = None
        self._port = 0
        self._read = 0
        self._changed: asyncio.Condition | None = None
        self._greeting: list[Any] = []
        self._handshake_delay = 0.0
        self._reject: tuple[int, str] | None = None
        self._responder: Callable[[Any], Any] | None = None
        #: What the responder raised, with the message it was answering: each closed its
        #: connection with 1011 (internal error); the ``ws_server`` fixture fails the test.
        self.errors: list[tuple[Any, BaseException]] = []

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("the WebSocket server is not started: use it inside the test")
        return f"ws://127.0.0.1:{self._port}"

    # -- scripting -----------------------------------------------------------------------------

    def greet(self, *messages: Any) -> None:
        """Send these messages to each client as soon as it connects, before it sends anything."""
        self._greeting = list(messages)

    def delay_handshake(self, seconds: float) -> None:
        """Answer each opening handshake after ``seconds`` (loop clock: virtual in virtual time)."""
        self._handshake_delay = seconds

    def reject(self, status: int = 403, reason: str = "rejected by the test") -> None:
        """Refuse each opening handshake with this HTTP status; ``accept()`` undoes it."""
        self._reject = (status, reason)

    def accept(self) -> None:
        self._reject = None

    def respond(self, responder: Callable[[Any], Any] | None) -> None:
        """Answer each received message with ``responder(message)`` unless it returns None.

        E.g. a request/response protocol::

            ws_server.respond(lambda m: {"id": m["id"], "ok": True} if "id" in m else None)

        The responder may be a coroutine function.
        """
        self._responder = responder

    # -- acting --------------------------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Send ``message`` to every connected client."""
        data = _encode(message)
        for connection in list(self._open):
            with contextlib.suppress(Exception):
                await connection.send(data)

    async def received(self, timeout: float = 5.0) -> Any:  # noqa: ASYNC109 (test helper)
        """The next message a client sent that this method has not returned yet."""
        async with asyncio.timeout(timeout):
            await self._wait(lambda: len(self.messages) > self._read)
        message = self.messages[self._read]
        self._read += 1
        return message

    async def wait_for_connection(self, n: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``n`` connections were accepted in total (reconnections count)."""
        try:
            async with asyncio.timeout(timeout):
                await self._wait(lambda: self.connections >= n)
        except TimeoutError:
            raise AssertionError(
                f"ws_server: {self.connections} connection(s) within {timeout:g} s, expected {n}"
            ) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close every connection with a close frame (e.g. ``code=1012``, service restart)."""
        for connection in list(self._open):
            await connection.close(code, reason)

    async def drop(self) -> None:
        """Abort every connection's TCP stream: no close frame, as when a network drops."""
        for connection in list(self._open):
            connection.transport.abort()

    async def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port."""
        await self.stop()
        await self.start()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        server_module = _need("websockets.asyncio.server", "ws", "ws_server")
        self._changed = asyncio.Condition()
        self._server = await server_module.serve(
            self._handle,
            "127.0.0.1",
            self._port,
            process_request=self._process_request,
        )
        self._port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        for connection in list(self._open):
            connection.transport.abort()
        server.close()
        await server.wait_closed()

    async def _process_request(self, connection: Any, request: Any) -> Any:
        if self._handshake_delay:
            await asyncio.sleep(self._handshake_delay)
        if self._reject is not None:
            status, reason = self._reject
            return connection.respond(status, reason + "\n")
        return None

    async def _handle(self, connection: Any) -> None:
        self._open.append(connection)
        self.connections += 1
        await self._notify()
        try:
            for message in self._greeting:
                await connection.send(_encode(message))
            async for data in connection:
                message = _decode(data)
                self.messages.append(message)
                await self._notify()
                if self._responder is not None:
                    try:
                        reply = self._responder(message)
                        if hasattr(reply, "__await__"):
                            reply = await reply
                    except Exception as exc:  # the test's own code: kept, and the test fails
                        self.errors.append((message, exc))
                        await connection.close(1011, f"responder raised {type(exc).__name__}")
                        return
                    if reply is not None:
                        await connection.send(_encode(reply))
        except Exception:  # a dropped connection ends the handler; the client sees it
            pass
        finally:
            self._open.remove(connection)
            await self._notify()

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _wait(self, predicate: Callable[[], bool]) -> None:
        assert self._changed is not None, "the WebSocket server is not started"
        async with self._changed:
            await self._changed.wait_for(predicate)
