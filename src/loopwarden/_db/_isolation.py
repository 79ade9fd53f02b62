"""One engine per event loop, the schema built once, a rolled-back transaction per test.

Why an engine per loop: an asyncio driver's connection (asyncpg's socket, aiosqlite's worker
thread and its futures) belongs to the loop it was opened on; a pooled connection reused from
another loop fails with "Task got Future attached to a different loop". So :class:`Database`
keeps one :class:`~sqlalchemy.ext.asyncio.AsyncEngine` for each loop that asks for one. With one
loop per session (loopwarden's default) that is one engine and one pooled connection for the whole
run; with a loop per test, each test's loop gets its own engine, disposed when that loop closes.

Disposal rides on the loop's own shutdown: each engine is held by an async generator started on
its loop, and every loop closer (``asyncio.Runner``, loopwarden's runner) finalises a loop's
async generators (``loop.shutdown_asyncgens()``) before closing it — so the engine's connections
are closed on the right loop, before it is gone, whoever closes it.

Isolation per test is SQLAlchemy 2's "join a session into an external transaction" recipe: the
test's connection begins a transaction; sessions bound to that connection use
``join_transaction_mode="create_savepoint"``, so code under test may ``commit()`` (it releases a
SAVEPOINT) and the outer transaction is rolled back at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import sessionmaker

#: What a project's ``loopwarden_db_schema`` fixture may return.
SchemaHook = Callable[[AsyncConnection], Awaitable[None] | None]

SCHEMA_HELP = (
    "return a MetaData (or a declarative Base, or a list of them) to create its tables, or an "
    "async function taking an AsyncConnection (e.g. one that runs your Alembic migrations with "
    "connection.run_sync), or None for no schema"
)


async def apply_schema(conn: AsyncConnection, schema: object) -> None:
    """Create the schema ``schema`` describes on ``conn`` (see :data:`SCHEMA_HELP`).

    Raises:
        TypeError: ``schema`` is none of the accepted kinds.
    """
    if schema is None:
        return
    if isinstance(schema, MetaData):
        await conn.run_sync(schema.create_all)
        return
    metadata = getattr(schema, "metadata", None)
    if isinstance(metadata, MetaData) and isinstance(schema, type):
        await conn.run_sync(metadata.create_all)  # a declarative Base class
        return
    if isinstance(schema, list | tuple):
        for part in schema:
            await apply_schema(conn, part)
        return
    if callable(schema):
        result = schema(conn)
        if inspect.isawaitable(result):
            await result
        return
    raise TypeError(
        f"loopwarden: the loopwarden_db_schema fixture returned {schema!r}; {SCHEMA_HELP}.",
        schema,
    )


def async_url(raw: str | URL) -> URL:
    """``raw`` with an asyncio driver: ``sqlite`` → ``sqlite+aiosqlite``, ``postgresql`` →
    ``postgresql+asyncpg`` (a driver the URL names is kept)."""
    url = make_url(raw)
    if url.drivername == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    return url


def _sqlite_savepoints(engine: AsyncEngine) -> None:
    """Make SAVEPOINTs work on SQLite: the sqlite3 module's own transaction handling would
    commit around them, so take BEGIN over (the recipe from SQLAlchemy's SQLite docs)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: URL, options: Mapping[str, Any]) -> AsyncEngine:
    """A new engine for ``url``; SQLite gets working SAVEPOINTs."""
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        _sqlite_savepoints(engine)
    return engine


@dataclass
class _LoopEngine:
    engine: AsyncEngine
    keeper: AsyncGenerator[None, None]


@dataclass
class Database:
    """The session's database: its URL, engine options, and an engine for each live loop.

    Attributes:
        url: the database's URL (with its asyncio driver).
        options: keyword arguments for ``create_async_engine``.
    """

    url: URL
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Who owns what the engines keep open between tests (the plugin sets its fixture).
    owner: Hashable | None = None
    _engines: dict[asyncio.AbstractEventLoop, _LoopEngine] = field(default_factory=dict)

    async def engine(self) -> AsyncEngine:
        """The engine of the running loop, made on first use (call from inside the loop)."""
        loop = asyncio.get_running_loop()
        entry = self._engines.get(loop)
        if entry is None:
            engine = make_engine(self.url, self.options)
            keeper = self._keep(loop, engine)
            # First iterated inside the running loop: the loop registers it, and finalises it
            # (disposing the engine) in shutdown_asyncgens() before it closes.
            await keeper.__anext__()
            entry = self._engines[loop] = _LoopEngine(engine, keeper)
            _dispose_before_runner_close(loop, keeper)
        return entry.engine

    async def _keep(
        self, loop: asyncio.AbstractEventLoop, engine: AsyncEngine
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            entry = self._engines.get(loop)
            if entry is not None and entry.engine is engine:
                del self._engines[loop]
            await engine.dispose()

    def loops(self) -> list[asyncio.AbstractEventLoop]:
        return list(self._engines)

    def close(self) -> None:
        """Dispose every engine whose loop is still open and idle (from synchronous code).

        Engines of loops that closed were disposed by their loop's shutdown; a loop that was
        closed without finalising its async generators leaves its idle connections to the
        garbage collector.
        """
        for loop, entry in list(self._engines.items()):
            if loop.is_closed():
                del self._engines[loop]
                continue
            if loop.is_running():
                continue
            loop.run_until_complete(entry.keeper.aclose())


def _dispose_before_runner_close(
    loop: asyncio.AbstractEventLoop, keeper: AsyncGenerator[None, None]
) -> None:
    """On a loop an ``asyncio.Runner`` will close (pytest-asyncio's), dispose first.

    The runner cancels what is left and loopwarden's leak guard reports what is still open
    (``on_runner_close``, see ``_core/_lifecycle.py``) before the loop's async generators are
    finalised; the engine's idle connections are not a leak, so close them before that.
    """
    if not hasattr(loop, "on_runner_close"):
        return
    previous = loop.on_runner_close

    def dispose_then_report(closing: Any) -> None:
        if not closing.is_running():
            with contextlib.suppress(StopAsyncIteration, RuntimeError):
                closing.run_until_complete(keeper.aclose())
        if previous is not None:
            previous(closing)

    loop.on_runner_close = dispose_then_report


async def create_schema(url: URL, options: Mapping[str, Any], schema: object) -> None:
    """Build the schema once, on a private engine (run on a private loop)."""
    engine = make_engine(url, options)
    try:
        async with engine.begin() as conn:
            await apply_schema(conn, schema)
    finally:
        await engine.dispose()


async def create_database(server_url: URL, name: str, template: str | None = None) -> None:
    """``CREATE DATABASE name`` on the PostgreSQL server of ``server_url`` (dropped first)."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            clause = f' TEMPLATE "{template}"' if template else ""
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await engine.dispose()


# -- overriding an application's session factory ----------------------------------------------


@dataclass
class Overrides:
    """What :func:`override` changed for one test, undone by :meth:`restore`."""

    _undo: list[Callable[[], None]] = field(default_factory=list)

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def _bind_factory(factory: Any, conn: AsyncConnection, overrides: Overrides) -> None:
    saved = dict(factory.kw)
    factory.kw.pop("binds", None)
    factory.configure(bind=conn, join_transaction_mode="create_savepoint")

    def undo() -> None:
        factory.kw.clear()
        factory.kw.update(saved)

    overrides._undo.append(undo)


def override(
    conn: AsyncConnection,
    overrides: Overrides,
    target: object,
    *,
    app: Any = None,
) -> async_sessionmaker[AsyncSession]:
    """Make ``target`` give sessions bound to ``conn`` (the test's transaction).

    ``target`` is an ``async_sessionmaker`` (or ``sessionmaker(class_=AsyncSession)``, or an
    ``async_scoped_session``): it is reconfigured in place, so every module that imported it
    sees the change. With ``app``, ``target`` is a FastAPI dependency: ``app.dependency_overrides``
    gets one that yields a session on ``conn``. Returns a session factory on ``conn``.
    """
    bound = async_sessionmaker(bind=conn, join_transaction_mode="create_savepoint")
    if app is not None:
        if not hasattr(app, "dependency_overrides"):
            raise TypeError(
                f"loopwarden: db_override(..., app={app!r}): app has no dependency_overrides; "
                "pass a FastAPI (or Starlette-with-FastAPI-routing) application.",
                app,
            )

        async def session_on_test_connection() -> AsyncGenerator[AsyncSession, None]:
            async with bound() as session:
                yield session

        mapping: dict[Any, Any] = app.dependency_overrides
        had, previous = target in mapping, mapping.get(target)
        mapping[target] = session_on_test_connection

        def undo() -> None:
            if had:
                mapping[target] = previous
            else:
                mapping.pop(target, None)

        overrides._undo.append(undo)
        return bound
    factory = getattr(target, "session_factory", target)  # async_scoped_session wraps one
    if isinstance(factory, async_sessionmaker | sessionmaker):
        _bind_factory(factory, conn, overrides)
        return bound
    raise TypeError(
        f"loopwarden: db_override({target!r}) cannot rebind this. Pass the application's "
        "async_sessionmaker (db_override(SessionLocal)), or a FastAPI dependency with its app "
        "(db_override(get_session, app=app)).",
        target,
    )
