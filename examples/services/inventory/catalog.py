"""The catalog service: an aiohttp web application over the stock table.

``GET /items/{sku}`` answers how many units are available; ``POST /items/{sku}/reservations``
with ``{"quantity": n}`` takes them, or answers 409 when there are not enough.
"""

from __future__ import annotations

from aiohttp import web

STOCK = web.AppKey("stock", dict[str, int])

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/items/{sku}")
async def get_item(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    stock = request.app[STOCK]
    if sku not in stock:
        return web.json_response({"error": f"unknown sku {sku!r}"}, status=404)
    return web.json_response({"sku": sku, "available": stock[sku]})


@routes.post("/items/{sku}/reservations")
async def reserve(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    stock = request.app[STOCK]
    body = await request.json()
    quantity = int(body["quantity"])
    if sku not in stock:
        return web.json_response({"error": f"unknown sku {sku!r}"}, status=404)
    if quantity < 1 or stock[sku] < quantity:
        return web.json_response(
            {"error": "insufficient stock", "available": stock[sku]}, status=409
        )
    # No await between the check and the update: concurrent requests cannot oversell.
    stock[sku] -= quantity
    return web.json_response(
        {"sku": sku, "reserved": quantity, "available": stock[sku]}, status=201
    )


def make_app(stock: dict[str, int]) -> web.Application:
    """The catalog over ``stock`` (the dict itself, so a test can reset it in place)."""
    app = web.Application()
    app[STOCK] = stock
    app.add_routes(routes)
    return app
