"""The watchdog: a real-time deadline on each test phase, and the blocking-call detector.

A :class:`Watchdog` is armed around one phase (setup, call or teardown) and disarmed after it.
When the phase outlives its ``timeout`` (real time, ``time.monotonic``), it escalates:

1. it asks the loop, with ``call_soon_threadsafe``, to dump every pending task — name, coroutine,
   creation site and owner, the await chain down to the line it is parked on, and what it waits
   for — and calls ``on_hang`` in the loop thread (the plugin cancels the test's task there);
2. if the loop does not run that callback within ``grace`` seconds (it is stuck in synchronous
   code), or there is no running loop, it dumps the stuck thread's stack from the watchdog thread
   and raises :class:`HangInterrupt` in the main thread through a signal (:data:`INTERRUPT_SIGNAL`),
   which also breaks a ``time.sleep()`` or a lock wait (PEP 475: a handler that raises is not
   retried);
3. if the phase is still not over ``grace`` seconds after that, it calls ``on_last_resort`` from
   the watchdog thread (the plugin writes the report and ends the process).

While armed with ``blocking > 0`` on a :class:`WardenLoop`, it also reports every loop iteration
that kept the loop busy longer than ``blocking`` seconds, with the line that blocked it: the loop
stamps when each iteration starts and ends (:meth:`WardenLoop.watch_blocks`), and the watchdog
thread samples the loop thread's stack while an iteration runs long.

Why one re-armed thread for the whole session, rather than a timer thread per test: arming must
cost next to nothing, because it happens three times per test. Starting and joining a thread costs
about a hundred microseconds and an OS thread each time (arm + disarm: a few microseconds), and a
thread started by the harness during a test would look like a thread the test leaked. So one
daemon thread, started at the first :meth:`arm`, sleeps on a condition variable until the
earliest thing it has to do; :meth:`arm` and :meth:`disarm` only swap a small record under a
lock, and wake the thread only when the new deadline is earlier than the one it sleeps towards.
With nothing armed the thread waits without a timeout; a deadline left by a disarmed phase wakes
it once, for nothing. (``faulthandler.dump_traceback_later`` cannot run
Python code to ask the loop for its tasks, and pytest-timeout's signal method owns ``SIGALRM``.)
"""

from __future__ import annotations

import asyncio
import math
import signal
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from types import FrameType
from typing import Any, TypeAlias

from loopwarden._core import _private
from loopwarden._core._hangs import (
    Armed,
    BlockingEvent,
    HangReport,
    LoopState,
    Stage,
    _pick_sites,
    _thread_name,
    _thread_stack,
)
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._core._sites import Site
from loopwarden._core._tasks import dump_task, dump_tasks
from loopwarden._exceptions import HangInterrupt

#: The signal that interrupts the main thread. Not SIGALRM (pytest-timeout's signal method uses
#: it), not SIGINT (pytest's Ctrl-C: a KeyboardInterrupt ends the whole session), and not SIGUSR1,
#: the one most often given to ``faulthandler.register`` and to debuggers' "dump stacks" hooks.
#: None where the platform has no SIGUSR2 (Windows): no interruption there.
INTERRUPT_SIGNAL: int | None = getattr(signal, "SIGUSR2", None)

# How often the blocking detector looks at a busy loop, at most.
_MIN_POLL = 0.01
# Bound once: arm() runs three times per test. (A test's ``monotonic=True`` replaces the
# ``time.monotonic`` attribute; deadlines stay in real time.)
_monotonic = time.monotonic
_get_ident = threading.get_ident

PhaseTask: TypeAlias = "asyncio.Future[Any] | Callable[[asyncio.Future[Any]], bool]"


_NOTHING = Armed()

# Escalation steps of one arming.
_ARMED, _ASKED, _ANSWERED, _STACKED, _DONE = range(5)


