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
)

_LOOP_CALLS = frozenset(
    {"asyncio.new_event_loop", "asyncio.set_event_loop", "asyncio.run", "asyncio.Runner"}
)
_LOOP_METHODS = frozenset({"run_until_complete", "run_forever"})


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
        if type(receiver) is ast.Name and ctx.binding(receiver.id) is PARAMETER:
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
    scope.data[INFO.code] = True
    kind = "fixture" if scope.fixture else "test"
    if ctx.in_coroutine and what in ("asyncio.run()", "loop.run_until_complete()"):
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
