"""Fixtures for the inventory services: each starts a real component and tears it down fully.

Every test and fixture shares one event loop (see pytest.ini), so the session-scoped catalog
server and database engine can be used from any test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp
import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from websockets.asyncio.server import serve

from inventory.catalog import make_app
from inventory.client import CatalogClient
from inventory.feed import StockFeed
from inventory.pricing import PricingApp
from inventory.store import create_schema

SEED_STOCK = {"widget": 10, "gadget": 3, "gizmo": 0}
BASE_PRICES = {"widget": Decimal("2.50"), "gadget": Decimal("19.99")}


# -- catalog: aiohttp server for the session, a client session per test ------------------------


@dataclass
class CatalogServer:
    url: str
    stock: dict[str, int]


@pytest.fixture(scope="session")
async def catalog_server() -> AsyncIterator[CatalogServer]:
    stock: dict[str, int] = {}
    runner = web.AppRunner(make_app(stock))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield CatalogServer(f"http://{host}:{port}", stock)
    finally:
        await runner.cleanup()


@pytest.fixture
async def catalog(catalog_server: CatalogServer) -> AsyncIterator[CatalogClient]:
    """A client with its own connection pool, closed after the test; the stock starts afresh."""
    catalog_server.stock.clear()
    catalog_server.stock.update(SEED_STOCK)
    async with aiohttp.ClientSession(base_url=catalog_server.url) as session:
        yield CatalogClient(session)


# -- pricing: plain ASGI app, with its lifespan, through httpx --------------------------------


@pytest.fixture
async def pricing() -> AsyncIterator[httpx.AsyncClient]:
    app = PricingApp(dict(BASE_PRICES))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pricing") as client:
            yield client


# -- database: one engine (and file) per session, one rolled-back transaction per test ---------


@pytest.fixture(scope="session")
async def db_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    path = tmp_path_factory.mktemp("db") / "inventory.sqlite3"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await create_schema(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def db(db_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back: every test sees an empty table."""
    async with db_engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


# -- stock feed: a websockets server per test -------------------------------------------------


@dataclass
class FeedServer:
    feed: StockFeed
    url: str


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    feed = StockFeed()
    async with serve(feed.handler, "127.0.0.1", 0) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        yield FeedServer(feed, f"ws://{host}:{port}")
