"""Publishing findings: each test's findings wait in the session's stash until its teardown report
carries them (the report plugin attaches them, and every reader takes them from there)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from loopwarden._core._findings import Finding
from loopwarden._core._sites import Site
from loopwarden._plugin._stash import peek

# Per test id: the findings made while its phases ran (hangs, blocking calls) and those of its
# leak check, until its teardown report carries them (see publish).
_PUBLISHED = pytest.StashKey[dict[str, tuple[list[Finding], list[Finding]]]]()
_ON_FIRST_PUBLISH = pytest.StashKey[Callable[[], None]]()


def on_first_publish(config: pytest.Config, callback: Callable[[], None]) -> None:
    """Call ``callback`` once, when the session's first findings are published."""
    config.stash[_ON_FIRST_PUBLISH] = callback


def publish(config: pytest.Config, nodeid: str, findings: list[Finding], *, leaks: bool) -> None:
    """Hand a test's findings to its teardown report (the report plugin attaches them).

    Called only when there are findings, so a clean test costs nothing here. The phases' findings
    come first in the report, then the leak check's.
    """
    stash = config.stash
    if _ON_FIRST_PUBLISH in stash:
        callback = stash[_ON_FIRST_PUBLISH]
        del stash[_ON_FIRST_PUBLISH]
        callback()
    table = stash.setdefault(_PUBLISHED, {})
    phases, leak_check = table.setdefault(nodeid, ([], []))
    (leak_check if leaks else phases).extend(findings)


def take_published(config: pytest.Config, nodeid: str) -> list[Finding]:
    """The findings published for ``nodeid``, forgotten here."""
    stash = config.stash
    table = peek(stash, _PUBLISHED, None)
    entry = table.pop(nodeid, None) if table else None
    return [*entry[0], *entry[1]] if entry is not None else []


def warn(
    item: pytest.Item, warning: Warning, findings: list[Finding], at: Site | None = None
) -> str | None:
    """Issue ``warning`` for ``item``; the failure text when a warnings filter makes it an error.

    ``at``: the line the warning is about (a blocking call's), shown as its location; the test's
    own line (its ``def``, or its decorator) otherwise.

    ``-W error`` or ``filterwarnings = error`` (or ``error::loopwarden.LeakWarning``) raise the
    warning where it is issued: inside loopwarden's hook, with a traceback into loopwarden, and
    before the findings reached the report. Here the filter still decides the outcome — the phase
    fails — but with the warning's own text, and ``findings`` become ``new`` (they failed it).
    """
    try:
        if at is None:
            item.warn(warning)
        else:
            warnings.warn_explicit(warning, type(warning), at.filename, at.lineno)
    except type(warning):
        for finding in findings:
            finding.status = "new"
        return str(warning)
    return None
