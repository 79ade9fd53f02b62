"""LW105: a test or fixture manages its own event loop."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import PARAMETER

INFO = RuleInfo(
    code="LW105",
    name="own-loop-in-test",
    summary="test or fixture creates, sets or runs its own event loop",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 0 of 20 findings
    # read were actionable (bench/README-lint.md); a default rule needs 90 %.
    default=False,
)

# (``asyncio.set_event_loop(loop)`` only makes an existing loop current — a fixture's — and is
# not reported: the loop it is given was made, and is reported, where it was made.)
_LOOP_CALLS = frozenset({"asyncio.new_event_loop", "asyncio.run", "asyncio.Runner"})
_LOOP_METHODS = frozenset({"run_until_complete", "run_forever"})
# Fixtures a test may request without sharing anything with the loop it makes.
_PLAIN_FIXTURES = frozenset(
    {
        "caplog", "capsys", "capfd", "capsysbinary", "capfdbinary", "monkeypatch", "recwarn",
        "request", "tmp_path", "tmpdir", "tmp_path_factory", "tmpdir_factory", "pytestconfig",
        "record_property", "self", "cls",
    }
)  # fmt: skip


def _deliberate(scope_node: ast.AST, scope_name: str, is_fixture: bool, ctx: Checker) -> bool:
    """A loop made on purpose, which shares nothing it should not: a fixture that provides a
    loop (``selector_loop``, an ``event_loop`` override); a test of what happens across loops
    (it makes two or more, or one per thread); a sync test that runs its own coroutine on its
    own loop and requests no fixture that could hold another loop's objects."""
    if is_fixture:
        return "loop" in scope_name.lower()
    made = 0
    for node in ast.walk(scope_node):
        nested = type(node) in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        if (
            nested
            and node is not scope_node
            and any(
                type(n) is ast.Call and ctx.resolve(n.func) in _LOOP_CALLS for n in ast.walk(node)
            )
        ):
            return True  # a loop made inside a function it runs elsewhere (a thread's)
        if type(node) is ast.Call and ctx.resolve(node.func) in _LOOP_CALLS:
            made += 1
    if made >= 2 or len(_driven_loops(scope_node)) >= 2:
        return True  # (it makes or runs two loops: what happens across loops is its subject)
    args = getattr(scope_node, "args", None)
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)} if args else set()
    names -= _parametrized(scope_node)
    return type(scope_node) is ast.FunctionDef and names <= _PLAIN_FIXTURES


def _driven_loops(function: ast.AST) -> set[str]:
    """The names of the loops the function runs (``<name>.run_until_complete(...)``): its own
    and, in a test across loops, one a fixture gave it."""
    return {
        n.func.value.id
        for n in ast.walk(function)
        if type(n) is ast.Call
        and type(n.func) is ast.Attribute
        and n.func.attr in _LOOP_METHODS
        and type(n.func.value) is ast.Name
    }


def _parametrized(function: ast.AST) -> set[str]:
    """The argument names ``@pytest.mark.parametrize("a, b", ...)`` gives the test (values, not
    fixtures)."""
    names: set[str] = set()
    for decorator in getattr(function, "decorator_list", ()):
        if type(decorator) is not ast.Call or not decorator.args:
            continue
        func = decorator.func
        if type(func) is ast.Attribute and func.attr == "parametrize":
            first = decorator.args[0]
            if type(first) is ast.Constant and type(first.value) is str:
                names.update(n.strip() for n in first.value.split(","))
            elif type(first) in (ast.List, ast.Tuple):
                names.update(
                    e.value
                    for e in first.elts  # type: ignore[attr-defined]
                    if type(e) is ast.Constant and type(e.value) is str
                )
    return names


def _alias_of_parameter(name: str, ctx: Checker) -> bool:
    """``loop = temp_event_loop``, where ``temp_event_loop`` is a parameter of the function
    that binds ``loop``: a fixture's loop under a local name (aiosmtpd's protocol fixtures)."""
    for scope in reversed(ctx.functions):
        if name not in scope.bindings:
            continue
        values = [
            node.value
            for node in ast.walk(scope.node)
            if type(node) is ast.Assign
            and any(type(t) is ast.Name and t.id == name for t in node.targets)
        ]
        return bool(values) and all(
            type(v) is ast.Name and scope.bindings.get(v.id) is PARAMETER for v in values
        )
    return False


def _never_runs(scope_node: ast.AST, ctx: Checker) -> bool:
    """A loop made and only compared or handed over, never run, set or entered (a test that a
    library refuses a loop it was not bound to)."""
    for node in ast.walk(scope_node):
        if type(node) is not ast.Call:
            continue
        func = node.func
        if type(func) is ast.Attribute and func.attr in (*_LOOP_METHODS, "run"):
            return False
        if ctx.resolve(func) in ("asyncio.set_event_loop", "asyncio.run", "asyncio.Runner"):
            return False
    return True


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag loop management inside tests and fixtures."""
    scope = ctx.test_scope()
    if scope is None or not ctx.is_test_file:
        return  # plugins' own fixtures (pytest-aiohttp's `loop`) are the loop's owners
    callee = ctx.resolve(node.func)
    if callee in _LOOP_CALLS:
        what = f"{callee}()"
    elif type(node.func) is ast.Attribute and node.func.attr in _LOOP_METHODS:
        receiver = node.func.value
        if type(receiver) is ast.Name and (
            ctx.binding(receiver.id) is PARAMETER or _alias_of_parameter(receiver.id, ctx)
        ):
            return  # a loop a fixture provides (pytest-aiohttp's `loop`): not the test's own
        if (
            type(receiver) is ast.Attribute
            and type(receiver.value) is ast.Name
            and receiver.value.id == "self"
        ):
            return  # the test case's loop, set up by its base class (unittest style)
        what = f"loop.{node.func.attr}()"
    else:
        return
    if scope.data.get(INFO.code):
        return  # one finding per test or fixture: the loop management is one decision
    kind = "fixture" if scope.fixture else "test"
    # Running a loop inside a running one always fails, deliberate or not.
    running = ctx.in_coroutine and what in ("asyncio.run()", "loop.run_until_complete()")
    if not running and _deliberate(scope.node, scope.name, scope.fixture, ctx):
        return
    if what == "asyncio.new_event_loop()" and not scope.fixture and _never_runs(scope.node, ctx):
        return  # (a later call that runs a loop is still the finding)
    scope.data[INFO.code] = True
    if running:
        error = (
            "asyncio.run() cannot be called from a running event loop"
            if what == "asyncio.run()"
            else "This event loop is already running"
        )
        message = (
            f'`{what}` inside `async def {scope.name}` fails with "RuntimeError: {error}"; '
            f"`await` the coroutine instead"
        )
    else:
        message = (
            f"{kind} `{scope.name}` manages its own event loop with `{what}`: what it creates "
            f"belongs to that loop, so sharing it with async fixtures or tests fails with "
            f'"attached to a different loop", and the runner\'s leak and hang guards never see '
            f"it; make it `async def` and use the loop it runs in (`asyncio.get_running_loop()`)"
        )
    ctx.report(INFO.code, node, message)


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("new_event_loop", "set_event_loop", "run", "Runner"),)
CALLS = (("callee", tuple(_LOOP_CALLS), check_call), ("method", tuple(_LOOP_METHODS), check_call))
