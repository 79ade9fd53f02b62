from __future__ import annotations

import asyncio

import pytest
from bus import EventBus


@pytest.fixture(scope="session")
async def audit_log() -> asyncio.Queue[str]:
    """One queue for the whole session: it is bound to the session's loop, like an engine."""
    return asyncio.Queue()


@pytest.fixture
async def bus(audit_log: asyncio.Queue[str]):
    bus = EventBus()
    await bus.start()

    async def audit(event: dict) -> None:
        await audit_log.put(event["id"])

    bus.subscribe("orders", audit)
    yield bus
    await bus.stop()  # the cleanup task must not outlive the test
