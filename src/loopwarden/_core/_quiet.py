"""When is an event loop *quiet*? The one definition behind virtual time, settle and eventually.

A loop is quiet when nothing can happen without the clock moving:

- no callback is ready to run and no I/O event is waiting (``select(0)`` returns nothing);
- no executor work is running (futures from ``run_in_executor`` / ``asyncio.to_thread``);
- no subprocess it started is still running;
- no thread started since the baseline (by the test or its fixtures) is working — running,
  sleeping, or waiting with a timeout; a thread parked until someone else wakes it does not count
  (see :mod:`loopwarden._core._threads`);
- no request sent to a peer outside the loop is waiting for its reply (for up to
  :attr:`QuietPolicy.in_flight` real seconds; a peer served by this same loop is part of it);
- and, when the loop talks to peers outside itself, nothing arrived within a short real-time
  cushion (:attr:`QuietPolicy.cushion`).

:class:`Quiet` applies that definition inside the loop's ``select()`` call, which is where a loop
decides to wait: the first place where "nothing is ready" is known for certain, at no cost to
the loop while nobody asks (the wrapper is installed only while virtual time is on or a
``settle``/``eventually`` waits). There it

- resolves the futures of :func:`settle` callers (the loop is quiet; the clock did not move),
- or, with virtual time on, moves the clock to the next timer instead of waiting for it,
- or, with virtual time on and nothing scheduled at all, calls ``on_idle`` (a hang: nothing can
  ever wake the loop),
- and otherwise waits in real time, in short polls while something is still working.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from loopwarden._core import _private
from loopwarden._core._records import Record
from loopwarden._core._threads import ThreadMark, inspect, started_since, thread_mark, where

_monotonic = time.monotonic


class QuietPolicy(Record):
    """The real-time allowances of the quiet check (seconds).

    Attributes:
        cushion: how long to listen for peers outside the loop before calling it quiet.
        in_flight: how long a request sent to a peer outside the loop, not answered yet, keeps
            the loop from being quiet. After that the peer is taken to be silent on purpose
            (a test of a server that never answers) and the clock may move.
        poll: how often a loop that is not quiet re-checks while it waits.
        idle_grace: how long a loop with nothing scheduled waits in real time before its
            ``on_idle`` callback is called.
    """

    cushion: float
    in_flight: float
    poll: float
    idle_grace: float
    _fields = ("cushion", "in_flight", "poll", "idle_grace")

    def __init__(
        self,
        cushion: float = 0.002,
        in_flight: float = 1.0,
        poll: float = 0.005,
        idle_grace: float = 0.05,
    ) -> None:
        self.cushion = cushion
        self.in_flight = in_flight
        self.poll = poll
        self.idle_grace = idle_grace


class Quiet:
    """The quiet check of one selector event loop, and what to do when it is quiet.

    Create it with :func:`quiet_of`; a :class:`~loopwarden._core._loop.WardenLoop` has its own
    (``loop.quiet``) and adds what only it records (executor work, subprocesses, requests in
    flight). Use it from the loop's thread.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        install: Callable[[asyncio.AbstractEventLoop, bool], None],
    ) -> None:
        # Held weakly: the loop holds its quiet check, and a reference back would make every
        # dropped loop (one per test, with pytest-asyncio) garbage that only the cyclic collector
        # frees. ``install(loop, on)`` takes the loop for the same reason.
        self._loop = weakref.ref(loop)
        self.policy = QuietPolicy()
        self._install = install
        self._installed = False
        self.raw_select: Callable[[float | None], list[Any]] = _private.selector(loop).select
        # Threads alive now are background. Their idents are read at the first check, from a
        # mark taken now (a start counter while thread starts are recorded, which costs nothing
        # here): most loops never run a quiet check, or get the session's baseline first.
        self._baseline: set[int] | None = None
        self._baseline_mark: ThreadMark = thread_mark()
        self.settlers: list[asyncio.Future[None]] = []
        # eventually()'s waiters: (future, iteration it was added in, more callbacks ran after).
        self.steppers: list[tuple[asyncio.Future[None], int, bool]] = []
        self.iterations = 0
        #: Moves the loop's clock to the given time, over time nobody waits for; set while
        #: virtual time is on.
        self.jump: Callable[[float], None] | None = None
        #: Moves the loop's clock forward by real time spent waiting; set while virtual time is on.
        self.flow: Callable[[float], None] | None = None
        #: Called once when the loop, in virtual time, has nothing scheduled and nothing working.
        self.on_idle: Callable[[], None] | None = None
        self._idle_reported = False
        #: Why the loop was last found not quiet (for error messages).
        self.last_reason: str | None = None
        #: Clock jumps made.
        self.jumps = 0
        # The threads last seen parked, and where (see working()).
        self._parked: dict[int, object] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop this check watches."""
        loop = self._loop()
        if loop is None:
            raise RuntimeError("this quiet check's event loop no longer exists")
        return loop

    # -- configuration ----------------------------------------------------------------------

    @property
    def baseline(self) -> set[int]:
        """The idents of the background threads (see :meth:`reset_baseline`)."""
        baseline = self._baseline
        if baseline is None:
            mark = self._baseline_mark
            if isinstance(mark, int):  # the threads alive now, but those started since the mark
                started = started_since(mark)
                alive = [t for t in threading.enumerate() if t not in started]
            else:  # the threads alive at the mark
                alive = list(mark)
            baseline = self._baseline = {t.ident for t in alive if t.ident is not None}
        return baseline

    def reset_baseline(self, baseline: set[int] | None = None) -> None:
        """Threads alive now (or the idents given) are background: only others hold the loop."""
        if baseline is None:
            baseline = {t.ident for t in threading.enumerate() if t.ident is not None}
        self._baseline = baseline

    def refresh(self) -> None:
        """Install the select wrapper while someone needs it; remove it when nobody does."""
        wanted = self.jump is not None or bool(self.settlers) or bool(self.steppers)
        if wanted != self._installed:
            self._installed = wanted
            self._install(self.loop, wanted)

    def add_settler(self, future: asyncio.Future[None]) -> None:
        self.settlers.append(future)
        self.refresh()

    def add_stepper(self, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` when something may have changed since now.

        That is: when the loop is next quiet, if anything ran after this call; else as soon as
        something happens (I/O arrives, a poll for working threads ends, the clock jumps).
        """
        later: Any = _private.ready(self.loop)
        self.steppers.append((future, self.iterations, bool(later)))
        self.refresh()

    def discard(self, future: asyncio.Future[None]) -> None:
        if future in self.settlers:
            self.settlers.remove(future)
        self.steppers = [entry for entry in self.steppers if entry[0] is not future]
        self.refresh()

    # -- the check --------------------------------------------------------------------------

    def working(self) -> str | None:
        """Why the loop is not quiet beyond its ready queue and I/O, or None."""
        loop = self.loop
        work = getattr(loop, "_lw_executor_work", None)
        if work:
            for future, origin in list(work.items()):
                if not future.done():
                    site = getattr(origin, "site", None)
                    return "executor work is running" + (f" (started at {site})" if site else "")
        subprocesses = getattr(loop, "_lw_subprocesses", None)
        if subprocesses:
            for transport in list(subprocesses):
                if not transport.is_closing() and transport.get_returncode() is None:
                    return f"subprocess {transport.get_pid()} is running"
        current = threading.get_ident()
        baseline = self.baseline
        parked: dict[int, object] = {}
        for thread in threading.enumerate():
            ident = thread.ident
            if ident in baseline or ident == current or thread.name.startswith("loopwarden-"):
                continue
            doing, place = inspect(thread)
            if doing is not None:
                at = where(thread)
                return f"thread {thread.name!r} is {doing}" + (f" at {_here(at)}" if at else "")
            parked[ident or 0] = place
        if parked != self._parked:
            # A thread seen parked for the first time, or somewhere else than last time, may be
            # passing through a blocking wait it leaves at once (the interpreter's own locks,
            # while this thread releases the GIL to read /proc): parked means parked twice in
            # the same place, a poll apart.
            self._parked = parked
            if parked:
                return "a thread started by the test just stopped (making sure it stays parked)"
        return self._in_flight()

    def _in_flight(self) -> str | None:
        writers: weakref.WeakSet[Any] | None = getattr(self.loop, "_lw_writers", None)
        if not writers:  # (the loop's read-only stand-in until its first entry is empty)
            return None
        now = _monotonic()
        local: set[Any] | None = None
        for transport in list(writers):
            sent = transport._lw_sent
            if (
                transport.is_closing()
                or sent <= transport._lw_received
                or now - sent > self.policy.in_flight
            ):
                writers.discard(transport)
                continue
            if local is None:
                local = self._local_names()
            peer = transport.get_extra_info("peername")
            if peer is None or _name_key(peer) in local:
                writers.discard(transport)  # a peer on this loop is part of the loop
                continue
            return f"a request to {_show_peer(peer)} is waiting for its reply"
        return None

    def _local_names(self) -> set[Any]:
        """The addresses of every socket this loop serves or holds."""
        names: set[Any] = set()
        transports = _private.transports(self.loop)
        for transport in list(transports.values()):
            name = transport.get_extra_info("sockname")
            if name:
                names.add(_name_key(name))
        for server in list(getattr(self.loop, "_lw_servers", None) or ()):
            for sock in server.sockets:
                with contextlib.suppress(OSError):
                    names.add(_name_key(sock.getsockname()))
        return names

    def outside_peers(self) -> bool:
        """Does the loop wait on file descriptors fed from outside itself?"""
        loop = self.loop
        selector = _private.selector(loop)
        own = _private.self_pipe(loop).fileno()
        transports = _private.transports(loop)
        keys = selector.get_map()
        if len(keys) <= 1:
            return False
        local: set[Any] | None = None
        listening = self._listening()
        for fd in list(keys):
            if fd == own or fd in listening:
                continue
            transport = transports.get(fd)
            if transport is None:
                return True
            peer = transport.get_extra_info("peername")
            if not peer:
                return True
            if local is None:
                local = self._local_names()
            if _name_key(peer) not in local:
                return True
        return False

    def _listening(self) -> set[int]:
        fds: set[int] = set()
        for server in list(getattr(self.loop, "_lw_servers", None) or ()):
            for sock in server.sockets:
                fds.add(sock.fileno())
        return fds

    def why_not_quiet(self) -> str:
        """A sentence for error messages: what kept the loop from being quiet."""
        loop = self.loop
        ready: Any = _private.ready(loop)
        current = asyncio.current_task(loop) if loop.is_running() else None
        others = [h for h in ready if not _resumes(h, current)]
        if others:
            shown = ", ".join(_describe_handle(h) for h in others[:3])
            more = f" and {len(others) - 3} more" if len(others) > 3 else ""
            return f"callbacks kept becoming ready to run ({shown}{more})"
        reason = self.working() or self.last_reason
        return reason or "I/O kept arriving"

    # -- the select wrapper -------------------------------------------------------------------

    def select(self, timeout: float | None) -> list[Any]:
        self.iterations += 1
        raw = self._wait
        if timeout is not None and timeout <= 0:
            return raw(0)
        events = raw(0)
        if events:
            return self._stepped(events)
        reason = self.working()
        if reason is not None:
            self.last_reason = reason
            poll = self.policy.poll
            return self._stepped(raw(poll if timeout is None else min(timeout, poll)))
        if self.outside_peers():
            cushion = self.policy.cushion
            events = raw(cushion if timeout is None else min(timeout, cushion))
            if events or (timeout is not None and timeout <= cushion and self.jump is not None):
                return self._stepped(events)  # the clock flowed to the timer
            if timeout is not None and self.jump is None:
                timeout = max(0.0, timeout - cushion)
        # Quiet.
        self.last_reason = None
        if self._wake_quiet():
            return []  # the woken callers run on the next iteration
        if self.jump is None:
            return self._stepped(raw(timeout))
        if timeout is None:
            events = raw(self.policy.idle_grace)
            if events:
                return self._stepped(events)
            if not self._idle_reported and self.on_idle is not None:
                self._idle_reported = True
                self.on_idle()
                return []  # what on_idle made ready runs on the next iteration
            return self._stepped(raw(None))
        # Move the clock onto the next timer (``timeout`` is capped at a day).
        loop = self.loop
        scheduled: Any = _private.timers(loop)
        due = scheduled[0].when() if scheduled else loop.time() + timeout
        if due > loop.time():
            self.jumps += 1
            self.jump(due)
        return self._stepped([])

    def _wait(self, timeout: float | None) -> list[Any]:
        """The real ``select()``; with virtual time on, the clock moves by the real time waited."""
        flow = self.flow
        if flow is None or timeout == 0:
            return self.raw_select(timeout)
        started = _monotonic()
        try:
            return self.raw_select(timeout)
        finally:
            flow(_monotonic() - started)

    def _wake_quiet(self) -> bool:
        """The loop is quiet: wake the latest settle() caller, and eventually() callers with news.

        Several settle() calls pending at once (a task's, inside the work the test's waits for)
        return one at a time, the latest first: what the woken caller goes on to do is work the
        earlier ones wait for, so each of them returns only once that is done too.
        """
        live = [f for f in self.settlers if not f.done()]
        woken = live[-1:]
        self.settlers = live[:-1]
        previous = self.iterations - 1
        waiting = []
        for entry in self.steppers:
            future, added, later = entry
            if future.done():
                continue
            if later or added < previous:  # callbacks ran after the caller last looked
                woken.append(future)
            else:
                waiting.append(entry)
        self.steppers = waiting
        for future in woken:
            future.set_result(None)
        self.refresh()
        return bool(woken)

    def _stepped(self, events: list[Any]) -> list[Any]:
        """Something may have happened: wake ``eventually`` callers to look again."""
        self._idle_reported = False
        if self.steppers:
            steppers, self.steppers = self.steppers, []
            for future, _, _ in steppers:
                if not future.done():
                    future.set_result(None)
            self.refresh()
        return events


