"""Data flows both ways between the test and the routes; every test starts from an empty table."""

import pytest
from sqlalchemy import select

from shop import Product


async def test_route_sees_rows_the_test_inserted(client, db_session):
    db_session.add(Product(name="kettle"))
    await db_session.flush()
    assert (await client.get("/products")).json() == ["kettle"]


async def test_test_sees_rows_the_route_committed(client, db_session):
    response = await client.post("/products", json={"name": "teapot"})
    assert response.status_code == 201
    names = (await db_session.scalars(select(Product.name))).all()
    assert names == ["teapot"]


@pytest.mark.parametrize("name", ["cup", "mug", "saucer"])
async def test_each_test_starts_empty(client, name):
    assert (await client.get("/products")).json() == []
    await client.post("/products", json={"name": name})
    assert (await client.get("/products")).json() == [name]
