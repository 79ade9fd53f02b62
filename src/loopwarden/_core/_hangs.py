"""Hang reports: what a phase was doing when it outlived its timeout, and blocked iterations.

Records only (:class:`HangReport`, :class:`BlockingEvent`, :class:`Armed`) and how they read;
the watchdog thread that makes them is in ``_watchdog.py``, the task reading in ``_tasks.py``.
"""

from __future__ import annotations

import enum
import os
import sys
import threading
from collections.abc import Hashable
from types import FrameType
from typing import Literal

from loopwarden._core._records import Record
from loopwarden._core._sites import Site, _is_library, _is_machinery
from loopwarden._core._tasks import HungTask, _rel

_STACK_LIMIT = 200
#: Python 3.14 reads the tasks of a live process from outside (``python -m asyncio pstree PID``),
#: even while its loop is blocked.
_PSTREE = sys.version_info >= (3, 14)

LoopState = Literal["responsive", "unresponsive", "blocked", "not running", "no loop"]


class Stage(enum.IntEnum):
    """How far the watchdog went about a hang, in the order it goes."""

    #: The loop answered: its pending tasks were dumped in the loop thread and ``on_hang`` ran.
    TASKS = 1
    #: The stuck thread's stack was dumped from the watchdog thread; it could not be interrupted.
    STACK = 2
    #: The stack was dumped and :class:`HangInterrupt` sent to the main thread.
    INTERRUPTED = 3
    #: The phase was still not over ``grace`` seconds later: ``on_last_resort`` was called.
    LAST_RESORT = 4


