"""Find what to change in one Python file, and what to leave to a person: one :mod:`ast` pass.

The analysis plans every edit by statement path (see :mod:`loopwarden.migrate._model`) and keeps
the line of everything it reports. It never changes code; :mod:`loopwarden.migrate._rewrite`
applies the plan with libcst. Definitions are looked for where pytest collects them: at module
level, in classes, and in ``if``/``else`` blocks of those; a test defined elsewhere (in a function,
a ``try`` block) is left as it is, and what it still asks for is reported.

Which names mean what comes from the module's own imports: ``import pytest as pt`` makes
``@pt.mark.asyncio`` the marker, ``from pytest_asyncio import fixture as af`` makes ``@af`` the
fixture decorator.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from loopwarden.migrate._model import (
    Binding,
    DecoratorEdit,
    Edit,
    FilePlan,
    LoopUser,
    NameUse,
    Override,
    Report,
    StmtPath,
    Target,
    WideFixture,
)
from loopwarden.migrate._sleep import plan_sleeps

_MODULES = ("pytest", "pytest_asyncio", "asyncio")
# Imported names followed only so that an import whose last use a rewrite removed goes too (the
# mocks of a patched asyncio.sleep).
_MOCK_MODULES = ("unittest", "unittest.mock", "mock", "pytest_mock")
_NO_EVENT_LOOP = (
    "pytest-asyncio's event_loop fixture (gone in pytest-asyncio 1.0; loopwarden's runner has none)"
)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the analysis needs to know about the run.

    Attributes:
        target: ``--target``.
        strict: The target runs in strict mode: the own runner's ``loopwarden_mode`` or
            ``asyncio_mode`` says strict (markers stay); pytest-asyncio's ``asyncio_mode`` is
            not auto (async fixtures need its decorator).
        fixture_loop_scope: ``asyncio_default_fixture_loop_scope`` of the configuration.
        test_loop_scope: ``asyncio_default_test_loop_scope`` of the configuration.
        python_functions: ``python_functions`` of the configuration: which functions are tests.
        python_classes: ``python_classes`` of the configuration: which classes hold tests.
        python_files: ``python_files`` of the configuration: which modules hold tests.
        lint_codes: The lint rules migrate applies, LW110 (its fix) and LW103 (a patched sleep,
            reported or rewritten), but those the ``ignore`` of the project's lint configuration
            names (its ``select`` does not matter: both are part of a migration, whatever lint
            runs by default).
        unsafe_fixes: ``--unsafe-fixes``: a patched ``asyncio.sleep`` becomes virtual time
            (:mod:`loopwarden.migrate._sleep`).
        virtual_time: ``loopwarden_virtual_time`` of the configuration as written, or ``None``.
        suite: The folders holding the configuration's tests, absolute (its ``testpaths``, else
            its own folder); empty without a configuration file. A ``conftest.py`` above them
            all applies to the whole suite, as ``loopwarden_virtual_time`` does.
        own_loop: ``loopwarden_loop`` of the configuration as written, or ``None``.
        kept_event_loop: Where the ``event_loop`` fixture this file's tests get is defined
            (``path:line``), when it is the project's own and migrate leaves it (more than the
            usual recipe): its sync tests keep it, as a plain fixture.
    """

    target: Target = "loopwarden"
    strict: bool = False
    fixture_loop_scope: str | None = None
    test_loop_scope: str | None = None
    python_functions: tuple[str, ...] = ("test",)
    python_classes: tuple[str, ...] = ("Test",)
    python_files: tuple[str, ...] = ("test_*.py", "*_test.py")
    lint_codes: frozenset[str] = frozenset({"LW103", "LW110"})
    unsafe_fixes: bool = False
    virtual_time: str | None = None
    suite: tuple[str, ...] = ()
    kept_event_loop: str | None = None
    own_loop: str | None = None


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether pytest collects ``name`` under ``python_functions``/``python_classes``: each
    pattern is a prefix, or a glob when it has a wildcard (pytest's own rule)."""
    return any(
        name.startswith(pattern)
        or (any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern))
        for pattern in patterns
    )


def analyze(
    path: str,
    source: str,
    settings: Settings,
    encoding: str = "utf-8",
    sleeps: Sequence[tuple[int, int, str]] = (),
) -> FilePlan:
    """Plan the migration of one file.

    Args:
        path: The file, as it is reported.
        source: Its text.
        settings: The run's settings.
        encoding: Its encoding, kept in the plan to write it back.
        sleeps: lint's LW103 findings in it (line, column, message): patched
            ``asyncio.sleep`` calls, for :mod:`loopwarden.migrate._sleep`.

    Returns:
        The plan: edits, reports, the ``event_loop`` overrides and what still uses them. A file
        that does not parse gets an error and a report, and no edit.
    """
    plan = FilePlan(path, encoding=encoding)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in user code are not ours
            tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        where = f" at line {error.lineno}" if error.lineno else ""
        plan.error = f"not Python 3 we can parse: {error.msg}{where}; left alone"
        plan.reports.append(Report(path, None, plan.error))
        return plan
    except (ValueError, RecursionError, MemoryError) as error:
        reason = "too deeply nested" if isinstance(error, RecursionError) else str(error)
        plan.error = f"not Python 3 we can parse: {reason}; left alone"
        plan.reports.append(Report(path, None, plan.error))
        return plan
    analyzer = _Analyzer(plan, tree, settings)
    analyzer.run()
    if sleeps:
        plan_sleeps(analyzer, sleeps, source)
    return plan


