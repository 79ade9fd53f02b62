import pytest

import shop


@pytest.fixture(scope="session")
def loopwarden_db_schema():
    return shop.Base.metadata


@pytest.fixture
async def client(db_override, asgi_client):
    # The routes' global session factory now uses the test's transaction; the app's lifespan
    # runs (asgi_client), as it does in production.
    db_override(shop.SessionLocal)
    return await asgi_client(shop.app, base_url="http://shop")
