"""LW104: a ``Mock``/``MagicMock`` awaited or used with ``async with``/``async for``; an
``AsyncMock`` standing in for an aiohttp method that returns an async context manager."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import Fix, RuleInfo
from loopwarden.lint._semantic import Binding, const_str, dotted, keyword, walk_function
from loopwarden.lint.rules._common import (
    ASYNC_MOCK,
    MOCK_CLASSES,
    PATCHERS,
    mock_spec,
    patched_target,
)

INFO = RuleInfo(
    code="LW104",
    name="sync-mock-awaited",
    summary="`Mock`/`MagicMock` awaited, or `AsyncMock` where an async context manager is returned",
    fix="safe",
)

# aiohttp.ClientSession methods that return an async context manager *synchronously*.
_AIOHTTP_CM_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "ws_connect"}
)
_CONFIGURING = ("return_value", "side_effect")
_SAFE_SYNC_USES = ("assert_", "reset_mock", "call_args", "call_count", "called", "mock_calls")


@dataclass(slots=True)
class _Awaited:
    name: str
    node: ast.AST
    binding: Binding
    path: str


@dataclass(slots=True)
class _CmConfig:
    """``m.get.return_value.__aenter__... = x`` on ``m = AsyncMock()``: the test expects
    ``m.get(...)`` to return an async context manager synchronously, which it does not."""

    name: str
    method: str
    node: ast.AST


@dataclass(slots=True)
class _State:
    configured: set[str] = field(default_factory=set)
    awaited: list[_Awaited] = field(default_factory=list)
    cm_configs: list[_CmConfig] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)
    # ``x.attr = AsyncMock(...)`` in this function: the call, by ``x.attr``.
    async_mocks: dict[str, ast.Call] = field(default_factory=dict)


def _state(ctx: Checker) -> _State | None:
    scope = ctx.function
    if scope is None:
        return None
    state = scope.data.get(INFO.code)
    if state is None:
        state = scope.data[INFO.code] = _State()
    assert isinstance(state, _State)
    return state


def _mock_binding(name: str, ctx: Checker, classes: frozenset[str]) -> Binding | None:
    bound = ctx.binding(name)
    if bound is None or bound.callee not in classes or bound.call is None or bound.via_with:
        return None
    call = bound.call
    # A spec with async methods makes children AsyncMocks; a configured return value may be
    # awaitable: either way awaiting can work, so stay quiet.
    if mock_spec(call) is not None or call.args:  # the first positional argument is the spec
        return None
    if any(keyword(call, k) is not None for k in (*_CONFIGURING, "wraps", "spec_set")):
        return None
    return bound


def _unspecced_async_mock(name: str, ctx: Checker) -> bool:
    """Whether ``name`` is bound to ``AsyncMock()`` without a spec (positional or keyword): all
    its children are ``AsyncMock`` too, so calling ``name.get(...)`` returns a coroutine."""
    bound = ctx.binding(name)
    return (
        bound is not None
        and bound.callee == ASYNC_MOCK
        and bound.call is not None
        and not bound.via_with
        and not bound.call.args
        and mock_spec(bound.call) is None
    )


def check_assign(node: ast.Assign, ctx: Checker) -> None:
    """Remember configured mock attributes; flag ``session.get = AsyncMock()``; note
    ``m.get.return_value.__aenter__.return_value = x`` on an ``AsyncMock`` session."""
    for target in node.targets:
        path = dotted(target) if type(target) is ast.Attribute else None
        if path is None:
            continue
        state = _state(ctx)
        if state is not None:
            state.configured.add(path)
            parts = path.split(".")
            if (
                len(parts) >= 4
                and parts[1] in _AIOHTTP_CM_METHODS
                and parts[2] == "return_value"
                and parts[3] in ("__aenter__", "__aexit__")
                and _unspecced_async_mock(parts[0], ctx)
            ):
                state.cm_configs.append(_CmConfig(parts[0], parts[1], node))
        assert type(target) is ast.Attribute
        is_async_mock = type(node.value) is ast.Call and ctx.resolve(node.value.func) == ASYNC_MOCK
        if state is not None and is_async_mock:
            assert type(node.value) is ast.Call
            state.async_mocks[path] = node.value
        elif state is not None:
            state.async_mocks.pop(path, None)  # replaced by something else
        if target.attr in _AIOHTTP_CM_METHODS and is_async_mock and _is_session(target.value, ctx):
            if state is not None:
                state.reported.add(path)
            _report_async_cm(node, path, ctx)


def _is_session(node: ast.expr, ctx: Checker) -> bool:
    if type(node) is ast.Name:
        bound = ctx.binding(node.id)
        if bound is not None and bound.callee is not None:
            if bound.callee.startswith("aiohttp.ClientSession"):
                return True
            if bound.call is not None and bound.callee in (*MOCK_CLASSES, ASYNC_MOCK):
                spec = mock_spec(bound.call)
                return spec is not None and (ctx.resolve(spec) or "").startswith(
                    "aiohttp.ClientSession"
                )
    name = dotted(node)
    return name is not None and "session" in name.rpartition(".")[2].lower()


def _report_async_cm(node: ast.AST, what: str, ctx: Checker) -> None:
    ctx.report(
        INFO.code,
        node,
        f"`{what}` is an `AsyncMock`, but aiohttp's `ClientSession.{what.rpartition('.')[2]}()` "
        f"returns an async context manager without being awaited: `async with "
        f"session.{what.rpartition('.')[2]}(...)` fails with \"TypeError: 'coroutine' object "
        f'does not support the asynchronous context manager protocol"; use a `MagicMock` whose '
        f"`return_value.__aenter__.return_value` is the response",
    )


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag ``patch("aiohttp.ClientSession.get", new_callable=AsyncMock)`` and friends; note
    ``m.configure_mock(...)``."""
    func = node.func
    if type(func) is ast.Attribute and func.attr in ("configure_mock", "attach_mock"):
        base = dotted(func.value)
        state = _state(ctx)
        if base is not None and state is not None:
            state.configured.add(base)
        return
    target = patched_target(node, ctx)
    if target is None or target[1] not in _AIOHTTP_CM_METHODS:
        return
    if not target[0].startswith("aiohttp.") or not target[0].endswith("ClientSession"):
        return
    new = keyword(node, "new_callable")
    replacement = keyword(node, "new")
    if new is None and replacement is None and len(node.args) >= 2:
        replacement = node.args[-1] if const_str(node.args[0]) is not None else None
    uses_async_mock = (new is not None and ctx.resolve(new) == ASYNC_MOCK) or (
        type(replacement) is ast.Call and ctx.resolve(replacement.func) == ASYNC_MOCK
    )
    if uses_async_mock:
        _report_async_cm(node, f"{target[0].rpartition('.')[2]}.{target[1]}", ctx)


