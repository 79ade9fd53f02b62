"""LW102: ``await asyncio.sleep(<constant>)`` used in a test as a barrier before an assertion."""

from __future__ import annotations

import ast
import re

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import argument, keyword

INFO = RuleInfo(
    code="LW102",
    name="sleep-as-barrier",
    summary="`await asyncio.sleep(<constant>)` as a synchronisation barrier before an assertion",
    fix="unsafe",
    # Opt-in: whether a sleep is a guess depends on what runs meanwhile, which a file does not
    # show (a task's first step or an earlier timer always runs first: such a sleep cannot
    # flake). On real suites 2 of 13 findings were actionable; the doctor, which also runs the
    # suite, selects it.
    default=False,
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


def _waits(stmt: ast.stmt, ctx: Checker) -> bool:
    """``await loopwarden.eventually(...)`` or ``await loopwarden.settle()``."""
    if type(stmt) is not ast.Expr or type(stmt.value) is not ast.Await:
        return False
    call = stmt.value.value
    return type(call) is ast.Call and ctx.resolve(call.func) in _WAITS


_WAITS = frozenset({"loopwarden.eventually", "loopwarden.settle"})


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
    """``with loopwarden.virtual_time():``, or another library's virtual clock on the loop
    (aiotools' ``with VirtualClock().patch_loop():``): sleeps inside move a virtual clock."""
    for item in stmt.items:  # type: ignore[attr-defined]
        expr = item.context_expr
        if type(expr) is not ast.Call:
            continue
        if ctx.resolve(expr.func) == "loopwarden.virtual_time":
            return True
        if type(expr.func) is ast.Attribute and expr.func.attr == "patch_loop":
            return True
    return False


def _barrier(
    sleep: ast.stmt, check: ast.stmt, between: list[ast.stmt], delay: float, ctx: Checker
) -> bool:
    """Whether the sleep is a guess at how long background work takes before ``check``.

    Not when (each seen on real suites): the check is that something did *not* happen (the
    sleep is the window for it to go wrong); the check, or a statement between, awaits or
    does something (that is the real wait, or the sleep only sets up a scenario); or the test
    is about time passing (a TTL, an expiry, a timeout, an interval: the sleep is the time the
    check is about).
    """
    if _negated(check):
        return False
    for stmt in (*between, check):
        for node in ast.walk(stmt):
            if type(node) is ast.Await or (type(node) is ast.Call and stmt is not check):
                return False
    return not _about_time(sleep, delay, ctx)


def _negated(check: ast.stmt) -> bool:
    if type(check) is ast.Expr:
        func = check.value.func  # type: ignore[attr-defined]
        return func.attr.startswith(("assert_not", "assert_never"))  # type: ignore[no-any-return]
    return _negative(check.test)  # type: ignore[attr-defined]


# Words that say a test is about time passing: the sleep is then the time its check is about.
# Matched against the words of names (``cache_ttl``, ``expireAt`` -> cache, ttl; expire, at).
_TIME_WORDS = frozenset(
    {
        "ttl", "ttls", "lease", "leases", "interval", "intervals", "period", "periodic",
        "delay", "delays", "delayed", "deadline", "heartbeat", "keepalive", "idle", "stale",
        "retry", "retries", "backoff", "rate", "elapsed", "monotonic", "clock", "timeout",
        "timeouts", "timer", "timers", "age", "aging", "later",
    }
)  # fmt: skip
_TIME_PREFIXES = ("expir", "throttl", "debounc", "pexpir", "hexpir", "hpexpir")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _speaks_of_time(text: str) -> bool:
    if text == "time":  # loop.time(), time.time(); not virtual_time(), response_time
        return True
    for word in _WORD.findall(text):
        word = word.lower()
        if word in _TIME_WORDS or word.startswith(_TIME_PREFIXES):
            return True
    return False


def _about_time(sleep: ast.stmt, delay: float, ctx: Checker) -> bool:
    """The test speaks of time: a word of :data:`_TIME_WORDS` in its name, or in a name, an
    attribute, a keyword or a string of a statement before the sleep (``cache.set(k, v,
    ttl=1)``, ``r.expire(k, 1)``, ``loop.time()``)."""
    scope = ctx.function
    if scope is None:
        return False
    if _speaks_of_time(scope.name):
        return True
    for stmt in getattr(scope.node, "body", ()):
        if stmt.lineno >= sleep.lineno:
            break
        for node in ast.walk(stmt):
            if getattr(node, "lineno", sleep.lineno) >= sleep.lineno:
                continue
            t = type(node)
            if t is ast.Name:
                text = node.id  # type: ignore[attr-defined]
            elif t is ast.Attribute:
                text = node.attr  # type: ignore[attr-defined]
            elif t is ast.keyword:
                text = node.arg or ""  # type: ignore[attr-defined]
            elif t is ast.Constant and type(node.value) is str:  # type: ignore[attr-defined]
                text = node.value  # type: ignore[attr-defined]
            else:
                continue
            if _speaks_of_time(text):
                return True
    return False


def _scan(body: list[ast.stmt], ctx: Checker) -> None:
    for index, stmt in enumerate(body):
        delay = _sleep_delay(stmt, ctx)
        if delay is not None:
            for later in body[index + 1 :]:
                if _asserts(later):
                    if _barrier(stmt, later, body[index + 1 : body.index(later)], delay, ctx):
                        _report(stmt, later, delay, ctx, adjacent=later is body[index + 1])
                    break
                if _sleep_delay(later, ctx) is not None or _waits(later, ctx):
                    break  # the later sleep (or wait) is the one right before the assertion
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


def _report(stmt: ast.stmt, check: ast.stmt, delay: float, ctx: Checker, *, adjacent: bool) -> None:
    await_node = stmt.value  # type: ignore[attr-defined]
    call = await_node.value
    shown = f"{delay:g}"
    message = (
        f"test `{ctx.function_name()}` sleeps {shown} s and hopes the work is done before the "
        f"check on line {check.lineno}: on a loaded CI machine it is not (flaky failure), "
        f"elsewhere the time is wasted; wait for the condition instead"
    )
    if ctx.resolve(call.func) != "asyncio.sleep":
        # loopwarden's waits need an asyncio loop: no fix for trio (or anyio's trio backend).
        ctx.report(
            INFO.code,
            await_node,
            f"{message}: an event the code sets, or a poll of the condition under a timeout",
        )
        return
    advice = (
        f"{message}: `await loopwarden.eventually(lambda: <the check>)` waits until it holds "
        "(also for a timer the code sets, which `settle()` does not wait for)"
    )
    condition = _condition(check, ctx) if adjacent else None
    if condition is None:
        # A check of what did *not* happen, one that changes what it checks (a queue's get), or
        # one after other statements: waiting for it could pass too early or break the test.
        ctx.report(INFO.code, await_node, advice)
        return
    loopwarden, imports = ctx.module_alias("loopwarden")
    # Never shorter than the sleep it replaces: what held after it holds within the timeout.
    timeout = f", timeout={2 * delay:g}" if 2 * delay > _EVENTUALLY_TIMEOUT else ""
    fix = ctx.make_fix(
        "replace_call",
        "unsafe",
        call.func,
        "wait for the check with `await loopwarden.eventually(...)` instead of sleeping",
        args=(f"{loopwarden}.eventually(lambda: {condition}{timeout})",),
        imports=imports,
    )
    ctx.report(INFO.code, await_node, advice, fix)


# loopwarden.eventually()'s default timeout, in seconds.
_EVENTUALLY_TIMEOUT = 5.0
# Calls a check may make and still be called again and again while waiting: they change nothing.
_PURE_CALLS = frozenset(
    {"len", "isinstance", "all", "any", "sorted", "list", "set", "tuple", "dict", "bool", "str"}
)


def _condition(check: ast.stmt, ctx: Checker) -> str | None:
    """The source of what ``check`` waits for, as ``eventually()``'s predicate; None when waiting
    for it would not keep the test's meaning: a check that nothing happened (it holds at once),
    or one that may change what it checks when called again (an await, a call that is not a
    known pure one)."""
    if type(check) is ast.Expr:
        # mock.assert_called_once_with(...): raises until it holds, then returns None.
        call = check.value
        func = call.func  # type: ignore[attr-defined]
        if func.attr.startswith(("assert_not", "assert_never")) or not _pure(call, ctx, check):
            return None
        source = ast.get_source_segment(ctx.source, call)
        return None if source is None else f"{source} or True"
    test = check.test  # type: ignore[attr-defined]
    if _negative(test) or not _pure(test, ctx, check):
        return None
    return ast.get_source_segment(ctx.source, test)


def _negative(test: ast.expr) -> bool:
    """``not x``, ``x is None``, ``x == 0``, ``x == []``: holds before anything happens."""
    if type(test) is ast.UnaryOp and type(test.op) is ast.Not:
        return True
    if type(test) is ast.Compare and len(test.ops) == 1:
        right = test.comparators[0]
        if type(test.ops[0]) in (ast.Is, ast.Eq) and (
            (type(right) is ast.Constant and right.value in (None, 0, False, "", b""))
            or (type(right) in (ast.List, ast.Tuple, ast.Dict, ast.Set) and not _items(right))
        ):
            return True
    return False


def _items(node: ast.expr) -> list[ast.AST]:
    return list(getattr(node, "elts", None) or getattr(node, "keys", None) or [])


def _pure(expr: ast.expr, ctx: Checker, check: ast.stmt) -> bool:
    for node in ast.walk(expr):
        t = type(node)
        if t in (ast.Await, ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Lambda):
            return False
        if t is ast.Call and node is not getattr(check, "value", None):
            func = node.func  # type: ignore[attr-defined]
            if not (type(func) is ast.Name and func.id in _PURE_CALLS):
                return False
    return True


def check_function(node: ast.AsyncFunctionDef, ctx: Checker) -> None:
    """Scan a test's statement blocks for sleeps followed by an assertion."""
    scope = ctx.function
    if scope is not None and scope.is_test and not _in_virtual_time(node, ctx):
        _scan(node.body, ctx)


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("sleep",), ("assert",))
HANDLERS = ((ast.AsyncFunctionDef, check_function),)
