"""The catalog over real HTTP: a session-scoped aiohttp server, a client session per test."""

from __future__ import annotations

import asyncio

import pytest

from inventory.client import OutOfStock


async def test_available_stock(catalog):
    assert await catalog.available("widget") == 10


async def test_reservation_takes_stock(catalog):
    assert await catalog.reserve("gadget", 2) == 1
    assert await catalog.available("gadget") == 1


async def test_reservation_beyond_stock_is_refused(catalog):
    with pytest.raises(OutOfStock) as excinfo:
        await catalog.reserve("gadget", 4)
    assert (excinfo.value.wanted, excinfo.value.available) == (4, 3)
    assert await catalog.available("gadget") == 3


async def test_concurrent_reservations_never_oversell(catalog):
    results = await asyncio.gather(
        *(catalog.reserve("widget", 3) for _ in range(5)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, OutOfStock)]
    assert len(refused) == 2
    assert sorted(r for r in results if isinstance(r, int)) == [1, 4, 7]
    assert await catalog.available("widget") == 1