@dataclass(frozen=True, slots=True)
class _Fixture:
    decorator: ast.expr
    pytest_asyncio: bool


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def _arg_names(args: ast.arguments) -> list[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return [a.arg for a in every]


def _reads_event_loop(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the body reads the name ``event_loop`` (the parameter is not a read)."""
    return any(isinstance(n, ast.Name) and n.id == "event_loop" for n in ast.walk(node))


def _is_loop_call(node: ast.expr, method: str) -> ast.Call | None:
    """``event_loop.<method>(x)``: the call, else ``None``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "event_loop"
        and len(node.args) == 1
        and not node.keywords
    ):
        return node
    return None


class _Analyzer:
    def __init__(self, plan: FilePlan, tree: ast.Module, settings: Settings) -> None:
        self.plan = plan
        self.tree = tree
        self.settings = settings
        self.loopwarden = settings.target == "loopwarden"
        self.pytest_names: set[str] = set()
        self.mark_names: set[str] = set()
        self.pytest_fixture_names: set[str] = set()
        self.pa_names: set[str] = set()
        self.pa_fixture_names: set[str] = set()
        self.asyncio_names: set[str] = set()
        self.name_index: dict[int, int] = {}
        self._collected: set[ast.ClassDef] = set()
        name = os.path.basename(plan.path)
        self.test_module = any(fnmatch.fnmatch(name, p) for p in settings.python_files)

    # -- collection ----------------------------------------------------------------------------

    def run(self) -> None:
        self._imports()
        self._collect()
        self._block(self.tree.body, (), "body", None)

    def _imports(self) -> None:
        for i, stmt in enumerate(self.tree.body):
            path: StmtPath = (("body", i),)
            if isinstance(stmt, ast.Import):
                for j, alias in enumerate(stmt.names):
                    top = alias.name.partition(".")[0]
                    if top not in _MODULES + _MOCK_MODULES or (alias.asname and alias.name != top):
                        continue
                    self._bind(Binding(alias.asname or top, top, "", path, j, len(stmt.names)))
            elif (
                isinstance(stmt, ast.ImportFrom)
                and not stmt.level
                and stmt.module in _MODULES + _MOCK_MODULES
            ):
                for j, alias in enumerate(stmt.names):
                    if alias.name == "*":
                        continue
                    bound = alias.asname or alias.name
                    self._bind(Binding(bound, stmt.module, alias.name, path, j, len(stmt.names)))
        plain = {b.module: b.name for b in reversed(self.plan.bindings) if not b.imported}
        self.plan.pytest_name = plain.get("pytest", "pytest")
        self.plan.asyncio_name = plain.get("asyncio", "asyncio")
        self.plan.pytest_asyncio_name = plain.get("pytest_asyncio", "pytest_asyncio")

    def _bind(self, binding: Binding) -> None:
        self.plan.bindings.append(binding)
        module, imported, name = binding.module, binding.imported, binding.name
        if module == "pytest":
            if not imported:
                self.pytest_names.add(name)
            elif imported == "mark":
                self.mark_names.add(name)
            elif imported == "fixture":
                self.pytest_fixture_names.add(name)
        elif module == "pytest_asyncio":
            if not imported:
                self.pa_names.add(name)
            elif imported == "fixture":
                self.pa_fixture_names.add(name)
        elif module == "asyncio" and not imported:
            self.asyncio_names.add(name)

    def _collect(self) -> None:
        """One walk of the whole tree: every use of an imported name, and what asks for
        ``event_loop`` by name (``usefixtures``, ``getfixturevalue``)."""
        bound = {b.name for b in self.plan.bindings}
        texts: dict[int, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name):
                if node.id in bound:
                    self.name_index[id(node)] = len(self.plan.names)
                    text = texts.get(id(node), node.id)
                    self.plan.names.append(NameUse(node.id, node.lineno, text))
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in bound:
                    texts[id(node.value)] = f"{node.value.id}.{node.attr}"
            elif isinstance(node, ast.Call):
                self._by_name(node)
            elif isinstance(node, ast.Assign) and self.loopwarden:
                self._pytest_plugins(node)

    def _by_name(self, call: ast.Call) -> None:
        func = call.func
        what = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if what not in ("usefixtures", "getfixturevalue"):
            return
        if not any(_literal(arg) == "event_loop" for arg in call.args):
            return
        self.plan.loop_users.append(LoopUser(call.lineno, what))
        self._report(
            call.lineno,
            f"{what}('event_loop') asks for {_NO_EVENT_LOOP}; not rewritten: ask for nothing "
            "and call asyncio.get_running_loop() in the async test or fixture that needs the loop",
        )

    def _pytest_plugins(self, node: ast.Assign) -> None:
        if not any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets):
            return
        for item in ast.walk(node.value):
            value = _literal(item) if isinstance(item, ast.expr) else None
            if value is not None and value.partition(".")[0] == "pytest_asyncio":
                self._report(
                    node.lineno,
                    f"pytest_plugins loads {value!r}: loopwarden's runner does not need "
                    "pytest-asyncio; remove it from pytest_plugins",
                )

    # -- helpers -------------------------------------------------------------------------------

    def names_in(self, node: ast.AST) -> set[int]:
        """Indices of the imported names used in ``node`` (:attr:`FilePlan.names`)."""
        return self._names_in(node)

    def fixture_decorator(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
        """``node``'s ``@pytest.fixture`` or ``@pytest_asyncio.fixture``, if it has one."""
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if self._is_pytest_fixture(target) or self._is_pa_fixture(target):
                return decorator
        return None

    def is_test(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None
    ) -> bool:
        """Whether pytest collects ``node`` (defined in ``cls``) as a test."""
        return (
            self.fixture_decorator(node) is None
            and self.test_module
            and (cls is None or cls in self._collected)
            and matches(node.name, self.settings.python_functions)
        )

    def is_collected(self, cls: ast.ClassDef) -> bool:
        """Whether pytest collects the class ``cls`` as a test class."""
        return self.test_module and cls in self._collected

    def _report(self, line: int, message: str, person: bool = True) -> None:
        self.plan.reports.append(Report(self.plan.path, line, message, person))

    def _edit(self, path: StmtPath) -> Edit:
        edit = self.plan.edits.get(path)
        if edit is None:
            edit = self.plan.edits[path] = Edit()
        return edit

    def _names_in(self, node: ast.AST) -> set[int]:
        return {
            self.name_index[id(n)]
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and id(n) in self.name_index
        }

    def _is_asyncio_mark(self, node: ast.expr) -> bool:
        if not (isinstance(node, ast.Attribute) and node.attr == "asyncio"):
            return False
        value = node.value
        if isinstance(value, ast.Name):
            return value.id in self.mark_names
        return (
            isinstance(value, ast.Attribute)
            and value.attr == "mark"
            and isinstance(value.value, ast.Name)
            and value.value.id in self.pytest_names
        )

    def _is_pa_fixture(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.pa_fixture_names
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "fixture"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.pa_names
        )

    def _is_pytest_fixture(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.pytest_fixture_names
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "fixture"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.pytest_names
        )

    # -- statements ----------------------------------------------------------------------------

    def _block(
        self, body: list[ast.stmt], prefix: StmtPath, field: str, cls: ast.ClassDef | None
    ) -> None:
        """Walk one block. ``cls`` is the class whose body this is; ``_collected`` holds the
        classes pytest collects (``python_classes``, every enclosing class collected too)."""
        for i, stmt in enumerate(body):
            path = (*prefix, (field, i))
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self._function(stmt, path, cls)
            elif isinstance(stmt, ast.ClassDef):
                self._decorators(stmt, path)
                if (cls is None or cls in self._collected) and matches(
                    stmt.name, self.settings.python_classes
                ):
                    self._collected.add(stmt)
                self._block(stmt.body, path, "body", stmt)
            elif isinstance(stmt, ast.If):
                self._block(stmt.body, path, "body", cls)
                self._block(stmt.orelse, path, "orelse", cls)
            elif (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == "pytestmark"
            ):
                self._pytestmark(stmt, path)

    def _decorators(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, path: StmtPath
    ) -> _Fixture | None:
        fixture = None
        marks = []
        for k, decorator in enumerate(node.decorator_list):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if self._is_asyncio_mark(target):
                marks.append((k, decorator))
            elif self._is_pa_fixture(target):
                fixture = _Fixture(decorator, pytest_asyncio=True)
                if self.loopwarden:
                    self._convert_fixture(decorator, path, k)
            elif self._is_pytest_fixture(target):
                fixture = _Fixture(decorator, pytest_asyncio=False)
        for k, decorator in marks:
            if fixture is not None:
                self._fixture_mark(decorator, path, k)
            else:
                self._marker(decorator, path, k)
        return fixture

    def _fixture_mark(self, decorator: ast.expr, path: StmtPath, k: int) -> None:
        """``@pytest.mark.asyncio`` on a fixture goes, for either target and in strict mode too:
        a mark on a fixture does nothing (pytest 8 warns of it, and pytest 9 refuses to collect
        the module: fastapi-users 10's ``test_app_client`` fixtures)."""
        edit = self._edit(path)
        edit.decorators.append(DecoratorEdit(k, remove=True))
        edit.counts["marker"] += 1
        edit.removed_names |= self._names_in(decorator)

    # -- rewrite 2: markers --------------------------------------------------------------------

    def _marker_kept(self, node: ast.expr, where: str) -> tuple[str, bool] | None:
        """Why a marker with arguments is kept, and whether that needs a person (else it is a
        note), or ``None`` when it can go."""
        if not isinstance(node, ast.Call) or not (node.args or node.keywords):
            return None
        text = f"{where}{ast.unparse(node)}"
        keywords = _keywords(node)
        others = [k for k in keywords if k not in ("loop_scope", "scope", "loop_factories")]
        if node.args or others or len(keywords) != len(node.keywords):
            names = ", ".join([*(f"{k}=" for k in others), *(["positional"] if node.args else [])])
            return (
                f"{text} kept: loopwarden's runner reads loop_scope= and loop_factories= from "
                f"pytest-asyncio's marker, not {names or '**kwargs'}; delete those arguments",
                True,
            )
        scope_node = keywords.get("loop_scope") or keywords.get("scope")
        if "loop_factories" in keywords and scope_node is None:
            return (
                f"{text} kept: loopwarden's runner honours loop_factories= as pytest-asyncio "
                "does (the test runs once per factory it names from the project's "
                "pytest_asyncio_loop_factories hook; a factory that makes another loop than "
                "asyncio's runs unguarded)",
                False,
            )
        scope = _literal(scope_node)
        if "loop_factories" in keywords:
            # The marker must stay for its factories (loopwarden's runner reads them from
            # pytest-asyncio's marker only): advice to delete it, or to write loopwarden's
            # marker instead, would drop them.
            asked = f"a {scope}-scoped loop" if scope else "the loop its loop_scope names"
            return (
                f"{text} kept: loopwarden's runner honours loop_factories= as pytest-asyncio "
                f"does, and loop_scope= (this test runs in {asked}); keep the marker for its "
                "factories. loopwarden runs everything else in one session loop by default, so "
                "a test whose async fixtures run in another loop fails at setup: drop only "
                "loop_scope= if the test just needs a shared loop",
                scope != "session",
            )
        if scope == "session":
            return (
                f"{text} kept: loopwarden's runner already runs every async test in one session "
                "loop by default (loopwarden_loop = session), so it can go; if the suite sets "
                "loopwarden_loop = test or asyncio_default_test_loop_scope, write "
                "@pytest.mark.loopwarden(loop_scope='session') instead",
                True,
            )
        asked = f"a {scope}-scoped loop" if scope else "the loop its loop_scope names"
        return (
            f"{text} kept: loopwarden's runner honours it (this test runs in {asked}) but runs "
            "everything else in one session loop by default, and a test whose async fixtures run "
            "in another loop fails at setup; delete it if the test only needs a shared loop, or "
            f"write @pytest.mark.loopwarden(loop_scope={scope or '...'!r}) to keep it without "
            "pytest-asyncio's marker"
        ).replace("'...'", "..."), True

    def _marker(self, decorator: ast.expr, path: StmtPath, k: int) -> None:
        if not self.loopwarden or self.settings.strict:
            return
        kept = self._marker_kept(decorator, "@")
        if kept is not None:
            self._report(decorator.lineno, *kept)
            return
        edit = self._edit(path)
        edit.decorators.append(DecoratorEdit(k, remove=True))
        edit.counts["marker"] += 1
        edit.removed_names |= self._names_in(decorator)

    def _pytestmark(self, stmt: ast.Assign, path: StmtPath) -> None:
        if not self.loopwarden or self.settings.strict:
            return

        def is_mark(node: ast.expr) -> bool:
            return self._is_asyncio_mark(node.func if isinstance(node, ast.Call) else node)

        value = stmt.value
        elements = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
        gone = []
        for index, element in enumerate(elements):
            if not is_mark(element):
                continue
            kept = self._marker_kept(element, "pytestmark = ")
            if kept is not None:
                self._report(element.lineno, *kept)
            else:
                gone.append(index)
        if not gone:
            return
        edit = self._edit(path)
        edit.counts["marker"] += len(gone)
        for index in gone:
            edit.removed_names |= self._names_in(elements[index])
        if len(gone) == len(elements):
            edit.remove = True
        else:
            edit.remove_elements = gone

    # -- rewrite 1: fixtures -------------------------------------------------------------------

    def _convert_fixture(self, decorator: ast.expr, path: StmtPath, k: int) -> None:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        drop = None
        if isinstance(decorator, ast.Call):
            keywords = _keywords(decorator)
            if decorator.args or len(keywords) != len(decorator.keywords):
                self._keep_fixture(
                    decorator,
                    f"@{ast.unparse(decorator)}: positional or ** arguments, which migrate does "
                    "not rewrite; write @pytest.fixture(...) with the same keyword arguments and "
                    "without loop_scope",
                )
                return
            if "loop_scope" in keywords:
                loop_node = keywords["loop_scope"]
                loop_scope = _literal(loop_node)
                scope_node = keywords.get("scope")
                scope = "function" if scope_node is None else _literal(scope_node)
                default = self.settings.fixture_loop_scope
                if default in (None, "fixture-scope"):
                    default = scope
                none = isinstance(loop_node, ast.Constant) and loop_node.value is None
                if none or (loop_scope is not None and loop_scope in (scope, default)):
                    drop = "loop_scope"
                elif loop_scope is None or scope is None:
                    self._keep_fixture(
                        decorator,
                        f"loop_scope={ast.unparse(loop_node)} with scope="
                        f"{ast.unparse(scope_node) if scope_node else repr(scope)}: migrate "
                        "cannot tell the loop apart from the fixture's scope; loopwarden's "
                        "runner shares the session loop by default; check the fixture does not "
                        "rely on its own loop, then write @pytest.fixture without loop_scope "
                        "(left as is)",
                    )
                    return
                else:
                    self._keep_fixture(
                        decorator,
                        f"loop_scope={loop_scope!r} on a {scope}-scoped fixture: loopwarden's "
                        "runner shares the session loop by default; check the fixture does not "
                        "rely on its own loop, then write @pytest.fixture without loop_scope "
                        "(left as is)",
                    )
                    return
        edit = self._edit(path)
        edit.decorators.append(DecoratorEdit(k, remove=False, drop_keyword=drop))
        edit.counts["fixture"] += 1
        edit.removed_names |= self._names_in(target)
        edit.added["pytest"] += 1

    def _keep_fixture(self, decorator: ast.expr, message: str) -> None:
        self.plan.explained |= self._names_in(decorator)
        self._report(decorator.lineno, message)

    # -- rewrites 3, 4, 5: event_loop ----------------------------------------------------------

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, path: StmtPath, cls: ast.ClassDef | None
    ) -> None:
        fixture = self._decorators(node, path)
        is_async = isinstance(node, ast.AsyncFunctionDef)
        name = node.name
        if fixture is not None and isinstance(fixture.decorator, ast.Call):
            name = _literal(_keywords(fixture.decorator).get("name")) or name
        if fixture is not None and name == "event_loop":
            self._override(node, path, fixture, is_async)
            return
        if fixture is not None and name == "event_loop_policy" and self.loopwarden:
            self._report(
                node.lineno,
                "event_loop_policy fixture kept: loopwarden's runner applies it to the same tests "
                "as pytest-asyncio does; a test that gets asyncio's own policy runs on "
                "loopwarden's loop, one that gets another (uvloop's) on a loop that policy makes, "
                "unguarded",
                person=False,
            )
        if "event_loop" not in _arg_names(node.args):
            return
        is_test = (
            fixture is None
            and self.test_module
            and (cls is None or cls in self._collected)
            and matches(node.name, self.settings.python_functions)
        )
        if not is_test and fixture is None:
            self._helper_note(node, cls)
            return
        what = node.name
        kept = self.settings.kept_event_loop
        if not is_async and is_test and kept is not None:
            # The project's own event_loop fixture stays (see its entry): to a sync test it is a
            # plain fixture, under either target, so the test keeps it as it is.
            self.plan.loop_users.append(LoopUser(node.lineno, node.name))
            self._report(
                node.lineno,
                f"{what} is a sync test that uses the project's event_loop fixture ({kept}), "
                "which stays: left as it is",
                person=False,
            )
            return
        if not is_async and not is_test and self._session_loop() and not _reads_event_loop(node):
            # Asked for only to have a current loop while it runs (a client made in it looks the
            # loop up): loopwarden's runner makes its session loop current while an async test's
            # fixtures are set up. (Not for a sync test: no loop is current for one until an
            # async test has made the session loop.)
            edit = self._edit(path)
            edit.remove_param = True
            edit.counts["unused_event_loop"] += 1
            if kept is not None:
                self._report(
                    node.lineno,
                    f"{what} asked for event_loop without reading it: the parameter is removed, "
                    f"so {what} no longer sets up the project's event_loop fixture ({kept}) for "
                    "the tests that use it; a sync test that needs what that fixture sets up "
                    "(a current loop, an exception handler) should ask for it itself",
                    person=False,
                )
            return
        wide = None if fixture is None else self._wide_scope(fixture)
        if not is_async and not is_test and self._hands_out_the_loop(node):
            edit = Edit() if wide is not None else self._edit(path)
            edit.make_async = edit.remove_param = edit.replace_uses = True
            edit.added["asyncio"] += _loop_uses(node)[0]
            edit.counts["sync_fixture"] += 1
            assert fixture is not None  # (not a test, and it takes event_loop)
            self._made_async(node, path, fixture, wide, edit, [])
            return
        if not is_async:
            driver = self._drives_only_event_loop(node, is_test)
            if driver is not None:
                edit = Edit() if wide is not None else self._edit(path)
                edit.make_async = edit.remove_param = edit.await_runs = True
                edit.finalizer = driver or None
                edit.replace_uses = True
                edit.added["asyncio"] += _loop_uses(node, allow=driver or None)[0] - sum(
                    1 for _ in _runs_of(node)
                )
                edit.counts["sync_driver"] += 1
                imports = []
                if driver and node.returns is not None:  # (a finalizer: a fixture's only)
                    imports = self._async_iterator_import()
                if fixture is not None:
                    self._made_async(node, path, fixture, wide, edit, imports)
                return
            self.plan.loop_users.append(LoopUser(node.lineno, node.name))
            if not is_test and wide is not None:
                self._report(node.lineno, wide_message(what, wide[0], None, None))
                return
            self._sync_user(node, what, is_test)
            return
        uses, problem = _loop_uses(node)
        if problem is not None:
            line, where = problem
            self.plan.loop_users.append(LoopUser(node.lineno, node.name))
            if where is None:
                self._report(
                    line,
                    f"{what}: event_loop is assigned to, so its uses cannot all become "
                    "asyncio.get_running_loop(); not rewritten: remove the event_loop parameter "
                    "and call asyncio.get_running_loop() where the loop is needed",
                )
            else:
                self._report(
                    line,
                    f"{what}: event_loop is used in {where}, which may run when no loop is "
                    f"running; not rewritten: write loop = asyncio.get_running_loop() at the top "
                    f"of {node.name}, use loop there, and remove the event_loop parameter",
                )
            return
        edit = self._edit(path)
        edit.remove_param = True
        edit.replace_uses = uses > 0
        edit.added["asyncio"] += uses
        edit.counts["event_loop_param"] += 1

    def _helper_note(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None
    ) -> None:
        """A function that takes ``event_loop`` but that pytest does not collect is left as it is
        (whoever calls it passes a loop), and the summary says so, with the patterns it went by:
        a plugin or a conftest hook can collect more than they say."""
        functions = ", ".join(self.settings.python_functions)
        if not self.test_module:
            why = (
                f"its module is not a test module by python_files "
                f"({', '.join(self.settings.python_files)})"
            )
        elif cls is not None and cls not in self._collected:
            why = (
                f"its class {cls.name} is not a test class by python_classes "
                f"({', '.join(self.settings.python_classes)})"
            )
        else:
            why = f"its name does not match python_functions ({functions})"
        self._report(
            node.lineno,
            f"{node.name} takes event_loop but is not a test ({why}) nor a fixture; left as it "
            "is, as its callers pass the loop. If pytest does collect it as a test, make it "
            "`async def` and use asyncio.get_running_loop() instead",
            person=False,
        )

    def _made_async(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        path: StmtPath,
        fixture: _Fixture,
        wide: tuple[str, str | None] | None,
        edit: Edit,
        imports: list[str],
    ) -> None:
        """A sync fixture becomes async: with ``--target pytest-asyncio`` it gets
        ``@pytest_asyncio.fixture`` in strict mode, and one wider than a test also
        ``loop_scope=``, which waits for :func:`loopwarden.migrate._runner.decide` (the loop
        its tests ran in is the scope of the ``event_loop`` override it got, maybe in another
        file)."""
        if wide is None:
            if not fixture.pytest_asyncio and self._pa_strict:
                self._to_pa_fixture(node, fixture.decorator, edit)
            for line in imports:
                if line not in self.plan.add_imports:
                    self.plan.add_imports.append(line)
            return
        scope, value = wide
        assert isinstance(fixture.decorator, ast.Call)  # (a scope is given)
        keywords = _keywords(fixture.decorator)
        why = None
        if len(keywords) != len(fixture.decorator.keywords) or fixture.decorator.args:
            why = "its decorator has positional or ** arguments, which migrate does not rewrite"
        elif "loop_scope" in keywords:
            why = f"it already says loop_scope={ast.unparse(keywords['loop_scope'])}"
        if why is not None:
            self.plan.loop_users.append(LoopUser(node.lineno, node.name))
            self._report(node.lineno, wide_message(node.name, scope, why, None))
            return
        self._to_pa_fixture(node, fixture.decorator, edit, add_keyword=("loop_scope", ""))
        self.plan.wide_fixtures.append(
            WideFixture(path, node.lineno, node.name, scope, value, edit, imports)
        )

    @property
    def _pa_strict(self) -> bool:
        """pytest-asyncio (``--target pytest-asyncio``) in strict mode: it runs an async fixture
        only under its own decorator."""
        return not self.loopwarden and self.settings.strict

    def _to_pa_fixture(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        decorator: ast.expr,
        edit: Edit,
        add_keyword: tuple[str, str] | None = None,
    ) -> None:
        """``@pytest.fixture(...)`` -> ``@pytest_asyncio.fixture(...)``, for a fixture that
        becomes async under pytest-asyncio's strict mode (or needs ``loop_scope=``, which only
        pytest-asyncio's decorator takes)."""
        index = next(i for i, d in enumerate(node.decorator_list) if d is decorator)
        edit.decorators.append(
            DecoratorEdit(
                index,
                remove=False,
                module=self.plan.pytest_asyncio_name,
                add_keyword=add_keyword,
            )
        )
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        edit.removed_names |= self._names_in(target)
        edit.added["pytest_asyncio"] += 1

    def _async_iterator_import(self) -> list[str]:
        """``AsyncIterator`` for a return annotation: its import, unless the module binds it
        (also under ``if TYPE_CHECKING:`` when annotations are not evaluated at run time)."""
        lazy = any(
            isinstance(stmt, ast.ImportFrom)
            and stmt.module == "__future__"
            and any(a.name == "annotations" for a in stmt.names)
            for stmt in self.tree.body
        )
        blocks = [self.tree.body]
        if lazy:
            blocks += [
                stmt.body
                for stmt in self.tree.body
                if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)
            ]
        for block in blocks:
            for stmt in block:
                if isinstance(stmt, ast.Import | ast.ImportFrom) and any(
                    (a.asname or a.name) == "AsyncIterator" for a in stmt.names
                ):
                    return []
        return ["from collections.abc import AsyncIterator"]

    def _drives_only_event_loop(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, test: bool
    ) -> str | None:
        """A sync test or fixture that drives ``event_loop`` only with
        ``event_loop.run_until_complete(x)`` (aiosmtplib's server fixtures): as an ``async def``
        it awaits ``x`` in the loop it runs in. A fixture may also hand a nested function to
        ``request.addfinalizer`` just before its last ``return`` (the statement right before
        it): it becomes ``yield``, and that function's body follows it.

        Returns:
            ``None`` when it does not qualify; else the finalizer's name, or ``""``.

        Not when a test would need a marker to run as ``async def`` (strict mode); when the loop
        is read anywhere else where no loop may run, rebound, or run or stopped another way
        (``asyncio.run``, ``run_forever``, ``close``…); when ``x`` holds a nested function or a
        lambda; when a fixture that yields carries a return annotation (it would need
        ``AsyncIterator``); nor with an early ``return`` besides the finalizer's.
        """
        if test and self.settings.strict:
            return None
        runs = list(_runs_of(node))
        if not runs:
            return None
        finalizer = None if test else _finalizer(node)
        uses, problem = _loop_uses(node, allow=finalizer)
        if problem is not None or uses == 0 or not _only_methods_of_the_loop(node):
            return None
        accepted = {id(run) for run in runs}
        yields = False
        for child in ast.walk(node):
            if isinstance(child, ast.Await | ast.AsyncFor | ast.AsyncWith):
                return None
            if isinstance(child, ast.Yield | ast.YieldFrom):
                yields = True
                if finalizer is not None or node.returns is not None:
                    return None
            if isinstance(child, ast.Call) and id(child) not in accepted:
                func = child.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                on_loop = isinstance(func, ast.Attribute) and _is_event_loop(func.value)
                on_asyncio = (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in (self.asyncio_names or {"asyncio"})
                )
                if (
                    called in _RUNS_A_LOOP
                    or (called == "run" and on_asyncio)
                    or (on_loop and called in _DRIVES_A_LOOP)
                ):
                    return None
        if yields and _returns_a_value(node.body):
            return None  # `return x` in an async generator does not compile
        for run in runs:
            if any(
                isinstance(n, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef)
                for n in ast.walk(run.args[0])
            ):
                return None
        return finalizer or ""

    def _wide_scope(self, fixture: _Fixture) -> tuple[str, str | None] | None:
        """With ``--target pytest-asyncio``, the scope of a fixture wider than a test, as
        written and as a value (``None`` when not a literal); ``None`` for a function-scoped
        one.

        A sync fixture made async runs, under pytest-asyncio 1.x, in the loop its
        ``loop_scope=`` names (else ``asyncio_default_fixture_loop_scope``'s, else one of its own
        scope). A wider one needs that keyword: the loop its tests ran in under 0.21, which is
        the scope of the ``event_loop`` override it got (:class:`WideFixture`). loopwarden's
        runner gives a wider fixture the loop its tests share: nothing to write there."""
        if self.loopwarden or not isinstance(fixture.decorator, ast.Call):
            return None
        decorator = fixture.decorator
        scope = _keywords(decorator).get("scope")
        if scope is None:
            return None
        value = _literal(scope)
        if value == "function":
            return None
        return (ast.unparse(scope), value if value in SCOPES else None)

    def _session_loop(self) -> bool:
        """Whether the target is loopwarden's runner with its session loop (the default): its
        loop is then current while an async test's fixtures are set up."""
        settings = self.settings
        return (
            self.loopwarden
            and settings.own_loop in (None, "session")
            and settings.test_loop_scope in (None, "session")
        )

    def _hands_out_the_loop(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """A sync fixture that only passes ``event_loop`` along (``return event_loop``, ``yield
        event_loop``, ``Client(loop=event_loop)``) and drives no loop: as an ``async def``
        fixture it runs in the very loop it now gets from ``asyncio.get_running_loop()``.

        With ``--target pytest-asyncio`` in strict mode, its ``@pytest.fixture`` becomes
        ``@pytest_asyncio.fixture``. Not when anything in it runs a loop or could run outside one
        (a nested function, a lambda), or rebinds ``event_loop``.
        """
        uses, problem = _loop_uses(node)
        if problem is not None or uses == 0:
            return False
        for child in ast.walk(node):
            if isinstance(child, ast.Call):
                func = child.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in _DRIVES_A_LOOP:
                    return False
            # A loop method handed on uncalled (`Thread(target=event_loop.run_forever)`,
            # `call_soon_threadsafe(event_loop.stop)`), or a setting of the now shared loop.
            if (
                isinstance(child, ast.Attribute)
                and _is_event_loop(child.value)
                and child.attr in _DRIVES_A_LOOP | _SETS_THE_LOOP
            ):
                return False
            if isinstance(child, ast.Await | ast.AsyncFor | ast.AsyncWith):
                return False
        return True

    def _sync_user(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, what: str, test: bool
    ) -> None:
        awaited = []
        accepted: set[int] = set()
        for child in ast.walk(node):
            call = (
                _is_loop_call(child, "run_until_complete") if isinstance(child, ast.expr) else None
            )
            if call is not None:
                awaited.append((call.lineno, ast.unparse(call.args[0])))
                assert isinstance(call.func, ast.Attribute)
                accepted.add(id(call.func.value))
        others = [
            n
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and n.id == "event_loop" and id(n) not in accepted
        ]
        awaited.sort()
        if test and awaited and not others:
            more = ", ".join(str(line) for line, _ in awaited[1:])
            self._report(
                node.lineno,
                f"{what} is a sync test that drives {_NO_EVENT_LOOP} with "
                f"event_loop.run_until_complete(...); not rewritten: make it `async def "
                f"{node.name}(...)` without the event_loop parameter and write "
                f"`await {awaited[0][1]}` for `event_loop.run_until_complete({awaited[0][1]})`"
                + (f" (likewise on line{'s' if len(awaited) > 2 else ''} {more})" if more else ""),
            )
            return
        kind = "test" if test else "fixture"
        kept = self.settings.kept_event_loop
        if kept is not None:
            self._report(
                node.lineno,
                f"{what} is a sync {kind} that uses the project's event_loop fixture ({kept}), "
                "which async tests no longer run on; not rewritten: make it `async def`, await "
                "what it runs on the loop, and call asyncio.get_running_loop() where it needs "
                "the loop",
            )
            return
        self._report(
            node.lineno,
            f"{what} is a sync {kind} that uses {_NO_EVENT_LOOP}; not rewritten: make it "
            f"`async def`, await what it runs on the loop, and call asyncio.get_running_loop() "
            "where it needs the loop",
        )

    def _override(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        path: StmtPath,
        fixture: _Fixture,
        is_async: bool,
    ) -> None:
        scope: str | None = "function"
        allowed = True
        if isinstance(fixture.decorator, ast.Call):
            keywords = _keywords(fixture.decorator)
            if "scope" in keywords:
                scope = _literal(keywords["scope"])
            allowed = not fixture.decorator.args and set(keywords) <= {"scope", "autouse", "name"}
            allowed = allowed and len(keywords) == len(fixture.decorator.keywords)
        params = _arg_names(node.args)
        recipe = (
            not is_async
            and allowed
            and scope is not None
            and len(node.decorator_list) == 1
            and set(params) <= {"request", "event_loop_policy"}
            and self._is_recipe(node, "event_loop_policy" in params)
        )
        after = ""
        if recipe and scope is not None and not self.loopwarden:
            _, keys = _removed_override_note(scope, self.settings)
            after = (
                keys.get("asyncio_default_test_loop_scope")
                or self.settings.test_loop_scope
                or "function"
            )
        self.plan.overrides.append(
            Override(path, node.lineno, scope or "", recipe, frozenset(self._names_in(node)), after)
        )
        if recipe:
            return
        if self.loopwarden:
            advice = (
                "loopwarden's runner runs async tests on its own loops, never on this one, so the "
                "async tests and fixtures that asked for it now call asyncio.get_running_loop(), "
                "and sync tests keep it as a plain fixture. Move any setup it does for async "
                "tests into a fixture of their own; choose other loops (uvloop) with an "
                "event_loop_policy fixture or the pytest_asyncio_loop_factories hook, which "
                "loopwarden's runner honours (their loops run unguarded)"
            )
        else:
            advice = (
                "pytest-asyncio 1.0 no longer runs async tests on an event_loop fixture, so the "
                "async tests and fixtures that asked for it now call "
                "asyncio.get_running_loop(), and sync tests keep it as a plain fixture. Move any "
                "setup it does for async tests into a fixture of their own; choose other loops "
                "with an event_loop_policy fixture or, from pytest-asyncio 1.4, the "
                "pytest_asyncio_loop_factories hook"
            )
        self._report(
            node.lineno,
            "event_loop fixture does more than make, yield and close a loop (a custom policy, "
            f"uvloop, extra setup), so it was left as is: {advice}",
        )

    def _is_recipe(self, node: ast.FunctionDef | ast.AsyncFunctionDef, policy: bool) -> bool:
        """``loop = asyncio.new_event_loop()`` (or the policy's, or ``get_event_loop()``: the
        loop that fixture's first caller gets, made for it), ``yield loop``, ``loop.close()``,
        the last two optionally as ``try: yield loop finally: loop.close()``. With ``policy``
        (the fixture asks for ``event_loop_policy``), the loop may come from that fixture's
        ``new_event_loop()``: pytest-asyncio 0.23's own recipe, and both targets apply the
        project's policy fixture to the same tests."""
        body = list(node.body)
        if body and isinstance(body[0], ast.Expr) and _literal(body[0].value) is not None:
            body = body[1:]  # the docstring
        if len(body) == 3:
            make, give, close = body
        elif len(body) == 2 and isinstance(body[1], ast.Try):
            make, block = body[0], body[1]
            if block.handlers or block.orelse or len(block.body) != 1 or len(block.finalbody) != 1:
                return False
            give, close = block.body[0], block.finalbody[0]
        else:
            return False
        if not (
            isinstance(make, ast.Assign)
            and len(make.targets) == 1
            and isinstance(make.targets[0], ast.Name)
            and self._is_new_loop(make.value, policy)
        ):
            return False
        loop = make.targets[0].id
        yields = (
            isinstance(give, ast.Expr)
            and isinstance(give.value, ast.Yield)
            and isinstance(give.value.value, ast.Name)
            and give.value.value.id == loop
        )
        closes = (
            isinstance(close, ast.Expr)
            and isinstance(close.value, ast.Call)
            and not close.value.args
            and not close.value.keywords
            and isinstance(close.value.func, ast.Attribute)
            and close.value.func.attr == "close"
            and isinstance(close.value.func.value, ast.Name)
            and close.value.func.value.id == loop
        )
        return yields and closes

    def _is_new_loop(self, node: ast.expr, policy: bool) -> bool:
        # `get_event_loop()` in the recipe (fastapi-users' session loop): at a fixture's set-up
        # no loop runs, so it is the loop the policy makes for the fixture, which then closes it.
        if not (
            isinstance(node, ast.Call)
            and not node.args
            and not node.keywords
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("new_event_loop", "get_event_loop")
        ):
            return False
        owner = node.func.value
        if isinstance(owner, ast.Name):
            if policy and owner.id == "event_loop_policy":
                return node.func.attr == "new_event_loop"
            return owner.id in self.asyncio_names
        return (
            isinstance(owner, ast.Call)
            and not owner.args
            and not owner.keywords
            and isinstance(owner.func, ast.Attribute)
            and owner.func.attr == "get_event_loop_policy"
            and isinstance(owner.func.value, ast.Name)
            and owner.func.value.id in self.asyncio_names
        )


def wide_message(name: str, scope: str, why: str | None, loop_scope: str | None) -> str:
    """The report on a sync fixture wider than a test that uses ``event_loop`` and is left
    (``--target pytest-asyncio``): ``why``, and what to write, with the loop scope when known."""
    because = f"{why}; " if why else ""
    loop = (
        repr(loop_scope)
        if loop_scope
        else "<the scope of the event_loop fixture it used: the loop its tests run in>"
    )
    return (
        f"{name} is a sync fixture wider than a test (scope={scope}) that uses {_NO_EVENT_LOOP}; "
        f"not rewritten: {because}make it `async def` with @pytest_asyncio.fixture("
        f"scope={scope}, loop_scope={loop}), await what it runs on the loop, and call "
        "asyncio.get_running_loop() where it needs the loop"
    )


def _is_event_loop(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "event_loop"


def _runs_of(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.Call]:
    """Each ``event_loop.run_until_complete(x)`` call in ``func`` (one argument, no keyword)."""
    for node in ast.walk(func):
        call = _is_loop_call(node, "run_until_complete") if isinstance(node, ast.expr) else None
        if (
            call is not None
            and len(call.args) == 1
            and not call.keywords
            and not isinstance(call.args[0], ast.Starred)
        ):
            yield call


def _finalizer(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The nested function ``func`` hands to ``request.addfinalizer`` right before its last
    statement, a ``return``: ``def close(): ...`` then ``request.addfinalizer(close)`` then
    ``return server``. Only when that is the function's one ``return``, ``request`` is its
    parameter, and the nested function takes no argument, has no decorator, no ``return`` or
    ``yield`` of its own and is named nowhere else."""
    body = func.body
    if len(body) < 3 or not isinstance(body[-1], ast.Return):
        return None
    if (
        not (body[-3].end_lineno or 0)
        < body[-2].lineno
        <= (body[-2].end_lineno or 0)
        < body[-1].lineno
    ):
        return None  # `a; request.addfinalizer(f)` or `...; return x`: lines of their own only
    returned = body[-1].value if isinstance(body[-1], ast.Return) else None
    if returned is not None and not isinstance(returned, ast.Name | ast.Constant):
        return None  # an expression that may raise: addfinalizer had already registered
    call = body[-2].value if isinstance(body[-2], ast.Expr) else None
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "addfinalizer"
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "request"
        and "request" in _arg_names(func.args)
        and len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.Name)
    ):
        return None
    name = call.args[0].id
    defs = [s for s in body[:-2] if isinstance(s, ast.FunctionDef) and s.name == name]
    if len(defs) != 1:
        return None
    nested = defs[0]
    if nested.decorator_list or _arg_names(nested.args) or nested.args.vararg or nested.args.kwarg:
        return None
    if nested.body[0].lineno == nested.lineno:
        return None  # `def close(): ...` on one line
    for node in ast.walk(nested):
        if node is not nested and isinstance(
            node, ast.Return | ast.Yield | ast.YieldFrom | ast.FunctionDef | ast.Lambda
        ):
            return None
        if isinstance(node, ast.Global | ast.Nonlocal):
            return None
    named = sum(1 for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == name)
    return name if named == 1 and _own_returns(func.body) == 1 else None


def _only_methods_of_the_loop(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether every read of ``event_loop`` in ``func`` calls one of its methods
    (``event_loop.time()``), none that changes the loop for the tests after it: handed on
    whole (``helper(event_loop)``), a sync callee may drive it, which fails on the running
    loop."""
    calls = {
        id(node.func.value)
        for node in ast.walk(func)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _is_event_loop(node.func.value)
        and node.func.attr not in _SETS_THE_LOOP
    }
    return all(
        id(node) in calls
        for node in ast.walk(func)
        if isinstance(node, ast.Name) and node.id == "event_loop"
    )


def _returns_a_value(body: list[ast.stmt]) -> bool:
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return False


def _own_returns(body: list[ast.stmt]) -> int:
    """The ``return`` statements of a function body, not counting nested functions' and
    classes'."""
    count = 0
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            count += 1
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))
    return count


def _loop_uses(
    func: ast.FunctionDef | ast.AsyncFunctionDef, allow: str | None = None
) -> tuple[int, tuple[int, str | None] | None]:
    """How often the body of ``func`` reads ``event_loop``, and the first reason not to rewrite
    it: ``(line, None)`` when the name is bound again, ``(line, where)`` when it is read in a
    nested sync function, a lambda, a class body or a generator expression (code that may run
    when no loop is running, where ``asyncio.get_running_loop()`` fails). The nested function
    named ``allow`` (a finalizer whose body moves after a ``yield``) counts as the body."""
    uses = 0

    def rebinds(node: ast.AST) -> bool:
        defines = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if defines and getattr(node, "name", None) == "event_loop":
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return "event_loop" in _arg_names(node.args)
        if isinstance(node, ast.Global | ast.Nonlocal):
            return "event_loop" in node.names
        if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
            return node.name == "event_loop"
        if isinstance(node, ast.MatchMapping):
            return node.rest == "event_loop"
        if isinstance(node, ast.alias):
            return (node.asname or node.name.partition(".")[0]) == "event_loop"
        return False

    def visit(node: ast.AST, nested: str | None) -> tuple[int, str | None] | None:
        nonlocal uses
        if isinstance(node, ast.Name):
            if node.id != "event_loop":
                return None
            if not isinstance(node.ctx, ast.Load):
                return (node.lineno, None)
            if nested is not None:
                return (node.lineno, nested)
            uses += 1
            return None
        if rebinds(node):
            return (getattr(node, "lineno", func.lineno), None)
        inner = nested
        if nested is None:
            if isinstance(node, ast.FunctionDef) and node.name == allow and node in func.body:
                pass
            elif isinstance(node, ast.FunctionDef):
                inner = f"the nested function {node.name}"
            elif isinstance(node, ast.Lambda):
                inner = "a lambda"
            elif isinstance(node, ast.ClassDef):
                inner = f"the class {node.name}"
            elif isinstance(node, ast.GeneratorExp):
                inner = "a generator expression"
        for child in ast.iter_child_nodes(node):
            found = visit(child, inner)
            if found is not None:
                return found
        return None

    for stmt in func.body:
        problem = visit(stmt, None)
        if problem is not None:
            return uses, problem
    return uses, None


#: pytest's scopes, narrowest first.
SCOPES = ("function", "class", "module", "package", "session")

# Calls that run a loop of their own: a test or fixture making them must stay sync.
_RUNS_A_LOOP = frozenset(
    {"run_until_complete", "run_forever", "Runner", "set_event_loop", "new_event_loop"}
)

# Loop settings that would now apply to the loop the tests after it share.
_SETS_THE_LOOP = frozenset(
    {"set_exception_handler", "set_debug", "set_task_factory", "set_default_executor"}
)

# Calls that run or stop a loop from sync code: a fixture making them must stay sync.
_DRIVES_A_LOOP = frozenset(
    {"run_until_complete", "run_forever", "run", "stop", "close", "set_event_loop", "Runner"}
)


def finalize(plan: FilePlan, decisions: dict[StmtPath, str | None], settings: Settings) -> FilePlan:
    """Complete a plan once the ``event_loop`` overrides are decided: remove those that go, note
    why others stay, fix the imports, and report what still uses pytest-asyncio.

    Args:
        plan: The plan from :func:`analyze`.
        decisions: For each override of this file whose body is the usual recipe: ``None`` to
            remove it, or why it stays (what still asks for ``event_loop``).
        settings: The run's settings.

    Returns:
        The same plan, completed.
    """
    if plan.error is not None:
        return plan
    for override in plan.overrides:
        if not override.recipe or override.stmt not in decisions:
            continue
        why = decisions[override.stmt]
        if why is not None:
            plan.reports.append(
                Report(
                    plan.path,
                    override.line,
                    f"event_loop fixture kept, since something still asks for it: {why}; delete "
                    "it once nothing does (see those entries)",
                )
            )
            continue
        plan.edits[override.stmt] = Edit(
            remove=True,
            counts=Counter(event_loop_fixture=1),
            removed_names=set(override.removed_names),
        )
        note, keys = _removed_override_note(override.scope, settings)
        if note is not None:
            plan.reports.append(Report(plan.path, override.line, *note))
        plan.config_keys.update(keys)
    _fix_imports(plan, settings)
    return plan


def _removed_override_note(
    scope: str, settings: Settings
) -> tuple[tuple[str, bool] | None, dict[str, str]]:
    """The note on a removed ``event_loop`` override, and the configuration keys to write."""
    if settings.target == "pytest-asyncio":
        configured = {
            "asyncio_default_fixture_loop_scope": settings.fixture_loop_scope,
            "asyncio_default_test_loop_scope": settings.test_loop_scope,
        }
        # (pytest-asyncio's default test loop scope is function.)
        missing = [
            key
            for key, value in configured.items()
            if (value or ("function" if key.endswith("_test_loop_scope") else None)) != scope
        ]
        if not missing:
            return (
                f"event_loop fixture (scope={scope!r}) removed: the configuration already says "
                f"that scope with asyncio_default_fixture_loop_scope and "
                "asyncio_default_test_loop_scope",
                False,
            ), {}
        others = [key for key in missing if configured[key] is not None]
        if others:
            return (
                f"event_loop fixture (scope={scope!r}) removed: pytest-asyncio 1.0 has no "
                "event_loop fixture; its scope belongs in the pytest configuration, which says "
                "otherwise: "
                + " and ".join(f"{key} = {configured[key]} (make it {scope})" for key in others)
                + "; migrate does not overwrite a value you chose",
                True,
            ), {}
        return (
            f"event_loop fixture (scope={scope!r}) removed: pytest-asyncio 1.0 has no "
            "event_loop fixture; its scope goes into the pytest configuration: "
            + " and ".join(f"{key} = {scope}" for key in missing),
            False,
        ), dict.fromkeys(missing, scope)
    if scope == "session":
        return None, {}
    per = "test" if scope == "function" else scope
    return (
        f"event_loop fixture (scope={scope!r}) removed: loopwarden's runner runs every test and "
        f"fixture in one session loop by default; if the suite relied on a fresh loop per {per}, "
        "set loopwarden_loop = test (a fresh loop per test; fixtures wider than a test keep a "
        "loop of their own scope)",
        False,
    ), {}


def _fix_imports(plan: FilePlan, settings: Settings) -> None:
    removed: set[int] = set()
    added: Counter[str] = Counter()
    for edit in plan.edits.values():
        removed |= edit.removed_names
        added.update(edit.added)
    total = Counter(use.name for use in plan.names)
    gone = Counter(plan.names[i].name for i in removed)
    final = total - gone
    final[plan.pytest_name] += added["pytest"]
    final[plan.asyncio_name] += added["asyncio"]
    final[plan.pytest_asyncio_name] += added["pytest_asyncio"]
    drop: dict[StmtPath, list[int]] = {}
    sizes: dict[StmtPath, int] = {}
    for binding in plan.bindings:
        if final[binding.name] > 0:
            continue
        unused_before = total[binding.name] == 0
        if binding.module == "pytest_asyncio" and settings.target == "loopwarden":
            pass  # no use left: pytest-asyncio goes
        elif unused_before:
            continue  # imported for its side effect, or simply unused: not ours to touch
        drop.setdefault(binding.stmt, []).append(binding.alias)
        sizes[binding.stmt] = binding.count
    for stmt, aliases in drop.items():
        plan.edits[stmt] = Edit(
            remove=len(aliases) == sizes[stmt],
            remove_aliases=sorted(aliases),
            counts=Counter({"import": 1}),
        )
    bound = {b.name for b in plan.bindings if not b.imported}
    for module, name in (
        ("pytest", plan.pytest_name),
        ("asyncio", plan.asyncio_name),
        ("pytest_asyncio", plan.pytest_asyncio_name),
    ):
        if added[module] and name not in bound:
            plan.add_imports.append(f"import {module}")
    if settings.target != "loopwarden":
        return
    modules = {b.name: b.module for b in plan.bindings}
    for index, use in enumerate(plan.names):
        if modules.get(use.name) != "pytest_asyncio" or index in removed:
            continue
        if index in plan.explained:
            continue
        hint = ""
        if use.text.endswith("is_async_test"):
            hint = (
                " (the usual hook that marks every async test with loop_scope='session' is not "
                "needed: loopwarden's runner runs them all in the session loop by default)"
            )
        plan.reports.append(
            Report(
                plan.path,
                use.line,
                f"{use.text} is pytest-asyncio's and still used here{hint}; loopwarden's runner "
                "does not need pytest-asyncio: replace this use, or keep pytest-asyncio installed "
                "and run with -p no:asyncio",
            )
        )
