"""Each fix against its expected diff (``tests/lint/fixes/<fixture>.py.diff``).

Regenerate the expected diffs after an intended change with ``LW_UPDATE_DIFFS=1 pytest
tests/lint/test_fixes.py`` and review them like code.
"""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopwarden.lint._fix import apply_fixes
from loopwarden.lint._runner import check_source, fix_source
from loopwarden.lint.rules import RULES

from ._helpers import ALL_CODES, FIXES, lint_fixture, lint_path, python_fixtures

FIXABLE = [p for p in python_fixtures() if any(f.fix for f in lint_fixture(p))]


def _diff(fixture: Path, before: str, after: str) -> str:
    name = fixture.name
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


@pytest.mark.parametrize("fixture", FIXABLE, ids=lambda p: p.name)
def test_fix_matches_expected_diff(fixture: Path) -> None:
    source = fixture.read_text(encoding="utf-8")
    findings = lint_fixture(fixture)
    fixes = [f.fix for f in findings if f.fix is not None]
    fixed, applied = apply_fixes(source, fixes)
    assert len(applied) == len(fixes), "every offered fix must apply"
    ast.parse(fixed)
    diff = _diff(fixture, source, fixed)
    expected_file = FIXES / f"{fixture.name}.diff"
    if os.environ.get("LW_UPDATE_DIFFS"):
        expected_file.write_text(diff, encoding="utf-8")
    assert expected_file.exists(), f"no expected diff {expected_file}"
    assert diff == expected_file.read_text(encoding="utf-8")
    # Fixing until stable leaves nothing fixable, and the fixed findings do not come back.
    final, done, remaining = fix_source(lint_path(fixture), source, findings, ALL_CODES, True)
    ast.parse(final)
    assert len(done) >= len(fixes)
    assert not [f for f in remaining if f.fix is not None]
    assert len(remaining) == len(findings) - len(fixes)


@pytest.mark.parametrize("fixture", FIXABLE, ids=lambda p: p.name)
def test_fixed_imports_pass_isort(fixture: Path, tmp_path: Path) -> None:
    # The fixtures' imports are sorted; what the fixes add must keep them so (ruff's I001).
    # (Run outside this checkout, where loopwarden would count as first-party.)
    pytest.importorskip("ruff", reason="ruff is a dev extra (the oldest-pytest job has none)")
    source = fixture.read_text(encoding="utf-8")
    fixed, _ = apply_fixes(source, [f.fix for f in lint_fixture(fixture) if f.fix is not None])
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I001", "-"],
        input=fixed,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("code", sorted(c for c, info in RULES.items() if info.fix))
def test_every_fixable_rule_has_a_fix_exercised(code: str) -> None:
    offered = {
        f.fix.kind for p in FIXABLE for f in lint_fixture(p) if f.code == code and f.fix is not None
    }
    assert offered, f"{code} declares a fix but no fixture exercises it"
    safeties = {f.fix.safety for p in FIXABLE for f in lint_fixture(p) if f.code == code and f.fix}
    # A rule declares its main fix's safety; a rule may offer an unsafe one for another form
    # (LW104's AsyncMock entered with async with), never a safe one it does not declare.
    assert RULES[code].fix in safeties
    assert safeties <= {RULES[code].fix, "unsafe"}


def test_fix_adds_missing_import_where_isort_puts_it() -> None:
    source = '"""Doc."""\n\nimport time\n\n\nasync def test_a():\n    time.sleep(1)  # why\n'
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    fixed, applied = apply_fixes(source, [f.fix for f in findings if f.fix])
    assert len(applied) == 1
    assert fixed == (
        '"""Doc."""\n\nimport asyncio\nimport time\n\n\n'
        "async def test_a():\n    await asyncio.sleep(1)  # why\n"
    )


def test_fix_uses_existing_alias() -> None:
    source = "import asyncio as aio\nimport time\nasync def test_a():\n    time.sleep(0.5)\n"
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    fixed, _ = apply_fixes(source, [f.fix for f in findings if f.fix])
    assert fixed.endswith("    await aio.sleep(0.5)\n")
    assert fixed.count("import") == 2


def test_remove_last_parameter_drops_its_comma() -> None:
    source = "async def test_a(tmp_path, event_loop):\n    pass\n"
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    fixed, _ = apply_fixes(source, [f.fix for f in findings if f.fix])
    assert fixed == "async def test_a(tmp_path):\n    pass\n"


def test_fixes_in_crlf_file_keep_line_endings() -> None:
    source = "import time\r\nasync def test_a():\r\n    time.sleep(1)\r\n"
    findings, _ = check_source("tests/test_a.py", source, ALL_CODES)
    fixed, _ = apply_fixes(source, [f.fix for f in findings if f.fix])
    assert (
        fixed
        == "import asyncio\r\nimport time\r\nasync def test_a():\r\n    await asyncio.sleep(1)\r\n"
    )


_BLOCKING = "\n\nasync def test_a():\n    time.sleep(1)  # why\n"
_FIXED = "\n\nasync def test_a():\n    await asyncio.sleep(1)  # why\n"


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        # the first of its section: it takes the blank line above the old first
        (
            "from __future__ import annotations\n\nimport time\n\nimport pytest\n",
            "from __future__ import annotations\n\nimport asyncio\nimport time\n\nimport pytest\n",
        ),
        # plain imports before from-imports in a section
        (
            "import time\nfrom os import path\n",
            "import asyncio\nimport time\nfrom os import path\n",
        ),
    ],
)
def test_an_added_import_goes_where_isort_puts_it(imports: str, expected: str) -> None:
    # ruff's I001 flagged the imports fixes added (appended after the last import).
    findings, _ = check_source("tests/test_a.py", imports + _BLOCKING, ALL_CODES)
    fixed, _ = apply_fixes(imports + _BLOCKING, [f.fix for f in findings if f.fix])
    assert fixed == expected + _FIXED
