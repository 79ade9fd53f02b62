"""LW114: ``asyncio.get_event_loop()`` in async code or tests."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo

INFO = RuleInfo(
    code="LW114",
    name="get-event-loop",
    summary="`asyncio.get_event_loop()` in async code or tests",
    fix="safe",
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag ``get_event_loop()``; inside a coroutine, fix it to ``get_running_loop()``."""
    if node.args or node.keywords or ctx.resolve(node.func) != "asyncio.get_event_loop":
        return
    if ctx.in_coroutine:
        imports: tuple[str, ...]
        func = node.func
        if type(func) is ast.Attribute:
            spelling, imports = ast.unparse(func.value) + ".get_running_loop", ()
        else:
            asyncio, imports = ctx.module_alias("asyncio")
            spelling = f"{asyncio}.get_running_loop"
        fix = ctx.make_fix(
            "replace_callee",
            "safe",
            node.func,
            "use `asyncio.get_running_loop()`",
            args=(spelling,),
            imports=imports,
        )
        ctx.report(
            INFO.code,
            node,
            f"`asyncio.get_event_loop()` in `async def {ctx.function_name()}`: use "
            f"`asyncio.get_running_loop()`, which always returns the loop running this code "
            f"(`get_event_loop()` is deprecated for this use)",
            fix,
        )
    elif ctx.is_test_file:
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
