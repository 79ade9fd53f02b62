"""What a linted file's project declares about the libraries a rule speaks of.

A rule's message is only true for the versions the project runs on: "pytest-asyncio 1.0 removed
the ``event_loop`` fixture" is a finding in a suite that may get pytest-asyncio 1.x, and a false
alarm in one that pins 0.21 (where the fixture works) or in pytest-asyncio's own tests of it.

The project is the nearest folder at or above the file with ``pyproject.toml`` (PEP 621
``[project]``, PEP 735 ``[dependency-groups]``, Poetry's tables), ``setup.cfg`` (``[metadata]``,
``[options]``) or ``PKG-INFO`` (an unpacked sdist), with the requirements files next to them.
What none of them says — a ``setup.py``, tox's ``deps`` — is unknown, and an unknown version
allows every version.
"""

from __future__ import annotations

import configparser
import email.parser
import os
import re
import tomllib
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

_FILES = ("pyproject.toml", "setup.cfg", "PKG-INFO")
# Requirements files read next to them: ``requirements*.txt``, ``*requirements.txt`` and the
# ``.txt`` files of a ``requirements/`` folder (options and ``-r`` includes are not followed).
_REQUIREMENTS = re.compile(r"^(requirements[\w.-]*|[\w.-]*requirements)\.txt$")


class Project:
    """One project's name and its declared requirements, by canonical distribution name."""

    __slots__ = ("name", "requirements", "root", "version")

    def __init__(
        self, root: str, name: str | None, version: str | None, requirements: list[str]
    ) -> None:
        self.root = root
        self.name = canonicalize_name(name) if name else None
        self.version = version
        self.requirements: dict[str, list[SpecifierSet]] = {}
        for text in requirements:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            specs = self.requirements.setdefault(canonicalize_name(requirement.name), [])
            specs.append(requirement.specifier)

    def allows(self, distribution: str, version: str) -> bool:
        """Whether the project may run on ``version`` of ``distribution`` (True when unknown).

        The project itself is at its own version; a distribution declared in several places
        (dependencies, extras, groups) may be at what any of them allows.
        """
        name = canonicalize_name(distribution)
        if name == self.name and self.version:
            return self.version == version or _same_release(self.version, version)
        specs = self.requirements.get(name)
        if not specs:
            return True
        return any(spec.contains(version, prereleases=True) for spec in specs)


def _same_release(a: str, b: str) -> bool:
    return a.split("+")[0] == b


_CACHE: dict[str, Project | None] = {}


def project_of(path: str) -> Project | None:
    """The project ``path`` belongs to, or None when no folder above it describes one."""
    folder = os.path.dirname(os.path.abspath(path))
    seen: list[str] = []
    found: Project | None = None
    while True:
        if folder in _CACHE:
            found = _CACHE[folder]
            break
        seen.append(folder)
        names = [n for n in _FILES if os.path.isfile(os.path.join(folder, n))]
        if names or _requirements_files(folder):
            found = _read(folder, names)
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for folder in seen:
        _CACHE[folder] = found
    return found


def _read(folder: str, names: list[str]) -> Project | None:
    name: str | None = None
    version: str | None = None
    requirements: list[str] = []
    for file_name in names:
        path = os.path.join(folder, file_name)
        try:
            if file_name == "pyproject.toml":
                n, v, r = _pyproject(path)
            elif file_name == "setup.cfg":
                n, v, r = _setup_cfg(path)
            else:
                n, v, r = _pkg_info(path)
        except (OSError, ValueError, UnicodeDecodeError, configparser.Error):
            continue  # an unreadable file tells nothing: what it would declare stays unknown
        name = name or n
        version = version or v
        requirements.extend(r)
    for path in _requirements_files(folder):
        try:
            with open(path, encoding="utf-8") as handle:
                requirements += _requirement_lines(handle.read())
        except (OSError, UnicodeDecodeError):
            continue
    return Project(folder, name, version, requirements)


def _requirements_files(folder: str) -> list[str]:
    found = []
    try:
        for entry in sorted(os.listdir(folder)):
            if _REQUIREMENTS.match(entry):
                found.append(os.path.join(folder, entry))
        sub = os.path.join(folder, "requirements")
        if os.path.isdir(sub):
            found += [os.path.join(sub, e) for e in sorted(os.listdir(sub)) if e.endswith(".txt")]
    except OSError:
        pass
    return found


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines


def _pyproject(path: str) -> tuple[str | None, str | None, list[str]]:
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    project = _table(data.get("project"))
    requirements = _strings(project.get("dependencies"))
    for extra in _table(project.get("optional-dependencies")).values():
        requirements += _strings(extra)
    for group in _table(data.get("dependency-groups")).values():
        requirements += _strings(group)  # (an include-group table is not a string: skipped)
    poetry = _table(_table(data.get("tool")).get("poetry"))
    tables = [_table(poetry.get("dependencies")), _table(poetry.get("dev-dependencies"))]
    tables += [_table(g.get("dependencies")) for g in _tables(poetry.get("group"))]
    for table in tables:
        for dist, spec in table.items():
            converted = _poetry(dist, spec)
            if converted is not None:
                requirements.append(converted)
    name = project.get("name") or poetry.get("name")
    version = project.get("version") or poetry.get("version")
    return (
        name if isinstance(name, str) else None,
        version if isinstance(version, str) else None,
        requirements,
    )


def _setup_cfg(path: str) -> tuple[str | None, str | None, list[str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    requirements = _lines(parser.get("options", "install_requires", fallback=""))
    if parser.has_section("options.extras_require"):
        for _, value in parser.items("options.extras_require"):
            requirements += _lines(value)
    name = parser.get("metadata", "name", fallback=None)
    version = parser.get("metadata", "version", fallback=None)
    if version is not None and version.startswith(("attr:", "file:")):
        version = None
    return name, version, requirements


def _pkg_info(path: str) -> tuple[str | None, str | None, list[str]]:
    with open(path, encoding="utf-8") as handle:
        message = email.parser.Parser().parse(handle, headersonly=True)
    return message.get("Name"), message.get("Version"), message.get_all("Requires-Dist") or []


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tables(value: object) -> list[dict[str, Any]]:
    return [v for v in _table(value).values() if isinstance(v, dict)]


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


_POETRY = re.compile(r"^\s*([\^~])\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$")


def _poetry(dist: str, spec: object) -> str | None:
    """Poetry's ``"^0.21"``/``"~0.21.1"``/``">=0.21,<1"`` as a PEP 508 requirement."""
    if isinstance(spec, dict):
        spec = spec.get("version")
    if not isinstance(spec, str) or dist == "python":
        return None
    spec = spec.strip()
    if spec in ("", "*"):
        return dist
    match = _POETRY.match(spec)
    if match is None:
        try:
            return f"{dist}{SpecifierSet(spec)}"
        except InvalidSpecifier:
            return None
    kind, major, minor, patch = match.group(1), int(match.group(2)), match.group(3), match.group(4)
    parts = [major, int(minor or 0), int(patch or 0)]
    low = ".".join(str(p) for p in parts)
    if kind == "^":
        # The left-most non-zero part may not change: ^1.2 -> <2, ^0.21 -> <0.22, ^0.0.3 -> <0.0.4.
        given = 1 + (minor is not None) + (patch is not None)
        index = next((i for i, p in enumerate(parts[:given]) if p != 0), given - 1)
    else:
        # ~1.2.3 -> <1.3, ~1.2 -> <1.3, ~1 -> <2.
        index = 0 if minor is None else 1
    high = parts[: index + 1]
    high[index] += 1
    return f"{dist}>={low},<{'.'.join(str(p) for p in high)}"
