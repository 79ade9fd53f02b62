"""The public API changes only on purpose: update this list together with the changelog."""

from __future__ import annotations

import loopwarden


def test_public_names():
    assert sorted(loopwarden.__all__) == [
        "Clock",
        "EventuallyTimeout",
        "LoopIdle",
        "SettleTimeout",
        "WardenLoop",
        "__version__",
        "eventually",
        "new_loop",
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
        "loopwarden._core._lifecycle, loopwarden._core._clock; "
        "print('pytest' in sys.modules, '_pytest' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


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
