"""LW000: the file does not parse; reported by the runner, other files are still checked."""

from __future__ import annotations

from loopwarden.lint._model import RuleInfo

INFO = RuleInfo(
    code="LW000",
    name="syntax-error",
    summary="file does not parse; it was not checked",
)
