"""loopwarden's settings: each an ini key ``loopwarden_<name>`` and a flag ``--lw-<name>``.

A flag beats the ini key, which beats the default. Values are validated at configure time; a bad
one is a :class:`pytest.UsageError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal, cast

import pytest

from loopwarden._core._records import Record


class Setting(Record):
    """One setting: its name, help, allowed values (None: any) and default."""

    name: str
    help: str
    default: str
    choices: tuple[str, ...] | None
    # Checks and converts a raw value; raises ValueError with the reason when it is not valid.
    convert: Callable[[str], object] | None
    boolean: bool
    metavar: str | None
    _fields = ("name", "help", "default", "choices", "convert", "boolean", "metavar")

    def __init__(
        self,
        name: str,
        help: str,
        default: str,
        choices: tuple[str, ...] | None = None,
        convert: Callable[[str], object] | None = None,
        boolean: bool = False,
        metavar: str | None = None,
    ) -> None:
        self.name = name
        self.help = help
        self.default = default
        self.choices = choices
        self.convert = convert
        self.boolean = boolean
        self.metavar = metavar

    @property
    def ini(self) -> str:
        return f"loopwarden_{self.name}"

    @property
    def flag(self) -> str:
        return "--lw-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return f"lw_{self.name}"


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds, e.g. 30 or 0.5 (0 turns it off)") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError("expected a number of seconds >= 0 (0 turns it off)")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected a whole number, e.g. 50 (0 turns it off)") from None
    if value < 0:
        raise ValueError("expected a whole number >= 0 (0 turns it off)")
    return value


def _seed(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("expected the whole-number seed a fuzz report printed") from None
    if value < 0:
        raise ValueError("expected a seed >= 0, as a fuzz report prints it")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected on or off (or true, false)")


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
    Setting(
        "leaks",
        "what to do when a test leaves tasks, timers, threads, transports or unhandled errors "
        "behind: error (fail the test at teardown), warn, or off",
        "error",
        ("error", "warn", "off"),
    ),
    Setting(
        "leaks_stacks",
        "record the full creation stack of every task, timer and resource and show it in leak "
        "reports (slower)",
        "false",
        convert=_boolean,
        boolean=True,
    ),
    Setting(
        "leaks_baseline",
        "a baseline file of known leaks: recorded when the file does not exist, honoured (those "
        "leaks only warn) when it does",
        "",
        metavar="FILE",
    ),
    Setting(
        "timeout",
        "seconds a test's setup, call or teardown may take before loopwarden reports every "
        "task's stuck await and fails the test; 0 turns the watchdog off",
        "60",
        convert=_seconds,
        metavar="SECONDS",
    ),
    Setting(
        "blocking",
        "seconds one event loop iteration may run before it is reported as a blocking call "
        "(with the line that blocked); 0 turns the check off",
        "0.25",
        convert=_seconds,
        metavar="SECONDS",
    ),
    Setting(
        "blocking_action",
        "what a blocking call does: warn or error (fail the test)",
        "warn",
        ("warn", "error"),
    ),
    Setting(
        "virtual_time",
        "run every async test and its fixtures in virtual time: the loop's clock jumps to the "
        "next timer whenever the loop is quiet (per test: @pytest.mark.loopwarden("
        "virtual_time=True), or the clock fixture)",
        "off",
        convert=_boolean,
        boolean=True,
    ),
    Setting(
        "virtual_monotonic",
        "while a test runs in virtual time, make time.monotonic() read the loop's clock (for "
        "code that mixes it with loop.time()); per test: @pytest.mark.loopwarden(monotonic=True)",
        "false",
        convert=_boolean,
        boolean=True,
    ),
    Setting(
        "virtual_peer_wait",
        "in virtual time, real seconds a request sent to a server outside the loop (another "
        "process, a thread's socket) holds the clock while its answer is awaited; after that "
        "the server is taken to be silent on purpose and the clock moves on. 0: never wait",
        "1",
        convert=_seconds,
        metavar="SECONDS",
    ),
    Setting(
        "fuzz_runs",
        "run each async test this many times, the first in FIFO order, the others under seeded "
        "random schedules, to expose order-dependent tests (per test: "
        "@pytest.mark.loopwarden(fuzz=N)); 0 turns it off",
        "0",
        convert=_count,
        metavar="N",
    ),
    Setting(
        "fuzz_seed",
        "run each selected async test once, under the schedule of this seed (from a fuzz report)",
        "",
        convert=_seed,
        metavar="SEED",
    ),
    Setting(
        "report",
        "write every finding of the run, per test, as JSON to this file",
        "",
        metavar="PATH",
    ),
    Setting(
        "db_url",
        "the database of the db_engine/db_session fixtures: empty for an SQLite file in a temp "
        "dir, 'postgresql' for a throwaway PostgreSQL server started from the system's "
        "binaries, or a SQLAlchemy URL of a server you run",
        "",
        metavar="URL",
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
        default = f"; default: {setting.default}" if setting.default else ""
        if setting.boolean:
            group.addoption(
                setting.flag,
                dest=setting.dest,
                action="store_const",
                const="true",
                default=None,
                help=f"{setting.help}. Ini: {setting.ini} = true.",
            )
        else:
            group.addoption(
                setting.flag,
                dest=setting.dest,
                default=None,
                metavar=setting.metavar or setting.name.split("_")[-1].upper(),
                help=f"{setting.help}{allowed}{default}. Ini: {setting.ini}.",
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
        dest="asyncio_mode",  # pytest-asyncio's name: plugins read it (pytest-aiohttp)
        default=None,
        metavar="MODE",
        help="pytest-asyncio compatibility: same as --lw-mode",
    )
    group.addoption(
        "--asyncio-debug",
        dest="asyncio_debug",
        action="store_true",
        default=False,
        help="pytest-asyncio compatibility: run loops in asyncio debug mode",
    )


class Value(Record):
    """A setting's effective value and where it came from (for messages and the header)."""

    value: str
    source: str
    _fields = ("value", "source")

    def __init__(self, value: str, source: str) -> None:
        self.value = value
        self.source = source

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


