"""Check files: read, parse once, run the single traversal, filter, and fix when asked.

Work is spread over a process pool only when there are enough files to pay for starting it; each
worker gets chunks of paths and returns plain :class:`~loopwarden.lint._model.FileResult` objects.
"""

from __future__ import annotations

import ast
import fnmatch
import gc
import io
import multiprocessing
import os
import sys
import tokenize
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import FileResult, Finding
from loopwarden.lint._noqa import apply_noqa
from loopwarden.lint.rules import applicable_codes, build_registry
from loopwarden.lint.rules.lw201_config import CONFIG_FILES, check_config

PARALLEL_THRESHOLD = 64
"""Below this many files, one process is faster than starting a pool."""


@dataclass(frozen=True, slots=True)
class Options:
    """What to do with each file.

    Attributes:
        codes: Selected codes.
        per_file_ignores: ``(glob, codes)`` pairs.
        fix: Apply fixes (``--fix`` or ``--diff``).
        unsafe_fixes: Apply unsafe fixes too.
        root: The project root (the configuration's folder): ``per-file-ignores`` patterns also
            match paths relative to it, however the files were named on the command line.
    """

    codes: frozenset[str]
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    fix: bool = False
    unsafe_fixes: bool = False
    root: str | None = None


def _read(path: str) -> tuple[str, str]:
    """The file's text and encoding (UTF-8, or what its coding cookie declares)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), encoding


def _codes_for(path: str, options: Options) -> frozenset[str]:
    codes = options.codes
    if options.per_file_ignores:
        posix = path.replace(os.sep, "/")
        names = {posix, posix.rpartition("/")[2]}
        if posix.startswith("./"):
            names.add(posix[2:])
        if options.root is not None:
            relative = os.path.relpath(os.path.abspath(path), os.path.abspath(options.root))
            if not relative.startswith(".."):
                names.add(relative.replace(os.sep, "/"))
        for pattern, ignored in options.per_file_ignores:
            if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                codes = codes - ignored
    return codes


def check_source(path: str, source: str, codes: frozenset[str]) -> tuple[list[Finding], int]:
    """Check one Python source text.

    Args:
        path: The path to report.
        source: The text.
        codes: Selected codes.

    Returns:
        The findings (after ``noqa``) and the number of lines.
    """
    lines = source.count("\n") + (0 if source.endswith("\n") or not source else 1)
    # The cyclic garbage collector is paused while one file is parsed and checked: a fresh AST
    # is a few hundred thousand young objects, and every allocation of the walk would otherwise
    # trigger collections that traverse them all again (about a third of the run time). Trees
    # hold no reference cycles, so reference counting frees them; the checker breaks its own
    # cycle. The collector's previous state is restored for the caller.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_source(path, source, codes, lines)
    finally:
        if was_enabled:
            gc.enable()


def _check_source(
    path: str, source: str, codes: frozenset[str], lines: int
) -> tuple[list[Finding], int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in user code are not ours
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        if "LW000" not in codes:
            return [], lines
        line = getattr(error, "lineno", None) or 1
        col = getattr(error, "offset", None) or 1
        reason = getattr(error, "msg", None) or str(error)
        if isinstance(error, RecursionError | MemoryError):
            reason = "too deeply nested for Python's parser"

        finding = Finding(
            path,
            line,
            col,
            line,
            col,
            "LW000",
            f"cannot parse this file ({reason}); it was not checked — other files were",
        )
        return [finding], lines
    active = applicable_codes(codes, source)
    checker = Checker(path, source, tree, build_registry(active), active)
    findings = checker.run()
    return apply_noqa(findings, source), lines


def check_file(path: str, options: Options) -> FileResult:
    """Check (and with ``options.fix``, fix in memory) one file; never raises for user input."""
    result = FileResult(path)
    codes = _codes_for(path, options)
    try:
        source, result.encoding = _read(path)
    except OSError as error:
        result.error = f"{path}: cannot read: {error}"
        return result
    except (UnicodeDecodeError, SyntaxError) as error:
        # Python could not import this file either: a finding about the file, not our error.
        if "LW000" in codes and os.path.basename(path) not in CONFIG_FILES:
            reason = error.reason if isinstance(error, UnicodeDecodeError) else error.msg
            result.findings = [
                Finding(
                    path,
                    1,
                    1,
                    1,
                    1,
                    "LW000",
                    f"cannot decode this file ({reason}); it was not checked — other files were; "
                    f"save it as UTF-8 or declare its encoding (`# -*- coding: latin-1 -*-`)",
                )
            ]
        return result
    base = os.path.basename(path)
    if base in CONFIG_FILES:
        if "LW201" in codes:
            result.findings = apply_noqa(check_config(path, source), source)
        result.lines = source.count("\n")
        return result
    try:
        findings, result.lines = check_source(path, source, codes)
    except RecursionError:
        result.error = f"{path}: too deeply nested to check"
        return result
    if options.fix and any(f.fix is not None for f in findings):
        try:
            new_source, fixed, remaining = fix_source(
                path, source, findings, codes, options.unsafe_fixes
            )
        except Exception as error:  # libcst cannot handle every file ast can; report, go on
            result.error = f"{path}: fixes not applied: {type(error).__name__}: {error}"
            result.findings = findings
            return result
        result.fixed = fixed
        if new_source != source:
            result.fixed_source = new_source
            result.original_source = source
        result.findings = remaining
        return result
    result.findings = findings
    return result


def fix_source(
    path: str,
    source: str,
    findings: list[Finding],
    codes: frozenset[str],
    unsafe: bool,
    max_rounds: int = 5,
) -> tuple[str, list[Finding], list[Finding]]:
    """Apply fixes until none is left to apply (a fix can reveal another finding).

    Args:
        path: The path to report.
        source: The original text.
        findings: Its findings.
        codes: Selected codes.
        unsafe: Apply unsafe fixes too.
        max_rounds: Stop after this many rounds even if fixes remain.

    Returns:
        The fixed text, the findings that were fixed, and the findings that remain.

    Raises:
        SyntaxError: A fix produced invalid code (a bug: nothing is written).
    """
    from loopwarden.lint._fix import apply_fixes  # libcst only when there is a fix

    fixed: list[Finding] = []
    current = source
    for _ in range(max_rounds):
        wanted = [f for f in findings if f.fix is not None and (f.fix.safety == "safe" or unsafe)]
        if not wanted:
            break
        new_source, applied = apply_fixes(current, [f.fix for f in wanted if f.fix])
        if not applied:
            break
        ast.parse(new_source)  # never write a file a fix broke
        applied_ids = {id(fix) for fix in applied}
        fixed.extend(f for f in wanted if id(f.fix) in applied_ids)
        current = new_source
        findings, _ = check_source(path, current, codes)
    return current, fixed, findings


def _check_chunk(paths: Sequence[str], options: Options) -> list[FileResult]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    return [check_file(path, options) for path in paths]


def check_files(
    paths: Sequence[str], options: Options, jobs: int | None = None
) -> list[FileResult]:
    """Check many files, in parallel when there are enough of them.

    Args:
        paths: Files to check.
        options: What to do.
        jobs: Worker processes (``None``: one per CPU; ``1``: no pool).

    Returns:
        One result per path, in the order of ``paths``.
    """
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(paths) < PARALLEL_THRESHOLD:
        return _check_chunk(paths, options)
    chunk = max(8, len(paths) // (workers * 4))
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    # fork starts workers in milliseconds and the parent has no threads at this point.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    results: list[FileResult] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for part in pool.map(_check_chunk, chunks, [options] * len(chunks)):
            results.extend(part)
    return results
