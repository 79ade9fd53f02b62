"""The FastAPI + SQLAlchemy app of examples/fastapi_db (shop.py), unchanged: a global engine and
session factory made at import time, used by the routes through a dependency."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

engine = create_async_engine(os.environ.get("SHOP_DB", "postgresql+asyncpg://shop@db/shop"))
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "product"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)


class NewProduct(BaseModel):
    name: str


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/products", status_code=201)
async def create_product(body: NewProduct, session: AsyncSession = Depends(get_session)) -> dict:
    product = Product(name=body.name)
    session.add(product)
    await session.commit()
    return {"id": product.id, "name": product.name}


@app.get("/products")
async def list_products(session: AsyncSession = Depends(get_session)) -> list[str]:
    return list((await session.scalars(select(Product.name).order_by(Product.name))).all())
