"""Setting keys in a pytest configuration file, keeping everything else as it was written.

``pyproject.toml`` is edited with tomlkit (its ``[tool.pytest.ini_options]`` table, or pytest 9's
``[tool.pytest]``), ``pytest.ini``, ``tox.ini`` and ``setup.cfg`` with configupdater: comments,
order, quoting and blank lines stay; a new key goes at the end of the pytest section. Both
libraries are imported only when a file is edited.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class ConfigEditError(Exception):
    """The file cannot be edited safely (it does not parse, or has no pytest section)."""


def set_keys(path: str, text: str, keys: Mapping[str, str]) -> str:
    """``text`` (the content of the configuration file ``path``) with ``keys`` set in its pytest
    section.

    Raises:
        ConfigEditError: when the file does not parse or has no pytest section.
    """
    if os.path.basename(path) == "pyproject.toml":
        return _set_toml(text, keys)
    return _set_ini(os.path.basename(path), text, keys)


def _set_toml(text: str, keys: Mapping[str, str]) -> str:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(text)
    except TOMLKitError as error:
        raise ConfigEditError(f"it does not parse as TOML ({error})") from None
    tool = document.get("tool")
    table = tool.get("pytest") if isinstance(tool, Mapping) else None
    if not isinstance(table, Mapping):
        raise ConfigEditError("it has no [tool.pytest.ini_options] table")
    options = table.get("ini_options")
    target = options if isinstance(options, Mapping) else table
    for key, value in keys.items():
        target[key] = value  # type: ignore[index]
    return tomlkit.dumps(document)


def _set_ini(name: str, text: str, keys: Mapping[str, str]) -> str:
    from configupdater import ConfigUpdater
    from configupdater.parser import ParsingError

    updater = ConfigUpdater()
    try:
        updater.read_string(text)
    except (ParsingError, ValueError) as error:
        raise ConfigEditError(f"it does not parse as an INI file ({error})") from None
    section = "tool:pytest" if name == "setup.cfg" else "pytest"
    if not updater.has_section(section):
        raise ConfigEditError(f"it has no [{section}] section")
    found = updater[section]
    new = {}
    for key, value in keys.items():
        if key in found:
            found[key].value = value
        else:
            new[key] = value
    options = list(found.iter_options())
    if new and options:
        # Right after the section's last key: before the blank lines that end the section.
        builder = options[-1].add_after
        for key, value in new.items():
            builder = builder.option(key, value)
    else:
        for key, value in new.items():
            found.set(key, value)
    return str(updater)
