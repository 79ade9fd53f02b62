"""Real components as fixtures: sessions, loopback HTTP and WebSocket servers, ASGI clients."""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("httpx")
pytest.importorskip("websockets")
pytest.importorskip("asgi_lifespan")


def test_http_server_routes_records_delays_drops_and_errors(pytester, run):
    pytester.makepyfile(
        test_http="""
        import asyncio
        import aiohttp, httpx, pytest

        class ApiClient:
            # The injected-session pattern: the client never creates its own session.
            def __init__(self, base_url, session):
                self.base_url, self.session = base_url, session

            async def login(self, user, password):
                async with self.session.post(
                    f"{self.base_url}/api/login", json={"user": user, "password": password}
                ) as response:
                    response.raise_for_status()
                    return (await response.json())["token"]

        async def test_login(http_server, aiohttp_session):
            http_server.route("POST", "/api/login", json={"token": "t-1"})
            client = ApiClient(http_server.url, aiohttp_session)
            assert await client.login("ada", "pw") == "t-1"
            [request] = http_server.requests_to("POST", "/api/login")
            assert request.json() == {"user": "ada", "password": "pw"}
            assert request.headers["Content-Type"] == "application/json"

        async def test_answers_in_order_then_repeats_the_last(http_server, httpx_client):
            http_server.route("GET", "/status", status=503, text="busy")
            http_server.route("GET", "/status", json={"ok": True})
            statuses = [(await httpx_client.get(http_server.url_for("/status"))).status_code
                        for _ in range(3)]
            assert statuses == [503, 200, 200]

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_a_slow_route_times_the_client_out(http_server, aiohttp_session):
            http_server.route("GET", "/slow", json={}, delay=30)
            with pytest.raises(asyncio.TimeoutError):
                async with aiohttp_session.get(
                    http_server.url_for("/slow"), timeout=aiohttp.ClientTimeout(total=5)
                ):
                    pass

        async def test_a_dropped_connection(http_server, httpx_client):
            http_server.route("GET", "/flaky", drop=True)
            with pytest.raises(httpx.RemoteProtocolError):
                await httpx_client.get(http_server.url_for("/flaky"))

        async def test_a_handler(http_server, httpx_client):
            from aiohttp import web

            async def echo(request):
                return web.json_response({"q": request.query["q"]})

            http_server.route("GET", "/echo", handler=echo)
            assert (await httpx_client.get(http_server.url_for("/echo?q=1"))).json() == {"q": "1"}
        """
    )
    result = run()
    result.assert_outcomes(passed=5)


def test_a_request_no_route_matches_fails_the_test_at_teardown(pytester, own):
    pytester.makepyfile(
        test_unmatched="""
        async def test_typo(http_server, httpx_client):
            http_server.route("GET", "/api/users", json=[])
            response = await httpx_client.get(http_server.url_for("/api/user"))
            assert response.status_code == 404
            assert response.text == (
                "loopwarden http_server: no route for GET /api/user; declared: GET /api/users"
            )
        """
    )
    result = own()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: http_server got 1 request(s) no route matched: GET /api/user (each got "
            "a 404). Declare them with http_server.route(...), or check the URL the client "
            "builds.",
        ]
    )


def test_ws_server_scripts_handshakes_messages_closes_drops_and_restarts(pytester, run):
    pytester.makepyfile(
        test_ws="""
        import asyncio, json
        import pytest
        import websockets
        from websockets.asyncio.client import connect

        async def test_greets_answers_and_records(ws_server):
            ws_server.greet({"type": "hello"})
            ws_server.respond(lambda m: {"id": m["id"], "ok": True} if "id" in m else None)
            async with connect(ws_server.url) as ws:
                assert json.loads(await ws.recv()) == {"type": "hello"}
                await ws.send(json.dumps({"id": 7}))
                assert json.loads(await ws.recv()) == {"id": 7, "ok": True}
                await ws.send("not json")
            assert await ws_server.received() == {"id": 7}
            assert await ws_server.received() == "not json"
            assert ws_server.messages == [{"id": 7}, "not json"]

        async def test_close_with_a_code(ws_server):
            async with connect(ws_server.url) as ws:
                await ws_server.wait_for_connection()
                await ws_server.close(code=1012, reason="service restart")
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await ws.recv()
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1012, "service restart")

        async def test_drop_sends_no_close_frame(ws_server):
            async with connect(ws_server.url) as ws:
                await ws_server.wait_for_connection()
                await ws_server.drop()
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await ws.recv()
            assert closed.value.rcvd is None

        async def test_restart_on_the_same_port(ws_server):
            url = ws_server.url
            async with connect(url):
                await ws_server.wait_for_connection()
            await ws_server.restart()
            async with connect(url):
                await ws_server.wait_for_connection(2)
            assert ws_server.url == url

        async def test_reject_then_accept(ws_server):
            ws_server.reject(403, "bad token")
            with pytest.raises(websockets.InvalidStatus) as rejected:
                async with connect(ws_server.url):
                    pass
            assert rejected.value.response.status_code == 403
            ws_server.accept()
            async with connect(ws_server.url):
                await ws_server.wait_for_connection()

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_a_slow_handshake_times_the_client_out(ws_server):
            ws_server.delay_handshake(30)
            with pytest.raises(TimeoutError):
                async with connect(ws_server.url, open_timeout=5):
                    pass

        @pytest.mark.loopwarden(virtual_time=True)
        async def test_waiting_for_a_connection_that_never_comes(ws_server):
            with pytest.raises(AssertionError) as info:
                await ws_server.wait_for_connection(1, timeout=2)
            assert str(info.value) == "ws_server: 0 connection(s) within 2 s, expected 1"
        """
    )
    result = run()
    result.assert_outcomes(passed=7)


