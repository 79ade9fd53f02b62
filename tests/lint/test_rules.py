"""Every rule against its fixture: the exact set of ``(line, code)`` marked ``# error: LWxxx``.

Fixture files check all rules at once, so a negative case that trips another rule fails too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loopwarden.lint._runner import check_source
from loopwarden.lint.rules import RULES

from ._helpers import (
    ALL_CODES,
    REPO,
    config_fixtures,
    expected,
    lint_fixture,
    python_fixtures,
)

FIXTURE_FILES = python_fixtures() + config_fixtures()


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_fixture_findings(fixture: Path) -> None:
    want = expected(fixture.read_text(encoding="utf-8"))
    got = {(f.line, f.code) for f in lint_fixture(fixture)}
    missing = sorted(want - got)
    unexpected = sorted(got - want)
    assert (missing, unexpected) == ([], []), f"missing={missing} unexpected={unexpected}"


@pytest.mark.parametrize("code", sorted(c for c in RULES if c != "LW000"))
def test_every_rule_has_positive_and_negative_fixture_cases(code: str) -> None:
    files = [p for p in FIXTURE_FILES if code.lower() in p.relative_to(REPO).as_posix()]
    assert files, f"{code} has no fixture under tests/lint/fixtures/"
    positives = [
        line for p in files for line, c in expected(p.read_text(encoding="utf-8")) if c == code
    ]
    assert positives, f"{code}'s fixtures mark no finding of {code}"
    texts = [p.read_text(encoding="utf-8") for p in files]
    if code == "LW201":
        # Negative cases are whole config files without any marker.
        assert any(not expected(t) for t in texts)
    else:
        assert any("--- negative cases" in t for t in texts), f"{code} lacks negative cases"


def test_selection_limits_findings() -> None:
    fixture = REPO / "tests/lint/fixtures/lw101_blocking_call.py"
    only = lint_fixture(fixture, frozenset({"LW107"}))
    assert only == []
    some = lint_fixture(fixture, frozenset({"LW101"}))
    assert {f.code for f in some} == {"LW101"}


def test_syntax_error_is_lw000_with_position() -> None:
    findings, lines = check_source("tests/test_bad.py", "x = 1\ndef f(:\n    pass\n", ALL_CODES)
    assert lines == 3
    assert [(f.code, f.line, f.col) for f in findings] == [("LW000", 2, 7)]
    assert findings[0].message == (
        "cannot parse this file (invalid syntax); it was not checked — other files were"
    )


def test_noqa_specific_bare_and_file_level() -> None:
    source = (
        "import time\n"
        "async def test_a():\n"
        "    time.sleep(1)  # noqa: LW101\n"
        "    time.sleep(2)  # noqa: LW102\n"
        "    time.sleep(3)  # noqa\n"
        "    time.sleep(4)  # NOQA:LW101,LW107\n"
    )
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    assert [(f.line, f.code) for f in findings] == [(4, "LW101")]
    whole, _ = check_source("tests/test_a.py", "# loopwarden: noqa\n" + source, ALL_CODES)
    assert whole == []
    per_code, _ = check_source("tests/test_a.py", "# loopwarden: noqa: LW101\n" + source, ALL_CODES)
    assert per_code == []


def test_noqa_inside_a_string_is_not_a_comment() -> None:
    source = 'import time\nasync def test_a():\n    time.sleep(1); x = "# noqa"\n'
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    assert [(f.line, f.code) for f in findings] == [(3, "LW101")]


def test_message_names_the_function_and_the_fix() -> None:
    source = "import time\nasync def test_fetch():\n    time.sleep(1)\n"
    (finding,), _ = check_source("tests/test_a.py", source, ALL_CODES)
    assert finding.context == "test_fetch"
    assert finding.message == (
        "blocking call `time.sleep()` inside `async def test_fetch` stops the event loop until it "
        "returns"
    )
    assert finding.explanation == (
        "blocking call `time.sleep()` inside `async def test_fetch` stops the event loop until it "
        "returns: every other task, timeout and I/O callback waits; use "
        "`await asyncio.sleep(...)`"
    )
    assert (finding.line, finding.col, finding.end_line, finding.end_col) == (3, 5, 3, 18)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_message_is_one_short_line_and_the_explanation_holds_it(fixture: Path) -> None:
    for finding in lint_fixture(fixture):
        assert "\n" not in finding.message
        assert len(finding.message) <= 200, finding.message
        explanation = finding.explanation or finding.message
        assert explanation.startswith(finding.message), finding
        # What comes after says why, and what to do (a rule that has nothing more is LW000).
        assert finding.code == "LW000" or len(explanation) > len(finding.message), finding


def test_columns_count_characters_not_bytes() -> None:
    source = 'import time\nasync def test_é():\n    s = "ééé"; time.sleep(1)\n'
    (finding,), _ = check_source("tests/test_a.py", source, ALL_CODES)
    assert (finding.col, finding.end_col) == (16, 29)


def test_method_context_includes_class() -> None:
    source = (
        "import asyncio\n"
        "class TestX:\n"
        "    async def test_a(self):\n"
        "        asyncio.create_task(f())\n"
    )
    (finding,), _ = check_source("tests/test_a.py", source, ALL_CODES)
    assert finding.context == "TestX.test_a"


def test_user_code_is_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    source = (
        f"open({str(marker)!r}, 'w').close()\nimport time\nasync def test_x():\n    time.sleep(1)\n"
    )
    findings, _ = check_source("tests/test_x.py", source, ALL_CODES)
    assert [f.code for f in findings] == ["LW101"]
    assert not marker.exists()


def test_deep_nesting_does_not_crash() -> None:
    source = "import time\nasync def test_x():\n    x = " + " + ".join(["1"] * 400) + "\n"
    source += "    time.sleep(1)\n"
    findings, _ = check_source("tests/test_x.py", source, ALL_CODES)
    assert [(f.line, f.code) for f in findings] == [(4, "LW101")]


def test_checking_leaves_no_cyclic_garbage() -> None:
    # The runner pauses the cyclic GC while a file is checked; that is only sound if the checker
    # leaves no reference cycles behind (its tree would otherwise survive until a collection).
    import gc

    sources = [(p, p.read_text(encoding="utf-8")) for p in python_fixtures()]
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for path, text in sources:
            check_source(path.as_posix(), text, ALL_CODES)
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()
