"""Database fixtures for async SQLAlchemy apps: ``db_engine``, ``db_connection``, ``db_session``,
``db_override`` and ``db_url`` (``pip install 'loopwarden[db]'``; ``[postgres]`` for PostgreSQL).

- The database comes from ``loopwarden_db_url`` / ``--lw-db-url``: by default an SQLite file in
  the session's temp dir (aiosqlite); ``postgresql`` starts a throwaway PostgreSQL server from the
  system's binaries (see :mod:`loopwarden._db._postgres`); any other value is a SQLAlchemy URL.
  Each xdist worker gets its own database: its own SQLite file, its own throwaway server, or,
  on a PostgreSQL server the user names, its own clone of a template built once per run
  (see :mod:`loopwarden._db._template`).
- The schema is built once per session from what the project's ``loopwarden_db_schema`` fixture
  returns (a ``MetaData``, a declarative ``Base``, or an async function of a connection, e.g.
  Alembic migrations).
- Each test runs in a transaction that is rolled back at its teardown; sessions join it through
  SAVEPOINTs, so code under test may commit.
- Engines are per event loop (see :mod:`loopwarden._db._isolation`), which is why ``db_engine``
  is function-scoped: with one loop per session it is the same engine every time.

SQLAlchemy is imported only when a db fixture is used, so the plugin costs nothing to projects
without a database, and a missing extra fails the test with the install command.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import re
import sys
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from loopwarden._core import _sites
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._snapshot import adopt
from loopwarden._plugin import _compat, _settings
from loopwarden._plugin._keys import LEAK_GUARD
from loopwarden._plugin._runtime import FixtureOwner
from loopwarden._plugin.config import stands_down

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

    from loopwarden._db._isolation import Database
    from loopwarden._db._postgres import Server

_async_fixture = _compat.async_fixture

SQLITE = "sqlite"
POSTGRES = "postgresql"
_POSTGRES_WORDS = ("postgresql", "postgres", "postgresql+asyncpg")


class DbChoice(Record):
    """What ``loopwarden_db_url`` asks for: a kind and, for a server the user runs, its URL."""

    kind: str
    url: str
    source: str
    _fields = ("kind", "url", "source")

    def __init__(self, kind: str, url: str = "", source: str = "default") -> None:
        self.kind = kind
        self.url = url
        self.source = source


DB_CHOICE = pytest.StashKey[DbChoice]()


def _parse(raw: str, source: str) -> DbChoice:
    value = raw.strip()
    if value in ("", SQLITE, "sqlite+aiosqlite"):
        return DbChoice(SQLITE, source=source)
    if value in _POSTGRES_WORDS:
        return DbChoice(POSTGRES, source=source)
    if "://" not in value:
        raise pytest.UsageError(
            f"loopwarden: {source} = {value!r} is not valid; allowed values: sqlite (an SQLite "
            "file in a temp dir, the default), postgresql (a throwaway PostgreSQL server), or a "
            "SQLAlchemy URL such as postgresql+asyncpg://user:password@localhost/dbname."
        )
    return DbChoice("url", value, source)


def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    chosen = _settings.settings(config)
    config.stash[DB_CHOICE] = _parse(chosen.db_url, chosen.source("db_url"))


def _require(modules: tuple[str, ...], extra: str, why: str) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            problem = str(exc)
        else:
            continue
        # Outside the except block: the ImportError is the cause, not a second error to show.
        pytest.fail(
            f"loopwarden: {why} need {', '.join(modules)}, but importing {name} failed "
            f"({problem}).\nInstall them with: pip install 'loopwarden[{extra}]'",
            pytrace=False,
        )


_T = TypeVar("_T")


def _fail_plainly(
    call: Callable[[], _T], kind: type[Exception] | tuple[type[Exception], ...] = TypeError
) -> _T:
    """``call()``; loopwarden's own errors of ``kind`` become a plain test failure (the message
    is the whole story; a traceback into loopwarden would only hide it)."""
    __tracebackhide__ = True
    try:
        return call()
    except kind as exc:
        message = str(exc.args[0]) if exc.args else ""
        if not message.startswith("loopwarden:"):
            raise
    pytest.fail(message, pytrace=False)


def _worker(config: pytest.Config) -> str:
    """This xdist worker's id ("gw0"), or "" — from xdist itself, not the environment, which a
    pytest run started inside a worker (pytester, a test running pytest) inherits."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", None) or {}
    return str(workerinput.get("workerid") or "")


def _private_loop_run(coro_factory: Callable[[], Any]) -> Any:
    """Run setup work on a private loop, from synchronous fixture code.

    Not the test loop: building the schema and creating databases must not leave connections on
    a loop the tests use. ``loop_factory`` keeps ``asyncio.Runner`` from replacing the thread's
    current loop (the session loop code calling ``asyncio.get_event_loop()`` relies on).
    """
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(coro_factory())