class _Arm(Record):
    """One arming: what is watched, and how far its escalation got.

    Made three times per test, so only what :meth:`Watchdog.arm` knows is set per instance; the
    escalation state starts from the class's defaults (no ``__slots__``, for that reason).
    """

    timeout: float
    loop: asyncio.AbstractEventLoop | None
    phase: str
    owner: Hashable
    on_hang: Callable[[HangReport], None] | None
    is_test: Callable[[asyncio.Future[Any]], bool] | None
    blocking: float
    watching: bool
    thread: int
    armed_at: float
    next_at: float
    poll: float
    step: int = _ARMED
    answered: bool = False
    idle: bool = False
    report: HangReport | None = None
    interrupted: bool = False
    events: tuple[BlockingEvent, ...] = ()
    sample_key: float = 0.0
    sample: tuple[Site, ...] = ()
    sample_moved: bool = False
    skip_before: float = 0.0
    adopted: bool = False  # the loop was made after arming (see Watchdog.adopt_loop)
    _fields = (
        "timeout",
        "loop",
        "phase",
        "owner",
        "on_hang",
        "is_test",
        "blocking",
        "watching",
        "thread",
        "armed_at",
        "next_at",
        "poll",
        "step",
        "answered",
        "idle",
        "report",
        "interrupted",
        "events",
        "sample_key",
        "sample",
        "sample_moved",
        "skip_before",
        "adopted",
    )
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        timeout: float,
        loop: asyncio.AbstractEventLoop | None,
        phase: str,
        owner: Hashable,
        on_hang: Callable[[HangReport], None] | None,
        is_test: Callable[[asyncio.Future[Any]], bool] | None,
        blocking: float,
        watching: bool,
        thread: int,
        armed_at: float,
        next_at: float,
        poll: float,
    ) -> None:
        self.timeout = timeout
        self.loop = loop
        self.phase = phase
        self.owner = owner
        self.on_hang = on_hang
        self.is_test = is_test
        self.blocking = blocking
        self.watching = watching
        self.thread = thread
        self.armed_at = armed_at
        self.next_at = next_at
        self.poll = poll


