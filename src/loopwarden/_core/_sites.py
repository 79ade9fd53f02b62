"""Where things are created: the first frame outside asyncio and loopwarden's own code.

Finding a creation site must stay cheap, because it runs for every task and timer: it walks
``sys._getframe`` links and compares file names against a fixed set of directory prefixes,
never formatting a whole stack unless asked to.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
import traceback
from types import FrameType
from typing import Any

from loopwarden._core import _private
from loopwarden._core._records import Record

# Frames from these directories are machinery, not the user's code: asyncio itself, the
# standard library modules it calls through (contextlib, functools), and loopwarden.
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_LOOPWARDEN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SKIP_FILES = frozenset(
    {
        os.path.abspath(sys.modules["contextlib"].__file__ or ""),
        os.path.abspath(sys.modules["functools"].__file__ or ""),
    }
)


class Site(Record):
    """A place in source code: ``path:line in function``."""

    filename: str
    lineno: int
    function: str
    __slots__ = ("filename", "function", "lineno")
    _fields = ("filename", "lineno", "function")

    def __init__(self, filename: str, lineno: int, function: str) -> None:
        self.filename = filename
        self.lineno = lineno
        self.function = function

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"

    def relative_to(self, root: str) -> Site:
        """This site with its file name made relative to ``root`` when it lies below it."""
        try:
            rel = os.path.relpath(self.filename, root)
        except ValueError:  # another drive on Windows
            return self
        if rel.startswith(os.pardir):
            return self
        return Site(rel, self.lineno, self.function)


# Installed libraries and the standard library: a site in them is where a task was made, but the
# line a user wants to see is the first one in their own code that led there.
_LIBRARY_DIRS = tuple(
    sorted(
        {
            os.path.join(os.path.abspath(p), "")
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (p := sysconfig.get_paths().get(key))
        }
    )
)


# The frame that runs one callback of an event loop (a task's step, a plain callback): beyond it
# is only the loop's driver (run_until_complete, and whatever called that — a test runner), never
# the code that made something inside the callback.
_CALLBACK_RUN = asyncio.events.Handle._run.__code__

# What a file's frames are, by file name (cached: a few hundred files, millions of lookups).
_USER, _LIBRARY, _MACHINERY, _BOUNDARY = 0, 1, 2, 3
_KINDS: dict[str, int] = {}
# Files whose frames end the search for a user's line: a plugin framework's hook dispatch
# (pluggy), beyond which there is only the test runner — never code that made a task. Set by the
# pytest plugin (the core does not import pytest); see set_boundaries().
_BOUNDARY_FILES: frozenset[str] = frozenset()


def set_boundaries(filenames: frozenset[str]) -> None:
    """Stop looking for the user's line at frames of these files (absolute paths).

    A task that pytest-asyncio's runner creates for a test has no user frame on its stack, only
    the runner's and pytest's; without a boundary every creation walks all of them.
    """
    global _BOUNDARY_FILES
    _BOUNDARY_FILES = frozenset(filenames)
    _KINDS.clear()


def _kind(filename: str) -> int:
    kind = _KINDS.get(filename)
    if kind is None:
        if _is_machinery(filename):
            kind = _MACHINERY
        elif filename in _BOUNDARY_FILES:
            kind = _BOUNDARY
        elif filename.startswith(_LIBRARY_DIRS):
            kind = _LIBRARY
        else:
            kind = _USER
        _KINDS[filename] = kind
    return kind


def shown(site: Site, root: str | None) -> str:
    """``site`` as reports show it: relative to ``root`` (the rootdir) when below it; a library
    file by its import path (``aiohttp/helpers.py:12 in f``)."""
    relative = site.relative_to(root) if root else site
    if relative is site:
        for prefix in _LIBRARY_DIRS:
            if site.filename.startswith(prefix):
                return str(Site(site.filename[len(prefix) :], site.lineno, site.function))
    return str(relative)


def _is_library(filename: str) -> bool:
    return _kind(filename) != _USER


def _is_machinery(filename: str) -> bool:
    return (
        filename.startswith(_ASYNCIO_DIR)
        or filename.startswith(_LOOPWARDEN_DIR)
        or filename in _SKIP_FILES
        or filename.startswith("<frozen ")
    )


def first_user_frame(depth: int = 1) -> FrameType | None:
    """The innermost calling frame that is not asyncio's, loopwarden's or contextlib's.

    None when there is none inside the loop callback running now (a task the loop's machinery
    made for another: a server's accept, the inner task of 3.11's ``wait_for``): the frames
    beyond that callback drive the loop, they did not make anything in it.

    Args:
        depth: how many frames to skip above the caller of this function before looking.
    """
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:
        return None
    kinds = _KINDS
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        kind = kinds.get(filename)
        if kind is None:
            kind = _kind(filename)
        if kind != _MACHINERY:
            break
        if code is _CALLBACK_RUN:
            return None
        frame = frame.f_back
    return frame


def creation_site(depth: int = 1) -> Site | None:
    """The :class:`Site` of :func:`first_user_frame`; None when only machinery is on the stack."""
    frame = first_user_frame(depth + 1)
    if frame is None:
        return None
    return Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def creation_sites(depth: int = 1) -> tuple[Site | None, Site | None]:
    """The creation site and, when that lies in a library, the first frame in the user's own code.

    Returns:
        ``(site, user_site)``; ``user_site`` is None when ``site`` is already the user's code or
        no user frame is on the stack (below a boundary, see :func:`set_boundaries`).
    """
    frame = first_user_frame(depth + 1)
    if frame is None:
        return None, None
    code = frame.f_code
    site = Site(code.co_filename, frame.f_lineno, code.co_name)
    kinds = _KINDS
    if kinds[code.co_filename] in (_USER, _BOUNDARY):
        return site, None
    user: FrameType | None = frame.f_back
    while user is not None:
        filename = user.f_code.co_filename
        kind = kinds.get(filename)
        if kind is None:
            kind = _kind(filename)
        if kind == _USER:
            return site, Site(filename, user.f_lineno, user.f_code.co_name)
        if kind == _BOUNDARY or user.f_code is _CALLBACK_RUN:
            return site, None
        user = user.f_back
    return site, None


def in_library(site: Site) -> bool:
    """Whether ``site`` lies in an installed library (or the standard library), not user code."""
    return _kind(site.filename) == _LIBRARY


def running_callback_args(depth: int = 1) -> tuple[Any, ...]:
    """The arguments of the loop callback running the caller (``()`` when there is none).

    A future's done callbacks get the future as their argument: what one makes (a library's TTL
    timer, made when the task it caches finishes) comes from that future's task.
    """
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:
        return ()
    kinds = _KINDS
    while frame is not None:
        code = frame.f_code
        if code is _CALLBACK_RUN:
            handle = frame.f_locals.get("self")
            return _private.arguments_of(handle) if handle is not None else ()
        if kinds.get(code.co_filename) == _BOUNDARY:
            return ()  # the test runner's frames: no loop callback below them
        frame = frame.f_back
    return ()


def creation_stack(depth: int = 1, limit: int = 30) -> tuple[Site, ...]:
    """The whole calling stack, outermost first, machinery frames included.

    Used for ``--lw-leaks-stacks``.
    """
    frame = sys._getframe(depth + 1)
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=limit)
    return tuple(Site(entry.filename, entry.lineno or 0, entry.name) for entry in reversed(summary))
