"""The watchdog dumps hung tasks, interrupts blocked code, and reports blocking iterations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from loopwarden._core._hangs import Armed, BlockingEvent, HangReport, Stage
from loopwarden._core._loop import WardenLoop, new_loop
from loopwarden._core._sites import Site
from loopwarden._core._watchdog import INTERRUPT_SIGNAL, HangInterrupt, Watchdog

HERE = __file__
ROOT = os.path.dirname(HERE)

pytestmark = pytest.mark.skipif(
    INTERRUPT_SIGNAL is None, reason="no signal to interrupt the main thread on this platform"
)


def line_of(marker: str) -> int:
    with open(HERE) as f:
        for number, line in enumerate(f, 1):
            if line.rstrip().endswith(f" {marker}"):
                return number
    raise AssertionError(marker)


@pytest.fixture(autouse=True)
def _free_signal():
    # A watchdog only takes a signal nobody handles; loopwarden's own plugin may hold it while it
    # runs this suite, so give it back to each test's watchdog and restore it afterwards.
    previous = signal.getsignal(INTERRUPT_SIGNAL)
    signal.signal(INTERRUPT_SIGNAL, signal.SIG_DFL)
    yield
    signal.signal(INTERRUPT_SIGNAL, previous)


@pytest.fixture
def watchdog():
    dog = Watchdog(grace=0.2)
    yield dog
    dog.close()


@pytest.fixture
def loop():
    loop = new_loop()
    yield loop
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending))
    loop.close()


class Armings:
    """What :func:`arming` saw: the :class:`Armed` record, once the block is left."""

    armed: Armed


@contextlib.contextmanager
def arming(dog: Watchdog, **kwargs: Any) -> Iterator[Armings]:
    """Arm ``dog`` around a block, and disarm it even when the block fails (a watchdog left
    armed would interrupt pytest while it reports the failure)."""
    seen = Armings()
    dog.arm(**kwargs)
    try:
        yield seen
    finally:
        seen.armed = dog.disarm()


# -- a hang the loop can answer ---------------------------------------------------------------


async def worker(event: asyncio.Event) -> None:
    await event.wait()  # AWAIT-EVENT


async def getter(queue: asyncio.Queue[int]) -> None:
    await queue.get()  # AWAIT-QUEUE


async def hangs_on_its_worker() -> None:
    getter_task = asyncio.create_task(getter(asyncio.Queue()), name="getter")  # CREATE-GETTER
    worker_task = asyncio.create_task(worker(asyncio.Event()), name="worker")  # CREATE-WORKER
    try:
        await worker_task  # AWAIT-WORKER
    finally:
        getter_task.cancel()


def test_a_hang_is_dumped_in_the_loop_thread_and_on_hang_can_cancel_the_test(watchdog, loop):
    hangs: list[tuple[int, HangReport]] = []

    def on_hang(report: HangReport) -> None:
        hangs.append((threading.get_ident(), report))
        report.test_task.task.cancel()

    the_test = loop.create_task(hangs_on_its_worker(), name="the test")
    with (
        arming(
            watchdog,
            timeout=0.1,
            loop=loop,
            phase="call",
            owner="t1",
            on_hang=on_hang,
            test_task=the_test,
        ) as seen,
        pytest.raises(asyncio.CancelledError),
    ):
        loop.run_until_complete(the_test)
    armed = seen.armed

    [(thread, report)] = hangs
    assert thread == threading.get_ident() != watchdog.thread.ident
    assert armed == Armed(report, (), interrupted=False)
    assert (report.stage, report.loop_state, report.phase, report.owner, report.stack) == (
        Stage.TASKS,
        "responsive",
        "call",
        "t1",
        (),
    )
    assert asyncio.all_tasks(loop) == set()  # the cancelled test took its worker with it
    assert report.format(ROOT, "loopwarden_timeout").splitlines() == [
        "loopwarden: test did not finish its call phase within 0.1 s (loopwarden_timeout); "
        "3 tasks were pending:",
        "  Task 'the test' (hangs_on_its_worker) — the test",
        f"    test_watchdog.py:{line_of('AWAIT-WORKER')} in hangs_on_its_worker"
        "   ← awaiting Task 'worker' (worker)",
        f"  Task 'getter' (getter) created at test_watchdog.py:{line_of('CREATE-GETTER')}"
        " in hangs_on_its_worker",
        f"    test_watchdog.py:{line_of('AWAIT-QUEUE')} in getter"
        "   ← awaiting Future pending (Queue.get; the queue is empty)",
        f"  Task 'worker' (worker) created at test_watchdog.py:{line_of('CREATE-WORKER')}"
        " in hangs_on_its_worker",
        f"    test_watchdog.py:{line_of('AWAIT-EVENT')} in worker"
        "   ← awaiting Future pending (Event.wait)",
        "  Fix: make the awaits marked ← complete (or cancel what they wait for), or raise "
        "loopwarden_timeout if the test is only slow.",
    ]
    assert report.summary(ROOT) == (
        "loopwarden: test did not finish its call phase within 0.1 s; stuck at "
        f"test_watchdog.py:{line_of('AWAIT-WORKER')} in hangs_on_its_worker, "
        "awaiting Task 'worker' (worker)"
    )


async def gathers(*aws: Awaitable[object]) -> None:
    await asyncio.gather(*aws)


async def waits_on_everything() -> None:
    lock, queue = asyncio.Lock(), asyncio.Queue(maxsize=1)
    queue.put_nowait(1)
    async with lock:
        # Parked forever on purpose: the hang dump names what each waits on.  # sleep-ok
        waiting = [
            asyncio.create_task(asyncio.sleep(30), name="sleeper"),  # sleep-ok
            asyncio.create_task(lock.acquire(), name="locker"),
            asyncio.create_task(queue.put(2), name="putter"),
            asyncio.create_task(asyncio.Semaphore(0).acquire(), name="semaphore"),
            asyncio.create_task(
                gathers(asyncio.sleep(30), asyncio.sleep(30)),  # sleep-ok
                name="gatherer",
            ),
        ]
        await asyncio.wait(waiting)


def test_the_dump_says_what_each_task_waits_for(watchdog, loop):
    reports: list[HangReport] = []

    def on_hang(report: HangReport) -> None:
        reports.append(report)
        report.test_task.task.cancel()

    with (
        arming(
            watchdog,
            timeout=0.1,
            loop=loop,
            phase="call",
            owner="t",
            on_hang=on_hang,
            test_task=lambda task: task.get_coro().__name__ == "waits_on_everything",
        ),
        pytest.raises(asyncio.CancelledError),
    ):
        loop.run_until_complete(waits_on_everything())

    [report] = reports
    waits = {task.name: task.waiting_on for task in report.tasks if not task.name[-1].isdigit()}
    assert waits == {
        "sleeper": "awaiting Future pending (asyncio.sleep(30))",
        "locker": "awaiting Future pending (Lock.acquire; the lock is held)",
        "putter": "awaiting Future pending (Queue.put; the queue is full)",
        "semaphore": "awaiting Future pending (Semaphore.acquire; no slot is free)",
        "gatherer": "awaiting gather (2 of 2 pending)",
    }
    assert report.tasks[0] is report.test_task
    assert report.test_task.waiting_on == "awaiting Future pending (asyncio.wait)"


def test_a_test_still_running_after_the_dump_is_interrupted(watchdog, loop):
    # Nobody cancels the test in on_hang: grace seconds later it is interrupted, in select().
    with (
        arming(watchdog, timeout=0.1, loop=loop, phase="teardown", owner="t", on_hang=None) as seen,
        pytest.raises(HangInterrupt) as caught,
    ):
        loop.run_until_complete(asyncio.Event().wait())
    armed = seen.armed

    report = caught.value.report
    assert (report.stage, report.loop_state) == (Stage.INTERRUPTED, "responsive")
    assert [task.waiting_on for task in report.tasks] == ["awaiting Future pending (Event.wait)"]
    assert report.stack[-1].function == "select"
    assert armed == Armed(report, (), interrupted=True)


# -- a loop or thread blocked in synchronous code -------------------------------------------------


async def sleeps_in_the_loop() -> None:
    time.sleep(10)  # sleep-ok BLOCKING-SLEEP


def test_a_loop_blocked_in_sync_code_is_interrupted(watchdog, loop):
    started = time.monotonic()
    with (
        arming(watchdog, timeout=0.1, loop=loop, phase="call", owner="t", on_hang=None) as seen,
        pytest.raises(HangInterrupt) as caught,
    ):
        loop.run_until_complete(sleeps_in_the_loop())
    assert time.monotonic() - started < 5
    armed = seen.armed

    report = caught.value.report
    line = line_of("BLOCKING-SLEEP")
    assert (report.stage, report.loop_state, report.thread) == (
        Stage.INTERRUPTED,
        "unresponsive",
        "the main thread",
    )
    assert report.stack[-1] == Site(HERE, line, "sleeps_in_the_loop")
    assert (report.running.coro, report.running.running) == ("sleeps_in_the_loop", True)
    assert str(caught.value) == (
        "loopwarden: test did not finish its call phase within 0.1 s; "
        f"blocked at {HERE}:{line} in sleeps_in_the_loop"
    )
    assert armed.interrupted
    text = armed.hang.format(ROOT).splitlines()
    assert text[:2] == [
        "loopwarden: test did not finish its call phase within 0.1 s.",
        "  The event loop did not answer within 0.2 s: it is blocked in synchronous code. "
        "Stack of the main thread (innermost last):",
    ]
    assert f"    test_watchdog.py:{line} in sleeps_in_the_loop" in text
    assert text[-2:] == [
        "  loopwarden raised HangInterrupt in the main thread to stop it.",
        "  Fix: do not block the event loop: await an async equivalent, or run the blocking call "
        "in a thread (asyncio.to_thread).",
    ]


@pytest.mark.parametrize(
    ("given_loop", "intro"),
    [
        (False, "No event loop runs this phase; synchronous code holds the main thread. Stack"),
        (True, "The event loop is not running; synchronous code holds the main thread. Stack"),
    ],
)
def test_sync_code_is_interrupted(watchdog, loop, given_loop, intro):
    with (
        arming(
            watchdog,
            timeout=0.1,
            loop=loop if given_loop else None,
            phase="setup",
            owner="t",
            on_hang=None,
        ) as seen,
        pytest.raises(HangInterrupt) as caught,
    ):
        time.sleep(10)  # sleep-ok SYNC-SLEEP
    armed = seen.armed

    report = caught.value.report
    line = line_of("SYNC-SLEEP")
    assert armed == Armed(report, (), interrupted=True)
    assert (report.stage, report.loop_state, report.tasks, report.running) == (
        Stage.INTERRUPTED,
        "not running" if given_loop else "no loop",
        (),
        None,
    )
    assert report.stack[-1] == Site(HERE, line, "test_sync_code_is_interrupted")
    text = report.format(ROOT, "loopwarden_timeout").splitlines()
    assert text[:2] == [
        "loopwarden: test did not finish its setup phase within 0.1 s (loopwarden_timeout).",
        f"  {intro} (innermost last):",
    ]
    assert text[-3:] == [
        f"    test_watchdog.py:{line} in test_sync_code_is_interrupted",
        "  loopwarden raised HangInterrupt in the main thread to stop it.",
        "  Fix: make the blocking call return (give it a timeout), or raise loopwarden_timeout.",
    ]


def test_code_that_swallows_the_interrupt_reaches_the_last_resort():
    released = threading.Event()
    calls: list[tuple[int, HangReport]] = []

    def last_resort(report: HangReport) -> None:
        calls.append((threading.get_ident(), report))
        released.set()

    dog = Watchdog(grace=0.1, on_last_resort=last_resort)
    try:
        with arming(dog, timeout=0.1, loop=None, phase="call", owner="t", on_hang=None) as seen:
            try:
                time.sleep(10)  # sleep-ok SWALLOWED
            except HangInterrupt:
                pass  # the code goes on, and blocks again
            assert released.wait(10)  # BLOCKS-AGAIN
    finally:
        dog.close()
    armed = seen.armed

    [(thread, report)] = calls
    name = "test_code_that_swallows_the_interrupt_reaches_the_last_resort"
    assert thread == dog.thread.ident
    assert armed == Armed(report, (), interrupted=True)
    assert (report.stage, report.not_interrupted) == (Stage.LAST_RESORT, "")
    assert report.stack[-1] == Site(HERE, line_of("SWALLOWED"), name)
    assert Site(HERE, line_of("BLOCKS-AGAIN"), name) in report.late_stack
    text = report.format(ROOT).splitlines()
    assert text[-4:-1] == [
        "  It was still running 0.1 s after it (caught by an except clause?), at (innermost last):",
        f"    test_watchdog.py:{line_of('BLOCKS-AGAIN')} in {name}",
        # (a library's frame by its import path, as in every report)
        f"    {os.path.basename(report.late_stack[-1].filename)}:{report.late_stack[-1].lineno} "
        f"in {report.late_stack[-1].function}",
    ]


def test_an_interrupt_arriving_after_disarm_does_nothing():
    released = threading.Event()
    dog = Watchdog(grace=0.1, on_last_resort=lambda report: released.set())
    # Hold the signal back, so that it reaches the main thread only after disarm().
    signal.pthread_sigmask(signal.SIG_BLOCK, {INTERRUPT_SIGNAL})
    try:
        with arming(dog, timeout=0.1, loop=None, phase="call", owner="t", on_hang=None) as seen:
            assert released.wait(10)
            assert INTERRUPT_SIGNAL in signal.sigpending()
        armed = seen.armed
    finally:
        # Unblocking delivers the signal and runs the handler right away: it must not raise.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {INTERRUPT_SIGNAL})
        dog.close()
    assert INTERRUPT_SIGNAL not in signal.sigpending()
    assert (armed.hang.stage, armed.interrupted) == (Stage.LAST_RESORT, False)


# -- arming and disarming -------------------------------------------------------------------------


def test_disarming_in_time_fires_nothing(watchdog, loop):
    fired: list[HangReport] = []
    watchdog.arm(timeout=0.1, loop=loop, phase="setup", owner="t", on_hang=fired.append)
    loop.run_until_complete(asyncio.sleep(0))
    assert watchdog.disarm() == Armed()

    # The next phase expires after the first one would have: by then the first stayed silent.
    def on_hang(report: HangReport) -> None:
        fired.append(report)
        report.test_task.task.cancel()

    the_test = loop.create_task(asyncio.Event().wait())
    with (
        arming(
            watchdog,
            timeout=0.15,
            loop=loop,
            phase="call",
            owner="t",
            on_hang=on_hang,
            test_task=the_test,
        ) as seen,
        pytest.raises(asyncio.CancelledError),
    ):
        loop.run_until_complete(the_test)
    assert seen.armed.hang is fired[-1]
    assert [report.phase for report in fired] == ["call"]
    # A stray signal while disarmed is ignored (pthread_kill runs the handler before returning).
    signal.pthread_kill(threading.get_ident(), INTERRUPT_SIGNAL)


def test_suspend_holds_the_deadline_and_resume_restarts_it(watchdog):
    with arming(watchdog, timeout=0.1, loop=None, phase="call", owner="t", on_hang=None) as seen:
        watchdog.suspend()
        time.sleep(0.3)  # sleep-ok: a debugger holding the test; it must not be interrupted
        watchdog.resume()
        with pytest.raises(HangInterrupt):
            time.sleep(10)  # sleep-ok: the deadline runs again after resume()
    assert seen.armed.interrupted


def test_arming_many_times_reuses_one_thread(watchdog, loop):
    before = set(threading.enumerate())
    for number in range(1000):
        watchdog.arm(
            timeout=60,
            loop=loop if number % 2 else None,
            phase="call",
            owner=number,
            on_hang=None,
            blocking=0.25,
        )
        assert watchdog.disarm() == Armed()
    assert set(threading.enumerate()) - before == {watchdog.thread}
    assert (watchdog.thread.name, watchdog.thread.daemon) == ("loopwarden-watchdog", True)


def test_arming_twice_is_an_error_and_close_restores_the_signal():
    dog = Watchdog()
    dog.arm(timeout=60, loop=None, phase="call", owner="t", on_hang=None)
    assert signal.getsignal(INTERRUPT_SIGNAL) is not signal.SIG_DFL
    with pytest.raises(RuntimeError, match=r"^the watchdog is already armed for 'call'$"):
        dog.arm(timeout=60, loop=None, phase="teardown", owner="t", on_hang=None)
    dog.close()
    dog.close()
    assert signal.getsignal(INTERRUPT_SIGNAL) is signal.SIG_DFL
    assert not dog.thread.is_alive()
    with pytest.raises(RuntimeError, match=r"^the watchdog is closed$"):
        dog.arm(timeout=60, loop=None, phase="call", owner="t", on_hang=None)


def test_a_signal_someone_else_handles_is_left_alone(watchdog):
    def theirs(signum, frame):
        pass

    signal.signal(INTERRUPT_SIGNAL, theirs)
    watchdog.arm(timeout=0.1, loop=None, phase="call", owner="t", on_hang=None)
    watchdog.close()
    assert signal.getsignal(INTERRUPT_SIGNAL) is theirs


# -- blocking detection ---------------------------------------------------------------------------


def block_the_loop(done: asyncio.Future[None]) -> None:
    time.sleep(0.3)  # sleep-ok BLOCKING-CALLBACK
    done.set_result(None)


async def schedule_a_blocking_callback() -> None:
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(block_the_loop, done)
    await done


def test_a_blocking_callback_is_reported_with_its_line(watchdog, loop):
    with arming(
        watchdog, timeout=0, loop=loop, phase="call", owner="t", on_hang=None, blocking=0.1
    ) as seen:
        loop.run_until_complete(schedule_a_blocking_callback())
    armed = seen.armed

    [event] = armed.blocking
    line = line_of("BLOCKING-CALLBACK")
    assert (event.site, event.user_site, event.owner, event.phase) == (
        Site(HERE, line, "block_the_loop"),
        None,
        "t",
        "call",
    )
    assert event.stack[-1] == event.site
    assert 0.3 <= event.duration < 5
    assert re.fullmatch(
        r"loopwarden: the event loop was blocked for 0\.\d\d s \(threshold 0\.1 s\) at "
        rf"test_watchdog\.py:{line} in block_the_loop",
        event.summary(ROOT),
    )
    # Every sample of a blocking call is at the same line: one call blocked.
    assert not event.moving
    assert event.function == "block_the_loop"
    assert event.lines(ROOT)[1] == (
        "  Fix: await an async equivalent, or run the blocking call in a thread "
        "(asyncio.to_thread)."
    )
    assert armed.hang is None
    assert "select" in vars(loop._selector)  # kept on for the next phase on this loop
    watchdog.close()
    assert "select" not in vars(loop._selector)  # off when the watchdog closes


async def run_on_first(done: asyncio.Future[None], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await done  # a finished future: the await does not suspend


async def run_on_second(done: asyncio.Future[None], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await done


async def run_on_without_suspending() -> None:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    # One step of 0.8 s, sampled every 0.05 s from 0.05 s on: in each function at least once.
    await run_on_first(done, 0.4)
    await run_on_second(done, 0.4)


def test_code_that_ran_on_without_suspending_is_not_reported_as_one_blocking_call(watchdog, loop):
    # aiohttp-client-cache's 1,000 requests through mocks: no call blocks, the awaits never
    # suspend, and one sample landed in a mock's __setattr__, which the finding was named after.
    with arming(
        watchdog, timeout=0, loop=loop, phase="call", owner="t", on_hang=None, blocking=0.1
    ) as seen:
        loop.run_until_complete(run_on_without_suspending())

    [event] = seen.armed.blocking
    assert event.moving
    assert event.site is not None
    assert event.site.function in ("run_on_first", "run_on_second")
    assert event.function == event.site.function
    assert 0.8 <= event.duration < 5
    assert re.fullmatch(
        r"loopwarden: the event loop was blocked for \d\.\d\d s \(threshold 0\.1 s\) by code "
        r"that ran through several lines without suspending, seen at test_watchdog\.py:\d+ in "
        r"run_on_\w+",
        event.summary(ROOT),
    )
    assert event.lines(ROOT)[1] == (
        "  Fix: between two awaits that suspended, the code went on from line to line: await "
        "async equivalents of the blocking calls there, or run them in a thread "
        "(asyncio.to_thread); where it is a stretch of work whose awaits never suspend (awaits "
        "of mocks, of finished futures or of a free lock return at once), give the loop a turn "
        "(await asyncio.sleep(0)) or move CPU-bound work to a thread."
    )


def block_twice(done: asyncio.Future[None]) -> None:
    time.sleep(0.3)  # sleep-ok: the first of two blocking calls under test
    time.sleep(0.3)  # sleep-ok: and the second, in the same step
    done.set_result(None)


async def schedule_two_blocking_calls() -> None:
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(block_twice, done)
    await done


def test_two_blocking_calls_in_one_step_get_the_fix_for_blocking_calls_too(watchdog, loop):
    # Samples at two lines: the report must not say that no call blocked.
    with arming(
        watchdog, timeout=0, loop=loop, phase="call", owner="t", on_hang=None, blocking=0.1
    ) as seen:
        loop.run_until_complete(schedule_two_blocking_calls())
    [event] = seen.armed.blocking
    assert event.moving
    assert event.function == "block_twice"
    assert "await async equivalents of the blocking calls there" in event.lines(ROOT)[1]


def test_a_blocking_finding_is_named_after_the_users_function_not_the_librarys():
    # fastapi-users' PasswordHelper.hash blocks in pwdlib; samples land in pwdlib's hash or
    # hash_secret from run to run, while the user's line stays.
    user = Site("/app/password.py", 37, "hash")
    for inner in ("hash_secret", "hash"):
        site = Site("/venv/site-packages/pwdlib/hashers/argon2.py", 40, inner)
        event = BlockingEvent(0.3, 0.25, site, user, (user, site), "t", "call")
        assert event.function == "hash"
    alone = Site("/app/tests/test_a.py", 4, "test_a")
    assert BlockingEvent(0.3, 0.25, alone, None, (alone,), "t", "call").function == "test_a"
    assert BlockingEvent(0.3, 0.25, None, None, (), "t", "call").function == "unknown"


def test_the_heartbeat_moves_to_the_armed_loop_and_between_phases_counts_for_nobody(watchdog):
    first, second = new_loop(), new_loop()
    try:
        with arming(
            watchdog, timeout=0, loop=first, phase="setup", owner="t", on_hang=None, blocking=0.1
        ):
            pass
        # Unarmed: the heartbeat still records a long iteration on the first loop...
        first.run_until_complete(schedule_a_blocking_callback())
        # ...which the next arming on that loop drops: it was in no phase.
        with arming(
            watchdog, timeout=0, loop=first, phase="call", owner="t", on_hang=None, blocking=0.1
        ) as seen:
            pass
        assert seen.armed.blocking == ()
        assert "select" in vars(first._selector)
        with arming(
            watchdog, timeout=0, loop=second, phase="call", owner="u", on_hang=None, blocking=0.1
        ):
            assert "select" not in vars(first._selector)  # moved to the armed loop
            assert "select" in vars(second._selector)
    finally:
        first.close()
        second.close()


def test_an_idle_or_stopped_loop_is_not_blocking(watchdog, loop):
    with arming(
        watchdog, timeout=0, loop=loop, phase="call", owner="t", on_hang=None, blocking=0.1
    ) as seen:
        loop.run_until_complete(asyncio.sleep(0.3))  # sleep-ok: idle in select()
        time.sleep(0.15)  # sleep-ok: the loop does not run meanwhile, so it blocks nothing
        loop.run_until_complete(asyncio.sleep(0))
    assert seen.armed.blocking == ()


def test_a_block_still_running_at_disarm_is_reported_so_far(watchdog, loop):
    async def disarms_while_blocking() -> Armed:
        time.sleep(0.15)  # sleep-ok BLOCKING-AT-DISARM
        return watchdog.disarm()

    watchdog.arm(timeout=0, loop=loop, phase="call", owner="t", on_hang=None, blocking=0.1)
    armed = loop.run_until_complete(disarms_while_blocking())
    [event] = armed.blocking
    assert event.site == Site(HERE, line_of("BLOCKING-AT-DISARM"), "disarms_while_blocking")
    assert event.duration >= 0.15


def test_the_last_iteration_of_a_run_is_measured_too():
    loop: WardenLoop = new_loop()
    try:
        loop.watch_blocks(0.05)
        loop.call_soon(time.sleep, 0.1)  # sleep-ok: blocks the iteration that stops the loop
        loop.call_soon(loop.stop)
        loop.run_forever()
        [(start, end)] = loop.take_blocks()
        assert end - start >= 0.1
        assert loop.busy_since() == 0.0
    finally:
        loop.close()


def test_the_heartbeat_stamps_each_iteration():
    loop: WardenLoop = new_loop()
    stamps: list[float] = []

    async def look() -> None:
        stamps.append(loop.busy_since())
        await asyncio.sleep(0)
        stamps.append(loop.busy_since())

    try:
        assert loop.watch_blocks(10.0)
        before = time.monotonic()
        loop.run_until_complete(look())
        assert before <= stamps[0] < stamps[1] <= time.monotonic()
        assert loop.busy_since() == 0.0  # not running
        assert loop.watch_blocks(None)
        assert "select" not in vars(loop._selector)
    finally:
        loop.close()


def test_a_hang_that_could_not_be_interrupted_says_how_to_see_its_tasks_live():
    report = HangReport(
        "call",
        "t",
        0.1,
        0.2,
        Stage.STACK,
        "unresponsive",
        stack=(Site(HERE, 1, "blocks"),),
        thread="thread 'worker'",
        not_interrupted="it is not the main thread, and only the main thread can be interrupted",
    )
    text = report.format(ROOT).splitlines()
    hint = (
        f"  While it hangs, `python -m asyncio pstree {os.getpid()}` lists the tasks of every "
        "loop in the process."
    )
    could_not = (
        "  loopwarden could not interrupt it: it is not the main thread, and only the main "
        "thread can be interrupted."
    )
    fix = (
        "  Fix: do not block the event loop: await an async equivalent, or run the blocking call "
        "in a thread (asyncio.to_thread)."
    )
    tail = [could_not, hint, fix] if sys.version_info >= (3, 14) else [could_not, fix]
    assert text[-len(tail) :] == tail
