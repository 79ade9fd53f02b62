"""The stock feed: a websockets server that pushes stock changes to subscribed clients.

A client sends ``{"subscribe": "<sku>"}`` and gets ``{"subscribed": "<sku>"}`` back; from then on
every :meth:`StockFeed.publish` for that sku reaches it as ``{"sku": ..., "available": ...}``.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast


class StockFeed:
    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self._changed = asyncio.Condition()

    async def handler(self, connection: ServerConnection) -> None:
        """One client connection, for as long as it stays open."""
        subscribed: set[str] = set()
        try:
            async for raw in connection:
                sku = json.loads(raw)["subscribe"]
                self._subscribers[sku].add(connection)
                subscribed.add(sku)
                await connection.send(json.dumps({"subscribed": sku}))
                await self._notify()
        finally:
            for sku in subscribed:
                self._subscribers[sku].discard(connection)
            await self._notify()

    def subscribers(self, sku: str) -> int:
        return len(self._subscribers.get(sku, ()))

    async def wait_for_subscribers(self, sku: str, count: int) -> None:
        """Return once exactly ``count`` clients follow ``sku`` (e.g. 0: everyone has left)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.subscribers(sku) == count)

    def publish(self, sku: str, available: int) -> int:
        """Send the new stock level to every subscriber of ``sku``; returns how many there are."""
        connections = self._subscribers.get(sku, set())
        broadcast(connections, json.dumps({"sku": sku, "available": available}))
        return len(connections)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
