"""Fixtures shared by the plugin's end-to-end tests."""

from __future__ import annotations

import importlib.util

import pytest

HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


@pytest.fixture(params=["own", "guard"])
def run(request, pytester, own, guarded):
    """Run the suite a test wrote with loopwarden's runner, then in guard mode (pytest-asyncio).

    The runner's ``mode`` attribute says which ("own" or "guard").
    """
    if request.param == "guard":
        if not HAS_PYTEST_ASYNCIO:
            pytest.skip("guard mode needs pytest-asyncio installed")
        pytester.makeini(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        )
        guarded.mode = "guard"
        return guarded
    pytester.makeini("[pytest]\n")
    own.mode = "own"
    return own