# -- fixtures a project overrides -------------------------------------------------------------


@pytest.fixture(scope="session")
def loopwarden_db_schema() -> object:
    """The schema loopwarden builds once per session; override it in your conftest.py.

    Return a ``MetaData`` (``Base.metadata``), a declarative ``Base``, a list of those, or an
    async function taking an ``AsyncConnection`` (e.g. one that runs Alembic migrations with
    ``await connection.run_sync(...)``). The default, None, creates nothing.
    """
    return None


@pytest.fixture(scope="session")
def loopwarden_db_engine_options() -> dict[str, Any]:
    """Keyword arguments for ``create_async_engine``; override it to set e.g. ``echo=True``."""
    return {}


# -- the session's database -------------------------------------------------------------------


@pytest.fixture(scope="session")
def _loopwarden_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    loopwarden_db_schema: object,
    loopwarden_db_engine_options: dict[str, Any],
) -> Generator[Database, None, None]:
    choice = request.config.stash.get(DB_CHOICE, None) or DbChoice(SQLITE)
    _require(("sqlalchemy.ext.asyncio", "greenlet"), "db", "loopwarden's db fixtures")
    from loopwarden._db import _isolation

    server: Server | None = None
    with contextlib.ExitStack() as cleanup:
        if choice.kind == SQLITE:
            _require(("aiosqlite",), "db", "SQLite databases (the db fixtures' default)")
            path = tmp_path_factory.mktemp("loopwarden-db") / "test.db"
            url = _isolation.async_url(f"sqlite:///{path}")
        elif choice.kind == POSTGRES:
            _require(("asyncpg",), "postgres", "PostgreSQL databases (--lw-db-url=postgresql)")
            from loopwarden._db import _postgres

            server = _fail_plainly(_postgres.start_server, _postgres.PostgresError)
            cleanup.callback(server.stop)
            worker = _worker(request.config)
            name = f"loopwarden_{worker}" if worker else "loopwarden"
            url = _isolation.async_url(server.url(name))
            admin = _isolation.async_url(server.url("postgres"))
            _private_loop_run(lambda: _isolation.create_database(admin, name))
        else:
            url = _isolation.async_url(choice.url)
            if url.get_backend_name() == "postgresql":
                _require(("asyncpg",), "postgres", "PostgreSQL databases")
            elif url.get_backend_name() == "sqlite":
                _require(("aiosqlite",), "db", "SQLite databases")
        options = dict(loopwarden_db_engine_options)
        run_id = _run_id(request.config)
        if choice.kind == "url" and run_id and url.get_backend_name() == "postgresql":
            # A server the user runs, shared by the workers: each gets its own clone of a
            # template the first one builds (see _db/_template.py).
            url = _worker_clone(request.config, cleanup, url, run_id, options, loopwarden_db_schema)
        else:
            _fail_plainly(
                lambda: _private_loop_run(
                    lambda: _isolation.create_schema(url, options, loopwarden_db_schema)
                )
            )
        database = _isolation.Database(url, options)
        # What the per-loop engines keep between tests is this fixture's (see _adopt_pooled).
        database.owner = FixtureOwner("_loopwarden_database", "session", request.node.nodeid)
        cleanup.callback(database.close)
        yield database


