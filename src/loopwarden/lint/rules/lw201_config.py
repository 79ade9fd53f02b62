"""LW201: deprecated, unknown or conflicting async settings in pytest's configuration files.

Checked files: ``pytest.ini`` (``[pytest]``), ``pyproject.toml`` (``[tool.pytest.ini_options]``
and pytest 9's ``[tool.pytest]``), ``setup.cfg`` (``[tool:pytest]``) and ``tox.ini``
(``[pytest]``).
"""

from __future__ import annotations

import configparser
import os
import re
import tomllib
from typing import Any

from loopwarden.lint._model import Finding, RuleInfo, headline
from loopwarden.lint._project import project_of

INFO = RuleInfo(
    code="LW201",
    name="async-config",
    summary="deprecated, unknown or conflicting async settings in pytest configuration",
)

CONFIG_FILES = frozenset({"pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"})

_SCOPES = ("function", "class", "module", "package", "session")
KNOWN_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "asyncio_mode": ("auto", "strict"),
    "asyncio_default_fixture_loop_scope": (*_SCOPES, "fixture-scope"),
    "asyncio_default_test_loop_scope": _SCOPES,
    "asyncio_debug": None,
    "anyio_mode": ("auto", "strict"),
}
_PREFIXES = ("asyncio_", "anyio_")


def _ini_section(path: str) -> str:
    base = os.path.basename(path)
    return "tool:pytest" if base == "setup.cfg" else "pytest"


def _read_options(path: str, text: str) -> tuple[dict[str, str], str] | None:
    """The pytest options of a config file and the header of their section, or ``None``."""
    base = os.path.basename(path)
    if base == "pyproject.toml":
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None
        pytest_table = data.get("tool", {}).get("pytest", {})
        if not isinstance(pytest_table, dict):
            return None
        if isinstance(pytest_table.get("ini_options"), dict):
            options = pytest_table["ini_options"]
            header = "tool.pytest.ini_options"
        else:
            options = {k: v for k, v in pytest_table.items() if not isinstance(v, dict)}
            header = "tool.pytest"
        return {str(k): str(v) for k, v in options.items()}, header
    # pytest (iniconfig) strips inline comments too.
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        parser.read_string(text, source=path)
    except configparser.Error:
        return None
    section = _ini_section(path)
    if not parser.has_section(section):
        return None
    return {k: v.strip() for k, v in parser.items(section)}, section


def _line_of(text: str, header: str, key: str) -> int:
    """The 1-based line where ``key`` is set inside section ``header`` (best effort)."""
    in_section = False
    wanted = re.compile(rf"^\s*{re.escape(key)}\s*[=:]")
    headers = {f"[{header}]", f"[{header}]".replace(" ", "")}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_section = stripped.replace(" ", "") in headers
            continue
        if in_section and wanted.match(line):
            return number
    return _header_line(text, header)


def _header_line(text: str, header: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().replace(" ", "") == f"[{header}]":
            return number
    return 1


def _warns_unset_scope(path: str) -> bool:
    """Whether the project may run a pytest-asyncio that warns of an unset fixture loop scope
    (0.24 and later): one pinned earlier never sees the warning."""
    project = project_of(path)
    return project is None or any(
        project.allows("pytest-asyncio", v) for v in ("0.24.0", "0.25.0", "0.26.0", "1.0.0", "99")
    )


def check_config(path: str, text: str) -> list[Finding]:
    """Check one configuration file.

    Args:
        path: The file's path (its base name selects the format).
        text: Its content.

    Returns:
        LW201 findings, one per problem.
    """
    read = _read_options(path, text)
    if read is None:
        return []
    options, header = read
    findings: list[Finding] = []

    def report(key: str | None, message: str) -> None:
        line = _line_of(text, header, key) if key else _header_line(text, header)
        findings.append(
            Finding(path, line, 1, line, 1, INFO.code, headline(message), explanation=message)
        )

    for key, value in options.items():
        value = value.strip().strip("\"'")
        if key.startswith(_PREFIXES) and key not in KNOWN_OPTIONS:
            known = ", ".join(k for k in KNOWN_OPTIONS if k.startswith(key.split("_")[0]))
            report(
                key,
                f'unknown option `{key}`: pytest ignores it with "PytestConfigWarning: Unknown '
                f'config option: {key}" and the setting has no effect; known options: {known}',
            )
            continue
        allowed = KNOWN_OPTIONS.get(key)
        if allowed is not None and value not in allowed:
            hint = ""
            if key == "asyncio_mode" and value == "legacy":
                hint = " (`legacy` mode was removed in pytest-asyncio 0.17)"
            report(
                key,
                f"`{key} = {value}` is not valid{hint}: pytest-asyncio stops with a usage error; "
                f"allowed values: {', '.join(allowed)}",
            )
    mode = options.get("asyncio_mode", "").strip("\"'")
    # Any pytest-asyncio option says the suite runs under pytest-asyncio (strict mode is its
    # default, so `asyncio_mode` itself is often left out).
    uses_asyncio = [k for k in options if k in KNOWN_OPTIONS and k.startswith("asyncio_")]
    if (
        uses_asyncio
        and "asyncio_default_fixture_loop_scope" not in options
        and _warns_unset_scope(path)
    ):
        report(
            "asyncio_mode" if mode else uses_asyncio[0],
            '`asyncio_default_fixture_loop_scope` is unset: pytest-asyncio warns "The '
            'configuration option "asyncio_default_fixture_loop_scope" is unset" on every run '
            "and its future default differs from today's; set it, e.g. "
            "`asyncio_default_fixture_loop_scope = function`",
        )
    if mode == "auto" and options.get("anyio_mode", "").strip("\"'") == "auto":
        report(
            "anyio_mode",
            "`asyncio_mode = auto` and `anyio_mode = auto` both claim every async test: each test "
            'is run by one plugin or the other depending on plugin order ("AnyIO auto mode has '
            'been enabled together with pytest-asyncio auto mode"); keep one in auto mode and '
            "mark the others' tests explicitly",
        )
    return findings