def check_await(node: ast.Await, ctx: Checker) -> None:
    """Record ``await m()`` / ``await m.method()`` / ``await m`` on a plain mock."""
    value = node.value
    if type(value) is ast.Call:
        value = value.func
    path = dotted(value)
    if path is None:
        return
    name = path.partition(".")[0]
    bound = _mock_binding(name, ctx, MOCK_CLASSES)
    state = _state(ctx)
    if bound is None or state is None:
        return
    state.awaited.append(_Awaited(name, node, bound, path))


def check_async_with(node: ast.AsyncWith, ctx: Checker) -> None:
    """``async with m`` on a ``Mock`` (not ``MagicMock``, which supports it) fails at once;
    ``async with session.get()`` on an ``AsyncMock`` session fails too."""
    for item in node.items:
        _check_async_protocol(item.context_expr, "async with", ctx)


def check_async_for(node: ast.AsyncFor, ctx: Checker) -> None:
    """``async for x in m`` on a plain ``Mock`` fails at once."""
    _check_async_protocol(node.iter, "async for", ctx)


def _context_manager_fix(made: ast.Call, ctx: Checker) -> Fix | None:
    """``AsyncMock(return_value=R)`` → ``MagicMock(return_value=async_context_manager(returns=R))``:
    calling it returns, without awaiting, what ``async with`` (and ``await``) accept. Unsafe: an
    ``assert_awaited…`` on the mock no longer exists."""
    if made.args or any(k.arg != "return_value" for k in made.keywords):
        return None  # a spec, a side_effect…: the right shape is not one expression away
    value = keyword(made, "return_value")
    magic, magic_import = _imported_name(ctx, "unittest.mock", "MagicMock")
    acm, acm_import = _imported_name(ctx, "loopwarden.mock", "async_context_manager")
    returns = f"returns={ast.unparse(value)}" if value is not None else ""
    return ctx.make_fix(
        "replace_call",
        "unsafe",
        made.func,
        "return an async context manager without awaiting (loopwarden.mock)",
        args=(f"{magic}(return_value={acm}({returns}))",),
        imports=(*magic_import, *acm_import),
    )


