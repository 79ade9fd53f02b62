"""Repricing: a producer feeds SKUs through a bounded queue to a few concurrent workers.

Everything runs in one ``TaskGroup``, so a failing price source, or the caller's deadline
(``async with asyncio.timeout(...)``), cancels every worker, and nothing outlives :func:`reprice`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

PriceSource = Callable[[str], Awaitable[Decimal]]


async def reprice(
    skus: Iterable[str], source: PriceSource, *, workers: int = 4
) -> dict[str, Decimal]:
    """The new price of every sku, from ``source``, at most ``workers`` lookups at a time.

    Raises:
        ExceptionGroup: a lookup failed (the other workers were cancelled).
    """
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=workers * 2)
    prices: dict[str, Decimal] = {}

    async def produce() -> None:
        for sku in skus:
            await queue.put(sku)  # waits while the workers are behind: backpressure
        for _ in range(workers):
            await queue.put(None)  # one stop sign per worker

    async def consume() -> None:
        while (sku := await queue.get()) is not None:
            prices[sku] = await source(sku)

    async with asyncio.TaskGroup() as group:
        group.create_task(produce(), name="reprice-producer")
        for n in range(workers):
            group.create_task(consume(), name=f"reprice-worker-{n}")
    return prices
