"""Drivers run steps in one long-lived task and context, from synchronous code."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import warnings

import pytest

from loopwarden._core._driver import Driver, DriverError
from loopwarden._core._loop import new_loop

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


@pytest.fixture
def loop():
    loop = new_loop()
    yield loop
    loop.close()


def test_steps_share_one_task_and_context(loop):
    driver = Driver(loop, "d")

    async def set_var():
        var.set("set")
        return asyncio.current_task()

    async def get_var():
        return var.get(), asyncio.current_task()

    task_a = driver.run(set_var())
    value, task_b = driver.run(get_var())
    assert value == "set"
    assert task_a is task_b is driver.task
    assert var.get() == "unset"  # the caller's context is untouched
    driver.stop()
    assert driver.task.done()


def test_child_starts_from_parent_context_and_does_not_leak_back(loop):
    parent = Driver(loop, "parent")

    async def set_to(value):
        var.set(value)

    async def read():
        return var.get()

    parent.run(set_to("parent"))
    child = parent.child("child")
    assert child.run(read()) == "parent"
    child.run(set_to("child"))
    assert child.run(read()) == "child"
    assert parent.run(read()) == "parent"
    child.stop()
    parent.stop()


def test_async_generator_is_finalised_in_the_task_that_started_it(loop):
    driver = Driver(loop, "d")
    seen = []

    async def agen():
        seen.append(asyncio.current_task())
        async with asyncio.timeout(10):
            yield 1
        seen.append(asyncio.current_task())

    gen = agen()
    assert driver.run(gen.__anext__()) == 1
    with pytest.raises(StopAsyncIteration):
        driver.run(gen.__anext__())
    assert seen == [driver.task, driver.task]
    driver.stop()


def test_exceptions_and_cancellation_reach_the_caller_and_driver_survives(loop):
    driver = Driver(loop, "d")

    async def fail():
        raise KeyError("x")

    async def cancel_self():
        asyncio.current_task().cancel()
        await asyncio.sleep(0)

    async def ok():
        return asyncio.current_task().cancelling()

    with pytest.raises(KeyError):
        driver.run(fail())
    with pytest.raises(asyncio.CancelledError):
        driver.run(cancel_self())
    assert driver.run(ok()) == 0  # the cancel request was consumed, not left pending
    driver.stop()


def test_run_from_a_running_loop_is_refused_and_closes_the_coroutine(loop):
    driver = Driver(loop, "d")

    async def inner():
        return 1

    async def outer():
        coro = inner()
        with pytest.raises(DriverError, match=r"^the event loop is already running$"):
            driver.run(coro)
        return coro.cr_frame is None  # closed: no "never awaited" warning

    assert driver.run(outer()) is True
    driver.stop()
    with pytest.raises(DriverError, match=r"^driver 'd' has stopped$"):
        driver.run(inner())


def test_owner_is_set_for_the_step_and_restored(loop):
    driver = Driver(loop, "d")
    loop.set_owner("outer")

    async def make():
        return asyncio.create_task(asyncio.sleep(0))

    task = driver.run(make(), owner="step-owner")
    assert loop.registry.origin_of(task).owner == "step-owner"
    assert loop.registry.owner == "outer"
    driver.run(asyncio.wait([task]))
    driver.stop()


def _interrupt() -> None:
    # Ctrl-C, raised by the loop rather than by the step (pytest-timeout's signal handler raises
    # the same way, from the loop's select()). The loop lets only KeyboardInterrupt and SystemExit
    # out of a callback.
    raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["run", "run_in_task"])
def test_an_interrupted_step_is_cancelled_and_ends_before_the_caller_sees_it(loop, how):
    driver = Driver(loop, "d")
    ended = []

    async def parked():
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(asyncio.current_task().cancelling())

    async def interrupted():
        loop.call_soon(_interrupt)  # while the step is parked
        await parked()

    with pytest.raises(KeyboardInterrupt):
        if how == "run":
            driver.run(interrupted())
        else:
            driver.run_in_task(interrupted(), "test", None)
    assert ended == [1]  # the finally ran, cancelled, before the caller went on
    assert asyncio.all_tasks(loop) == {driver.task}  # nothing of the step is left pending

    async def again():
        return "driver still serves"

    assert driver.run(again()) == "driver still serves"
    driver.stop()


def test_a_step_interrupted_before_it_started_is_dropped_and_the_driver_serves_on(loop):
    driver = Driver(loop, "d")
    started = []

    async def step():
        started.append(True)

    async def first():
        pass

    driver.run(first())  # the driver now waits for its next step
    loop.call_soon(_interrupt)  # runs before the driver picks the step up
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            driver.run(step())

        async def again():
            return "driver still serves"

        assert driver.run(again()) == "driver still serves"
        gc.collect()
    assert started == []
    assert [str(w.message) for w in caught] == []  # closed, not "never awaited"
    driver.stop()
