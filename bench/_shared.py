"""What the benchmark suites share besides the machinery of ``_harness.py``: the pinned anchor
versions, the tools' venvs, the targets, and the generated synthetic suites.

The ``runner`` suite (``runner_bench.py``) measures on these suites; ``guards``, ``fuzz``,
``virtual-time``, ``settle`` and ``db`` reuse its pins, venvs, ini files and suite writers, so one
change here moves every suite at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import _harness as h

# -- pinned anchors: every version the benchmark compares against, in one place ---------------

PYTEST = "9.2.0"
PYTEST_ASYNCIO = "1.5.0"
ANYIO = "4.16.0"

# Plugins that must not interfere where they are not the tool being measured: if a dependency
# ever pulls one of them into a venv, the runs there switch it off.
FOREIGN_PLUGINS = (("anyio", "anyio"), ("pytest-asyncio", "asyncio"))

VENVS = {
    "loopwarden": h.Venv(
        "loopwarden",
        (f"pytest=={PYTEST}",),
        editable=(h.REPO_ROOT,),
        disable_plugins=FOREIGN_PLUGINS,
    ),
    "pytest-asyncio": h.Venv(
        "pytest-asyncio",
        (f"pytest=={PYTEST}", f"pytest-asyncio=={PYTEST_ASYNCIO}"),
        disable_plugins=(("anyio", "anyio"),),
    ),
    "anyio": h.Venv(
        "anyio",
        (f"pytest=={PYTEST}", f"anyio=={ANYIO}"),
        disable_plugins=(("pytest-asyncio", "asyncio"),),
    ),
    "guard": h.Venv(
        "guard",
        (f"pytest=={PYTEST}", f"pytest-asyncio=={PYTEST_ASYNCIO}"),
        editable=(h.REPO_ROOT,),
        disable_plugins=(("anyio", "anyio"),),
    ),
}

# Every measured run: quiet output, no cache plugin writing .pytest_cache between runs.
PYTEST_ARGS = ("-q", "-p", "no:cacheprovider")

TARGET_OWN_RUNNER = 0.60  # issue 2: own runner (guards on) <= 0.6x pytest-asyncio CPU, 2000 tests
TARGET_GUARD = 1.10  # issue 2: pytest-asyncio + loopwarden <= 1.10x pytest-asyncio alone

# -- the generated suites ---------------------------------------------------------------------

PYTEST_ASYNCIO_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

EMPTY_INI = "[pytest]\n"

ANYIO_CONFTEST = """\
import pytest


# Session scope: anyio's async fixtures request anyio_backend, so a session-scoped async fixture
# needs a session-scoped backend (anyio's own default fixture is module-scoped).
@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"
"""

# The fixture suite's fixtures. Identical for every tool except the one line pytest-asyncio needs
# for a session-scoped async fixture when its default fixture loop scope is "function".
FIXTURES_CONFTEST = """\
import asyncio

import pytest
{extra_imports}

{session_decorator}
async def session_resource():
    await asyncio.sleep(0)
    yield {{"scope": "session"}}
    await asyncio.sleep(0)


@pytest.fixture
async def resource():
    await asyncio.sleep(0)
    yield {{"scope": "function"}}
    await asyncio.sleep(0)
"""

SYNC_FIXTURES_CONFTEST = """\
import pytest


@pytest.fixture(scope="session")
def session_resource():
    yield {"scope": "session"}


@pytest.fixture
def resource():
    yield {"scope": "function"}
