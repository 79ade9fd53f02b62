"""Every rule code has a documentation page written like ruff's."""

from __future__ import annotations

import re

import pytest

from loopwarden.lint.rules import RULES

from ._helpers import REPO

RULE_DOCS = REPO / "docs" / "reference" / "rules"
SECTIONS = (
    "## What it does",
    "## Why is this bad?",
    "## Example",
    "## Use instead",
    "## Fix safety",
)


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_has_documentation_page(code: str) -> None:
    page = RULE_DOCS / f"{code}.md"
    assert page.is_file(), f"{code} has no page docs/reference/rules/{code}.md"
    text = page.read_text(encoding="utf-8")
    info = RULES[code]
    assert text.startswith(f"# {code} — {info.name}\n")
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions, f"{code}: missing one of {SECTIONS}"
    assert positions == sorted(positions), f"{code}: sections out of order"
    fix_line = re.search(r"^\*\*Fix:\*\* (\w+)", text, re.M)
    assert fix_line is not None
    assert fix_line.group(1) == (info.fix or "none")


def test_no_page_without_a_rule() -> None:
    pages = {p.stem for p in RULE_DOCS.glob("*.md")}
    assert pages == set(RULES)


def test_reference_lists_every_rule() -> None:
    reference = (REPO / "docs" / "reference" / "lint.md").read_text(encoding="utf-8")
    for code, info in RULES.items():
        assert f"[{code}](rules/{code}.md)" in reference, f"{code} missing from reference/lint.md"
        row = next(line for line in reference.splitlines() if f"[{code}](" in line)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == info.name, row
        assert cells[-1] == (info.fix or "—"), f"{code}: the table's Fix column says {cells[-1]}"