def _converted(key: str, value: str, setting: Setting) -> str:
    if setting.convert is not None:
        try:
            setting.convert(value)
        except ValueError as exc:
            raise pytest.UsageError(f"loopwarden: {key} = {value!r} is not valid; {exc}.") from None
    return value


def read(config: pytest.Config, name: str) -> Value:
    """The effective value of setting ``name``, validated."""
    setting = BY_NAME[name]
    flag_value = config.getoption(setting.dest, None)
    if flag_value is not None:
        value = _check(setting.flag, flag_value, setting.choices)
        return Value(_converted(setting.flag, value, setting), setting.flag)
    ini_value = config.getini(setting.ini)
    if ini_value:
        value = _check(setting.ini, str(ini_value), setting.choices)
        return Value(_converted(setting.ini, value, setting), setting.ini)
    return Value(setting.default, "default")


def read_asyncio_scope(config: pytest.Config, key: str) -> str | None:
    """An explicitly set pytest-asyncio loop scope key, validated; None when unset."""
    raw = str(config.getini(key) or "")
    if not raw:
        return None
    allowed = (*ASYNCIO_SCOPES, "fixture-scope") if "fixture" in key else ASYNCIO_SCOPES
    return _check(key, raw, allowed)


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every setting's effective value, typed, resolved once per session (:func:`settings`).

    ``sources`` says where each came from: its flag, its ini key, or ``default``.
    """

    mode: Literal["auto", "strict"]
    loop: str
    leaks: Literal["error", "warn", "off"]
    leaks_stacks: bool
    leaks_baseline: str
    timeout: float
    blocking: float
    blocking_action: Literal["warn", "error"]
    virtual_time: bool
    virtual_monotonic: bool
    virtual_peer_wait: float
    fuzz_runs: int
    fuzz_seed: int | None
    report: str
    db_url: str
    sources: Mapping[str, str]

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: ``--lw-...``, ``loopwarden_...`` or ``default``."""
        return self.sources[name]


def resolve(config: pytest.Config) -> Settings:
    """Read and validate every setting (a :class:`pytest.UsageError` names a bad one)."""
    values = {setting.name: read(config, setting.name) for setting in SETTINGS}
    raw = {name: value.value for name, value in values.items()}
    seed = raw["fuzz_seed"]
    return Settings(
        mode=cast(Literal["auto", "strict"], raw["mode"]),
        loop=raw["loop"],
        leaks=cast(Literal["error", "warn", "off"], raw["leaks"]),
        leaks_stacks=_boolean(raw["leaks_stacks"]),
        leaks_baseline=raw["leaks_baseline"],
        timeout=_seconds(raw["timeout"]),
        blocking=_seconds(raw["blocking"]),
        blocking_action=cast(Literal["warn", "error"], raw["blocking_action"]),
        virtual_time=_boolean(raw["virtual_time"]),
        virtual_monotonic=_boolean(raw["virtual_monotonic"]),
        virtual_peer_wait=_seconds(raw["virtual_peer_wait"]),
        fuzz_runs=_count(raw["fuzz_runs"]),
        fuzz_seed=_seed(seed) if seed else None,
        report=raw["report"],
        db_url=raw["db_url"],
        sources=MappingProxyType({name: value.source for name, value in values.items()}),
    )


SETTINGS_KEY = pytest.StashKey[Settings]()


def settings(config: pytest.Config) -> Settings:
    """The session's settings: resolved by the main plugin at configure time, or now (once)
    when it is switched off."""
    found = config.stash.get(SETTINGS_KEY, None)
    if found is None:
        found = config.stash[SETTINGS_KEY] = resolve(config)
    return found
