"""The ASGI pricing app through httpx, with its lifespan (and background refresher) running."""

from __future__ import annotations


async def test_price_in_base_currency(pricing):
    response = await pricing.get("/prices/widget")
    assert response.status_code == 200
    assert response.json() == {"sku": "widget", "currency": "USD", "price": "2.50"}


async def test_rate_update_is_applied_by_the_refresher(pricing):
    assert (await pricing.get("/prices/gadget?currency=EUR")).status_code == 422
    response = await pricing.post("/rates", json={"currency": "EUR", "rate": "0.5"})
    assert response.status_code == 200
    # The POST answers only once the background task applied the rate: no need to wait.
    assert (await pricing.get("/prices/gadget?currency=EUR")).json()["price"] == "10.00"


async def test_invalid_rate_is_rejected_by_the_refresher(pricing):
    response = await pricing.post("/rates", json={"currency": "EUR", "rate": "-1"})
    assert response.status_code == 422
    assert response.json() == {"error": "rate for EUR must be positive"}
