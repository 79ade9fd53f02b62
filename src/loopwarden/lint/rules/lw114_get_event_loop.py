"""LW114: ``asyncio.get_event_loop()`` in sync test code."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo

INFO = RuleInfo(
    code="LW114",
    name="get-event-loop",
    summary="`asyncio.get_event_loop()` in sync test code, where no loop is running",
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag ``get_event_loop()`` in sync test code.

    Inside a coroutine it returns the running loop, on every Python version, without a
    warning: ``get_running_loop()`` says the same more plainly, but nothing breaks, so it is
    not reported (on real suites, such reports were style, not defects).
    """
    if node.args or node.keywords or ctx.resolve(node.func) != "asyncio.get_event_loop":
        return
    if ctx.in_coroutine or not ctx.is_test_file:
        return
    ctx.report(
        INFO.code,
        node,
        '`asyncio.get_event_loop()` in sync test code warns "DeprecationWarning: There is no '
        'current event loop" (Python 3.12-3.13) and raises "RuntimeError: There is no '
        'current event loop" on 3.14; what you bind to the loop it returns later fails with '
        '"attached to a different loop"; make the test `async def` and use '
        "`asyncio.get_running_loop()`",
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("get_event_loop",),)
CALLS = (("callee", ("asyncio.get_event_loop",), check_call),)
