"""The SQL stock table: aiosqlite through SQLAlchemy's async engine."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from inventory.store import (
    InsufficientStock,
    add_item,
    create_schema,
    low_stock,
    quantity_of,
    reserve,
)


async def test_reserve_takes_stock_atomically(db):
    await add_item(db, "widget", "Widget", 5)
    assert await reserve(db, "widget", 3) == 2
    with pytest.raises(InsufficientStock):
        await reserve(db, "widget", 3)
    assert await quantity_of(db, "widget") == 2


async def test_low_stock_report(db):
    for sku, quantity in [("widget", 12), ("gadget", 2), ("gizmo", 0)]:
        await add_item(db, sku, sku.title(), quantity)
    assert await low_stock(db, threshold=5) == ["gadget", "gizmo"]


async def test_each_test_starts_with_an_empty_table(db):
    # The tests above added rows in transactions that were rolled back.
    assert await low_stock(db, threshold=1_000) == []


async def test_schema_on_a_fresh_database_file(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        await create_schema(engine)
        async with AsyncSession(engine) as session, session.begin():
            await add_item(session, "widget", "Widget", 1)
        async with AsyncSession(engine) as session:
            assert await quantity_of(session, "widget") == 1
    finally:
        await engine.dispose()
