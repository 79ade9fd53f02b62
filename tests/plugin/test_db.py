"""Database isolation: db_engine / db_connection / db_session / db_override on SQLite and on a
throwaway PostgreSQL server, with both runners, per-test loops, virtual time and xdist."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from loopwarden._db import _postgres

pytest.importorskip("sqlalchemy.ext.asyncio")
pytest.importorskip("aiosqlite")


def _postgres_available() -> str | None:
    """Why PostgreSQL tests cannot run here (None when they can). In CI they must run."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        reason = "asyncpg is not installed (pip install 'loopwarden[postgres]')"
    else:
        try:
            _postgres.find_bindir()
        except _postgres.PostgresNotFound:
            reason = f"PostgreSQL binaries not found ({_postgres.INSTALL_COMMAND})"
        else:
            return None
    return reason


_PG_MISSING = _postgres_available()


def need_postgres() -> None:
    if _PG_MISSING is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PostgreSQL tests, but {_PG_MISSING}", pytrace=False)
    pytest.skip(_PG_MISSING)


# The project under test: models, the schema hook, and an "app" whose code uses its own global
# session factory (as a FastAPI app's routes do).
CONFTEST = """
import pytest
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture(scope="session")
def loopwarden_db_schema():
    return Base.metadata
"""

APP = """
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from conftest import Item

# The app's own engine and factory, made at import time: tests must never reach this URL.
engine = create_async_engine("postgresql+asyncpg://nobody@203.0.113.1/production")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def add_item(name):
    async with SessionLocal() as session:
        session.add(Item(name=name))
        await session.commit()


async def count_items():
    async with SessionLocal() as session:
        return await session.scalar(select(func.count()).select_from(Item))
"""

TESTS = """
import asyncio
import pytest
from sqlalchemy import func, select, text

import app
from conftest import Item


@pytest.mark.parametrize("n", range(3))
async def test_commit_is_rolled_back_after_the_test(db_session, n):
    db_session.add(Item(name=f"item {n}"))
    await db_session.commit()  # releases a SAVEPOINT; the test's transaction stays open
    assert await db_session.scalar(select(func.count()).select_from(Item)) == 1


async def test_override_shares_the_transaction_both_ways(db_session, db_override):
    db_override(app.SessionLocal)
    db_session.add(Item(name="from the test"))
    await db_session.flush()
    assert await app.count_items() == 1  # the app sees the test's row
    await app.add_item("from the app")
    names = (await db_session.scalars(select(Item.name).order_by(Item.name))).all()
    assert names == ["from the app", "from the test"]  # the test sees the app's


async def test_nothing_survived(db_connection):
    assert (await db_connection.execute(text("select count(*) from item"))).scalar() == 0


@pytest.mark.loopwarden(virtual_time=True)
async def test_virtual_time(db_session):
    db_session.add(Item(name="later"))
    await db_session.commit()
    await asyncio.sleep(3600)
    assert await db_session.scalar(select(func.count()).select_from(Item)) == 1


def test_factory_restored_after_override():
    assert str(app.SessionLocal.kw["bind"].url).startswith("postgresql+asyncpg://nobody@")
"""


def _suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(app=APP, test_db_suite=TESTS)


def test_sqlite_default_isolates_tests_and_shares_the_app_factory(pytester, run):
    _suite(pytester)
    result = run("-p", "no:randomly")
    result.assert_outcomes(passed=7)


def test_sqlite_with_a_loop_per_test(pytester, own):
    _suite(pytester)
    pytester.makeini("[pytest]\nloopwarden_loop = test\n")
    result = own()
    result.assert_outcomes(passed=7)
    result.stdout.no_fnmatch_line("*attached to a different loop*")


def test_sqlite_under_xdist(pytester, own):
    _suite(pytester)
    pytester.makeini("[pytest]\n")
    result = own("-n", "2")
    result.assert_outcomes(passed=7)


