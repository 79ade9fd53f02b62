"""LW113: cancellation swallowed by ``except CancelledError`` or a catch-all in a loop."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import TIMEOUT_CONTEXTS

INFO = RuleInfo(
    code="LW113",
    name="swallowed-cancellation",
    summary="`CancelledError` swallowed",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 1 of 6 findings
    # read were actionable (bench/README-lint.md; 1 of 1 after a fix made from those very
    # readings, which proves little); a default rule needs 90 %.
    default=False,
    same_as=frozenset({"ASYNC103", "ASYNC104"}),  # flake8-async: a cancellation not re-raised
)

_CANCELLED = frozenset({"asyncio.CancelledError", "concurrent.futures.CancelledError"})
_CATCH_ALL = frozenset({"builtins.BaseException"})
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_AWAITING_TASKS = frozenset(
    {"asyncio.gather", "asyncio.wait_for", "asyncio.wait", "asyncio.shield"}
)


def _walk(nodes: list[ast.stmt]) -> list[ast.AST]:
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(nodes)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _NESTED))
    return out


def _caught(handler: ast.ExceptHandler, ctx: Checker) -> set[str]:
    if handler.type is None:
        return {"builtins.BaseException"}
    types = handler.type.elts if type(handler.type) is ast.Tuple else [handler.type]
    return {name for t in types if (name := ctx.resolve(t)) is not None}


def _can_be_cancelled(body: list[ast.stmt], ctx: Checker) -> bool:
    """The body suspends (so a cancellation can arrive) in a way that is not the idiom for
    collecting a task we cancelled ourselves: ``task.cancel(); try: await task; except
    CancelledError: pass``."""
    suspends = False
    for node in _walk(body):
        t = type(node)
        if t is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            if type(func) is ast.Attribute and func.attr == "cancel":
                return False  # this code cancels a task itself: the error it catches is that one
            if (
                type(func) is ast.Attribute
                and func.attr in ("athrow", "throw")
                and node.args  # type: ignore[attr-defined]
                and _is_cancelled_error(node.args[0], ctx)  # type: ignore[attr-defined]
            ):
                # `await agen.athrow(CancelledError())`: it throws the cancellation itself (to
                # end a generator, faust's stream tests), and catches that one back.
                return False
        if t is ast.AsyncFor:
            suspends = True
        elif t is ast.AsyncWith and not all(
            type(item.context_expr) is ast.Call
            and ctx.resolve(item.context_expr.func) in TIMEOUT_CONTEXTS
            for item in node.items  # type: ignore[attr-defined]
        ):
            suspends = True  # entering a timeout scope does not suspend; other managers may
        if t is ast.Await:
            value = node.value  # type: ignore[attr-defined]
            if type(value) in (ast.Name, ast.Attribute):
                continue  # awaiting an existing task or future
            if (
                type(value) is ast.Call
                and ctx.resolve(value.func) in _AWAITING_TASKS
                and all(type(a) in (ast.Name, ast.Attribute, ast.Starred) for a in value.args)
            ):
                continue
            suspends = True
    return suspends


def _is_cancelled_error(node: ast.expr, ctx: Checker) -> bool:
    """``CancelledError`` or ``CancelledError(...)``."""
    target = node.func if type(node) is ast.Call else node
    return ctx.resolve(target) in _CANCELLED


_RAISING_CALLS = frozenset(
    {"pytest.fail", "pytest.skip", "pytest.xfail", "pytest.exit", "sys.exit", "os._exit"}
)


def _reraises(handler: ast.ExceptHandler, ctx: Checker) -> bool:
    for node in _walk(handler.body):
        if type(node) is ast.Raise:
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if ctx.resolve(func) in _RAISING_CALLS:
                return True
            # `self._convert_socket_error(exc)`, `reraise(exc)`: helpers that raise for us.
            called = str(func.attr if type(func) is ast.Attribute else getattr(func, "id", ""))
            if (
                handler.name is not None
                and any(word in called.lower() for word in _RAISING_WORDS)
                and any(type(a) is ast.Name and a.id == handler.name for a in node.args)
            ):
                return True
    return False


_RAISING_WORDS = ("raise", "convert", "throw")
_KEEPING_METHODS = frozenset({"append", "add", "extend", "set_exception", "put_nowait", "put"})


def _defers(handler: ast.ExceptHandler, ctx: Checker) -> bool:
    """The handler keeps the exception to raise it later (``AsyncExitStack.__aexit__`` style):
    ``sys.exc_info()``, ``pending = exc``, ``errors.append(exc)``, ``fut.set_exception(exc)``."""
    name = handler.name
    for node in _walk(handler.body):
        t = type(node)
        if t is ast.Call:
            if ctx.resolve(node.func) == "sys.exc_info":  # type: ignore[attr-defined]
                return True
            func = node.func  # type: ignore[attr-defined]
            if (
                name is not None
                and type(func) is ast.Attribute
                and func.attr in _KEEPING_METHODS
                and any(type(a) is ast.Name and a.id == name for a in node.args)  # type: ignore[attr-defined]
            ):
                return True
        elif t is ast.Assign and name is not None:
            value = node.value  # type: ignore[attr-defined]
            if type(value) is ast.Name and value.id == name:
                return True
    return False


def _leaves_loop(handler: ast.ExceptHandler) -> bool:
    return any(type(n) in (ast.Break, ast.Return) for n in _walk(handler.body))


def _uncancels(handler: ast.ExceptHandler) -> bool:
    """``asyncio.current_task().uncancel()`` in the handler: the documented way to decide, on
    purpose, that a cancellation is handled (a task that retries after a timeout)."""
    return any(
        type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "uncancel"
        for node in _walk(handler.body)
    )


def _probe(ctx: Checker) -> bool:
    """A coroutine a test defines for itself (``async def worker(): ...`` inside the test): how
    it answers a cancellation is what the test examines (it records it, resists it, lets it go),
    not code whose shutdown the suite depends on. Likewise a method of a class in a test module
    whose name says it is about cancellation (asyncssh's ``_CancellationResistantServerAuth``,
    "a model of an application callback which catches task cancellation")."""
    if any(scope.is_test for scope in ctx.functions[:-1]):
        return True
    return ctx.is_test_file and any("cancel" in cls.name.lower() for cls in ctx.class_stack)


def check_try(node: ast.Try, ctx: Checker) -> None:
    """Inspect each handler of a ``try`` in a coroutine."""
    if not ctx.in_coroutine or _probe(ctx):
        return
    body_checked: bool | None = None
    scope = ctx.function
    for handler in node.handlers:
        caught = _caught(handler, ctx)
        cancelled = bool(caught & _CANCELLED)
        catch_all = bool(caught & _CATCH_ALL)
        if not cancelled and not catch_all:
            continue
        if _reraises(handler, ctx) or _defers(handler, ctx) or _uncancels(handler):
            continue
        if body_checked is None:
            body_checked = _can_be_cancelled(node.body, ctx)
        if not body_checked:
            return
        if cancelled:
            ctx.report(
                INFO.code,
                handler,
                "`except CancelledError` without `raise` swallows the cancellation: "
                "`task.cancel()`, `asyncio.timeout()` and `wait_for()` can no longer stop this "
                "code, so shutdown and test teardown hang waiting for it; clean up, then `raise`",
            )
            return
        if scope is not None and scope.loop_depth > 0 and not _leaves_loop(handler):
            what = "bare `except:`" if handler.type is None else "`except BaseException`"
            ctx.report(
                INFO.code,
                handler,
                f"{what} inside a loop catches `CancelledError` and carries on: cancelling this "
                f"task never ends the loop, so shutdown and test teardown hang; catch `Exception` "
                f"instead, or re-raise `asyncio.CancelledError`",
            )
            return


def check_with(node: ast.With, ctx: Checker) -> None:
    """``with contextlib.suppress(CancelledError):`` around an await."""
    if not ctx.in_coroutine or _probe(ctx):
        return
    for item in node.items:
        expr = item.context_expr
        if type(expr) is not ast.Call or ctx.resolve(expr.func) != "contextlib.suppress":
            continue
        if any(ctx.resolve(a) in _CANCELLED for a in expr.args) and _can_be_cancelled(
            node.body, ctx
        ):
            ctx.report(
                INFO.code,
                expr,
                "`suppress(CancelledError)` around an `await` swallows the cancellation: "
                "`task.cancel()` and timeouts can no longer stop this code, so teardown hangs; "
                "only suppress it around `await task` for a task you cancelled yourself",
            )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("async",), ("CancelledError", "except"))
HANDLERS = ((ast.Try, check_try), (ast.With, check_with))
