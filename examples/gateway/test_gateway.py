"""The gateway client against a real WebSocket server: drops, restarts, early events.

No sleep barriers: the server is scripted (``ws_server``), waits are on real conditions
(``settle()``, ``eventually()``, the client's own events), and back-off delays run in virtual
time.
"""

from __future__ import annotations

import asyncio

import pytest
from fake_gateway import answer
from gateway import Disconnected, GatewayClient, GatewayError

from loopwarden import eventually, settle

pytestmark = pytest.mark.loopwarden(virtual_time=True)


async def test_a_request_gets_its_answer(client, ws_server):
    assert await client.request("echo", {"n": 1}) == {"n": 1}
    assert await ws_server.received() == {"type": "connect", "token": "t-1"}
    assert await ws_server.received() == {"id": 1, "method": "echo", "params": {"n": 1}}


async def test_an_error_answer_raises(client):
    with pytest.raises(GatewayError, match="unknown method 'nope'"):
        await client.request("nope")


async def test_a_request_during_a_disconnect_fails_with_the_clients_error(client, ws_server):
    await ws_server.drop()
    await eventually(lambda: not client.connected.is_set())
    with pytest.raises(Disconnected, match="echo: the gateway is not connected"):
        await client.request("echo", 1)


async def test_pending_requests_fail_when_the_connection_drops(client, ws_server):
    ws_server.respond(lambda m: answer(m) if m.get("type") == "connect" else None)  # no replies
    pending = asyncio.create_task(client.request("echo", "lost"))
    await settle()  # the request is on the wire, unanswered
    await ws_server.drop()
    with pytest.raises(Disconnected, match="the gateway connection dropped"):
        await pending


async def test_events_sent_during_the_handshake_are_delivered(ws_server):
    seen = []
    ws_server.greet({"type": "event", "name": "presence", "data": "online"})
    ws_server.respond(answer)
    client = GatewayClient(ws_server.url, token="t-1")

    async def presence(data):
        seen.append(data)

    client.on("presence", presence)
    await client.start()
    try:
        assert seen == ["online"]
        assert client.early_events == [{"type": "event", "name": "presence", "data": "online"}]
    finally:
        await client.close()


async def test_it_reconnects_after_a_service_restart_and_keeps_its_handlers(client, ws_server):
    seen = []

    async def alert(data):
        seen.append(data)

    client.on("alert", alert)
    await ws_server.close(code=1012)  # "service restart"
    await ws_server.wait_for_connection(2)
    async with asyncio.timeout(5):
        await client.connected.wait()
    await ws_server.send({"type": "event", "name": "alert", "data": "disk full"})
    await eventually(lambda: seen == ["disk full"])
    assert await client.request("echo", "after restart") == "after restart"


async def test_back_off_doubles_while_the_server_is_down(client, ws_server, clock):
    await ws_server.stop()
    started = clock.now()
    await clock.advance(1 + 2 + 4 + 8 - 0.5)  # four failed attempts, all in virtual time
    assert not client.connected.is_set()
    await ws_server.start()
    async with asyncio.timeout(30):
        await client.connected.wait()
    # The fifth attempt, after 1 + 2 + 4 + 8 s (rounded: clock readings are floats).
    assert round(clock.now() - started, 6) >= 15
    assert client.connections == 2
