"""Knowledge shared by several rules: which APIs create tasks, mocks, sessions, and patch things."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._semantic import argument, const_str, keyword, receiver_name

MOCK_CLASSES = frozenset(
    {
        "unittest.mock.Mock",
        "unittest.mock.MagicMock",
        "unittest.mock.NonCallableMock",
        "unittest.mock.NonCallableMagicMock",
    }
)
ALL_MOCK_FACTORIES = MOCK_CLASSES | {"unittest.mock.AsyncMock", "unittest.mock.create_autospec"}
ASYNC_MOCK = "unittest.mock.AsyncMock"

PATCHERS = ("unittest.mock.patch", "unittest.mock.patch.object", "pytest.MonkeyPatch.setattr")

SESSION_CONSTRUCTORS = {
    "aiohttp.ClientSession": "await {name}.close()",
    "httpx.AsyncClient": "await {name}.aclose()",
}

TASK_FACTORIES = frozenset({"asyncio.create_task", "asyncio.ensure_future"})
LOOP_FACTORIES = frozenset(
    {"asyncio.get_running_loop()", "asyncio.get_event_loop()", "asyncio.new_event_loop()"}
)


def is_loop_receiver(node: ast.expr, ctx: Checker) -> bool:
    """Whether ``node`` is (very likely) an event loop: bound to ``get_running_loop()`` and
    friends, or named ``loop``/``self._loop``/``event_loop``."""
    if ctx.resolve(node) in LOOP_FACTORIES:
        return True
    name = receiver_name(node)
    if name is None:
        return False
    if type(node) is ast.Name:
        bound = ctx.binding(name)
        if bound is not None and bound.callee is not None:
            return bound.target in LOOP_FACTORIES
    return name.lower().endswith("loop")


def task_call(call: ast.Call, ctx: Checker) -> str | None:
    """The spelling of a task-creating call (``"asyncio.create_task()"``,
    ``"loop.create_task()"``), or ``None`` if ``call`` does not create a task."""
    callee = ctx.resolve(call.func)
    if callee in TASK_FACTORIES:
        return f"{callee}()"
    func = call.func
    if (
        type(func) is ast.Attribute
        and func.attr in ("create_task", "ensure_future")
        and is_loop_receiver(func.value, ctx)
    ):
        return f"{ast.unparse(func)}()"
    return None


def patched_target(call: ast.Call, ctx: Checker) -> tuple[str, str] | None:
    """What a patching call replaces, as ``(module, attribute)``.

    Understands ``patch("asyncio.sleep")`` (also as decorator, and ``mocker.patch``),
    ``patch.object(asyncio, "sleep")`` and both forms of ``monkeypatch.setattr``. A string target
    is split at its last dot, so ``patch("app.worker.asyncio.sleep")`` gives
    ``("app.worker.asyncio", "sleep")``.
    """
    callee = ctx.resolve(call.func)
    if callee is None:
        return None
    if callee == "unittest.mock.patch" or (
        callee == "pytest.MonkeyPatch.setattr"
        and call.args
        and const_str(call.args[0]) is not None
        and len(call.args) <= 2
    ):
        target = const_str(argument(call, 0, "target"))
        if target is None or "." not in target:
            return None
        module, _, attr = target.rpartition(".")
        return module, attr
    if callee in ("unittest.mock.patch.object", "pytest.MonkeyPatch.setattr"):
        if len(call.args) < 2:
            return None
        owner_name = ctx.resolve(call.args[0])
        attr_name = const_str(call.args[1])
        if owner_name is None or attr_name is None:
            return None
        return owner_name, attr_name
    return None


def targets_asyncio(module: str) -> bool:
    """Whether a patch target module is the asyncio module (directly or through an import)."""
    return module == "asyncio" or module.endswith(".asyncio")


def mock_spec(call: ast.Call) -> ast.expr | None:
    """The ``spec``/``spec_set`` of a mock constructor call, if given."""
    return keyword(call, "spec") or keyword(call, "spec_set")
