"""Hooks between loopwarden's plugins, for the few events one capability tells another.

Registered by the main plugin (``pytest_addhooks``); implemented by whichever plugins care, so a
plugin switched off simply does not answer. Each is a plain pytest hook: ``config.hook.NAME(...)``.
"""

from __future__ import annotations

import pytest

from loopwarden._core._loop import WardenLoop

hookspec = pytest.hookspec  # (pytest's own marker for hook specifications)


@hookspec
def pytest_loopwarden_loop_idle(config: pytest.Config, loop: WardenLoop) -> None:
    """``loop`` runs in virtual time and has nothing to do and no timer to jump to: a hang.

    The watchdog reports it at once, with every task's await, instead of at its deadline.
    """


@hookspec
def pytest_loopwarden_runner_closing(config: pytest.Config, loop: WardenLoop) -> None:
    """``asyncio.Runner.close`` (pytest-asyncio's, unittest's, anyio's) is about to cancel what is
    left on ``loop``, silently: the leak guard checks it first."""


class PytestAsyncioSpecs:
    """pytest-asyncio's own hook, registered when pytest-asyncio is not active (the own runner).

    A suite moving over keeps its ``conftest.py``: an implementation of a hook nobody specifies
    would end the session with "unknown hook". The own runner reads the answer (see
    ``runner.pytest_generate_tests`` and ``runner._foreign_factory``).
    """

    @hookspec(firstresult=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> object:
        """pytest-asyncio's: the loop factories (name -> callable) an async test runs on."""
