"""The ``trust`` suite: loopwarden's verdicts on real test suites, in both modes, read by a person.

loopwarden promises to fail exactly the test that leaked and to name the line. This suite checks
that promise on code nobody wrote for loopwarden. For each library in :data:`CORPUS` it

- downloads the pinned sdist and builds a venv (pytest, pytest-asyncio, the library, its pinned
  test extras, loopwarden editable), as the ``real-suites`` suite does, into ``bench/.work/``
  (git-ignored: downloaded code is never committed);
- runs the library's tests three times: **baseline** (``-p no:loopwarden``: pytest-asyncio alone),
  **guard** mode (loopwarden's defaults, pytest-asyncio running the tests) and the **own** runner
  (``-p no:asyncio``), each with ``--junitxml`` and, for the two loopwarden modes, ``--lw-report``;
- lists every test whose outcome differs from the baseline and every finding, side by side for the
  two modes, with the person's reading from :data:`READINGS` (true / false / misplaced /
  intentional / refused / not ours) and its evidence, or ``UNREAD`` when nobody has read it.

A **canary** is planted in each suite (unless ``--no-canary``): a test module of two tests, one
that leaves a timer on the loop and the next that does nothing, in the suite's own test folder
among its tests. In both loopwarden modes the first must fail with exactly that finding at its
line, and the second with none: a leak charged to the wrong test, or missed, shows on code
that is the project's in every other way.

The suite fails (exit status 1) when a reading says ``false`` or ``misplaced``, when a test that is
absent in one mode was present in the baseline (a silently lost test), when a canary is missed or
misplaced, or, with ``--strict``, when anything is unread. Its report is what
``bench/README-trust.md`` publishes.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import _harness as h
import _shared as shared
import real_suites as rs
from real_suites import Library

# -- what runs --------------------------------------------------------------------------------

# Every run: no cache plugin writing state, and the project's addopts dropped (coverage, -x…).
COMMON = ("-p", "no:cacheprovider", "-o", "addopts=", "-q")

MODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "baseline": ("pytest-asyncio alone", ("-p", "no:loopwarden")),
    "guard": ("guard mode", ()),
    "own": ("own runner", ("-p", "no:asyncio")),
}
LOOPWARDEN_MODES = ("guard", "own")

TRUST_DIR = h.WORK_DIR / "trust"


# The corpus: real asyncio projects whose sdists ship their pytest suites and run offline.
# ``pytest_args`` leave out only what needs the network, a server we don't start, or a plugin
# that cannot be installed; each exclusion says why.
CORPUS: tuple[Library, ...] = (
    *rs.LIBRARIES,
    Library(
        name="async-timeout",
        version="5.0.1",
        test_requirements=(),
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="timeout()/timeout_at() cancelling sleeping tasks; reschedule, shift, expiry",
    ),
    Library(
        name="aiojobs",
        version="1.4.0",
        test_requirements=("aiohttp==3.14.5", "pytest-aiohttp==1.1.1"),
        # No pytest configuration in the sdist: its tests carry no markers (auto mode).
        pytest_args=(
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--import-mode=importlib",
            "tests",
        ),
        why="a Scheduler spawning, limiting and closing jobs; exception handlers; aiohttp's "
        "test server (pytest-aiohttp)",
    ),
    Library(
        name="aiosignal",
        version="1.4.0",
        test_requirements=(),
        pytest_args=("--import-mode=importlib", "tests"),
        why="Signal.send() over frozen lists of async callbacks (filterwarnings = error)",
    ),
    Library(
        name="aiofiles",
        version="25.1.0",
        test_requirements=(),
        # test_access expects chmod 0o000 to deny access: not as root.
        pytest_args=(
            "--import-mode=importlib",
            "--deselect",
            "tests/test_os.py::test_access",
            "tests",
        ),
        why="async file I/O and os/tempfile wrappers in the default executor's threads",
    ),
    Library(
        name="aioconsole",
        version="0.8.2",
        test_requirements=("uvloop==0.23.0",),
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--import-mode=importlib",
            "tests",
        ),
        why="an async console and REPL, streams over pipes, a loopback console server; an "
        "event_loop_policy fixture parametrized over asyncio's and uvloop's policies",
    ),
    Library(
        name="aiolimiter",
        version="1.3.0",
        test_requirements=("dunamai==1.26.5",),
        # test_version needs a git checkout.
        pytest_args=(
            "--import-mode=importlib",
            "--deselect",
            "tests/test_aiolimiter.py::test_version",
            "tests",
        ),
        why="a leaky-bucket AsyncLimiter (acquire, wait, cancel) with a patched loop.time()",
    ),
    Library(
        name="asgi-lifespan",
        version="2.1.0",
        test_requirements=(
            "starlette==0.26.1",
            "httpx==0.23.3",
            "trio==0.22.2",
            "pytest-trio==0.8.0",
        ),
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--import-mode=importlib",
            "tests",
        ),
        why="LifespanManager starting and stopping Starlette apps, timeouts, errors; each test "
        "on asyncio and on trio",
    ),
    Library(
        name="aiosqlite",
        version="0.22.1",
        test_requirements=(),
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--pyargs",
            "aiosqlite.tests.smoke",
        ),
        why="unittest.IsolatedAsyncioTestCase: connections, cursors, transactions through a "
        "worker thread",
    ),
    Library(
        name="aiomultiprocess",
        version="0.9.1",
        test_requirements=("uvloop==0.23.0",),
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--pyargs",
            "aiomultiprocess.tests.core",
            "aiomultiprocess.tests.pool",
            "aiomultiprocess.tests.scheduler",
        ),
        why="its own runner (get_event_loop().run_until_complete): coroutines in child "
        "processes, pools, uvloop",
    ),
    Library(
        name="culsans",
        version="0.11.0",
        test_requirements=(),
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--import-mode=importlib",
            "tests",
        ),
        why="a thread-safe async-aware queue: ports of CPython's queue tests "
        "(IsolatedAsyncioTestCase), threads mixed with the loop",
    ),
    Library(
        name="aioresponses",
        version="0.7.9",
        test_requirements=("aiohttp==3.13.5", "ddt==1.7.2", "packaging==26.4"),
        # The pass-through tests need the network (httpbin.org).
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-k",
            "not pass_through",
            "tests",
        ),
        why="aiohttp ClientSession requests mocked (redirects, callbacks, streamed bodies); "
        "mostly IsolatedAsyncioTestCase",
    ),
    Library(
        name="aiosmtplib",
        version="5.1.3",
        test_requirements=("hypothesis==6.170.27", "aiosmtpd==1.4.6", "trustme==1.2.1"),
        # The injection/smuggling tests need the stricter email parsing of Python >= 3.11.10.
        pytest_args=("-k", "not injection and not smuggle", "tests"),
        why="an SMTP client against a local aiosmtpd server on loopback (TLS, auth, timeouts); "
        "answers pytest_asyncio_loop_factories itself",
    ),
    Library(
        name="sse-starlette",
        version="3.4.5",
        test_requirements=(
            "starlette==1.10.0",
            "anyio==4.16.0",
            "httpx==0.28.1",
            "uvicorn==0.55.0",
            "asgi-lifespan==2.1.0",
        ),
        pytest_args=("tests",),
        why="Server-Sent Events over ASGI: disconnects, shutdown, loops in threads, uvicorn on "
        "loopback; pytest-asyncio and anyio tests",
    ),
    Library(
        name="aiohttp-jinja2",
        version="1.6",
        test_requirements=("aiohttp==3.13.5", "jinja2==3.1.6", "pytest-aiohttp==1.1.1"),
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="templates rendered in aiohttp handlers, through the aiohttp_client test server",
    ),
    Library(
        name="aiohttp-session",
        version="2.12.1",
        test_requirements=(
            "aiohttp==3.11.18",
            "pytest-aiohttp==1.1.1",
            "aiomcache==0.8.2",
            "docker==7.2.0",
            "redis==8.2.0",
            "cryptography==51.0.1",
            "pynacl==1.6.2",
        ),
        # Redis and memcached storage need docker containers.
        pytest_args=(
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--ignore=tests/test_redis_storage.py",
            "--ignore=tests/test_memcached_storage.py",
            "tests",
        ),
        why="cookie, encrypted and NaCl session middleware on aiohttp test servers",
    ),
    Library(
        name="aiohttp-cors",
        version="0.8.1",
        test_requirements=("aiohttp==3.13.5", "pytest-aiohttp==1.1.1"),
        # test_real_browser needs selenium and a browser.
        pytest_args=(
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--ignore=tests/integration/test_real_browser.py",
            "tests",
        ),
        why="CORS preflight and simple requests against aiohttp apps on loopback",
    ),
    Library(
        name="httpx-sse",
        version="0.4.3",
        test_requirements=("httpx==0.28.1", "sse-starlette==1.8.2", "starlette==0.27.0"),
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="SSE streams parsed from httpx, an ASGI app through ASGITransport",
    ),
    Library(
        name="aiohttp-sse",
        version="3.0",
        test_requirements=("aiohttp==3.13.5", "pytest-aiohttp==1.1.1"),
        pytest_args=(
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "tests",
        ),
        why="EventSourceResponse streaming, ping, stop and retry over the aiohttp_client server",
    ),
    Library(
        name="aiologic",
        version="0.17.1",
        test_requirements=("anyio==4.16.0",),
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="locks, flags and queues for asyncio and threads; its conftest runs async tests "
        "itself (a control: loopwarden must change nothing)",
    ),
    Library(
        name="asgiref",
        version="3.13.0",
        # test_benchmark_local.py skips itself without pytest-benchmark: not a loop test.
        test_requirements=(),
        pytest_args=("tests",),
        why="async_to_sync / sync_to_async: loops run in threads, thread-sensitive executors, "
        "Local across threads and tasks, a UDP StatelessServer on loopback",
    ),
    Library(
        name="aiostream",
        version="0.8.1",
        test_requirements=(),
        pytest_args=("tests",),
        why="stream operators over async generators, timers (timeout, debounce, spaceout); "
        "answers pytest_asyncio_loop_factories with its own virtual-time loop",
    ),
    Library(
        name="pyee",
        version="13.0.1",
        test_requirements=("trio==0.24.0", "pytest-trio==0.8.0", "twisted==24.7.0"),
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="an event bus: AsyncIOEventEmitter scheduling handler coroutines as tasks, "
        "an executor emitter's threads, trio and twisted emitters",
    ),
    Library(
        name="fastapi-users-db-sqlalchemy",
        version="7.0.0",
        test_requirements=(
            "fastapi-users==15.0.5",
            "sqlalchemy==2.0.59",
            "greenlet==3.5.6",
            "aiosqlite==0.22.1",
        ),
        pytest_args=("tests",),
        why="SQLAlchemy async engines and sessions on aiosqlite (a worker thread per "
        "connection) in async fixtures: create_all, sessions, drop_all",
    ),
    Library(
        name="httpx-ws",
        version="0.10.0",
        test_requirements=(
            "anyio==4.16.0",
            "httpx==0.28.1",
            "httpcore==1.0.9",
            "wsproto==1.3.2",
            "starlette==1.10.0",
            "uvicorn==0.55.0",
            "websockets==15.0.1",
        ),
        pytest_args=("tests",),
        why="WebSocket sessions over httpx with background reader and keepalive-ping tasks; "
        "uvicorn servers on a thread's loop (anyio's blocking portal); anyio tests",
    ),
    Library(
        name="python-socketio",
        version="5.18.1",
        test_requirements=(
            "python-engineio==4.15.1",
            "aiohttp==3.13.5",
            "uvicorn==0.55.0",
            "simple-websocket==1.1.0",
            "requests==2.34.2",
            "websocket-client==1.9.2",
            "msgpack==1.1.0",
            "redis==8.2.0",
            "valkey==6.2.0",
        ),
        # Its tox.ini runs with -p no:logging.
        pytest_args=("-p", "no:logging", "tests"),
        why="Socket.IO clients and servers: background tasks, reconnect and ping loops (mostly "
        "mocked); the admin tests run uvicorn in a thread on loopback; every test on one "
        "session-scoped loop (asyncio_default_fixture_loop_scope = session, auto mode)",
    ),
    Library(
        name="aiohttp-client-cache",
        version="0.15.0",
        test_requirements=(
            "aiohttp==3.13.5",
            "pytest-aiohttp==1.1.1",
            "aiosqlite==0.22.1",
            "aiofiles==25.1.0",
            "brotli==1.2.1",
            "faker==40.63.0",
        ),
        # The *Backend classes send requests to an httpbin container (localhost:8080), and
        # the DynamoDB, MongoDB and Redis modules need their servers: left out.
        pytest_args=(
            "--deselect",
            "test/integration/test_sqlite.py::TestSQLiteBackend",
            "--deselect",
            "test/integration/test_filesystem.py::TestFileBackend",
            "--deselect",
            "test/integration/test_memory.py::TestMemoryBackend",
            "test/unit",
            "test/integration/test_sqlite.py",
            "test/integration/test_filesystem.py",
            "test/integration/test_memory.py",
        ),
        why="CachedSession (an aiohttp ClientSession) over mocked responses; SQLite storage on "
        "aiosqlite's worker threads, file storage through aiofiles, bulk commits, autoclose",
    ),
    Library(
        name="starlette",
        version="0.47.3",
        test_requirements=(
            "anyio==4.10.0",  # (later ones deprecate a name its testclient uses)
            "httpx==0.28.1",
            "trio==0.30.0",
            "itsdangerous==2.2.0",
            "jinja2==3.1.6",
            "python-multipart==0.0.20",
            "pyyaml==6.0.2",
        ),
        # Its filterwarnings = error turns pytest-asyncio's warning on the unset key into an
        # error in every run.
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="the ASGI framework under FastAPI: TestClient runs the app on a loop in anyio's "
        "blocking-portal thread; background tasks, WebSockets, lifespans, streaming and "
        "middleware; anyio tests on asyncio and trio",
    ),
    Library(
        name="uvicorn",
        version="0.35.0",
        test_requirements=(
            "anyio==4.10.0",
            "httpx==0.28.1",
            "h11==0.16.0",
            "httptools==0.6.4",
            "wsproto==1.2.0",
            "websockets==13.1",
            "a2wsgi==1.10.8",
            "pyyaml==6.0.2",
            "python-dotenv==1.1.1",
            "watchfiles==1.1.0",
            "pytest-mock==3.14.0",
            "trustme==1.2.1",
            "cryptography==44.0.3",
        ),
        # The supervisors spawn and signal worker processes, and uvloop needs its C build: out.
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--ignore=tests/supervisors",
            "tests",
        ),
        why="an ASGI server: real TCP and Unix sockets on loopback, HTTP/1.1 (h11, httptools) "
        "and WebSocket protocols, lifespans, TLS, graceful shutdown, in anyio tests",
    ),
    Library(
        name="fastapi-users",
        version="15.0.5",
        test_requirements=(
            "fastapi==0.118.0",
            "starlette==0.48.0",  # (its tests use HTTP_422_UNPROCESSABLE_CONTENT, new in 0.48)
            "pwdlib==0.3.0",
            "argon2-cffi==25.1.0",
            "bcrypt==4.3.0",
            "email-validator==2.2.0",
            "pyjwt==2.12.1",
            "cryptography==44.0.3",
            "python-multipart==0.0.22",
            "makefun==1.16.0",
            "pytest-mock==3.14.0",
            "httpx==0.28.1",
            "httpx-oauth==0.16.1",
            "asgi-lifespan==2.1.0",
            "redis==6.4.0",
        ),
        pytest_args=("tests",),
        # Its JWT secrets (conftest.py: secrets.token_urlsafe(32), 43 characters) are test
        # parameters, so part of the ids.
        volatile_ids=r"[A-Za-z0-9_-]{43}",
        why="a FastAPI app's auth layer: routers driven through httpx.AsyncClient on "
        "ASGITransport inside asgi-lifespan's LifespanManager, user managers and databases as "
        "mocks (MagicMock, AsyncMock), every test on one session-scoped loop",
    ),
    Library(
        name="httpx",
        version="0.28.1",
        test_requirements=(
            "anyio==4.10.0",
            "httpcore==1.0.9",
            "h11==0.16.0",
            "sniffio==1.3.1",  # (tests/concurrency.py imports it and trio)
            "trio==0.30.0",
            "uvicorn==0.35.0",
            "trustme==1.2.1",
            "cryptography==44.0.3",
            "chardet==5.2.0",
            # Its extras, which its tests import: brotli, zstd, http2, socks, cli.
            "brotli==1.2.1",
            "zstandard==0.23.0",
            "h2==4.1.0",
            "socksio==1.0.0",
            "click==8.1.8",
            "rich==13.9.4",
            "pygments==2.19.1",
        ),
        # The "network" tests connect to 10.255.255.1 (a connect timeout) and through a proxy
        # to example.com: out. Its filterwarnings = error turns pytest-asyncio's warning on the
        # unset key into an error in every run. Three tests fail in every run, the baseline
        # too: test_logging_request and test_logging_redirect_chain find uvicorn.access records
        # in caplog (pytest 9 attaches caplog to non-propagating loggers), and
        # test_write_timeout[trio] ends with trio's ResourceWarning for the unexhausted request
        # body generator, an error under filterwarnings = error.
        pytest_args=(
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-m",
            "not network",
            "tests",
        ),
        why="an HTTP client: anyio tests, each on asyncio and on trio, of AsyncClient against "
        "a session-scoped uvicorn server its conftest runs on loopback in a thread (its own "
        "loop there), ASGITransport to in-process apps, streams, timeouts, redirects; sync "
        "clients too",
    ),
    Library(
        # 0.36.0, not 0.35.0: 0.35.0 requires pytest==8.* and the harness installs pytest 9.2.0;
        # 0.36.0, the next release, requires pytest==9.* (its only other changes: match_params,
        # a multi-value query fix, Python 3.9 dropped). Its 24 pytester tests run inline
        # sessions that load every installed plugin again: loopwarden in guard mode there in
        # all three runs, the baseline's too (-p no:loopwarden does not reach them).
        name="pytest-httpx",
        version="0.36.0",
        test_requirements=("httpx==0.28.1",),  # its own pin: httpx==0.28.*
        pytest_args=("tests",),
        why="a pytest plugin mocking httpx's transports: httpx.AsyncClient requests against "
        "the mock (callbacks, streams, 950 gathered requests), and 24 pytester sub-sessions "
        "run in-process, where loopwarden loads again inside each",
    ),
    Library(
        name="gql",
        version="3.5.3",
        test_requirements=(
            "graphql-core==3.2.6",
            "aiohttp==3.11.18",
            "websockets==11.0.3",  # (its websockets extra: >=10,<12)
            "httpx==0.28.1",
            "requests==2.32.3",
            "requests-toolbelt==1.0.0",
            "botocore==1.38.0",
            "parse==1.15.0",
            "pytest-console-scripts==1.4.1",
            "mock==4.0.2",
            "vcrpy==7.0.0",
            "aiofiles==24.1.0",
        ),
        pytest_args=(
            # The online tests reach the internet (its conftest skips them without --run-online).
            "-m",
            "not online",
            # Its async tests take pytest-asyncio's `event_loop` fixture (it pins pytest-asyncio
            # 0.21), removed in 1.0: their setup fails with "fixture 'event_loop' not found"
            # in every run. Out: the modules where every test takes it...
            *(
                f"--ignore=tests/{module}.py"
                for module in (
                    "starwars/test_introspection",
                    "test_aiohttp",
                    "test_appsync_http",
                    "test_appsync_websockets",
                    "test_async_client_validation",
                    "test_graphqlws_exceptions",
                    "test_httpx",
                    "test_httpx_async",
                    "test_phoenix_channel_exceptions",
                    "test_phoenix_channel_query",
                    "test_phoenix_channel_subscription",
                    "test_requests",
                    "test_requests_batch",
                    "test_websocket_exceptions",
                )
            ),
            # ...and those tests elsewhere (--deselect takes a node id prefix)...
            *(
                f"--deselect=tests/{test}"
                for test in (
                    *(
                        f"custom_scalars/test_money.py::test_{name}"
                        for name in (
                            "custom_scalar_in_output_with_transport",
                            "custom_scalar_in_input_query_with_transport",
                            "custom_scalar_in_input_variable_values_with_transport",
                            "custom_scalar_in_input_variable_values_split_with_transport",
                            "custom_scalar_serialize_variables",  # (and its four variants)
                            "gql_cli_print_schema",
                        )
                    ),
                    *(
                        f"test_graphqlws_subscription.py::test_graphqlws_subscription{name}["
                        for name in (
                            "",
                            "_break",
                            "_task_cancel",
                            "_close_transport",
                            "_server_connection_closed",
                            "_with_operation_name",
                            "_with_keepalive",
                            "_with_keepalive_with_timeout_ok",
                            "_with_keepalive_with_timeout_nok",
                            "_with_ping_interval_ok",
                            "_with_ping_interval_nok",
                            "_manual_pings_with_payload",
                            "_manual_pong_answers_with_payload",
                            "_running_in_thread",
                            "_reconnecting_session",
                        )
                    ),
                    *(
                        f"test_websocket_query.py::test_websocket_{name}["
                        for name in (
                            "starting_client_in_context_manager",
                            "using_ssl_connection",
                            "simple_query",
                            "two_queries_in_series",
                            "two_queries_in_parallel",
                            "server_closing_after_first_query",
                            "ignore_invalid_id",
                            "multiple_connections_in_series",
                            "multiple_connections_in_parallel",
                            "trying_to_connect_to_already_connected_transport",
                            "connect_success_with_authentication_in_connection_init",
                            "connect_failed_with_authentication_in_connection_init",
                            "add_extra_parameters_to_connect",
                            "non_regression_bug_108",
                            "using_cli",
                            "simple_query_with_extensions",
                        )
                    ),
                    *(
                        f"test_websocket_subscription.py::test_websocket_subscription{name}["
                        for name in (
                            "",
                            "_get_execution_result",
                            "_break",
                            "_task_cancel",
                            "_close_transport",
                            "_server_connection_closed",
                            "_slow_consumer",
                            "_with_operation_name",
                            "_with_keepalive",
                            "_with_keepalive_with_timeout_ok",
                            "_with_keepalive_with_timeout_nok",
                            "_running_in_thread",
                        )
                    ),
                )
            ),
            # ...and test_update_schema_scalars, whose name is a prefix of four sync tests' that
            # --deselect would take too.
            "-k",
            "not test_update_schema_scalars or test_update_schema_scalars_",
            "tests",
        ),
        why="a GraphQL client: sync tests that drive the loop themselves (client.subscribe() "
        "runs loop.run_until_complete) against websockets servers set up by async fixtures on "
        "loopback; DSL, schema and CLI tests; its transport tests need pytest-asyncio 0.21",
    ),
    Library(
        name="aioesphomeapi",
        version="42.0.0",
        # Its tests import these two themselves (test_host_resolver.py, test_model.py).
        test_requirements=("zeroconf==0.148.0", "protobuf==6.32.1"),
        # The sdist ships tests/test_*.py but not tests/conftest.py or tests/common.py (its
        # MANIFEST.in leaves them out, in every release): the six modules that import them
        # cannot be collected, and seven resolver tests ask for the conftest's async_zeroconf
        # fixture. Left out: what remains runs offline.
        pytest_args=(
            "--ignore=tests/test__frame_helper.py",
            "--ignore=tests/test_client.py",
            "--ignore=tests/test_connection.py",
            "--ignore=tests/test_log_runner.py",
            "--ignore=tests/test_reconnect_logic.py",
            "--ignore=tests/test_zeroconf.py",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_zeroconf",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_passed_zeroconf",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_zeroconf_empty",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_zeroconf_fails",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_zeroconf_fails_end_to_end",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_zeroconf_service_info_oserror",
            "--deselect",
            "tests/test_host_resolver.py::test_resolve_host_create_zeroconf_oserror",
            "tests",
        ),
        why="the ESPHome API client's host resolver racing mDNS (zeroconf) against DNS "
        "lookups with timeouts, mocked, and its singleton and timezone helpers (auto mode); "
        "its connection and reconnect tests need a conftest the sdist does not ship",
    ),
)

Verdict = Literal["true", "false", "misplaced", "intentional", "refused", "not ours", "flaky"]
BAD: frozenset[str] = frozenset({"false", "misplaced"})


@dataclass(frozen=True)
class Reading:
    """A person's reading of a test's outcome change or findings, with the evidence.

    ``verdict``: ``true`` (a real leak or hang, on the right test and line), ``false`` (nothing is
    wrong), ``misplaced`` (something is wrong, but not in this test or not at this line),
    ``intentional`` (the test leaks or blocks on purpose, e.g. to test cancellation), ``refused``
    (the own runner cannot honour what the suite asks for and fails those tests saying so; tests
    it covers that are absent from the run are not counted as lost), ``not ours``
    (the change is not a finding: the own runner lacks something the suite needs, said in
    ``evidence``), ``flaky`` (the test changes outcome in the baseline too).
    """

    verdict: Verdict
    evidence: str
    modes: tuple[str, ...] = LOOPWARDEN_MODES  # the modes this reading is about


# library key -> node id (or a node id prefix ending in "/", "::" or "[") -> reading
READINGS: dict[str, dict[str, Reading]] = {
    "async_lru": {
        "tests/test_internals.py::test_done_callback_exception": Reading(
            "true",
            "the test sets ZeroDivisionError on a future it made (line 31) and never retrieves "
            "it; asyncio logs 'Future exception was never retrieved' when the test drops it, in "
            "the baseline too (its captured log shows the ERROR line)",
        ),
        "tests/test_internals.py::test_done_callback_exception_logs": Reading(
            "intentional",
            "the test makes a task raise, drops it and asserts that asyncio logs 'Task exception "
            "was never retrieved' (line 70): the finding is what it provokes; "
            "@pytest.mark.allow_leaks(errors=...) is the one-line fix",
        ),
        "tests/test_ttl.py::test_ttl_concurrent": Reading(
            "true",
            "alru_cache(ttl=1) schedules a 1 s expiry timer when each call finishes "
            "(async_lru/__init__.py:258, the suite's own code); the test ends at once and never "
            "calls cache_close(), so the timer outlives it (its siblings wait or close)",
        ),
    },
    "aiojobs": {
        "tests/test_job.py::": Reading(
            "intentional",
            "the job raises RuntimeError on purpose (line 212/230) and the test checks it with "
            "pytest.raises or by closing the job; aiojobs also reports every failed job through "
            "loop.call_exception_handler ('Job processing failed', logged as ERROR in the "
            "baseline too). The message names the one-line fix: "
            "@pytest.mark.allow_leaks(errors=['RuntimeError'], reason=...)",
        ),
    },
    "aiomultiprocess": {
        "aiomultiprocess/tests/pool.py::PoolTest::": Reading(
            "true",
            "Pool never closes its multiprocessing queues (close() puts a sentinel, join() waits "
            "for the processes; no Queue.close()/join_thread()), so each queue's feeder thread, "
            "started by the first put (pool.py:280 queue_work, pool.py:364 close), outlives the "
            "test until the pool's reference cycle is collected: checked outside pytest, the "
            "thread is alive after the pool's 'async with' and 0.5 s later, and gone only after "
            "gc.collect()",
        ),
    },
    "aioresponses": {
        "tests/test_aioresponses.py::AIOResponsesTestCase::": Reading(
            "true",
            "setup() makes self.session = ClientSession() (line 42); these tests assign a new "
            "ClientSession to self.session (lines 93, 101), so teardown() closes only the new "
            "one and the one made at line 42 is never closed: right test, right line",
        ),
    },
    "aiosmtplib": {
        "tests/test_connect.py::": Reading(
            "true",
            "the client connects to the function-scoped smtpd_server (conftest.py:483, or "
            "smtpd_server_socket_path at 524) and the test ends with the connection open (an "
            "unexpected disconnect, a second connect, a timeout): the fixture's teardown closes "
            "the listening socket only, so the server's handler task, its timeout timer and "
            "its transport are left; reported at the server's line. The client's end "
            "(src/aiosmtplib/smtp.py:532, made by smtp_client.connect() in the test) is left "
            "open too: the smtp_client fixture (conftest.py:584) has no teardown. Before "
            "e79605e that client end was charged to the session fixture smtpd_auth_callback, "
            "reached through its function's module globals",
        ),
        "tests/test_connect.py::test_connect_via_socket": Reading(
            "true",
            "smtp_client.connect(sock=sock) (line 408) makes a transport on the test's socket; "
            "the with-block closes the socket under it, and neither the test (no quit()) nor the "
            "smtp_client fixture (no teardown) closes the transport: the client's end is left "
            "(src/aiosmtplib/smtp.py:532). Found since e79605e; before, it was charged to the "
            "session fixture smtpd_auth_callback through its function's module globals",
        ),
        "tests/test_protocol.py::": Reading(
            "true",
            "each test starts asyncio.start_server and create_connection(SMTPProtocol) and "
            "closes the server only: both ends of the connection stay open (lines of "
            "start_server and create_connection). In test_protocol_response_waiter_unset the "
            "own runner also names the client end (line 374), which guard mode finds already "
            "closing: it closes a few loop iterations after the test, when the server end's "
            "writer is garbage-collected",
        ),
        "tests/test_timeouts.py::": Reading(
            "true",
            "as in test_protocol.py / test_connect.py: the connection a timeout test opens is "
            "never closed (the server or its handler is left with it)",
        ),
    },
    "sse_starlette": {
        "tests/test_sse.py::TestEventSourceResponse::"
        "test_response_send_whenValidInput_thenGeneratesExpectedOutput[": Reading(
            "true",
            "the async test calls Starlette's synchronous TestClient (line 76), which runs the "
            "app on another thread and blocks the test's loop ~0.5 s: a warning at the right "
            "line, not a failure (default action: warn)",
        ),
        "tests/": Reading(
            "true",
            "sse-starlette starts one _shutdown_watcher task per loop (sse.py:153) that polls "
            "AppStatus.should_exit every 0.5 s; the suite's autouse teardown sets the flag but "
            "does not wait, so the task is still running when the test ends, and pytest-asyncio "
            "cancels it silently at loop close. test_watcher_cleanup_allows_restart (its own "
            "0.1 s watcher) is found in guard mode only: there the loop closes before that "
            "autouse fixture's teardown sets the flag; in the own runner's longer-lived loop "
            "the watcher sees the flag and ends before the check (a miss, not a false finding)",
        ),
    },
    "fastapi_users_db_sqlalchemy": {
        "tests/": Reading(
            "true",
            "each fixture makes create_async_engine(DATABASE_URL) (test_access_token.py:50, "
            "test_users.py:57/72) and never calls await engine.dispose(): the pooled aiosqlite "
            "connection opened by the first 'async with engine.begin()' (test_access_token.py:53, "
            "test_users.py:60/75, the line named) keeps its _connection_worker_thread alive after "
            "teardown. Checked outside pytest with the same calls: the thread is alive 0.5 s "
            "after the last use and gone only after engine.dispose()",
        ),
    },
    "python_socketio": {
        "tests/async/test_client.py::TestAsyncClient::test_eio_disconnect_namespaces": Reading(
            "true",
            "a typo in the test: c._trigger_event is an AsyncMock, and "
            "c._trigger_event.asserT_any_await('disconnect', '/', ...) (line 1213) calls an "
            "auto-created child AsyncMock instead of asserting: the coroutine it returns is never "
            "awaited and the third assertion checks nothing. Right test, right line",
        ),
        "tests/async/test_manager.py::TestAsyncManager::test_close_invalid_room": Reading(
            "true",
            "self.bm.close_room('bar', '/foo') (line 206) calls the async AsyncManager.close_room "
            "without await: the coroutine is never awaited and the test exercises nothing. Right "
            "test, right line",
        ),
        "tests/async/test_client.py::TestAsyncClient::test_handle_reconnect": Reading(
            "true",
            "late, not failing: the test patches asyncio.wait_for with an AsyncMock (lines "
            "944-948), so _handle_reconnect's asyncio.wait_for(self._reconnect_abort.wait(), "
            "delay) (socketio/async_client.py:521) makes Event.wait() coroutines that the mock "
            "keeps in its await_args_list and never awaits; they are freed after the test. "
            "Charged to its test, at the test's line that called _handle_reconnect (957; 978, "
            "1001, 1025 in its three siblings)",
        ),
        **dict.fromkeys(
            [
                "tests/async/test_client.py::TestAsyncClient::test_handle_reconnect_max_delay",
                "tests/async/test_client.py::TestAsyncClient::test_handle_reconnect_max_attempts",
                "tests/async/test_client.py::TestAsyncClient::test_handle_reconnect_aborted",
            ],
            Reading(
                "true",
                "late, not failing: as in test_handle_reconnect: the AsyncMock standing in "
                "for asyncio.wait_for never awaits the Event.wait() coroutine "
                "_handle_reconnect passes it (socketio/async_client.py:521); named at the "
                "test's call of _handle_reconnect (lines 978, 1001, 1025)",
            ),
        ),
        "tests/async/test_client.py::TestAsyncClient::test_wait_reconnect_successful": Reading(
            "true",
            "late, not failing: fake_wait() (line 303) sets c._reconnect_task = fake_wait() "
            "(line 305) each time it runs; c.wait() awaits two of them, and the third, made by "
            "the second, is never awaited. Named at line 305, charged to its test; the "
            "baseline's RuntimeWarning for it lands on another test (test_emit_binary there, "
            "test_emit_no_arguments in guard mode)",
        ),
    },
    "aiohttp_client_cache": {
        "test/unit/test_session.py::test_session__locks_do_not_leak": Reading(
            "true",
            "a warning, not a failure: the test makes 1,000 requests (line 226) through a "
            "CachedSession whose cache and ClientSession._request are mocks; an AsyncMock and "
            "an uncontended Lock return without suspending, so the whole loop is one step of "
            "the test's task (its call phase takes 0.32-0.34 s in the baseline) and holds the "
            "loop past the 0.25 s threshold (0.35 s measured). The named line (session.py:98, "
            "100 or 123 in _request) is where the sample landed inside that step; near the "
            "threshold, one mode or both warn, from run to run",
        ),
        "test/integration/test_sqlite.py::TestSQLiteCache::test_concurrent_bulk_commit": Reading(
            "true",
            "a warning, not a failure: four tasks write 10, 100, 1,000 and 10,000 items "
            "(line 73) to a mocked aiosqlite connection (AsyncMock, line 54) whose awaits never "
            "suspend, so each task runs to its end in one step; the 10,000-item one holds the "
            "loop ~0.35 s (0.36-0.39 s measured; the test's call phase takes 0.33 s in the "
            "baseline). The named line, the write loop's await db.execute (backends/sqlite.py:"
            "245-246), is where the sample landed inside that step",
        ),
    },
    "fastapi_users": {
        **{
            test: Reading(
                "true",
                "a warning, not a failure: BaseUserManager's async methods hash and verify "
                "passwords through PasswordHelper (fastapi_users/password.py:34 verify_and_update, "
                ":37 hash), which runs pwdlib's Argon2 and bcrypt hashers on the loop's thread: "
                "CPU work that holds the loop (a server's every other request waits), about the "
                "0.25 s threshold here, so which of these tests warn, and in which mode, varies "
                "from run to run; the finding names the call's line and its function",
            )
            for test in (
                "tests/test_manager.py::TestResetPassword::test_valid_user_password",
                "tests/test_manager.py::TestResetPassword::test_already_used_token",
                "tests/test_manager.py::TestResetPassword::test_inactive_user",
                "tests/test_manager.py::TestResetPassword::test_invalid_password",
                "tests/test_manager.py::TestForgotPassword::test_user_active",
                "tests/test_router_auth.py::TestLogin::test_valid_credentials_unverified[",
            )
        }
    },
    "janus": {
        "tests/test_sync.py::": Reading(
            "intentional",
            "the async tests call the blocking sync side (q.sync_q.get()/put()) on the loop's "
            "thread while a worker thread feeds it: the loop is blocked 0.8 s, truly; the suite's "
            "filterwarnings = error turns loopwarden's BlockingWarning into the failure",
        ),
    },
    "httpx": {
        "tests/test_wsgi.py::test_wsgi_server_protocol": Reading(
            "true",
            "in some runs only (the own runner here; the first whole-corpus run had none), at the "
            "session's last test, whose teardown ends the session-scoped fixture 'server' "
            "(tests/conftest.py:283), which the finding names: uvicorn's keep-alive timer "
            "(uvicorn/protocols/http/h11_impl.py:318, after a response of the conftest's "
            "hello_world app) outlives the server: H11Protocol.connection_lost cancels it only "
            "when the connection ended without an error (lines 122-125), so a client that "
            "resets its connection leaves it scheduled on the server's loop, found when that "
            "loop's asyncio.run closes. Timing decides whether a client resets, hence not every "
            "run",
        ),
    },
    "gql": {
        "tests/test_graphqlws_subscription.py::"
        "test_graphqlws_subscription_sync_graceful_shutdown[": Reading(
            "true",
            "late, own runner: the sync test drives the runner's loop itself (its async fixture "
            "graphqlws_server made that loop current; client.subscribe() runs "
            "loop.run_until_complete), schedules client.session._generator.athrow("
            "KeyboardInterrupt) as a task at line 763 and never retrieves its exception (its "
            "websockets twin does: interrupt_task.exception(), test_websocket_subscription.py:"
            "610), and Client.subscribe leaves the __anext__ task it made at gql/client.py:739 "
            "cancelled but pending; both die in a reference cycle at a later collection (the "
            "baseline logs asyncio's 'Task exception was never retrieved' there). Charged to "
            "this test by the tasks' creation site (line 763, and the test's line that led to "
            "client.py:739); before 105200f they were charged to the next test, "
            "tests/test_transport.py::test_hero_name_query, a sync requests test (misplaced). "
            "Guard mode does not see them: pytest-asyncio's loop for a sync test is not one "
            "loopwarden makes (a miss)",
            modes=("own",),
        ),
        "found by the garbage collector": Reading(
            "true",
            "late, own runner, charged to no test (it fails the run, not a test): the "
            "__anext__ tasks Client.subscribe makes at gql/client.py:739 and leaves cancelled "
            "but pending when the sync graceful-shutdown tests (test_graphqlws_subscription.py "
            "and its websockets twin) interrupt it (one or two per run: the collector frees "
            "the other, if any, with no finding); they die in a reference cycle at a later "
            "collection. Right line, and no test named: the task was made inside the loop that "
            "client.subscribe() runs with run_until_complete, whose frames do not lead back to "
            "the test, and no owner was set (a sync test). Before 105200f it was charged to the "
            "next test (tests/test_transport.py::test_hero_name_query, misplaced)",
            modes=("own",),
        ),
    },
    "aioesphomeapi": {
        "found by the garbage collector": Reading(
            "true",
            "late, both modes, charged to no test (it fails the run, not a test): @singleton "
            "(aioesphomeapi/singleton.py:36) makes a future with loop.create_future() and, when "
            "the wrapped call raises, sets the exception on it (line 43) with nobody waiting, "
            "then re-raises: tests/test_singleton.py::test_singleton_with_exception's two "
            "failing calls (lines 127, 134) leave two futures whose exceptions are never "
            "retrieved, each in a reference cycle (exception -> traceback -> the wrapper's "
            "frame -> future); asyncio logs 'Future exception was never retrieved' when the "
            "collector frees them (in the baseline, in a later test's captured log). loopwarden "
            "records tasks, not plain futures, so no test is named: naming the test the "
            "exception went through (105200f) could name the wrong one (an exception kept by one "
            "test and set on another's future) and was dropped in 645177a. Before 105200f guard "
            "mode lost it (the test's loop was closed when the collector ran)",
        ),
    },
}


CANARY_NAME = "test_loopwarden_canary.py"
CANARY = '''"""Planted by loopwarden's trust benchmark: the first test leaks a timer."""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_canary_leaks_a_timer():
    asyncio.get_running_loop().call_later(3600, print, "canary")  # the planted leak


