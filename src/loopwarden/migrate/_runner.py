"""Run a migration over many files: analyse, decide the ``event_loop`` overrides, rewrite.

1. Analyse (in workers): each file that contains a trigger word is parsed with :mod:`ast` and
   planned (:mod:`loopwarden.migrate._analyze`); other files are not even decoded.
2. Decide (here): a patched ``asyncio.sleep`` becomes virtual time (``--unsafe-fixes``) unless a
   test of another file asks for its ``conftest.py`` fixture by name
   (:func:`loopwarden.migrate._sleep.settle`); an ``event_loop`` override whose body is the usual
   recipe is removed unless something left in the suite still asks for ``event_loop`` where the
   override is visible (its own module; every module under a ``conftest.py``'s folder); a sync
   fixture wider than a test that ``--target pytest-asyncio`` makes async gets the scope of the
   override its tests ran on as ``loop_scope=``, or is left (and then asks for ``event_loop``).
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
from dataclasses import replace
from typing import TypeVar

from loopwarden.migrate._analyze import SCOPES, Settings, analyze, finalize, wide_message
from loopwarden.migrate._diff import unified_diff
from loopwarden.migrate._model import (
    LINT_FIXES,
    FilePlan,
    LoopUser,
    Outcome,
    Override,
    Report,
    StmtPath,
    WideFixture,
)
from loopwarden.migrate._sleep import settle

TRIGGERS = (b"pytest_asyncio", b"event_loop", b"mark.asyncio")
"""Words without which a file has nothing to migrate: only files with one are parsed."""

LINT_TRIGGERS = (b"Client", b"sleep'", b'sleep"')
"""Words without which lint finds nothing for migrate: an httpx client (LW110's fix), a patch of
``"asyncio.sleep"`` / ``(asyncio, "sleep")`` (LW103: virtual time may replace it)."""

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
        sleeps, fixes = _lint(path, source, settings.lint_codes)
        if migrates or sleeps:
            plan = analyze(path, source, settings, encoding, sleeps)
        else:
            plan = FilePlan(path, encoding)
        if plan.error is None:
            plan.lint_fixes = fixes
    if not migrates and not plan.lint_fixes and not plan.reports and not plan.sleeps:
        return None
    return plan


def _lint(path: str, source: str, codes: frozenset[str]) -> tuple[list[tuple[int, int, str]], bool]:
    """Lint ``source`` for what migrate takes from lint: each patched ``asyncio.sleep``
    (line, column, message: virtual time may replace it, :mod:`loopwarden.migrate._sleep`), and
    whether a fix of :data:`LINT_FIXES` applies."""
    from loopwarden.lint._runner import check_source

    findings, _ = check_source(path, source, codes & (LINT_FIXES | {PATCHED_SLEEP}))
    sleeps = [(f.line, f.col, f.message) for f in findings if f.code == PATCHED_SLEEP]
    fixes = any(
        f.code in LINT_FIXES and f.fix is not None and f.fix.safety == "safe" for f in findings
    )
    return sleeps, fixes


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
            changes = plan.edits or plan.add_imports or plan.add_pytestmark
            after = rewrite(source, plan) if changes else source
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
    (remove it) or the users that keep it. With them, the loop scope of each sync fixture
    wider than a test that ``--target pytest-asyncio`` makes async (:class:`WideFixture`): its
    edit joins its plan, or it is left and reported, and then asks for ``event_loop`` too,
    which may keep an override; so the two are decided together, until nothing changes.

    Args:
        plans: Every analysed file.
        outer: ``conftest.py`` files read from above the given paths: tests outside those paths
            may still ask for their override, so it stays.

    Returns:
        Decisions by file path.
    """
    plans = list(plans)
    while True:
        decisions = _decide_overrides(plans, outer)
        if not _settle_wide_fixtures(plans, decisions, outer):
            return decisions


def _settle_wide_fixtures(
    plans: list[FilePlan], decisions: dict[str, dict[StmtPath, str | None]], outer: frozenset[str]
) -> bool:
    """Give each pending :class:`WideFixture` the scope of the ``event_loop`` override its tests
    ran on, or leave it (reported, and asking for ``event_loop``) where that is not certain.

    Returns:
        Whether a fixture was left: the overrides must be decided again. Otherwise every
        pending fixture's edit has joined its plan.
    """
    overrides = [(p.path, o) for p in plans for o in p.overrides]
    left = False
    for plan in plans:
        for wide in list(plan.wide_fixtures):
            loop_scope, why = _loop_scope_of(plan.path, wide, overrides, decisions, outer)
            if why is None:
                continue
            plan.wide_fixtures.remove(wide)
            plan.loop_users.append(LoopUser(wide.line, wide.name))
            plan.reports.append(
                Report(plan.path, wide.line, wide_message(wide.name, wide.scope, why, loop_scope))
            )
            left = True
    if left:
        return True
    for plan in plans:
        for wide in plan.wide_fixtures:
            loop_scope, _ = _loop_scope_of(plan.path, wide, overrides, decisions, outer)
            assert loop_scope is not None
            edit = wide.edit
            edit.decorators = [
                replace(d, add_keyword=(d.add_keyword[0], loop_scope)) if d.add_keyword else d
                for d in edit.decorators
            ]
            assert wide.stmt not in plan.edits  # (--target pytest-asyncio plans nothing else)
            plan.edits[wide.stmt] = edit
            plan.add_imports += [i for i in wide.imports if i not in plan.add_imports]
        plan.wide_fixtures.clear()
    return False


def _nearest(path: str, overrides: list[tuple[str, Override]]) -> list[tuple[str, Override]]:
    """The ``event_loop`` overrides the tests of ``path`` get: pytest gives each test the nearest
    one, so those of the nearest file that ``path`` sees (its module, else the closest
    ``conftest.py`` above)."""
    visible = [(where, o) for where, o in overrides if _visible(where, path)]

    def nearness(where: str) -> tuple[bool, int]:
        return (where == path, len(os.path.dirname(os.path.abspath(where))))

    if not visible:
        return []
    nearest = max(nearness(where) for where, _ in visible)
    return [(where, o) for where, o in visible if nearness(where) == nearest]


def kept_override(path: str, overrides: list[tuple[str, Override]]) -> str | None:
    """Where the project's own ``event_loop`` fixture that the tests of ``path`` get is
    (``path:line``), when migrate leaves it (more than the usual recipe); else ``None``."""
    return next(
        (f"{where}:{o.line}" for where, o in _nearest(path, overrides) if not o.recipe), None
    )


def _reach(path: str, overrides: list[tuple[str, Override]]) -> list[tuple[str, Override]]:
    """The ``event_loop`` overrides a fixture defined in ``path`` may have got: those its tests
    get (:func:`_nearest`), and for a ``conftest.py`` those below its folder too (they win for
    the tests there)."""
    found = _nearest(path, overrides)
    if os.path.basename(path) == "conftest.py":
        folder = os.path.dirname(os.path.abspath(path)) + os.sep
        found += [
            (where, o)
            for where, o in overrides
            if where != path and os.path.abspath(where).startswith(folder)
        ]
    return found


def _loop_scope_of(
    path: str,
    wide: WideFixture,
    overrides: list[tuple[str, Override]],
    decisions: dict[str, dict[StmtPath, str | None]],
    outer: frozenset[str],
) -> tuple[str | None, str | None]:
    """The ``loop_scope`` a wide fixture needs (the scope of the ``event_loop`` override its
    tests ran on, which is also the test loop scope migrate writes), or why it is not certain:
    ``(scope or None, None or why)``."""
    if path in outer:
        return None, (
            "the tests of its folder outside the paths given, which this run did not read, may "
            "have run in another loop (run loopwarden migrate on the whole folder)"
        )
    reach = _reach(path, overrides)
    if not reach:
        return None, (
            "no event_loop fixture override reaches it in the files read, so the loop its tests "
            "ran in is unknown (pytest-asyncio 0.21's own event_loop is function-scoped, too "
            "narrow for it)"
        )
    scopes = sorted({o.scope for _, o in reach})
    if len(scopes) > 1:
        said = ", ".join(f"{o.scope or '?'} ({where}:{o.line})" for where, o in reach)
        return None, (
            f"the event_loop fixtures its tests may get make loops of different scopes: {said}; "
            "the tests that use it must share one loop"
        )
    where, override = reach[0]
    loop_scope = override.scope or None
    for where, override in reach:
        if not override.recipe:
            return loop_scope, (
                f"the event_loop fixture at {where}:{override.line} stays, as it does more than "
                "the usual recipe (see that entry)"
            )
        if decisions.get(where, {}).get(override.stmt) is not None:
            return loop_scope, (
                f"the event_loop fixture at {where}:{override.line} stays, since something still "
                "asks for it (see that entry)"
            )
        if override.test_loop_scope != override.scope:
            scope = override.scope
            return loop_scope, (
                f"its tests ran in the {scope}-scoped loop of the event_loop fixture at "
                f"{where}:{override.line}, but with the pytest configuration as it is they would "
                f"run in {override.test_loop_scope}-scoped loops (migrate does not overwrite a "
                f"loop scope it sets): set asyncio_default_fixture_loop_scope = {scope} and "
                f"asyncio_default_test_loop_scope = {scope} (or mark its tests "
                f"@pytest.mark.asyncio(loop_scope={scope!r}))"
            )
    if loop_scope not in SCOPES:
        return None, (
            f"the event_loop fixture at {where}:{override.line} has no scope pytest knows "
            f"({loop_scope!r})"
        )
    if wide.value is None:
        if loop_scope != "session":
            return loop_scope, (
                f"its scope is not a literal, and may be wider than the {loop_scope}-scoped loop "
                f"of the event_loop fixture at {where}:{override.line}"
            )
    elif SCOPES.index(loop_scope) < SCOPES.index(wide.value):
        return None, (
            f"the event_loop fixture it got at {where}:{override.line} is {loop_scope}-scoped, "
            "narrower than the fixture (pytest-asyncio 0.21 raised ScopeMismatch)"
        )
    return loop_scope, None


def _decide_overrides(
    plans: list[FilePlan], outer: frozenset[str]
) -> dict[str, dict[StmtPath, str | None]]:
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
    seen = sorted(
        ((where, user) for where, user in users if _visible(path, where)),
        key=lambda found: (found[0], found[1].line),
    )
    found = [f"{where}:{user.line} ({user.name})" for where, user in seen]
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
    sleeps, fixes = _lint(path, source, settings.lint_codes)
    plan = analyze(path, source, settings, sleeps=sleeps)
    kept = kept_override(path, [(path, o) for o in plan.overrides])
    if kept is not None:
        plan = analyze(path, source, replace(settings, kept_event_loop=kept), sleeps=sleeps)
    settle([plan], settings.unsafe_fixes)
    finalize(plan, decide([plan]).get(path, {}), settings)
    if plan.error is not None:
        return source, plan
    plan.lint_fixes = fixes
    after = source
    if plan.edits or plan.add_imports or plan.add_pytestmark:
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
        plans = _keep_project_overrides(plans, settings, pool, workers)
        unsafe = any(s.unsafe_fixes for _, s in work)
        settle(plans, unsafe, [path for path, _ in work], outer)
        decisions = decide(plans, outer)
        for plan in plans:
            finalize(plan, decisions.get(plan.path, {}), settings[plan.path])
        changing = [
            p
            for p in plans
            if p.error is None and (p.edits or p.add_imports or p.add_pytestmark or p.lint_fixes)
        ]
        if pool is not None and len(changing) < PARALLEL_THRESHOLD // 4:
            outcomes = _rewrite_chunk(changing)
        else:
            outcomes = _chunked(pool, _rewrite_chunk, changing, workers)
    return plans, outcomes


def _keep_project_overrides(
    plans: list[FilePlan], settings: dict[str, Settings], pool: Executor | None, workers: int
) -> list[FilePlan]:
    """Plan again, knowing it, each file whose tests get an ``event_loop`` fixture of the
    project's own that migrate leaves: its sync tests keep that fixture."""
    overrides = [(p.path, o) for p in plans for o in p.overrides]
    if all(o.recipe for _, o in overrides):
        return plans
    again: list[tuple[str, Settings]] = []
    for plan in plans:
        kept = kept_override(plan.path, overrides)
        if kept is not None and plan.error is None:
            again.append((plan.path, replace(settings[plan.path], kept_event_loop=kept)))
    if not again:
        return plans
    redone = {
        plan.path: plan
        for plan in _chunked(pool, _analyze_chunk, again, workers)
        if plan is not None
    }
    return [redone.get(plan.path, plan) for plan in plans]


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