def _imported_name(ctx: Checker, module: str, name: str) -> tuple[str, tuple[str, ...]]:
    """How the file spells ``module.name``, and the import it needs when it does not yet."""
    for local, target in ctx.imports.items():
        if target == f"{module}.{name}" and ctx.binding(local) is None:
            return local, ()
    return name, (f"from {module} import {name}",)


def _check_async_protocol(expr: ast.expr, statement: str, ctx: Checker) -> None:
    call_func = expr.func if type(expr) is ast.Call else None
    base = call_func if call_func is not None else expr
    if type(base) is ast.Name:
        bound = _mock_binding(
            base.id, ctx, frozenset({"unittest.mock.Mock", "unittest.mock.NonCallableMock"})
        )
        if bound is not None:
            protocol = (
                "asynchronous context manager" if statement == "async with" else "`__aiter__`"
            )
            ctx.report(
                INFO.code,
                expr,
                f"`{statement} {ast.unparse(expr)}` uses a plain `Mock`, which has no magic "
                f"methods: it fails with \"TypeError: 'Mock' object does not support the "
                f'{protocol} protocol"; use `MagicMock()` (it supports `{statement}`)',
            )
        return
    if type(base) is ast.Attribute and statement == "async with" and call_func is not None:
        # ``x.get = AsyncMock(...)`` earlier in this function, then ``async with x.get(...)``:
        # calling an AsyncMock returns a coroutine, whatever it was configured to return.
        path = dotted(base)
        state = _state(ctx)
        if path is not None and state is not None and path not in state.reported:
            made = state.async_mocks.get(path)
            if made is not None:
                state.reported.add(path)
                ctx.report(
                    INFO.code,
                    expr,
                    f"`{path}` is an `AsyncMock` (set on line {made.lineno}): calling it returns a "
                    "coroutine, which `async with` cannot enter — \"TypeError: 'coroutine' object "
                    'does not support the asynchronous context manager protocol"; for a method '
                    "that returns an async context manager without being awaited (aiohttp's "
                    f"`session.get()`), use `{path} = MagicMock()` and set "
                    f"`{path}.return_value.__aenter__.return_value` to the response",
                    _context_manager_fix(made, ctx),
                )
                return
    if (
        type(base) is ast.Attribute
        and statement == "async with"
        and base.attr in _AIOHTTP_CM_METHODS
        and type(base.value) is ast.Name
    ):
        path = f"{base.value.id}.{base.attr}"
        state = _state(ctx) or _State()
        if (
            _unspecced_async_mock(base.value.id, ctx)
            and path not in state.configured
            and path not in state.reported
        ):
            state.reported.add(path)
            _report_async_cm(expr, path, ctx)


def _configured(path: str, configured: set[str]) -> bool:
    for done in configured:
        if done == path or done.startswith(path + ".") or path.startswith(done + "."):
            return True
    return False


