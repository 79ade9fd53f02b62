"""loopwarden.servers without pytest: ``async with`` starts and stops a server."""

from __future__ import annotations

import asyncio

import pytest

from loopwarden.servers import HttpServer, WsServer

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("websockets")


def test_servers_start_and_stop_with_async_with():
    async def main():
        async with HttpServer() as http, WsServer() as ws, aiohttp.ClientSession() as session:
            http.route("GET", "/ping", text="pong")
            async with session.get(http.url_for("/ping")) as response:
                answer = await response.text()
            async with session.ws_connect(ws.url) as socket:
                await socket.send_str('{"hello": 1}')
                received = await ws.received()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(http.url_for("/ping"))
        return answer, received

    assert asyncio.run(main()) == ("pong", {"hello": 1})


def test_a_bad_route_says_what_is_wrong():
    server = HttpServer()
    with pytest.raises(ValueError) as several:
        server.route("GET", "/x", json={}, text="x")
    with pytest.raises(ValueError) as relative:
        server.route("GET", "x")
    assert str(several.value) == (
        "http_server.route('GET', '/x'): give one of json=, text=, body=, drop=True or "
        "handler=, not several"
    )
    assert str(relative.value) == "http_server.route('GET', 'x'): the path starts with '/'"
    with pytest.raises(RuntimeError) as unstarted:
        server.url  # noqa: B018
    assert str(unstarted.value) == "the HTTP server is not started: use it inside the test"
