"""One database per pytest-xdist worker on a PostgreSQL server the user names.

Workers of one run must not share a database: a test on one worker would see what another
committed, and their schema builds would race. So each worker gets its own database, cloned from
a template that holds the schema, built once per run:

- names: ``loopwarden_<run>_tmpl`` (the template) and ``loopwarden_<run>_<worker>``
  (``loopwarden_3f2a…_gw0``), where ``<run>`` comes from xdist's test run id, shared by the
  workers of one run and different between runs, so parallel runs on one server never collide;
- the first worker to get there builds the template, under a PostgreSQL advisory lock the
  others wait on: into ``loopwarden_<run>_build`` first, renamed to ``…_tmpl`` only once the
  schema is complete, so a worker that dies half-way leaves no half-built template behind;
- every worker then runs ``CREATE DATABASE loopwarden_<run>_<worker> TEMPLATE
  loopwarden_<run>_tmpl`` (a file copy: no schema work per worker) and drops its clone when its
  session ends; the xdist controller drops the template once every worker is down, and with it
  any clone a crashed worker left (:func:`drop_run`).

The database the URL names is only where loopwarden connects to create the others; it is never
written to, and its tables are not copied (the schema comes from ``loopwarden_db_schema``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from loopwarden._db._isolation import create_schema

PREFIX = "loopwarden_"
#: PostgreSQL truncates identifiers to 63 bytes; a run id this long keeps every name whole.
RUN_ID_LENGTH = 16


class TemplateError(RuntimeError):
    """A worker's database could not be made on the server (the message says why and the fix).

    Attributes:
        database: the database that was being created.
    """

    def __init__(self, message: str, database: str) -> None:
        super().__init__(message, database)
        self.database = database

    def __str__(self) -> str:
        return str(self.args[0])


def run_prefix(run_id: str) -> str:
    """``loopwarden_<run>``: the name every database of the run starts with.

    Only lowercase letters and digits of ``run_id`` are kept (xdist's is a uuid4 hex; a user's
    ``--testrunuid`` may be anything), so names never need quoting tricks.
    """
    cleaned = re.sub(r"[^a-z0-9]", "", run_id.lower())[:RUN_ID_LENGTH]
    if not cleaned:
        cleaned = hashlib.sha256(run_id.encode()).hexdigest()[:RUN_ID_LENGTH]
    return PREFIX + cleaned


def template_name(run_id: str) -> str:
    return f"{run_prefix(run_id)}_tmpl"


def worker_name(run_id: str, worker: str) -> str:
    return f"{run_prefix(run_id)}_{re.sub(r'[^a-z0-9]', '', worker.lower())}"


def _lock_key(prefix: str) -> int:
    """A signed 64-bit advisory lock key of the run (one lock per run, not per server)."""
    return int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:8], "big", signed=True)


def _admin_engine(url: URL, options: Mapping[str, Any]) -> Any:
    # CREATE/DROP DATABASE cannot run in a transaction block. Only the connection arguments of
    # the user's engine options apply (pool or echo settings are for the test engines).
    connect_args = options.get("connect_args", {})
    return create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args=connect_args)


async def _exists(conn: AsyncConnection, name: str) -> bool:
    found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    return found is not None


async def _drop(conn: AsyncConnection, name: str) -> None:
    # WITH (FORCE) (PostgreSQL 13+) ends connections a test left open; without it the drop fails.
    version = conn.dialect.server_version_info or (0,)
    force = " WITH (FORCE)" if version >= (13,) else ""
    await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"{force}')


def _denied(exc: DBAPIError, url: URL, name: str) -> TemplateError:
    role = url.username or "(the URL's role)"
    return TemplateError(
        f"loopwarden: under pytest-xdist each worker gets its own database, cloned from a "
        f"template on the server --lw-db-url names, but role {role!r} may not create databases "
        f"(creating {name!r}: {str(exc.orig).strip()}).\nFix: grant it with ALTER ROLE {role} "
        "CREATEDB; or run without -n; or use --lw-db-url=postgresql for a throwaway server per "
        "worker.",
        name,
    )


async def clone_for_worker(
    url: URL,
    run_id: str,
    worker: str,
    options: Mapping[str, Any],
    schema: object,
) -> URL:
    """Make this worker's database (and the run's template, if no worker has yet).

    Args:
        url: the server the user named (its database is used for the admin connection only).
        run_id: xdist's test run id, the same on every worker of the run.
        worker: this worker's id (``gw0``).
        options: the ``create_async_engine`` options (for the schema build).
        schema: what ``loopwarden_db_schema`` returned.

    Returns:
        The URL of the worker's database.

    Raises:
        TemplateError: the role may not create databases.
        TypeError: ``schema`` is not an accepted kind (from :func:`apply_schema`).
    """
    prefix = run_prefix(run_id)
    template, building, name = template_name(run_id), f"{prefix}_build", worker_name(run_id, worker)
    key = _lock_key(prefix)
    creating = building
    engine = _admin_engine(url, options)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                if not await _exists(conn, template):
                    await _drop(conn, building)  # what a worker that died mid-build left
                    await conn.exec_driver_sql(f'CREATE DATABASE "{building}"')
                    try:
                        await create_schema(url.set(database=building), options, schema)
                    except BaseException:
                        await _drop(conn, building)
                        raise
                    await conn.exec_driver_sql(
                        f'ALTER DATABASE "{building}" RENAME TO "{template}"'
                    )
                creating = name
                await _drop(conn, name)
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                    raise _denied(exc, url, creating) from exc
                raise
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        await engine.dispose()
    return url.set(database=name)


async def drop_worker(url: URL, run_id: str, worker: str, options: Mapping[str, Any]) -> None:
    """Drop this worker's clone (at the end of its session)."""
    engine = _admin_engine(url, options)
    try:
        async with engine.connect() as conn:
            await _drop(conn, worker_name(run_id, worker))
    finally:
        await engine.dispose()


async def drop_run(url: URL, run_id: str, options: Mapping[str, Any]) -> list[str]:
    """Drop every database of the run: the template and clones crashed workers left.

    Called by the xdist controller once all workers are down. Returns the dropped names.
    """
    prefix = run_prefix(run_id)
    engine = _admin_engine(url, options)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalars(
                text("SELECT datname FROM pg_database WHERE left(datname, :n) = :p"),
                {"n": len(prefix) + 1, "p": prefix + "_"},
            )
            names = sorted(rows)
            for name in names:
                await _drop(conn, name)
    finally:
        await engine.dispose()
    return names
