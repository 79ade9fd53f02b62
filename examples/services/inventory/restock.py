"""The restocker: an in-process service that applies restock orders in a background task.

Orders are queued by :meth:`Restocker.order` and delivered one at a time, in order, by a supplier
coroutine; a failed delivery is recorded and the service carries on with the next order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from inventory._aio import cancel_and_wait

Supplier = Callable[[str, int], Awaitable[int]]


class Restocker:
    def __init__(self, stock: dict[str, int], supplier: Supplier) -> None:
        self.stock = stock
        self.failures: list[tuple[str, Exception]] = []
        self._supplier = supplier
        self._orders: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the restocker is already running")
        self._task = asyncio.create_task(self._deliver_orders(), name="restocker")

    async def stop(self) -> None:
        """Stop delivering; an order in flight is cancelled. Safe to call twice."""
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)

    def order(self, sku: str, quantity: int) -> None:
        self._orders.put_nowait((sku, quantity))

    async def drain(self) -> None:
        """Return once every order placed so far has been delivered or has failed."""
        await self._orders.join()

    async def _deliver_orders(self) -> None:
        while True:
            sku, quantity = await self._orders.get()
            try:
                delivered = await self._supplier(sku, quantity)
            except Exception as exc:
                self.failures.append((sku, exc))
            else:
                self.stock[sku] = self.stock.get(sku, 0) + delivered
            finally:
                self._orders.task_done()
