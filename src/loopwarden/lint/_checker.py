"""The single traversal: one walk over each file's ``ast``, dispatching every node to every rule.

Like ruff (and unlike flake8 plugins that each run their own passes), the checker walks a file once.
Rules register handlers for node types (see :mod:`loopwarden.lint.rules`); the checker keeps the
shared semantic model (:mod:`loopwarden.lint._semantic`) up to date as it goes, so a handler asks
``ctx.resolve(node.func)`` instead of re-deriving imports, and ``ctx.function`` instead of walking
up the tree. Rules that need a function as a whole register a *function-exit* handler and do their
(rare, cheap) analysis only when the traversal has recorded a candidate for them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from typing import Any

from loopwarden.lint._model import Finding, Fix, FixSafety, headline
from loopwarden.lint._project import Project, project_of
from loopwarden.lint._semantic import (
    FIXTURE_DECORATORS,
    PARAMETER,
    TIMEOUT_CONTEXTS,
    UNKNOWN,
    Binding,
    FunctionScope,
    builtin,
    canonical,
    const_str,
    keyword,
    known_parameter,
)

Handler = Callable[[Any, "Checker"], None]

_SKIP_FIELDS = frozenset(
    {
        "ctx", "id", "attr", "arg", "name", "module", "level", "kind", "type_comment",
        "conversion", "is_async", "simple", "op", "ops", "n", "s", "names", "type_ignores",
    }
)  # fmt: skip
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: ()}


def _no_visit(node: ast.AST, parent: ast.AST) -> None:
    raise RuntimeError("Checker.run() has finished")  # pragma: no cover


def _child_fields(cls: type) -> tuple[str, ...]:
    fields = tuple(f for f in getattr(cls, "_fields", ()) if f not in _SKIP_FIELDS)
    _CHILD_FIELDS[cls] = fields
    return fields


def is_test_path(path: str) -> bool:
    """Whether pytest would treat ``path`` as test code (test module, conftest or tests folder).

    Args:
        path: A file path, with ``/`` or the OS separator.

    Returns:
        ``True`` for ``test_*.py``, ``*_test.py``, ``conftest.py`` and files under a ``test``,
        ``tests`` or ``testing`` folder.
    """
    parts = re.split(r"[\\/]", path)
    base = parts[-1]
    if base.startswith("test_") or base.endswith("_test.py") or base == "conftest.py":
        return True
    return any(p in ("test", "tests", "testing") for p in parts[:-1])


class Registry:
    """Handlers of the selected rules, indexed by node type, and calls indexed by callee.

    Most nodes a rule cares about are calls of a few known functions. Instead of asking every
    rule about every call, the checker resolves each call's callee once and calls only the
    handlers registered for that canonical name (``"asyncio.get_event_loop"``) or method name
    (``"run_until_complete"``).

    Args:
        handlers: ``(code, node type, handler)`` triples.
        exit_handlers: ``(code, handler)`` pairs called with each function node at its end.
        module_handlers: ``(code, handler)`` pairs called with the module after the traversal.
        calls: ``(code, kind, name, handler)``: ``kind`` is ``"callee"`` (canonical name of the
            called function), ``"method"`` (attribute name of ``x.name(...)``, any receiver) or
            ``"discarded"`` (every call that is a whole statement, its result dropped; ``name``
            is ignored).
    """

    def __init__(
        self,
        handlers: Iterable[tuple[str, type, Handler]],
        exit_handlers: Iterable[tuple[str, Handler]],
        module_handlers: Iterable[tuple[str, Handler]],
        calls: Iterable[tuple[str, str, str, Handler]] = (),
    ) -> None:
        self.by_type: dict[type, tuple[Handler, ...]] = {}
        for _code, node_type, handler in handlers:
            self.by_type[node_type] = (*self.by_type.get(node_type, ()), handler)
        self.exit_handlers = tuple(h for _code, h in exit_handlers)
        self.module_handlers = tuple(h for _code, h in module_handlers)
        by_callee: dict[str, tuple[Handler, ...]] = {}
        by_method: dict[str, tuple[Handler, ...]] = {}
        discarded: tuple[Handler, ...] = ()
        for _code, kind, name, handler in calls:
            if kind == "discarded":
                if handler not in discarded:
                    discarded = (*discarded, handler)
                continue
            table = by_callee if kind == "callee" else by_method
            if handler not in table.get(name, ()):
                table[name] = (*table.get(name, ()), handler)
        # A callee can only resolve to a registered name if the call spells that name's last
        # part (``x.sleep``), or calls an imported name (``from asyncio import sleep as nap``):
        # checking that first avoids resolving the great majority of calls.
        last_parts = frozenset(name.rpartition(".")[2] for name in by_callee)
        if by_callee or by_method or discarded:

            def dispatch_call(node: ast.Call, ctx: Checker) -> None:
                func = node.func
                found: tuple[Handler, ...] = ()
                t = type(func)
                if by_callee and (
                    (t is ast.Attribute and func.attr in last_parts)  # type: ignore[attr-defined]
                    or (
                        t is ast.Name and (func.id in last_parts or func.id in ctx.imports)  # type: ignore[attr-defined]
                    )
                ):
                    callee = ctx.resolve(func)
                    if callee is not None:
                        found = by_callee.get(callee, ())
                if t is ast.Attribute:
                    more = by_method.get(func.attr)  # type: ignore[attr-defined]
                    if more:
                        found = tuple(dict.fromkeys((*found, *more))) if found else more
                if discarded and type(ctx.parent) is ast.Expr:
                    found = tuple(dict.fromkeys((*found, *discarded))) if found else discarded
                for handler in found:
                    handler(node, ctx)

            self.by_type[ast.Call] = (dispatch_call, *self.by_type.get(ast.Call, ()))


class Checker:
    """Walks one parsed file once and collects findings from every selected rule.

    Args:
        path: The file path used in findings.
        source: The file's text.
        tree: Its parsed module.
        registry: The selected rules' handlers.
        codes: The selected rule codes; reports of other codes are dropped early.
    """

    def __init__(
        self, path: str, source: str, tree: ast.Module, registry: Registry, codes: frozenset[str]
    ) -> None:
        self.path = path
        self.source = source
        self.tree = tree
        self.codes = codes
        self.is_test_file = is_test_path(path)
        self.findings: list[Finding] = []
        self.parent: ast.AST | None = None
        self.imports: dict[str, str] = {}
        self.module_bindings: dict[str, Binding] = {}
        self.module_async_functions: set[str] = set()
        self.module_sync_functions: set[str] = set()
        self.class_async_methods: dict[str, set[str]] = {}
        self.defined_fixtures: set[str] = set()
        self.class_stack: list[ast.ClassDef] = []
        self.module_marks: frozenset[str] = frozenset()
        self.module_usefixtures: frozenset[str] = frozenset()
        self._class_marks: list[tuple[frozenset[str], frozenset[str]]] = []
        self.functions: list[FunctionScope] = []
        self.module_timeout_depth = 0
        self.data: dict[str, Any] = {}
        # Function handlers run after the function's scope is pushed, so they see it as
        # ``ctx.function``; the generic dispatch in ``_visit`` must not call them a second time.
        self._def_handlers = {
            t: registry.by_type.get(t, ()) for t in (ast.FunctionDef, ast.AsyncFunctionDef)
        }
        self._handlers = {
            t: hs
            for t, hs in registry.by_type.items()
            if t not in (ast.FunctionDef, ast.AsyncFunctionDef)
        }
        self._exit_handlers = registry.exit_handlers
        self._module_handlers = registry.module_handlers
        self._lines: list[str] | None = None
        # Several rules resolve the same callee; a node resolves the same way at one point of
        # the walk, and every node is visited once, so results are memoised by node identity.
        self._resolved: dict[int, str | None] = {}
        # Children never worth a call: names and constants (unless a rule listens to them), and
        # the odd non-node field values (``None``, a ``str`` in ``MatchClass.kwd_attrs``...).
        self._leaves = frozenset(
            t
            for t in (ast.Name, ast.Constant, type(None), str, int, bool)
            if t not in self._handlers
        )
        self._special: dict[type, Callable[[Any], None]] = {
            ast.FunctionDef: self._visit_function,
            ast.AsyncFunctionDef: self._visit_function,
            ast.Lambda: self._visit_lambda,
            ast.ClassDef: self._visit_class,
            ast.For: self._visit_loop,
            ast.AsyncFor: self._visit_loop,
            ast.While: self._visit_loop,
            ast.With: self._visit_with,
            ast.AsyncWith: self._visit_with,
            ast.Assign: self._visit_assign,
            ast.AnnAssign: self._visit_assign,
            ast.Import: self._visit_import,
            ast.ImportFrom: self._visit_import,
            ast.arguments: self._visit_arguments,
        }
        self._visit = self._make_visit()

    # -- public API for rules -------------------------------------------------------------------

    @property
    def function(self) -> FunctionScope | None:
        """The innermost enclosing function (or lambda), or ``None`` at module/class level."""
        return self.functions[-1] if self.functions else None

    @property
    def in_coroutine(self) -> bool:
        """Whether the current node runs on the loop: the innermost function is ``async def``."""
        return bool(self.functions) and self.functions[-1].is_async

    def function_name(self) -> str:
        """The qualified name of the innermost ``def`` (lambdas skipped), or ``"<module>"``."""
        for scope in reversed(self.functions):
            if not scope.is_lambda:
                return scope.qualname
        return "<module>"

    def test_scope(self) -> FunctionScope | None:
        """The nearest enclosing test function or fixture, if any."""
        for scope in reversed(self.functions):
            if scope.is_test_or_fixture:
                return scope
        return None

    def project(self) -> Project | None:
        """The project the file belongs to and what it declares (see ``_project.py``)."""
        return project_of(self.path)

    def under_timeout(self) -> bool:
        """Whether a timeout context manager (``asyncio.timeout``, ``anyio.fail_after``…) encloses
        the current node in the current function."""
        if not self.functions:
            return self.module_timeout_depth > 0
        return self.functions[-1].timeout_depth > 0

    def binding(self, name: str) -> Binding | None:
        """What ``name`` was last bound to, looking outwards from the current function."""
        for scope in reversed(self.functions):
            found = scope.bindings.get(name)
            if found is not None:
                return found
        return self.module_bindings.get(name)

    def resolve(self, node: ast.expr) -> str | None:
        """The canonical dotted name of an expression, or ``None`` if it cannot be known.

        Args:
            node: A ``Name``, an attribute chain, or a call whose result is used as a receiver.

        Returns:
            E.g. ``"asyncio.sleep"`` for ``aio.sleep`` after ``import asyncio as aio``, or
            ``"asyncio.get_running_loop().create_task"`` for ``loop.create_task`` after
            ``loop = asyncio.get_running_loop()``.
        """
        key = id(node)
        memo = self._resolved
        if key in memo:
            return memo[key]
        result = self._resolve(node)
        memo[key] = result
        return result

    def _resolve(self, node: ast.expr) -> str | None:
        parts: list[str] = []
        while True:
            t = type(node)
            if t is ast.Attribute:
                parts.append(node.attr)  # type: ignore[attr-defined]
                node = node.value  # type: ignore[attr-defined]
            elif t is ast.Call:
                inner = self.resolve(node.func)  # type: ignore[attr-defined]
                if inner is None:
                    return None
                base = inner + "()"
                break
            elif t is ast.Name:
                name: str = node.id  # type: ignore[attr-defined]
                bound = self.binding(name)
                if bound is not None:
                    if bound.target is None:
                        return None
                    base = bound.target
                elif name in self.imports:
                    base = self.imports[name]
                else:
                    resolved = known_parameter(name) if self.functions else None
                    if resolved is None:
                        resolved = builtin(name)
                    if resolved is None:
                        return None
                    base = resolved
                break
            else:
                return None
        if parts:
            base = base + "." + ".".join(reversed(parts))
        return canonical(base)

    def report(
        self,
        code: str,
        node: ast.AST,
        message: str,
        fix: Fix | None = None,
    ) -> None:
        """Record a finding at ``node`` unless ``code`` is not selected.

        Args:
            code: The rule code.
            node: The node to point at (its full range is reported).
            message: What is wrong and how to fix it.
            fix: An optional fix (see :meth:`make_fix`).
        """
        if code not in self.codes:
            return
        line: int = getattr(node, "lineno", 1)
        col: int = getattr(node, "col_offset", 0)
        end_line: int = getattr(node, "end_lineno", None) or line
        end_col: int = getattr(node, "end_col_offset", None) or col
        context = ".".join(s.name for s in self.functions if not s.is_lambda)
        if self.class_stack and self.functions:
            context = f"{self.class_stack[-1].name}.{context}"
        self.findings.append(
            Finding(
                path=self.path,
                line=line,
                col=self.char_col(line, col) + 1,
                end_line=end_line,
                end_col=self.char_col(end_line, end_col) + 1,
                code=code,
                message=headline(message),
                fix=fix,
                context=context,
                explanation=message,
            )
        )

    def make_fix(
        self,
        kind: str,
        safety: FixSafety,
        node: ast.AST,
        description: str,
        args: tuple[str, ...] = (),
        imports: tuple[str, ...] = (),
    ) -> Fix:
        """Build a :class:`Fix` that rewrites ``node`` (see ``_fix.py`` for the kinds)."""
        line: int = getattr(node, "lineno", 1)
        col: int = getattr(node, "col_offset", 0)
        return Fix(kind, safety, line, self.char_col(line, col), description, args, imports)

    def module_alias(self, module: str) -> tuple[str, tuple[str, ...]]:
        """How to spell ``module`` in a fix, and the import the fix needs.

        Args:
            module: A top-level module such as ``"asyncio"``.

        Returns:
            ``("aio", ())`` after ``import asyncio as aio``; ``("asyncio", ("import asyncio",))``
            when the module is not imported under a usable name.
        """
        for local, target in self.imports.items():
            if target == module and self.binding(local) is None:
                return local, ()
        return module, (f"import {module}",)

    def char_col(self, line: int, col: int) -> int:
        """Convert an ``ast`` column (UTF-8 bytes) to a character column."""
        if self._lines is None:
            self._lines = self.source.splitlines()
        if line - 1 >= len(self._lines):
            return col
        text = self._lines[line - 1]
        if text.isascii():
            return col
        return len(text.encode("utf-8")[:col].decode("utf-8", errors="replace"))

    # -- traversal -------------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        """Walk the file once and return the findings (before ``noqa`` filtering)."""
        try:
            self._prepass(self.tree.body)
            self._visit_body(self.tree.body, self.tree)
            for handler in self._module_handlers:
                handler(self.tree, self)
        finally:
            # The visitor closure, the bound methods in ``_special`` and lazy bindings refer back
            # to the checker: break those cycles so reference counting frees the checker and its
            # tree at once (the runner pauses the cyclic collector while checking).
            visit, self._visit = self._visit, _no_visit
            for cell in getattr(visit, "__closure__", None) or ():
                cell.cell_contents = None  # the closure refers to itself, its plans, the checker
            self._special.clear()
            self.module_bindings.clear()
        return self.findings

    def _prepass(self, body: list[ast.stmt]) -> None:
        """Collect module-level imports, functions, fixtures and ``pytestmark`` before the walk,
        so a test can use a helper or import defined further down the file."""
        self._prepass_body(body)
        marks, fixtures = self._pytestmark(body)
        self.module_marks, self.module_usefixtures = frozenset(marks), frozenset(fixtures)

    def _prepass_body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            t = type(stmt)
            if t is ast.Import or t is ast.ImportFrom:
                self._record_import(stmt)  # type: ignore[arg-type]
            elif t is ast.AsyncFunctionDef or t is ast.FunctionDef:
                fn: ast.FunctionDef | ast.AsyncFunctionDef = stmt  # type: ignore[assignment]
                plain = all(self._is_passthrough_decorator(d) for d in fn.decorator_list)
                if t is ast.AsyncFunctionDef and plain:
                    self.module_async_functions.add(fn.name)
                else:
                    self.module_sync_functions.add(fn.name)
                if self._fixture_call(fn) is not None:
                    self.defined_fixtures.add(self._fixture_name(fn))
            elif t is ast.ClassDef:
                methods: set[str] = set()
                for item in stmt.body:  # type: ignore[attr-defined]
                    if type(item) is ast.AsyncFunctionDef and all(
                        self._is_passthrough_decorator(d) for d in item.decorator_list
                    ):
                        methods.add(item.name)
                    elif (
                        type(item) in (ast.FunctionDef, ast.AsyncFunctionDef)
                        and self._fixture_call(item) is not None
                    ):
                        self.defined_fixtures.add(self._fixture_name(item))
                self.class_async_methods[stmt.name] = methods  # type: ignore[attr-defined]
            elif t is ast.If or t is ast.Try:
                self._prepass_body(stmt.body)  # type: ignore[attr-defined]
                for handler in getattr(stmt, "handlers", ()):
                    self._prepass_body(handler.body)
                self._prepass_body(getattr(stmt, "orelse", []))

    def _is_passthrough_decorator(self, node: ast.expr) -> bool:
        """Decorators that keep an ``async def`` a coroutine function when called."""
        target = self.resolve(node.func if type(node) is ast.Call else node)
        return target in (
            "staticmethod",
            "classmethod",
            "functools.wraps",
            "typing.override",
            "typing_extensions.override",
        ) or (type(node) is ast.Name and node.id in ("staticmethod", "classmethod"))

    def _record_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if type(node) is ast.Import:
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    self.imports[top] = top
        else:
            module = node.module or ""  # type: ignore[union-attr]
            if node.level:  # type: ignore[union-attr]
                return  # relative imports are the project's own names
            for alias in node.names:
                if alias.name != "*":
                    self.imports[alias.asname or alias.name] = f"{module}.{alias.name}"

    def _make_visit(self) -> Callable[[ast.AST, ast.AST], None]:
        """Build the hot-path visitor as a closure: locals are faster than attribute lookups, and
        this function runs once per node. One dict lookup per node; no call at all for leaf
        children (names, constants) that no rule listens to."""
        plans: dict[type, tuple[tuple[Handler, ...], Any, tuple[str, ...]]] = {}
        handlers_by_type = self._handlers
        specials = self._special
        leaves = self._leaves
        # Nodes whose only child is ``value``: when that child is a leaf, the node itself has
        # nothing to visit (``obj.attr``, ``key=1``, ``*args``), so it is skipped too.
        wrappers = frozenset(
            t
            for t in (ast.Attribute, ast.keyword, ast.Starred)
            if t not in handlers_by_type and t not in specials
        )
        checker = self

        def visit(node: ast.AST, parent: ast.AST) -> None:
            t = type(node)
            plan = plans.get(t)
            if plan is None:
                fields = _CHILD_FIELDS.get(t)
                if fields is None:
                    fields = _child_fields(t)
                plan = plans[t] = (handlers_by_type.get(t, ()), specials.get(t), fields)
            handlers, special, fields = plan
            if handlers:
                checker.parent = parent
                for handler in handlers:
                    handler(node, checker)
            if special is not None:
                special(node)
                return
            for name in fields:
                value = getattr(node, name)
                kind = type(value)
                if kind is list:
                    for child in value:
                        kind = type(child)
                        if kind in leaves or (kind in wrappers and type(child.value) in leaves):
                            continue
                        visit(child, node)
                elif kind not in leaves and not (kind in wrappers and type(value.value) in leaves):
                    visit(value, node)

        return visit

    def _visit_child(self, node: ast.AST | None, parent: ast.AST) -> None:
        """Visit one child from a special-cased node, skipping leaves like the hot path does."""
        if node is not None and type(node) not in self._leaves:
            self._visit(node, parent)

    def _visit_arguments(self, node: ast.arguments) -> None:
        # Parameters themselves bind names (done by the function); only defaults and
        # annotations are code, and most parameters have neither.
        child = self._visit_child
        for arg in (*node.posonlyargs, *node.args, *node.kwonlyargs):
            if arg.annotation is not None:
                child(arg.annotation, arg)
        for star in (node.vararg, node.kwarg):
            if star is not None and star.annotation is not None:
                child(star.annotation, star)
        for default in (*node.defaults, *node.kw_defaults):
            child(default, node)

    def _visit_body(self, body: list[Any], parent: ast.AST) -> None:
        visit = self._visit
        for child in body:
            visit(child, parent)

    def _visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        self._record_import(node)

    def _marks(self, exprs: list[ast.expr]) -> tuple[set[str], set[str]]:
        """``pytest.mark.*`` names in decorators or a ``pytestmark`` value, and the fixtures
        named by ``usefixtures``."""
        marks: set[str] = set()
        fixtures: set[str] = set()
        stack = list(exprs)
        while stack:
            expr = stack.pop()
            if type(expr) in (ast.List, ast.Tuple):
                stack.extend(expr.elts)  # type: ignore[attr-defined]
                continue
            call = expr if type(expr) is ast.Call else None
            target = self.resolve(call.func if call is not None else expr)
            if target is None or not target.startswith("pytest.mark."):
                continue
            name = target[len("pytest.mark.") :]
            marks.add(name)
            if name == "usefixtures" and call is not None:
                fixtures.update(v for a in call.args if (v := const_str(a)) is not None)
        return marks, fixtures

    def _pytestmark(self, body: list[ast.stmt]) -> tuple[set[str], set[str]]:
        for stmt in body:
            if (
                type(stmt) is ast.Assign
                and len(stmt.targets) == 1
                and type(stmt.targets[0]) is ast.Name
                and stmt.targets[0].id == "pytestmark"
            ):
                return self._marks([stmt.value])
        return set(), set()

    def _visit_class(self, node: ast.ClassDef) -> None:
        self._visit_body(node.decorator_list, node)
        self._visit_body(node.bases, node)
        self._visit_body(node.keywords, node)
        marks, fixtures = self._marks(node.decorator_list)
        body_marks, body_fixtures = self._pytestmark(node.body)
        outer_marks, outer_fixtures = (
            self._class_marks[-1] if self._class_marks else (frozenset(), frozenset())
        )
        self._class_marks.append(
            (
                frozenset(marks | body_marks | outer_marks),
                frozenset(fixtures | body_fixtures | outer_fixtures),
            )
        )
        self.class_stack.append(node)
        self._visit_body(node.body, node)
        self.class_stack.pop()
        self._class_marks.pop()

    def _fixture_call(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
        for decorator in node.decorator_list:
            target = decorator.func if type(decorator) is ast.Call else decorator
            if self.resolve(target) in FIXTURE_DECORATORS:
                return decorator
        return None

    def _fixture_name(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        decorator = self._fixture_call(node)
        if type(decorator) is ast.Call:
            name = const_str(keyword(decorator, "name"))
            if name:
                return name
        return node.name

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators, defaults and annotations are evaluated in the enclosing scope.
        self._visit_body(node.decorator_list, node)
        self._visit(node.args, node)
        if node.returns is not None:
            self._visit_child(node.returns, node)
        scope = self._make_scope(node)
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
            known = known_parameter(arg.arg)
            scope.bindings[arg.arg] = PARAMETER if known is None else Binding(known, arg)
        for star in (node.args.vararg, node.args.kwarg):
            if star is not None:
                scope.bindings[star.arg] = UNKNOWN
        if not self.functions and not self.class_stack:
            self.module_bindings.pop(node.name, None)
        self.functions.append(scope)
        self.parent = node
        for handler in self._def_handlers[type(node)]:
            handler(node, self)
        self._visit_body(node.body, node)
        if scope.data:  # exit handlers only analyse what the walk recorded for them
            for handler in self._exit_handlers:
                handler(node, self)
        self.functions.pop()
        outer = self.functions[-1].bindings if self.functions else None
        if outer is not None:
            outer[node.name] = UNKNOWN

    def _make_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionScope:
        is_async = type(node) is ast.AsyncFunctionDef
        qualname = node.name
        in_class = bool(self.class_stack) and not self.functions
        if in_class:
            qualname = f"{self.class_stack[-1].name}.{node.name}"
        scope = FunctionScope(node=node, name=node.name, qualname=qualname, is_async=is_async)
        for decorator in node.decorator_list:
            call = decorator if type(decorator) is ast.Call else None
            target = self.resolve(call.func if call is not None else decorator)
            if target in FIXTURE_DECORATORS:
                scope.fixture = True
                if call is not None:
                    scope.fixture_scope = const_str(keyword(call, "scope")) or "function"
                    autouse = keyword(call, "autouse")
                    scope.fixture_autouse = type(autouse) is ast.Constant and autouse.value is True
                    scope.fixture_loop_scope = const_str(keyword(call, "loop_scope"))
        marks, fixtures = (
            self._marks(node.decorator_list) if node.decorator_list else (set(), set())
        )
        inherited_marks, inherited_fixtures = self.module_marks, self.module_usefixtures
        if in_class and self._class_marks:
            inherited_marks = inherited_marks | self._class_marks[-1][0]
            inherited_fixtures = inherited_fixtures | self._class_marks[-1][1]
        scope.marks = inherited_marks | marks if marks else inherited_marks
        scope.usefixtures = inherited_fixtures | fixtures if fixtures else inherited_fixtures
        if not scope.fixture and node.name.startswith("test"):
            if not self.functions and not self.class_stack:
                scope.is_test = self.is_test_file or bool(marks)
            elif in_class:
                cls = self.class_stack[-1]
                # A pytest mark on the method or its class says pytest collects it, whatever
                # the class is called: a project's `python_classes` may differ from `Test*`
                # (mode's `test_*` classes).
                scope.is_test = (
                    cls.name.startswith("Test")
                    or any(
                        str(getattr(b, "attr", None) or getattr(b, "id", "")).endswith("TestCase")
                        for b in cls.bases
                    )
                    or bool(marks)
                    or bool(self._class_marks and self._class_marks[-1][0])
                )
        return scope

    def _visit_lambda(self, node: ast.Lambda) -> None:
        self._visit(node.args, node)
        scope = FunctionScope(node=node, name="<lambda>", qualname="<lambda>", is_lambda=True)
        for arg in node.args.args:
            scope.bindings[arg.arg] = UNKNOWN
        self.functions.append(scope)
        self._visit_child(node.body, node)
        self.functions.pop()

    def _visit_loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        if type(node) is ast.While:
            self._visit_child(node.test, node)
        else:
            self._visit_child(node.target, node)  # type: ignore[union-attr]
            self._visit_child(node.iter, node)  # type: ignore[union-attr]
            self._bind_target(node.target, None, node)  # type: ignore[union-attr]
        scope = self.function
        if scope is not None:
            scope.loop_depth += 1
        self._visit_body(node.body, node)
        if scope is not None:
            scope.loop_depth -= 1
        self._visit_body(node.orelse, node)

    def _visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        timeouts = 0
        raises = 0
        for item in node.items:
            self._visit_child(item.context_expr, item)
            expr = item.context_expr
            if type(expr) is ast.Call:
                callee = self.resolve(expr.func)
                if callee in TIMEOUT_CONTEXTS:
                    timeouts += 1
                elif callee == "pytest.raises":
                    raises += 1
                if item.optional_vars is not None:
                    self._bind_target(item.optional_vars, expr, node, via_with=True)
            elif item.optional_vars is not None:
                self._bind_target(item.optional_vars, None, node)
        scope = self.function
        if scope is not None:
            scope.timeout_depth += timeouts
            scope.raises_depth += raises
        else:
            self.module_timeout_depth += timeouts
        self._visit_body(node.body, node)
        if scope is not None:
            scope.timeout_depth -= timeouts
            scope.raises_depth -= raises
        else:
            self.module_timeout_depth -= timeouts

    def _visit_assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        if node.value is not None:
            self._visit_child(node.value, node)
        targets = node.targets if type(node) is ast.Assign else [node.target]  # type: ignore[union-attr]
        for target in targets:
            self._visit_child(target, node)
        if type(node) is ast.AnnAssign:
            self._visit_child(node.annotation, node)
        value = node.value
        if type(value) is ast.Await:
            value = value.value
        call = value if type(value) is ast.Call else None
        for target in targets:
            self._bind_target(target, call, node)

    def _bind_target(
        self, target: ast.expr, call: ast.Call | None, node: ast.AST, via_with: bool = False
    ) -> None:
        t = type(target)
        if t is ast.Name:
            bound = (
                Binding(None, node, call, via_with, self.resolve) if call is not None else UNKNOWN
            )
            name: str = target.id  # type: ignore[attr-defined]
            if self.functions:
                self.functions[-1].bindings[name] = bound
            elif not self.class_stack:
                self.module_bindings[name] = bound
        elif t is ast.Tuple or t is ast.List:
            for element in target.elts:  # type: ignore[attr-defined]
                self._bind_target(element, None, node)
        elif t is ast.Starred:
            self._bind_target(target.value, None, node)  # type: ignore[attr-defined]
