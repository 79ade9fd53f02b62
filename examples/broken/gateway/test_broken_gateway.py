"""The gateway client's tests as the field report found them: they wait by sleeping.

The field's suite waited for its 30 s request timeout for real; here the timeout is 1 s, so the
doctor's run over examples/ stays short (it runs this test six times: once, then under five
schedules). The doctor reports the real seconds either way.
"""

from __future__ import annotations

import asyncio

import pytest
from broken_gateway import GatewayClient


async def test_a_request_gets_its_answer(client):
    assert await client.request("echo", {"n": 1}) == {"n": 1}


# Waits out the request timeout in real time.
async def test_an_unanswered_request_times_out(gateway):  # planted: virtual-time
    client = GatewayClient(gateway.url, token="t-1", request_timeout=1.0)  # the field's: 30.0
    await client.start()
    try:
        with pytest.raises(TimeoutError):
            await client.request("lookup", {"user": "ada"})  # the gateway never answers
    finally:
        await client.close()


async def test_the_client_says_connect_first(client, gateway):  # planted: virtual-time
    # A barrier: "long enough" for the message to arrive, on a laptop.
    await asyncio.sleep(0.2)  # planted: lint(LW102)  # sleep-ok: planted
    assert gateway.received[0] == {"type": "connect", "token": "t-1"}


async def test_presence_arrives_in_order(client, gateway):  # planted: virtual-time, order-dependent
    seen = []

    async def presence(data):
        await asyncio.sleep(0)  # stands in for the real handler's write to the presence store
        seen.append(data)

    client.on("presence", presence)
    await gateway.push(
        {"name": "presence", "data": "ada joined"},
        {"name": "presence", "data": "ada is typing"},
        {"name": "presence", "data": "ada left"},
    )
    await asyncio.sleep(0.2)  # planted: lint(LW102)  # sleep-ok: planted
    # Each event is handled in a task of its own, and each handler awaits its write: which one
    # resumes first follows when the writes finish, which asyncio does not promise.
    assert seen == ["ada joined", "ada is typing", "ada left"]
