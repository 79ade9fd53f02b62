"""Reading tasks: who awaits a task, on every Python (3.14 records it; before, it is derived)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from loopwarden._core._loop import new_loop
from loopwarden._core._tasks import awaited_path, awaiters

# Python 3.14 records every await edge; 3.11-3.13 derive a task awaited directly, in a gather()
# or in a TaskGroup.
RECORDED = sys.version_info >= (3, 14)


async def _parked(event: asyncio.Event) -> None:
    await event.wait()


async def _via_task_group(event, made):
    async with asyncio.TaskGroup() as tg:
        made.append(tg.create_task(_parked(event), name="in-group"))


async def _via_gather(event, made):
    made.append(asyncio.ensure_future(_parked(event)))
    await asyncio.gather(made[-1])


async def _via_await(event, made):
    made.append(asyncio.create_task(_parked(event)))
    await made[-1]


async def _via_shield(event, made):
    made.append(asyncio.create_task(_parked(event)))
    await asyncio.shield(made[-1])


@pytest.mark.parametrize(
    ("how", "derived"),
    [(_via_task_group, True), (_via_gather, True), (_via_await, True), (_via_shield, False)],
    ids=["TaskGroup", "gather", "await", "shield"],
)
def test_who_awaits_a_task(how, derived):
    loop = new_loop()
    event = asyncio.Event()
    made: list[asyncio.Task] = []

    async def main():
        parent = asyncio.create_task(how(event, made), name="parent")
        while not made or made[0].done() or parent.done():
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)  # the parent reaches its await
        index = awaiters(asyncio.all_tasks())
        found = [t.get_name() for t in index.get(made[0], [])]
        event.set()
        await parent
        return found

    try:
        found = loop.run_until_complete(main())
    finally:
        loop.close()
    assert found == (["parent"] if derived or RECORDED else [])


def test_the_path_up_follows_the_first_awaiter_and_stops_at_a_cycle():
    a, b, c = object(), object(), object()
    assert awaited_path(a, {a: [b], b: [c]}) == [b, c]
    assert awaited_path(a, {a: [b], b: [a]}) == [b]
    assert awaited_path(a, {}) == []
    chain = {i: [i + 1] for i in range(20)}
    assert awaited_path(0, chain, limit=3) == [1, 2, 3]