def test_a_responder_that_raises_closes_with_1011_and_fails_the_test(pytester, run):
    """The test's own responder raising is the test's error: the client sees 1011 (internal
    error), not a clean 1000, and the test fails at teardown with the responder's traceback."""
    pytester.makepyfile(
        test_ws="""
        import json
        import pytest
        import websockets
        from websockets.asyncio.client import connect

        async def test_answers_by_id(ws_server):
            ws_server.respond(lambda m: {"id": m["id"]})
            async with connect(ws_server.url) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await ws.recv()
            assert closed.value.rcvd.code == 1011
        """
    )
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_answers_by_id _*",
            "loopwarden: ws_server's responder raised KeyError answering {'type': 'ping'}; the "
            "connection was closed with 1011 (internal error):",
            "Traceback (most recent call last):",
            "*",
            '    ws_server.respond(lambda m: {"id": m["id"]})',
            "*",
            "KeyError: 'id'",
            "Fix the responder (a message it did not expect?), or return None for messages it "
            "should not answer.",
        ]
    )


def test_asgi_client_runs_the_lifespan_and_surfaces_app_errors(pytester, run):
    pytester.makepyfile(
        test_asgi="""
        import pytest

        def make_app(fail_startup=False):
            state = {}

            async def app(scope, receive, send):
                if scope["type"] == "lifespan":
                    while True:
                        message = await receive()
                        if message["type"] == "lifespan.startup":
                            if fail_startup:
                                raise ConnectionRefusedError("no database")
                            state["sessions"] = "ready"
                            await send({"type": "lifespan.startup.complete"})
                        elif message["type"] == "lifespan.shutdown":
                            state["sessions"] = "closed"
                            await send({"type": "lifespan.shutdown.complete"})
                            return
                if scope["path"] == "/boom":
                    raise RuntimeError("the route crashed")
                body = state.get("sessions", "never started").encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})

            return app, state

        async def test_the_lifespan_runs(asgi_client):
            app, state = make_app()
            client = await asgi_client(app)
            assert (await client.get("/")).text == "ready"

        async def test_an_app_exception_reaches_the_test(asgi_client):
            app, _ = make_app()
            client = await asgi_client(app)
            with pytest.raises(RuntimeError, match="the route crashed"):
                await client.get("/boom")
            quiet = await asgi_client(app, raise_app_exceptions=False)
            assert (await quiet.get("/boom")).status_code == 500

        async def test_a_failing_startup(asgi_client):
            app, _ = make_app(fail_startup=True)
            await asgi_client(app)
        """
    )
    result = run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a_failing_startup _*",
            "loopwarden: the app's lifespan startup failed at test_asgi.py:12 in app: "
            "ConnectionRefusedError: no database",
            "Traceback (the app's frames; library frames left out, but where it raised):",
            "  test_asgi.py:12 in app",
            '    raise ConnectionRefusedError("no database")',
            "Fix the startup (a database, a service it connects to?), or pass lifespan=False to "
            "asgi_client() to test the app without it.",
        ]
    )


def test_a_fixture_whose_extra_is_missing_says_what_to_install(pytester, own):
    pytester.makeconftest(
        """
        import sys
        sys.modules["websockets.asyncio.server"] = None  # as if websockets were not installed
        """
    )
    pytester.makepyfile(
        test_missing="""
        async def test_it(ws_server):
            pass
        """
    )
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["loopwarden: the ws_server fixture needs websockets: install loopwarden[ws]"]
    )


def test_respx_mocks_work_on_loopwardens_loops(pytester, run):
    pytest.importorskip("respx")
    pytester.makepyfile(
        test_respx="""
        import httpx, pytest, respx

        async def test_the_fixture(respx_mock):
            respx_mock.get("https://api.test/items").respond(json=[1])
            async with httpx.AsyncClient() as client:
                assert (await client.get("https://api.test/items")).json() == [1]

        @pytest.mark.loopwarden(virtual_time=True)
        @respx.mock
        async def test_the_decorator_in_virtual_time():
            respx.get("https://api.test/none").respond(status_code=204)
            async with httpx.AsyncClient() as client:
                assert (await client.get("https://api.test/none")).status_code == 204
        """
    )
    result = run()
    result.assert_outcomes(passed=2)


def test_the_fixtures_work_in_pytest_asyncio_strict_mode(pytester, guarded):
    pytest.importorskip("pytest_asyncio")
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_strict="""
        import pytest

        @pytest.mark.asyncio
        async def test_it(http_server, httpx_client, ws_server, aiohttp_session, asgi_client):
            http_server.route("GET", "/x", json=1)
            assert (await httpx_client.get(http_server.url_for("/x"))).json() == 1
        """
    )
    result = guarded()
    result.assert_outcomes(passed=1)
