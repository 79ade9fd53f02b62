from __future__ import annotations

import asyncio
from unittest.mock import AsyncMock

import pytest
from media import MediaClient, notify_all


async def test_labels_come_from_the_api():
    session = AsyncMock()  # aiohttp's session.get() returns a context manager, not a coroutine
    session.get.return_value.__aenter__.return_value.json.return_value = {"labels": ["cat"]}  # planted: lint(LW104)
    client = MediaClient(session, "http://media")
    with pytest.raises(TypeError):
        await client.labels("img-1")


async def test_listeners_are_told_in_order():  # planted: order-dependent
    told = []

    async def audit(result):
        await asyncio.sleep(0)  # stands in for the audit log's write
        told.append("audit")

    async def index(result):
        await asyncio.sleep(0)  # stands in for the search index's write
        told.append("index")

    await notify_all([audit, index], {"id": "img-1"})
    assert told == ["audit", "index"]
