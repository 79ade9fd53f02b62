"""The API client against a real HTTP server, with one injected session per test."""

from __future__ import annotations

import pytest
from api import AuthError


async def test_login_keeps_the_access_token(client, http_server):
    assert await client.login("ada", "pw") == "a-1"
    assert http_server.requests_to("POST", "/api/login")[0].json() == {
        "user": "ada",
        "password": "pw",
    }


async def test_a_request_carries_the_token(client, http_server):
    http_server.route("GET", "/api/orders", json=[{"id": 7}])
    await client.login("ada", "pw")
    assert await client.get("/api/orders") == [{"id": 7}]
    assert http_server.requests_to("GET", "/api/orders")[0].headers["Authorization"] == (
        "Bearer a-1"
    )


async def test_an_expired_token_is_refreshed_once(client, http_server):
    http_server.route("GET", "/api/orders", status=401, json={"error": "expired"})
    http_server.route("GET", "/api/orders", json=[{"id": 7}])
    http_server.route("POST", "/api/refresh", json={"access": "a-2"})
    await client.login("ada", "pw")
    assert await client.get("/api/orders") == [{"id": 7}]
    assert [r.headers["Authorization"] for r in http_server.requests_to("GET", "/api/orders")] == [
        "Bearer a-1",
        "Bearer a-2",
    ]
    assert http_server.requests_to("POST", "/api/refresh")[0].json() == {"refresh": "r-1"}


async def test_a_refused_refresh_says_to_log_in_again(client, http_server):
    http_server.route("GET", "/api/orders", status=401, json={"error": "expired"})
    http_server.route("POST", "/api/refresh", status=401, json={"error": "revoked"})
    await client.login("ada", "pw")
    with pytest.raises(AuthError, match=r"^the refresh token was refused: log in again$"):
        await client.get("/api/orders")
