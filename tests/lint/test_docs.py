"""Every rule code has a documentation page written like ruff's."""

from __future__ import annotations

import re

import pytest

from loopwarden.lint.rules import DEFAULT_CODES, RULES

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


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_page_says_whether_the_rule_is_opt_in(code: str) -> None:
    text = (RULE_DOCS / f"{code}.md").read_text(encoding="utf-8")
    pattern = rf"^\*\*Opt-in:\*\* runs only when selected \(`--extend-select {code}`"
    says_opt_in = re.search(pattern, text, re.M) is not None
    assert says_opt_in == (not RULES[code].default), code


def test_reference_names_the_default_selection_and_marks_the_opt_in_rules() -> None:
    reference = (REPO / "docs" / "reference" / "lint.md").read_text(encoding="utf-8")
    for code, info in RULES.items():
        row = next(line for line in reference.splitlines() if f"[{code}](" in line)
        assert row.endswith(" (opt-in) | " + (info.fix or "—") + " |") == (not info.default), row
    *first, last = DEFAULT_CODES
    listed = f"**Default selection.** Without `select`, these run: {', '.join(first)} and {last}."
    assert listed in " ".join(reference.split())
