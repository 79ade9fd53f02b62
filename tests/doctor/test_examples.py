"""``loopwarden doctor examples`` finds every problem planted in ``examples/broken/`` and nothing
in the fixed examples — the README's main command, checked.

What is planted where is read from the examples themselves: the line the doctor must name ends
with a ``# planted: CATEGORY(DETAIL), ...`` comment (the detail is the finding's kind for leaks
and unseen errors, the rule for lint findings; none for the other categories). Moving code
moves its marker, so this test never drifts from the examples.

One doctor run (``-- -p no:asyncio``, as ``scripts/demo`` runs it) is shared by the module; it
takes tens of seconds, most of them in the fuzz phase.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loopwarden._doctor._diagnosis import CATEGORIES

pytestmark = pytest.mark.slow

for _module in ("aiohttp", "websockets", "fastapi", "httpx", "sqlalchemy", "aiosqlite", "asyncpg"):
    pytest.importorskip(_module, reason=f"the examples need {_module}")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BROKEN = EXAMPLES / "broken"
# The fixed versions, on which the doctor must find nothing.
FIXED = ("api_client", "event_bus", "fastapi_db", "gateway", "services")

_ITEM = r"[a-z-]+(?:\([\w-]+\))?"
MARKER = re.compile(rf"#\s*planted:\s*(?P<items>{_ITEM}(?:\s*,\s*{_ITEM})*)")
ITEM = re.compile(r"(?P<category>[a-z-]+)(?:\((?P<detail>[\w-]+)\))?")

Expected = tuple[str, str, str | None]  # (path:line, category, detail)


def planted() -> set[Expected]:
    """Every ``# planted:`` marker under examples/broken/, as the doctor should report it."""
    found: set[Expected] = set()
    for path in sorted(BROKEN.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = MARKER.search(line)
            if match is None:
                continue
            where = f"{path.relative_to(ROOT).as_posix()}:{number}"
            for item in re.split(r"\s*,\s*", match["items"]):
                parsed = ITEM.fullmatch(item)
                assert parsed is not None and parsed["category"] in CATEGORIES, (
                    f"{where}: unknown planted category {item!r}; one of {', '.join(CATEGORIES)}"
                )
                found.add((where, parsed["category"], parsed["detail"]))
    return found


def reported(problem: dict[str, Any]) -> Expected:
    data = problem["data"]
    detail = None
    if problem["category"] in ("leak", "unseen-error"):
        detail = data["kind"]
    elif problem["category"] == "lint":
        detail = data["code"]
    return (problem["location"], problem["category"], detail)


@pytest.fixture(scope="module")
def diagnosis(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    report = tmp_path_factory.mktemp("doctor") / "examples.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopwarden._cli",
            "doctor",
            "examples",
            "--json",
            str(report),
            "--",
            "-p",
            "no:asyncio",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # 1: problems found
    # The summary ends with the doctor's own runtime; show it in the test's output.
    print(result.stdout.rstrip().splitlines()[-1])
    return json.loads(report.read_text(encoding="utf-8")), result.stdout


def test_every_planted_problem_is_found_with_its_kind_and_line(
    diagnosis: tuple[dict[str, Any], str],
) -> None:
    document, _ = diagnosis
    expected = planted()
    found = {
        reported(p) for p in document["problems"] if p["location"].startswith("examples/broken/")
    }
    assert sorted(found, key=str) == sorted(expected, key=str)


def test_every_broken_example_plants_something() -> None:
    folders = {p.name for p in BROKEN.iterdir() if p.is_dir() and not p.name.startswith(".")}
    marked = {where.split("/")[2] for where, _, _ in planted()}
    assert marked == folders


def test_nothing_is_reported_outside_the_broken_examples(
    diagnosis: tuple[dict[str, Any], str],
) -> None:
    document, _ = diagnosis
    elsewhere = [
        p
        for p in document["problems"]
        if not p["location"].startswith("examples/broken/")
        or any(not test.startswith("examples/broken/") for test in p["tests"])
    ]
    assert elsewhere == []


def test_every_fixed_example_runs_and_passes(diagnosis: tuple[dict[str, Any], str]) -> None:
    document, _ = diagnosis
    folders = {
        p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in ("broken", "__pycache__")
    }
    assert folders == set(FIXED), "a new fixed example: add it to FIXED"
    outcomes: dict[str, set[str]] = {name: set() for name in FIXED}
    for nodeid, timeline in document["timelines"].items():
        parts = nodeid.split("/")
        if parts[1] in outcomes:
            outcomes[parts[1]].add(timeline["outcome"])
    assert outcomes == {name: {"passed"} for name in FIXED}


def test_the_broken_examples_pass_with_leaks_as_findings(
    diagnosis: tuple[dict[str, Any], str],
) -> None:
    # The doctor runs with --lw-leaks=warn: what is planted is reported, no test fails.
    document, _ = diagnosis
    assert document["tests"]["failed"] == document["tests"]["error"] == 0, document["tests"]
    assert document["interrupted"] is False


def test_the_doctor_prints_its_runtime(diagnosis: tuple[dict[str, Any], str]) -> None:
    document, stdout = diagnosis
    assert re.fullmatch(
        r"doctor took \d+\.\d s \(lint \d+\.\d s, run \d+\.\d s, virtual time \d+\.\d s, "
        r"fuzz \d+\.\d s\)",
        stdout.rstrip().splitlines()[-1],
    )
    # Well under a minute on a quiet machine; this bound (CI runs it next to other tests) only
    # catches a gross regression, such as a test that waits out the watchdog in every schedule.
    assert document["runtime_seconds"] < 120
