"""A media-analysis client: uploads an image, then notifies listeners about the result."""

from __future__ import annotations

import asyncio


class MediaClient:
    def __init__(self, session, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def labels(self, image_id: str) -> list[str]:
        async with self.session.get(f"{self.base_url}/images/{image_id}/labels") as response:
            data = await response.json()
        return data["labels"]


async def notify_all(listeners, result: dict) -> None:
    """Tell every listener about a result, concurrently."""
    async with asyncio.TaskGroup() as group:
        for listener in listeners:
            group.create_task(listener(result))
