"""loopwarden.mock: mocks with the real call shapes of aiohttp, which fail on a wrong shape."""

from __future__ import annotations

import asyncio

import pytest

from loopwarden.mock import MockResponse, async_context_manager, mock_aiohttp_session

aiohttp = pytest.importorskip("aiohttp")


def run(coro):
    return asyncio.run(coro)


def test_an_async_context_manager_is_awaitable_and_enterable():
    async def main():
        thing = async_context_manager(returns="value")
        async with thing as entered:
            pass
        return await async_context_manager(returns="value"), entered, thing.exited

    assert run(main()) == ("value", "value", True)


def test_an_async_context_manager_can_raise():
    async def main():
        with pytest.raises(TimeoutError):
            await async_context_manager(raises=TimeoutError())
        with pytest.raises(TimeoutError):
            async with async_context_manager(raises=TimeoutError()):
                pass

    run(main())


def test_the_session_has_aiohttps_call_shapes():
    session = mock_aiohttp_session(
        {
            "https://api.test/users": [{"id": 1}],
            ("POST", "https://api.test/login"): MockResponse(status=201, json={"token": "t"}),
            "https://api.test/health": "ok",
        }
    )

    async def main():
        async with session.get("https://api.test/users") as response:  # as aiohttp is used
            users = await response.json()
        response = await session.post("https://api.test/login", json={"u": "ada"})  # or awaited
        health = await (await session.get("https://api.test/health")).text()
        async with session:
            pass
        return users, response.status, await response.json(), health, session.requests

    assert run(main()) == (
        [{"id": 1}],
        201,
        {"token": "t"},
        "ok",
        [
            ("GET", "https://api.test/users"),
            ("POST", "https://api.test/login"),
            ("GET", "https://api.test/health"),
        ],
    )
    assert session.post.call_args.kwargs == {"json": {"u": "ada"}}


def test_a_wrong_shape_fails_loudly():
    session = mock_aiohttp_session({"https://api.test/": {}})
    with pytest.raises(AttributeError):
        session.fetch("https://api.test/")  # aiohttp has no ClientSession.fetch
    with pytest.raises(TypeError):
        session.get()  # the URL is required


def test_an_unknown_request_and_an_error_response():
    session = mock_aiohttp_session(
        {
            "https://api.test/down": aiohttp.ClientConnectionError("refused"),
            "https://api.test/broken": MockResponse(status=500, text="oops"),
        }
    )

    async def main():
        with pytest.raises(AssertionError) as unknown:
            async with session.get("https://api.test/other"):
                pass
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get("https://api.test/down"):
                pass
        async with session.get("https://api.test/broken") as response:
            assert not response.ok
            with pytest.raises(aiohttp.ClientResponseError) as error:
                response.raise_for_status()
        return str(unknown.value), error.value.status

    message, status = run(main())
    assert message == (
        "mock_aiohttp_session has no response for GET https://api.test/other; known: "
        "https://api.test/down, https://api.test/broken"
    )
    assert status == 500


def test_mock_response_takes_one_body():
    with pytest.raises(ValueError) as info:
        MockResponse(json={}, text="x")
    assert str(info.value) == "MockResponse takes one of json=, text= or body=, not several"
