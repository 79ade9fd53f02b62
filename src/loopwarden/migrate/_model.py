"""Data carried between the phases of ``loopwarden migrate``: plans, reports and outcomes.

A plan names statements by their *path*, the ``(field, index)`` steps from the module down
(``(("body", 3), ("body", 0))`` is the first statement of the class that is the module's fourth).
Indices count :mod:`ast` statements, so ``a = 1; b = 2`` is two of them; the libcst side maps
them back (:mod:`loopwarden.migrate._rewrite`). Plans are plain data: workers send them back and
forth between processes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Target = Literal["loopwarden", "pytest-asyncio"]
StmtPath = tuple[tuple[str, int], ...]

#: Each kind of change, in the order the summary lists them, with its label.
KINDS: dict[str, str] = {
    "fixture": "@pytest_asyncio.fixture -> @pytest.fixture",
    "marker": "@pytest.mark.asyncio / pytestmark removed",
    "event_loop_param": "event_loop parameter removed (its uses -> asyncio.get_running_loop())",
    "sync_fixture": "sync fixture that hands out event_loop -> async def",
    "sync_driver": "sync test or fixture driving event_loop.run_until_complete -> async def",
    "unused_event_loop": "event_loop parameter removed from a sync fixture that never reads it "
    "(the runner's loop is current while an async test's fixtures are set up)",
    "event_loop_fixture": "event_loop fixture override removed",
    "virtual_time": "patched asyncio.sleep -> loopwarden's virtual time (unsafe: each is listed "
    "below, to check)",
    "import": "import added or removed",
    "config_key": "pytest configuration key set (the removed event_loop fixture's scope)",
    "virtual_time_key": "loopwarden_virtual_time = on set (a conftest.py's patched "
    "asyncio.sleep removed)",
    "lint_LW110": "httpx client app= -> transport=ASGITransport(app=...) (lint's LW110 fix)",
}


LINT_FIXES = frozenset({"LW110"})
"""The lint rules whose safe fixes migrate applies: what a suite of the pytest-asyncio 0.21 era
meets besides pytest-asyncio (httpx 0.28's removed ``app=``). LW106's fix, an unused
``event_loop`` parameter removed, is rewrite 3's already."""


@dataclass(frozen=True, slots=True)
class Report:
    """A place the summary lists.

    Attributes:
        path: The file.
        line: 1-based line, or ``None`` for the whole file.
        message: What is there, why it matters and what to do.
        person: ``True`` when a person must act (exit status 1); ``False`` for a note.
    """

    path: str
    line: int | None
    message: str
    person: bool = True

    def render(self) -> str:
        """``path:line: message`` (``path: message`` for a whole file)."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

    @property
    def sort_key(self) -> tuple[str, int, str]:
        """Order in the summary: path, then line (whole-file reports first)."""
        return (self.path, self.line or 0, self.message)


@dataclass(frozen=True, slots=True)
class DecoratorEdit:
    """One decorator of a planned ``def`` or ``class``.

    Attributes:
        index: Its position among the decorators.
        remove: Remove it (a bare ``@pytest.mark.asyncio``); otherwise turn it into
            ``@<pytest>.fixture`` with the same arguments.
        drop_keyword: With the conversion, the keyword argument to leave out (``loop_scope``).
        module: The name to write ``<module>.fixture`` with (``pytest``, or ``pytest_asyncio``
            for a fixture that becomes async under pytest-asyncio's strict mode); ``None``: the
            plan's ``pytest_name``.
        add_keyword: With the conversion, a keyword argument to write right after ``scope=``:
            its name and its value as a string (``("loop_scope", "session")``).
    """

    index: int
    remove: bool
    drop_keyword: str | None = None
    module: str | None = None
    add_keyword: tuple[str, str] | None = None


@dataclass(slots=True)
class Edit:
    """What to do with one statement, and what that does to the counts.

    Attributes:
        remove: Remove the whole statement.
        decorators: Decorator edits of a ``def`` or ``class``.
        remove_param: Remove the ``event_loop`` parameter of a ``def``.
        replace_uses: Replace each use of ``event_loop`` in the body with
            ``<asyncio>.get_running_loop()``.
        make_async: Turn the ``def`` into ``async def`` (a sync fixture that only passes the
            loop along: as an async fixture it runs in the loop it hands out).
        await_runs: Replace each ``event_loop.run_until_complete(x)`` in the body with
            ``await x`` (a sync test or fixture that becomes ``async def``).
        finalizer: The nested function a sync fixture passes to ``request.addfinalizer`` just
            before its last ``return``: the def and the ``addfinalizer`` call go, the ``return``
            becomes ``yield`` and the function's body follows it.
        remove_elements: Element indices to remove from the list or tuple assigned (``pytestmark``).
        append_element: An element to add at the end of the list or tuple assigned
            (``pytestmark``); a value that is neither becomes a list of it and the element.
        remove_aliases: Name indices to remove from an ``import`` statement.
        remove_items: Item indices to remove from a ``with`` statement; when none is left, the
            statements of its block take its place.
        add_marks: Decorators to put above those of a ``def`` or ``class``, as source text
            (``pytest.mark.loopwarden(virtual_time=True)``).
        counts: Changes per kind (:data:`KINDS`).
        removed_names: Indices (into :attr:`FilePlan.names`) of the imported names this edit
            removes a use of.
        added: Uses this edit adds of ``pytest`` / ``asyncio``.
    """

    remove: bool = False
    decorators: list[DecoratorEdit] = field(default_factory=list)
    remove_param: bool = False
    replace_uses: bool = False
    make_async: bool = False
    await_runs: bool = False
    finalizer: str | None = None
    remove_elements: list[int] = field(default_factory=list)
    append_element: str | None = None
    remove_aliases: list[int] = field(default_factory=list)
    remove_items: list[int] = field(default_factory=list)
    add_marks: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    removed_names: set[int] = field(default_factory=set)
    added: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Binding:
    """A name a module-level ``import`` of pytest, pytest_asyncio or asyncio binds (or of
    ``unittest``/``unittest.mock``/``mock``/``pytest_mock``, followed so that an import whose
    last use a rewrite removed goes too).

    Attributes:
        name: The bound name (``pytest``, ``pa``, ``fixture``).
        module: ``pytest``, ``pytest_asyncio``, ``asyncio``, or one of the mock modules.
        imported: For ``from M import x``: ``x``; for ``import M``: ``""``.
        stmt: The import statement's path.
        alias: The name's index in the statement.
        count: How many names the statement imports.
    """

    name: str
    module: str
    imported: str
    stmt: StmtPath
    alias: int
    count: int


@dataclass(frozen=True, slots=True)
class NameUse:
    """A use of an imported name in the module (an ``ast.Name``), for import bookkeeping.

    Attributes:
        name: The name.
        line: Its line.
        text: How it reads in the code (``pytest_asyncio.is_async_test``), for reports.
    """

    name: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Override:
    """An ``event_loop`` fixture defined in a project file.

    Attributes:
        stmt: The ``def``'s path.
        line: The line of ``def``.
        scope: Its scope (``function`` when not given), or ``""`` when not a literal.
        recipe: Whether its body is the usual recipe (make, yield, close a loop).
        removed_names: Name uses removing it would remove.
        test_loop_scope: With ``--target pytest-asyncio``, the ``asyncio_default_test_loop_scope``
            in force once it is removed: its scope where migrate writes it (or the configuration
            says it already), else what the configuration keeps (``function`` when unset).
    """

    stmt: StmtPath
    line: int
    scope: str
    recipe: bool
    removed_names: frozenset[int]
    test_loop_scope: str = ""


@dataclass(frozen=True, slots=True)
class LoopUser:
    """Something left asking for the ``event_loop`` fixture (a sync test, a nested use).

    Attributes:
        line: Where.
        name: The test or fixture (``test_x``), or what asks (``usefixtures``).
    """

    line: int
    name: str


@dataclass(slots=True)
class WideFixture:
    """A sync fixture wider than a test that ``--target pytest-asyncio`` makes async, pending.

    As an async fixture it needs ``loop_scope=``: the loop its tests ran in under 0.21, which is
    the scope of the ``event_loop`` override it got, in this file or another
    (:func:`loopwarden.migrate._runner.decide` finds it, then applies or drops the edit).

    Attributes:
        stmt: The ``def``'s path.
        line: The line of ``def``.
        name: The fixture's name.
        scope: Its scope as written (``'module'``), for reports.
        value: Its scope's value (``module``), or ``None`` when not a literal.
        edit: The planned edit; its decorator edit's ``add_keyword`` gets the loop scope.
        imports: Import statements the edit needs (``AsyncIterator``).
    """

    stmt: StmtPath
    line: int
    name: str
    scope: str
    value: str | None
    edit: Edit
    imports: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SleepRewrite:
    """A patched ``asyncio.sleep`` that loopwarden's virtual time can replace, pending.

    The run applies it with ``--unsafe-fixes`` once it knows that no test of another file asks
    for the fixture by name (:func:`loopwarden.migrate._sleep.settle`); without the flag it is
    reported with the flag as the way to make it.

    Attributes:
        line: The patch's line.
        what: What is patched, where (lint's LW103 words: ``patching `asyncio.sleep` in autouse
            fixture `no_sleep` (...)``).
        advice: What to do by hand (``delete the patch and mark the module ...``).
        where: What gets virtual time: ``"test"``, ``"class"``, ``"module"`` or ``"suite"``.
        edits: The removal of the patch (the fixture, or the statement of a test), by statement.
        mark: The ``def`` or ``class`` to mark (``test``, ``class``).
        pytestmark: The module's ``pytestmark = ...`` the mark joins (``module``), or ``None``:
            a new one goes after the imports.
        fixture: An autouse fixture of a ``conftest.py`` that tests of other files could ask
            for by name; ``""`` otherwise.
        config_keys: The pytest configuration keys to set (``suite``).
        note: Said with it when applied (the configuration already has the key).
        guard: ``--target pytest-asyncio``: virtual time needs loopwarden's loops there (guard
            mode), which the report says.
    """

    line: int
    what: str
    advice: str
    where: Literal["test", "class", "module", "suite"]
    edits: dict[StmtPath, Edit]
    mark: StmtPath | None = None
    pytestmark: StmtPath | None = None
    fixture: str = ""
    config_keys: dict[str, str] = field(default_factory=dict)
    note: str = ""
    guard: bool = False


@dataclass(slots=True)
class FilePlan:
    """Everything the analysis found in one Python file.

    Attributes:
        path: The file, as discovered.
        encoding: Its encoding (UTF-8 or its coding cookie), to write it back.
        error: Why the file was left alone (it does not parse), else ``None``.
        edits: The planned edits, by statement path.
        reports: Places for a person and notes.
        names: Every use of a name bound by the imports in :attr:`bindings`.
        bindings: The module-level imports of pytest, pytest_asyncio and asyncio.
        pytest_name: The name to write ``pytest.fixture`` with.
        asyncio_name: The name to write ``asyncio.get_running_loop()`` with.
        pytest_asyncio_name: The name to write ``pytest_asyncio.fixture`` with.
        overrides: ``event_loop`` fixtures defined here.
        loop_users: What still asks for ``event_loop`` after the planned edits.
        explained: Name uses already reported (not listed again as "still uses pytest-asyncio").
        pytest_asyncio_report: Report uses of pytest-asyncio that are left (``--target
            loopwarden``).
        add_imports: Import statements to add, decided by :func:`finalize`.
        lint_fixes: loopwarden lint has safe fixes for this file among :data:`LINT_FIXES`
            (applied after the rewrite, by lint's own fix engine).
        config_keys: pytest configuration keys the removed ``event_loop`` overrides ask for
            (``--target pytest-asyncio``: their scope as ``asyncio_default_*_loop_scope``), to be
            written into the file's pytest configuration.
        wide_fixtures: Sync fixtures wider than a test that ``--target pytest-asyncio`` makes
            async once their loop scope is known (:class:`WideFixture`).
        sleeps: Patched ``asyncio.sleep`` calls virtual time can replace (:class:`SleepRewrite`),
            pending.
        add_pytestmark: A ``pytestmark = ...`` statement to put after the module's imports.
    """

    path: str
    encoding: str = "utf-8"
    error: str | None = None
    edits: dict[StmtPath, Edit] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    names: list[NameUse] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    pytest_name: str = "pytest"
    asyncio_name: str = "asyncio"
    pytest_asyncio_name: str = "pytest_asyncio"
    overrides: list[Override] = field(default_factory=list)
    loop_users: list[LoopUser] = field(default_factory=list)
    explained: set[int] = field(default_factory=set)
    pytest_asyncio_report: bool = True
    add_imports: list[str] = field(default_factory=list)
    config_keys: dict[str, str] = field(default_factory=dict)
    lint_fixes: bool = False
    wide_fixtures: list[WideFixture] = field(default_factory=list)
    sleeps: list[SleepRewrite] = field(default_factory=list)
    add_pytestmark: str | None = None

    def counts(self) -> Counter[str]:
        """Changes per kind, over every planned edit and added import."""
        total: Counter[str] = Counter()
        for edit in self.edits.values():
            total.update(edit.counts)
        if self.add_imports:
            total["import"] += len(self.add_imports)
        return total


@dataclass(slots=True)
class Outcome:
    """The result of rewriting one file.

    Attributes:
        path: The file.
        encoding: Its encoding.
        before: The original text.
        after: The new text (``None`` when nothing changed or the rewrite failed).
        counts: Changes per kind.
        error: A report when libcst could not rewrite the file (it was left alone).
        patch: The unified diff of the change (``--- a/path`` ``+++ b/path``), made in the
            worker that rewrote the file.
    """

    path: str
    encoding: str
    before: str
    after: str | None
    counts: Counter[str]
    error: Report | None = None
    patch: str = ""
