"""The API client of examples/api_client before the fix: it makes its own session.

Every ``ApiClient(...)`` opens an ``aiohttp.ClientSession`` (and its connection pool) that only
``close()`` would release, and nothing calls it. In the field, one such session per test piled
up until the run hung on close during loop teardown.
"""

from __future__ import annotations

from typing import Any

import aiohttp


class AuthError(RuntimeError):
    """The API refused the credentials."""


class ApiClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # Its own session (and connection pool), which nothing closes.
        self.session = aiohttp.ClientSession()  # planted: leak(unclosed)
        self.token: str | None = None
        self._refresh_token: str | None = None

    async def close(self) -> None:
        await self.session.close()

    async def login(self, user: str, password: str) -> str:
        # The first request: the pool keeps its connection alive with a timer that outlives the
        # test, because the session is never closed.
        async with self.session.post(  # planted: leak(timer)
            f"{self.base_url}/api/login", json={"user": user, "password": password}
        ) as response:
            if response.status == 401:
                raise AuthError(f"login refused for {user!r}")
            response.raise_for_status()
            tokens = await response.json()
        self.token, self._refresh_token = tokens["access"], tokens["refresh"]
        return self.token

    async def get(self, path: str) -> Any:
        """GET ``path`` with the access token; on 401, refresh the token once and retry."""
        for attempt in range(2):
            async with self.session.get(
                f"{self.base_url}{path}", headers={"Authorization": f"Bearer {self.token}"}
            ) as response:
                if response.status == 401 and attempt == 0:
                    await self._refresh()
                    continue
                response.raise_for_status()
                return await response.json()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh(self) -> None:
        async with self.session.post(
            f"{self.base_url}/api/refresh", json={"refresh": self._refresh_token}
        ) as response:
            if response.status == 401:
                raise AuthError("the refresh token was refused: log in again")
            response.raise_for_status()
            self.token = (await response.json())["access"]
