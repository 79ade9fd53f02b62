"""The shop's tests on the fixtures of conftest.py.

A thread has no creation line, so the doctor names the test that left it behind.
"""

from __future__ import annotations

from broken_shop import Product
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def test_a_created_product_is_listed(client):
    assert (await client.post("/products", json={"name": "teapot"})).status_code == 201
    assert (await client.get("/products")).json() == ["teapot"]


async def test_each_test_starts_empty(client):
    assert (await client.get("/products")).json() == []


async def test_a_flushed_row_is_read_back(engine):
    async with AsyncSession(engine) as session:  # rolled back when it closes
        session.add(Product(name="kettle"))
        await session.flush()
        assert (await session.scalars(select(Product.name))).all() == ["kettle"]
