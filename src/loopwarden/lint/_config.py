"""Settings of ``loopwarden lint``: ``[tool.loopwarden.lint]`` in ``pyproject.toml`` plus flags.

Precedence: ``--select`` replaces the configured ``select``; ``--ignore`` and ``--exclude`` add to
the configured ``ignore`` and ``exclude``. Unknown keys and unknown codes are usage errors (exit 2)
that name the key or value and list what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALLOWED_KEYS: dict[str, str] = {
    "select": "list of rule codes or prefixes (`LW1`, `ALL`)",
    "extend-select": "list of rule codes or prefixes added to the selection (opt-in rules)",
    "ignore": "list of rule codes or prefixes",
    "exclude": "list of glob patterns",
    "per-file-ignores": "table of glob pattern -> list of codes",
}


class ConfigError(Exception):
    """A usage error in the configuration or on the command line (exit status 2).

    Args:
        message: The full message, naming the key or value and what is allowed.
        key: The offending key, if any.
        value: The offending value, if any.
    """

    def __init__(self, message: str, key: str | None = None, value: object = None) -> None:
        super().__init__(message, key, value)
        self.message = message
        self.key = key
        self.value = value

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class Settings:
    """Resolved settings for one run.

    Attributes:
        codes: The selected rule codes.
        exclude: Glob patterns of files and folders to skip.
        per_file_ignores: ``(glob, codes)`` pairs.
        root: The folder relative paths and ``exclude`` patterns are resolved against.
        config_path: The ``pyproject.toml`` the settings came from, if any.
        ignored: The codes ``ignore`` and ``--ignore`` name (already left out of ``codes``):
            ``loopwarden migrate`` leaves out of its lint rules these, and only these.
    """

    codes: frozenset[str]
    exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    root: str = "."
    config_path: str | None = None
    ignored: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)


def expand_selectors(selectors: Iterable[str], known: Sequence[str], where: str) -> frozenset[str]:
    """Turn codes and prefixes (``LW1``, ``ALL``) into the set of codes they select.

    Args:
        selectors: What the user wrote.
        known: Every rule code.
        where: Where the selectors came from, for the error message (``"--select"``).

    Returns:
        The selected codes.

    Raises:
        ConfigError: A selector matches no rule.
    """
    codes: set[str] = set()
    if where.startswith(("--select", "`select`")) and not any(s.strip() for s in selectors):
        raise ConfigError(
            f"{where} is empty, which would select no rule and report nothing; name codes or "
            f"prefixes (`LW101`, `LW1`, `ALL`), or leave it out to check the default rules",
            key=where,
        )
    for raw in selectors:
        selector = raw.strip().upper()
        if not selector:
            continue
        if selector == "ALL":
            codes.update(known)
            continue
        matched = [c for c in known if c.startswith(selector)]
        if not matched:
            raise ConfigError(
                f"unknown rule code {raw!r} in {where}; known codes: {', '.join(known)} "
                f"(a prefix such as 'LW1' or 'ALL' selects several)",
                key=where,
                value=raw,
            )
        codes.update(matched)
    return frozenset(codes)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` with a ``[tool.loopwarden]`` table.

    Raises:
        ConfigError: A ``pyproject.toml`` on the way mentions ``tool.loopwarden`` but cannot be
            read: its settings would otherwise be silently ignored.
    """
    current = start.resolve()
    for folder in (current, *current.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
                data = tomllib.loads(text)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                try:
                    mentions = "tool.loopwarden" in candidate.read_text(errors="replace")
                except OSError:
                    mentions = False
                if mentions:
                    raise ConfigError(
                        f"{candidate}: cannot read configuration: {error}; fix the file, or "
                        f"run with --isolated to ignore it",
                        key="pyproject.toml",
                    ) from error
                continue
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "loopwarden" in tool:
                return candidate
    return None


def _string_list(value: object, key: str, path: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(
        f"{path}: [tool.loopwarden.lint] `{key}` must be a list of strings, got {value!r}",
        key=key,
        value=value,
    )


def load_settings(
    known: Sequence[str],
    config: str | None = None,
    isolated: bool = False,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    exclude: Sequence[str] = (),
    start: Path | None = None,
    default: Sequence[str] | None = None,
    extend_select: Sequence[str] = (),
) -> Settings:
    """Read ``[tool.loopwarden.lint]`` and merge the command-line flags.

    Args:
        known: Every rule code.
        config: An explicit ``pyproject.toml`` (``--config``).
        isolated: Ignore configuration files (``--isolated``).
        select: ``--select`` values, or ``None`` when not given.
        ignore: ``--ignore`` values.
        exclude: ``--exclude`` values.
        start: Where to look for ``pyproject.toml`` (default: the current folder).
        default: The codes that run when nothing selects (default: all of ``known``).
        extend_select: ``--extend-select`` values: added to the selection.

    Returns:
        The settings for this run.

    Raises:
        ConfigError: An unknown key, a value of the wrong type, or an unknown code.
    """
    table: dict[str, Any] = {}
    path: Path | None = None
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"--config {config}: no such file", key="--config", value=config)
    elif not isolated:
        path = find_pyproject(start or Path.cwd())
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{path}: cannot read configuration: {error}") from error
        tool_table = data.get("tool", {})
        tool = tool_table.get("loopwarden", {}) if isinstance(tool_table, dict) else {}
        if not isinstance(tool, dict):
            raise ConfigError(f"{path}: [tool.loopwarden] must be a table", key="loopwarden")
        table = tool.get("lint", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.loopwarden.lint] must be a table", key="lint")
        for key in table:
            if key not in ALLOWED_KEYS:
                allowed = "; ".join(f"`{k}` ({v})" for k, v in ALLOWED_KEYS.items())
                raise ConfigError(
                    f"{path}: unknown key `{key}` in [tool.loopwarden.lint]; allowed keys: "
                    f"{allowed}",
                    key=key,
                )
    where = f"{path} [tool.loopwarden.lint]" if path is not None else ""
    if select is not None:
        codes = expand_selectors(select, known, "--select")
    elif "select" in table:
        codes = expand_selectors(
            _string_list(table["select"], "select", path or Path()), known, f"`select` of {where}"
        )
    else:
        codes = frozenset(known if default is None else default)
    if extend_select:
        codes |= expand_selectors(extend_select, known, "--extend-select")
    if "extend-select" in table:
        codes |= expand_selectors(
            _string_list(table["extend-select"], "extend-select", path or Path()),
            known,
            f"`extend-select` of {where}",
        )
    ignored = expand_selectors(ignore, known, "--ignore")
    if "ignore" in table:
        ignored |= expand_selectors(
            _string_list(table["ignore"], "ignore", path or Path()), known, f"`ignore` of {where}"
        )
    patterns = list(exclude)
    if "exclude" in table:
        patterns.extend(_string_list(table["exclude"], "exclude", path or Path()))
    per_file: list[tuple[str, frozenset[str]]] = []
    raw_per_file = table.get("per-file-ignores", {})
    if not isinstance(raw_per_file, dict):
        raise ConfigError(
            f"{path}: [tool.loopwarden.lint] `per-file-ignores` must be a table of "
            f"glob = [codes], got {raw_per_file!r}",
            key="per-file-ignores",
            value=raw_per_file,
        )
    for pattern, value in raw_per_file.items():
        per_file.append(
            (
                pattern,
                expand_selectors(
                    _string_list(value, f"per-file-ignores.{pattern}", path or Path()),
                    known,
                    f"`per-file-ignores` of {where}",
                ),
            )
        )
    root = str(path.parent) if path is not None else os.getcwd()
    return Settings(
        codes=codes - ignored,
        exclude=tuple(patterns),
        per_file_ignores=tuple(per_file),
        root=root,
        config_path=str(path) if path is not None else None,
        ignored=ignored,
    )
