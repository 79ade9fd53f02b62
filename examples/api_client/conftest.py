from __future__ import annotations

import pytest
from api import ApiClient


@pytest.fixture
async def client(http_server, aiohttp_session):
    # One session for the test, made and closed by the aiohttp_session fixture; the client only
    # borrows it. http_server is a real aiohttp server on 127.0.0.1 with scripted answers.
    http_server.route("POST", "/api/login", json={"access": "a-1", "refresh": "r-1"})
    return ApiClient(http_server.url, aiohttp_session)
