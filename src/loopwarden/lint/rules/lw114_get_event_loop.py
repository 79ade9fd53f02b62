"""LW114: ``asyncio.get_event_loop()`` in sync test code."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo

INFO = RuleInfo(
    code="LW114",
    name="get-event-loop",
    summary="`asyncio.get_event_loop()` in sync test code, where no loop is running",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 1 of 20 findings
    # read were actionable (bench/README-lint.md); a default rule needs 90 %.
    default=False,
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag ``get_event_loop()`` in sync test code.

    Inside a coroutine it returns the running loop, on every Python version, without a
    warning: ``get_running_loop()`` says the same more plainly, but nothing breaks, so it is
    not reported (on real suites, such reports were style, not defects).
    """
    if node.args or node.keywords or ctx.resolve(node.func) != "asyncio.get_event_loop":
        return
    if ctx.in_coroutine or not ctx.is_test_file or _used_elsewhere_only(ctx):
        return
    if _loop_set_before(node, ctx) or _helper_method(ctx) or _guarded(node, ctx):
        return
    ctx.report(
        INFO.code,
        node,
        "`asyncio.get_event_loop()` in sync test code, where no loop runs: it warns "
        '"DeprecationWarning: There is no current event loop" (Python 3.12-3.13) and raises '
        '"RuntimeError: There is no current event loop" on 3.14; what you bind to the loop it '
        'returns later fails with "attached to a different loop"; make the test `async def` '
        "and use `asyncio.get_running_loop()`",
    )


_DRIVES = frozenset({"run_until_complete", "run_forever"})
_ASYNCIO_POLICIES = frozenset(
    {"asyncio.DefaultEventLoopPolicy", "asyncio.DefaultEventLoopPolicy()", "None"}
)


_TEST_METHODS = ("test", "setup", "teardown")


def _helper_method(ctx: Checker) -> bool:
    """A method of a class that is not a test, a set-up or tear-down, nor a fixture: like a
    module-level helper, it runs where its callers run it, and real suites call such methods
    from the running loop (asyncssh's channel handlers and mocks built inside the connection)
    or after installing a loop (aiozmq's ``make_pubsub_pair``)."""
    outer = ctx.functions[0] if ctx.functions else None
    if outer is None or not ctx.class_stack or outer.is_test_or_fixture:
        return False
    name = getattr(outer.node, "name", "").lower()
    return not name.startswith(_TEST_METHODS)


def _loop_set_before(node: ast.Call, ctx: Checker) -> bool:
    """Whether the function set a current loop, or installed a policy of a library's own, on an
    earlier line (aiozmq's tests: ``set_event_loop_policy(ZmqEventLoopPolicy())``, whose
    ``get_event_loop()`` makes the loop): then the call returns that loop without a warning.
    asyncio's own default policy makes no loop there, so it does not count."""
    scope = ctx.functions[-1].node if ctx.functions else None
    if scope is None:
        return False
    for call in ast.walk(scope):
        if not isinstance(call, ast.Call) or call.lineno >= node.lineno or not call.args:
            continue
        callee = ctx.resolve(call.func)
        arg = call.args[0]
        if type(arg) is ast.Constant and arg.value is None:
            continue
        if callee == "asyncio.set_event_loop":
            return True
        if callee == "asyncio.set_event_loop_policy":
            target = arg.func if type(arg) is ast.Call else arg
            if ctx.resolve(target) not in _ASYNCIO_POLICIES:
                return True
    return False


# What a handler must catch to be ready for 3.14's "RuntimeError: There is no current event loop".
_CATCHES_RUNTIME_ERROR = frozenset({"RuntimeError", "Exception", "BaseException"})


def _guarded(node: ast.Call, ctx: Checker) -> bool:
    """Whether the call is in the body of a ``try`` whose handlers catch the ``RuntimeError``
    it raises on 3.14 where no loop is set: the code probes for a current loop and already
    handles each version (aiosmtpd's ``temp_event_loop`` saves a leftover loop so)."""
    scope = ctx.functions[-1].node if ctx.functions else ctx.tree
    for block in ast.walk(scope):
        if type(block) not in (ast.Try, ast.TryStar):
            continue
        body = block.body  # type: ignore[attr-defined]
        if not body or not body[0].lineno <= node.lineno <= (body[-1].end_lineno or 0):
            continue
        for handler in block.handlers:  # type: ignore[attr-defined]
            if handler.type is None:
                return True
            types = handler.type.elts if type(handler.type) is ast.Tuple else [handler.type]
            if any(
                type(t) is ast.Name and t.id in _CATCHES_RUNTIME_ERROR and ctx.binding(t.id) is None
                for t in types
            ):
                return True
    return False


def _used_elsewhere_only(ctx: Checker) -> bool:
    """Whether the call is in a module-level helper that nothing in its module uses.

    Tests and fixtures run with no loop, and so does what they call; but a helper module's
    function used only by other modules (aiomultiprocess passes ``initializer`` to a worker that
    sets a loop first) runs wherever its callers run it: unknown here, so not reported.
    """
    outer = ctx.functions[0] if ctx.functions else None
    if outer is None or outer.is_test_or_fixture or ctx.class_stack:
        return False
    node = outer.node
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    if any(type(n) is ast.Attribute and n.attr in _DRIVES for n in ast.walk(node)):
        return False  # it runs the loop itself: no loop can be running where it is called
    names = ctx.data.get("lw114_names")
    if names is None:
        names = ctx.data["lw114_names"] = {n.id for n in ast.walk(ctx.tree) if type(n) is ast.Name}
    return node.name not in names


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("get_event_loop",),)
CALLS = (("callee", ("asyncio.get_event_loop",), check_call),)
