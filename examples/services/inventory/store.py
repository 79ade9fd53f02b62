"""The stock table in SQL: SQLAlchemy 2 async ORM (aiosqlite in the tests).

The functions take an ``AsyncSession`` and only ``flush()``: committing is the caller's decision,
which is what lets the tests run each one inside a transaction that is rolled back.
"""

from __future__ import annotations

from sqlalchemy import String, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str]
    quantity: Mapped[int]


class InsufficientStock(Exception):
    pass


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def add_item(session: AsyncSession, sku: str, name: str, quantity: int) -> Item:
    item = Item(sku=sku, name=name, quantity=quantity)
    session.add(item)
    await session.flush()
    return item


async def quantity_of(session: AsyncSession, sku: str) -> int | None:
    return await session.scalar(select(Item.quantity).where(Item.sku == sku))


async def reserve(session: AsyncSession, sku: str, quantity: int) -> int:
    """Take ``quantity`` units in one conditional UPDATE; returns how many are left."""
    left = await session.scalar(
        update(Item)
        .where(Item.sku == sku, Item.quantity >= quantity)
        .values(quantity=Item.quantity - quantity)
        .returning(Item.quantity)
    )
    if left is None:
        raise InsufficientStock(sku)
    return left


async def low_stock(session: AsyncSession, threshold: int) -> list[str]:
    rows = await session.scalars(
        select(Item.sku).where(Item.quantity < threshold).order_by(Item.sku)
    )
    return list(rows)