class HangReport(Record):
    """What a phase was doing when it outlived its timeout.

    Attributes:
        phase: the armed phase (``setup``, ``call``, ``teardown``).
        owner: the armed owner (the plugin passes the test's node id).
        timeout: the phase's timeout in seconds.
        grace: the watchdog's grace period between escalation stages.
        stage: how far the watchdog went.
        loop_state: ``responsive`` (the loop answered), ``unresponsive`` (it did not answer
            within ``grace``), ``blocked`` (at the deadline it was stuck in one iteration longer
            than the blocking threshold, so it was not asked), ``not running`` or ``no loop``.
        tasks: the loop's pending tasks, the test's first, dumped in the loop thread; empty if
            the loop never answered.
        stack: the stuck thread's stack, outermost first, taken from the watchdog thread when the
            loop did not answer (or there was none), or the phase went on after the task dump.
        thread: the name of the thread whose stack that is.
        running: the loop's current task when that stack was taken, if any.
        not_interrupted: why no :class:`HangInterrupt` was sent ("" if it was).
        late_stack: the same thread's stack when ``on_last_resort`` was called.
        idle: the loop went idle in virtual time (:meth:`Watchdog.report_idle`) before the
            deadline: nothing was scheduled and nothing was working, so nothing could wake it.
    """

    phase: str
    owner: Hashable
    timeout: float
    grace: float
    stage: Stage
    loop_state: LoopState
    tasks: tuple[HungTask, ...]
    stack: tuple[Site, ...]
    thread: str
    running: HungTask | None
    not_interrupted: str
    late_stack: tuple[Site, ...]
    idle: bool
    __slots__ = (
        "grace",
        "idle",
        "late_stack",
        "loop_state",
        "not_interrupted",
        "owner",
        "phase",
        "running",
        "stack",
        "stage",
        "tasks",
        "thread",
        "timeout",
    )
    _fields = (
        "phase",
        "owner",
        "timeout",
        "grace",
        "stage",
        "loop_state",
        "tasks",
        "stack",
        "thread",
        "running",
        "not_interrupted",
        "late_stack",
        "idle",
    )

    def __init__(
        self,
        phase: str,
        owner: Hashable,
        timeout: float,
        grace: float,
        stage: Stage,
        loop_state: LoopState,
        tasks: tuple[HungTask, ...] = (),
        stack: tuple[Site, ...] = (),
        thread: str = "",
        running: HungTask | None = None,
        not_interrupted: str = "",
        late_stack: tuple[Site, ...] = (),
        idle: bool = False,
    ) -> None:
        self.phase = phase
        self.owner = owner
        self.timeout = timeout
        self.grace = grace
        self.stage = stage
        self.loop_state = loop_state
        self.tasks = tasks
        self.stack = stack
        self.thread = thread
        self.running = running
        self.not_interrupted = not_interrupted
        self.late_stack = late_stack
        self.idle = idle

    @property
    def test_task(self) -> HungTask | None:
        """The pending task that runs the armed phase, when ``arm`` was told which it is."""
        for task in self.tasks:
            if task.is_test:
                return task
        return None

    def _head(self) -> str:
        if self.idle:
            return (
                f"loopwarden: test hung in its {self.phase} phase: the loop went idle in virtual "
                "time (no timer scheduled, nothing working), so nothing can wake it"
            )
        return f"loopwarden: test did not finish its {self.phase} phase within {self.timeout:g} s"

    def summary(self, root: str | None = None) -> str:
        """One line: what timed out and where it is stuck."""
        head = self._head()
        if self.stack:
            return f"{head}; blocked at {_rel(_pick_sites(self.stack)[0], root)}"
        stuck = self.test_task or (self.tasks[0] if len(self.tasks) == 1 else None)
        if stuck is not None and stuck.chain:
            innermost = [s for s in stuck.chain if not _is_machinery(s.filename)] or stuck.chain
            return f"{head}; stuck at {_rel(innermost[-1], root)}, {stuck.waiting_on}"
        return f"{head}; {_tasks_pending(len(self.tasks))}"

    def lines(self, root: str | None = None, setting: str | None = None) -> list[str]:
        """The readable report: stuck stack and pending tasks, what loopwarden did, the fix.

        Args:
            root: show file names relative to this directory.
            setting: the name of the setting that sets the timeout, shown next to it.
        """
        head = self._head()
        if setting and not self.idle:
            head += f" ({setting})"
        out: list[str] = []
        indent = "  "
        if not self.stack:
            out.append(f"{head}; {_tasks_pending(len(self.tasks))}:" if self.tasks else f"{head}.")
        else:
            out.append(f"{head}.")
            out.append(f"  {self._stack_intro()} (innermost last):")
            out.extend(f"    {_rel(site, root)}" for site in _shown_stack(self.stack))
            if self.running is not None:
                out.append(f"  Running task: {self.running.headline(root)}")
            if self.tasks:
                out.append(f"  {_tasks_pending(len(self.tasks)).capitalize()}:")
                indent = "    "
        out.extend(f"{indent}{line}" for task in self.tasks for line in task.lines(root))
        if self.stage >= Stage.STACK:
            if self.not_interrupted:
                out.append(f"  loopwarden could not interrupt it: {self.not_interrupted}.")
                if _PSTREE:
                    out.append(
                        "  While it hangs, `python -m asyncio pstree "
                        f"{os.getpid()}` lists the tasks of every loop in the process."
                    )
            else:
                out.append("  loopwarden raised HangInterrupt in the main thread to stop it.")
        if self.stage is Stage.LAST_RESORT:
            after = "later" if self.not_interrupted else "after it (caught by an except clause?)"
            out.append(f"  It was still running {self.grace:g} s {after}, at (innermost last):")
            out.extend(f"    {_rel(site, root)}" for site in _shown_stack(self.late_stack))
        out.append(f"  Fix: {self._fix(setting or 'the timeout')}")
        return out

    def format(self, root: str | None = None, setting: str | None = None) -> str:
        """:meth:`lines` joined into one text."""
        return "\n".join(self.lines(root, setting))

    def _stack_intro(self) -> str:
        thread = self.thread or "the thread"
        if self.loop_state == "unresponsive":
            return (
                f"The event loop did not answer within {self.grace:g} s: it is blocked in "
                f"synchronous code. Stack of {thread}"
            )
        if self.loop_state == "blocked":
            return f"The event loop is blocked in synchronous code. Stack of {thread}"
        if self.loop_state == "responsive":
            return f"It was not done {self.grace:g} s after the task dump. Stack of {thread}"
        if self.loop_state == "not running":
            return f"The event loop is not running; synchronous code holds {thread}. Stack"
        return f"No event loop runs this phase; synchronous code holds {thread}. Stack"

    def _fix(self, setting: str) -> str:
        if self.stack and self.loop_state == "unresponsive":
            return (
                "do not block the event loop: await an async equivalent, or run the blocking "
                "call in a thread (asyncio.to_thread)."
            )
        if self.stack and self.loop_state != "responsive":
            return f"make the blocking call return (give it a timeout), or raise {setting}."
        if self.idle:
            return (
                "make the awaits marked ← complete (set the event, resolve the future, send the "
                "data), or give them a timeout."
            )
        return (
            "make the awaits marked ← complete (or cancel what they wait for), or raise "
            f"{setting} if the test is only slow."
        )


