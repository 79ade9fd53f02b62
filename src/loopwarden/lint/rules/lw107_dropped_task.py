"""LW107: a task created and dropped, or stored by a fixture and never stopped in its teardown."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import walk_function
from loopwarden.lint.rules._common import task_call

INFO = RuleInfo(
    code="LW107",
    name="dropped-task",
    summary="task created and dropped, or never cancelled/awaited by the fixture that made it",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 1 of 4 findings
    # read were actionable after a fix (bench/README-lint.md); a default rule needs 90 %.
    default=False,
    same_as=frozenset({"RUF006"}),  # ruff's asyncio-dangling-task
)


def _test_helper(call: ast.Call, ctx: Checker) -> bool:
    """Inside a test, a task running a coroutine the test defines for itself (a nested
    ``async def``) or a method of an object it holds (``queue.put(x)``, ``resp.release()``):
    on real suites these were helpers the test then waits on — held alive by the timer, queue
    or future they wait on, and finished before the test goes on. A task a test leaves pending
    is found at run time anyway, with its line, by the leak guard."""
    scope = ctx.test_scope()
    if scope is None or not scope.is_test:
        return False
    inner = ctx.function
    if inner is not None and inner is not scope and not inner.is_async:
        # A sync callback the test defines (handed to call_later, a signal, a thread): it cannot
        # await what it starts (aiohttp's do_release() starting resp.release()).
        return True
    coro = call.args[0] if call.args else None
    if type(coro) is not ast.Call:
        return True  # a coroutine object made elsewhere: what it runs is not known here
    func = coro.func
    if type(func) is ast.Attribute:
        # A method of an object the test holds; not a module's function (asyncio.sleep).
        return ctx.resolve(func) is None
    if type(func) is ast.Name:
        return any(func.id in scope_.bindings for scope_ in ctx.functions)
    return True


def _dead_helper(ctx: Checker) -> bool:
    """Inside a private helper function or method (``_name``) that nothing in its module names:
    it never runs, so its tasks never exist (janus's ``_test_repr_or_str``, whose callers are
    commented out)."""
    outer = ctx.functions[0] if ctx.functions else None
    if outer is None or outer.is_test_or_fixture:
        return False
    name = getattr(outer.node, "name", "")
    if not name.startswith("_") or name.startswith("__"):
        return False
    used = ctx.data.get("lw107_names")
    if used is None:
        used = ctx.data["lw107_names"] = set()
        for n in ast.walk(ctx.tree):
            if isinstance(n, ast.Name):
                used.add(n.id)
            elif isinstance(n, ast.Attribute):
                used.add(n.attr)
    return name not in used


def check_discarded(call: ast.Call, ctx: Checker) -> None:
    """A task-creating call whose result is discarded."""
    if _test_helper(call, ctx) or _dead_helper(ctx):
        return
    what = task_call(call, ctx)
    if what is None:
        return
    ctx.report(
        INFO.code,
        call,
        f"the task from `{what}` is dropped: the loop keeps only a weak reference, so it can be "
        f'garbage-collected mid-run ("Task was destroyed but it is pending!") and its exception '
        f"is never seen; keep a reference and await or cancel it, or use `asyncio.TaskGroup`",
    )


def check_assign(node: ast.Assign, ctx: Checker) -> None:
    """Remember tasks a fixture stores in a local name."""
    scope = ctx.function
    if scope is None or not scope.fixture or len(node.targets) != 1:
        return
    target = node.targets[0]
    if type(target) is not ast.Name or type(node.value) is not ast.Call:
        return
    what = task_call(node.value, ctx)
    if what is not None:
        scope.data.setdefault(INFO.code, []).append((target.id, node, what))


def check_exit(node: ast.AST, ctx: Checker) -> None:
    """A fixture with teardown code that never touches a task it started."""
    scope = ctx.function
    if scope is None or INFO.code not in scope.data:
        return
    nodes = walk_function(node)
    yields = [n for n in nodes if type(n) in (ast.Yield, ast.YieldFrom)]
    if not yields:
        return  # no teardown at all: LW115's case
    yield_line = min(getattr(y, "lineno", 0) for y in yields)
    body = getattr(node, "body", [])
    if not body or (getattr(body[-1], "end_lineno", 0) <= yield_line and _is_yield_stmt(body[-1])):
        return  # nothing after `yield`: LW115's case
    # Teardown may stop the task from a nested callback too, so every node counts here.
    everything = list(ast.walk(node))
    for name, assign, what in scope.data[INFO.code]:
        used_after = False
        escapes = False
        for n in everything:
            if type(n) is ast.Name and n.id == name and n is not assign.targets[0]:
                line = getattr(n, "lineno", 0)
                if line > yield_line:
                    used_after = True
                    break
        for y in yields:
            value = getattr(y, "value", None)
            if value is not None and any(
                type(n) is ast.Name and n.id == name for n in ast.walk(value)
            ):
                escapes = True
        if used_after or escapes or _escapes_before(nodes, name, assign):
            continue
        ctx.report(
            INFO.code,
            assign,
            f"fixture `{scope.name}` starts `{name} = {what}` but its teardown never cancels or "
            f"awaits it: the task keeps running into later tests, or is destroyed at loop close "
            f'("Task was destroyed but it is pending!"); after `yield`, call `{name}.cancel()` '
            f"and await it",
        )


def _is_yield_stmt(stmt: ast.stmt) -> bool:
    return type(stmt) is ast.Expr and type(stmt.value) in (ast.Yield, ast.YieldFrom)


def _escapes_before(nodes: list[ast.AST], name: str, assign: ast.Assign) -> bool:
    """The task is handed to something else (stored, passed to a call) that may own it."""
    for n in nodes:
        if type(n) is ast.Call:
            for arg in (*n.args, *(k.value for k in n.keywords)):
                if type(arg) is ast.Name and arg.id == name:
                    return True
        elif type(n) in (ast.Assign, ast.AugAssign) and n is not assign:
            value = getattr(n, "value", None)
            if value is not None and any(
                type(v) is ast.Name and v.id == name for v in ast.walk(value)
            ):
                return True
    return False


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("create_task", "ensure_future"),)
HANDLERS = ((ast.Assign, check_assign),)
CALLS = (("discarded", ("*",), check_discarded),)
EXIT = check_exit
