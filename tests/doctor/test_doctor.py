"""``loopwarden doctor`` end to end, in a subprocess: a planted suite, its summary, JSON and HTML.

One doctor run over a small planted suite is shared by the tests of this module (it takes
seconds: a hang costs its timeout); each problem is matched whole, with its line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

PLANTED = textwrap.dedent(
    """\
    import asyncio
    import time


    async def forever():
        while True:
            await asyncio.sleep(3600)


    async def test_leaks_a_task():
        asyncio.create_task(forever(), name="ticker")


    async def test_hangs():
        await asyncio.Event().wait()


    async def test_blocks():
        time.sleep(0.3)  # sleep-ok: the planted blocking call


    async def test_waits_on_a_timer():
        await asyncio.sleep(0.3)  # sleep-ok: the planted real timer wait


    async def test_order():
        seen = []

        async def add(x):
            seen.append(x)

        await asyncio.gather(add(1), add(2))
        assert seen == [1, 2]


    def test_sync():
        assert True
    """
)


def doctor(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopwarden._cli", "doctor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, Any]]:
    root = tmp_path_factory.mktemp("planted")
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_planted.py").write_text(PLANTED)
    result = doctor(
        root,
        "test_planted.py",
        "--timeout=1",
        "--fuzz-runs=8",
        "--json=out/doctor.json",
        "--html=out/doctor.html",
        "--",
        "-p",
        "no:asyncio",
    )
    document = json.loads((root / "out" / "doctor.json").read_text())
    return root, result, document


def by_category(document: dict[str, Any], category: str) -> list[dict[str, Any]]:
    return [p for p in document["problems"] if p["category"] == category]


def test_exit_status_and_phases(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, result, document = planted
    assert result.returncode == 1, result.stdout + result.stderr
    assert [(p["name"], p["status"]) for p in document["phases"]] == [
        ("lint", "done"),
        ("run", "done"),
        ("virtual time", "done"),
        ("fuzz", "done"),
    ]
    assert document["tests"] == {"total": 6, "passed": 5, "failed": 1, "error": 0, "skipped": 0}
    assert document["interrupted"] is False
    assert "[2/4] run: the suite with leak, hang and blocking checks and timer accounting" in (
        result.stderr
    )
    assert "      run: 6/6 tests" in result.stderr


def test_hang_names_the_stuck_line(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, document = planted
    [hang] = by_category(document, "hang")
    assert (hang["location"], hang["function"], hang["tests"]) == (
        "test_planted.py:15",
        "test_hangs",
        ["test_planted.py::test_hangs"],
    )
    assert hang["title"] == (
        "test did not finish its call phase within 1 s; stuck at test_planted.py:15 in "
        "test_hangs, awaiting Future pending (Event.wait)"
    )


def test_leak_names_the_creating_line(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, document = planted
    [leak] = by_category(document, "leak")
    assert (leak["location"], leak["function"], leak["title"], leak["fix"]) == (
        "test_planted.py:11",
        "test_leaks_a_task",
        "task 'ticker' running forever() is still pending",
        "cancel and await background tasks in the fixture that started them (or use a "
        "TaskGroup inside the test)",
    )


def test_blocking_and_order_dependence(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, document = planted
    [blocking] = by_category(document, "blocking")
    assert (blocking["location"], blocking["function"]) == ("test_planted.py:19", "test_blocks")
    [order] = by_category(document, "order-dependent")
    assert (order["location"], order["function"], order["tests"]) == (
        "test_planted.py:26",
        "test_order",
        ["test_planted.py::test_order"],
    )
    seed = order["data"]["seeds"][0]
    assert order["data"]["replay"] == f"pytest test_planted.py::test_order --lw-fuzz-seed={seed}"
    # Fuzzed again: the passing async tests that start tasks (not the hanging one: it would
    # cost its timeout per schedule; not those with nothing to reorder).
    assert document["fuzz"]["tests"] == 2


def test_virtual_time_saving_is_measured(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, document = planted
    [saving] = by_category(document, "virtual-time")
    assert (saving["location"], saving["function"]) == (
        "test_planted.py:22",
        "test_waits_on_a_timer",
    )
    data = saving["data"]
    assert data["passes_in_virtual_time"] is True
    assert data["timer_wait_seconds"] >= 0.29
    assert data["saved_seconds"] >= 0.25
    assert document["virtual_time"]["tests"] == 1


def test_lint_findings_are_included(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, _, document = planted
    assert sorted((p["data"]["code"], p["location"]) for p in by_category(document, "lint")) == [
        ("LW101", "test_planted.py:19"),
        ("LW107", "test_planted.py:11"),
        ("LW109", "test_planted.py:15"),
    ]


def test_summary_lists_problems_by_priority(planted: tuple[Path, Any, dict[str, Any]]) -> None:
    _, result, _ = planted
    headers = [line for line in result.stdout.splitlines() if line and not line[0].isspace()]
    assert headers[:7] == [
        "loopwarden doctor test_planted.py: 6 tests (5 passed, 1 failed)",
        "Hangs (1)",
        "Leaks (1)",
        "Order-dependent tests (1)",
        "Blocking calls (1)",
        "Lint findings (3)",
        headers[6],
    ]
    assert headers[6].startswith("Time virtual time would save (1): ")
    assert (
        "  test_planted.py:11 in test_leaks_a_task: task 'ticker' running forever() is still "
        "pending" in result.stdout.splitlines()
    )
    assert headers[-1].startswith("doctor took ")


def test_html_has_a_timeline_bar_for_the_leaked_task(
    planted: tuple[Path, Any, dict[str, Any]],
) -> None:
    root, _, document = planted
    html = (root / "out" / "doctor.html").read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html
    assert 'data-test="test_planted.py::test_leaks_a_task"' in html
    assert 'class="bar leaked" data-state="leaked" data-coro="forever"' in html
    [task] = document["timelines"]["test_planted.py::test_leaks_a_task"]["tasks"]
    assert (task["name"], task["coro"], task["site"], task["state"]) == (
        "ticker",
        "forever",
        "test_planted.py:11",
        "leaked",
    )


def test_a_clean_suite_exits_0(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_ok.py").write_text(
        "import asyncio\n\n\nasync def test_ok():\n    await asyncio.sleep(0)\n"
    )
    result = doctor(tmp_path, "--fuzz-runs=3", "--", "-p", "no:asyncio")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:3] == [
        "loopwarden doctor .: 1 tests (1 passed)",
        "",
        "Nothing found: no hang, leak, order dependence, blocking call or lint finding, and no "
        "test waits on timers.",
    ]


def test_a_suite_that_cannot_run_exits_2(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text("import nowhere_to_be_found\n")
    result = doctor(tmp_path, "--no-lint", "--", "-p", "no:asyncio", "--no-such-flag")
    assert result.returncode == 2
    assert "loopwarden doctor: pytest could not run the suite in . (exit status 4)" in (
        result.stderr
    )


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = doctor(tmp_path, "nowhere")
    assert (result.returncode, result.stderr) == (
        2,
        "loopwarden doctor: nowhere: no such file or folder\n",
    )


def test_ctrl_c_writes_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_slow.py").write_text(
        textwrap.dedent(
            """\
            import asyncio


            async def forever():
                await asyncio.sleep(3600)


            async def test_leaks():
                asyncio.create_task(forever())


            async def test_hangs():
                await asyncio.Event().wait()
            """
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loopwarden._cli",
            "doctor",
            "--no-lint",
            "--timeout=60",
            "--json=doctor.json",
            "--",
            "-p",
            "no:asyncio",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    # Wait until the first test has finished (the progress line says so), then press Ctrl-C.
    for line in process.stderr:
        if line.strip() == "run: 1/2 tests":
            break
    os.kill(process.pid, signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    document = json.loads((tmp_path / "doctor.json").read_text())
    assert document["interrupted"] is True
    assert [p["category"] for p in document["problems"]] == ["leak"]
    assert "INTERRUPTED: what follows is what was found before Ctrl-C." in stdout