def test_two_requests_at_once_on_the_shared_connection_are_named_with_the_fix(pytester, run):
    # asyncio.gather of two requests under db_override: their savepoints interleave, and the
    # test failed with "no such savepoint" (PostgreSQL: 'savepoint "sa_savepoint_3" does not
    # exist') and 300 lines of SQLAlchemy, nothing saying why.
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        app=APP,
        test_gather="""
        import asyncio
        import app

        async def test_two_requests_at_once(db_session, db_override):
            db_override(app.SessionLocal)
            await asyncio.gather(app.add_item("a"), app.add_item("b"))

        async def test_one_after_the_other(db_session, db_override):
            db_override(app.SessionLocal)
            await app.add_item("a")
            await app.add_item("b")
            assert await app.count_items() == 2
        """,
    )
    result = run("-p", "no:randomly", "-W", "ignore::Warning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- loopwarden db -*",
            "Two tasks used the test's database connection at once (asyncio.gather of two "
            "requests, or a background task querying while the test does). With db_override the "
            "app's sessions and the test's share one connection inside the test's transaction, "
            "so their savepoints interleaved — the error above.",
            "Fix: run them one after the other; or, for code that must query concurrently, give "
            "it the db_engine fixture's engine (its commits are not rolled back).",
        ]
    )
    assert result.stdout.str().count("- loopwarden db -") == 1


def test_schema_hook_may_be_an_async_function(pytester, run):
    pytester.makeconftest(
        """
        import pytest
        from sqlalchemy import text

        @pytest.fixture(scope="session")
        def loopwarden_db_schema():
            async def migrate(connection):
                await connection.execute(text("create table note (body text)"))
                await connection.execute(text("insert into note values ('seed')"))
            return migrate
        """
    )
    pytester.makepyfile(
        """
        from sqlalchemy import text

        async def test_seed_is_there(db_connection):
            await db_connection.execute(text("insert into note values ('mine')"))
            rows = (await db_connection.execute(text("select body from note"))).scalars()
            assert sorted(rows) == ["mine", "seed"]

        async def test_only_the_seed_again(db_connection):
            rows = (await db_connection.execute(text("select body from note"))).scalars()
            assert list(rows) == ["seed"]

        def test_url(db_url):
            assert db_url.startswith("sqlite+aiosqlite:///")
        """
    )
    run().assert_outcomes(passed=3)


