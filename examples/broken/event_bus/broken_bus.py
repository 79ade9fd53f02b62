"""The event bus of examples/event_bus, with a retrying publisher (the broken twin's code)."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class EventBus:
    def __init__(self, retention: float = 3600.0) -> None:
        self.retention = retention
        self.handlers: dict[str, list] = defaultdict(list)
        self.purges = 0
        self._cleanup: asyncio.Task[None] | None = None

    def subscribe(self, topic: str, handler) -> None:
        self.handlers[topic].append(handler)

    async def publish(self, topic: str, event: dict, retry_after: float = 0.2) -> int:
        """Deliver to every handler; a handler that fails is retried once after a pause."""
        delivered = 0
        for handler in self.handlers.get(topic, []):
            try:
                await handler(event)
            except ConnectionError:
                await asyncio.sleep(retry_after)  # sleep-ok: planted
                await handler(event)
            delivered += 1
        return delivered

    async def start(self) -> None:
        self._cleanup = asyncio.create_task(self._cleanup_loop(), name="bus-cleanup")  # planted: leak(task)

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retention)
            self.purges += 1
