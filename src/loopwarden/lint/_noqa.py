"""``# noqa`` comments: which findings a line or a file silences.

Apart from the checker, as it reads the rules' declarations (``RuleInfo.same_as``) and the
rules import the checker.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable

from loopwarden.lint._model import Finding
from loopwarden.lint.rules import RULES

# Codes after "noqa:", separated by commas or spaces (ruff reads both).
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_FILE_NOQA = re.compile(
    r"^#\s*loopwarden:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*))?\s*$", re.I
)


def _aliased(codes: Iterable[str]) -> frozenset[str]:
    """``codes``, and the loopwarden rules whose check another linter's code among them names
    (``RuleInfo.same_as``): a line that silences flake8-async's (and ruff's) blocking-call rules
    (``ASYNC2xx``) says the blocking is deliberate, which is LW101's finding; ruff's ``RUF006``
    says a dropped task is, LW107's."""
    found = set(codes)
    found.update(code for code, info in RULES.items() if not info.same_as.isdisjoint(found))
    return frozenset(found)


def parse_noqa(source: str) -> tuple[dict[int, frozenset[str] | None], frozenset[str] | None, bool]:
    """Find ``# noqa`` comments.

    Args:
        source: The file's text.

    Returns:
        ``(per_line, file_codes, file_all)``: codes silenced per line (``None`` = all codes),
        codes silenced for the whole file by ``# loopwarden: noqa: LW101``, and whether the whole
        file is silenced by a bare ``# loopwarden: noqa``.
    """
    per_line: dict[int, frozenset[str] | None] = {}
    file_codes: set[str] = set()
    file_all = False
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return per_line, None, False
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        text = token.string
        whole = _FILE_NOQA.match(text)
        if whole is not None and token.line.strip() == text.strip():
            if whole.group("codes"):
                file_codes.update(c.strip().upper() for c in whole.group("codes").split(","))
            else:
                file_all = True
            continue
        match = _NOQA.search(text)
        if match is None:
            continue
        line = token.start[0]
        if match.group("codes"):
            codes = _aliased(c.upper() for c in re.split(r"[\s,]+", match.group("codes")))
            previous = per_line.get(line, frozenset())
            per_line[line] = None if previous is None else previous | codes
        else:
            per_line[line] = None
    return per_line, frozenset(file_codes) or None, file_all


def apply_noqa(findings: list[Finding], source: str) -> list[Finding]:
    """Drop findings silenced by ``# noqa`` on their first or last line, or file-wide."""
    if not findings or "noqa" not in source:
        return findings
    # Tokenizing is the expensive part: only when a finding's line or the file could be silenced.
    lines = source.splitlines()
    candidates = any(
        "noqa" in lines[line - 1]
        for f in findings
        for line in (f.line, f.end_line)
        if 0 < line <= len(lines)
    )
    if not candidates and "loopwarden: noqa" not in source.lower():
        return findings
    per_line, file_codes, file_all = parse_noqa(source)
    if file_all:
        return []
    kept: list[Finding] = []
    for finding in findings:
        if file_codes is not None and finding.code in file_codes:
            continue
        silenced = False
        for line in {finding.line, finding.end_line}:
            if line in per_line:
                codes = per_line[line]
                if codes is None or finding.code in codes:
                    silenced = True
        if not silenced:
            kept.append(finding)
    return kept
