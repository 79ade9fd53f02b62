"""loopwarden's settings: each an ini key ``loopwarden_<name>`` and a flag ``--lw-<name>``.

A flag beats the ini key, which beats the default. Values are validated at configure time; a bad
one is a :class:`pytest.UsageError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Setting:
    """One setting: its name, help, allowed values (None: any) and default."""

    name: str
    help: str
    default: str
    choices: tuple[str, ...] | None = None
    convert: Callable[[str], object] | None = None

    @property
    def ini(self) -> str:
        return f"loopwarden_{self.name}"

    @property
    def flag(self) -> str:
        return "--lw-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return f"lw_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mode",
        "which async tests loopwarden runs: auto (every 'async def' test and fixture) or strict "
        "(only tests marked asyncio/loopwarden)",
        "auto",
        ("auto", "strict"),
    ),
    Setting(
        "loop",
        "which loop async tests and fixtures share: session (one per session and xdist worker) or "
        "test (a fresh loop per test; wider fixtures keep their own)",
        "session",
        ("session", "test"),
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}

# pytest-asyncio's settings, accepted (and honoured) when pytest-asyncio itself is not active so
# that a suite can switch runners without edits.
ASYNCIO_SCOPES = ("function", "class", "module", "package", "session")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("loopwarden", "loopwarden: asyncio tests you can trust")
    for setting in SETTINGS:
        allowed = f" ({'|'.join(setting.choices)})" if setting.choices else ""
        group.addoption(
            setting.flag,
            dest=setting.dest,
            default=None,
            metavar=setting.name.upper(),
            help=f"{setting.help}{allowed}; default: {setting.default}. Ini: {setting.ini}.",
        )
        parser.addini(setting.ini, f"{setting.help}{allowed}.", default="")


def add_asyncio_compat_options(parser: pytest.Parser) -> None:
    """Register pytest-asyncio's ini keys and flag for a suite moving over from it."""
    parser.addini(
        "asyncio_mode",
        "pytest-asyncio compatibility (read by loopwarden): auto|strict; loopwarden_mode wins",
        default="",
    )
    parser.addini(
        "asyncio_default_fixture_loop_scope",
        "pytest-asyncio compatibility (read by loopwarden): default loop scope of async fixtures",
        default="",
    )
    parser.addini(
        "asyncio_default_test_loop_scope",
        "pytest-asyncio compatibility (read by loopwarden): default loop scope of async tests",
        default="",
    )
    parser.addini(
        "asyncio_debug",
        "pytest-asyncio compatibility (read by loopwarden): run loops in asyncio debug mode",
        type="bool",
        default=False,
    )
    group = parser.getgroup("loopwarden")
    group.addoption(
        "--asyncio-mode",
        dest="lw_asyncio_mode",
        default=None,
        metavar="MODE",
        help="pytest-asyncio compatibility: same as --lw-mode",
    )
    group.addoption(
        "--asyncio-debug",
        dest="lw_asyncio_debug",
        action="store_true",
        default=False,
        help="pytest-asyncio compatibility: run loops in asyncio debug mode",
    )


@dataclass(frozen=True)
class Value:
    """A setting's effective value and where it came from (for messages and the header)."""

    value: str
    source: str

    @property
    def explicit(self) -> bool:
        return self.source != "default"


def _check(key: str, value: str, choices: tuple[str, ...] | None) -> str:
    value = value.strip()
    if choices is not None and value not in choices:
        raise pytest.UsageError(
            f"loopwarden: {key} = {value!r} is not valid; allowed values: {', '.join(choices)}."
        )
    return value


def read(config: pytest.Config, name: str) -> Value:
    """The effective value of setting ``name``, validated."""
    setting = BY_NAME[name]
    flag_value = config.getoption(setting.dest, None)
    if flag_value is not None:
        return Value(_check(setting.flag, flag_value, setting.choices), setting.flag)
    ini_value = config.getini(setting.ini)
    if ini_value:
        return Value(_check(setting.ini, str(ini_value), setting.choices), setting.ini)
    return Value(setting.default, "default")


def read_asyncio_scope(config: pytest.Config, key: str) -> str | None:
    """An explicitly set pytest-asyncio loop scope key, validated; None when unset."""
    raw = str(config.getini(key) or "")
    if not raw:
        return None
    allowed = (*ASYNCIO_SCOPES, "fixture-scope") if "fixture" in key else ASYNCIO_SCOPES
    return _check(key, raw, allowed)
