"""The fuzz scheduler finds every order-dependent bug of the corpus and no fixed one."""

from __future__ import annotations

import asyncio
import collections

import pytest

import loopwarden
from loopwarden._core._fuzz import FuzzScheduler
from tests.core.fuzz_corpus import SCENARIOS


def outcome(scenario, seed: int | None) -> str | None:
    """Run ``scenario`` in virtual time under ``seed`` (None: FIFO); its failure, or None."""

    def factory():
        loop = loopwarden.new_loop()
        if seed is not None:
            loop.set_scheduler(FuzzScheduler(seed))
        return loop

    async def main():
        with loopwarden.virtual_time():
            await scenario()

    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    except (AssertionError, loopwarden.LoopIdle, RuntimeError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_bug_hides_in_fifo_order_and_is_found_within_50_schedules(name):
    bug, _ = SCENARIOS[name]
    assert outcome(bug, None) is None, "the corpus bug must pass in FIFO order"
    failing = [seed for seed in range(1, 51) if outcome(bug, seed) is not None]
    assert failing, f"{name}: no schedule of 50 found the bug"
    # The same seed fails the same way again: a replay reproduces it.
    assert outcome(bug, failing[0]) == outcome(bug, failing[0]) is not None


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_fixed_version_fails_under_500_schedules(name):
    _, fixed = SCENARIOS[name]
    failures = {seed: why for seed in range(500) if (why := outcome(fixed, seed)) is not None}
    assert failures == {}


def test_plain_callbacks_keep_their_fifo_order_while_task_steps_move():
    async def main(seed: int) -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        async def task(name: str) -> None:
            for i in range(3):
                order.append(f"{name}{i}")
                loop.call_soon(order.append, f"cb-{name}{i}")
                await asyncio.sleep(0)

        await asyncio.gather(task("a"), task("b"), task("c"))
        callbacks = [entry for entry in order if entry.startswith("cb-")]
        steps = [entry for entry in order if not entry.startswith("cb-")]
        return callbacks, steps

    def run(seed: int):
        def factory():
            loop = loopwarden.new_loop()
            loop.set_scheduler(FuzzScheduler(seed))
            return loop

        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main(seed))

    step_orders = set()
    for seed in range(1, 60):
        callbacks, steps = run(seed)
        # Each callback runs after the step that scheduled it, and callbacks scheduled by one
        # task stay in the order that task scheduled them.
        for name in "abc":
            mine = [c for c in callbacks if c.startswith(f"cb-{name}")]
            assert mine == [f"cb-{name}0", f"cb-{name}1", f"cb-{name}2"]
        step_orders.add(tuple(steps))
    assert len(step_orders) > 5, "task steps should run in many different orders"


def test_tasks_always_start_in_the_order_they_were_created():
    """asyncio starts tasks first in, first out (a task's first step is a call_soon callback),
    and code relies on it deliberately: CPython's queue tests (and janus's copy of them) create
    two putters and expect the first one's item first, or let a getter start with one sleep(0).
    The fuzzer reported those tests as order-dependent; a start now runs before every step that
    became ready after it, while resumptions move."""

    async def putters_fill_in_creation_order() -> list[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        for name in "abcd":
            asyncio.create_task(queue.put(name))
        await asyncio.sleep(0)  # one iteration: every putter starts (and all but one block)
        return [await queue.get() for _ in range(4)]

    async def resumptions() -> list[str]:
        order: list[str] = []

        async def worker(name: str) -> None:
            await asyncio.sleep(0)
            order.append(name)

        await asyncio.gather(*(worker(name) for name in "abcd"))
        return order

    def run(scenario, seed: int):
        def factory():
            loop = loopwarden.new_loop()
            loop.set_scheduler(FuzzScheduler(seed, hold_probability=0.5))
            return loop

        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(scenario())

    async def started_before_the_creator_resumes() -> bool:
        # janus's test_closed_loop_non_failing: create_task(get()); await asyncio.sleep(0);
        # the getter is waiting by then.
        started = asyncio.Event()

        async def getter() -> None:
            started.set()
            await asyncio.sleep(0)

        task = asyncio.create_task(getter())
        await asyncio.sleep(0)
        was = started.is_set()
        await task
        return was

    for seed in range(200):
        assert run(putters_fill_in_creation_order, seed) == list("abcd"), seed
        assert run(started_before_the_creator_resumes, seed), seed
    # Resumptions still move (the fuzzer still fuzzes).
    assert len({tuple(run(resumptions, seed)) for seed in range(50)}) > 5


def test_removing_the_scheduler_gives_back_the_steps_it_held():
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, loopwarden.WardenLoop)
        scheduler = FuzzScheduler(7, hold_probability=1.0, max_hold=3)
        done: list[int] = []

        async def worker(i: int) -> None:
            for _ in range(5):
                await asyncio.sleep(0)
            done.append(i)

        tasks = [asyncio.create_task(worker(i)) for i in range(4)]
        await asyncio.sleep(0)  # they start (starts are never held), then resume: held
        loop.set_scheduler(scheduler)
        await asyncio.sleep(0)
        held_while_on = scheduler.holding
        loop.set_scheduler(None)
        await asyncio.gather(*tasks)
        return [held_while_on, *sorted(done)]

    with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
        held, *done = runner.run(main())
    assert held >= 1
    assert done == [0, 1, 2, 3]


