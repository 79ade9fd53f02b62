"""Is a thread working, or parked until someone else wakes it?

Virtual time may jump only while no thread a test started is about to call back into the loop.
A thread blocked with no timeout (on a lock, a queue, a blocking read) can only be woken by
someone else — if the loop is idle, by nobody — so it is *parked*. A thread that runs, sleeps,
or waits with a timeout will do something on its own: it is *working*, and holds the clock.

On Linux the kernel says exactly what a thread is blocked in (``/proc/self/task/<tid>/syscall``:
the system call and its arguments, or ``running``). Elsewhere the thread's innermost Python frame
is read instead, which recognises fewer parked states (``threading.Condition.wait()`` without a
timeout, an idle ``concurrent.futures`` worker) and calls everything else working.
"""

from __future__ import annotations

import contextlib
import itertools
import platform
import sys
import threading
import weakref
from collections.abc import Callable
from types import FrameType

from loopwarden._core._sites import Site, _is_library, creation_sites

# System call numbers: (blocks until woken, unless its timeout argument says otherwise).
# Each entry: name -> number, per architecture.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "futex": 202,
        "poll": 7,
        "ppoll": 271,
        "select": 23,
        "pselect6": 270,
        "epoll_wait": 232,
        "epoll_pwait": 281,
        "epoll_pwait2": 441,
        "read": 0,
        "readv": 19,
        "recvfrom": 45,
        "recvmsg": 47,
        "accept": 43,
        "accept4": 288,
        "nanosleep": 35,
        "clock_nanosleep": 230,
        "wait4": 61,
        "waitid": 247,
    },
    "aarch64": {
        "futex": 98,
        "ppoll": 73,
        "pselect6": 72,
        "epoll_pwait": 22,
        "epoll_pwait2": 441,
        "read": 63,
        "readv": 65,
        "recvfrom": 207,
        "recvmsg": 212,
        "accept": 202,
        "accept4": 242,
        "nanosleep": 101,
        "clock_nanosleep": 115,
        "wait4": 260,
        "waitid": 95,
    },
}
_MACHINE = platform.machine().lower().replace("arm64", "aarch64").replace("amd64", "x86_64")
_NUMBERS = {number: name for name, number in _SYSCALLS.get(_MACHINE, {}).items()}
_PROC = sys.platform.startswith("linux") and bool(_NUMBERS)

# Which argument holds the timeout (index after the call number), and what "no timeout" is.
_NULL_POINTER = {"futex": 3, "ppoll": 2, "pselect6": 4, "select": 4, "epoll_pwait2": 3}
_NEGATIVE_INT = {"poll": 2, "epoll_wait": 3, "epoll_pwait": 3}
_BLOCKING_IO = frozenset({"read", "readv", "recvfrom", "recvmsg", "accept", "accept4"})
_FUTEX_WAITS = (0, 9)  # FUTEX_WAIT, FUTEX_WAIT_BITSET (after masking PRIVATE and CLOCK_REALTIME)

_CONDITION_WAIT = threading.Condition.wait.__code__


def working(thread: threading.Thread) -> str | None:
    """What ``thread`` is doing, when it may call back on its own; None when it is parked."""
    return inspect(thread)[0]


def inspect(thread: threading.Thread) -> tuple[str | None, object]:
    """``(what it is doing, None)``, or ``(None, where it is parked)`` for a parked thread.

    "Where" (the blocking system call and its arguments, or the Python frame) tells a thread
    parked for good from one caught for an instant in a blocking wait it leaves at once — on the
    interpreter's own locks, for example, while the caller releases and retakes the GIL: the
    same "where" seen twice, a poll apart, is parked.
    """
    if not thread.is_alive():
        return None, "finished"
    if _PROC and thread.native_id is not None:
        verdict, where = _from_kernel(thread.native_id)
        if verdict is not _UNKNOWN:
            return verdict, where
    frame: FrameType | None = sys._current_frames().get(thread.ident or -1)
    verdict = _from_frame(thread)
    return verdict, (None if verdict is not None else (id(frame), getattr(frame, "f_lasti", 0)))


_UNKNOWN = "unknown"


def _from_kernel(native_id: int) -> tuple[str | None, object]:
    try:
        with open(f"/proc/self/task/{native_id}/syscall", encoding="ascii") as file:
            line = file.read()
    except OSError:
        return _UNKNOWN, None
    verdict = _kernel_verdict(line.split())
    return verdict, (line if verdict is None else None)


def _kernel_verdict(fields: list[str]) -> str | None:
    if not fields:
        return _UNKNOWN
    if fields[0] == "running":
        return "running"
    try:
        number = int(fields[0])
        args = [int(a, 16) for a in fields[1:7]]
    except ValueError:
        return _UNKNOWN
    name = _NUMBERS.get(number)
    if name is None or len(args) < 6:
        return "running"  # in some other system call: it is doing something
    if name == "futex":
        if args[1] & 0x7F not in _FUTEX_WAITS:
            return "running"
        return None if args[3] == 0 else "waiting with a timeout"
    if name in _NULL_POINTER:
        return None if args[_NULL_POINTER[name]] == 0 else "waiting with a timeout"
    if name in _NEGATIVE_INT:
        value = args[_NEGATIVE_INT[name]] & 0xFFFFFFFF
        return None if value >= 0x80000000 else "waiting with a timeout"
    if name in _BLOCKING_IO:
        return None
    if name in ("nanosleep", "clock_nanosleep"):
        return "sleeping"
    return "waiting for a child process"  # wait4, waitid


