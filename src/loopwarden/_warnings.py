"""The warnings loopwarden's pytest plugin issues (importable as ``loopwarden.LeakWarning`` and
``loopwarden.BlockingWarning``, so ``filterwarnings = error::loopwarden.BlockingWarning`` works).

They are pytest warnings (``-W error::pytest.PytestWarning`` covers them too), so this module
imports pytest; ``loopwarden`` loads it only when one of the names is asked for.
"""

from __future__ import annotations

import pytest


class LeakWarning(pytest.PytestWarning):
    """Findings of the leak guard when ``loopwarden_leaks = warn`` (or baselined/recorded)."""


class BlockingWarning(pytest.PytestWarning):
    """A call held the event loop longer than ``loopwarden_blocking`` seconds."""


LeakWarning.__module__ = BlockingWarning.__module__ = "loopwarden"