def test_a_bad_schema_value_names_what_is_accepted(pytester, own):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def loopwarden_db_schema():
            return 42
        """
    )
    pytester.makepyfile("async def test_x(db_session):\n    pass\n")
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: the loopwarden_db_schema fixture returned 42; return a "
            "MetaData (or a declarative Base, or a list of them) to create its tables, or an "
            "async function taking an AsyncConnection (e.g. one that runs your Alembic "
            "migrations with connection.run_sync), or None for no schema."
        ]
    )


UNCLOSED_MESSAGE = [
    "  SQLAlchemy connection checked out and never closed (an AsyncConnection or AsyncSession "
    "left open)",
]
UNCLOSED_FIX = (
    "Fix: open SQLAlchemy connections and sessions with 'async with' (async with "
    "engine.connect() as conn: …, async with AsyncSession(engine) as session: …), or use the "
    "db_connection / db_session fixtures, which close themselves."
)


def test_an_unclosed_connection_fails_the_test(pytester, own):
    pytester.makepyfile(
        """
        async def test_forgets_to_close(db_engine, db_connection):
            session_conn = await db_engine.connect()
            await session_conn.exec_driver_sql("select 1")
        """
    )
    result = own()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_forgets_to_close left 1 database connection behind after teardown:",
            *UNCLOSED_MESSAGE,
            "      created at test_an_unclosed_connection_fails_the_test.py:2 in "
            "test_forgets_to_close",
            UNCLOSED_FIX,
        ]
    )


def test_an_unclosed_connection_is_found_whichever_db_fixture_the_test_uses(pytester, run):
    # With db_engine alone, the connection left open passed silently (PostgreSQL) or surfaced
    # later as a raw socket or a driver thread, with advice that did not fit.
    pytester.makepyfile(
        test_engine_only="""
        async def test_forgets_to_close(db_engine):
            conn = await db_engine.connect()
            await conn.exec_driver_sql("select 1")

        async def test_next(db_engine):
            async with db_engine.connect() as conn:
                await conn.exec_driver_sql("select 1")
        """
    )
    result = run("--lw-report=r.json")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "_*_ ERROR at teardown of test_forgets_to_close _*_",
            "loopwarden: test_forgets_to_close left 1 database connection behind after teardown:",
            *UNCLOSED_MESSAGE,
            "      created at test_engine_only.py:2 in test_forgets_to_close",
            UNCLOSED_FIX,
            "*= loopwarden =*",
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    [finding] = report["tests"]["test_engine_only.py::test_forgets_to_close"]["findings"]
    assert (finding["kind"], finding["site"]) == (
        "db-connection",
        "test_engine_only.py:2 in test_forgets_to_close",
    )
    assert report["tests"]["test_engine_only.py::test_next"]["findings"] == []


def test_an_unclosed_session_names_the_line_that_used_it(pytester, own):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_session_left="""
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import AsyncSession

        async def test_forgets_the_session(db_engine, db_connection):
            session = AsyncSession(db_engine)
            await session.execute(text("select 1"))
        """
    )
    result = own()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: test_forgets_the_session left 1 database connection behind after "
            "teardown:",
            *UNCLOSED_MESSAGE,
            "      created at test_session_left.py:6 in test_forgets_the_session",
            UNCLOSED_FIX,
        ]
    )


def test_override_of_a_fastapi_dependency(pytester, run):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
        import httpx
        from fastapi import Depends, FastAPI
        from sqlalchemy import select

        from conftest import Item

        app = FastAPI()

        async def get_session():
            raise AssertionError("the real dependency must not run in tests")
            yield

        @app.get("/items")
        async def items(session=Depends(get_session)):
            return (await session.scalars(select(Item.name))).all()

        async def test_route_sees_the_test_row(db_session, db_override):
            db_override(get_session, app=app)
            db_session.add(Item(name="seen"))
            await db_session.flush()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/items")).json() == ["seen"]

        def test_dependency_restored():
            assert get_session not in app.dependency_overrides
        """
    )
    run().assert_outcomes(passed=2)


def test_db_override_rejects_what_it_cannot_rebind(pytester, own):
    pytester.makepyfile(
        """
        def test_x(db_override):
            db_override(object)
        """
    )
    result = own()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: db_override(<class 'object'>) cannot rebind this. Pass the "
            "application's async_sessionmaker (db_override(SessionLocal)), or a FastAPI "
            "dependency with its app (db_override(get_session, app=app)).",
        ]
    )


def test_an_invalid_db_url_is_a_usage_error(pytester, own):
    pytester.makepyfile("def test_x():\n    pass\n")
    result = own("--lw-db-url=mysql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: loopwarden: --lw-db-url = 'mysql' is not valid; allowed values: sqlite (an "
            "SQLite file in a temp dir, the default), postgresql (a throwaway PostgreSQL "
            "server), or a SQLAlchemy URL such as "
            "postgresql+asyncpg://user:password@localhost/dbname.",
        ]
    )


def test_a_missing_extra_names_the_install_command(pytester, own):
    pytester.makeconftest(
        """
        import sys
        sys.modules["aiosqlite"] = None  # as if loopwarden[db] were not installed
        """
    )
    pytester.makepyfile("async def test_x(db_session):\n    pass\n")
    result = own()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: SQLite databases (the db fixtures' default) need aiosqlite, but "
            "importing aiosqlite failed (import of aiosqlite halted; None in sys.modules).",
            "Install them with: pip install 'loopwarden[db]'",
        ]
    )


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_postgresql_throwaway_server(pytester, run):
    need_postgres()
    _suite(pytester)
    result = run("--lw-db-url=postgresql")
    result.assert_outcomes(passed=7)


@pytest.mark.slow
def test_postgresql_loop_per_test_and_xdist(pytester, own):
    need_postgres()
    _suite(pytester)
    pytester.makeini("[pytest]\nloopwarden_loop = test\nloopwarden_db_url = postgresql\n")
    result = own("-n", "2")
    result.assert_outcomes(passed=7)
    result.stdout.no_fnmatch_line("*attached to a different loop*")


