"""The websockets stock feed: a real server on a loopback port, real clients."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect


async def subscribe(ws, sku: str) -> None:
    await ws.send(json.dumps({"subscribe": sku}))
    assert json.loads(await ws.recv()) == {"subscribed": sku}


async def test_subscriber_receives_stock_changes(feed_server):
    async with connect(feed_server.url) as ws:
        await subscribe(ws, "widget")
        assert feed_server.feed.publish("widget", 7) == 1
        assert json.loads(await ws.recv()) == {"sku": "widget", "available": 7}


async def test_only_subscribers_of_that_sku_hear_about_it(feed_server):
    async with connect(feed_server.url) as widgets, connect(feed_server.url) as gadgets:
        await subscribe(widgets, "widget")
        await subscribe(gadgets, "gadget")
        feed_server.feed.publish("gadget", 1)
        feed_server.feed.publish("widget", 4)
        # Each client's next message is about its own sku: the other one never reached it.
        assert json.loads(await widgets.recv())["sku"] == "widget"
        assert json.loads(await gadgets.recv())["sku"] == "gadget"


async def test_closed_client_is_unsubscribed(feed_server):
    async with connect(feed_server.url) as ws:
        await subscribe(ws, "widget")
    async with asyncio.timeout(5):
        await feed_server.feed.wait_for_subscribers("widget", 0)
    assert feed_server.feed.publish("widget", 1) == 0
