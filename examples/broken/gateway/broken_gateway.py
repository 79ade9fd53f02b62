"""The gateway client of examples/gateway, cut down to what the broken tests use.

Protocol (JSON text frames): after the WebSocket handshake the client sends
``{"type": "connect", "token": ...}`` and waits for ``{"type": "connected"}``; requests are
``{"id": n, "method": ..., "params": ...}``, answered by ``{"id": n, "result": ...}``; events are
``{"type": "event", "name": ..., "data": ...}``. Each event is handled in a task of its own, so
a slow handler never holds up the replies behind it — and so two events' handlers may run in
either order.
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

Handler = Callable[[Any], Awaitable[None]]


class GatewayClient:
    def __init__(self, url: str, token: str, *, request_timeout: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.request_timeout = request_timeout
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._handling: set[asyncio.Task[None]] = set()

    def on(self, name: str, handler: Handler) -> None:
        self._handlers[name].append(handler)

    async def start(self) -> None:
        self._ws = await connect(self.url)
        await self._ws.send(json.dumps({"type": "connect", "token": self.token}))
        reply = json.loads(await self._ws.recv())
        if reply.get("type") != "connected":
            raise ConnectionError(f"the gateway refused the connection: {reply}")
        self._reader = asyncio.create_task(self._read(), name="gateway-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await asyncio.gather(*self._handling)
        if self._ws is not None:
            await self._ws.close()

    async def request(self, method: str, params: Any = None) -> Any:
        assert self._ws is not None, "start() the client first"
        request_id = next(self._ids)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        try:
            await self._ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
            async with asyncio.timeout(self.request_timeout):
                return await reply
        finally:
            self._pending.pop(request_id, None)

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            message = json.loads(raw)
            if "id" in message:
                reply = self._pending.get(message["id"])
                if reply is not None and not reply.done():
                    reply.set_result(message.get("result"))
            elif message.get("type") == "event":
                task = asyncio.create_task(self._dispatch(message))
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(message["name"], []):
            await handler(message.get("data"))
