"""A media-analysis client: uploads an image, then notifies listeners about the result."""

from __future__ import annotations

import asyncio


class MediaClient:
    def __init__(self, session, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def labels(self, image_id: str) -> list[str]:
        url = f"{self.base_url}/images/{image_id}/labels"
        # test_media.py mocks the session with AsyncMock: get() returns a coroutine, never awaited.
        async with self.session.get(url) as response:  # planted: unseen-error(coroutine)
            data = await response.json()
        return data["labels"]


async def notify_all(listeners, result: dict) -> None:
    """Tell every listener about a result, concurrently."""
    async with asyncio.TaskGroup() as group:
        for listener in listeners:
            group.create_task(listener(result))