_QUIET: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Quiet] = weakref.WeakKeyDictionary()


def quiet_of(loop: asyncio.AbstractEventLoop) -> Quiet:
    """The quiet check of ``loop``: its own for a WardenLoop, else one made and kept for it.

    Raises:
        TypeError: for a loop without a selector (uvloop, the Windows proactor loop).
    """
    own = getattr(loop, "quiet", None)
    if isinstance(own, Quiet):
        return own
    found = _QUIET.get(loop)
    if found is not None:
        return found
    if not _private.selector_loop(loop):
        raise TypeError(
            f"loopwarden needs a selector event loop to tell when the loop is quiet; this one is "
            f"{type(loop).__module__}.{type(loop).__qualname__}. Run it on asyncio's default loop "
            "or loopwarden.new_loop()."
        )
    selector = _private.selector(loop)

    def install(loop: asyncio.AbstractEventLoop, on: bool) -> None:
        if on:
            selector.select = _QUIET[loop].select
        else:
            vars(selector).pop("select", None)

    quiet = Quiet(loop, install)
    _QUIET[loop] = quiet
    return quiet


def _here(site: Any) -> str:
    try:
        return str(site.relative_to(os.getcwd()))
    except OSError:
        return str(site)


def _name_key(name: Any) -> Any:
    if isinstance(name, tuple):
        return name[:2]  # IPv6 names carry flow info and scope id
    return name


def _show_peer(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(peer) or "a socket"


def _resumes(handle: Any, task: asyncio.Task[Any] | None) -> bool:
    """Is ``handle`` the step or wakeup of ``task`` (the caller itself)?"""
    if task is None:
        return False
    callback = _private.callback_of(handle)
    return getattr(callback, "__self__", None) is task


def _describe_handle(handle: Any) -> str:
    callback = _private.callback_of(handle)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_name()!r}"
    name = getattr(callback, "__qualname__", None) or repr(callback)
    return str(name)