class BlockingEvent(Record):
    """One loop iteration that held the event loop longer than the threshold.

    Attributes:
        duration: how long the iteration ran, in real seconds (so far, if it was still running
            when the phase was disarmed).
        threshold: the ``blocking`` threshold it exceeded.
        site: the innermost frame outside asyncio and loopwarden in the sampled stack; None when
            the iteration ended before the watchdog could sample it.
        user_site: when ``site`` lies in a library, the innermost frame of the user's own code.
        stack: the sampled stack of the loop thread, outermost first.
        owner: the owner armed at the time.
        phase: the phase armed at the time.
        moving: samples of the iteration were at different lines of the user's code: the code
            went on from line to line without suspending (several blocking calls, or work whose
            awaits never suspend), and ``site`` is only the deepest sample's.
    """

    duration: float
    threshold: float
    site: Site | None
    user_site: Site | None
    stack: tuple[Site, ...]
    owner: Hashable
    phase: str
    moving: bool
    __slots__ = (
        "duration",
        "moving",
        "owner",
        "phase",
        "site",
        "stack",
        "threshold",
        "user_site",
    )
    _fields = ("duration", "threshold", "site", "user_site", "stack", "owner", "phase", "moving")

    def __init__(
        self,
        duration: float,
        threshold: float,
        site: Site | None,
        user_site: Site | None,
        stack: tuple[Site, ...],
        owner: Hashable,
        phase: str,
        moving: bool = False,
    ) -> None:
        self.duration = duration
        self.threshold = threshold
        self.site = site
        self.user_site = user_site
        self.stack = stack
        self.owner = owner
        self.phase = phase
        self.moving = moving

    @property
    def function(self) -> str:
        """What the finding is named after: the function of the user's code that blocked (or
        ran on). The innermost frame of a library is only where a sample landed, and changes
        from run to run inside one blocking call (pwdlib's ``hash`` or ``hash_secret`` under
        fastapi-users' ``PasswordHelper.hash``)."""
        at = self.user_site or self.site
        return at.function if at is not None else "unknown"

    def summary(self, root: str | None = None) -> str:
        """``loopwarden: the event loop was blocked for 0.31 s (threshold 0.1 s) at …``."""
        if self.site is None:
            where = "(it ended before loopwarden could see where)"
        else:
            where = f"at {_rel(self.site, root)}"
            if self.user_site is not None:
                where += f" (from {_rel(self.user_site, root)})"
            if self.moving:
                where = f"by code that ran through several lines without suspending, seen {where}"
        return (
            f"loopwarden: the event loop was blocked for {self.duration:.2f} s "
            f"(threshold {self.threshold:g} s) {where}"
        )

    def lines(self, root: str | None = None) -> list[str]:
        """The summary and the fix."""
        if self.moving:
            fix = (
                "  Fix: between two awaits that suspended, the code went on from line to line: "
                "await async equivalents of the blocking calls there, or run them in a thread "
                "(asyncio.to_thread); where it is a stretch of work whose awaits never suspend "
                "(awaits of mocks, of finished futures or of a free lock return at once), give "
                "the loop a turn (await asyncio.sleep(0)) or move CPU-bound work to a thread."
            )
        else:
            fix = (
                "  Fix: await an async equivalent, or run the blocking call in a thread "
                "(asyncio.to_thread)."
            )
        return [self.summary(root), fix]

    def format(self, root: str | None = None) -> str:
        """:meth:`lines` joined into one text."""
        return "\n".join(self.lines(root))


class Armed(Record):
    """What happened while the watchdog was armed, returned by :meth:`Watchdog.disarm`.

    Attributes:
        hang: the hang report, at the last stage reached; None if the phase ended in time.
        blocking: the blocking iterations seen, in order.
        interrupted: :class:`HangInterrupt` was raised in the main thread.
    """

    hang: HangReport | None
    blocking: tuple[BlockingEvent, ...]
    interrupted: bool
    __slots__ = ("blocking", "hang", "interrupted")
    _fields = ("hang", "blocking", "interrupted")

    def __init__(
        self,
        hang: HangReport | None = None,
        blocking: tuple[BlockingEvent, ...] = (),
        interrupted: bool = False,
    ) -> None:
        self.hang = hang
        self.blocking = blocking
        self.interrupted = interrupted

    @property
    def found(self) -> bool:
        """A hang or a blocking iteration was seen."""
        return self.hang is not None or bool(self.blocking)


def _thread_stack(ident: int) -> tuple[Site, ...]:
    """A thread's stack, outermost first (empty if the thread is gone)."""
    frame: FrameType | None = sys._current_frames().get(ident)
    sites: list[Site] = []
    while frame is not None and len(sites) < _STACK_LIMIT:
        code = frame.f_code
        sites.append(Site(code.co_filename, frame.f_lineno or 0, code.co_name))
        frame = frame.f_back
    sites.reverse()
    return tuple(sites)


def _thread_name(ident: int) -> str:
    if ident == threading.main_thread().ident:
        return "the main thread"
    for thread in threading.enumerate():
        if thread.ident == ident:
            return f"thread {thread.name!r}"
    return f"thread {ident}"


def _pick_sites(stack: tuple[Site, ...]) -> tuple[Site | None, Site | None]:
    """The innermost site that is not asyncio's or loopwarden's and, when that is a library's,
    the innermost site of the user's own code above it."""
    for index in range(len(stack) - 1, -1, -1):
        site = stack[index]
        if _is_machinery(site.filename):
            continue
        if not _is_library(site.filename):
            return site, None
        for user in reversed(stack[:index]):
            if not _is_library(user.filename):
                return site, user
        return site, None
    return (stack[-1] if stack else None), None


def _shown_stack(stack: tuple[Site, ...]) -> list[Site]:
    """The frames worth reading: the user's own, plus the innermost one where it is stuck."""
    # Code compiled from strings ("<string>": runpy, execnet's bootstrap) is not the user's either.
    shown = [s for s in stack if not _is_library(s.filename) and not s.filename.startswith("<")]
    if not shown:
        return list(stack[-5:])
    if stack and shown[-1] is not stack[-1]:
        shown.append(stack[-1])
    return shown


def _tasks_pending(count: int) -> str:
    return f"{count} task was pending" if count == 1 else f"{count} tasks were pending"
