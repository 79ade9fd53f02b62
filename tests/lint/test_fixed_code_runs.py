"""Every fix, applied by ``loopwarden lint --fix``, leaves a test that runs and passes.

The rule fixtures (``tests/lint/fixtures/``) are lint input: they name things they never define.
Here each fixable rule gets a small test module that runs as it is — the shape its fix is for —
and the test checks three things: how the module fares before (the failure the rule names, or a
pass where the rule only bounds a wait), that the fix was applied, and that the fixed module
passes under loopwarden's own runner. A fix that could break a passing test is marked unsafe
(``--unsafe-fixes``); the safe ones here all turn a failing test into a passing one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from loopwarden.lint.rules import RULES

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Case:
    code: str
    source: str
    # The outcome before the fix (pytest's assert_outcomes keywords), and the line the fix
    # must have written.
    before: dict[str, int]
    fixed_line: str


CASES = {
    "LW101 time.sleep": Case(
        "LW101",
        """
        import asyncio
        import time


        async def test_the_heartbeat_beats_while_the_test_waits():
            beats = []

            async def heartbeat():
                while True:
                    beats.append(1)
                    await asyncio.sleep(0)

            task = asyncio.create_task(heartbeat())
            time.sleep(0.05)  # sleep-ok: the blocking call the fix replaces
            task.cancel()
            assert beats
        """,
        {"failed": 1},
        "    await asyncio.sleep(0.05)",
    ),
    "LW102 sleep before a check": Case(
        "LW102",
        """
        import asyncio


        class Service:
            def __init__(self):
                self.started = False

            async def start(self):
                await asyncio.sleep(0.05)  # sleep-ok: stands in for connecting
                self.started = True


        async def test_the_service_starts():
            service = Service()
            task = asyncio.create_task(service.start())
            await asyncio.sleep(0.01)  # sleep-ok: the barrier the fix replaces
            assert service.started
            await task
        """,
        {"failed": 1},
        "    await loopwarden.eventually(lambda: service.started)",
    ),
    "LW104 MagicMock awaited": Case(
        "LW104",
        """
        from unittest.mock import MagicMock


        async def test_the_notifier_is_awaited():
            notify = MagicMock()
            await notify("user 1 signed up")
            notify.assert_called_once_with("user 1 signed up")
        """,
        {"failed": 1},
        "    notify = AsyncMock()",
    ),
    "LW104 AsyncMock entered with async with": Case(
        "LW104",
        """
        from unittest.mock import AsyncMock, MagicMock


        async def test_the_status_is_read():
            session = MagicMock()
            session.get = AsyncMock(return_value=MagicMock(status=200))
            async with session.get("http://api/health") as response:
                assert response.status == 200
        """,
        # (The coroutine never entered is also the leak guard's finding, at teardown.)
        {"failed": 1, "errors": 1},
        "    session.get = MagicMock(return_value=async_context_manager(returns=MagicMock("
        "status=200)))",
    ),
    "LW106 event_loop parameter": Case(
        "LW106",
        """
        import asyncio


        async def test_the_queue_hands_over(event_loop):
            queue = asyncio.Queue()
            await queue.put(1)
            assert await queue.get() == 1
        """,
        {"errors": 1},
        "async def test_the_queue_hands_over():",
    ),
    "LW108 missing await": Case(
        "LW108",
        """
        class Connection:
            def __init__(self):
                self.closed = False

            async def close(self):
                self.closed = True

            async def shutdown(self):
                self.close()


        async def test_shutdown_closes_the_connection():
            connection = Connection()
            await connection.shutdown()
            assert connection.closed
        """,
        # (The coroutine never awaited is also the leak guard's finding, at teardown.)
        {"failed": 1, "errors": 1},
        "        await self.close()",
    ),
    "LW109 wait without a timeout": Case(
        "LW109",
        """
        import asyncio

        import pytest


        class Server:
            def __init__(self):
                self.started = asyncio.Event()

            async def serve(self):
                await asyncio.sleep(0)
                self.started.set()


        @pytest.fixture
        async def server():
            server = Server()
            task = asyncio.create_task(server.serve())
            yield server
            await task


        async def test_the_server_starts(server):
            await server.started.wait()
        """,
        {"passed": 1},
        "    async with asyncio.timeout(10):",
    ),
    "LW110 httpx app=": Case(
        "LW110",
        """
        import httpx


        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


        async def test_the_app_answers():
            async with httpx.AsyncClient(app=app, base_url="http://test") as client:
                response = await client.get("/")
            assert response.text == "ok"
        """,
        {"failed": 1},
        "    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), "
        'base_url="http://test") as client:',
    ),
    "LW116 asyncio.iscoroutinefunction": Case(
        "LW116",
        """
        import asyncio


        async def handler():
            pass


        def test_the_handler_is_a_coroutine_function():
            assert asyncio.iscoroutinefunction(handler)
        """,
        {"passed": 1},
        "    assert inspect.iscoroutinefunction(handler)",
    ),
}


def test_every_fixable_rule_has_a_case_here() -> None:
    fixable = {code for code, info in RULES.items() if info.fix}
    assert {case.code for case in CASES.values()} == fixable


@pytest.mark.parametrize("name", list(CASES))
def test_the_fixed_test_passes(pytester: pytest.Pytester, name: str) -> None:
    case = CASES[name]
    if case.code == "LW110":
        httpx = pytest.importorskip("httpx")
        if tuple(int(p) for p in httpx.__version__.split(".")[:2]) < (0, 28):
            case = Case(case.code, case.source, {"passed": 1}, case.fixed_line)
    path = pytester.makepyfile(test_case=textwrap.dedent(case.source))
    before = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    before.assert_outcomes(**case.before)
    lint = [sys.executable, "-m", "loopwarden.lint", "--isolated", "--fix", "--unsafe-fixes"]
    done = subprocess.run(
        [*lint, "--select", case.code, "--exit-zero", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=pytester.path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fixed = path.read_text(encoding="utf-8")
    assert any(line.startswith(case.fixed_line) for line in fixed.splitlines()), fixed
    after = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    after.assert_outcomes(passed=1)
