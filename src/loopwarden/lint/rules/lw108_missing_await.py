"""LW108: a coroutine function called without ``await``; the call does nothing."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import Binding

INFO = RuleInfo(
    code="LW108",
    name="missing-await",
    summary="coroutine called without `await`",
    fix="safe",
)

KNOWN_COROUTINES = frozenset(
    {
        "asyncio.sleep",
        "asyncio.wait_for",
        "asyncio.wait",
        "asyncio.open_connection",
        "asyncio.start_server",
        "asyncio.open_unix_connection",
        "asyncio.start_unix_server",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
        "asyncio.to_thread",
        "anyio.sleep",
        "loopwarden.settle",
        "loopwarden.eventually",
    }
)

# Coroutine methods of objects whose constructor we can see in the same function.
RESOURCE_COROUTINES: dict[str, frozenset[str]] = {
    "aiohttp.ClientSession": frozenset({"close"}),
    "httpx.AsyncClient": frozenset({"aclose"}),
    "websockets.connect": frozenset({"close", "send", "recv", "ping", "wait_closed"}),
    "websockets.asyncio.client.connect": frozenset({"close", "send", "recv", "ping"}),
    "websockets.client.connect": frozenset({"close", "send", "recv", "ping"}),
    "sqlalchemy.ext.asyncio.create_async_engine": frozenset({"dispose"}),
    "sqlalchemy.ext.asyncio.AsyncSession": frozenset({"close", "commit", "rollback", "execute"}),
    "asyncio.start_server": frozenset({"wait_closed", "serve_forever", "start_serving"}),
}


def _describe(call: ast.Call, ctx: Checker) -> str | None:
    func = call.func
    if type(func) is ast.Name:
        name = func.id
        if (
            name in ctx.module_async_functions
            and name not in ctx.module_sync_functions
            and ctx.binding(name) is None
        ):
            return f"`{name}()` is an `async def` in this module"
        callee = ctx.resolve(func)
        if callee in KNOWN_COROUTINES:
            return f"`{callee}()` is a coroutine function"
        return None
    if type(func) is not ast.Attribute:
        return None
    receiver = func.value
    if type(receiver) is ast.Name and receiver.id in ("self", "cls") and ctx.class_stack:
        own = ctx.class_async_methods.get(ctx.class_stack[-1].name, set())
        if func.attr in own:
            return f"`{receiver.id}.{func.attr}()` is an `async def` of this class"
        return None
    callee = ctx.resolve(func)
    if callee in KNOWN_COROUTINES:
        return f"`{callee}()` is a coroutine function"
    if func.attr == "aclose":
        return "`aclose()` is a coroutine method (async generators, httpx, `AsyncExitStack`)"
    if type(receiver) is ast.Name:
        bound = ctx.binding(receiver.id)
        if bound is not None and bound.callee is not None:
            methods = RESOURCE_COROUTINES.get(bound.callee)
            if methods is not None and func.attr in methods:
                cls = bound.callee.rpartition(".")[2]
                return f"`{func.attr}()` of `{cls}` (`{receiver.id}`) is a coroutine method"
        made = _own_class(bound, ctx)
        if made is not None and func.attr in ctx.class_async_methods[made]:
            return f"`{receiver.id}.{func.attr}()` is an `async def` of `{made}`, in this module"
    return None


def _own_class(bound: Binding | None, ctx: Checker) -> str | None:
    """The class of this module a name was bound to an instance of (``c = Client(...)``)."""
    if bound is None or bound.call is None or bound.via_with:
        return None
    if type(getattr(bound.node, "value", None)) is ast.Await:
        return None  # (the result of awaiting something: not known to be an instance)
    made = bound.call.func
    if type(made) is not ast.Name or made.id not in ctx.class_async_methods:
        return None
    if ctx.binding(made.id) is not None or made.id in ctx.imports:
        return None  # the name means something else here
    return made.id


def check_discarded(call: ast.Call, ctx: Checker) -> None:
    """A statement that only calls a coroutine function: the coroutine is created and dropped."""
    why = _describe(call, ctx)
    if why is None:
        return
    fix = None
    if ctx.in_coroutine:
        fix = ctx.make_fix("add_await", "safe", call.func, "add `await`")
        advice = "add `await`"
    else:
        advice = f"make `{ctx.function_name()}` `async def` and `await` it"
    ctx.report(
        INFO.code,
        call,
        f"{why}, called without `await`: it does nothing: the body never runs, and Python warns "
        f'"RuntimeWarning: coroutine ... was never awaited" later, far from here; {advice}',
        fix,
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("async", "aclose", "settle", "eventually"),)
CALLS = (("discarded", ("*",), check_discarded),)
