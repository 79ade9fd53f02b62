"""A patched ``asyncio.sleep`` -> loopwarden's virtual time: an unsafe rewrite (``--unsafe-fixes``).

lint's LW103 finds the patches (``monkeypatch.setattr(asyncio, "sleep", ...)``,
``patch("asyncio.sleep")`` and ``mocker.patch(...)``, ``patch.object(asyncio, "sleep")``, also as
a context manager); :func:`plan_sleeps` decides, for each, whether virtual time can take its place,
and plans the edits:

- an autouse fixture whose body only patches the sleep goes; its test module gets ``pytestmark =
  pytest.mark.loopwarden(virtual_time=True)`` (joined to the ``pytestmark`` it has), its test
  class ``@pytest.mark.loopwarden(virtual_time=True)``, and a ``conftest.py`` above every test of
  the configuration sets ``loopwarden_virtual_time = on`` in it;
- in an async test, the patch statement goes (a ``with`` block around it keeps its body), with
  what only served it (the fake's ``def``), and the test gets the marker.

Only where the fake sleep returns at once and nothing reads it: patch's own mock, an
``AsyncMock()``, or an ``async def`` that returns, records its arguments in a list nothing else
reads, or awaits the real ``sleep(0)``. Anything else is reported with the reason. The rewrite is
unsafe all the same (sleeps now end when the loop's clock reaches them, which jumps only while the
loop is quiet), so every one applied is listed for a person. The planned rewrites wait in
:attr:`FilePlan.sleeps` until :func:`settle` knows that no test of another file asks for a
``conftest.py``'s fixture by name; without ``--unsafe-fixes`` it reports them instead, with the
flag as the way to make them.
"""

from __future__ import annotations

import ast
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from loopwarden.migrate._model import Edit, FilePlan, Report, SleepRewrite, StmtPath

if TYPE_CHECKING:
    from loopwarden.migrate._analyze import Settings