def _from_frame(thread: threading.Thread) -> str | None:
    frame: FrameType | None = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return None
    code = frame.f_code
    if code is _CONDITION_WAIT:
        return None if frame.f_locals.get("timeout") is None else "waiting with a timeout"
    if code.co_name == "_worker" and code.co_filename.replace("\\", "/").endswith(
        "concurrent/futures/thread.py"
    ):
        return None  # an idle pool worker (pending work is seen through its futures)
    return "running"


def where(thread: threading.Thread) -> Site | None:
    """The thread's innermost frame of the user's own code (else its innermost frame)."""
    frame = sys._current_frames().get(thread.ident or -1)
    innermost = None
    while frame is not None:
        code = frame.f_code
        site = Site(code.co_filename, frame.f_lineno or 0, code.co_name)
        if innermost is None:
            innermost = site
        if not _is_library(code.co_filename):
            return site
        frame = frame.f_back
    return innermost


# -- where threads were started --------------------------------------------------------------

# thread -> (start number, site, user site) of the code that called its start(); see
# record_thread_starts().
_STARTED_AT: weakref.WeakKeyDictionary[threading.Thread, tuple[int, Site | None, Site | None]] = (
    weakref.WeakKeyDictionary()
)
_original_start: Callable[[threading.Thread], None] | None = None
_wrapper: Callable[[threading.Thread], None] | None = None
_users = 0
_START_NUMBERS = itertools.count(1)  # next() is atomic: threads may start threads concurrently
_last_start = 0


def record_thread_starts(enabled: bool) -> None:
    """Remember, for each thread started from now on, the line that started it.

    ``threading.Thread.start`` is wrapped (threads start rarely, so the cost is a stack walk per
    start). A leak report then names where a leftover thread came from — the user's line behind
    a library's, e.g. the engine creation that started aiosqlite's worker.

    Calls nest (a pytest session run in-process inside another): each ``True`` needs its
    ``False``, and the wrapper is removed after the last — and only if nobody replaced it since.
    """
    global _original_start, _wrapper, _users
    if enabled:
        _users += 1
        if _users > 1:
            return
        original = threading.Thread.start
        _original_start = original

        def start(self: threading.Thread) -> None:
            global _last_start
            number = next(_START_NUMBERS)
            # (A Thread subclass that is not weak-referenceable is not recorded.)
            with contextlib.suppress(TypeError):
                _STARTED_AT[self] = (number, *creation_sites(1))
            _last_start = number
            original(self)

        _wrapper = start
        threading.Thread.start = start  # type: ignore[method-assign]
        return
    if _users == 0:
        return
    _users -= 1
    if _users == 0 and _original_start is not None:
        if threading.Thread.start is _wrapper:
            threading.Thread.start = _original_start  # type: ignore[method-assign,assignment]
        _original_start = _wrapper = None


def started_at(thread: threading.Thread) -> tuple[Site | None, Site | None]:
    """``(site, user_site)`` where ``thread`` was started, when recorded; else ``(None, None)``."""
    recorded = _STARTED_AT.get(thread)
    return (None, None) if recorded is None else (recorded[1], recorded[2])


ThreadMark = int | frozenset[threading.Thread]


def thread_mark() -> ThreadMark:
    """Mark the threads alive now, to ask :func:`started_since` which ones came after.

    While starts are recorded (see :func:`record_thread_starts`) the mark is a number, and
    nothing is enumerated until a thread has started: that is what makes a per-test check cheap.
    Otherwise it is the set of threads alive.
    """
    if _wrapper is not None and threading.Thread.start is _wrapper:
        return _last_start
    return frozenset(threading.enumerate())


def started_any_since(mark: ThreadMark) -> bool:
    """Whether a thread may have started since :func:`thread_mark` returned ``mark`` (a quick
    no for the usual test, which starts none: see :func:`started_since` for which)."""
    return not isinstance(mark, int) or _last_start != mark


def started_since(mark: ThreadMark) -> set[threading.Thread]:
    """The threads alive now that started after :func:`thread_mark` returned ``mark``."""
    if isinstance(mark, int):
        if _last_start == mark:
            return set()
        # threading.enumerate() takes threading's lock; walking _STARTED_AT would not, and other
        # threads may be starting threads (and adding to it) right now.
        started = set()
        for thread in threading.enumerate():
            recorded = _STARTED_AT.get(thread)
            if recorded is not None and recorded[0] > mark:
                started.add(thread)
        return started
    return {thread for thread in threading.enumerate() if thread not in mark}
