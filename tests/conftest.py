from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def own(pytester: pytest.Pytester):
    """Run pytest in a subprocess with loopwarden's own runner (pytest-asyncio blocked)."""

    def run(*args: str, timeout: float = 120) -> pytest.RunResult:
        return pytester.runpytest_subprocess(
            "-p", "no:asyncio", "-p", "no:cacheprovider", *args, timeout=timeout
        )

    return run


@pytest.fixture
def guarded(pytester: pytest.Pytester):
    """Run pytest in a subprocess with pytest-asyncio active (loopwarden in guard mode)."""

    def run(*args: str, timeout: float = 120) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)

    return run