_REPLACES = "replaces it for every caller (asyncio itself, libraries, the code under test)"
_WAY_OUT = "use loopwarden's virtual time, where sleeps end at once on the loop's clock"
_MOCKS = ("AsyncMock", "MagicMock", "Mock")
# Calls that run a loop of the caller's own, which virtual time does not reach.
_OWN_LOOPS = ("run_until_complete", "run_forever", "new_event_loop", "Runner")
# Parameters of a fixture that only patches: what it asks for has no effect of its own.
_PATCHING_FIXTURES = ("monkeypatch", "mocker", "request", "self")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Context(Protocol):
    """What the planner needs from the analysis of the module."""

    plan: FilePlan
    tree: ast.Module
    settings: Settings
    test_module: bool
    asyncio_names: set[str]

    def names_in(self, node: ast.AST) -> set[int]:
        """Indices of the imported names used in ``node`` (:attr:`FilePlan.names`)."""

    def fixture_decorator(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
        """``node``'s ``@pytest.fixture`` or ``@pytest_asyncio.fixture``, if it has one."""

    def is_test(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None
    ) -> bool:
        """Whether pytest collects ``node`` (defined in ``cls``) as a test."""

    def is_collected(self, cls: ast.ClassDef) -> bool:
        """Whether pytest collects the class ``cls`` as a test class."""


@dataclass(frozen=True, slots=True)
class _Def:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    path: StmtPath
    cls: ast.ClassDef | None
    cls_path: StmtPath | None


@dataclass(frozen=True, slots=True)
class _Patch:
    """One patch lint reported: where it stands, and how the reports name it.

    Attributes:
        line: Its line.
        what: lint's words for it.
        advice: What to do by hand.
        guard: ``--target pytest-asyncio`` (virtual time needs guard mode).
        found: The function it is in.
        index: Its statement's index in the function's body.
        stmt: That statement.
        node: The statement, or its item of a ``with`` statement.
        item: That item's index.
        bound: The name its mock is bound to (``as m``, ``m = ...``), if any.
    """

    line: int
    what: str
    advice: str
    guard: bool
    found: _Def
    index: int
    stmt: ast.stmt
    node: ast.AST
    item: int | None
    bound: str | None

    def rewrite(
        self,
        where: Literal["test", "class", "module", "suite"],
        edits: dict[StmtPath, Edit],
        *,
        mark: StmtPath | None = None,
        pytestmark: StmtPath | None = None,
        fixture: str = "",
        config_keys: dict[str, str] | None = None,
        note: str = "",
    ) -> SleepRewrite:
        return SleepRewrite(
            self.line,
            self.what,
            self.advice,
            where,
            edits,
            mark=mark,
            pytestmark=pytestmark,
            fixture=fixture,
            config_keys=config_keys or {},
            note=note,
            guard=self.guard,
        )


class _Refused(Exception):
    """Why virtual time cannot take a patch's place (the message's reason)."""


def plan_sleeps(ctx: Context, findings: Sequence[tuple[int, int, str]], source: str) -> None:
    """Plan the rewrite of each patched ``asyncio.sleep`` lint found, or report why not.

    Args:
        ctx: The module's analysis.
        findings: LW103's findings: line, 1-based column (characters) and message.
        source: The module's text (to find a finding's call from its column).
    """
    defs = list(_definitions(ctx.tree.body, (), "body", None, None))
    lines = source.splitlines()
    for line, col, message in findings:
        what = message.partition(" replaces it")[0]
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        offset = len(text[: col - 1].encode())
        call = next(
            (
                node
                for node in ast.walk(ctx.tree)
                if isinstance(node, ast.Call) and node.lineno == line and node.col_offset == offset
            ),
            None,
        )
        found = None if call is None else next((d for d in defs if _contains(d.node, call)), None)
        advice = _advice(ctx, what, found)
        try:
            if call is None:
                raise _Refused("migrate did not find the call lint reported")
            target = message.split("`")[1] if message.count("`") >= 2 else ""
            if target != "asyncio.sleep":
                raise _Refused(
                    f"it patches {target}, which migrate cannot tell is asyncio's own sleep (its "
                    "module may hold another asyncio)"
                )
            rewrite = _plan(ctx, found, call, line, what, advice)
        except _Refused as why:
            ctx.plan.reports.append(Report(ctx.plan.path, line, refused(what, str(why), advice)))
            continue
        ctx.plan.sleeps.append(rewrite)


def refused(what: str, why: str, advice: str) -> str:
    """The report on a patch left as it is."""
    return (
        f"{what} {_REPLACES}; not rewritten, even with --unsafe-fixes: {why}; {_WAY_OUT}: delete "
        f"the patch and {advice}"
    )


def _advice(ctx: Context, what: str, found: _Def | None) -> str:
    """What to do by hand (the way LW103's report says it)."""
    if "autouse fixture" not in what:
        if found is not None and ctx.fixture_decorator(found.node) is not None:
            return (
                "mark the tests that ask for the fixture @pytest.mark.loopwarden(virtual_time=True)"
            )
        return "mark the test @pytest.mark.loopwarden(virtual_time=True)"
    if found is not None and found.cls is not None:
        return "mark the class @pytest.mark.loopwarden(virtual_time=True)"
    if os.path.basename(ctx.plan.path) == "conftest.py":
        return (
            "set loopwarden_virtual_time = on for the suite (or mark each module below this "
            "conftest.py pytestmark = pytest.mark.loopwarden(virtual_time=True))"
        )
    return (
        "mark the module pytestmark = pytest.mark.loopwarden(virtual_time=True), or set "
        "loopwarden_virtual_time = on for the suite"
    )


def _definitions(
    body: list[ast.stmt],
    prefix: StmtPath,
    field: str,
    cls: ast.ClassDef | None,
    cls_path: StmtPath | None,
) -> Iterator[_Def]:
    """The functions where pytest looks for tests and fixtures (as the analysis walks them)."""
    for i, stmt in enumerate(body):
        path = (*prefix, (field, i))
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield _Def(stmt, path, cls, cls_path)
        elif isinstance(stmt, ast.ClassDef):
            yield from _definitions(stmt.body, path, "body", stmt, path)
        elif isinstance(stmt, ast.If):
            yield from _definitions(stmt.body, path, "body", cls, cls_path)
            yield from _definitions(stmt.orelse, path, "orelse", cls, cls_path)


def _contains(node: ast.AST, target: ast.AST) -> bool:
    return any(child is target for child in ast.walk(node))


def _plan(
    ctx: Context, found: _Def | None, call: ast.Call, line: int, what: str, advice: str
) -> SleepRewrite:
    """The rewrite of one patch; raises :class:`_Refused` with the reason it cannot be made."""
    if found is None:
        raise _Refused("the patch is not in a test or a fixture")
    if any(_contains(decorator, call) for decorator in found.node.decorator_list):
        raise _Refused(
            "a patch decorator hands its mock to the function as an argument, which migrate "
            "does not remove"
        )
    index, stmt = next((i, s) for i, s in enumerate(found.node.body) if _contains(s, call))
    bound, item, node = _patch_statement(stmt, call)
    guard = ctx.settings.target == "pytest-asyncio"
    patch = _Patch(line, what, advice, guard, found, index, stmt, node, item, bound)
    local = _local_helpers(found.node)
    helpers = _check_fake(ctx, _fake(call), found.node, local)
    fixture = ctx.fixture_decorator(found.node)
    if fixture is None:
        return _plan_test(ctx, patch, helpers, local)
    return _plan_fixture(ctx, patch, fixture, helpers, local)


def _patch_statement(stmt: ast.stmt, call: ast.Call) -> tuple[str | None, int | None, ast.AST]:
    """The name the patch's mock is bound to, its item index in a ``with`` statement, and the
    node that goes with it (the statement, or that item)."""
    if isinstance(stmt, ast.Expr) and stmt.value is call:
        return None, None, stmt
    if (
        isinstance(stmt, ast.Assign)
        and stmt.value is call
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return stmt.targets[0].id, None, stmt
    if isinstance(stmt, ast.With):
        for index, item in enumerate(stmt.items):
            if item.context_expr is call:
                if item.optional_vars is None:
                    return None, index, item
                if isinstance(item.optional_vars, ast.Name):
                    return item.optional_vars.id, index, item
    raise _Refused(
        f"the patch is not a statement of its own (it stands in the {_kind(stmt)} at line "
        f"{stmt.lineno})"
    )


def _kind(stmt: ast.stmt) -> str:
    return {
        ast.If: "if statement",
        ast.For: "for loop",
        ast.While: "while loop",
        ast.Try: "try statement",
        ast.With: "with statement",
        ast.AsyncWith: "async with statement",
    }.get(type(stmt), "statement")


def _fake(call: ast.Call) -> ast.expr | None:
    """The fake sleep ``call`` installs (``None``: patch's own mock); raises :class:`_Refused`
    when its arguments make the patched sleep do more than return at once."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if any(k.arg is None for k in call.keywords) or any(
        isinstance(a, ast.Starred) for a in call.args
    ):
        raise _Refused("the patch passes * or ** arguments, which migrate cannot read")
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    if name == "setattr":  # monkeypatch.setattr("asyncio.sleep", new) / (asyncio, "sleep", new)
        position = 1 if call.args and _string(call.args[0]) else 2
        new_keyword, allowed = "value", {"raising"}
    elif name == "object":  # patch.object(asyncio, "sleep", new)
        position, new_keyword, allowed = 2, "new", set()
    else:  # patch("asyncio.sleep", new)
        position, new_keyword, allowed = 1, "new", set()
    if len(call.args) > position + 1:
        raise _Refused(
            f"the patch passes {ast.unparse(call.args[position + 1])} after the replacement, "
            "which may make the sleep do more than return at once"
        )
    new = call.args[position] if len(call.args) > position else keywords.get(new_keyword)
    for key, value in keywords.items():
        if key in (new_keyword, "target", "attribute", "name") or key in allowed:
            continue
        if key == "new_callable" and _mock_class(value):
            continue
        if key == "autospec" and isinstance(value, ast.Constant) and value.value is True:
            continue
        if key == "return_value" and isinstance(value, ast.Constant) and value.value is None:
            continue
        raise _Refused(
            f"the patch passes {key}={ast.unparse(value)}, so the patched sleep does more than "
            "return at once"
        )
    return new


def _string(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _mock_class(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in _MOCKS


def _quiet_mock(node: ast.expr) -> bool:
    """``AsyncMock()``, ``mock.MagicMock(return_value=None)``: a mock that returns at once."""
    return (
        isinstance(node, ast.Call)
        and _mock_class(node.func)
        and not node.args
        and all(
            k.arg == "return_value" and isinstance(k.value, ast.Constant) and k.value.value is None
            for k in node.keywords
        )
    )


def _local_helpers(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.stmt]:
    """The names the body of ``func`` binds with a statement of its own (a ``def``, or one
    name assigned), with that statement."""
    return _bound_by(func.body)


def _bound_by(body: list[ast.stmt], asyncio_imports: bool = False) -> dict[str, ast.stmt]:
    """Each name ``body`` binds with a ``def`` or a one-name assignment (and, with
    ``asyncio_imports``, a ``from asyncio import``), with the last statement binding it."""
    found: dict[str, ast.stmt] = {}
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found[stmt.name] = stmt
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            found[stmt.targets[0].id] = stmt
        elif (
            asyncio_imports
            and isinstance(stmt, ast.ImportFrom)
            and stmt.module == "asyncio"
            and not stmt.level
        ):
            for alias in stmt.names:
                found[alias.asname or alias.name] = stmt
    return found


def _module_helpers(tree: ast.Module) -> dict[str, ast.stmt]:
    return _bound_by(tree.body, asyncio_imports=True)


def _check_fake(
    ctx: Context,
    fake: ast.expr | None,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    local: dict[str, ast.stmt],
) -> set[str]:
    """Raise :class:`_Refused` unless ``fake`` returns at once; the names of ``func``'s body it
    relies on (its ``def``, the real sleep it awaits, the list it records in)."""
    if fake is None or _quiet_mock(fake):
        return set()
    if isinstance(fake, ast.Lambda):
        raise _Refused(
            f"the replacement {ast.unparse(fake)} is a lambda, which may do more than return at "
            "once"
        )
    if not isinstance(fake, ast.Name):
        raise _Refused(f"the replacement {ast.unparse(fake)} may do more than return at once")
    module = _module_helpers(ctx.tree)
    defined = local.get(fake.id) or module.get(fake.id)
    if defined is None:
        raise _Refused(f"the replacement {fake.id} is not defined in this module")
    relies = {fake.id}
    if isinstance(defined, ast.Assign):
        if not _quiet_mock(defined.value):
            raise _Refused(
                f"the replacement {fake.id} = {ast.unparse(defined.value)} may do more than "
                "return at once"
            )
    elif not isinstance(defined, ast.AsyncFunctionDef):
        raise _Refused(f"the replacement {fake.id} is not an async function, so awaiting it fails")
    elif defined.decorator_list:
        raise _Refused(f"the replacement {fake.id} is decorated")
    else:
        arguments = defined.args
        params = {
            a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
        } | {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = defined.body
        if body and isinstance(body[0], ast.Expr) and _string(body[0].value):
            body = body[1:]
        for stmt in body:
            name = _quiet_statement(ctx, stmt, params, local, module)
            if name is None:
                raise _Refused(
                    f"the replacement {fake.id} does more than return at once (line {stmt.lineno})"
                )
            if not name:
                continue
            relies.add(name)
            if _records(stmt):
                read = _read_elsewhere(ctx.tree, name, defined, local.get(name), module.get(name))
                if read is not None:
                    raise _Refused(
                        f"the sleeps {fake.id} records in {name} are read at line {read}, and "
                        "virtual time would leave it empty"
                    )
    return {name for name in relies if name in local}


def _records(stmt: ast.stmt) -> bool:
    """``calls.append(x)``: a statement that records a call."""
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "append"
    )


def _quiet_statement(
    ctx: Context,
    stmt: ast.stmt,
    params: set[str],
    local: dict[str, ast.stmt],
    module: dict[str, ast.stmt],
) -> str | None:
    """Whether a statement of a fake sleep returns at once: ``""`` when it relies on nothing,
    the name it relies on (the real sleep, a list), or ``None`` when it does more."""
    if isinstance(stmt, ast.Pass):
        return ""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return ""
    if isinstance(stmt, ast.Return):
        value = stmt.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return ""
        return "" if isinstance(value, ast.Name) and value.id in params else None
    if _records(stmt):
        assert isinstance(stmt, ast.Expr)
        assert isinstance(stmt.value, ast.Call)
        assert isinstance(stmt.value.func, ast.Attribute)
        owner = stmt.value.func.value
        arguments = stmt.value.args
        if (
            isinstance(owner, ast.Name)
            and owner.id not in params
            and len(arguments) == 1
            and not stmt.value.keywords
            and all(isinstance(n, ast.Name | ast.Constant | ast.Tuple) for n in arguments)
        ):
            return owner.id
        return None
    # `await real_sleep(0)`: the real asyncio.sleep, bound before the patch.
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Await)
        and isinstance(stmt.value.value, ast.Call)
        and isinstance(stmt.value.value.func, ast.Name)
        and len(stmt.value.value.args) == 1
        and not stmt.value.value.keywords
        and isinstance(stmt.value.value.args[0], ast.Constant)
        and stmt.value.value.args[0].value == 0
    ):
        real = stmt.value.value.func.id
        bound = local.get(real) or module.get(real)
        if isinstance(bound, ast.ImportFrom) and any(
            a.name == "sleep" and (a.asname or a.name) == real for a in bound.names
        ):
            return real
        if (
            isinstance(bound, ast.Assign)
            and isinstance(bound.value, ast.Attribute)
            and bound.value.attr == "sleep"
            and isinstance(bound.value.value, ast.Name)
            and bound.value.value.id in (ctx.asyncio_names or {"asyncio"})
        ):
            return real
    return None


def _loads(tree: ast.AST, name: str) -> Iterator[ast.Name]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            yield node


def _read_elsewhere(tree: ast.AST, name: str, *inside: ast.AST | None) -> int | None:
    """The first line where ``name`` is read outside the nodes ``inside``, or ``None``."""
    skip = {id(n) for node in inside if node is not None for n in ast.walk(node)}
    lines = [n.lineno for n in _loads(tree, name) if id(n) not in skip]
    return min(lines) if lines else None


def _plan_test(
    ctx: Context, patch: _Patch, helpers: set[str], local: dict[str, ast.stmt]
) -> SleepRewrite:
    """A patch statement of an async test goes, with what only served it; the test is marked."""
    found, stmt, item, bound = patch.found, patch.stmt, patch.item, patch.bound
    node = found.node
    if not ctx.is_test(node, found.cls):
        raise _Refused(
            f"{node.name} is neither a test nor a fixture, and its callers may rely on the patch"
        )
    if not isinstance(node, ast.AsyncFunctionDef):
        raise _Refused(
            f"{node.name} is a sync test: virtual time applies to the loops loopwarden runs "
            "async tests in, not to one a sync test runs"
        )
    _opted_out(ctx)
    if bound is not None:
        read = _read_elsewhere(node, bound, patch.node)
        if read is not None:
            raise _Refused(f"the mock {bound} is read at line {read}")
    edits: dict[StmtPath, Edit] = {}
    counts = Counter(virtual_time=1)
    if item is not None:
        edit = Edit(remove_items=[item], counts=counts, removed_names=ctx.names_in(patch.node))
    else:
        edit = Edit(remove=True, counts=counts, removed_names=ctx.names_in(stmt))
    edits[(*found.path, ("body", patch.index))] = edit
    # What only served the patch goes with it: the fake's def, the real sleep, the record.
    served = [local[name] for name in helpers]
    for name in sorted(helpers):
        if _read_elsewhere(node, name, patch.node, *served) is None:
            helper = local[name]
            where = next(i for i, s in enumerate(node.body) if s is helper)
            edits[(*found.path, ("body", where))] = Edit(
                remove=True, removed_names=ctx.names_in(helper)
            )
    return patch.rewrite("test", edits, mark=found.path)


def _opted_out(ctx: Context) -> None:
    """Raise when the module says ``virtual_time=False`` somewhere: what it marks would run in
    real time without the patch."""
    for child in ast.walk(ctx.tree):
        if (
            isinstance(child, ast.keyword)
            and child.arg == "virtual_time"
            and isinstance(child.value, ast.Constant)
            and child.value.value is False
        ):
            raise _Refused(
                f"line {child.value.lineno} opts out of virtual time, so what it marks would "
                "sleep in real time"
            )


def _plan_fixture(
    ctx: Context,
    patch: _Patch,
    decorator: ast.expr,
    helpers: set[str],
    local: dict[str, ast.stmt],
) -> SleepRewrite:
    """An autouse fixture whose body only patches the sleep goes; what it applied to (its
    module, its class, the suite for a ``conftest.py``) runs in virtual time."""
    found, stmt, bound = patch.found, patch.stmt, patch.bound
    node = found.node
    keywords = (
        {k.arg: k.value for k in decorator.keywords if k.arg is not None}
        if isinstance(decorator, ast.Call)
        else {}
    )
    autouse = keywords.get("autouse")
    named = keywords.get("name")
    fixture = node.name
    if isinstance(named, ast.Constant) and isinstance(named.value, str):
        fixture = named.value
    if not (isinstance(autouse, ast.Constant) and autouse.value is True):
        raise _Refused(
            f"the fixture {fixture} is not autouse, so it patches only for the tests that ask "
            "for it by name, which migrate does not follow"
        )
    if "params" in keywords:
        raise _Refused(f"the fixture {fixture} has params, which run each of its tests per value")
    if len(node.decorator_list) > 1:
        raise _Refused(f"the fixture {fixture} has other decorators")
    others = [
        a.arg
        for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
        if a.arg not in _PATCHING_FIXTURES
    ]
    if others:
        raise _Refused(
            f"the fixture {fixture} asks for {', '.join(others)}, which its tests would no "
            "longer get"
        )
    # Its body: the patch (a `with` around a bare `yield`), a bare `yield`, and what only
    # serves the patch.
    body = node.body
    if body and isinstance(body[0], ast.Expr) and _string(body[0].value):
        body = body[1:]
    served = [local[name] for name in helpers]
    for other in body:
        if other is stmt and isinstance(stmt, ast.With):
            if len(stmt.items) > 1:
                raise _Refused(
                    f"the fixture {fixture} does more than patch asyncio.sleep (the other "
                    f"context managers of line {stmt.lineno})"
                )
            inside = [s for s in stmt.body if not _bare_yield(s)]
            if len(stmt.body) == 1 and not inside:
                continue
            other = inside[0] if inside else stmt.body[1]
        elif other is stmt or _bare_yield(other) or any(other is s for s in served):
            continue
        handed = None
        if isinstance(other, ast.Return):
            handed = other.value
        elif isinstance(other, ast.Expr) and isinstance(other.value, ast.Yield | ast.YieldFrom):
            handed = other.value.value
        if handed is not None:
            raise _Refused(
                f"the fixture {fixture} hands out {ast.unparse(handed)} (line {other.lineno}), "
                "which its tests may use"
            )
        raise _Refused(
            f"the fixture {fixture} does more than patch asyncio.sleep (line {other.lineno})"
        )
    for name in [*([bound] if bound else []), *sorted(helpers)]:
        read = _read_elsewhere(node, name, patch.node, *served)
        if read is not None:
            raise _Refused(f"the fixture {fixture} reads {name} (line {read})")
    asked = _named(ctx.tree, fixture, node)
    if asked is not None:
        raise _Refused(
            f"line {asked} asks for the fixture {fixture} by name, and would no longer find it"
        )
    edits = {
        found.path: Edit(
            remove=True, counts=Counter(virtual_time=1), removed_names=ctx.names_in(node)
        )
    }
    if found.cls is not None:
        if not ctx.is_collected(found.cls):
            raise _Refused(f"its class {found.cls.name} is not a test class")
        _opted_out(ctx)
        _own_loops(ctx)
        return patch.rewrite("class", edits, mark=found.cls_path)
    if os.path.basename(ctx.plan.path) == "conftest.py":
        return _suite(ctx, patch, fixture, edits)
    if not ctx.test_module:
        raise _Refused(
            f"{ctx.plan.path} is not a test module nor a conftest.py, so what uses the fixture "
            "is not known here"
        )
    _opted_out(ctx)
    _own_loops(ctx)
    return patch.rewrite("module", edits, pytestmark=_pytestmark(ctx.tree))


def _bare_yield(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Yield)
        and (
            stmt.value.value is None
            or (isinstance(stmt.value.value, ast.Constant) and stmt.value.value.value is None)
        )
    )


def _named(tree: ast.Module, fixture: str, node: ast.AST) -> int | None:
    """The first line that asks for the fixture by name: a parameter, or a string
    (``usefixtures``, ``getfixturevalue``), outside its own ``def``."""
    inside = {id(n) for n in ast.walk(node)}
    lines = [
        n.lineno
        for n in ast.walk(tree)
        if id(n) not in inside
        and (
            (isinstance(n, ast.arg) and n.arg == fixture)
            or (isinstance(n, ast.Constant) and n.value == fixture)
        )
    ]
    return min(lines) if lines else None


def _own_loops(ctx: Context) -> None:
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        on_asyncio = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in (ctx.asyncio_names or {"asyncio"})
        )
        if called in _OWN_LOOPS or (called == "run" and on_asyncio):
            raise _Refused(
                f"line {node.lineno} runs a loop of its own ({called}), where virtual time does "
                "not apply, so its sleeps would take real time"
            )


def _pytestmark(tree: ast.Module) -> StmtPath | None:
    """The module's one ``pytestmark = ...``, or ``None`` when it has none; raises when it is
    set in a way migrate does not edit."""
    found = []
    for i, stmt in enumerate(tree.body):
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            targets = [stmt.target]
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            found.append((i, stmt))
    if not found:
        return None
    i, stmt = found[0]
    if len(found) > 1 or not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        raise _Refused(f"pytestmark is set in a way migrate does not edit (line {stmt.lineno})")
    return (("body", i),)


def _suite(ctx: Context, patch: _Patch, fixture: str, edits: dict[StmtPath, Edit]) -> SleepRewrite:
    """An autouse fixture of a ``conftest.py``: ``loopwarden_virtual_time = on``, where the
    ``conftest.py`` holds every test of its configuration (the key applies to all of them)."""
    settings = ctx.settings
    folder = os.path.dirname(os.path.abspath(ctx.plan.path))
    if not settings.suite:
        raise _Refused(
            "no pytest configuration file applies here to set loopwarden_virtual_time in"
        )
    outside = [s for s in settings.suite if s != folder and not s.startswith(folder + os.sep)]
    if outside:
        raise _Refused(
            "it applies to the tests below its folder only, while loopwarden_virtual_time "
            "would apply to every test of the configuration, which collects tests in "
            + ", ".join(_shown(s) for s in settings.suite)
        )
    value = (settings.virtual_time or "").lower()
    if value in _FALSE:
        raise _Refused(f"the pytest configuration sets loopwarden_virtual_time = {value}")
    if value in _TRUE:
        note = f"the pytest configuration already sets loopwarden_virtual_time = {value}"
        return patch.rewrite("suite", edits, fixture=fixture, note=note)
    keys = {"loopwarden_virtual_time": "on"}
    return patch.rewrite("suite", edits, fixture=fixture, config_keys=keys)


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    if relative == ".":
        return "./"
    return path if relative.startswith("..") else relative


def settle(
    plans: Iterable[FilePlan],
    unsafe: bool,
    files: Sequence[str] = (),
    outer: frozenset[str] = frozenset(),
) -> None:
    """Apply each planned rewrite (``unsafe``), or report it with ``--unsafe-fixes`` as the
    way to make it; a ``conftest.py``'s fixture that another file names stays, reported.

    Args:
        plans: Every analysed file.
        unsafe: ``--unsafe-fixes``.
        files: Every Python file of the run (searched for the names of ``conftest.py``
            fixtures that go).
        outer: ``conftest.py`` files read from above the given paths (tests outside them may ask
            for the fixture: it stays).
    """
    for plan in plans:
        module_marked = False
        # Module-wide rewrites first: a test's mark is not needed in a module marked whole.
        order = {"suite": 0, "module": 0, "class": 1, "test": 2}
        for rewrite in sorted(plan.sleeps, key=lambda r: (order[r.where], r.line)):
            why = _taken_elsewhere(plan.path, rewrite, files, outer)
            if why is not None:
                message = refused(rewrite.what, why, rewrite.advice)
                plan.reports.append(Report(plan.path, rewrite.line, message))
                continue
            if not unsafe:
                plan.reports.append(Report(plan.path, rewrite.line, _offered(rewrite)))
                continue
            done = _apply(plan, rewrite, module_marked)
            module_marked = module_marked or rewrite.where == "module"
            plan.reports.append(Report(plan.path, rewrite.line, _applied(rewrite, done)))
        plan.sleeps.clear()


def _taken_elsewhere(
    path: str, rewrite: SleepRewrite, files: Sequence[str], outer: frozenset[str]
) -> str | None:
    if not rewrite.fixture:
        return None
    if path in outer:
        return (
            "tests of its folder outside the paths given, which this run did not read, may ask "
            "for the fixture by name (run loopwarden migrate on the whole folder)"
        )
    folder = os.path.dirname(os.path.abspath(path)) + os.sep
    word = re.compile(rb"\b" + re.escape(rewrite.fixture.encode()) + rb"\b")
    for other in files:
        if other == path or not os.path.abspath(other).startswith(folder):
            continue
        try:
            with open(other, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        match = word.search(data)
        if match:
            line = data.count(b"\n", 0, match.start()) + 1
            return (
                f"{other}:{line} names the fixture {rewrite.fixture}, and would no longer find it"
            )
    return None


def _merge(plan: FilePlan, path: StmtPath, edit: Edit) -> None:
    old = plan.edits.get(path)
    if old is None or edit.remove:
        plan.edits[path] = edit
        return
    old.remove_items += edit.remove_items
    old.add_marks += edit.add_marks
    old.append_element = edit.append_element or old.append_element
    old.counts.update(edit.counts)
    old.removed_names |= edit.removed_names
    old.added.update(edit.added)


def _apply(plan: FilePlan, rewrite: SleepRewrite, module_marked: bool) -> str:
    """Join the rewrite's edits to the plan; what it does, in words."""
    for path, edit in rewrite.edits.items():
        _merge(plan, path, edit)
    mark = f"{plan.pytest_name}.mark.loopwarden(virtual_time=True)"
    first = next(iter(rewrite.edits.values()))
    if rewrite.where == "suite":
        plan.config_keys.update(rewrite.config_keys)
        if rewrite.note:
            return f"the fixture goes; {rewrite.note}"
        return "the fixture goes, and the pytest configuration gets loopwarden_virtual_time = on"
    if rewrite.where == "module":
        if module_marked:
            return "the fixture goes (the module runs in virtual time already)"
        first.added["pytest"] += 1
        existing = plan.edits.get(rewrite.pytestmark) if rewrite.pytestmark else None
        if rewrite.pytestmark is not None and not (existing is not None and existing.remove):
            _merge(plan, rewrite.pytestmark, Edit(append_element=mark))
            return f"the fixture goes, and the module's pytestmark gets {mark}"
        plan.add_pytestmark = f"pytestmark = {mark}"
        return f"the fixture goes, and the module gets pytestmark = {mark}"
    what = "patch" if rewrite.where == "test" else "fixture"
    if rewrite.where == "test" and module_marked:
        return f"the {what} goes (the module runs in virtual time)"
    assert rewrite.mark is not None
    _merge(plan, rewrite.mark, Edit(add_marks=[mark], added=Counter(pytest=1)))
    return f"the {what} goes, and the {rewrite.where} gets @{mark}"


def _offered(rewrite: SleepRewrite) -> str:
    return (
        f"{rewrite.what} {_REPLACES}; not rewritten without --unsafe-fixes, as that is not "
        f"safe (a test may rely on the patched sleep): {_WAY_OUT}: delete the patch and "
        f"{rewrite.advice} (loopwarden migrate --unsafe-fixes does that)"
    )


def _applied(rewrite: SleepRewrite, done: str) -> str:
    guard = (
        "; with pytest-asyncio, virtual time needs loopwarden's loops (guard mode, "
        "pytest-asyncio 1.4 or later)"
        if rewrite.guard
        else ""
    )
    return (
        f"{rewrite.what} {_REPLACES}: replaced by loopwarden's virtual time (--unsafe-fixes): "
        f"{done}; an unsafe rewrite, so check it: sleeps now end when the loop's clock reaches "
        f"them (it jumps ahead while the loop is quiet), not at once{guard}"
    )
