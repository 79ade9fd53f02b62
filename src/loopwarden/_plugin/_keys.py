"""The names loopwarden's plugins share: stash keys and report attributes, in one leaf module.

A plugin keeps its state in the stash under a key from here, and another plugin that needs it
reads it with the same key, not by importing the first plugin's module: any plugin can be
switched off (``-p no:loopwarden.X``), and then its key is simply absent. Events that cross
plugins go through the hooks of ``_hookspecs.py``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from loopwarden._core._schema import Outcome
    from loopwarden._plugin._runtime import ForeignLoop, Runtime
    from loopwarden._plugin.guard import Guard
    from loopwarden._plugin.leaks import LeakGuard
    from loopwarden._plugin.watchdog import Watch

# The own runner's state (runner.py); absent in guard mode.
RUNTIME: pytest.StashKey[Runtime] = pytest.StashKey()
# The loops made for pytest-asyncio, unittest and anyio, and their current owner (guard.py).
LOOP_GUARD: pytest.StashKey[Guard] = pytest.StashKey()
# The session's leak engine and its pytest settings (leaks.py).
LEAK_GUARD: pytest.StashKey[LeakGuard] = pytest.StashKey()
# The session's watchdog (watchdog.py).
WATCHDOG: pytest.StashKey[Watch] = pytest.StashKey()
# Per test (own runner): the project's loop factory or event loop policy gives it a loop that
# loopwarden does not make (uvloop's), which it runs on unguarded (_runtime.py).
FOREIGN_LOOP: pytest.StashKey[ForeignLoop] = pytest.StashKey()
# Per test: it runs in virtual time (clock.py).
VIRTUAL = pytest.StashKey[bool]()
# Per test: the seed of its fuzz schedule (fuzz.py; absent: FIFO).
SEED = pytest.StashKey[int]()
# The parameter fuzz.py adds to a test run under several schedules.
FUZZ_ARG = "_loopwarden_fuzz_run"
# The attribute of a teardown report that carries the test's findings (report.py).
FINDINGS_ATTR = "loopwarden"

_FUZZ_ID = re.compile(r"(?:-fuzz\d+(?=\])|\[fuzz\d+\])")


def base_nodeid(nodeid: str) -> str:
    """``nodeid`` without the ``fuzzN`` part of its parameter id."""
    return _FUZZ_ID.sub("", nodeid)


def outcome_after(current: Outcome | None, report: pytest.TestReport) -> Outcome | None:
    """A test's outcome once ``report`` is in, given the outcome so far (None: none yet).

    ``passed``/``failed``/``skipped`` come from its call; ``error`` when its setup failed, or
    its teardown failed after it passed. None: this report changes nothing. (The JSON report and
    the doctor's record say the same thing for a test.)
    """
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        return "error" if report.when == "setup" and report.outcome == "failed" else report.outcome
    if report.when == "teardown" and report.failed and (current or "passed") == "passed":
        return "error"
    return None
