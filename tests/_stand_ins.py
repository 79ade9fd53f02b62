"""Stand-in distributions for tests that need a package version this environment does not have."""

from __future__ import annotations

from pathlib import Path


def old_pytest_asyncio(site: Path, version: str) -> Path:
    """Write a pytest-asyncio ``version`` stand-in (a plugin that only registers its marker)
    into ``site``; put ``site`` first on ``PYTHONPATH`` and both ``import pytest_asyncio`` and
    its metadata resolve to it, and pytest loads its "asyncio" entry point instead of the real
    one's."""
    package = site / "pytest_asyncio"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (package / "plugin.py").write_text(
        "import pytest\n\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'asyncio: old pytest-asyncio')\n"
    )
    dist = site / f"pytest_asyncio-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: pytest-asyncio\nVersion: {version}\n"
    )
    (dist / "entry_points.txt").write_text("[pytest11]\nasyncio = pytest_asyncio.plugin\n")
    return site