@pytest.mark.asyncio
async def test_canary_after_the_leak():
    await asyncio.sleep(0)
'''
CANARY_LINE = 10  # the call_later line
CANARY_LEAKS = "test_canary_leaks_a_timer"
CANARY_AFTER = "test_canary_after_the_leak"


def plant_canary(lib: Library, source: Path) -> list[str] | None:
    """Write the canary into the suite's test folder; the pytest arguments that collect it, or
    ``None`` when the suite is named by module (``--pyargs``): no folder to plant it in."""
    given = [a for a in lib.pytest_args if not a.startswith("-") and (source / a).exists()]
    if not given:
        h.log(f"bench: {lib.name}: no test folder in its pytest arguments: no canary")
        return None
    first = source / given[0]
    folder = first if first.is_dir() else first.parent
    (folder / CANARY_NAME).write_text(CANARY)
    canary = str((folder / CANARY_NAME).relative_to(source))
    covered = any((source / a).is_dir() and folder.is_relative_to(source / a) for a in given)
    return [*lib.pytest_args] if covered else [*lib.pytest_args, canary]


def _canary_test(key: str, name: str) -> bool:
    """Whether the junit key is the canary test ``name``, any parameter case of it (a suite's
    autouse parametrized fixture, aioconsole's policies, gives it ``[default]``, ``[uvloop]``)."""
    return key.rpartition("::")[2].partition("[")[0] == name and CANARY_NAME[:-3] in key


def check_canary(res: Result) -> tuple[list[str], list[str]]:
    """What is wrong with the canary's verdicts: ``(misplaced, missed)``. Misplaced (a wrong
    finding, the next test blamed, the timer charged elsewhere) fails the benchmark; a missed
    canary is listed (missing a leak is the accepted side: the own runner leaves a project's
    uvloop loops unguarded)."""
    misplaced: list[str] = []
    missed: list[str] = []
    for mode in LOOPWARDEN_MODES:
        run = res.runs[mode]
        leaks = sorted(k for k in run.outcomes if _canary_test(k, CANARY_LEAKS))
        afters = sorted(k for k in run.outcomes if _canary_test(k, CANARY_AFTER))
        if not leaks or not afters:
            misplaced.append(f"{mode}: the canary was not collected")
            continue
        for leak in leaks:
            case = leak.rpartition("::")[2]
            found = run.findings.get(leak, [])
            site = str(found[0].get("user_site") or found[0].get("site") or "") if found else ""
            outcome = run.outcomes.get(leak, "")
            if not found:
                missed.append(f"{mode}: {case} missed ({outcome})")
            elif len(found) != 1 or f"{CANARY_NAME}:{CANARY_LINE} in {CANARY_LEAKS}" not in site:
                misplaced.append(f"{mode}: {case}: the finding is wrong: {finding_text(found[0])}")
            elif "error" not in outcome and "failed" not in outcome:
                misplaced.append(f"{mode}: {case} {outcome} with its finding")
        for after in afters:
            if run.findings.get(after) or run.outcomes.get(after) != "passed":
                misplaced.append(f"{mode}: the test after the canary was blamed ({after})")
        others = [
            k
            for k, fs in run.findings.items()
            if k not in (*leaks, *afters)
            and any(CANARY_NAME in str(f.get("user_site") or f.get("site") or "") for f in fs)
        ]
        if others:
            misplaced.append(f"{mode}: the canary's timer was charged to {', '.join(others)}")
    return misplaced, missed


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", default=None, metavar="NAMES", help="comma-separated library names"
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="kill a pytest run after this long (default: 900)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail when any change or finding is unread"
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="PATH", help="also write the tables as Markdown here"
    )
    parser.add_argument(
        "--no-canary", action="store_true", help="plant no canary test in the suites"
    )
    parser.add_argument(
        "--reread",
        action="store_true",
        help="run nothing: read the last run's logs again (after editing READINGS)",
    )


# -- one library ------------------------------------------------------------------------------


def isolate(source: Path) -> Path:
    """Make ``source`` its own pytest root, as a checkout of the project is.

    The sdists are unpacked inside this repository (``bench/.work/``): one without a pytest
    configuration of its own would otherwise find loopwarden's ``pyproject.toml`` above it and run
    with loopwarden's own test settings. An empty ``pytest.ini`` ends the search where it ends in
    the project's own checkout.
    """
    own = (
        (source / "pytest.ini").exists()
        or (source / ".pytest.ini").exists()
        or _has_section(source / "pyproject.toml", "[tool.pytest.ini_options]")
        or _has_section(source / "pyproject.toml", "[tool.pytest]")  # pytest 9's native table
        or _has_section(source / "tox.ini", "[pytest]")
        or _has_section(source / "setup.cfg", "[tool:pytest]")
    )
    if not own:
        (source / "pytest.ini").write_text("[pytest]\n")
    return source


def _has_section(path: Path, header: str) -> bool:
    return path.exists() and header in path.read_text(errors="replace")


def junit_key(nodeid: str) -> str:
    """The key :func:`real_suites.read_junit` gives the test ``nodeid``."""
    path, _, rest = nodeid.partition("::")
    module = path.removesuffix(".py").replace("/", ".")
    *classes, name = rest.split("::")
    return "::".join([".".join([module, *classes]), name])


@dataclass
class ModeRun:
    """One run of one library in one mode."""

    mode: str
    exit_code: int
    counts: dict[str, int]
    outcomes: dict[str, str]  # junit key -> outcome
    messages: dict[str, str]
    findings: dict[str, list[dict[str, Any]]]  # junit key -> findings
    nodeids: dict[str, str]  # junit key -> pytest node id (from the JSON report)
    late: list[dict[str, Any]]
    log: str
    crash: str  # the run's last error line when it ran no tests (exit status 2, 3 or 4)


def run_mode(
    lib: Library,
    venv: h.ReadyVenv,
    cwd: Path,
    mode: str,
    timeout: float,
    pytest_args: Sequence[str] | None = None,
) -> ModeRun:
    stem = f"trust--{lib.key}--{mode}"
    junit = h.LOGS_DIR / f"{stem}.xml"
    report = h.LOGS_DIR / f"{stem}.json"
    for stale in (junit, report):
        stale.unlink(missing_ok=True)
    flags = list(MODES[mode][1])
    if mode in LOOPWARDEN_MODES:
        flags.append(f"--lw-report={report}")
    cmd = [
        str(venv.python),
        "-m",
        "pytest",
        f"--rootdir={cwd}",
        *COMMON,
        *flags,
        f"--junitxml={junit}",
        *(lib.pytest_args if pytest_args is None else pytest_args),
    ]
    log_path = h.LOGS_DIR / f"{stem}.log"
    h.log(f"bench: {lib.name}: {MODES[mode][0]}")
    *_, code, output = h.run_timed(cmd, cwd, log_path, timeout=timeout)
    (h.LOGS_DIR / f"{stem}.exit").write_text(f"{code}\n")
    return load_mode(lib, mode, code, output, f"(cd {cwd} && {' '.join(cmd)})")


def stable_key(lib: Library, key: str) -> str:
    """``key`` (a junit key or node id) with what changes from run to run replaced
    (``Library.volatile_ids``), so that runs compare."""
    if lib.volatile_ids is None:
        return key
    return re.sub(lib.volatile_ids, "<volatile>", key)


def load_mode(lib: Library, mode: str, code: int, output: str, command: str) -> ModeRun:
    """A mode's run, read back from its log, junit XML and JSON report (see ``--reread``)."""
    stem = f"trust--{lib.key}--{mode}"
    junit = h.LOGS_DIR / f"{stem}.xml"
    report = h.LOGS_DIR / f"{stem}.json"
    log_path = h.LOGS_DIR / f"{stem}.log"
    outcomes, messages = rs.read_junit(junit)
    crash = ""
    if code not in (0, 1) or not outcomes:
        # Data, not a broken benchmark: in a loopwarden mode every baseline test is then lost.
        lines = output.strip().splitlines()
        crash = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
        h.log(f"bench: {lib.name} ({mode}) did not run its tests: exit code {code}: {crash}")
        if mode == "baseline":
            raise h.BrokenRun(
                f"{lib.name}: the baseline did not run its tests (exit code {code}).\n"
                f"command: {command}\nfull output: {log_path}"
            )
    findings: dict[str, list[dict[str, Any]]] = {}
    nodeids: dict[str, str] = {}
    late: list[dict[str, Any]] = []
    if mode in LOOPWARDEN_MODES and report.exists():
        data = json.loads(report.read_text())
        for nodeid, entry in data["tests"].items():
            key = stable_key(lib, junit_key(nodeid))
            nodeids[key] = stable_key(lib, nodeid)
            if entry["findings"]:
                findings[key] = entry["findings"]
        late = data["late"]
    outcomes = {stable_key(lib, k): v for k, v in outcomes.items()}
    messages = {stable_key(lib, k): v for k, v in messages.items()}
    return ModeRun(
        mode,
        code,
        h.parse_outcome(output),
        outcomes,
        messages,
        findings,
        nodeids,
        late,
        str(log_path),
        crash,
    )


def reload(lib: Library, mode: str) -> ModeRun:
    stem = h.LOGS_DIR / f"trust--{lib.key}--{mode}"
    log, exit_file = stem.with_suffix(".log"), stem.with_suffix(".exit")
    if not log.exists() or not exit_file.exists():
        raise h.BenchError(f"--reread: no complete run of {lib.name} ({mode}) in {h.LOGS_DIR}")
    return load_mode(lib, mode, int(exit_file.read_text()), log.read_text(), "(reread)")


# -- reading the runs -------------------------------------------------------------------------


@dataclass
class Row:
    """A test with an outcome change or a finding in at least one loopwarden mode.

    ``late``: the findings loopwarden made after the test had finished (a coroutine never
    awaited, found when the garbage collector freed it) and charged to this test as their
    owner: they fail nothing, and are read like the rest.
    """

    key: str
    nodeid: str
    outcomes: dict[str, str]  # mode -> outcome
    findings: dict[str, list[dict[str, Any]]]  # mode -> findings
    reading: Reading | None
    late: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # mode -> late findings
    # The modes whose failure of this test is told in loopwarden's words (see reworded()).
    reworded: frozenset[str] = frozenset()

    def changed(self, mode: str) -> bool:
        return mode in self.reworded or self.outcomes.get(mode) != self.outcomes.get("baseline")

    def verdict(self, mode: str) -> str:
        if not (self.changed(mode) or self.findings.get(mode) or self.late.get(mode)):
            return ""
        if self.reading is None or mode not in self.reading.modes:
            return "UNREAD"
        return self.reading.verdict


def finding_text(finding: Mapping[str, Any]) -> str:
    where = finding.get("user_site") or finding.get("site") or "no line"
    status = "" if finding.get("status") == "new" else f" ({finding.get('status')})"
    return f"{finding['kind']} {finding['name']} @ {where}{status}"


def lookup(readings: Mapping[str, Reading], nodeid: str) -> Reading | None:
    if nodeid in readings:
        return readings[nodeid]
    # A prefix ends at a boundary: a folder, a module or class, a parameter list.
    prefixes = [p for p in readings if p.endswith(("/", "::", "[")) and nodeid.startswith(p)]
    return readings[max(prefixes, key=len)] if prefixes else None


@dataclass
class Result:
    lib: Library
    runs: dict[str, ModeRun]
    rows: list[Row] = field(default_factory=list)
    lost: dict[str, list[str]] = field(default_factory=dict)  # mode -> tests absent there
    refused: dict[str, list[str]] = field(default_factory=dict)  # absent, covered by "refused"
    canary: list[str] | None = None  # what misplaced the canary; None: none was planted
    canary_missed: list[str] = field(default_factory=list)  # where it was missed (listed only)

    def tally(self, mode: str) -> Counter[str]:
        return Counter(v for row in self.rows if (v := row.verdict(mode)))


def read(lib: Library, runs: Mapping[str, ModeRun]) -> Result:
    result = Result(lib, dict(runs))
    readings = dict(READINGS.get(lib.key, {}))
    if any(_canary_test(k, CANARY_LEAKS) for k in runs["baseline"].outcomes):
        result.canary, result.canary_missed = check_canary(result)
        # The canary's module, as a node id prefix ("tests/test_loopwarden_canary.py::").
        modules = {
            nodeid.partition("::")[0] + "::"
            for mode in LOOPWARDEN_MODES
            for nodeid in runs[mode].nodeids.values()
            if nodeid.partition("::")[0].endswith(CANARY_NAME)
        }
        for module in modules:
            missed = "; missed where: " + "; ".join(result.canary_missed)
            readings[module] = (
                Reading("misplaced", "the planted canary: " + "; ".join(result.canary))
                if result.canary
                else Reading(
                    "intentional",
                    "the planted canary, caught at its line"
                    + (missed if result.canary_missed else ""),
                )
            )
    base = runs["baseline"].outcomes
    nodeids: dict[str, str] = {}
    for mode in LOOPWARDEN_MODES:
        nodeids.update(runs[mode].nodeids)
    for mode in LOOPWARDEN_MODES:
        absent = [k for k in base if k not in runs[mode].outcomes]
        result.refused[mode] = [
            k
            for k in absent
            if (reading := lookup(readings, nodeids.get(k, k))) is not None
            and reading.verdict == "refused"
        ]
        result.lost[mode] = sorted(set(absent) - set(result.refused[mode]))
    keys = set()
    late: dict[str, dict[str, list[dict[str, Any]]]] = {}  # key -> mode -> late findings
    words: dict[str, set[str]] = {}  # key -> the modes that tell its failure in their words
    for mode in LOOPWARDEN_MODES:
        run = runs[mode]
        for finding in run.late:
            owner = finding.get("owner") or ""
            if "::" in owner:  # a test's node id: its row shows the finding
                key = junit_key(owner)
                nodeids.setdefault(key, owner)
                late.setdefault(key, {}).setdefault(mode, []).append(finding)
            elif owner:
                # No test named (a fixture, "found by the garbage collector"): a row of its own,
                # keyed by that owner, read like the others (it may fail the run).
                nodeids.setdefault(owner, owner)
                late.setdefault(owner, {}).setdefault(mode, []).append(finding)
        keys |= set(late)
        keys |= set(run.findings)
        keys |= {k for k in set(run.outcomes) | set(base) if run.outcomes.get(k) != base.get(k)}
        for key in reworded(base, runs["baseline"].messages, run):
            words.setdefault(key, set()).add(mode)
            keys.add(key)
    # A test absent from a mode is listed on its own, unless something else happened to it.
    gone = {k for mode in LOOPWARDEN_MODES for k in (*result.lost[mode], *result.refused[mode])}
    for key in gone & keys:
        if not any(key in runs[m].findings for m in LOOPWARDEN_MODES) and all(
            runs[m].outcomes.get(key, base[key]) == base[key] for m in LOOPWARDEN_MODES
        ):
            keys.discard(key)
    for key in sorted(keys):
        nodeid = nodeids.get(key, key)
        result.rows.append(
            Row(
                key,
                nodeid,
                {m: runs[m].outcomes.get(key, "absent") for m in MODES},
                {m: runs[m].findings.get(key, []) for m in LOOPWARDEN_MODES},
                lookup(readings, nodeid),
                late.get(key, {}),
                frozenset(words.get(key, ())),
            )
        )
    return result


def reworded(base: Mapping[str, str], base_messages: Mapping[str, str], run: ModeRun) -> set[str]:
    """Tests that fail in the baseline and in ``run`` alike, whose failure loopwarden's run tells
    in its own words: the same outcome, so no outcome change shows it, and the words may be
    false (guard mode once told a failing anyio test that it "did not run")."""
    return {
        key
        for key, outcome in run.outcomes.items()
        if outcome != "passed"
        and base.get(key) == outcome
        and "loopwarden:" in run.messages.get(key, "")
        and "loopwarden:" not in base_messages.get(key, "")
    }


def unowned_late(res: Result, mode: str) -> list[dict[str, Any]]:
    """The mode's late findings that no row shows (their owner is not a test)."""
    shown = {id(f) for row in res.rows for f in row.late.get(mode, [])}
    return [f for f in res.runs[mode].late if id(f) not in shown]


# -- the sub-command --------------------------------------------------------------------------


@h.register(
    "trust",
    help="loopwarden's findings and outcome changes on real suites (PyPI sdists), guard mode "
    "and own runner against pytest-asyncio alone, each read by a person",
    add_arguments=_arguments,
)
def trust(args: argparse.Namespace) -> int:
    libs = rs.select(CORPUS, args.only)
    python = h.find_python(args.python)
    results = []
    for lib in libs:
        if args.reread:
            results.append(read(lib, {mode: reload(lib, mode) for mode in MODES}))
            continue
        sdist = rs.fetch_sdist(lib, python)
        # Like the real-suites venv, but anyio's plugin stays on: suites that use it need it.
        venv = rs.venv_for(lib, sdist, python, prefix="trust", disable_plugins=())
        runs = {}
        for mode in MODES:
            source = isolate(rs.unpack(sdist, lib))  # afresh: what a run wrote never leaks on
            pytest_args = None if args.no_canary else plant_canary(lib, source)
            runs[mode] = run_mode(lib, venv, source, mode, args.run_timeout, pytest_args)
        results.append(read(lib, runs))
    versions = {
        "python": h.short_python(python),
        "pytest": shared.PYTEST,
        "pytest-asyncio": shared.PYTEST_ASYNCIO,
        "loopwarden": h.git_revision(),
    }
    print(render(results, versions))
    if args.markdown:
        args.markdown.write_text(markdown(results, versions))
        h.log(f"bench: tables written to {args.markdown}")
    if args.json:
        h.write_json(args.json, report(results, versions))
    bad = [
        (res.lib.name, row.nodeid, mode)
        for res in results
        for row in res.rows
        for mode in LOOPWARDEN_MODES
        if row.verdict(mode) in BAD or (args.strict and row.verdict(mode) == "UNREAD")
    ]
    lost = [(res.lib.name, mode, n) for res in results for mode, ns in res.lost.items() for n in ns]
    canaries = [(res.lib.name, p) for res in results for p in res.canary or ()]
    for name, problem in canaries:
        h.log(f"bench: trust: {name}: canary: {problem}")
    return 1 if bad or lost or canaries else 0


def _counts(run: ModeRun) -> str:
    order = ("failed", "passed", "skipped", "xfailed", "xpassed", "errors")
    return ", ".join(f"{run.counts[k]} {k}" for k in order if run.counts.get(k)) or "?"


def summary_rows(results: Sequence[Result]) -> list[list[str]]:
    rows = []
    for res in results:
        cells = [f"{res.lib.name} {res.lib.version}", _counts(res.runs["baseline"])]
        for mode in LOOPWARDEN_MODES:
            run = res.runs[mode]
            changes = sum(row.changed(mode) for row in res.rows)
            found = sum(len(row.findings[mode]) for row in res.rows) + len(run.late)
            tally = res.tally(mode)
            read_out = ", ".join(f"{n} {v}" for v, n in sorted(tally.items())) or "—"
            lost = len(res.lost[mode])
            refused = len(res.refused[mode])
            cells += [
                _counts(run)
                + (f", {lost} LOST" if lost else "")
                + (f", {refused} absent (refused)" if refused else ""),
                f"{changes} / {found}",
                read_out,
            ]
        same = all(row.verdict("guard") == row.verdict("own") for row in res.rows)
        cells.append("yes" if same else "no")
        rows.append(cells)
    return rows


HEADERS = [
    "library",
    "baseline",
    "guard: outcome",
    "guard: changes / findings",
    "guard: read",
    "own: outcome",
    "own: changes / findings",
    "own: read",
    "same verdicts",
]


def detail_lines(res: Result) -> list[str]:
    out = []
    if res.canary is not None:
        verdict = "; ".join(res.canary) if res.canary else "caught at its line, both modes"
        if res.canary_missed and not res.canary:
            caught = len(res.canary_missed) < len(LOOPWARDEN_MODES) or any(
                row.findings.get(m)
                for row in res.rows
                for m in LOOPWARDEN_MODES
                if CANARY_NAME in row.nodeid
            )
            verdict = (
                "caught at its line where found; missed: " if caught else "missed: "
            ) + "; ".join(res.canary_missed)
        out.append(f"- canary: {verdict}")
    for row in res.rows:
        outcomes = " / ".join(f"{m} {row.outcomes[m]}" for m in MODES)
        out.append(f"- `{row.nodeid}`: {outcomes}")
        for mode in LOOPWARDEN_MODES:
            for finding in row.findings[mode]:
                out.append(f"  - {mode}: {finding_text(finding)}")
            for finding in row.late.get(mode, []):
                out.append(f"  - late ({mode}, after the test): {finding_text(finding)}")
            if mode in row.reworded:
                said = res.runs[mode].messages.get(row.key, "").strip().splitlines()
                out.append(f"  - {mode}, in loopwarden's words: {said[0] if said else ''}")
        if row.reading is not None:
            out.append(f"  - **{row.reading.verdict}**: {row.reading.evidence}")
        else:
            out.append("  - **UNREAD**")
    for mode in LOOPWARDEN_MODES:
        for finding in unowned_late(res, mode):
            out.append(f"- late ({mode}): {finding_text(finding)} — owner {finding['owner']}")
        crash = res.runs[mode].crash
        if crash:
            out.append(f"- **{mode} ran no tests**: {crash}")
        if res.refused[mode]:
            out.append(
                f"- {mode}: {len(res.refused[mode])} baseline tests absent, covered by a "
                "'refused' reading (the run fails the tests it kept, saying why)"
            )
        lost = res.lost[mode]
        for node in lost[:5]:
            out.append(f"- **LOST in {mode}**: `{node}` ran in the baseline, not here")
        if len(lost) > 5:
            out.append(f"- **LOST in {mode}**: and {len(lost) - 5} more")
    return out


def render(results: Sequence[Result], versions: Mapping[str, str]) -> str:
    out = [
        "loopwarden bench: trust — " + " · ".join(f"{k} {v}" for k, v in versions.items()),
        "changes: tests whose outcome differs from the baseline; findings: loopwarden's findings "
        "(any status); read: a person's verdicts (bench/trust.py READINGS)",
        "",
        h.format_table(HEADERS, summary_rows(results)),
    ]
    for res in results:
        lines = detail_lines(res)
        out += ["", f"[{res.lib.name}] {res.lib.why}", *(lines or ["  nothing to read"])]
    return "\n".join(out)


def markdown(results: Sequence[Result], versions: Mapping[str, str]) -> str:
    out = [
        " · ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    out += ["| " + " | ".join(row) + " |" for row in summary_rows(results)]
    for res in results:
        lines = grouped_lines(res)
        if lines:
            out += ["", f"### {res.lib.name} {res.lib.version}", "", *lines]
    return "\n".join(out) + "\n"


def grouped_lines(res: Result) -> list[str]:
    """The evidence, one entry per reading: the tests it covers, what each mode found there."""
    groups: dict[int, list[Row]] = {}
    for row in res.rows:
        groups.setdefault(id(row.reading), []).append(row)
    out = []
    for rows in groups.values():
        reading = rows[0].reading
        names = [f"`{row.nodeid}`" for row in rows]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        outcomes = Counter(" / ".join(f"{m} {row.outcomes[m]}" for m in MODES) for row in rows)
        out.append(f"- {len(rows)} test{'s' if len(rows) != 1 else ''}: {shown}")
        for text, count in outcomes.most_common():
            out.append(f"  - {count} x {text}")
        for mode in LOOPWARDEN_MODES:
            found = Counter(finding_text(f) for row in rows for f in row.findings[mode])
            for text, count in sorted(found.items()):
                out.append(f"  - {mode}: {count} x {text}")
            late = Counter(finding_text(f) for row in rows for f in row.late.get(mode, []))
            for text, count in sorted(late.items()):
                out.append(f"  - late ({mode}, after the test): {count} x {text}")
        if reading is None:
            out.append("  - **UNREAD**")
        else:
            modes = "" if reading.modes == LOOPWARDEN_MODES else f" ({', '.join(reading.modes)})"
            out.append(f"  - **{reading.verdict}**{modes}: {reading.evidence}")
    for mode in LOOPWARDEN_MODES:
        for finding in unowned_late(res, mode):
            out.append(f"- late ({mode}): {finding_text(finding)} — owner {finding['owner']}")
        if res.runs[mode].crash:
            out.append(f"- **{mode} ran no tests**: {res.runs[mode].crash}")
        if res.refused[mode]:
            out.append(
                f"- {mode}: {len(res.refused[mode])} baseline tests absent, covered by the "
                "'refused' reading above"
            )
        if res.lost[mode]:
            out.append(f"- **LOST in {mode}**: {len(res.lost[mode])} baseline tests absent")
    return out


def report(results: Sequence[Result], versions: Mapping[str, str]) -> h.Report:
    return h.Report(
        suite="trust",
        meta={"versions": dict(versions), "machine": h.machine_info()},
        configs={
            f"{res.lib.key}/{mode}": {
                "counts": run.counts,
                "exit_code": run.exit_code,
                "log": run.log,
                "late": run.late,
            }
            for res in results
            for mode, run in res.runs.items()
        },
        ratios=[
            {
                "library": f"{res.lib.name}=={res.lib.version}",
                "rows": [
                    {
                        "nodeid": row.nodeid,
                        "outcomes": row.outcomes,
                        "findings": row.findings,
                        "verdicts": {m: row.verdict(m) for m in LOOPWARDEN_MODES},
                        "late": row.late,
                    }
                    for row in res.rows
                ],
                "lost": res.lost,
            }
            for res in results
        ],
    )
