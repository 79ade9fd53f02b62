"""LW102: ``await asyncio.sleep(<constant>)`` used in a test as a barrier before an assertion."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import argument, keyword

INFO = RuleInfo(
    code="LW102",
    name="sleep-as-barrier",
    summary="`await asyncio.sleep(<constant>)` as a synchronisation barrier before an assertion",
    fix="unsafe",
)

_SLEEPS = frozenset({"asyncio.sleep", "anyio.sleep", "trio.sleep"})
_VIRTUAL_TIME_FIXTURES = frozenset({"clock"})
"""Requesting loopwarden's ``clock`` fixture switches virtual time on for the test."""


def _sleep_delay(stmt: ast.stmt, ctx: Checker) -> float | None:
    if type(stmt) is not ast.Expr or type(stmt.value) is not ast.Await:
        return None
    call = stmt.value.value
    if type(call) is not ast.Call or ctx.resolve(call.func) not in _SLEEPS:
        return None
    delay = argument(call, 0, "delay") or argument(call, 0, "seconds")
    if type(delay) is not ast.Constant or type(delay.value) not in (int, float):
        return None
    value = float(delay.value)  # type: ignore[arg-type]  # int or float, checked above
    return value if value > 0 else None


def _asserts(stmt: ast.stmt) -> bool:
    """A statement that checks something: ``assert``, or ``mock.assert_called_once()``…"""
    if type(stmt) is ast.Assert:
        return True
    if type(stmt) is ast.Expr and type(stmt.value) is ast.Call:
        func = stmt.value.func
        return type(func) is ast.Attribute and func.attr.startswith("assert_")
    return False


def _virtual_time_mark(exprs: list[ast.expr], ctx: Checker) -> bool | None:
    """``virtual_time=`` of a ``pytest.mark.loopwarden(...)`` among decorators or a
    ``pytestmark`` value, or ``None`` when none says."""
    stack = list(exprs)
    while stack:
        expr = stack.pop()
        if type(expr) in (ast.List, ast.Tuple):
            stack.extend(expr.elts)  # type: ignore[attr-defined]
            continue
        if type(expr) is not ast.Call or ctx.resolve(expr.func) != "pytest.mark.loopwarden":
            continue
        value = keyword(expr, "virtual_time")
        if type(value) is ast.Constant and type(value.value) is bool:
            return value.value
    return None


def _pytestmark(body: list[ast.stmt]) -> list[ast.expr]:
    return [
        stmt.value
        for stmt in body
        if type(stmt) is ast.Assign
        and any(type(t) is ast.Name and t.id == "pytestmark" for t in stmt.targets)
    ]


def _in_virtual_time(node: ast.AsyncFunctionDef, ctx: Checker) -> bool:
    """Whether the test runs under loopwarden's virtual time, as far as the file shows: the
    ``clock`` fixture, or ``pytest.mark.loopwarden(virtual_time=True)`` on the test, its class
    or the module (the nearest one that says wins). There a sleep moves the virtual clock at
    once: it is how a test lets time pass, not a guess at how long work takes."""
    args = node.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    scope = ctx.function
    usefixtures = scope.usefixtures if scope is not None else frozenset()
    if names & _VIRTUAL_TIME_FIXTURES or usefixtures & _VIRTUAL_TIME_FIXTURES:
        return True
    levels = [node.decorator_list]
    for cls in reversed(ctx.class_stack):
        levels.append([*cls.decorator_list, *_pytestmark(cls.body)])
    levels.append(_pytestmark(ctx.tree.body))
    for exprs in levels:
        said = _virtual_time_mark(exprs, ctx)
        if said is not None:
            return said
    return False


def _virtual_block(stmt: ast.stmt, ctx: Checker) -> bool:
    """``with loopwarden.virtual_time():``: sleeps inside move the virtual clock."""
    return any(
        type(item.context_expr) is ast.Call
        and ctx.resolve(item.context_expr.func) == "loopwarden.virtual_time"
        for item in stmt.items  # type: ignore[attr-defined]
    )


def _scan(body: list[ast.stmt], ctx: Checker) -> None:
    for index, stmt in enumerate(body):
        delay = _sleep_delay(stmt, ctx)
        if delay is not None:
            for later in body[index + 1 :]:
                if _asserts(later):
                    _report(stmt, later, delay, ctx)
                    break
                if _sleep_delay(later, ctx) is not None:
                    break  # the later sleep is the one right before the assertion
            continue
        t = type(stmt)
        # Loops are polls ("sleep until the condition holds"), not barriers: not descended.
        if (t is ast.With or t is ast.AsyncWith) and _virtual_block(stmt, ctx):
            continue
        if t is ast.If or t is ast.With or t is ast.AsyncWith:
            _scan(stmt.body, ctx)  # type: ignore[attr-defined]
            _scan(getattr(stmt, "orelse", []), ctx)
        elif t is ast.Try:
            _scan(stmt.body, ctx)  # type: ignore[attr-defined]
            _scan(stmt.finalbody, ctx)  # type: ignore[attr-defined]


def _report(stmt: ast.stmt, check: ast.stmt, delay: float, ctx: Checker) -> None:
    await_node = stmt.value  # type: ignore[attr-defined]
    call = await_node.value
    shown = f"{delay:g}"
    message = (
        f"test `{ctx.function_name()}` sleeps {shown} s and hopes the work is done before the "
        f"check on line {check.lineno}: on a loaded CI machine it is not (flaky failure), "
        f"elsewhere the time is wasted; wait for the condition instead"
    )
    if ctx.resolve(call.func) != "asyncio.sleep":
        # loopwarden.settle() needs an asyncio loop: no fix for trio (or anyio's trio backend).
        ctx.report(
            INFO.code,
            await_node,
            f"{message}: an event the code sets, or a poll of the condition under a timeout",
        )
        return
    loopwarden, imports = ctx.module_alias("loopwarden")
    fix = ctx.make_fix(
        "replace_call",
        "unsafe",
        call.func,
        "replace the sleep with `await loopwarden.settle()`",
        args=(f"{loopwarden}.settle()",),
        imports=imports,
    )
    ctx.report(
        INFO.code,
        await_node,
        f"{message}: `await loopwarden.settle()` or `await loopwarden.eventually(lambda: ...)`",
        fix,
    )


def check_function(node: ast.AsyncFunctionDef, ctx: Checker) -> None:
    """Scan a test's statement blocks for sleeps followed by an assertion."""
    scope = ctx.function
    if scope is not None and scope.is_test and not _in_virtual_time(node, ctx):
        _scan(node.body, ctx)


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("sleep",), ("assert",))
HANDLERS = ((ast.AsyncFunctionDef, check_function),)
