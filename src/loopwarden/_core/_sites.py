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
from dataclasses import dataclass
from types import FrameType

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


@dataclass(frozen=True, slots=True)
class Site:
    """A place in source code: ``path:line in function``."""

    filename: str
    lineno: int
    function: str

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


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or _is_machinery(filename)


def _is_machinery(filename: str) -> bool:
    return (
        filename.startswith(_ASYNCIO_DIR)
        or filename.startswith(_LOOPWARDEN_DIR)
        or filename in _SKIP_FILES
        or filename.startswith("<frozen ")
    )


def first_user_frame(depth: int = 1) -> FrameType | None:
    """The innermost calling frame that is not asyncio's, loopwarden's or contextlib's.

    Args:
        depth: how many frames to skip above the caller of this function before looking.
    """
    try:
        frame: FrameType | None = sys._getframe(depth + 1)
    except ValueError:
        return None
    while frame is not None and _is_machinery(frame.f_code.co_filename):
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
        no user frame is on the stack.
    """
    frame = first_user_frame(depth + 1)
    if frame is None:
        return None, None
    site = Site(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
    if not _is_library(site.filename):
        return site, None
    user: FrameType | None = frame.f_back
    while user is not None and _is_library(user.f_code.co_filename):
        user = user.f_back
    if user is None:
        return site, None
    return site, Site(user.f_code.co_filename, user.f_lineno, user.f_code.co_name)


def creation_stack(depth: int = 1, limit: int = 30) -> tuple[Site, ...]:
    """The whole calling stack, outermost first, machinery frames included.

    Used for ``--lw-leaks-stacks``.
    """
    frame = sys._getframe(depth + 1)
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=limit)
    return tuple(Site(entry.filename, entry.lineno or 0, entry.name) for entry in reversed(summary))
