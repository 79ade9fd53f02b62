"""Which files ``loopwarden lint`` checks: ``.py`` files and pytest config files under the given
paths, minus what ``.gitignore`` and ``--exclude`` leave out.

Inside a git work tree the file list comes from ``git ls-files --cached --others
--exclude-standard``: git itself applies every ``.gitignore`` level, ``.git/info/exclude``, the
user's global excludes file and negations, exactly as ``git status`` does, which no
re-implementation matches in every corner. Outside a git work tree (an unpacked sdist, a CI cache)
or without a ``git`` binary, a small matcher applies the ``.gitignore`` files found while walking
(patterns, ``**``, anchoring, trailing ``/``, ``!`` negation).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from collections.abc import Iterable, Sequence

from loopwarden.lint.rules.lw201_config import CONFIG_FILES

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git", ".hg", ".svn", ".bzr", ".tox", ".nox", ".venv", ".venv-*", "venv", ".direnv",
    "__pycache__", "__pypackages__", "node_modules", "build", "dist", ".eggs", "*.egg-info",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages",
)  # fmt: skip


def is_candidate(name: str) -> bool:
    """Whether a file name is one the checker reads."""
    return name.endswith(".py") or name in CONFIG_FILES


class Excluder:
    """``--exclude``/``exclude`` patterns plus the built-in ones.

    A pattern without ``/`` matches any single path component (``build``, ``*.egg-info``); a
    pattern with ``/`` matches the whole path relative to the project root (``tests/data/*``).

    Args:
        patterns: User patterns.
        root: The project root relative patterns are anchored at.
    """

    def __init__(self, patterns: Sequence[str], root: str) -> None:
        self.root = os.path.abspath(root)
        self.component = [p for p in (*DEFAULT_EXCLUDES, *patterns) if "/" not in p.strip("/")]
        self.path_patterns = [p.strip("/") for p in patterns if "/" in p.strip("/")]

    def excluded(self, path: str, base: str) -> bool:
        """Whether ``path`` (a file or folder) under the searched folder ``base`` is excluded.

        Only the components below ``base`` are matched, so a project that lives in a folder
        called ``build`` can still be checked by naming it.
        """
        parts = os.path.relpath(path, base).split(os.sep)
        for part in parts:
            if part in (".", ".."):
                continue
            for pattern in self.component:
                if fnmatch.fnmatchcase(part, pattern.strip("/")):
                    return True
        if self.path_patterns:
            relative = os.path.relpath(os.path.abspath(path), self.root).replace(os.sep, "/")
            for pattern in self.path_patterns:
                if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(
                    relative, pattern + "/*"
                ):
                    return True
        return False


class _GitignoreRule:
    __slots__ = ("anchored", "dir_only", "negate", "regex")

    def __init__(self, pattern: str) -> None:
        self.negate = pattern.startswith("!")
        if self.negate:
            pattern = pattern[1:]
        if pattern.startswith("\\"):
            pattern = pattern[1:]
        self.dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        self.anchored = "/" in pattern
        pattern = pattern.lstrip("/")
        self.regex = re.compile(_translate(pattern))

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        target = relative if self.anchored else relative.rpartition("/")[2]
        return self.regex.fullmatch(target) is not None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_gitignore(text: str) -> list[_GitignoreRule]:
    """Rules of one ``.gitignore`` file, in order (the last matching rule wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if raw.endswith("\\ "):
            line = raw[:-2] + " "
        if not line or line.startswith("#"):
            continue
        rules.append(_GitignoreRule(line))
    return rules


def _ignored(stack: list[tuple[str, list[_GitignoreRule]]], path: str, is_dir: bool) -> bool:
    verdict = False
    for base, rules in stack:
        relative = os.path.relpath(path, base).replace(os.sep, "/")
        if relative.startswith(".."):
            continue
        for rule in rules:
            if rule.matches(relative, is_dir):
                verdict = not rule.negate
    return verdict


def _walk(top: str, excluder: Excluder, gitignore: bool = True) -> Iterable[str]:
    stack: list[tuple[str, list[_GitignoreRule]]] = []

    def visit(folder: str) -> Iterable[str]:
        pushed = False
        ignore_file = os.path.join(folder, ".gitignore")
        if gitignore and os.path.isfile(ignore_file):
            try:
                with open(ignore_file, encoding="utf-8", errors="replace") as handle:
                    stack.append((folder, parse_gitignore(handle.read())))
                pushed = True
            except OSError:
                pass
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            path = os.path.join(folder, entry.name)
            is_dir = entry.is_dir(follow_symlinks=False)
            if excluder.excluded(path, top) or _ignored(stack, path, is_dir):
                continue
            if is_dir:
                yield from visit(path)
            elif entry.is_file() and is_candidate(entry.name):
                yield os.path.normpath(path)
        if pushed:
            stack.pop()

    yield from visit(top)


def git(folder: str, *args: str) -> str | None:
    """What ``git -C folder ARGS`` prints, or ``None`` when git is missing or fails (not a work
    tree)."""
    try:
        result = subprocess.run(
            ["git", "-C", folder, *args], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", errors="surrogateescape")


def _git_files(folder: str) -> list[str] | None:
    """Files git would show under ``folder`` (tracked + untracked, not ignored), or ``None``."""
    output = git(folder, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    if output is None:
        return None
    return sorted({n for n in output.split("\0") if n})


def discover(
    paths: Sequence[str],
    excluder: Excluder,
    gitignore: bool = True,
    force_exclude: bool = False,
) -> list[str]:
    """The files to check, in a stable order, without duplicates.

    Args:
        paths: Files and folders from the command line. Files named explicitly are always
            checked (even if ignored); folders are searched.
        excluder: ``exclude`` patterns.
        gitignore: Leave out what ``.gitignore`` excludes (asking git inside a work tree).
        force_exclude: Apply ``exclude`` to files named explicitly too (for pre-commit, which
            names every changed file).

    Returns:
        File paths, spelled relative to how the folder was given (``tests/test_a.py``).
    """
    found: dict[str, None] = {}
    for given in paths:
        if os.path.isfile(given):
            if force_exclude and excluder.excluded(os.path.abspath(given), excluder.root):
                continue
            found[os.path.normpath(given)] = None
            continue
        if not os.path.isdir(given):
            continue
        listed = _git_files(given) if gitignore else None
        if listed is None:
            for path in _walk(os.path.normpath(given), excluder, gitignore):
                found[path] = None
            continue
        for name in listed:
            if not is_candidate(name.rpartition("/")[2]):
                continue
            path = os.path.normpath(os.path.join(given, name))
            if not excluder.excluded(path, given) and os.path.isfile(path):
                found[path] = None
    return list(found)
