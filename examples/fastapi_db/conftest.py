import httpx
import pytest
from asgi_lifespan import LifespanManager

import shop


@pytest.fixture(scope="session")
def loopwarden_db_schema():
    return shop.Base.metadata


@pytest.fixture
async def client(db_override):
    # The routes' global session factory now uses the test's transaction.
    db_override(shop.SessionLocal)
    async with LifespanManager(shop.app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client
