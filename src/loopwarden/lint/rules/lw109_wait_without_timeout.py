"""LW109: a test waits on an event, queue, lock or future with no timeout."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import receiver_name

INFO = RuleInfo(
    code="LW109",
    name="wait-without-timeout",
    summary="test awaits an event, queue, lock or future without a timeout",
    fix="unsafe",
)

_QUEUES = frozenset({"asyncio.Queue", "asyncio.PriorityQueue", "asyncio.LifoQueue"})
_LOCKS = frozenset(
    {"asyncio.Lock", "asyncio.Semaphore", "asyncio.BoundedSemaphore", "asyncio.Condition"}
)
_FUTURES = frozenset({"asyncio.Future", "asyncio.get_running_loop().create_future"})
_MODULES = frozenset({"asyncio", "anyio", "trio"})


def _receiver_kind(node: ast.expr, ctx: Checker) -> str | None:
    if type(node) is not ast.Name:
        return None
    bound = ctx.binding(node.id)
    if bound is None or bound.callee is None:
        return None
    if bound.callee in _QUEUES:
        return "queue"
    if bound.callee in _LOCKS:
        return "lock"
    if bound.callee in _FUTURES or bound.callee.endswith(".create_future"):
        return "future"
    return None


def _waits(value: ast.expr, ctx: Checker) -> str | None:
    """Describe what ``await value`` waits for, if it is an unbounded wait."""
    if type(value) is ast.Name:
        if _receiver_kind(value, ctx) == "future":
            return f"future `{value.id}`"
        return None
    if type(value) is not ast.Call or value.args or value.keywords:
        return None
    func = value.func
    if type(func) is not ast.Attribute:
        return None
    receiver = func.value
    if ctx.resolve(receiver) in _MODULES:
        return None
    name = (receiver_name(receiver) or "").lower()
    kind = _receiver_kind(receiver, ctx)
    shown = ast.unparse(func)
    if func.attr == "wait":
        return f"`{shown}()`"
    if func.attr in ("get", "join") and (
        kind == "queue" or "queue" in name or name == "q" or name.endswith("_q")
    ):
        return f"`{shown}()`"
    if func.attr == "acquire" and (kind == "lock" or "lock" in name or "sem" in name):
        return f"`{shown}()`"
    return None


def check_await(node: ast.Await, ctx: Checker) -> None:
    """Flag unbounded waits in tests and fixtures outside any timeout scope."""
    scope = ctx.function
    if scope is None or not scope.is_test_or_fixture or not scope.is_async:
        return
    if "timeout" in scope.marks or ctx.under_timeout():
        return
    what = _waits(node.value, ctx)
    if what is None:
        return
    fix = None
    parent = ctx.parent
    if type(parent) in (ast.Expr, ast.Assign) and getattr(parent, "value", None) is node:
        asyncio, imports = ctx.module_alias("asyncio")
        fix = ctx.make_fix(
            "wrap_timeout",
            "unsafe",
            parent,  # type: ignore[arg-type]
            "wrap in `async with asyncio.timeout(10):`",
            args=(f"{asyncio}.timeout(10)",),
            imports=imports,
        )
    kind = "fixture" if scope.fixture else "test"
    ctx.report(
        INFO.code,
        node,
        f"{kind} `{scope.name}` awaits {what} with no timeout: if it never happens the run hangs "
        f"until CI kills the job, with no hint of what it waited for; bound it: "
        f"`async with asyncio.timeout(5): await ...`",
        fix,
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("await",), ("wait", "get", "join", "acquire", "Future", "future"))
HANDLERS = ((ast.Await, check_await),)
