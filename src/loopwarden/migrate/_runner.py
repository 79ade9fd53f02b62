"""Run a migration over many files: analyse, decide the ``event_loop`` overrides, rewrite.

1. Analyse (in workers): each file that contains a trigger word is parsed with :mod:`ast` and
   planned (:mod:`loopwarden.migrate._analyze`); other files are not even decoded.
2. Decide (here): an ``event_loop`` override whose body is the usual recipe is removed unless
   something left in the suite still asks for ``event_loop`` where the override is visible (its
   own module; every module under a ``conftest.py``'s folder).
3. Rewrite (in workers): the files with edits are parsed with libcst and rewritten; the result
   must parse with :mod:`ast`, else the file is left alone and the failure reported.

Workers are processes, started only when there are enough files to pay for them.
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import os
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from loopwarden.migrate._analyze import Settings, analyze, finalize
from loopwarden.migrate._diff import unified_diff
from loopwarden.migrate._model import (
    LINT_FIXES,
    FilePlan,
    LoopUser,
    Outcome,
    Override,
    Report,
    StmtPath,
)

TRIGGERS = (b"pytest_asyncio", b"event_loop", b"mark.asyncio")
"""Words without which a file has nothing to migrate: only files with one are parsed."""

LINT_TRIGGERS = (b"Client", b"sleep'", b'sleep"')
"""Words without which lint finds nothing for migrate: an httpx client (LW110's fix), a patch of
``"asyncio.sleep"`` / ``(asyncio, "sleep")`` (LW103, reported)."""

PATCHED_SLEEP = "LW103"

PARALLEL_THRESHOLD = 64
"""Below this many files, one process is faster than starting a pool."""

_A = TypeVar("_A")
_R = TypeVar("_R")


def _read(path: str) -> tuple[bytes, str]:
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data, encoding
    return data, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"


@contextmanager
def _no_gc() -> Iterator[None]:
    # A fresh tree is many young objects with no cycles: collections triggered while building it
    # would walk them all again for nothing (see lint's runner).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyze_file(path: str, settings: Settings) -> FilePlan | None:
    """Plan one file; ``None`` when it contains no trigger word.

    Args:
        path: The file.
        settings: The run's settings.

    Returns:
        The plan (a file that cannot be read or decoded gets an error and a report).
    """
    try:
        data, encoding = _read(path)
    except (OSError, SyntaxError) as error:
        plan = FilePlan(path, error=f"cannot read: {error}; left alone")
        plan.reports.append(Report(path, None, plan.error or ""))
        return plan
    migrates = any(word in data for word in TRIGGERS)
    if not migrates and not any(word in data for word in LINT_TRIGGERS):
        return None
    try:
        source = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        plan = FilePlan(
            path,
            error=f"cannot decode ({error}); left alone: save it as UTF-8 or declare its "
            "encoding (`# -*- coding: latin-1 -*-`)",
        )
        plan.reports.append(Report(path, None, plan.error or ""))
        return plan
    with _no_gc():
        plan = analyze(path, source, settings, encoding) if migrates else FilePlan(path, encoding)
        if plan.error is None:
            plan.lint_fixes = _lint(plan, source, settings.lint_codes)
    if not migrates and not plan.lint_fixes and not plan.reports:
        return None
    return plan


def _lint(plan: FilePlan, source: str, codes: frozenset[str]) -> bool:
    """Lint ``source`` for what migrate takes from lint: whether a fix of :data:`LINT_FIXES`
    applies, and a patched ``asyncio.sleep`` (reported, with virtual time as the way out)."""
    from loopwarden.lint._runner import check_source

    findings, _ = check_source(plan.path, source, codes & (LINT_FIXES | {PATCHED_SLEEP}))
    for finding in findings:
        if finding.code == PATCHED_SLEEP:
            what = finding.message.partition(" replaces it")[0]
            if "autouse fixture" not in what:
                mark = "mark the test @pytest.mark.loopwarden(virtual_time=True)"
            elif os.path.basename(plan.path) == "conftest.py":
                mark = (
                    "set loopwarden_virtual_time = on for the suite (or mark each module below "
                    "this conftest.py pytestmark = pytest.mark.loopwarden(virtual_time=True))"
                )
            else:
                mark = (
                    "mark the module pytestmark = pytest.mark.loopwarden(virtual_time=True), or "
                    "set loopwarden_virtual_time = on for the suite"
                )
            plan.reports.append(
                Report(
                    plan.path,
                    finding.line,
                    f"{what} replaces it for every caller (asyncio itself, libraries, the code "
                    "under test); not rewritten, as that is not safe (a test may check the "
                    "patched sleep's calls): use loopwarden's virtual time, where sleeps end at "
                    f"once on the loop's clock: delete the patch and {mark}",
                )
            )
    return any(
        f.code in LINT_FIXES and f.fix is not None and f.fix.safety == "safe" for f in findings
    )


def _apply_lint_fixes(path: str, source: str) -> tuple[str, Counter[str]]:
    """``source`` with the safe fixes of :data:`LINT_FIXES` applied by lint's fix engine, and
    how many of each rule's."""
    from loopwarden.lint._runner import check_source, fix_source

    findings, _ = check_source(path, source, LINT_FIXES)
    fixed_source, fixed, _ = fix_source(path, source, findings, LINT_FIXES, unsafe=False)
    return fixed_source, Counter(f"lint_{f.code}" for f in fixed)


def rewrite_file(plan: FilePlan) -> Outcome:
    """Rewrite one planned file in memory (nothing is written).

    Args:
        plan: A finalized plan with edits.

    Returns:
        The outcome: the new text, or the reason it was left alone.
    """
    from loopwarden.migrate._rewrite import rewrite  # libcst only for files that change

    data, encoding = _read(plan.path)
    source = data.decode(plan.encoding)
    counts = plan.counts()
    try:
        with _no_gc():
            after = rewrite(source, plan) if plan.edits or plan.add_imports else source
            if plan.lint_fixes:
                after, fixed = _apply_lint_fixes(plan.path, after)
                counts.update(fixed)
    except Exception as error:
        # libcst cannot parse every file ast can (its grammar lags new Python versions).
        message = getattr(error, "message", None) or (str(error).splitlines() or [""])[0]
        message = message or type(error).__name__
        line = getattr(error, "raw_line", None) or getattr(error, "lineno", None)
        where = f" at line {line}" if line else ""
        report = Report(plan.path, None, f"not Python 3 we can parse: {message}{where}; left alone")
        return Outcome(plan.path, encoding, source, None, counts, report)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # compile(), not just parse: `return x` in an async generator parses, and fails
            # when the module is imported.
            compile(after, plan.path, "exec", dont_inherit=True)
    except SyntaxError as error:  # a bug of ours: never write a file the rewrite broke
        report = Report(
            plan.path,
            error.lineno,
            f"internal error: the rewrite produced invalid code ({error.msg}); the file was left "
            "alone; please report this with the file",
        )
        return Outcome(plan.path, encoding, source, None, counts, report)
    if after == source:
        return Outcome(plan.path, encoding, source, None, counts)
    return Outcome(plan.path, encoding, source, after, counts, patch=diff(plan.path, source, after))


def diff(path: str, before: str, after: str) -> str:
    """The unified diff of one file (``--- a/path`` ``+++ b/path``)."""
    name = path.replace(os.sep, "/")
    return unified_diff(before, after, f"a/{name}", f"b/{name}")


def _analyze_chunk(work: Sequence[tuple[str, Settings]]) -> list[FilePlan | None]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    return [analyze_file(path, settings) for path, settings in work]


def _rewrite_chunk(plans: Sequence[FilePlan]) -> list[Outcome]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    return [rewrite_file(plan) for plan in plans]


def _chunked(
    pool: Executor | None,
    function: Callable[..., list[_R]],
    items: Sequence[_A],
    workers: int,
    *extra: object,
) -> list[_R]:
    if pool is None:
        return function(items, *extra)
    size = max(4, len(items) // (workers * 4))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[_R] = []
    for part in pool.map(function, chunks, *([value] * len(chunks) for value in extra)):
        out.extend(part)
    return out


def _visible(override_path: str, user_path: str) -> bool:
    if override_path == user_path:
        return True
    if os.path.basename(override_path) != "conftest.py":
        return False
    folder = os.path.dirname(os.path.abspath(override_path))
    return os.path.abspath(user_path).startswith(folder + os.sep)


def decide(
    plans: Iterable[FilePlan], outer: frozenset[str] = frozenset()
) -> dict[str, dict[StmtPath, str | None]]:
    """Which ``event_loop`` overrides go: for each file, each recipe override's path -> ``None``
    (remove it) or the users that keep it.

    Args:
        plans: Every analysed file.
        outer: ``conftest.py`` files read from above the given paths: tests outside those paths
            may still ask for their override, so it stays.

    Returns:
        Decisions by file path.
    """
    plans = list(plans)
    users: list[tuple[str, LoopUser]] = [(p.path, u) for p in plans for u in p.loop_users]
    decisions: dict[str, dict[StmtPath, str | None]] = {}
    for plan in plans:
        for override in plan.overrides:
            if override.recipe:
                decisions.setdefault(plan.path, {})[override.stmt] = (
                    "the tests of its folder outside the paths given, which this run did not "
                    "read (run loopwarden migrate on the whole folder)"
                    if plan.path in outer
                    else _keeping(plan.path, override, users)
                )
    return decisions


def _keeping(path: str, override: Override, users: list[tuple[str, LoopUser]]) -> str | None:
    found = [f"{where}:{user.line} ({user.name})" for where, user in users if _visible(path, where)]
    if not found:
        return None
    shown = ", ".join(found[:3])
    return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")


def migrate_source(path: str, source: str, settings: Settings) -> tuple[str, FilePlan]:
    """Migrate one source text on its own, its ``event_loop`` overrides decided within it.

    Args:
        path: The path it is reported under (a ``conftest.py`` or not changes nothing here).
        source: The text.
        settings: The run's settings.

    Returns:
        The new text (the same when nothing changes) and the finalized plan, with its reports.
    """
    plan = analyze(path, source, settings)
    finalize(plan, decide([plan]).get(path, {}), settings)
    if plan.error is not None:
        return source, plan
    plan.lint_fixes = _lint(plan, source, settings.lint_codes)
    after = source
    if plan.edits or plan.add_imports:
        from loopwarden.migrate._rewrite import rewrite

        after = rewrite(source, plan)
    if plan.lint_fixes:
        after, _ = _apply_lint_fixes(path, after)
    return after, plan


def migrate(
    work: Sequence[tuple[str, Settings]],
    jobs: int | None = None,
    outer: frozenset[str] = frozenset(),
) -> tuple[list[FilePlan], list[Outcome]]:
    """Analyse, decide and rewrite (in memory) every file.

    Args:
        work: Python files, each with the settings of its pytest configuration.
        jobs: Worker processes (``None``: one per CPU; ``1``: no pool).
        outer: ``conftest.py`` files read from above the given paths (see :func:`decide`).

    Returns:
        The plans of the files that have a trigger word, and the outcome of each file with edits.
    """
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    parallel = workers > 1 and len(work) >= PARALLEL_THRESHOLD
    settings = dict(work)
    with _pool(workers if parallel else 0) as pool:
        found = _chunked(pool, _analyze_chunk, list(work), workers)
        plans = [plan for plan in found if plan is not None]
        decisions = decide(plans, outer)
        for plan in plans:
            finalize(plan, decisions.get(plan.path, {}), settings[plan.path])
        changing = [
            p for p in plans if p.error is None and (p.edits or p.add_imports or p.lint_fixes)
        ]
        if pool is not None and len(changing) < PARALLEL_THRESHOLD // 4:
            outcomes = _rewrite_chunk(changing)
        else:
            outcomes = _chunked(pool, _rewrite_chunk, changing, workers)
    return plans, outcomes


@contextmanager
def _pool(workers: int) -> Iterator[Executor | None]:
    if workers <= 1:
        yield None
        return
    # fork starts workers in milliseconds and the parent has no threads at this point.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method)
    ) as pool:
        yield pool
