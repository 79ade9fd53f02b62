"""The shared semantic model every rule reads: canonical names and the scope stack.

One model is built during the single traversal of a file (see :mod:`loopwarden.lint._checker`), so
rules never walk the tree again to learn what ``aio.sleep`` or ``loop`` refers to:

* **Canonical names.** ``import asyncio as aio`` makes ``aio.sleep`` resolve to ``"asyncio.sleep"``;
  ``from time import sleep`` makes ``sleep`` resolve to ``"time.sleep"``. A local bound to a call
  resolves to that call: after ``loop = asyncio.get_running_loop()``, ``loop.create_task`` resolves
  to ``"asyncio.get_running_loop().create_task"``. The pytest fixtures ``mocker`` and
  ``monkeypatch`` resolve to their types when they are parameters.
* **Scopes.** A stack of :class:`FunctionScope` records whether we are in a test, a fixture (with
  its scope, ``autouse`` and loop scope), an ``async def``, a loop, or under a timeout.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Canonical spellings of names that several modules export.
_PREFIX_ALIASES: tuple[tuple[str, str], ...] = (
    ("mock.", "unittest.mock."),
    ("asyncio.exceptions.", "asyncio."),
    ("asyncio.tasks.", "asyncio."),
    ("asyncio.events.", "asyncio."),
    ("asyncio.locks.", "asyncio."),
    ("asyncio.queues.", "asyncio."),
    ("asyncio.futures.", "asyncio."),
    ("asyncio.runners.", "asyncio."),
    ("asyncio.timeouts.", "asyncio."),
    ("pytest_mock.MockerFixture.patch", "unittest.mock.patch"),
    ("pytest_mock.MockerFixture.", "unittest.mock."),
    ("_pytest.monkeypatch.MonkeyPatch.", "pytest.MonkeyPatch."),
    ("concurrent.futures._base.CancelledError", "asyncio.CancelledError"),
)

# Fixture parameters whose type pytest (or pytest-mock) guarantees.
_KNOWN_PARAMETERS: dict[str, str] = {
    "mocker": "pytest_mock.MockerFixture",
    "monkeypatch": "pytest.MonkeyPatch",
}

_BUILTINS = frozenset({"open", "input", "BaseException", "Exception"})

FIXTURE_DECORATORS = frozenset({"pytest.fixture", "pytest_asyncio.fixture"})
SCOPE_ORDER = {"function": 0, "class": 1, "module": 2, "package": 3, "session": 4}
TIMEOUT_CONTEXTS = frozenset(
    {
        "asyncio.timeout",
        "asyncio.timeout_at",
        "async_timeout.timeout",
        "async_timeout.timeout_at",
        "anyio.fail_after",
        "anyio.move_on_after",
        "trio.fail_after",
        "trio.move_on_after",
        "loopwarden.timeout",
    }
)


_CANONICAL_CACHE: dict[str, str] = {}


def canonical(name: str) -> str:
    """Normalise a dotted name to the spelling rules compare against.

    Args:
        name: A dotted name such as ``"mock.patch"`` or ``"asyncio.exceptions.CancelledError"``.

    Returns:
        The canonical spelling, e.g. ``"unittest.mock.patch"``, ``"asyncio.CancelledError"``.
    """
    found = _CANONICAL_CACHE.get(name)
    if found is not None:
        return found
    result = name
    for prefix, replacement in _PREFIX_ALIASES:
        if name.startswith(prefix):
            result = replacement + name[len(prefix) :]
            break
    if len(_CANONICAL_CACHE) < 100_000:
        _CANONICAL_CACHE[name] = result
    return result


class Binding:
    """What a local name was last bound to, when that tells us something.

    A name bound to a call is resolved lazily: most bindings are never asked about, and
    resolving every assignment's callee up front was a measurable part of the traversal.

    Args:
        target: Canonical value when known up front (a fixture parameter's type), else ``None``
            (which still shadows imports of the same name).
        node: The statement that bound the name.
        call: The call node, if the name was bound to a call (possibly awaited).
        via_with: ``True`` when bound by ``with``/``async with ... as name``.
        resolver: Resolves ``call.func`` to a canonical name when first needed.
    """

    __slots__ = ("_callee", "_resolver", "_target", "call", "node", "via_with")

    def __init__(
        self,
        target: str | None,
        node: ast.AST | None,
        call: ast.Call | None = None,
        via_with: bool = False,
        resolver: Callable[[ast.expr], str | None] | None = None,
    ) -> None:
        self._target = target
        self._callee: str | None = None
        self._resolver = resolver if call is not None else None
        self.node = node
        self.call = call
        self.via_with = via_with

    def _resolve(self) -> None:
        resolver, self._resolver = self._resolver, None
        if resolver is not None and self.call is not None:
            self._callee = resolver(self.call.func)
            self._target = self._callee + "()" if self._callee is not None else None

    @property
    def callee(self) -> str | None:
        """Canonical callee of the call the name was bound to (``"asyncio.Event"``), if any."""
        if self._resolver is not None:
            self._resolve()
        return self._callee

    @property
    def target(self) -> str | None:
        """Canonical value: ``"asyncio.Event()"`` for a call, a parameter's type, or ``None``."""
        if self._resolver is not None:
            self._resolve()
        return self._target


UNKNOWN = Binding(None, None)
"""A binding that only shadows: a loop variable, a nested ``def``, ``*args``."""

PARAMETER = Binding(None, None)
"""A plain function parameter (for a test or fixture: a value some fixture provides)."""


@dataclass(slots=True)
class FunctionScope:
    """One ``def``/``async def``/``lambda`` on the scope stack.

    Attributes:
        node: The function node.
        name: Its name (``"<lambda>"`` for lambdas).
        qualname: ``Class.method`` or ``name``.
        is_async: ``True`` for ``async def``.
        is_lambda: ``True`` for lambdas (never a coroutine, even inside ``async def``).
        is_test: A pytest/unittest test function.
        fixture: ``True`` when decorated with ``pytest.fixture``/``pytest_asyncio.fixture``.
        fixture_scope: The fixture's ``scope=`` (``"function"`` by default).
        fixture_autouse: The fixture's ``autouse=``.
        fixture_loop_scope: The fixture's explicit ``loop_scope=``, if any.
        marks: Names of the ``pytest.mark.*`` marks that apply: the function's decorators, its
            class's, and the module's ``pytestmark``.
        usefixtures: Fixture names requested with ``@pytest.mark.usefixtures(...)``.
        bindings: Local names bound in this function.
        loop_depth: How many ``for``/``while`` loops enclose the current node in this function.
        timeout_depth: How many timeout context managers enclose the current node.
        raises_depth: How many ``with pytest.raises(...)`` blocks enclose the current node.
        data: Per-rule scratch space, keyed by rule code.
    """

    node: ast.AST
    name: str
    qualname: str
    is_async: bool = False
    is_lambda: bool = False
    is_test: bool = False
    fixture: bool = False
    fixture_scope: str = "function"
    fixture_autouse: bool = False
    fixture_loop_scope: str | None = None
    marks: frozenset[str] = frozenset()
    usefixtures: frozenset[str] = frozenset()
    bindings: dict[str, Binding] = field(default_factory=dict)
    loop_depth: int = 0
    timeout_depth: int = 0
    raises_depth: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_test_or_fixture(self) -> bool:
        """Whether pytest runs this function as a test or a fixture."""
        return self.is_test or self.fixture


def dotted(node: ast.expr) -> str | None:
    """Spell an attribute chain rooted at a name (``a.b.c``) without resolving it.

    Args:
        node: An expression.

    Returns:
        The dotted text, or ``None`` when ``node`` is not a plain chain.
    """
    parts: list[str] = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def receiver_name(node: ast.expr) -> str | None:
    """The last identifier of a receiver: ``self._loop`` → ``"_loop"``, ``loop`` → ``"loop"``."""
    if type(node) is ast.Name:
        return node.id
    if type(node) is ast.Attribute:
        return node.attr
    return None


def const_str(node: ast.expr | None) -> str | None:
    """The value of a string constant, else ``None``."""
    if type(node) is ast.Constant and isinstance(node.value, str):
        return node.value
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value passed as keyword ``name`` to ``call``, else ``None``."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    """The value of a parameter passed positionally at ``index`` or as keyword ``name``."""
    if len(call.args) > index and type(call.args[index]) is not ast.Starred:
        return call.args[index]
    return keyword(call, name)


def walk_function(node: ast.AST) -> list[ast.AST]:
    """All nodes of a function body, not descending into nested functions, lambdas or classes.

    Used only by rules that analyse a function as a whole at its end, after a cheap check during
    the main traversal has shown that it is worth it.
    """
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(getattr(node, "body", ()))
    while stack:
        current = stack.pop()
        out.append(current)
        for child in ast.iter_child_nodes(current):
            if type(child) in (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef):
                continue
            stack.append(child)
    return out


def known_parameter(name: str) -> str | None:
    """The type of a well-known pytest fixture parameter (``mocker``, ``monkeypatch``)."""
    return _KNOWN_PARAMETERS.get(name)


def builtin(name: str) -> str | None:
    """``"builtins.<name>"`` for the few builtins rules care about."""
    return f"builtins.{name}" if name in _BUILTINS else None
