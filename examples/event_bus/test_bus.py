from __future__ import annotations

import asyncio

import pytest


async def test_every_handler_sees_the_event(bus, audit_log):
    seen: list[str] = []

    async def ship(event: dict) -> None:
        seen.append(event["id"])

    bus.subscribe("orders", ship)
    assert await bus.publish("orders", {"id": "o-1"}) == 2
    assert seen == ["o-1"]
    assert await audit_log.get() == "o-1"


async def test_failing_handler_goes_to_dead_letters(bus, audit_log):
    async def broken(event: dict) -> None:
        raise RuntimeError("warehouse offline")

    bus.subscribe("orders", broken)
    await bus.publish("orders", {"id": "o-2"})
    assert [(topic, str(exc)) for _, topic, _, exc in bus.dead_letters] == [
        ("orders", "warehouse offline")
    ]
    assert await audit_log.get() == "o-2"


@pytest.mark.parametrize("topic", ["payments", "refunds"])
async def test_unknown_topic_runs_nothing(bus, topic):
    assert await bus.publish(topic, {"id": "x"}) == 0


async def test_slow_handlers_run_concurrently(bus, audit_log):
    gate = asyncio.Event()

    async def waits_for_gate(event: dict) -> None:
        await gate.wait()

    async def opens_gate(event: dict) -> None:
        gate.set()

    bus.subscribe("orders", waits_for_gate)
    bus.subscribe("orders", opens_gate)
    async with asyncio.timeout(5):
        assert await bus.publish("orders", {"id": "o-3"}) == 3
    assert await audit_log.get() == "o-3"


@pytest.mark.loopwarden(virtual_time=True, monotonic=True)
async def test_dead_letters_expire_after_the_retention(bus, audit_log, clock):
    # Two hours of the cleanup loop in milliseconds; time.monotonic() follows the virtual clock,
    # so the timestamps the bus stores and the cutoff it computes agree with it.
    async def broken(event: dict) -> None:
        raise RuntimeError("warehouse offline")

    bus.subscribe("orders", broken)
    await clock.advance(60)  # the cleanup loop started with the fixture, a minute ago
    await bus.publish("orders", {"id": "o-4"})
    assert await audit_log.get() == "o-4"
    await clock.advance(bus.retention - 60)
    assert len(bus.dead_letters) == 1  # the first cleanup keeps what is younger than 1 h
    await clock.advance(bus.retention)
    assert bus.dead_letters == []
