"""Fixtures as the field report found them: engines the tests make themselves.

- ``engine``: one engine for the run, its schema built on an event loop of its own
  (``asyncio.run`` in a sync fixture). With asyncpg, the connection it leaves in the pool belongs
  to that loop, closed by then, and the tests, on another loop, fail ("Task got Future attached to
  a different loop"). aiosqlite happens to tolerate the move, so here the lint phase finds it.
- ``client``: a fresh engine per test, never disposed: its pooled connection (aiosqlite's worker
  thread) outlives every test that used it.

Fixed in examples/fastapi_db: ``db_override`` points the app's own session factory at the test's
transaction, on an engine loopwarden makes once per loop and disposes.
"""

from __future__ import annotations

import asyncio

import pytest
from broken_shop import Base, app, get_session
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


async def _create_schema(engine):
    async with engine.begin() as connection:  # planted: leak(thread) — aiosqlite starts its worker here
        await connection.run_sync(Base.metadata.create_all)


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db')}/shop.db")
    asyncio.run(_create_schema(engine))  # its own loop: `loopwarden lint --extend-select LW105`
    return engine


@pytest.fixture
async def client(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/shop.db")  # a new engine...
    await _create_schema(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def session_for_test():
        async with sessions() as session:
            yield session

    app.dependency_overrides[get_session] = session_for_test
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://shop") as client:
        yield client
    app.dependency_overrides.clear()  # ...and nothing disposes of it
