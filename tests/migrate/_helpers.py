"""Shared by the migrate tests: migrate one source text and read back what was reported."""

from __future__ import annotations

import textwrap

from loopwarden.migrate._analyze import Settings
from loopwarden.migrate._model import Target
from loopwarden.migrate._runner import migrate_source

PATH = "tests/test_x.py"


def migrate(
    source: str,
    *,
    path: str = PATH,
    target: Target = "loopwarden",
    strict: bool = False,
    fixture_loop_scope: str | None = None,
    test_loop_scope: str | None = None,
    python_functions: tuple[str, ...] = ("test",),
    python_classes: tuple[str, ...] = ("Test",),
    python_files: tuple[str, ...] = ("test_*.py", "*_test.py"),
    unsafe_fixes: bool = False,
    virtual_time: str | None = None,
    suite: tuple[str, ...] = (),
) -> tuple[str, list[str]]:
    """Migrate ``source`` (dedented); the new text and the reports, each rendered as the summary
    prints it, notes prefixed ``note: ``."""
    settings = Settings(
        target,
        strict,
        fixture_loop_scope,
        test_loop_scope,
        python_functions,
        python_classes,
        python_files,
        unsafe_fixes=unsafe_fixes,
        virtual_time=virtual_time,
        suite=suite,
    )
    new, plan = migrate_source(path, textwrap.dedent(source), settings)
    reports = sorted(plan.reports, key=lambda r: r.sort_key)
    return new, [("" if r.person else "note: ") + r.render() for r in reports]


def dedent(text: str) -> str:
    return textwrap.dedent(text)


# The line a --write to loopwarden's runner ends with.
OWN_RUNNER_NEXT = (
    "Next: python -m pytest -p no:asyncio runs the suite on loopwarden's runner, which fails a "
    "test that leaves tasks, timers, connections or threads behind. To take over a suite with "
    "such leaks today, record them once with --lw-leaks-baseline=.loopwarden/leaks.json (the "
    "same option on later runs: known leaks warn, new ones fail).\n"
)
