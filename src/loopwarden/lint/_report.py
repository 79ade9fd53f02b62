"""Report formats: ``text`` (default), ``json``, ``sarif`` and ``github``.

JSON schema (a list, one object per finding, sorted by path, line, column, code)::

    {
      "path": "tests/test_bus.py",     # as given on the command line / found under a folder
      "line": 42, "col": 5,            # 1-based; col counts characters
      "end_line": 42, "end_col": 27,   # 1-based, end_col just past the last character
      "code": "LW101",
      "message": "blocking call `time.sleep()` inside ...",   # one line: what, where
      "explanation": "blocking call ...: every other task ...; use ...",  # and why, and the fix
      "fix_available": true,           # a fix exists (see "fix" for whether it is safe)
      "context": "test_fetch",         # enclosing function ("Class.method"), or ""
      "fix": {"safety": "safe", "description": "..."} | null
    }
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from loopwarden.lint._model import Finding
from loopwarden.lint.rules import RULES

DOCS_URL = "https://loopwarden.readthedocs.io/en/latest/reference/rules/{code}/"
FORMATS = ("text", "json", "sarif", "github")


def to_json_object(finding: Finding) -> dict[str, object]:
    """The documented JSON form of one finding."""
    return {
        "path": finding.path,
        "line": finding.line,
        "col": finding.col,
        "end_line": finding.end_line,
        "end_col": finding.end_col,
        "code": finding.code,
        "message": finding.message,
        "explanation": finding.explanation or finding.message,
        "fix_available": finding.fix is not None,
        "context": finding.context,
        "fix": (
            None
            if finding.fix is None
            else {"safety": finding.fix.safety, "description": finding.fix.description}
        ),
    }


def render_text(findings: Sequence[Finding], unsafe_fixes: bool, show_fixes: bool = False) -> str:
    """``path:line:col: CODE [in context] message``, one per line; ``[*]`` marks a fix that
    ``--fix`` (or ``--unsafe-fixes``) would apply. With ``show_fixes``, the fix a finding offers
    follows it on an indented line."""
    lines = []
    for f in findings:
        mark = ""
        if f.fix is not None and (f.fix.safety == "safe" or unsafe_fixes):
            mark = " [*]"
        where = f" in {f.context}:" if f.context else ""
        lines.append(f"{f.path}:{f.line}:{f.col}: {f.code}{mark}{where} {f.message}")
        if show_fixes and f.fix is not None:
            how = "safe" if f.fix.safety == "safe" else "unsafe: with --unsafe-fixes"
            lines.append(f"    fix ({how}): {f.fix.description}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_fixed(fixed: Sequence[Finding]) -> str:
    """What ``--fix`` changed, one finding per line (``--show-fixes``)."""
    lines = [f"fixed {f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in fixed]
    return "\n".join(lines) + ("\n" if lines else "")


def summary(findings: Sequence[Finding], fixed: int) -> str:
    """The closing line of the text report."""
    safe = sum(1 for f in findings if f.fix is not None and f.fix.safety == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.safety == "unsafe")
    parts = []
    if fixed:
        parts.append(f"Fixed {fixed} finding{'s' if fixed != 1 else ''}.")
    if not findings:
        parts.append("All checks passed." if not fixed else "No findings remain.")
        return " ".join(parts)
    count = len(findings)
    parts.append(f"Found {count} finding{'s' if count != 1 else ''}.")
    if safe:
        parts.append(f"{safe} fixable with `loopwarden lint --fix`.")
    if unsafe:
        # (Not "N more": that read as N more findings.)
        parts.append(f"{unsafe} fixable with `--fix --unsafe-fixes`.")
    parts.append("Why, and how to fix: `loopwarden lint --explain CODE`.")
    return " ".join(parts)


def render_json(findings: Sequence[Finding]) -> str:
    """The JSON report (see the module docstring for the schema)."""
    return json.dumps([to_json_object(f) for f in findings], indent=2) + "\n"


def render_sarif(findings: Sequence[Finding], version: str) -> str:
    """A SARIF 2.1.0 log, as GitHub code scanning and IDEs read it."""
    rules = [
        {
            "id": info.code,
            "name": info.name,
            "shortDescription": {"text": info.summary},
            "help": {"text": f"loopwarden lint --explain {info.code}"},
            "helpUri": DOCS_URL.format(code=info.code),
            # Off for the opt-in rules, so code scanning lists them as such; a run that
            # selected one still reports its results.
            "defaultConfiguration": {
                "enabled": info.default,
                "level": "error" if info.code == "LW000" else "warning",
            },
        }
        for info in RULES.values()
    ]
    index = {info.code: i for i, info in enumerate(RULES.values())}
    results = []
    for f in findings:
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": index.get(f.code, 0),
                "level": "error" if f.code == "LW000" else "warning",
                "message": {"text": f.message},
                "properties": {"explanation": f.explanation or f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path.replace(os.sep, "/")},
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.col,
                                "endLine": f.end_line,
                                "endColumn": f.end_col,
                            },
                        }
                    }
                ],
            }
        )
    # An opt-in rule this run selected is on here, though off by default: SARIF says so per run.
    selected = sorted({f.code for f in findings if f.code in RULES and not RULES[f.code].default})
    overrides = [
        {
            "descriptor": {"id": code, "index": index[code]},
            "configuration": {"enabled": True},
        }
        for code in selected
    ]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "loopwarden",
                        "version": version,
                        "informationUri": "https://github.com/loopwarden/loopwarden",
                        "rules": rules,
                    }
                },
                "invocations": [
                    {"executionSuccessful": True, "ruleConfigurationOverrides": overrides}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's diff."""
    lines = []
    for f in findings:
        properties = ",".join(
            [
                f"file={_escape_property(f.path)}",
                f"line={f.line}",
                f"col={f.col}",
                f"endLine={f.end_line}",
                f"endColumn={f.end_col}",
                f"title={_escape_property(f.code)}",
            ]
        )
        level = "error" if f.code == "LW000" else "warning"
        # (The annotation is read on the pull request, not in a terminal: the whole text.)
        text = f"{f.code} {f.explanation or f.message}"
        lines.append(f"::{level} {properties}::{_escape_data(text)}")
    return "\n".join(lines) + ("\n" if lines else "")
