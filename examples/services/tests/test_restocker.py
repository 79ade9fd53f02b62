"""The restocker service and its background task, started and stopped by a fixture."""

from __future__ import annotations

import asyncio

import pytest

from inventory.restock import Restocker


class Supplier:
    """A fake supplier: delivers what was ordered, except for the skus it is told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.failing: set[str] = set()
        self.hold: asyncio.Event | None = None  # when set up, deliveries wait for it
        self.waiting = asyncio.Event()
        self.cancelled = 0

    async def __call__(self, sku: str, quantity: int) -> int:
        self.calls.append((sku, quantity))
        if sku in self.failing:
            raise ConnectionError(f"supplier has no {sku}")
        if self.hold is not None:
            self.waiting.set()
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return quantity


@pytest.fixture
def supplier() -> Supplier:
    return Supplier()


@pytest.fixture
async def restocker(supplier):
    service = Restocker({"widget": 1}, supplier)
    await service.start()
    yield service
    await service.stop()  # the background task must not outlive the test


async def test_orders_are_delivered_in_order(restocker, supplier):
    restocker.order("widget", 5)
    restocker.order("gadget", 2)
    await restocker.drain()
    assert supplier.calls == [("widget", 5), ("gadget", 2)]
    assert restocker.stock == {"widget": 6, "gadget": 2}


async def test_failed_delivery_is_recorded_and_the_service_carries_on(restocker, supplier):
    supplier.failing.add("gizmo")
    restocker.order("gizmo", 1)
    restocker.order("widget", 1)
    await restocker.drain()
    assert [(sku, str(exc)) for sku, exc in restocker.failures] == [
        ("gizmo", "supplier has no gizmo")
    ]
    assert restocker.stock["widget"] == 2


async def test_stop_cancels_the_delivery_in_flight(restocker, supplier):
    supplier.hold = asyncio.Event()
    restocker.order("widget", 9)
    async with asyncio.timeout(5):
        await supplier.waiting.wait()
        await restocker.stop()
    assert supplier.cancelled == 1
    assert restocker.stock == {"widget": 1}
