"""LW109: a test waits on an event, queue, lock or future with no timeout."""

from __future__ import annotations

import ast
import re

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import receiver_name

INFO = RuleInfo(
    code="LW109",
    name="wait-without-timeout",
    summary="test awaits an event, queue, lock or future without a timeout",
    fix="unsafe",
    # Opt-in: a suite-wide timeout (loopwarden's watchdog, on by default; pytest-timeout) already
    # stops such a wait and names it, so by default this is advice about style, not a hazard.
    default=False,
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
    if bound.callee in ("asyncio.Event", "asyncio.Condition", "anyio.Event", "trio.Event"):
        return "event"
    return None


def _used_before(
    receiver: ast.expr, methods: tuple[str, ...], node: ast.Await, ctx: Checker
) -> bool:
    """``receiver.<method>`` (called, or handed over: ``loop.call_soon(fut.set_result, 3)``) in
    the same function before ``node``: a future resolved, a queue filled, before it is awaited."""
    scope = ctx.function
    if scope is None:
        return False
    target = ast.unparse(receiver)
    return any(
        type(other) is ast.Attribute
        and other.attr in methods
        and other.lineno < node.lineno
        and ast.unparse(other.value) == target
        for other in ast.walk(scope.node)
    )


# Words in a receiver's name that say it is an event (``ready.wait()``, ``self.started.wait()``).
_EVENT_NAMES = frozenset(
    {
        "event", "evt", "ready", "done", "started", "stopped", "closed", "finished", "connected",
        "received", "flag", "signal", "cond", "condition", "barrier", "fired", "called",
        "shutdown",
    }
)  # fmt: skip


def _timeout_decorator(function: ast.AST) -> bool:
    """A decorator of the project's own that bounds the test (redis's ``@with_timeout(2)``)."""
    for decorator in getattr(function, "decorator_list", ()):
        target = decorator.func if type(decorator) is ast.Call else decorator
        name = target.attr if type(target) is ast.Attribute else getattr(target, "id", "")
        if "timeout" in name.lower():
            return True
    return False


def _waits(value: ast.expr, ctx: Checker, node: ast.Await) -> str | None:
    """Describe what ``await value`` waits for, if it is an unbounded wait."""
    if type(value) is ast.Name:
        resolved = _used_before(value, ("set_result", "set_exception"), node, ctx)
        if _receiver_kind(value, ctx) == "future" and not resolved:
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
        # An event's (or condition's) wait; a job's or a process's `wait()` ends on its own.
        words = set(re.split(r"[^a-z0-9]+", name))
        if kind in ("event", "lock") or words & _EVENT_NAMES:  # ("lock": a Condition)
            return f"`{shown}()`"
        return None
    if func.attr in ("get", "join") and (
        kind == "queue" or "queue" in name or name == "q" or name.endswith("_q")
    ):
        if func.attr == "get" and _used_before(receiver, ("put_nowait", "put"), node, ctx):
            return None  # it already holds what is taken: the get returns at once
        return f"`{shown}()`"
    if func.attr == "acquire" and (kind == "lock" or "lock" in name or "sem" in name):
        return f"`{shown}()`"
    return None


def check_await(node: ast.Await, ctx: Checker) -> None:
    """Flag unbounded waits in tests and fixtures outside any timeout scope."""
    scope = ctx.function
    if scope is None or not scope.is_test_or_fixture or not scope.is_async:
        return
    if "timeout" in scope.marks or ctx.under_timeout() or _timeout_decorator(scope.node):
        return
    what = _waits(node.value, ctx, node)
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
        f"{kind} `{scope.name}` awaits {what} with no timeout of its own: if it never happens, "
        f"the test waits for the suite's timeout (or, with none, hangs the run) instead of "
        f"failing at once; bound it: `async with asyncio.timeout(5): await ...`",
        fix,
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("await",), ("wait", "get", "join", "acquire", "Future", "future"))
HANDLERS = ((ast.Await, check_await),)
