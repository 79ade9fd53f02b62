"""LW106: pytest-asyncio leftovers — the removed ``event_loop`` fixture, an ``event_loop_policy``
override, an async fixture whose scope is wider than its loop scope."""

from __future__ import annotations

import ast
import os

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import SCOPE_ORDER, FunctionScope

INFO = RuleInfo(
    code="LW106",
    name="pytest-asyncio-leftover",
    summary="removed `event_loop` fixture, `event_loop_policy` override, or loop scope too narrow",
    fix="safe",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 7 of 13 findings
    # read were actionable (8 of 14 with the tuning corpus; bench/README-lint.md): it errs where
    # a project keeps its own `event_loop` fixture. A default rule needs 90 %.
    default=False,
)


def _mentions_event_loop(
    node: ast.FunctionDef | ast.AsyncFunctionDef, scope: FunctionScope
) -> bool:
    """Whether the function is, requests or uses ``event_loop`` (what the project decides)."""
    if node.name == "event_loop" or "event_loop" in scope.usefixtures:
        return True
    return any(
        a.arg == "event_loop"
        for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
    )


def _uses_name(node: ast.AST, name: str) -> bool:
    # Nested functions and lambdas included: a closure reading the parameter needs it.
    return any(type(n) is ast.Name and n.id == name for n in ast.walk(node))


def _only_sync_tests_here(ctx: Checker) -> bool:
    """A test module (not a conftest.py) with no async test and no asyncio marker: its own
    ``event_loop`` fixture is a plain fixture its sync tests drive themselves (asgiref's
    benchmarks call ``event_loop.run_until_complete``); nothing there runs in pytest-asyncio's
    loop, before 1.0 or after."""
    if os.path.basename(ctx.path) == "conftest.py":
        return False
    cached = ctx.data.get("lw106_sync_only")
    if cached is None:
        cached = not any(
            (type(n) is ast.AsyncFunctionDef and n.name.startswith("test"))
            or (type(n) is ast.Attribute and n.attr == "asyncio")
            for n in ast.walk(ctx.tree)
        )
        ctx.data["lw106_sync_only"] = cached
    return bool(cached)


def _removal_applies(ctx: Checker) -> bool:
    """Whether the project may run on pytest-asyncio 1.x, which removed ``event_loop``.

    A project that pins an earlier version (``pytest-asyncio<0.22``), or is pytest-asyncio
    itself at an earlier version, has the fixture: its uses work there, and ``loopwarden
    migrate`` moves them when the project upgrades.
    """
    project = ctx.project()
    return project is None or any(project.allows("pytest-asyncio", version) for version in _ONE_X)


# Versions of pytest-asyncio that no longer have the ``event_loop`` fixture (1.0 and after).
_ONE_X = ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "2.0.0", "99.0.0")


def check_function(node: ast.FunctionDef | ast.AsyncFunctionDef, ctx: Checker) -> None:
    """Check a test's or fixture's name, parameters and decorator."""
    scope = ctx.function
    if scope is None or not scope.is_test_or_fixture:
        return
    removed = _removal_applies(ctx) if _mentions_event_loop(node, scope) else True
    # Only a test suite's fixtures override pytest-asyncio's; a plugin defines its own.
    if (
        scope.fixture
        and node.name == "event_loop"
        and ctx.is_test_file
        and removed
        and not _only_sync_tests_here(ctx)
    ):
        ctx.report(
            INFO.code,
            node,
            "fixture overrides `event_loop`, which pytest-asyncio 1.0 removed: pytest-asyncio no "
            "longer runs tests in it, so objects built on this loop meet tests running in another "
            '("attached to a different loop"); delete it and choose the loop\'s scope with '
            "`@pytest.mark.asyncio(loop_scope=...)` or `asyncio_default_test_loop_scope`",
        )
    elif scope.fixture and node.name == "event_loop_policy" and ctx.is_test_file:
        ctx.report(
            INFO.code,
            node,
            "overriding the `event_loop_policy` fixture is deprecated by pytest-asyncio "
            "(PytestDeprecationWarning) and will be removed; customise loop creation with the "
            "`pytest_asyncio_loop_factories` hook instead",
        )
    for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
        if arg.arg != "event_loop" or "event_loop" in ctx.defined_fixtures or not removed:
            continue
        fix = None
        if type(node) is ast.AsyncFunctionDef and not _uses_name(node, "event_loop"):
            fix = ctx.make_fix(
                "remove_param", "safe", arg, "remove the unused `event_loop` parameter"
            )
        ctx.report(
            INFO.code,
            arg,
            f"`{scope.name}` requests the `event_loop` fixture, which pytest-asyncio 1.0 removed: "
            f"setup fails with \"fixture 'event_loop' not found\"; inside an async test or "
            f"fixture use `asyncio.get_running_loop()`",
            fix,
        )
    if removed and "event_loop" in scope.usefixtures and "event_loop" not in ctx.defined_fixtures:
        ctx.report(
            INFO.code,
            node,
            f"`{scope.name}` requests the `event_loop` fixture with `usefixtures`, but "
            f"pytest-asyncio 1.0 removed it: setup fails with \"fixture 'event_loop' not found\"; "
            f"remove it from `usefixtures`",
        )
    loop_scope = scope.fixture_loop_scope
    if (
        scope.fixture
        and scope.is_async
        and loop_scope in SCOPE_ORDER
        and SCOPE_ORDER.get(scope.fixture_scope, 0) > SCOPE_ORDER[loop_scope]
    ):
        ctx.report(
            INFO.code,
            node,
            f'async fixture `{scope.name}` has scope="{scope.fixture_scope}" but '
            f'loop_scope="{loop_scope}": a {scope.fixture_scope}-scoped fixture cannot run in a '
            f'loop that is replaced every {loop_scope}, and setup fails with "ScopeMismatch"; '
            f'use loop_scope="{scope.fixture_scope}" (or wider)',
        )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("event_loop", "loop_scope"),)
HANDLERS = ((ast.FunctionDef, check_function), (ast.AsyncFunctionDef, check_function))
