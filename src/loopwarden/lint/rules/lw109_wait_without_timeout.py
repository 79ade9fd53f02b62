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
    if _bounded_when_made(receiver, ctx):
        return None  # (redis's Lock(..., blocking_timeout=1).acquire() gives up on its own)
    if func.attr == "wait":
        # An event's (or condition's) wait; a job's or a process's `wait()` ends on its own.
        words = set(re.split(r"[^a-z0-9]+", name))
        if (kind in ("event", "lock") or words & _EVENT_NAMES) and not _handshake(
            receiver, node, ctx
        ):  # ("lock": a Condition)
            return f"`{shown}()`"
        return None
    if func.attr in ("get", "join") and (
        kind == "queue" or "queue" in name or name == "q" or name.endswith("_q")
    ):
        if func.attr == "get" and _used_before(receiver, ("put_nowait", "put"), node, ctx):
            return None  # it already holds what is taken: the get returns at once
        return f"`{shown}()`"
    if func.attr == "acquire" and (kind == "lock" or "lock" in name or "sem" in name):
        if _fresh(receiver, node, ctx):
            return None  # made just before, with nothing run since: nobody else can hold it
        return f"`{shown}()`"
    return None


def _bounded_when_made(receiver: ast.expr, ctx: Checker) -> bool:
    """The receiver was made with a timeout of its own (``blocking_timeout=1``, ``timeout=5``)."""
    bound = ctx.binding(receiver.id) if type(receiver) is ast.Name else None
    call = bound.call if bound is not None else None
    return call is not None and any(
        k.arg is not None and "timeout" in k.arg.lower() for k in call.keywords
    )


# Calls that start other code running concurrently (a task, a thread, a callback).
_STARTS = frozenset(
    {
        "create_task", "ensure_future", "start_soon", "start", "submit", "run_in_executor",
        "call_soon", "call_later", "call_at", "call_soon_threadsafe", "run_sync", "Thread",
        "gather",
    }
)  # fmt: skip


def _fresh(receiver: ast.expr, node: ast.Await, ctx: Checker) -> bool:
    """A lock made in this function just before its ``acquire()``, with no ``await`` and nothing
    started in between: no other code has run that could hold it (anyio's
    ``lock = Lock(); await lock.acquire()``)."""
    if not isinstance(receiver, ast.Name):
        return False
    bound = ctx.binding(receiver.id)
    scope = ctx.function
    if bound is None or bound.call is None or bound.node is None or scope is None:
        return False
    made = getattr(bound.node, "lineno", None)
    if made is None or not any(receiver.id in s.bindings for s in ctx.functions[-1:]):
        return False
    for other in ast.walk(scope.node):
        line = getattr(other, "lineno", 0)
        if not made < line < node.lineno:
            continue
        if type(other) in (ast.Await, ast.AsyncWith, ast.AsyncFor):
            return False
        if type(other) is ast.Call:
            func = other.func
            called = func.attr if type(func) is ast.Attribute else getattr(func, "id", "")
            if called in _STARTS:
                return False
    return True


def _handshake(receiver: ast.expr, node: ast.Await, ctx: Checker) -> bool:
    """A start handshake: the event is set by the first statement of a function defined in this
    test and handed to a task or thread before the wait (``started.set()`` at the top of the
    task's coroutine): it is set as soon as that code runs at all."""
    scope = ctx.function
    if scope is None:
        return False
    target = ast.unparse(receiver)
    setters = set()
    for inner in ast.walk(scope.node):
        if inner is scope.node or type(inner) not in (ast.FunctionDef, ast.AsyncFunctionDef):
            continue
        first = _first_statement(inner.body)  # type: ignore[attr-defined]
        if (
            type(first) is ast.Expr
            and type(first.value) is ast.Call
            and type(first.value.func) is ast.Attribute
            and first.value.func.attr == "set"
            and ast.unparse(first.value.func.value) == target
        ):
            setters.add(inner.name)  # type: ignore[attr-defined]
    if not setters:
        return False
    return any(
        type(other) is ast.Name
        and other.id in setters
        and type(other.ctx) is ast.Load
        and other.lineno < node.lineno
        for other in ast.walk(scope.node)
    )


def _first_statement(body: list[ast.stmt]) -> ast.stmt | None:
    """The first statement that does something (not a docstring, ``nonlocal`` or ``global``)."""
    for statement in body:
        if type(statement) in (ast.Nonlocal, ast.Global):
            continue
        if type(statement) is ast.Expr and type(statement.value) is ast.Constant:
            continue
        return statement
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
