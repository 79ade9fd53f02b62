"""The pricing service: a plain ASGI 3 application, no framework.

- ``GET /prices/{sku}?currency=EUR``: the item's price converted at the current rate;
- ``POST /rates`` with ``{"currency": "EUR", "rate": "0.92"}``: queue a rate update and answer once
  the rate refresher (a background task started by the lifespan) has applied it.

The lifespan starts the refresher at startup and cancels it, and waits for it, at shutdown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from inventory._aio import cancel_and_wait

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RateUpdate = tuple[str, Decimal, "asyncio.Future[None]"]


class PricingApp:
    def __init__(self, base_prices: dict[str, Decimal], base_currency: str = "USD") -> None:
        self.base_prices = base_prices
        self.base_currency = base_currency
        self.rates: dict[str, Decimal] = {base_currency: Decimal(1)}
        self._updates: asyncio.Queue[RateUpdate] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            raise RuntimeError(f"unsupported ASGI scope type {scope['type']!r}")

    # -- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._updates = asyncio.Queue()
                self._refresher = asyncio.create_task(
                    self._apply_rate_updates(self._updates), name="pricing-rate-refresher"
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._refresher is not None:
                    await cancel_and_wait(self._refresher)
                    self._refresher = None
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _apply_rate_updates(self, updates: asyncio.Queue[RateUpdate]) -> None:
        while True:
            currency, rate, applied = await updates.get()
            if rate <= 0:
                applied.set_exception(ValueError(f"rate for {currency} must be positive"))
            else:
                self.rates[currency] = rate
                applied.set_result(None)

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if method == "GET" and path.startswith("/prices/"):
            query = parse_qs(scope["query_string"].decode())
            currency = query.get("currency", [self.base_currency])[0]
            status, body = self._price(path.removeprefix("/prices/"), currency)
        elif method == "POST" and path == "/rates":
            status, body = await self._update_rate(await _read_body(receive))
        else:
            status, body = 404, {"error": f"no route for {method} {path}"}
        await _send_json(send, status, body)

    def _price(self, sku: str, currency: str) -> tuple[int, dict[str, Any]]:
        if sku not in self.base_prices:
            return 404, {"error": f"unknown sku {sku!r}"}
        if currency not in self.rates:
            return 422, {"error": f"no rate for {currency}"}
        price = (self.base_prices[sku] * self.rates[currency]).quantize(Decimal("0.01"))
        return 200, {"sku": sku, "currency": currency, "price": str(price)}

    async def _update_rate(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        if self._updates is None:
            return 503, {"error": "the service has not started"}
        try:
            update = json.loads(raw)
            currency, rate = str(update["currency"]), Decimal(str(update["rate"]))
        except (ValueError, KeyError, InvalidOperation) as exc:
            return 400, {"error": f"bad rate update: {exc!r}"}
        applied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._updates.put((currency, rate, applied))
        try:
            await applied
        except ValueError as exc:
            return 422, {"error": str(exc)}
        return 200, {"currency": currency, "rate": str(rate)}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
