"""A typed client for the catalog service, over an ``aiohttp.ClientSession`` owned by the caller."""

from __future__ import annotations

import aiohttp


class UnknownItem(LookupError):
    pass


class OutOfStock(Exception):
    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, {available} available")
        self.sku, self.wanted, self.available = sku, wanted, available


class CatalogClient:
    """Calls the catalog; the session (and its connection pool) belongs to whoever made it."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def available(self, sku: str) -> int:
        async with self._session.get(f"/items/{sku}") as response:
            if response.status == 404:
                raise UnknownItem(sku)
            response.raise_for_status()
            return int((await response.json())["available"])

    async def reserve(self, sku: str, quantity: int) -> int:
        """Reserve ``quantity`` units; returns how many are left."""
        async with self._session.post(
            f"/items/{sku}/reservations", json={"quantity": quantity}
        ) as response:
            body = await response.json()
            if response.status == 404:
                raise UnknownItem(sku)
            if response.status == 409:
                raise OutOfStock(sku, quantity, body["available"])
            response.raise_for_status()
            return int(body["available"])