def _world_readable_dir() -> str:
    # PostgreSQL runs as another user when the tests run as root: it must reach these files.
    path = tempfile.mkdtemp(prefix="loopwarden-test-")
    os.chmod(path, 0o755)
    return path


def _script(directory: str, name: str, body: str) -> None:
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as file:
        file.write("#!/bin/sh\n" + textwrap.dedent(body))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_server_start_failure_shows_the_log_tail():
    bindir = _world_readable_dir()
    try:
        _script(bindir, "initdb", 'mkdir -p "$2"\n')
        _script(
            bindir,
            "postgres",
            'echo "FATAL:  could not create lock file: Permission denied" >&2\nexit 1\n',
        )
        with pytest.raises(_postgres.PostgresStartError) as caught:
            _postgres.start_server(bindir=bindir)
        assert caught.value.step == "postgres"
        assert str(caught.value) == (
            f"loopwarden: the throwaway PostgreSQL server ({bindir}/postgres) exited with 1. "
            "Its log ends with:\nFATAL:  could not create lock file: Permission denied"
        )
    finally:
        shutil.rmtree(bindir)


def test_missing_binaries_name_the_install_command(monkeypatch):
    monkeypatch.setattr(_postgres, "_candidate_dirs", lambda: ["/nonexistent/bin"])
    with pytest.raises(_postgres.PostgresNotFound) as caught:
        _postgres.find_bindir()
    assert str(caught.value) == (
        "loopwarden: --lw-db-url=postgresql starts a throwaway PostgreSQL server from the "
        "system's binaries, but 'initdb' and 'postgres' were not found (looked on PATH, through "
        "pg_config --bindir and in the usual package directories: /nonexistent/bin).\n"
        "Install them with: apt-get install postgresql  (macOS: brew install postgresql), or "
        "set --lw-db-url to a server you run, e.g. "
        "postgresql+asyncpg://user:password@host/dbname."
    )
    assert caught.value.searched == ["/nonexistent/bin"]


@pytest.mark.slow
def test_server_is_removed_when_the_test_process_is_killed():
    need_postgres()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from loopwarden._db._postgres import start_server\n"
            "server = start_server()\n"
            "print(server.rundir, server.pid, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    rundir, pid = child.stdout.split()
    # The reaper, a separate process, cleans up when the pipe closes: wait for it (bounded).
    deadline = time.monotonic() + 30
    while os.path.exists(rundir) and time.monotonic() < deadline:
        time.sleep(0.05)  # sleep-ok: polling another process's cleanup, with a deadline
    assert not os.path.exists(rundir)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_fastapi_example_under_xdist(pytester, run, db):
    """examples/fastapi_db: routes on the app's global session factory, under -n 2."""
    pytest.importorskip("fastapi")
    pytest.importorskip("asgi_lifespan")
    if db == "postgresql":
        need_postgres()
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "fastapi_db")
    for name in ("shop.py", "conftest.py", "tests/test_products.py"):
        target = pytester.path / name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(os.path.join(example, name), target)
    result = run("-n", "2", f"--lw-db-url={db}", "-W", "error", "tests")
    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*attached to a different loop*")


# -- a server the user names, under xdist: one clone of a template per worker -------------------


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    """Run ``query`` on ``url`` (autocommit) from sync code; its rows."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def go() -> list[tuple[object, ...]]:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(query))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(go())


@pytest.fixture(scope="module")
def user_server():
    """A PostgreSQL server standing in for one the user runs (the throwaway one, started here)."""
    need_postgres()
    server = _postgres.start_server()
    try:
        _sql(server.url("postgres"), "CREATE DATABASE app")
        _sql(server.url("postgres"), "CREATE ROLE plain LOGIN")  # may not create databases
        yield server
    finally:
        server.stop()


def _databases(server: _postgres.Server) -> list[str]:
    rows = _sql(server.url("postgres"), "SELECT datname FROM pg_database ORDER BY datname")
    return [str(name) for (name,) in rows]


# The schema hook logs each build (and where it ran); each test logs the worker's database.
XDIST_CONFTEST = (
    CONFTEST
    + """

