"""Repricing with a producer, a bounded queue and workers in a TaskGroup, under deadlines."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from inventory.pipeline import reprice

SKUS = [f"sku-{n}" for n in range(9)]


async def test_every_sku_is_priced_by_concurrent_workers():
    # Each lookup waits until three are in flight at once: this only finishes if three workers
    # really run concurrently (and would hang, caught by the timeout, if they did not).
    together = asyncio.Barrier(3)

    async def source(sku: str) -> Decimal:
        await together.wait()
        return Decimal(sku.removeprefix("sku-"))

    async with asyncio.timeout(10):
        prices = await reprice(SKUS, source, workers=3)
    assert prices == {sku: Decimal(sku.removeprefix("sku-")) for sku in SKUS}


async def test_failing_lookup_cancels_the_other_workers():
    waiting = cancelled = 0
    never = asyncio.Event()

    async def source(sku: str) -> Decimal:
        nonlocal waiting, cancelled
        if sku == "sku-3":
            raise LookupError(sku)
        waiting += 1
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        raise AssertionError("unreachable")

    with pytest.raises(ExceptionGroup) as excinfo:
        async with asyncio.timeout(10):
            await reprice(SKUS, source, workers=4)
    assert excinfo.group_contains(LookupError)
    assert cancelled == waiting  # every worker still waiting was cancelled


async def test_hung_price_source_hits_the_deadline():
    started = cancelled = 0
    never = asyncio.Event()

    async def source(sku: str) -> Decimal:
        nonlocal started, cancelled
        started += 1
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        raise AssertionError("unreachable")

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await reprice(SKUS, source, workers=2)
    assert cancelled == started  # no lookup outlives the deadline