"""


def spread(n: int, files: int) -> list[range]:
    """Test numbers ``0..n-1`` cut into ``files`` nearly equal consecutive chunks."""
    files = max(1, min(files, n))
    size, extra = divmod(n, files)
    chunks, start = [], 0
    for i in range(files):
        end = start + size + (1 if i < extra else 0)
        chunks.append(range(start, end))
        start = end
    return chunks


def write_trivial(directory: Path, n: int, flavor: str, ini: str, conftest: str = "") -> None:
    """``n`` trivial tests in 20 files; ``flavor``: async, anyio (marked async) or sync."""
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    if conftest:
        (directory / "conftest.py").write_text(conftest)
    for index, numbers in enumerate(spread(n, 20)):
        if flavor == "sync":
            head = ""
            body = "def test_{i}():\n    pass\n"
        else:
            head = "import asyncio\n"
            if flavor == "anyio":
                head += "\nimport pytest\n\npytestmark = pytest.mark.anyio\n"
            body = "async def test_{i}():\n    await asyncio.sleep(0)\n"
        tests = "\n\n".join(body.format(i=i) for i in numbers)
        (directory / f"test_trivial_{index:02d}.py").write_text(f"{head}\n\n{tests}")


def write_fixtures(directory: Path, n: int, flavor: str, ini: str) -> None:
    """``n`` tests each using a function- and a session-scoped async-generator fixture."""
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    if flavor == "sync":
        conftest = SYNC_FIXTURES_CONFTEST
    elif flavor == "pytest-asyncio":
        conftest = FIXTURES_CONFTEST.format(
            extra_imports="import pytest_asyncio\n",
            session_decorator='@pytest_asyncio.fixture(scope="session", loop_scope="session")',
        )
    else:
        conftest = FIXTURES_CONFTEST.format(
            extra_imports="", session_decorator='@pytest.fixture(scope="session")'
        )
    if flavor == "anyio":
        conftest += "\n\n" + ANYIO_CONFTEST
    (directory / "conftest.py").write_text(conftest)
    for index, numbers in enumerate(spread(n, 10)):
        if flavor == "sync":
            head = ""
            body = (
                "def test_{i}(session_resource, resource):\n"
                '    assert session_resource["scope"] == "session"\n'
                '    assert resource["scope"] == "function"\n'
            )
        else:
            head = "import asyncio\n"
            if flavor == "anyio":
                head += "\nimport pytest\n\npytestmark = pytest.mark.anyio\n"
            body = (
                "async def test_{i}(session_resource, resource):\n"
                "    await asyncio.sleep(0)\n"
                '    assert session_resource["scope"] == "session"\n'
                '    assert resource["scope"] == "function"\n'
            )
        tests = "\n\n".join(body.format(i=i) for i in numbers)
        (directory / f"test_fixtures_{index:02d}.py").write_text(f"{head}\n\n{tests}")


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tests`` and ``--fixture-tests``: the sizes of the two generated suites."""
    parser.add_argument(
        "--tests",
        type=int,
        default=None,
        metavar="N",
        help="trivial async tests per suite (default: 2000; 200 with --quick)",
    )
    parser.add_argument(
        "--fixture-tests",
        type=int,
        default=None,
        metavar="N",
        help="tests in the async-fixture suite (default: 200; 40 with --quick)",
    )


def suite_sizes(args: argparse.Namespace) -> tuple[int, int]:
    """Trivial and fixture tests per suite: ``--tests``, ``--fixture-tests`` or the defaults."""
    n_trivial = args.tests if args.tests is not None else (200 if args.quick else 2000)
    n_fixture = (
        args.fixture_tests if args.fixture_tests is not None else (40 if args.quick else 200)
    )
    if n_trivial < 1 or n_fixture < 1:
        raise h.BenchError("--tests and --fixture-tests must be at least 1")
    return n_trivial, n_fixture


def suite_titles(configs: Sequence[h.Config], n_trivial: int, n_fixture: int) -> dict[str, str]:
    """The headings of the groups ``configs`` covers."""
    titles = {
        "trivial": f"{n_trivial} trivial tests (`await asyncio.sleep(0)`; floor: `pass`)",
        "fixtures": f"{n_fixture} tests, each with a function- and a session-scoped "
        "async-generator fixture",
        "start": "start-up: a session of one sync test (start, collect, run, end)",
    }
    return {g: t for g, t in titles.items() if any(c.group == g for c in configs)}


def floor_flags(venv: h.ReadyVenv) -> tuple[str, ...]:
    """``-p no:X`` for every pytest plugin loopwarden registers, read from the venv itself."""
    names = sorted(name for name, dist in venv.pytest11.items() if dist == "loopwarden")
    if not names:
        raise h.BenchError(f"no loopwarden pytest plugins found in {venv.path}; rebuild it.")
    flags: list[str] = []
    for name in names:
        flags += ["-p", f"no:{name}"]
    return tuple(flags)