from pathlib import Path
from sqlalchemy import text

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def loopwarden_db_schema():
    async def log_build(connection):
        name = (await connection.execute(text("select current_database()"))).scalar()
        with open(HERE / "schema-builds.log", "a") as log:
            log.write(name + "\\n")

    return [Base.metadata, log_build]
"""
)

XDIST_TESTS = """
import os
from pathlib import Path

from sqlalchemy import text


async def test_each_worker_has_its_own_database(db_connection, db_url, request):
    name = (await db_connection.execute(text("select current_database()"))).scalar()
    # Not $PYTEST_XDIST_WORKER: loopwarden's own suite runs this inside an xdist worker.
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    (Path(__file__).parent / f"db-{worker}.txt").write_text(name)
    assert db_url.split("?")[0].endswith("/" + name)


async def test_commits_stay_in_the_worker_database(db_engine):
    async with db_engine.begin() as conn:  # committed for real: not rolled back
        await conn.execute(text("insert into item (name) values ('kept')"))
    async with db_engine.connect() as conn:
        assert (await conn.execute(text("select count(*) from item"))).scalar() == 1
"""


@pytest.mark.slow
def test_user_server_under_xdist_clones_one_template_per_worker(pytester, own, user_server):
    pytester.makeconftest(XDIST_CONFTEST)
    pytester.makepyfile(test_xdist_db=XDIST_TESTS)
    url = user_server.url("app")
    result = own("-n", "2", "--dist", "each", "--testrunuid=LW-Run-1", f"--lw-db-url={url}")
    result.assert_outcomes(passed=4)
    # Built once, by whichever worker got the lock first, under the name it has until complete.
    builds = (pytester.path / "schema-builds.log").read_text().splitlines()
    assert builds == ["loopwarden_lwrun1_build"]
    assert (pytester.path / "db-gw0.txt").read_text() == "loopwarden_lwrun1_gw0"
    assert (pytester.path / "db-gw1.txt").read_text() == "loopwarden_lwrun1_gw1"
    # The clones were dropped by their workers, the template by the controller.
    assert [n for n in _databases(user_server) if n.startswith("loopwarden_")] == []
    # The named database was only connected to: nothing was created in it.
    assert _sql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


@pytest.mark.slow
def test_user_server_without_xdist_uses_the_named_database(pytester, own, user_server):
    pytester.makeconftest(XDIST_CONFTEST)
    pytester.makepyfile(test_xdist_db=XDIST_TESTS)
    url = user_server.url("postgres")
    _sql(url, "CREATE DATABASE solo")
    try:
        result = own("-p", "no:randomly", f"--lw-db-url={user_server.url('solo')}")
        result.assert_outcomes(passed=2)
        assert (pytester.path / "schema-builds.log").read_text().splitlines() == ["solo"]
        assert (pytester.path / "db-main.txt").read_text() == "solo"
        assert [n for n in _databases(user_server) if n.startswith("loopwarden_")] == []
    finally:
        _sql(url, "DROP DATABASE solo WITH (FORCE)")


@pytest.mark.slow
def test_user_server_role_that_may_not_create_databases(pytester, own, user_server):
    pytester.makeconftest(XDIST_CONFTEST)
    pytester.makepyfile("async def test_x(db_session):\n    pass\n")
    url = user_server.url("app").replace("postgres@", "plain@")
    result = own("-n", "2", "--dist", "each", "--testrunuid=denied", f"--lw-db-url={url}")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "loopwarden: under pytest-xdist each worker gets its own database, cloned from a "
            "template on the server --lw-db-url names, but role 'plain' may not create "
            "databases (creating 'loopwarden_denied_build': permission denied to create "
            "database).",
            "Fix: grant it with ALTER ROLE plain CREATEDB; or run without -n; or use "
            "--lw-db-url=postgresql for a throwaway server per worker.",
        ]
    )
    assert [n for n in _databases(user_server) if n.startswith("loopwarden_")] == []
