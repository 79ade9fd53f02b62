"""Data carried by the checker: rules, findings and the fixes attached to them.

Findings carry data, not only text, so every report format (text, JSON, SARIF, GitHub) is built from
the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FixSafety = Literal["safe", "unsafe"]


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """Static description of one rule.

    Attributes:
        code: The public code, e.g. ``"LW101"``. Codes are part of the public interface.
        name: A short kebab-case name, e.g. ``"blocking-call-in-async"``.
        summary: One line describing what the rule finds.
        fix: ``"safe"``, ``"unsafe"`` or ``None`` when the rule offers no fix.
        default: whether it runs when ``select`` is not given; an opt-in rule (``False``) runs
            only when selected by name, prefix or ``ALL``, or with ``extend-select``.
        same_as: other linters' codes for the same check (ruff's and flake8-async's): a
            ``# noqa`` naming one of them on the finding's line silences this rule there too,
            as the author already said the line is meant so.
    """

    code: str
    name: str
    summary: str
    fix: FixSafety | None = None
    default: bool = True
    same_as: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Fix:
    """A fix attached to a finding; applied by :mod:`loopwarden.lint._fix` through libcst.

    Positions are those of the ``ast`` node the fix rewrites (1-based line, 0-based column counted
    in characters), so the libcst side can find the same node.

    Attributes:
        kind: Which rewrite to apply (see ``_fix.py``).
        safety: ``"safe"`` fixes are applied by ``--fix``; ``"unsafe"`` ones also need
            ``--unsafe-fixes``.
        line: Line of the node to rewrite.
        col: Column of the node to rewrite.
        description: What the fix does, shown in reports.
        args: Kind-specific data (e.g. the expression to put in place of a callee).
        imports: Import statements the rewritten code needs, e.g. ``("import asyncio",)``.
    """

    kind: str
    safety: FixSafety
    line: int
    col: int
    description: str
    args: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in one file.

    Attributes:
        path: The file, as given on the command line or found under a directory.
        line: 1-based first line.
        col: 1-based first column (characters).
        end_line: 1-based last line.
        end_col: 1-based column just past the end (characters).
        code: The rule code.
        message: One line: what is wrong, and where (ruff-style; the text report shows it).
        fix: The fix this finding offers, if any.
        context: The enclosing function or class (``"test_bus"``, ``"TestBus.test_x"``), or ``""``.
        explanation: The whole text: what is wrong, why it matters and how to fix it (the JSON,
            SARIF and GitHub reports and the doctor carry it; ``--show-explanations`` prints it).
    """

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    code: str
    message: str
    fix: Fix | None = None
    context: str = ""
    explanation: str = ""

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        """Order of findings in every report: path, then position, then code."""
        return (self.path, self.line, self.col, self.code)


def headline(text: str) -> str:
    """The first clause of a rule's message: what is wrong, where — up to the first ``: `` or
    ``; `` outside backticks, double quotes and brackets (those hold code, and quoted errors
    such as ``"RuntimeError: ..."``)."""
    depth = 0
    quoted = ""
    for i, char in enumerate(text):
        if quoted:
            if char == quoted:
                quoted = ""
        elif char in '`"':
            quoted = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char in ":;" and depth == 0 and text.startswith(" ", i + 1):
            return text[:i]
    return text


@dataclass(slots=True)
class FileResult:
    """Everything the checker learnt about one file.

    Attributes:
        path: The file.
        findings: Findings left after ``noqa`` and ``--select``/``--ignore`` filtering.
        lines: Number of lines in the file (for statistics).
        fixed_source: The rewritten source when fixes were requested and applied, else ``None``.
        original_source: The source before fixing (set with ``fixed_source``, for ``--diff``).
        encoding: The file's encoding (PEP 263), used to write fixes back.
        fixed: Findings whose fix was applied to ``fixed_source``.
        error: An internal error message when the file could not be read.
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    lines: int = 0
    fixed_source: str | None = None
    original_source: str | None = None
    encoding: str = "utf-8"
    fixed: list[Finding] = field(default_factory=list)
    error: str | None = None
