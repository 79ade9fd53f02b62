from __future__ import annotations

import pytest
from fake_gateway import answer
from gateway import GatewayClient


@pytest.fixture
async def client(ws_server):
    ws_server.respond(answer)
    client = GatewayClient(ws_server.url, token="t-1")
    await client.start()
    yield client
    await client.close()
