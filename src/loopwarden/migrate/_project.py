"""The project around the migrated files: its pytest configuration, its dependency lists, git.

The pytest configuration of each file is found as pytest finds it: from the file's folder upwards,
the first ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml`` with ``[tool.pytest.ini_options]``
(or pytest 9's ``[tool.pytest]``), ``tox.ini`` with ``[pytest]`` or ``setup.cfg`` with
``[tool:pytest]``. Dependency lists and configuration files are read in each folder from the given
paths up to the project root (the first folder with ``.git``, ``pyproject.toml``, ``setup.py``,
``setup.cfg``, ``tox.ini`` or ``pytest.ini``), so ``loopwarden migrate tests/`` still finds the
``pyproject.toml`` that names pytest-asyncio. This part reports; the keys ``--target
pytest-asyncio`` writes are set by ``_config_edit.py``.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from loopwarden.lint._files import git
from loopwarden.migrate._model import Report, Target

CONFIG_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
"""pytest's configuration files, in the order pytest tries them in one folder."""

ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pytest.ini")

ASYNCIO_KEYS = (
    "asyncio_mode",
    "asyncio_default_fixture_loop_scope",
    "asyncio_default_test_loop_scope",
)

_REQUIREMENTS = re.compile(r"(?i)^.*requirements.*\.(?:txt|in)$")
# A requirements-file line for pytest-asyncio (not pytest-asyncio-cooperative): name, then extras,
# a version, a marker, a URL or nothing.
_REQUIREMENT_LINE = re.compile(r"(?i)^pytest[-_.]asyncio\s*(?:[\[<>=!~;@#]|$)")
# A requirement naming pytest-asyncio (any spelling pip accepts), not `pytest_asyncio.plugin` nor
# a comment: `pytest-asyncio>=0.21`, `"pytest_asyncio[testing]"`, poetry's `pytest-asyncio = "^1"`.
_DEPENDENCY = re.compile(
    r"""(?ix)(?:^|["'\s,=(\[])pytest[-_.]asyncio\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;@"',)\]]|$)"""
)
_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*[=:]\s*(.*?)\s*$")
_STRICT_FLAG = re.compile(r"--(asyncio-mode|lw-mode)[= ]+['\"]?(strict|auto)")
_DIRTY_SUFFIXES = (".py", ".ini", ".cfg", ".toml")


@dataclass(slots=True)
class PytestConfig:
    """The pytest configuration that applies to the migrated files.

    Attributes:
        path: Its file, or ``None`` when there is none.
        values: Its keys, as strings.
    """

    path: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    def scope(self, key: str) -> str | None:
        """``asyncio_default_*_loop_scope``, or ``None`` when unset."""
        return self.value(key)

    def value(self, key: str) -> str | None:
        """A key's value as written (no quotes, no inline comment), or ``None`` when unset."""
        return _value(self.values.get(key, "")) or None

    def patterns(self, key: str, *default: str) -> tuple[str, ...]:
        """``python_functions``/``python_classes``: a list of patterns, split as pytest splits
        an ``args`` key (shell words), or ``default`` when unset."""
        raw = self.values.get(key, "")
        try:
            words = shlex.split(raw, comments=True)
        except ValueError:  # an unbalanced quote: pytest fails on it, we go by the words
            words = raw.split()
        return tuple(words) or default

    def suite(self) -> tuple[str, ...]:
        """The folders holding the tests pytest runs by default, absolute: ``testpaths`` (a
        glob's folder up to its first wildcard), else the configuration's folder; empty without
        a configuration file."""
        if self.path is None:
            return ()
        root = os.path.dirname(os.path.abspath(self.path))
        folders = []
        for entry in self.patterns("testpaths"):
            wild = re.search(r"[*?\[]", entry)
            if wild:
                entry = os.path.dirname(entry[: wild.start()])
            folders.append(os.path.normpath(os.path.join(root, entry)))
        return tuple(folders) or (root,)

    @property
    def strict(self) -> bool:
        """Whether the own runner would run only marked tests (``loopwarden_mode``, else
        ``asyncio_mode``, also given in ``addopts``): then the markers must stay."""
        mode = _value(self.values.get("loopwarden_mode", ""))
        addopts = self.values.get("addopts", "")
        flags = {m.group(1): m.group(2) for m in _STRICT_FLAG.finditer(addopts)}
        mode = flags.get("lw-mode") or mode
        if not mode:
            mode = flags.get("asyncio-mode") or _value(self.values.get("asyncio_mode", ""))
        return mode == "strict"

    @property
    def pytest_asyncio_strict(self) -> bool:
        """Whether pytest-asyncio would run in strict mode (``asyncio_mode``, also given in
        ``addopts``; its default is strict): then it runs only marked tests and the async
        fixtures under its own decorator."""
        addopts = self.values.get("addopts", "")
        flags = {m.group(1): m.group(2) for m in _STRICT_FLAG.finditer(addopts)}
        mode = flags.get("asyncio-mode") or _value(self.values.get("asyncio_mode", ""))
        return mode != "auto"