def test_a_held_step_never_leaves_the_loop_waiting():
    # One task, holding always on: nothing else is ever ready, so nothing may be held.
    async def main() -> int:
        loop = asyncio.get_running_loop()
        scheduler = FuzzScheduler(3, hold_probability=1.0)
        loop.set_scheduler(scheduler)  # type: ignore[attr-defined]
        for _ in range(100):
            await asyncio.sleep(0)
        return scheduler.holding

    with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
        assert runner.run(main()) == 0


def test_the_corpus_has_a_dozen_shapes():
    assert len(SCENARIOS) >= 12
    counts = collections.Counter(
        fixed is not bug and bug.__name__.startswith("bug_") for bug, fixed in SCENARIOS.values()
    )
    assert counts == {True: len(SCENARIOS)}


def test_no_task_step_moves_ahead_of_a_plain_callback():
    async def main() -> set[tuple[str, ...]]:
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(asyncio.sleep(0), name=f"t{i}") for i in range(4)]
        await asyncio.sleep(0)  # started: their steps are resumptions (starts keep FIFO order)

        def plain() -> None:
            pass

        seen = set()
        for seed in range(200):
            ready = collections.deque(
                [
                    asyncio.Handle(tasks[0].get_name, (), loop),
                    asyncio.Handle(plain, (), loop),
                    asyncio.Handle(tasks[1].get_name, (), loop),
                    asyncio.Handle(tasks[2].get_name, (), loop),
                    asyncio.Handle(tasks[3].get_name, (), loop),
                ]
            )
            FuzzScheduler(seed, hold_probability=0.0).reorder(ready)
            seen.add(tuple(h._callback() if h._callback is not plain else "cb" for h in ready))
        await asyncio.gather(*tasks)
        return seen

    with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
        orders = runner.run(main())
    assert {order[:2] for order in orders} == {("t0", "cb")}
    assert {order[2:] for order in orders} == {
        ("t1", "t2", "t3"),
        ("t1", "t3", "t2"),
        ("t2", "t1", "t3"),
        ("t2", "t3", "t1"),
        ("t3", "t1", "t2"),
        ("t3", "t2", "t1"),
    }


def test_many_connections_under_fuzzing_raise_nothing_in_asyncio_internals():
    async def main(seed: int) -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_scheduler(FuzzScheduler(seed))  # type: ignore[attr-defined]
        errors: list[str] = []
        loop.set_exception_handler(lambda _, context: errors.append(context["message"]))

        async def handle(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]

        async def ping(i: int) -> bytes:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"%d\n" % i)
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line

        lines = await asyncio.gather(*(ping(i) for i in range(5)))
        server.close()
        await server.wait_closed()
        assert lines == [b"%d\n" % i for i in range(5)]
        return errors

    for seed in range(1, 31):
        with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
            assert runner.run(main(seed)) == [], f"seed {seed}"
