"""LW112: an HTTP client session created in a test or fixture and never closed."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import walk_function
from loopwarden.lint.rules._common import SESSION_CONSTRUCTORS

INFO = RuleInfo(
    code="LW112",
    name="unclosed-session",
    summary="`aiohttp.ClientSession()`/`httpx.AsyncClient()` never closed",
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Classify where a session constructor's result goes."""
    scope = ctx.test_scope()
    if scope is None:
        return
    callee = ctx.resolve(node.func)
    if callee not in SESSION_CONSTRUCTORS:
        return
    if callee == "httpx.AsyncClient" and not ctx.in_coroutine and not scope.fixture:
        # Made in a sync test (of its configuration): it opens nothing until a request is
        # awaited, which the test cannot do, and it could not close it either. (A sync fixture
        # that hands one out is still reported.)
        return
    function = ctx.function
    if function is not None and function.raises_depth:
        return  # inside `with pytest.raises(...)`: the constructor is expected to fail
    parent = ctx.parent
    t = type(parent)
    if t is ast.withitem or t is ast.Call or t is ast.keyword or t is ast.Await:
        return  # `async with`, or handed to something that owns it
    if t in (ast.Assign, ast.AnnAssign) and function is not None:
        targets = parent.targets if t is ast.Assign else [parent.target]  # type: ignore[union-attr]
        if len(targets) == 1 and type(targets[0]) is ast.Name:
            function.data.setdefault(INFO.code, []).append((targets[0].id, node, callee))
        return
    if t is ast.Return and scope.fixture:
        _report(node, callee, "session", f"fixture `{scope.name}` returns it", ctx)
    elif t is ast.Yield and scope.fixture:
        _report(node, callee, "session", f"fixture `{scope.name}` yields it unnamed", ctx)
    elif t is ast.Attribute:
        _report(node, callee, "session", "it is used once and dropped", ctx)


def _report(node: ast.AST, callee: str, name: str, why: str, ctx: Checker) -> None:
    close = SESSION_CONSTRUCTORS[callee].format(name=name)
    short = callee.rpartition(".")[2]
    ctx.report(
        INFO.code,
        node,
        f'`{callee}()` is never closed ({why}): aiohttp logs "Unclosed client session" and httpx '
        f"leaks its connection pool, usually blamed on a later test; use `async with "
        f"{short}() as {name}:`, or in a fixture `yield` it and `{close}` after the `yield`",
    )


def check_exit(node: ast.AST, ctx: Checker) -> None:
    """Sessions bound to a name must be closed, entered, or handed over in the same function."""
    scope = ctx.function
    if scope is None or INFO.code not in scope.data:
        return
    nodes = walk_function(node)
    # Closing can happen in a nested callback (`request.addfinalizer(lambda: ...)`, a helper).
    everything = list(ast.walk(node))
    for name, call, callee in scope.data[INFO.code]:
        if _handled(nodes, name, call) or _closed_anywhere(everything, name):
            continue
        returned = any(
            type(n) is ast.Return and type(n.value) is ast.Name and n.value.id == name
            for n in nodes
        )
        if returned and not scope.fixture:
            continue  # a helper hands it to its caller
        why = f"fixture `{scope.name}` returns it" if returned else "no close in this function"
        _report(call, callee, name, why, ctx)


def _closed_anywhere(nodes: list[ast.AST], name: str) -> bool:
    for n in nodes:
        if type(n) is ast.Attribute and n.attr in ("close", "aclose"):
            value = n.value
            if type(value) is ast.Name and value.id == name:
                return True
    return False


def _handled(nodes: list[ast.AST], name: str, call: ast.Call) -> bool:
    for n in nodes:
        t = type(n)
        if t is ast.Call:
            func = n.func  # type: ignore[attr-defined]
            if (
                type(func) is ast.Attribute
                and func.attr in ("close", "aclose")
                and type(func.value) is ast.Name
                and func.value.id == name
            ):
                return True
            for arg in (*n.args, *(k.value for k in n.keywords)):  # type: ignore[attr-defined]
                if type(arg) is ast.Name and arg.id == name:
                    return True  # handed over (AsyncExitStack, a wrapper that closes it)
        elif t is ast.withitem:
            expr = n.context_expr  # type: ignore[attr-defined]
            if type(expr) is ast.Name and expr.id == name:
                return True
        elif t in (ast.Assign, ast.AnnAssign):
            value = n.value  # type: ignore[attr-defined]
            if type(value) is ast.Name and value.id == name:
                return True  # stored elsewhere: someone else may close it
    return False


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("ClientSession", "AsyncClient"),)
CALLS = (("callee", tuple(SESSION_CONSTRUCTORS), check_call),)
EXIT = check_exit