class Watchdog:
    """A real-time deadline on each test phase, with hang diagnosis and blocking detection.

    One instance serves a whole session: :meth:`arm` before a phase, :meth:`disarm` after it
    (in a ``finally``: a watchdog left armed interrupts whatever runs next). Arming and disarming
    take a few microseconds; one daemon thread, started at the first :meth:`arm`, does the waiting.

    Call :meth:`arm`, :meth:`disarm`, :meth:`suspend` and :meth:`resume` from the thread that runs
    the tests, the first :meth:`arm` and :meth:`close` from the main thread (only there can the
    signal handler be installed and removed). Only one watchdog per process can interrupt: a
    second one finds :data:`INTERRUPT_SIGNAL` taken and only reports.

    Args:
        grace: seconds between escalation stages: for the loop to answer, and for the phase to
            end after the task dump or after the interrupt.
        on_last_resort: called from the watchdog thread with the report when the phase is still
            not over ``grace`` seconds after the interrupt (or after the stack dump, when it could
            not be interrupted). It may end the process (``os._exit``) after writing the report.
    """

    def __init__(
        self,
        *,
        grace: float = 2.0,
        on_last_resort: Callable[[HangReport], None] | None = None,
    ) -> None:
        self._grace = grace
        self._on_last_resort = on_last_resort
        # arm() and disarm() take the lock itself (a C-level context manager); the thread waits
        # on the condition built on it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._arm: _Arm | None = None
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread will wake on its own (under the lock)
        self._closed = False
        self._suspended_at: float | None = None
        # The loop whose heartbeat is on, and its threshold (see _beat).
        self._beating: tuple[weakref.ref[WardenLoop], float] | None = None
        # The arming whose interrupt the signal handler should raise; written before the signal
        # is sent, cleared by the handler and by disarm() (the handler takes no lock).
        self._interrupting: _Arm | None = None
        self._handler = self._on_signal  # one bound method, so getsignal() can recognise it
        # None: not tried yet; "": installed; else why the main thread cannot be interrupted.
        self._signal_state: str | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The watchdog's thread, once started (leak checks should not count it)."""
        return self._thread

    def arm(
        self,
        *,
        timeout: float,
        loop: asyncio.AbstractEventLoop | None,
        phase: str,
        owner: Hashable,
        on_hang: Callable[[HangReport], None] | None,
        blocking: float = 0.0,
        test_task: PhaseTask | None = None,
    ) -> None:
        """Start watching a phase that runs in the calling thread.

        Args:
            timeout: real seconds the phase may take; 0 sets no deadline.
            loop: the loop the phase runs on, or None for synchronous code.
            phase: the phase's name (``setup``, ``call``, ``teardown``), for reports.
            owner: who runs the phase (a test's node id), for reports.
            on_hang: called in the loop thread with the report of pending tasks when the deadline
                passes and the loop answers; it may cancel the test's task. It may also run after
                a :class:`HangInterrupt` freed the loop, with the tasks added to the report.
            blocking: report loop iterations busy for longer than this many seconds; 0 turns the
                check off. Needs a :class:`WardenLoop`.
            test_task: the task running the phase, or a predicate telling it among the loop's
                tasks; it is listed first and marked in reports (:attr:`HangReport.test_task`).

        Raises:
            RuntimeError: if already armed, or closed.
        """
        if self._arm is not None or self._signal_state is None or self._thread is None:
            self._first_arm_checks()
        elif self._closed:
            raise RuntimeError("the watchdog is closed")
        watching = blocking > 0 and self._beat(loop, blocking)
        is_test = _is_task(test_task) if isinstance(test_task, asyncio.Future) else test_task
        now = _monotonic()
        next_at = now + timeout if timeout > 0 else math.inf
        poll = blocking / 2 if blocking > _MIN_POLL * 2 else _MIN_POLL
        # Positional: half the cost of keywords, and this runs three times per test.
        arm = _Arm(
            timeout,
            loop,
            phase,
            owner,
            on_hang,
            is_test,
            blocking,
            watching,
            _get_ident(),  # thread
            now,  # armed_at
            next_at,
            poll,
        )
        first_wake = next_at
        if watching:
            if loop.is_running():  # type: ignore[union-attr]
                arm.skip_before = now  # (another thread's loop) an iteration under way is not ours
            if now + poll < first_wake:
                first_wake = now + poll
        with self._lock:
            self._arm = arm
            if self._wake_at > first_wake:
                self._cond.notify()

    def adopt_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """From the armed phase's thread: ``loop``, made after arming, runs the phase.

        anyio's test runner makes its loop inside the test's call, where pytest-asyncio's and the
        own runner's exist before a phase starts. From now on a hang asks this loop for its tasks
        (not "synchronous code holds the thread"), and its blocking iterations are reported if
        the arming asked for that. Nothing changes for an arming that already has its loop, or
        another thread's loop.
        """
        arm = self._arm
        if arm is None or arm.loop is not None or arm.thread != _get_ident():
            return
        watching = arm.blocking > 0 and self._beat(loop, arm.blocking)
        with self._cond:
            if self._arm is not arm or arm.loop is not None:
                return
            arm.loop = loop
            arm.adopted = True
            if watching:
                arm.watching = True
                self._cond.notify()  # to poll the new heartbeat

    def _first_arm_checks(self) -> None:
        """What :meth:`arm` checks only until the thread runs: misuse, the signal, the thread."""
        if self._closed:
            raise RuntimeError("the watchdog is closed")
        if self._arm is not None:
            raise RuntimeError(f"the watchdog is already armed for {self._arm.phase!r}")
        if self._signal_state is None and threading.current_thread() is threading.main_thread():
            self._install_signal()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loopwarden-watchdog")
            self._thread.daemon = True
            self._thread.start()

    def report_idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """From ``loop``'s thread: the armed phase's loop is idle in virtual time — a hang.

        Reports it now, as if the deadline had passed (``on_hang`` runs with a report whose
        :attr:`HangReport.idle` is set), instead of waiting for the real deadline. Returns False
        when nothing is armed, or the phase already timed out.
        """
        with self._cond:
            arm = self._arm
            if arm is None or arm.step != _ARMED or self._suspended_at is not None:
                return False
            if arm.loop is not loop:
                if arm.watching:
                    return False  # the heartbeat belongs to the armed loop
                arm.loop = loop  # e.g. pytest-asyncio made the phase's loop after arming
            arm.idle = True
            arm.step = _ASKED
        self._answer(arm)
        return True

    def disarm(self) -> Armed:
        """Stop watching the phase and return what happened while armed.

        An iteration still blocking at this moment is reported with its duration so far.
        """
        self._interrupting = None  # first: no HangInterrupt from here on
        with self._lock:
            arm = self._arm
            if arm is None:
                return _NOTHING
            self._arm = None
            if arm.adopted and _runs_elsewhere(arm):
                _disown(arm)
            if arm.watching:
                loop = arm.loop
                assert isinstance(loop, WardenLoop)
                if self._suspended_at is None:
                    if loop._lw_blocks:  # (take_blocks(), without a call when there are none)
                        for start, end in loop.take_blocks():
                            self._record_block(arm, start, end)
                    busy = loop._lw_busy_since  # (busy_since())
                    if busy and _monotonic() - busy > arm.blocking:
                        self._record_block(arm, busy, _monotonic())
                # The heartbeat stays on: the next phase most often runs on the same loop.
        if arm.report is None and not arm.events:
            return _NOTHING
        return Armed(arm.report, arm.events, arm.interrupted)

    def suspend(self) -> None:
        """Stop the clock, e.g. while a debugger holds the test: no expiry, no blocking reports."""
        with self._cond:
            if self._suspended_at is not None:
                return
            arm = self._arm
            if arm is not None and arm.watching:
                assert isinstance(arm.loop, WardenLoop)
                for start, end in arm.loop.take_blocks():  # blocks that ended before now count
                    self._record_block(arm, start, end)
            self._suspended_at = time.monotonic()

    def resume(self) -> None:
        """Restart the clock: the armed deadline moves by the time spent suspended."""
        with self._cond:
            since = self._suspended_at
            if since is None:
                return
            self._suspended_at = None
            now = time.monotonic()
            arm = self._arm
            if arm is not None:
                arm.next_at += now - max(since, arm.armed_at)
                if arm.watching:
                    # The iteration the debugger stopped in, and any that ended meanwhile, do
                    # not count.
                    assert isinstance(arm.loop, WardenLoop)
                    arm.loop.take_blocks()
                    arm.skip_before = now
                    arm.sample_key, arm.sample, arm.sample_moved = 0.0, (), False
            self._cond.notify()

    def _beat(self, loop: asyncio.AbstractEventLoop | None, blocking: float) -> bool:
        """Keep ``loop``'s heartbeat at ``blocking`` for this arming; False if it cannot.

        The heartbeat outlives :meth:`disarm`, so re-arming on the same loop (the next phase, the
        next test on a session loop) only drops what it recorded in between; another loop's
        heartbeat stops first. Keeping it costs two clock reads per loop iteration.
        """
        if loop is None:
            return False
        beating = self._beating
        if beating is not None and beating[1] == blocking:
            current = beating[0]()
            if current is loop and current is not None:
                if current._lw_blocks:  # (drop_blocks(): iterations between phases are nobody's)
                    current._lw_blocks.clear()
                return True
        if not isinstance(loop, WardenLoop):
            return False
        self._stop_beat()
        if not loop.watch_blocks(blocking):
            return False
        # Weakly: a loop its owner dropped unclosed must still be collected (and warn) at once.
        self._beating = (weakref.ref(loop), blocking)
        return True

    def _stop_beat(self) -> None:
        beating, self._beating = self._beating, None
        loop = beating[0]() if beating is not None else None
        if loop is not None and not loop.is_closed():
            loop.watch_blocks(None)

    def close(self) -> None:
        """Disarm, stop the thread and restore the signal's default handler. Idempotent."""
        self.disarm()
        self._stop_beat()
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if (
            self._signal_state == ""
            and INTERRUPT_SIGNAL is not None
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(INTERRUPT_SIGNAL) is self._handler
        ):
            signal.signal(INTERRUPT_SIGNAL, signal.SIG_DFL)

    # -- the signal ---------------------------------------------------------------------------

    def _install_signal(self) -> None:
        if INTERRUPT_SIGNAL is None or not hasattr(signal, "pthread_kill"):
            self._signal_state = "this platform cannot send a signal to a thread"
            return
        name = signal.Signals(INTERRUPT_SIGNAL).name
        if signal.getsignal(INTERRUPT_SIGNAL) is not signal.SIG_DFL:
            self._signal_state = f"{name} already has a handler, so loopwarden does not use it"
            return
        signal.signal(INTERRUPT_SIGNAL, self._handler)
        self._signal_state = ""

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        arm = self._interrupting
        if arm is None or arm.report is None:
            return  # late: disarm() cleared it, the phase is over
        if frame is not None and frame.f_code.co_filename == __file__:
            return  # inside the watchdog itself, e.g. disarm() ending the phase right now
        self._interrupting = None
        arm.interrupted = True
        raise HangInterrupt(arm.report)

    def _why_not_interruptible(self, arm: _Arm, ident: int | None) -> str:
        main = threading.main_thread().ident
        if arm.thread != main or ident != main:
            return "it is not the main thread, and only the main thread can be interrupted"
        if self._signal_state is None:
            return "the watchdog was never armed from the main thread"
        if self._signal_state:
            return self._signal_state
        assert INTERRUPT_SIGNAL is not None
        if signal.getsignal(INTERRUPT_SIGNAL) is not self._handler:
            return f"loopwarden's {signal.Signals(INTERRUPT_SIGNAL).name} handler was replaced"
        return ""

    # -- the watchdog thread ------------------------------------------------------------------

    def _run(self) -> None:
        cond = self._cond
        while True:
            action: Callable[[], None] | None = None
            with cond:
                if self._closed:
                    return
                now = time.monotonic()
                arm = self._arm
                wake = math.inf
                if arm is not None and self._suspended_at is None:
                    if arm.watching:
                        self._poll_blocking(arm, now)
                    if now >= arm.next_at:
                        action = self._escalate(arm, now)
                    wake = arm.next_at
                    if arm.watching:
                        wake = min(wake, now + arm.poll)
                if action is None:
                    self._wake_at = wake
                    cond.wait(None if wake == math.inf else wake - now)
                    self._wake_at = -math.inf
                    continue
            action()  # user code: never under the lock

    def _escalate(self, arm: _Arm, now: float) -> Callable[[], None] | None:
        """Take the next step for an expired phase (under the lock); returns what to call."""
        if arm.adopted and _runs_elsewhere(arm):
            _disown(arm)
        loop = arm.loop
        if arm.step == _ARMED and loop is not None and loop.is_running() and not _stuck(arm, now):
            try:
                loop.call_soon_threadsafe(self._answer, arm)
            except RuntimeError:  # closed meanwhile
                pass
            else:
                arm.step = _ASKED
                arm.next_at = now + self._grace
                return None
        if arm.step in (_ARMED, _ASKED, _ANSWERED):
            self._stack_and_interrupt(arm, now)
            return None
        arm.next_at = math.inf
        if arm.step != _STACKED or arm.report is None:
            return None
        arm.step = _DONE
        late = _thread_stack(_running_thread(loop) or arm.thread)
        report = arm.report.replace(stage=Stage.LAST_RESORT, late_stack=late)
        arm.report = report
        on_last_resort = self._on_last_resort
        if on_last_resort is None:
            return None
        return lambda: on_last_resort(report)

    def _stack_and_interrupt(self, arm: _Arm, now: float) -> None:
        loop = arm.loop
        ident = _running_thread(loop)
        state: LoopState
        if loop is None:
            state = "no loop"
        elif ident is None:
            state = "not running"
        elif arm.step == _ANSWERED:
            state = "responsive"
        elif arm.step == _ARMED:
            state = "blocked"  # stuck in one iteration at the deadline: not asked (see _stuck)
        else:
            state = "unresponsive"
        target = ident if ident is not None else arm.thread
        running = None
        if loop is not None and ident is not None:
            current = asyncio.current_task(loop)
            if current is not None:
                running = dump_task(loop, current, arm.is_test, running=True)
        why = self._why_not_interruptible(arm, target)
        previous = arm.report
        arm.report = HangReport(
            phase=arm.phase,
            owner=arm.owner,
            timeout=arm.timeout,
            grace=self._grace,
            stage=Stage.STACK if why else Stage.INTERRUPTED,
            loop_state=state,
            tasks=previous.tasks if previous is not None else (),
            stack=_thread_stack(target),
            thread=_thread_name(target),
            running=running,
            not_interrupted=why,
            idle=arm.idle,
        )
        arm.step = _STACKED
        arm.next_at = now + self._grace
        if not why:
            assert INTERRUPT_SIGNAL is not None
            self._interrupting = arm
            signal.pthread_kill(target, INTERRUPT_SIGNAL)

    def _answer(self, arm: _Arm) -> None:
        """In the loop thread: dump the pending tasks and hand them to ``on_hang``."""
        with self._cond:
            if self._arm is not arm or arm.answered:
                return
            arm.answered = True
            if arm.step == _ASKED:
                arm.step = _ANSWERED
                arm.next_at = time.monotonic() + self._grace
        assert arm.loop is not None
        tasks = dump_tasks(arm.loop, arm.is_test)
        with self._cond:
            if self._arm is not arm:
                return
            if arm.report is None:
                arm.report = HangReport(
                    phase=arm.phase,
                    owner=arm.owner,
                    timeout=arm.timeout,
                    grace=self._grace,
                    stage=Stage.TASKS,
                    loop_state="responsive",
                    tasks=tasks,
                    idle=arm.idle,
                )
            else:  # the loop came back after a HangInterrupt
                arm.report = arm.report.replace(tasks=tasks)
            report = arm.report
        if arm.on_hang is not None:
            arm.on_hang(report)

    # -- blocking detection (under the lock) ----------------------------------------------------

    def _poll_blocking(self, arm: _Arm, now: float) -> None:
        if arm.adopted and _runs_elsewhere(arm):
            _disown(arm)
            return
        loop = arm.loop
        assert isinstance(loop, WardenLoop)
        for start, end in loop.take_blocks():
            self._record_block(arm, start, end)
        busy = loop.busy_since()
        # Sampling from half the threshold on, at polls half the threshold apart, catches every
        # iteration longer than the threshold at least once.
        if not busy or busy < arm.skip_before or now - busy < arm.poll:
            return
        ident = loop.running_thread()
        if ident is None:
            return
        sample = _thread_stack(ident)
        if loop.busy_since() != busy:
            return  # that iteration ended while we looked: the sample is of another one
        if busy != arm.sample_key:
            arm.sample_key, arm.sample, arm.sample_moved = busy, sample, False
            return
        # Samples of one iteration at different lines of the user's code: no one call blocked,
        # the code ran on without suspending (awaits of mocks or of done futures, CPU work).
        # Inside one blocking call the user's line stays, however deep the library frames move.
        if not arm.sample_moved and _user_line(sample) != _user_line(arm.sample):
            arm.sample_moved = True
        # Keep the deepest sample of the iteration: in a busy loop it names the call inside.
        if len(sample) >= len(arm.sample):
            arm.sample = sample

    def _record_block(self, arm: _Arm, start: float, end: float) -> None:
        if start < arm.skip_before:
            return
        sampled = arm.sample_key == start
        stack = arm.sample if sampled else ()
        site, user_site = _pick_sites(stack) if stack else (None, None)
        arm.events += (
            BlockingEvent(
                end - start,
                arm.blocking,
                site,
                user_site,
                stack,
                arm.owner,
                arm.phase,
                moving=sampled and arm.sample_moved,
            ),
        )


