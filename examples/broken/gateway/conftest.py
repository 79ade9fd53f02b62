from __future__ import annotations

import json
from typing import Any

import pytest
from broken_gateway import GatewayClient
from websockets.asyncio.server import ServerConnection, serve


class FakeGateway:
    """A hand-written gateway: accepts any token, echoes ``echo`` requests, answers nothing
    else; the test pushes events with :meth:`push`."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Any] = []
        self._open: set[ServerConnection] = set()

    async def handle(self, ws: ServerConnection) -> None:
        self._open.add(ws)
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.received.append(message)
                if message.get("type") == "connect":
                    await ws.send(json.dumps({"type": "connected"}))
                elif message.get("method") == "echo":
                    await ws.send(json.dumps({"id": message["id"], "result": message["params"]}))
        finally:
            self._open.discard(ws)

    async def push(self, *events: dict[str, Any]) -> None:
        for ws in list(self._open):
            for event in events:
                await ws.send(json.dumps({"type": "event", **event}))


@pytest.fixture
async def gateway():
    fake = FakeGateway()
    async with serve(fake.handle, "127.0.0.1", 0) as server:
        host, port = server.sockets[0].getsockname()[:2]
        fake.url = f"ws://{host}:{port}"
        yield fake


@pytest.fixture
async def client(gateway):
    client = GatewayClient(gateway.url, token="t-1")
    await client.start()
    yield client
    await client.close()
