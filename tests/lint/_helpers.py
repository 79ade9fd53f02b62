"""Shared by the lint tests: where fixtures live and how expected findings are marked."""

from __future__ import annotations

import re
from pathlib import Path

from loopwarden.lint._model import Finding
from loopwarden.lint._runner import check_source
from loopwarden.lint.rules import RULES
from loopwarden.lint.rules.lw201_config import check_config

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
FIXES = HERE / "fixes"
REPO = HERE.parent.parent
ALL_CODES = frozenset(RULES)

_MARK = re.compile(r"#\s*error:\s*(?P<codes>LW\d{3}(?:\s*,\s*LW\d{3})*)")
_PATH = re.compile(r"^# lint-path: (?P<path>\S+)", re.M)


def expected(text: str) -> set[tuple[int, str]]:
    """``{(line, code)}`` from ``# error: LW101, LW107`` markers."""
    out: set[tuple[int, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MARK.search(line)
        if match:
            out.update((number, c.strip()) for c in match.group("codes").split(","))
    return out


def lint_path(fixture: Path) -> str:
    """The path the fixture is checked as: ``# lint-path:`` if given, else its repo path."""
    text = fixture.read_text(encoding="utf-8")
    match = _PATH.search(text)
    if match:
        return match.group("path")
    return fixture.relative_to(REPO).as_posix()


def lint_fixture(fixture: Path, codes: frozenset[str] = ALL_CODES) -> list[Finding]:
    """Check a fixture file (Python or pytest config) with ``codes``."""
    text = fixture.read_text(encoding="utf-8")
    if fixture.suffix == ".py":
        findings, _ = check_source(lint_path(fixture), text, codes)
        return findings
    return [f for f in check_config(str(fixture), text) if f.code in codes]


def python_fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("lw*.py"))


def config_fixtures() -> list[Path]:
    return sorted(p for p in (FIXTURES / "lw201_config").rglob("*") if p.is_file())
