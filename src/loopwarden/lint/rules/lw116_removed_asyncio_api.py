"""LW116: asyncio APIs that Python 3.14 deprecates and 3.16 removes."""

from __future__ import annotations

import ast
import weakref

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo

INFO = RuleInfo(
    code="LW116",
    name="removed-asyncio-api",
    summary="the event loop policy API or `asyncio.iscoroutinefunction`: deprecated in Python "
    "3.14, removed in 3.16",
    fix="unsafe",
)

_POLICY = frozenset(
    {
        "asyncio.set_event_loop_policy",
        "asyncio.get_event_loop_policy",
        "asyncio.AbstractEventLoopPolicy",
        "asyncio.DefaultEventLoopPolicy",
        "asyncio.WindowsSelectorEventLoopPolicy",
        "asyncio.WindowsProactorEventLoopPolicy",
        "asyncio.events.AbstractEventLoopPolicy",
        "asyncio.events.BaseDefaultEventLoopPolicy",
    }
)
_ISCOROUTINEFUNCTION = frozenset(
    {"asyncio.iscoroutinefunction", "asyncio.coroutines.iscoroutinefunction"}
)

# The line spans of `if` statements that look at the Python version or at what asyncio has
# (`sys.version_info`, `hasattr(asyncio, ...)`), per file: code in them knows what it does.
_GUARDED: weakref.WeakKeyDictionary[Checker, list[tuple[int, int]]] = weakref.WeakKeyDictionary()


def check_if(node: ast.If | ast.IfExp, ctx: Checker) -> None:
    """Remember a version check's span."""
    for part in ast.walk(node.test):
        if (type(part) is ast.Attribute and part.attr == "version_info") or (
            type(part) is ast.Call
            and type(part.func) is ast.Name
            and part.func.id in ("hasattr", "getattr")
            and part.args
            and ctx.resolve(part.args[0]) == "asyncio"
        ):
            end = getattr(node, "end_lineno", None) or node.lineno
            _GUARDED.setdefault(ctx, []).append((node.lineno, end))
            return


def check_name(node: ast.Name | ast.Attribute, ctx: Checker) -> None:
    """Flag a use of a deprecated name."""
    name = ctx.resolve(node)
    if name is None or (name not in _POLICY and name not in _ISCOROUTINEFUNCTION):
        return
    line = node.lineno
    if any(start <= line <= end for start, end in _GUARDED.get(ctx, ())):
        return
    short = name.rpartition(".")[2]
    if name in _ISCOROUTINEFUNCTION:
        fix = None
        parent = ctx.parent
        if type(parent) is ast.Call and parent.func is node:  # (a call: its callee is replaced)
            inspect, imports = ctx.module_alias("inspect")
            fix = ctx.make_fix(
                "replace_callee",
                "unsafe",
                node,
                "use `inspect.iscoroutinefunction`",
                args=(f"{inspect}.iscoroutinefunction",),
                imports=imports,
            )
        ctx.report(
            INFO.code,
            node,
            "`asyncio.iscoroutinefunction()` is deprecated since Python 3.14 (a "
            "DeprecationWarning) and removed in 3.16; use `inspect.iscoroutinefunction()`",
            fix,
        )
        return
    ctx.report(
        INFO.code,
        node,
        f"`asyncio.{short}` is deprecated since Python 3.14 (a DeprecationWarning) and removed in "
        "3.16, with the whole event loop policy API; choose the loop where it is made: "
        "`asyncio.run(main(), loop_factory=...)`, `asyncio.Runner(loop_factory=...)`, and in "
        "tests pytest-asyncio's `pytest_asyncio_loop_factories` hook or loopwarden's runner",
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("EventLoopPolicy", "event_loop_policy", "iscoroutinefunction"),)
HANDLERS = (
    (ast.If, check_if),
    (ast.IfExp, check_if),
    (ast.Name, check_name),
    (ast.Attribute, check_name),
)
