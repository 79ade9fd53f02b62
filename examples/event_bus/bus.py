"""A small in-process event bus: async handlers, a dead-letter list, a periodic cleanup task."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[[dict], Awaitable[None]]


@dataclass
class EventBus:
    retention: float = 3600.0
    _handlers: dict[str, list[Handler]] = field(default_factory=lambda: defaultdict(list))
    dead_letters: list[tuple[float, str, dict, BaseException]] = field(default_factory=list)
    _cleanup: asyncio.Task[None] | None = None

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, event: dict) -> int:
        """Deliver ``event`` to every handler of ``topic`` concurrently; returns how many ran."""
        handlers = self._handlers.get(topic, [])
        results = await asyncio.gather(*(h(event) for h in handlers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                self.dead_letters.append((time.monotonic(), topic, event, result))
        return len(handlers)

    async def start(self) -> None:
        self._cleanup = asyncio.create_task(self._cleanup_loop(), name="bus-cleanup")

    async def stop(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cancel()
            try:
                await self._cleanup
            except asyncio.CancelledError:
                pass
            self._cleanup = None

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retention)
            cutoff = time.monotonic() - self.retention
            self.dead_letters = [d for d in self.dead_letters if d[0] >= cutoff]