def _fix_safety(scope_node: ast.AST, name: str) -> bool:
    """The fix is safe when the mock is only awaited or inspected: no synchronous call of a
    child (``m.method()`` would start returning a coroutine under ``AsyncMock``)."""
    awaited_calls: set[int] = set()
    nodes = walk_function(scope_node)
    for node in nodes:
        if type(node) is ast.Await and type(node.value) is ast.Call:
            awaited_calls.add(id(node.value))
    for node in nodes:
        if type(node) is not ast.Call or id(node) in awaited_calls:
            continue
        path = dotted(node.func)
        if path is None or not path.startswith(name + "."):
            continue
        attr = path.rpartition(".")[2]
        if not attr.startswith(_SAFE_SYNC_USES):
            return False
    return True


def check_exit(node: ast.AST, ctx: Checker) -> None:
    """Report the awaited plain mocks of a function, with the ``AsyncMock`` fix when safe."""
    scope = ctx.function
    if scope is None:
        return
    state: _State | None = scope.data.get(INFO.code)
    if state is None:
        return
    _report_cm_configs(state, ctx)
    for item in state.awaited:
        if _configured(item.path if item.path != item.name else item.name, state.configured):
            continue
        if item.path == item.name:
            what = (
                f"`await {item.name}`"
                if type(item.node) is ast.Await and type(item.node.value) is ast.Name
                else f"`await {item.name}(...)`"
            )
        else:
            what = f"`await {item.path}(...)`"
        callee = item.binding.callee or ""
        cls = callee.rpartition(".")[2]
        fix = None
        call = item.binding.call
        if (
            call is not None
            and any(b is item.binding for b in scope.bindings.values())
            and _fix_safety(scope.node, item.name)
            and item.path == item.name
            and type(item.node) is ast.Await
            and type(item.node.value) is ast.Call
        ):
            fix = _async_mock_fix(call, ctx)
        ctx.report(
            INFO.code,
            item.node,
            f"{what} on `{item.name} = {cls}()`, which is not awaitable: this fails with "
            f"\"TypeError: object {cls} can't be used in 'await' expression\"; use `AsyncMock()` "
            f"for things the code awaits",
            fix,
        )


def _report_cm_configs(state: _State, ctx: Checker) -> None:
    """``m.get.return_value.__aenter__.return_value = resp`` on ``m = AsyncMock()``, unless the
    function replaces ``m.get`` itself (``m.get = MagicMock()``) or already reported it."""
    for config in state.cm_configs:
        path = f"{config.name}.{config.method}"
        if path in state.configured or path in state.reported:
            continue
        state.reported.add(path)
        ctx.report(
            INFO.code,
            config.node,
            f"`{config.name}` is an `AsyncMock`, so `{path}(...)` returns a coroutine, never "
            f"`{path}.return_value`: the `__aenter__` configured here is never used, and "
            f"`async with {path}(...)` (aiohttp's `ClientSession.{config.method}()` returns its "
            f"async context manager without being awaited) fails with \"TypeError: 'coroutine' "
            f'object does not support the asynchronous context manager protocol"; make '
            f"`{config.name}` a `MagicMock()` (its `__aenter__` is already async), or set "
            f"`{path} = MagicMock()` first",
        )


def _async_mock_fix(call: ast.Call, ctx: Checker) -> Fix:
    spelling: str
    imports: tuple[str, ...]
    for local, target in ctx.imports.items():
        if target == ASYNC_MOCK and ctx.binding(local) is None:
            spelling, imports = local, ()
            break
    else:
        func = call.func
        if type(func) is ast.Attribute:
            base = dotted(func.value)
            spelling, imports = f"{base}.AsyncMock", ()
        else:
            spelling, imports = "AsyncMock", ("from unittest.mock import AsyncMock",)
    return ctx.make_fix(
        "replace_callee",
        "safe",
        call.func,
        f"use `{spelling}()`",
        args=(spelling,),
        imports=imports,
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("Mock",),)
HANDLERS = (
    (ast.Assign, check_assign),
    (ast.Await, check_await),
    (ast.AsyncWith, check_async_with),
    (ast.AsyncFor, check_async_for),
)
CALLS = (
    ("callee", PATCHERS, check_call),
    ("method", ("configure_mock", "attach_mock"), check_call),
)
EXIT = check_exit