def _run_id(config: pytest.Config) -> str:
    """xdist's test run id on a worker (shared by the run's workers); "" without xdist."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", None) or {}
    return str(workerinput.get("testrunuid") or "") if _worker(config) else ""


def _worker_clone(
    config: pytest.Config,
    cleanup: contextlib.ExitStack,
    url: URL,
    run_id: str,
    options: dict[str, Any],
    schema: object,
) -> URL:
    """This worker's own database on the user's server, dropped when its session ends."""
    from loopwarden._db import _template

    clone: URL = _fail_plainly(
        lambda: _private_loop_run(
            lambda: _template.clone_for_worker(url, run_id, _worker(config), options, schema)
        ),
        (TypeError, _template.TemplateError),
    )
    worker = _worker(config)
    cleanup.callback(
        lambda: _private_loop_run(lambda: _template.drop_worker(url, run_id, worker, options))
    )
    # The controller drops the template once every worker is down (pytest_sessionfinish below).
    workeroutput: dict[str, Any] = getattr(config, "workeroutput", {})
    workeroutput[_WORKER_OUTPUT] = {"run_id": run_id, "options": _picklable(options)}
    return clone


def _picklable(options: dict[str, Any]) -> dict[str, Any]:
    # execnet carries only plain data; the admin connection needs just the connect arguments.
    connect_args = options.get("connect_args", {})
    plain = (str, int, float, bool, type(None))
    if all(isinstance(v, plain) for v in connect_args.values()):
        return {"connect_args": dict(connect_args)}
    return {}


# -- the xdist controller: drop the run's template when all workers are done -------------------

_WORKER_OUTPUT = "loopwarden_db_template"
RUN_TEMPLATES = pytest.StashKey[dict[str, dict[str, Any]]]()


# What the database or SQLAlchemy says when two tasks use one connection at once: their
# savepoints interleave (SQLite, PostgreSQL) or the driver refuses (asyncpg, SQLAlchemy).
_CONCURRENT_USE = re.compile(
    r"no such savepoint|savepoint \S+ does not exist|another operation is in progress"
    r"|concurrent operations are not permitted",
    re.IGNORECASE,
)


class _ConcurrentUseNote:
    """Explains a failure that two tasks sharing ``db_override``'s connection caused.

    Registered by the ``db_override`` fixture on its first use: the other tests of a session
    (most sessions have none that use it) pay no hook.
    """

    NAME = "loopwarden-db-concurrent-use"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if (
            report.failed
            and call.excinfo is not None
            and "db_override" in getattr(item, "fixturenames", ())
            and _concurrent_use(call.excinfo.value)
        ):
            report.sections.append(
                (
                    "loopwarden db",
                    "Two tasks used the test's database connection at once (asyncio.gather of "
                    "two requests, or a background task querying while the test does). With "
                    "db_override the app's sessions and the test's share one connection inside "
                    "the test's transaction, so their savepoints interleaved — the error above.\n"
                    "Fix: run them one after the other; or, for code that must query "
                    "concurrently, give it the db_engine fixture's engine (its commits are not "
                    "rolled back).",
                )
            )
        return report


def _concurrent_use(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _CONCURRENT_USE.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A worker is down: remember the template run it used (xdist's hook; controller only)."""
    output = getattr(node, "workeroutput", None) or {}
    used = output.get(_WORKER_OUTPUT)
    if used:
        node.config.stash.setdefault(RUN_TEMPLATES, {})[used["run_id"]] = used["options"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    runs = config.stash.get(RUN_TEMPLATES, None)
    choice = config.stash.get(DB_CHOICE, None)
    if not runs or choice is None or choice.kind != "url":
        return
    from loopwarden._db import _isolation, _template

    url = _isolation.async_url(choice.url)
    for run_id, options in runs.items():
        try:
            _private_loop_run(functools.partial(_template.drop_run, url, run_id, options))
        except Exception as exc:  # the run's result stands; say what is left behind
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            prefix = _template.run_prefix(run_id)
            message = (
                f"loopwarden: could not drop the test databases of this run ({prefix}_*) on "
                f"the server --lw-db-url names: {exc}\nDrop them yourself: DROP DATABASE for "
                f"each name in SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'"
            )
            if reporter is not None:
                reporter.write_line(message, yellow=True)


@pytest.fixture(scope="session")
def db_url(_loopwarden_database: Database) -> str:
    """The URL of the test database (with its asyncio driver and, if any, its password)."""
    return _loopwarden_database.url.render_as_string(hide_password=False)


# -- per test ---------------------------------------------------------------------------------


@_async_fixture
async def db_engine(
    _loopwarden_database: Database, request: pytest.FixtureRequest
) -> AsyncGenerator[AsyncEngine, None]:
    """The ``AsyncEngine`` of the test database for the running event loop.

    What you commit through it directly is *not* rolled back; use ``db_connection`` or
    ``db_session`` for isolated work. A connection the test checks out of it and never returns
    (an ``AsyncConnection`` or ``AsyncSession`` left open) is a finding of the test, with the
    line that checked it out, whichever db fixture the test uses; loopwarden closes it.
    """
    engine = await _loopwarden_database.engine()
    checkouts = _checkouts_of(engine)
    earlier = set(checkouts)
    yield engine
    left = [entry for key, entry in list(checkouts.items()) if key not in earlier]
    if left:
        await _report_checkouts(request, left)


async def _report_checkouts(
    request: pytest.FixtureRequest, left: list[tuple[str, weakref.ref[Any]]]
) -> None:
    """Close the connections a test left checked out, and make each a finding of the test.

    The leak guard reports them with the rest of the test's findings (the action, allow_leaks
    and the baseline apply); without it, the test fails here. Closed first, so their socket or
    driver thread is not reported a second time, as something the advice would not fix.
    """
    from sqlalchemy.util import greenlet_spawn

    from loopwarden._core._findings import Finding, describe

    nodeid = request.node.nodeid
    findings = []
    for site, fairy_ref in left:
        fairy = fairy_ref()
        if fairy is not None:
            with contextlib.suppress(Exception):  # a connection already broken: nothing to close
                await greenlet_spawn(fairy.invalidate)
        findings.append(
            Finding(
                "db-connection",
                "sqlalchemy",
                "SQLAlchemy connection checked out and never closed (an AsyncConnection or "
                "AsyncSession left open)",
                site=site,
                owner=nodeid,
            )
        )
    guard = request.config.stash.get(LEAK_GUARD, None)
    if guard is not None:
        guard.pending.setdefault(nodeid, []).extend(findings)
        return
    __tracebackhide__ = True
    pytest.fail(describe(findings, request.node.name, ["loopwarden closed them."]), pytrace=False)


async def _adopt_pooled(conn: AsyncConnection, owner: object) -> None:
    """Attribute a pooled connection's socket to the session's database fixture.

    The pool keeps the connection for the next test on this loop: it is the database fixture's,
    not a leak of the test that happened to open it (the leak guard would otherwise find it
    first, and spend its settle time on it before finding who holds it).
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, WardenLoop):
        return
    raw = await conn.get_raw_connection()
    transport = getattr(raw.driver_connection, "_transport", None)  # asyncpg
    if transport is not None:
        adopt(loop, transport, owner)


@_async_fixture
async def db_connection(
    db_engine: AsyncEngine, _loopwarden_database: Database
) -> AsyncGenerator[AsyncConnection, None]:
    """A connection inside a transaction that is rolled back when the test ends."""
    conn = await db_engine.connect()
    await _adopt_pooled(conn, _loopwarden_database.owner)
    transaction = await conn.begin()
    try:
        yield conn
    finally:
        try:
            if transaction.is_active:
                await transaction.rollback()
        finally:
            await conn.close()


def _checkouts_of(engine: AsyncEngine) -> dict[int, tuple[str, weakref.ref[Any]]]:
    """Where each connection now checked out of ``engine``'s pool was checked out (kept live),
    with a weak reference to the checked-out connection (to close it).

    The checkout runs inside SQLAlchemy's greenlet, whose stack holds no user code; the user's
    ``await`` is in the parent greenlet's suspended frames, which are searched next.
    """
    pool = engine.sync_engine.pool
    found = _CHECKOUTS.get(pool)
    if found is not None:
        return found
    from sqlalchemy import event

    checkouts: dict[int, tuple[str, weakref.ref[Any]]] = {}

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checkouts[id(record)] = (_user_line(), weakref.ref(proxy))

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        checkouts.pop(id(record), None)

    event.listen(pool, "checkout", on_checkout)
    event.listen(pool, "checkin", on_checkin)
    _CHECKOUTS[pool] = checkouts
    return checkouts


# Per engine pool (AsyncEngine takes no attributes): where its live checkouts were made.
_CHECKOUTS: weakref.WeakKeyDictionary[Any, dict[int, tuple[str, weakref.ref[Any]]]] = (
    weakref.WeakKeyDictionary()
)


def _user_line() -> str:
    frames: list[Any] = [sys._getframe(1)]
    with contextlib.suppress(ImportError, AttributeError):
        import greenlet  # type: ignore[import-untyped]

        parent = greenlet.getcurrent().parent
        if parent is not None and parent.gr_frame is not None:
            frames.append(parent.gr_frame)
    for frame in frames:
        while frame is not None:
            filename = frame.f_code.co_filename
            if not _sites._is_library(filename) and "sqlalchemy" not in filename:
                where = _sites.Site(filename, frame.f_lineno, frame.f_code.co_name)
                return str(where.relative_to(os.getcwd()))
            frame = frame.f_back
    return "an unknown line (no user code on the stack)"


@_async_fixture
async def db_session(db_connection: AsyncConnection) -> AsyncGenerator[AsyncSession, None]:
    """An ``AsyncSession`` in the test's transaction; ``commit()`` releases a SAVEPOINT."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(bind=db_connection, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def db_override(
    db_connection: AsyncConnection, request: pytest.FixtureRequest
) -> Generator[Callable[..., Any], None, None]:
    """Make the application's own session factory use the test's transaction.

    ``db_override(SessionLocal)`` rebinds an ``async_sessionmaker`` (or ``async_scoped_session``)
    in place; ``db_override(get_session, app=app)`` overrides a FastAPI dependency. Rows the test
    inserts are visible to the app's code and the other way round; all is rolled back at the
    end. Returns an ``async_sessionmaker`` bound to the test's connection.
    """
    from loopwarden._db import _isolation

    plugins = request.config.pluginmanager
    if not plugins.has_plugin(_ConcurrentUseNote.NAME):
        plugins.register(_ConcurrentUseNote(), _ConcurrentUseNote.NAME)
    overrides = _isolation.Overrides()

    def override(target: object, *, app: Any = None) -> Any:
        __tracebackhide__ = True
        return _fail_plainly(lambda: _isolation.override(db_connection, overrides, target, app=app))

    try:
        yield override
    finally:
        overrides.restore()
