"""The public API changes only on purpose: update this list together with the changelog."""

from __future__ import annotations

import loopwarden


def test_public_names():
    assert sorted(loopwarden.__all__) == [
        "BlockingWarning",
        "Clock",
        "EventuallyTimeout",
        "HangInterrupt",
        "LeakCheck",
        "LeakWarning",
        "LeaksFound",
        "LoopIdle",
        "LoopwardenError",
        "SettleTimeout",
        "WardenLoop",
        "__version__",
        "eventually",
        "guarded_loop",
        "new_loop",
        "no_leaks",
        "settle",
        "virtual_time",
    ]
    for name in loopwarden.__all__:
        assert hasattr(loopwarden, name)


def test_core_does_not_import_pytest():
    import subprocess
    import sys

    code = (
        "import sys, loopwarden, loopwarden._core._snapshot, loopwarden._core._driver, "
        "loopwarden._core._lifecycle, loopwarden._core._clock, loopwarden._core._leaks, "
        "loopwarden._core._findings, loopwarden._core._no_leaks; "
        "print('pytest' in sys.modules, '_pytest' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_errors_and_warnings_are_importable_from_loopwarden():
    """Users filter and catch them by these names (filterwarnings = error::loopwarden.X)."""
    import warnings

    import pytest

    assert issubclass(loopwarden.LeaksFound, loopwarden.LoopwardenError)
    assert issubclass(loopwarden.LeaksFound, AssertionError)
    for name in ("SettleTimeout", "EventuallyTimeout", "LoopIdle", "HangInterrupt"):
        assert issubclass(getattr(loopwarden, name), loopwarden.LoopwardenError), name
    for name in ("LeakWarning", "BlockingWarning"):
        category = getattr(loopwarden, name)
        assert issubclass(category, pytest.PytestWarning), name
        assert f"{category.__module__}.{category.__qualname__}" == f"loopwarden.{name}"
        with warnings.catch_warnings():
            warnings.filterwarnings("error", category=category)
            with pytest.raises(category):
                warnings.warn(category("x"), stacklevel=1)
    with pytest.raises(AttributeError, match="module 'loopwarden' has no attribute 'Nope'"):
        _ = loopwarden.Nope  # type: ignore[attr-defined]


def test_cli_version():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "loopwarden._cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == f"loopwarden {loopwarden.__version__}\n"


def test_servers_and_mock_public_names():
    import loopwarden.mock
    import loopwarden.servers

    assert sorted(loopwarden.servers.__all__) == ["HttpServer", "Recorded", "WsServer"]
    assert sorted(loopwarden.mock.__all__) == [
        "MockResponse",
        "async_context_manager",
        "mock_aiohttp_session",
    ]
    for module in (loopwarden.servers, loopwarden.mock):
        for name in module.__all__:
            assert hasattr(module, name)


def test_every_public_name_is_loaded_from_where_the_table_says():
    import importlib

    assert set(loopwarden._WHERE) | {"__version__"} == set(loopwarden.__all__)
    for name, where in loopwarden._WHERE.items():
        assert getattr(loopwarden, name) is getattr(importlib.import_module(where), name), name
    assert set(loopwarden.__all__) <= set(dir(loopwarden))


def test_importing_loopwarden_loads_nothing_else_of_it():
    """The pytest plugin imports the package at every start; its names load when asked for."""
    import subprocess
    import sys

    code = (
        "import sys, loopwarden; "
        "print(sorted(m for m in sys.modules if m.startswith('loopwarden')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "['loopwarden', 'loopwarden._version']\n"
