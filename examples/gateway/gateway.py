"""A small reconnecting WebSocket gateway client, of the kind field reports describe.

Protocol (JSON text frames):

- after the WebSocket handshake the client sends ``{"type": "connect", "token": ...}`` and waits
  for ``{"type": "connected"}``; the server may send events before it answers;
- requests are ``{"id": n, "method": ..., "params": ...}``, answered by ``{"id": n, "result": ...}``
  or ``{"id": n, "error": ...}``;
- events are ``{"type": "event", "name": ..., "data": ...}``, delivered to subscribed handlers.

When the connection drops or the server closes it (1012, "service restart", included), pending
requests fail with :class:`Disconnected`, and the client reconnects with back-off and sends
``connect`` again; handlers stay subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Handler = Callable[[Any], Awaitable[None]]


class Disconnected(ConnectionError):
    """The request could not complete: the gateway connection is down."""


class GatewayError(RuntimeError):
    """The gateway answered a request with an error."""


class GatewayClient:
    def __init__(self, url: str, token: str, *, backoff: float = 1.0, max_backoff: float = 30.0):
        self.url = url
        self.token = token
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connected = asyncio.Event()
        self.connections = 0
        self.early_events: list[Any] = []  # events that arrived before "connected"
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._runner: asyncio.Task[None] | None = None
        self._closing = False

    def on(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="gateway-runner")
        await self.connected.wait()

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._ws is not None:
            await self._ws.close()
        self._fail_pending()

    async def request(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        if not self.connected.is_set() or self._ws is None:
            raise Disconnected(f"{method}: the gateway is not connected")
        request_id = next(self._ids)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        try:
            await self._ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
            async with asyncio.timeout(timeout):
                return await reply
        finally:
            self._pending.pop(request_id, None)

    async def _run(self) -> None:
        delay = self.backoff
        while not self._closing:
            try:
                async with connect(self.url) as ws:
                    self._ws = ws
                    await self._handshake(ws)
                    delay = self.backoff
                    await self._read(ws)
            except (OSError, ConnectionClosed, TimeoutError):
                pass
            self.connected.clear()
            self._ws = None
            self._fail_pending()
            if self._closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _handshake(self, ws: ClientConnection) -> None:
        await ws.send(json.dumps({"type": "connect", "token": self.token}))
        async with asyncio.timeout(10):
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "connected":
                    break
                if message.get("type") == "event":
                    self.early_events.append(message)
                    await self._dispatch(message)
        self.connections += 1
        self.connected.set()

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if "id" in message:
                reply = self._pending.get(message["id"])
                if reply is not None and not reply.done():
                    if "error" in message:
                        reply.set_exception(GatewayError(message["error"]))
                    else:
                        reply.set_result(message.get("result"))
            elif message.get("type") == "event":
                await self._dispatch(message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(message["name"], []):
            await handler(message.get("data"))

    def _fail_pending(self) -> None:
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(Disconnected("the gateway connection dropped"))
        self._pending.clear()
