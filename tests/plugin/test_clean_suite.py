"""The false-positive check: a realistic suite that cleans up after itself gets no finding.

``examples/services`` runs real components (an aiohttp server and client sessions, an ASGI app
through httpx with its lifespan, SQLAlchemy with aiosqlite, websockets, subprocesses, executor
threads, background tasks, a TaskGroup pipeline) and stops every one of them properly. With every
guard at its default, each of its tests must pass and the JSON report must hold no finding — with
loopwarden's own runner, in guard mode, and under xdist.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "services"
TESTS = 26  # every test in examples/services/tests

# The example tests these libraries; the oldest-pytest environment does not install them.
for _module in ("aiohttp", "httpx", "asgi_lifespan", "websockets", "sqlalchemy", "aiosqlite"):
    pytest.importorskip(_module, reason=f"examples/services needs {_module}")

HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None


@pytest.fixture
def services(pytester: pytest.Pytester) -> Path:
    """examples/services copied into pytester's directory (its pytest.ini makes it the rootdir)."""
    shutil.copytree(
        EXAMPLE,
        pytester.path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    return pytester.path


def read_report(path: Path, result: pytest.RunResult) -> dict[str, Any]:
    assert path.exists(), (
        f"loopwarden wrote no --lw-report file at {path}: the JSON report is part of the leak "
        "guard (issue 3). pytest's output:\n" + result.stdout.str()[-3000:]
    )
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def assert_no_findings(report: dict[str, Any], mode: str) -> None:
    """Checked before the outcomes: a finding dump says more than "errors: 1 != 0"."""
    assert report["version"] == 1
    assert report["mode"] == mode
    found = {
        nodeid: entry["findings"] for nodeid, entry in report["tests"].items() if entry["findings"]
    }
    late = report.get("late", [])
    assert (found, late, report["findings_total"]) == ({}, [], 0), (
        "loopwarden reported findings on a suite that cleans up after itself (a false "
        "positive):\n" + json.dumps({"tests": found, "late": late}, indent=2)
    )
    outcomes = {nodeid: entry["outcome"] for nodeid, entry in report["tests"].items()}
    assert set(outcomes.values()) <= {"passed"}, outcomes
    assert all(nodeid.startswith("tests/test_") for nodeid in outcomes), sorted(outcomes)


def test_own_runner_finds_nothing(services, own):
    result = own("--lw-report=report.json", timeout=180)
    result.stdout.fnmatch_lines(["loopwarden *: own runner (*); mode=auto, loop=session"])
    assert_no_findings(read_report(services / "report.json", result), "own runner")
    result.assert_outcomes(passed=TESTS)


@pytest.mark.skipif(not HAS_PYTEST_ASYNCIO, reason="guard mode needs pytest-asyncio installed")
def test_guard_mode_finds_nothing(services, guarded):
    result = guarded("--lw-report=report.json", timeout=180)
    result.stdout.fnmatch_lines(["loopwarden *: guard mode (*)"])
    assert_no_findings(read_report(services / "report.json", result), "guard")
    result.assert_outcomes(passed=TESTS)


def test_own_runner_under_xdist_finds_nothing(services, own):
    pytest.importorskip("xdist")
    result = own("-n", "2", "--lw-report=report.json", timeout=180)
    assert_no_findings(read_report(services / "report.json", result), "own runner")
    result.assert_outcomes(passed=TESTS)
