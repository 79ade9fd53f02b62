"""Each test builds its own client, so each test opens a session nobody closes."""

from __future__ import annotations

from broken_api import ApiClient


async def test_login_keeps_the_access_token(http_server):
    http_server.route("POST", "/api/login", json={"access": "a-1", "refresh": "r-1"})
    client = ApiClient(http_server.url)
    assert await client.login("ada", "pw") == "a-1"


async def test_an_expired_token_is_refreshed_once(http_server):
    http_server.route("POST", "/api/login", json={"access": "a-1", "refresh": "r-1"})
    http_server.route("GET", "/api/orders", status=401, json={"error": "expired"})
    http_server.route("GET", "/api/orders", json=[{"id": 7}])
    http_server.route("POST", "/api/refresh", json={"access": "a-2"})
    client = ApiClient(http_server.url)
    await client.login("ada", "pw")
    assert await client.get("/api/orders") == [{"id": 7}]
    assert client.token == "a-2"
