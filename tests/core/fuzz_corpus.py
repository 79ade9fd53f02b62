"""Order-dependent bugs of the shapes found in the field, each with its fix.

Every ``bug_*`` coroutine passes under asyncio's FIFO order — which is why such bugs survive
review and local runs — and fails (AssertionError, or a hang reported as LoopIdle) under some
other order of its ready tasks. Every ``fixed_*`` coroutine is the same code made correct: it
passes under every order. ``SCENARIOS`` pairs them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def step(n: int = 1) -> None:
    """Yield to the loop ``n`` times (one await of real code: a query, a send, a log call)."""
    for _ in range(n):
        await asyncio.sleep(0)


# 1. Two writers: read-modify-write across an await loses an update.


async def bug_two_writers() -> None:
    account = {"balance": 0}

    async def deposit(amount: int, start: int) -> None:
        await step(start)
        balance = account["balance"]
        await step()  # e.g. an audit log write
        account["balance"] = balance + amount

    await asyncio.gather(deposit(10, 0), deposit(5, 1))
    assert account["balance"] == 15


async def fixed_two_writers() -> None:
    account = {"balance": 0}
    lock = asyncio.Lock()

    async def deposit(amount: int, start: int) -> None:
        await step(start)
        async with lock:
            balance = account["balance"]
            await step()
            account["balance"] = balance + amount

    await asyncio.gather(deposit(10, 0), deposit(5, 1))
    assert account["balance"] == 15


# 2. Check-then-act across an await: a cache stampede fetches twice.


async def bug_check_then_act() -> None:
    cache: dict[str, str] = {}
    fetches = []

    async def get(key: str, start: int) -> str:
        await step(start)
        if key not in cache:
            fetches.append(key)
            await step()  # the fetch
            cache[key] = key.upper()
        return cache[key]

    assert await asyncio.gather(get("a", 0), get("a", 2)) == ["A", "A"]
    assert fetches == ["a"]


async def fixed_check_then_act() -> None:
    cache: dict[str, asyncio.Future[str]] = {}
    fetches = []

    async def fetch(key: str) -> str:
        fetches.append(key)
        await step()
        return key.upper()

    async def get(key: str, start: int) -> str:
        await step(start)
        if key not in cache:  # no await between the check and the act
            cache[key] = asyncio.ensure_future(fetch(key))
        return await cache[key]

    assert await asyncio.gather(get("a", 0), get("a", 2)) == ["A", "A"]
    assert fetches == ["a"]


# 3. Event order: handlers of different speed, an assertion on the order they finish in.


async def bug_event_order() -> None:
    finished: list[str] = []

    async def handler(name: str, work: int) -> None:
        await step(work)
        finished.append(name)

    await asyncio.gather(handler("index", 1), handler("notify", 2))
    assert finished == ["index", "notify"]


async def fixed_event_order() -> None:
    finished: list[str] = []

    async def handler(name: str, work: int) -> None:
        await step(work)
        finished.append(name)

    await asyncio.gather(handler("index", 1), handler("notify", 2))
    assert sorted(finished) == ["index", "notify"]


# 4. A reconnect racing a request: the request uses the connection while it is replaced.


class Client:
    def __init__(self) -> None:
        self.connection: str | None = "conn-1"
        self.ready = asyncio.Event()
        self.ready.set()

    async def reconnect(self) -> None:
        self.ready.clear()
        self.connection = None
        await step()  # the handshake
        self.connection = "conn-2"
        self.ready.set()


async def bug_reconnect_vs_request() -> None:
    client = Client()

    async def request() -> str:
        await step(2)
        connection = client.connection
        assert connection is not None, "request sent on a closed connection"
        return connection

    _, used = await asyncio.gather(client.reconnect(), request())
    assert used == "conn-2"


async def fixed_reconnect_vs_request() -> None:
    client = Client()

    async def request() -> str:
        await step(2)
        await client.ready.wait()
        connection = client.connection
        assert connection is not None, "request sent on a closed connection"
        return connection

    _, used = await asyncio.gather(client.reconnect(), request())
    assert used in ("conn-1", "conn-2")  # before or after the reconnect: both are fine


# 5. A lock released too early: the update it guards happens outside it.


async def bug_lock_released_early() -> None:
    lock = asyncio.Lock()
    state = {"n": 0}

    async def worker(start: int) -> None:
        await step(start)
        async with lock:
            seen = state["n"]
        await step()
        state["n"] = seen + 1

    await asyncio.gather(worker(0), worker(1))
    assert state["n"] == 2


async def fixed_lock_released_early() -> None:
    lock = asyncio.Lock()
    state = {"n": 0}

    async def worker(start: int) -> None:
        await step(start)
        async with lock:
            seen = state["n"]
            await step()
            state["n"] = seen + 1

    await asyncio.gather(worker(0), worker(1))
    assert state["n"] == 2


# 6. A queue consumer cancelled between taking an item and recording it: the item is lost.


async def bug_consumer_vs_cancel() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    done: list[int] = []

    async def consume() -> None:
        while True:
            item = await queue.get()
            await step()  # the processing
            done.append(item)

    consumer = asyncio.create_task(consume())
    await step()
    queue.put_nowait(1)
    await step(3)
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    assert done == [1] or queue.qsize() == 1, "item taken from the queue and lost"


async def fixed_consumer_vs_cancel() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    done: list[int] = []

    async def consume() -> None:
        while True:
            item = await queue.get()
            try:
                await step()
            finally:
                done.append(item)  # recorded even when cancelled mid-way

    consumer = asyncio.create_task(consume())
    await step()
    queue.put_nowait(1)
    await step(3)
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    assert done == [1] or queue.qsize() == 1, "item taken from the queue and lost"


# 7. An event published before its subscriber has subscribed: the subscriber misses it (each
# does one await first; which resumes first decides).


class Bus:
    def __init__(self) -> None:
        self.subscribers: list[asyncio.Queue[str]] = []

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.subscribers.append(queue)
        return queue

    def publish(self, event: str) -> None:
        for queue in self.subscribers:
            queue.put_nowait(event)


async def bug_publish_before_subscribe() -> None:
    bus = Bus()
    received: list[str] = []

    async def listener() -> None:
        await step()  # connecting first
        inbox = bus.subscribe()
        received.append(await asyncio.wait_for(inbox.get(), 5))

    async def announcer() -> None:
        await step()  # its own set-up
        bus.publish("started")

    listening = asyncio.create_task(listener())
    asyncio.create_task(announcer())
    with contextlib.suppress(TimeoutError):
        await listening
    assert received == ["started"], "the event was published before anyone listened"


async def fixed_publish_before_subscribe() -> None:
    bus = Bus()
    received: list[str] = []

    async def listener(inbox: asyncio.Queue[str]) -> None:
        await step()  # connecting first
        received.append(await asyncio.wait_for(inbox.get(), 5))

    async def announcer() -> None:
        await step()  # its own set-up
        bus.publish("started")

    listening = asyncio.create_task(listener(bus.subscribe()))  # subscribed before it starts
    asyncio.create_task(announcer())
    with contextlib.suppress(TimeoutError):
        await listening
    assert received == ["started"], "the event was published before anyone listened"


# 8. Two tasks pulling from one async generator: "already running" when their pulls overlap.


async def _pages():
    for page in range(4):
        await step()  # fetching the page
        yield page


async def bug_shared_generator() -> None:
    pages = _pages()
    got: list[int] = []

    async def reader(start: int) -> None:
        await step(start)
        got.append(await anext(pages))

    await asyncio.gather(reader(0), reader(2))
    assert sorted(got) == [0, 1]


async def fixed_shared_generator() -> None:
    pages = _pages()
    got: list[int] = []
    lock = asyncio.Lock()

    async def reader(start: int) -> None:
        await step(start)
        async with lock:
            got.append(await anext(pages))

    await asyncio.gather(reader(0), reader(2))
    assert sorted(got) == [0, 1]


# 9. A notification sent before anyone waits for it: the waiter hangs (a lost wake-up).


async def bug_lost_wakeup() -> None:
    condition = asyncio.Condition()
    state = {"ready": False}

    async def waiter() -> None:
        await step()  # its own set-up first
        async with condition:
            await condition.wait()  # waits for the *next* notify, not for the state

    async def producer() -> None:
        await step(2)
        async with condition:
            state["ready"] = True
            condition.notify_all()

    await asyncio.gather(waiter(), producer())


async def fixed_lost_wakeup() -> None:
    condition = asyncio.Condition()
    state = {"ready": False}

    async def waiter() -> None:
        await step()  # its own set-up first
        async with condition:
            await condition.wait_for(lambda: state["ready"])

    async def producer() -> None:
        await step(2)
        async with condition:
            state["ready"] = True
            condition.notify_all()

    await asyncio.gather(waiter(), producer())


# 10. Using what a background start-up sets before it has set it.


class Service:
    def __init__(self) -> None:
        self.config: dict[str, int] | None = None
        self.started = asyncio.Event()

    async def start(self) -> None:
        await step()  # reading the configuration
        self.config = {"port": 8080}
        self.started.set()


async def bug_use_before_ready() -> None:
    service = Service()
    starting = asyncio.create_task(service.start())
    await step(2)
    assert service.config is not None, "used before start() finished"
    assert service.config["port"] == 8080
    await starting


async def fixed_use_before_ready() -> None:
    service = Service()
    starting = asyncio.create_task(service.start())
    await service.started.wait()
    assert service.config is not None, "used before start() finished"
    assert service.config["port"] == 8080
    await starting


# 11. Replies matched to requests by arrival order on a shared connection.


async def bug_reply_order() -> None:
    sent: asyncio.Queue[str] = asyncio.Queue()
    replies: asyncio.Queue[str] = asyncio.Queue()

    async def server() -> None:
        while True:
            request = await sent.get()
            replies.put_nowait(f"reply to {request}")

    async def call(name: str, start: int) -> str:
        await step(start)
        sent.put_nowait(name)
        return await replies.get()  # "the next reply is mine"

    serving = asyncio.create_task(server())
    answers = await asyncio.gather(call("a", 0), call("b", 3))
    serving.cancel()
    assert answers == ["reply to a", "reply to b"]


async def fixed_reply_order() -> None:
    sent: asyncio.Queue[tuple[str, asyncio.Future[str]]] = asyncio.Queue()

    async def server() -> None:
        while True:
            request, reply = await sent.get()
            reply.set_result(f"reply to {request}")

    async def call(name: str, start: int) -> str:
        await step(start)
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        sent.put_nowait((name, reply))
        return await reply  # each request carries its own reply

    serving = asyncio.create_task(server())
    answers = await asyncio.gather(call("a", 0), call("b", 3))
    serving.cancel()
    assert answers == ["reply to a", "reply to b"]


# 12. Closing twice: "if not closed" checked before an await, set after it.


class Resource:
    def __init__(self) -> None:
        self.closed = False
        self.closes = 0

    async def close(self) -> None:
        if not self.closed:
            await step()  # flushing
            self.closes += 1
            self.closed = True


async def bug_double_close() -> None:
    resource = Resource()

    async def shutdown(start: int) -> None:
        await step(start)
        await resource.close()

    await asyncio.gather(shutdown(0), shutdown(1))
    assert resource.closes == 1


async def fixed_double_close() -> None:
    resource = Resource()
    closing: list[asyncio.Future[None]] = []

    async def close_once() -> None:
        if not closing:  # no await between the check and the act
            closing.append(asyncio.ensure_future(resource.close()))
        await closing[0]

    async def shutdown(start: int) -> None:
        await step(start)
        await close_once()

    await asyncio.gather(shutdown(0), shutdown(1))
    assert resource.closes == 1


Scenario = Callable[[], Awaitable[None]]

SCENARIOS: dict[str, tuple[Scenario, Scenario]] = {
    "two writers": (bug_two_writers, fixed_two_writers),
    "check then act": (bug_check_then_act, fixed_check_then_act),
    "event order": (bug_event_order, fixed_event_order),
    "reconnect vs request": (bug_reconnect_vs_request, fixed_reconnect_vs_request),
    "lock released early": (bug_lock_released_early, fixed_lock_released_early),
    "consumer vs cancel": (bug_consumer_vs_cancel, fixed_consumer_vs_cancel),
    "publish before subscribe": (bug_publish_before_subscribe, fixed_publish_before_subscribe),
    "shared generator": (bug_shared_generator, fixed_shared_generator),
    "lost wake-up": (bug_lost_wakeup, fixed_lost_wakeup),
    "use before ready": (bug_use_before_ready, fixed_use_before_ready),
    "reply order": (bug_reply_order, fixed_reply_order),
    "double close": (bug_double_close, fixed_double_close),
}
