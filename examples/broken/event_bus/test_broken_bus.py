from __future__ import annotations

from unittest import mock


async def test_handlers_see_the_event(bus):
    seen = []

    async def ship(event):
        seen.append(event["id"])

    bus.subscribe("orders", ship)
    assert await bus.publish("orders", {"id": "o-1"}) == 1
    assert seen == ["o-1"]


async def test_a_failing_handler_is_retried(bus):  # planted: virtual-time
    calls = []

    async def flaky(event):
        calls.append(event["id"])
        if len(calls) == 1:
            raise ConnectionError("warehouse offline")

    bus.subscribe("orders", flaky)
    assert await bus.publish("orders", {"id": "o-2"}, retry_after=0.5) == 1
    assert calls == ["o-2", "o-2"]


async def test_cleanup_runs_every_hour(bus):
    with mock.patch("asyncio.sleep"):  # every caller's sleep: `loopwarden lint --extend-select LW103`
        await bus.start()
    assert bus.retention == 3600.0
