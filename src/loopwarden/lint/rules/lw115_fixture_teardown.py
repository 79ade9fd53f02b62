"""LW115: an async fixture starts something it never stops, or can skip its own teardown."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import walk_function
from loopwarden.lint.rules._common import TASK_FACTORIES, task_call

INFO = RuleInfo(
    code="LW115",
    name="fixture-without-teardown",
    summary="async fixture starts a task or connection with no (reachable) teardown",
)

STARTERS = frozenset(
    {
        "asyncio.start_server",
        "asyncio.start_unix_server",
        "asyncio.open_connection",
        "asyncio.open_unix_connection",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
        "websockets.connect",
        "websockets.serve",
        "websockets.asyncio.client.connect",
        "websockets.asyncio.server.serve",
        "asyncpg.connect",
        "asyncpg.create_pool",
        "aiosqlite.connect",
        "sqlalchemy.ext.asyncio.create_async_engine",
    }
)
_LOOP_STARTERS = frozenset({"create_server", "create_connection", "create_unix_server"})


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Remember resources an async fixture acquires outside ``async with``."""
    scope = ctx.function
    if scope is None or not scope.fixture or not scope.is_async:
        return
    if type(ctx.parent) is ast.withitem:
        return
    what = task_call(node, ctx)
    if what is not None and type(ctx.parent) is ast.Expr:
        return  # a dropped task is LW107's finding
    if what is None:
        callee = ctx.resolve(node.func)
        if callee in STARTERS:
            what = f"{callee}()"
        elif type(node.func) is ast.Attribute and node.func.attr in _LOOP_STARTERS:
            what = f"{ast.unparse(node.func)}()"
    if what is not None:
        scope.data.setdefault(INFO.code, []).append((node, what))


_ENDS = frozenset({"wait", "communicate", "close", "wait_closed", "aclose", "terminate", "kill"})


def _ended_here(call: ast.Call, nodes: list[ast.AST]) -> bool:
    """Whether the fixture ends what ``call`` started itself, before it returns or yields:
    ``proc = await create_subprocess_exec(...)`` then ``await proc.wait()`` (aiodocker's
    ``docker pull`` before the tests), or ``conn.close()``."""
    names = {
        target.id
        for n in nodes
        if type(n) is ast.Assign
        and (n.value is call or (type(n.value) is ast.Await and n.value.value is call))
        for target in n.targets
        if type(target) is ast.Name
    }
    first_yield = min(
        (n.lineno for n in nodes if isinstance(n, ast.Yield | ast.YieldFrom)), default=None
    )
    return bool(names) and any(
        type(n) is ast.Call
        and type(n.func) is ast.Attribute
        and n.func.attr in _ENDS
        and type(n.func.value) is ast.Name
        and n.func.value.id in names
        and (first_yield is None or n.lineno < first_yield)
        for n in nodes
    )


def _is_yield_stmt(stmt: ast.stmt) -> bool:
    value = getattr(stmt, "value", None)
    if type(stmt) is ast.Expr or type(stmt) is ast.Assign:
        return type(value) in (ast.Yield, ast.YieldFrom)
    return False


def _top_index(body: list[ast.stmt], node: ast.AST) -> int:
    line = getattr(node, "lineno", 0)
    for index, stmt in enumerate(body):
        if stmt.lineno <= line <= (stmt.end_lineno or stmt.lineno):
            return index
    return -1


def check_exit(node: ast.AST, ctx: Checker) -> None:
    """Decide, for a fixture that acquired something, whether its teardown can run."""
    scope = ctx.function
    if scope is None or INFO.code not in scope.data:
        return
    nodes = walk_function(node)
    started: list[tuple[ast.Call, str]] = [
        (call, what) for call, what in scope.data[INFO.code] if not _ended_here(call, nodes)
    ]
    if not started:
        return
    if any(
        type(n) is ast.Attribute and n.attr in ("addfinalizer", "push_async_callback")
        for n in nodes
    ):
        return  # teardown registered another way
    body: list[ast.stmt] = getattr(node, "body", [])
    yields = [n for n in nodes if type(n) in (ast.Yield, ast.YieldFrom)]
    call, what = started[0]
    if not yields:
        ctx.report(
            INFO.code,
            call,
            f"async fixture `{scope.name}` starts `{what}` and returns: pytest has no teardown to "
            f"run, so it keeps running (or stays connected) into later tests and leaks at loop "
            f"close; `yield` the value instead and stop it after the `yield`",
        )
        return
    yield_index = next((i for i, stmt in enumerate(body) if _is_yield_stmt(stmt)), -1)
    if yield_index == -1:
        return  # the yield is inside try/with: that construct is the teardown
    if yield_index == len(body) - 1:
        ctx.report(
            INFO.code,
            call,
            f"async fixture `{scope.name}` starts `{what}` but has no code after its `yield`: "
            f"nothing stops it when the test ends, so it runs into later tests and leaks at loop "
            f"close; stop it after the `yield` (`cancel()`/`close()` and await it)",
        )
        return
    for call, what in started:
        start = _top_index(body, call)
        if start < 0 or start >= yield_index:
            continue
        for stmt in body[start + 1 : yield_index]:
            awaited = next((n for n in walk_function_stmt(stmt) if type(n) is ast.Await), None)
            if awaited is None:
                continue
            ctx.report(
                INFO.code,
                awaited,
                f"if this `await` fails, fixture `{scope.name}` never reaches its `yield`, so the "
                f"teardown after it does not run and `{what}` (line {call.lineno}) is never "
                f"stopped; put the setup after the acquisition inside `try:` ... `finally:` around "
                f"the `yield`, or use `async with` / `contextlib.AsyncExitStack`",
            )
            return


def walk_function_stmt(stmt: ast.stmt) -> list[ast.AST]:
    """Nodes of one statement, not descending into nested functions."""
    wrapper = ast.Module(body=[stmt], type_ignores=[])
    return walk_function(wrapper)


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("fixture",), ("async",))
CALLS = (
    ("callee", (*TASK_FACTORIES, *STARTERS), check_call),
    ("method", ("create_task", "ensure_future", *_LOOP_STARTERS), check_call),
)
EXIT = check_exit