def _user_line(stack: tuple[Site, ...]) -> tuple[str, int] | None:
    """The line of the user's own code a sampled stack is in (see _pick_sites)."""
    site, user_site = _pick_sites(stack)
    at = user_site or site
    return None if at is None else (at.filename, at.lineno)


# -- reading tasks and stacks ------------------------------------------------------------------


def _is_task(target: asyncio.Future[Any]) -> Callable[[asyncio.Future[Any]], bool]:
    def is_task(task: asyncio.Future[Any]) -> bool:
        return task is target

    return is_task


def _runs_elsewhere(arm: _Arm) -> bool:
    """Whether the loop adopted for ``arm`` runs in another thread than the phase's: made in the
    phase's thread, but run in another (a server's loop a fixture starts), it is not the
    phase's loop."""
    ident = _running_thread(arm.loop)
    return ident is not None and ident != arm.thread


def _disown(arm: _Arm) -> None:
    """Back to watching ``arm``'s phase as code with no loop of its own (under the lock)."""
    arm.loop, arm.watching, arm.adopted = None, False, False


def _running_thread(loop: asyncio.AbstractEventLoop | None) -> int | None:
    if loop is None:
        return None
    return _private.loop_thread(loop)


def _stuck(arm: _Arm, now: float) -> bool:
    """Whether ``arm``'s loop is stuck in one iteration longer than the blocking threshold.

    Such a loop cannot run the callback that would dump its tasks: asking it would only add the
    grace to the timeout (``time.sleep(30)`` under a 2 s timeout was stopped at 4 s). It is
    interrupted at the deadline instead. Known only while blocking calls are watched.
    """
    if not arm.watching or not isinstance(arm.loop, WardenLoop):
        return False
    busy = arm.loop.busy_since()
    return bool(busy) and now - busy >= arm.blocking
