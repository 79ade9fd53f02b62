"""The loops loopwarden made for this session and that are still open, whoever drives them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from loopwarden._core._loop import WardenLoop
from loopwarden._plugin._keys import LOOP_GUARD, RUNTIME

if TYPE_CHECKING:
    from loopwarden._plugin._runtime import Runtime
    from loopwarden._plugin.guard import Guard


def loop_sources(config: pytest.Config) -> tuple[Runtime | None, Guard | None]:
    """The own runner's state and the loop guard's (either None when that plugin is off)."""
    stash = config.stash
    return stash.get(RUNTIME, None), stash.get(LOOP_GUARD, None)


def live_loops(config: pytest.Config) -> list[WardenLoop]:
    """The own runner's loops, then the loops made for pytest-asyncio, unittest and anyio.

    Looked up on each call: the plugins' configure hooks run in no set order, so the state is
    read from the stash each time (see :class:`LiveLoops` for the per-test path).
    """
    return _open_loops(*loop_sources(config))


def _open_loops(runtime: Runtime | None, loop_guard: Guard | None) -> list[WardenLoop]:
    found = [state.loop for state in runtime.loops.values()] if runtime is not None else []
    if loop_guard is not None and loop_guard.made_any:
        found.extend(loop_guard.open_loops())
    return found


class LiveLoops:
    """:func:`live_loops` for one session, as a callable that looks the state up only once.

    Call it only after every plugin's configure hook ran (from the first test on): it keeps the
    own runner's and the loop guard's state from its first call.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.sources: tuple[Runtime | None, Guard | None] | None = None

    def __call__(self) -> list[WardenLoop]:
        sources = self.sources
        if sources is None:
            sources = self.sources = loop_sources(self.config)
        return _open_loops(*sources)


def on_new_loop(config: pytest.Config, hook: Callable[[WardenLoop], None]) -> None:
    """Call ``hook`` with every loop loopwarden makes from now on: the own runner's and those
    it makes for pytest-asyncio, unittest and anyio. Call it from ``pytest_sessionstart``, after
    every plugin's configure hook has made its state."""

    runtime = config.stash.get(RUNTIME, None)
    if runtime is not None:
        runtime.new_loop_hooks.append(hook)
    loop_guard = config.stash.get(LOOP_GUARD, None)
    if loop_guard is not None:
        loop_guard.new_loop_hooks.append(hook)


def warn_if_foreign(item: pytest.Item, feature: str, instead: str) -> None:
    """Warn that ``feature`` cannot apply: the project supplies pytest-asyncio's loops itself."""

    loop_guard = item.config.stash.get(LOOP_GUARD, None)
    if loop_guard is not None and loop_guard.foreign_factories:
        item.warn(
            pytest.PytestWarning(
                f"loopwarden: this test asks for {feature}, but the project's "
                f"pytest_asyncio_loop_factories hook supplies its own loops, which {instead}. "
                f"Let loopwarden supply the loops (remove the hook's answer) or drop {feature} "
                "for this test."
            )
        )