def _pytest_section(path: str) -> dict[str, str] | None:
    """The pytest keys of one configuration file, or ``None`` when it has no pytest section."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    if name == "pyproject.toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None
        tool = data.get("tool", {})
        table = tool.get("pytest") if isinstance(tool, dict) else None
        if not isinstance(table, dict):
            return None
        if isinstance(table.get("ini_options"), dict):
            table = table["ini_options"]
        return {
            str(k): " ".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in table.items()
        }
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path)
    except configparser.Error:
        return {} if name in ("pytest.ini", ".pytest.ini") else None
    section = "tool:pytest" if name == "setup.cfg" else "pytest"
    if not parser.has_section(section):
        return {} if name in ("pytest.ini", ".pytest.ini") else None
    return dict(parser.items(section))


def find_pytest_config(paths: Sequence[str]) -> PytestConfig:
    """The configuration pytest would use when run on ``paths`` (from their common folder up).

    Args:
        paths: The paths given on the command line.

    Returns:
        The configuration, empty when none is found.
    """
    folders = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".") for p in paths]
    folder = os.path.commonpath(folders) if folders else os.getcwd()
    while True:
        for name in CONFIG_NAMES:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                values = _pytest_section(candidate)
                if values is not None:
                    return PytestConfig(candidate, values)
        parent = os.path.dirname(folder)
        if parent == folder:
            return PytestConfig()
        folder = parent


class Configs:
    """The pytest configuration of each file: a tree can hold several pytest projects (an
    ``examples/`` folder with its own ``pytest.ini``). Found once per folder."""

    def __init__(self) -> None:
        self._by_folder: dict[str, PytestConfig] = {}

    def of(self, path: str) -> PytestConfig:
        """The configuration pytest would use for the file ``path``."""
        folder = os.path.dirname(os.path.abspath(path))
        config = self._by_folder.get(folder)
        if config is None:
            config = self._by_folder[folder] = find_pytest_config([folder])
        return config


def _is_requirements(path: str) -> bool:
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    return bool(_REQUIREMENTS.match(name)) or (
        parent == "requirements" and name.endswith((".txt", ".in"))
    )


def is_project_file(path: str) -> bool:
    """Whether ``path`` is a configuration file or a dependency list this part reads."""
    return os.path.basename(path) in CONFIG_NAMES or _is_requirements(path)


def _folder_files(folder: str) -> Iterable[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and is_project_file(path):
            yield path
    nested = os.path.join(folder, "requirements")
    if os.path.isdir(nested):
        for name in sorted(os.listdir(nested)):
            path = os.path.join(nested, name)
            if os.path.isfile(path) and _is_requirements(path):
                yield path


def project_files(paths: Sequence[str], found: Iterable[str]) -> list[str]:
    """Configuration files and dependency lists to read, each once, in a stable order.

    Args:
        paths: The paths given on the command line.
        found: Files discovered under them (those that are project files are kept).

    Returns:
        Paths, relative to the current folder where they are inside it.
    """
    seen: dict[str, str] = {}

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen[real] = display(path)

    for path in found:
        if is_project_file(path):
            add(path)
    for given in paths:
        folder = os.path.abspath(given if os.path.isdir(given) else os.path.dirname(given) or ".")
        while True:
            for path in _folder_files(folder):
                add(path)
            if _top(folder):
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return sorted(seen.values())


def _top(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, m)) for m in ROOT_MARKERS)


def outer_conftests(paths: Sequence[str], found: Iterable[str]) -> list[str]:
    """The ``conftest.py`` files above the given paths, up to the project's top folder.

    pytest loads them for the tests given (``migrate tests/unit`` runs under ``tests/conftest.py``),
    so a fixture there that asks for ``event_loop`` is part of what has to migrate.

    Args:
        paths: The paths given on the command line.
        found: Files discovered under them (not returned again).

    Returns:
        Paths, spelled as ``display`` spells them, in a stable order.
    """
    seen = {os.path.realpath(path) for path in found}
    extra: dict[str, str] = {}
    for given in paths:
        folder = os.path.abspath(given)
        if os.path.isdir(folder) and _top(folder):
            continue
        while True:
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
            candidate = os.path.join(folder, "conftest.py")
            real = os.path.realpath(candidate)
            if os.path.isfile(candidate) and real not in seen:
                extra.setdefault(real, display(candidate))
            if _top(folder):
                break
    return sorted(extra.values())


def display(path: str) -> str:
    """``path`` relative to the current folder when it is inside it, else absolute."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return os.path.abspath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def _value(raw: str) -> str:
    """A key's value as written, without quotes or an inline comment (``"auto"  # why``)."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    return re.split(r"\s[#;]", raw, maxsplit=1)[0].strip()


def _is_pytest_section(file_name: str, section: str) -> bool:
    if file_name == "pyproject.toml":
        return section in ("tool.pytest.ini_options", "tool.pytest")
    if file_name == "setup.cfg":
        return section == "tool:pytest"
    return section == "pytest"


def _key_report(
    path: str, line: int, key: str, value: str, config: PytestConfig, target: Target
) -> Report | None:
    if target != "loopwarden":
        return None
    if key == "asyncio_mode" and value == "strict" and config.strict:
        return Report(
            path,
            line,
            "asyncio_mode = strict: loopwarden's own runner honours it and runs only tests "
            "marked @pytest.mark.asyncio, so migrate kept those markers; delete the key "
            "(loopwarden's default is auto: every async test runs) and run loopwarden migrate "
            "again to drop them",
        )
    if key == "asyncio_mode":
        return Report(
            path,
            line,
            f"asyncio_mode = {value}: loopwarden's own runner reads it when loopwarden_mode is "
            "unset, so it can stay; delete it or write loopwarden_mode instead once "
            "pytest-asyncio is gone",
            person=False,
        )
    return Report(
        path,
        line,
        f"{key} = {value}: loopwarden's own runner honours it (with either "
        "asyncio_default_*_loop_scope set, tests and fixtures get loops of those scopes, as "
        "under pytest-asyncio); delete both keys for loopwarden's default, one loop for the "
        "session, or set loopwarden_loop",
        person=False,
    )


def _dependency_report(path: str, line: int) -> Report:
    return Report(
        path,
        line,
        "pytest-asyncio is no longer needed with --target loopwarden; remove it (or keep it "
        "and run with -p no:asyncio)",
    )


def scan_project_file(path: str, config: PytestConfig, target: Target) -> list[Report]:
    """Reports for one configuration file or dependency list (nothing is changed).

    Args:
        path: The file.
        config: The pytest configuration in force (decides what ``asyncio_mode`` means here).
        target: The ``--target``.

    Returns:
        Dependency lines naming pytest-asyncio, and pytest-asyncio's keys in pytest sections.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    name = os.path.basename(path)
    requirements = _is_requirements(path)
    reports: list[Report] = []
    section = ""
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if requirements:
            if target == "loopwarden" and _REQUIREMENT_LINE.match(stripped):
                reports.append(_dependency_report(path, number))
            continue
        header = None if text[:1].isspace() else _SECTION.match(text)
        if header:
            section = header.group(1).strip().strip("\"'")
            continue
        if _is_pytest_section(name, section):
            key = _KEY.match(text)
            if key and key.group(1) in ASYNCIO_KEYS:
                value = _value(key.group(2))
                report = _key_report(path, number, key.group(1), value, config, target)
                if report is not None:
                    reports.append(report)
                continue
            if key and key.group(1) == "addopts" and "--asyncio-mode" in text:
                flag = _STRICT_FLAG.search(text)
                value = flag.group(2) if flag else ""
                report = _key_report(path, number, "asyncio_mode", value, config, target)
                if report is not None:
                    reports.append(report)
                continue
        if target == "loopwarden" and name != "pytest.ini" and _DEPENDENCY.search(text):
            reports.append(_dependency_report(path, number))
    return reports


def git_dirty(paths: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Git work trees holding ``paths`` that have uncommitted ``.py``/``.ini``/``.cfg``/``.toml``
    changes (untracked files included), with those files.

    Outside a work tree, or without a ``git`` binary, there is nothing to say.

    Args:
        paths: The paths given on the command line.

    Returns:
        ``(work tree, [changed files relative to it])`` for each dirty work tree.
    """
    tops: dict[str, None] = {}
    for given in paths:
        folder = given if os.path.isdir(given) else os.path.dirname(given) or "."
        top = git(folder, "rev-parse", "--show-toplevel")
        if top is not None and top.strip():
            tops[top.strip()] = None
    found = []
    for top in tops:
        status = git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all")
        if status is None:
            continue
        changed = []
        entries = iter(status.split("\0"))
        for entry in entries:
            if len(entry) < 4:
                continue
            code, name = entry[:2], entry[3:]
            if "R" in code or "C" in code:
                next(entries, None)  # the old name of a rename or copy
            if name.endswith(_DIRTY_SUFFIXES):
                changed.append(name)
        if changed:
            found.append((top, changed))
    return found
