"""LW106's "pytest-asyncio 1.0 removed `event_loop`" holds only where the project may run 1.x.

A suite pinned to an earlier pytest-asyncio, or pytest-asyncio's own tests of the fixture, use
it where it works: reporting them was a false alarm (6 of 7 LW106 findings on the real-code
corpus). What the project declares is read from ``pyproject.toml`` (PEP 621, PEP 735, Poetry),
``setup.cfg`` or an sdist's ``PKG-INFO``; what it does not say allows every version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loopwarden.lint import _project
from loopwarden.lint._runner import check_source

CONFTEST = """\
import asyncio
import pytest

@pytest.fixture
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()

@pytest.fixture
def event_loop_policy():
    return asyncio.DefaultEventLoopPolicy()
"""
SUITE = """\
import pytest

async def test_uses(event_loop):
    assert event_loop.is_running()

@pytest.mark.usefixtures("event_loop")
async def test_marked():
    pass
"""
# (file, line) of every LW106 finding where the project may run pytest-asyncio 1.x.
ALL = [("conftest.py", 5), ("conftest.py", 11), ("test_suite.py", 3), ("test_suite.py", 7)]
# Where it pins an earlier version: only the event_loop_policy override (deprecated there too).
PINNED = [("conftest.py", 11)]


def _lint(root: Path) -> list[tuple[str, int]]:
    _project._CACHE.clear()
    found = []
    for name, text in (("conftest.py", CONFTEST), ("test_suite.py", SUITE)):
        path = root / "tests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        findings, _ = check_source(str(path), text, frozenset({"LW106"}))
        found += [(name, f.line) for f in findings]
    return sorted(found)


@pytest.mark.parametrize(
    ("name", "text", "want"),
    [
        (
            "pyproject.toml",
            '[project]\nname = "app"\n[project.optional-dependencies]\n'
            'test = ["pytest-asyncio==0.21.1"]\n',
            PINNED,
        ),
        (
            "pyproject.toml",
            '[project]\nname = "app"\ndependencies = ["pytest-asyncio>=0.21"]\n',
            ALL,
        ),
        ("pyproject.toml", '[dependency-groups]\ntest = ["pytest-asyncio<0.22"]\n', PINNED),
        (
            "pyproject.toml",
            '[tool.poetry]\nname = "app"\n[tool.poetry.group.dev.dependencies]\n'
            'pytest-asyncio = "^0.21.0"\n',
            PINNED,
        ),
        (
            "pyproject.toml",
            '[tool.poetry.dev-dependencies]\npytest-asyncio = {version = "^1.0"}\n',
            ALL,
        ),
        ("pyproject.toml", '[project]\nname = "app"\n', ALL),  # not declared: any version
        ("pyproject.toml", "[project\nname = ", ALL),  # unreadable: unknown
        (
            "setup.cfg",
            "[metadata]\nname = app\n[options.extras_require]\ntest =\n"
            "    pytest\n    pytest-asyncio>=0.18,<0.22\n",
            PINNED,
        ),
        # pytest-asyncio's own sdist, testing the fixture its version still ships.
        ("PKG-INFO", "Metadata-Version: 2.1\nName: pytest-asyncio\nVersion: 0.26.0\n", PINNED),
        ("PKG-INFO", "Metadata-Version: 2.1\nName: pytest_asyncio\nVersion: 1.2.0\n", ALL),
    ],
)
def test_the_projects_declared_pytest_asyncio_decides_whether_event_loop_is_gone(
    tmp_path: Path, name: str, text: str, want: list[tuple[str, int]]
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert _lint(tmp_path) == want


def test_the_nearest_project_above_the_file_is_the_one_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "outer"\ndependencies = ["pytest-asyncio==0.21.1"]\n', encoding="utf-8"
    )
    inner = tmp_path / "packages" / "inner"
    inner.mkdir(parents=True)
    (inner / "pyproject.toml").write_text(
        '[project]\nname = "inner"\ndependencies = ["pytest-asyncio>=1.1"]\n', encoding="utf-8"
    )
    assert _lint(inner) == ALL
    assert _lint(tmp_path) == PINNED


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("^0.21", "pytest-asyncio>=0.21.0,<0.22"),
        ("^0.21.1", "pytest-asyncio>=0.21.1,<0.22"),
        ("^1.2.3", "pytest-asyncio>=1.2.3,<2"),
        ("^0.0.3", "pytest-asyncio>=0.0.3,<0.0.4"),
        ("~1.2", "pytest-asyncio>=1.2.0,<1.3"),
        ("~1", "pytest-asyncio>=1.0.0,<2"),
        ("*", "pytest-asyncio"),
        (">=0.21,<1", "pytest-asyncio<1,>=0.21"),
        ("not a version", None),
    ],
)
def test_poetrys_version_constraints_read_as_pep_440(spec: str, want: str | None) -> None:
    assert _project._poetry("pytest-asyncio", spec) == want


def test_requirements_files_next_to_the_project_count_too(tmp_path: Path) -> None:
    (tmp_path / "requirements-dev.txt").write_text(
        "-r requirements.txt\n# tests\npytest==8.3.0\npytest-asyncio==0.21.1  # pinned\n",
        encoding="utf-8",
    )
    assert _lint(tmp_path) == PINNED
    (tmp_path / "requirements-dev.txt").unlink()
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "test.txt").write_text("pytest-asyncio>=1.1\n", encoding="utf-8")
    assert _lint(tmp_path) == ALL


@pytest.mark.parametrize(
    ("requirements", "reported"),
    [("pytest-asyncio==0.20.3\n", False), ("pytest-asyncio>=0.21\n", True), ("", True)],
)
def test_an_unset_fixture_loop_scope_is_reported_where_pytest_asyncio_warns_of_it(
    tmp_path: Path, requirements: str, reported: bool
) -> None:
    """The warning came with pytest-asyncio 0.24: a suite pinned to 0.20 never sees it."""
    from loopwarden.lint.rules.lw201_config import check_config

    _project._CACHE.clear()
    (tmp_path / "requirements.txt").write_text(requirements, encoding="utf-8")
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nasyncio_mode = auto\n", encoding="utf-8")
    findings = check_config(str(ini), ini.read_text(encoding="utf-8"))
    assert [f.line for f in findings] == ([2] if reported else [])
