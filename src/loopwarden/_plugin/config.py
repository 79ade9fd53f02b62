"""loopwarden's base plugin: settings, markers, and which mode is active.

Modes:

- **own runner**: pytest-asyncio is not active; loopwarden runs async tests and fixtures itself.
- **guard**: pytest-asyncio >= 1.4 is active; it runs the tests, loopwarden supplies its loops
  through the ``pytest_asyncio_loop_factories`` hook and arms its instruments around each test.
- **limited**: an older pytest-asyncio is active; it cannot take loopwarden's loops, so most guards
  are off. A warning says what to upgrade.
"""

from __future__ import annotations

import enum
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Generator, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from loopwarden._core import _sites
from loopwarden._core._records import Record
from loopwarden._plugin import _settings
from loopwarden._plugin._compat import fixturedefs_of
from loopwarden._plugin._stash import (
    claimed_elsewhere,
    forget_marker_names,
    marker_names,
    notable_items,
    peek,
)
from loopwarden._version import __version__

GUARD_MIN_PYTEST_ASYNCIO = (1, 4)


class Mode(enum.Enum):
    OWN = "own runner"
    GUARD = "guard"
    LIMITED = "limited"


class State(Record):
    """The session's resolved configuration (in ``config.stash[STATE]``)."""

    mode: Mode
    reason: str
    auto: bool
    mode_source: str
    loop: str
    loop_source: str
    pytest_asyncio_version: str | None
    # The parts switched off with -p no:loopwarden.X: one header line each.
    switched_off: list[str]
    # Guard mode under pytest-asyncio's strict mode: it runs only marked tests and fixtures
    # declared with its decorator, and the others fail with messages that do not say why.
    strict_asyncio: bool
    _fields = (
        "mode",
        "reason",
        "auto",
        "mode_source",
        "loop",
        "loop_source",
        "pytest_asyncio_version",
        "switched_off",
        "strict_asyncio",
    )

    def __init__(
        self,
        mode: Mode,
        reason: str,
        auto: bool,
        mode_source: str,
        loop: str,
        loop_source: str,
        pytest_asyncio_version: str | None,
        switched_off: list[str] | None = None,
        strict_asyncio: bool = False,
    ) -> None:
        self.mode = mode
        self.reason = reason
        self.auto = auto
        self.mode_source = mode_source
        self.loop = loop
        self.loop_source = loop_source
        self.pytest_asyncio_version = pytest_asyncio_version
        self.strict_asyncio = strict_asyncio
        self.switched_off = [] if switched_off is None else switched_off


STATE = pytest.StashKey[State]()

# Each part of loopwarden that can be switched off alone (-p no:NAME): what goes with it, and the
# settings that then have no effect.
PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "loopwarden.runner": ("async tests are not run by loopwarden's own runner", ()),
    "loopwarden.guard": (
        "loops of pytest-asyncio, unittest and anyio are not loopwarden's, and not guarded",
        (),
    ),
    "loopwarden.leaks": ("no leak checks", ("leaks", "leaks_stacks", "leaks_baseline")),
    "loopwarden.report": (
        "no terminal summary, JSON report or leak baseline",
        ("report", "leaks_baseline"),
    ),
    "loopwarden.watchdog": (
        "no timeouts, hang reports or blocking checks",
        ("timeout", "blocking", "blocking_action"),
    ),
    "loopwarden.clock": (
        "no virtual time",
        ("virtual_time", "virtual_monotonic", "virtual_peer_wait"),
    ),
    "loopwarden.fuzz": ("no schedule fuzzing", ("fuzz_runs", "fuzz_seed")),
    "loopwarden.db": ("no database fixtures", ("db_url",)),
    "loopwarden.components": ("no server and mock fixtures", ()),
}


# A setting's values that switch its part off anyway: no conflict with -p no:THAT_PART.
_OFF_VALUES = {
    "leaks": ("off",),
    "timeout": ("0",),
    "blocking": ("0",),
    "virtual_time": ("off",),
    "fuzz_runs": ("0",),
}


def switched_off(config: pytest.Config) -> list[str]:
    """One line per part switched off with ``-p no:NAME``; a setting given on the command line
    that needs a switched-off part is a usage error, one from an ini file is named as void."""
    manager = config.pluginmanager
    lines = []
    for part, (what, names) in PARTS.items():
        if not manager.is_blocked(part):
            continue
        void = []
        for name in names:
            value = _settings.read(config, name)
            if not value.explicit:
                continue
            if value.source.startswith("--") and value.value not in _OFF_VALUES.get(name, ()):
                raise pytest.UsageError(
                    f"loopwarden: {value.source} needs {part}, which -p no:{part} switches off "
                    f"({what}). Leave out one of the two."
                )
            void.append(value.source)
        line = f"{part} is switched off: {what}"
        if void:
            verb = "has" if len(void) == 1 else "have"
            line += f" ({', '.join(void)} in the ini file {verb} no effect)"
        lines.append(line)
    return lines


#: The keyword arguments ``@pytest.mark.loopwarden(...)`` takes (each plugin reads its own).
MARKER_KEYS = ("fuzz", "loop_scope", "monotonic", "timeout", "virtual_time")
# Why a test's loopwarden marker is not valid; the test fails at setup with it.
MARKER_ERROR = pytest.StashKey[str]()


# The merged keyword arguments of a test's loopwarden markers, closest first (see marker_arg).
_MARKER_ARGS = pytest.StashKey[Mapping[str, object]]()
_NO_MARKER_ARGS: Mapping[str, object] = MappingProxyType({})


def marker_arg(item: pytest.Item, key: str) -> tuple[bool, object]:
    """The closest loopwarden marker's ``key``: ``(True, value)``, or ``(False, None)`` if unset.

    Markers merge: ``@pytest.mark.loopwarden(timeout=5)`` on a test keeps the ``virtual_time``
    its module's ``pytestmark`` sets. The markers are read once per test (each plugin asks);
    call :func:`forget_marker_args` after adding a marker to a collected test.
    """
    stash = item.stash
    args = peek(stash, _MARKER_ARGS, None)
    if args is None:
        # The names are read once per test anyway: most tests have no loopwarden marker, and
        # this spares them another walk up the node chain (and a dict of their own).
        if "loopwarden" in marker_names(item):
            args = {}
            for mark in item.iter_markers("loopwarden"):
                for name, value in mark.kwargs.items():
                    args.setdefault(name, value)
        else:
            args = _NO_MARKER_ARGS
        stash[_MARKER_ARGS] = args
    if key in args:
        return True, args[key]
    return False, None


def forget_marker_args(item: pytest.Item) -> None:
    """Read the test's markers again at the next :func:`marker_arg` (and ``marker_names``)."""
    if _MARKER_ARGS in item.stash:
        del item.stash[_MARKER_ARGS]
    forget_marker_names(item)


def stands_down(config: pytest.Config, plugin_module: str) -> bool:
    """Unregister the plugin ``plugin_module`` when this main plugin is blocked; whether it did.

    Each part of loopwarden is a pytest plugin of its own (one entry point each), so that one can
    be switched off alone. ``-p no:loopwarden`` blocks this one, which registers the settings and
    resolves the mode; every other part calls this first in its ``pytest_configure`` and leaves,
    with none of its hooks left to run. (Fixtures stay: pytest reads a plugin's fixtures when it
    registers it. The components plugin, which only defines fixtures, does not call this.)
    """
    manager = config.pluginmanager
    if manager.is_registered(sys.modules[__name__]):
        return False
    plugin = sys.modules[plugin_module]
    if manager.is_registered(plugin):  # (pluggy refuses to unregister a plugin twice)
        manager.unregister(plugin)
    return True


def register_per_test(config: pytest.Config, plugin: object, name: str) -> None:
    """Register ``plugin``, an object of per-test hooks, once: only sessions that need a
    capability's per-test hooks pay for them (each hook call costs, even one that does nothing)."""
    if not config.pluginmanager.has_plugin(name):
        config.pluginmanager.register(plugin, name)


def _marker_error(item: pytest.Item) -> str | None:
    if "loopwarden" not in marker_names(item):
        return None
    for mark in item.iter_markers("loopwarden"):
        if mark.args:
            return (
                f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden{mark.args!r} takes keyword "
                f"arguments only ({', '.join(k + '=...' for k in MARKER_KEYS)})."
            )
        for key in mark.kwargs:
            if key not in MARKER_KEYS:
                import difflib  # only for this message

                close = difflib.get_close_matches(key, MARKER_KEYS, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                return (
                    f"loopwarden: {item.nodeid}: @pytest.mark.loopwarden({key}=...) is not an "
                    f"argument loopwarden knows; {hint}known arguments: {', '.join(MARKER_KEYS)}."
                )
    return None


def _pytest_asyncio_available(pluginmanager: pytest.PytestPluginManager) -> bool:
    # At pytest_addoption time pytest-asyncio may not be registered yet (entry points load in no
    # set order), so decide from "installed and not blocked with -p no:asyncio".
    if pluginmanager.is_blocked("asyncio"):
        return False
    return importlib.util.find_spec("pytest_asyncio") is not None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from loopwarden._plugin import _hookspecs

    pluginmanager.add_hookspecs(_hookspecs)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    _settings.add_options(parser)
    if not _pytest_asyncio_available(pluginmanager):
        _settings.add_asyncio_compat_options(parser)
        from loopwarden._plugin import _hookspecs

        pluginmanager.add_hookspecs(_hookspecs.PytestAsyncioSpecs)


def _resolve(config: pytest.Config) -> State:
    pytest_asyncio_active = config.pluginmanager.has_plugin("asyncio")
    version = None
    if pytest_asyncio_active:
        try:
            version = importlib.metadata.version("pytest-asyncio")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    mode_value = _settings.read(config, "mode")
    loop_value = _settings.read(config, "loop")
    if not pytest_asyncio_active:
        reason = (
            "pytest-asyncio is disabled with -p no:asyncio"
            if config.pluginmanager.is_blocked("asyncio")
            else "pytest-asyncio is not installed"
        )
        mode = Mode.OWN
        # pytest-asyncio's own keys are honoured unless loopwarden's are set.
        asyncio_mode = (config.getoption("asyncio_mode", None) or "").strip() or str(
            config.getini("asyncio_mode") or ""
        ).strip()
        if asyncio_mode:
            if asyncio_mode not in ("auto", "strict"):
                raise pytest.UsageError(
                    f"loopwarden: asyncio_mode = {asyncio_mode!r} is not valid; "
                    "allowed values: auto, strict."
                )
            if not mode_value.explicit:
                mode_value = _settings.Value(asyncio_mode, "asyncio_mode")
            elif asyncio_mode != mode_value.value:
                config_warning(
                    config,
                    f"loopwarden: {mode_value.source} = {mode_value.value} and asyncio_mode = "
                    f"{asyncio_mode} disagree; loopwarden uses {mode_value.value}. "
                    "Remove asyncio_mode (it is pytest-asyncio's setting) to silence this.",
                )
    elif version is not None and _version_tuple(version) < GUARD_MIN_PYTEST_ASYNCIO:
        mode = Mode.LIMITED
        reason = f"pytest-asyncio {version} runs async tests but is older than 1.4"
    else:
        mode = Mode.GUARD
        reason = f"pytest-asyncio {version} runs async tests"
    strict = mode is Mode.GUARD and _pytest_asyncio_mode(config) == "strict"
    return State(
        mode=mode,
        reason=reason,
        auto=mode_value.value == "auto",
        mode_source=mode_value.source,
        loop=loop_value.value,
        loop_source=loop_value.source,
        pytest_asyncio_version=version,
        strict_asyncio=strict,
    )


def _project_chooses_loops(config: pytest.Config) -> bool:
    """Whether a conftest or plugin other than loopwarden answers pytest-asyncio's hook."""
    caller = getattr(config.hook, "pytest_asyncio_loop_factories", None)
    if caller is None:
        return False
    return any(
        not str(getattr(impl.plugin, "__name__", "")).startswith("loopwarden")
        for impl in caller.get_hookimpls()
    )


def _pytest_asyncio_mode(config: pytest.Config) -> str:
    """pytest-asyncio's ``asyncio_mode`` (its option, else its ini key; strict by default)."""
    value = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode") or "strict"
    return str(value).strip()


def _hook_dispatch_files() -> frozenset[str]:
    """pluggy's source files: a search for the line that made a task stops at hook dispatch."""
    return frozenset(
        str(module.__file__)
        for name, module in list(sys.modules.items())
        if (name == "pluggy" or name.startswith("pluggy.")) and getattr(module, "__file__", None)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _settings.settings(config)  # every setting validated now, once, for every plugin
    state = _resolve(config)
    state.switched_off = switched_off(config)
    config.stash[STATE] = state
    _sites.set_boundaries(_hook_dispatch_files())
    config.addinivalue_line(
        "markers",
        "loopwarden(loop_scope=None, timeout=None, virtual_time=None, monotonic=None, "
        "fuzz=None): run this async test with loopwarden; loop_scope picks the loop (function, "
        "class, module, package, session), virtual_time=True runs it in virtual time, fuzz=N "
        "runs it under N schedules.",
    )
    if state.mode is Mode.OWN:
        config.addinivalue_line(
            "markers",
            "asyncio(loop_scope=None): run this async test on an asyncio loop "
            "(pytest-asyncio's marker, honoured by loopwarden's own runner).",
        )
    if state.mode is Mode.LIMITED:
        config_warning(
            config,
            f"loopwarden: pytest-asyncio {state.pytest_asyncio_version} is too old to take "
            "loopwarden's loops (it needs pytest-asyncio >= 1.4, which has the "
            "pytest_asyncio_loop_factories hook), so async tests run without loopwarden's "
            "guards. Upgrade with: pip install 'pytest-asyncio>=1.4' — or run with "
            "-p no:asyncio to let loopwarden run the async tests itself.",
        )
    if state.mode is not Mode.OWN and state.loop_source != "default":
        config_warning(
            config,
            f"loopwarden: {state.loop_source} is ignored in {state.mode.value} mode: "
            "pytest-asyncio chooses the loops (use its loop_scope settings).",
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    if state.mode is Mode.OWN:
        line = (
            f"loopwarden {__version__}: own runner ({state.reason}); "
            f"mode={'auto' if state.auto else 'strict'}, loop={state.loop}"
        )
    elif state.mode is Mode.GUARD:
        line = (
            f"loopwarden {__version__}: guard mode ({state.reason}; loopwarden supplies its "
            "loops and guards them)"
        )
        if _project_chooses_loops(config):
            line += (
                "\nloopwarden: the project's pytest_asyncio_loop_factories hook chooses the "
                "loops: loopwarden guards those of asyncio's plain loop, not others (the summary "
                "names them)"
            )
        if state.strict_asyncio:
            line += f"\nloopwarden: {STRICT_MODE}"
    else:
        line = f"loopwarden {__version__}: limited ({state.reason}; guards are off)"
    return [line, *(f"loopwarden: {off}" for off in state.switched_off)]


# The configuration warnings a suite's filterwarnings turned into errors: shown in the terminal
# summary instead (raised at configure time they end the session with INTERNALERROR).
HELD_WARNINGS = pytest.StashKey[list[str]]()


def config_warning(config: pytest.Config, message: str) -> None:
    """Warn about the configuration (a ``PytestConfigWarning`` at configure time); under a
    suite's ``filterwarnings = error`` the message is held for the terminal summary."""
    try:
        config.issue_config_time_warning(pytest.PytestConfigWarning(message), stacklevel=3)
    except pytest.PytestConfigWarning:
        config.stash.setdefault(HELD_WARNINGS, []).append(message)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    held = config.stash.get(HELD_WARNINGS, None)
    if not held:
        return
    terminalreporter.section("loopwarden configuration")
    for message in held:
        terminalreporter.write_line(message)
    terminalreporter.write_line(
        "(configuration warnings, shown here: the suite's filterwarnings turns warnings into "
        "errors, which at configuration time would end the session)"
    )


STRICT_MODE = (
    "pytest-asyncio is in strict mode: it runs only the async tests marked "
    "@pytest.mark.asyncio and the async fixtures declared with @pytest_asyncio.fixture; others "
    "fail. Set asyncio_mode = auto, or run with -p no:asyncio to let loopwarden run every async "
    "test and fixture."
)


# Last: the other plugins' passes note the marker errors they find (fuzz=, virtual_time=…).
@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    failing = False
    for item in notable_items(session):
        error = _marker_error(item)
        if error is not None:
            item.stash[MARKER_ERROR] = error
        failing = failing or MARKER_ERROR in item.stash
    if failing:
        register_per_test(session.config, MarkerErrors(), "loopwarden-marker-errors")
    state = session.config.stash[STATE]
    if state.strict_asyncio:
        left_out = {item.nodeid: what for item in session.items if (what := _left_out(item))}
        if left_out:
            register_per_test(session.config, StrictModeLeftOut(left_out), "loopwarden-strict-mode")


def _left_out(item: pytest.Item) -> str | None:
    """What of ``item`` pytest-asyncio's strict mode will not run: the test, its fixtures.

    Nothing of a test another plugin runs (anyio's, trio's): that plugin runs it and its async
    fixtures, and its failures are its own.
    """
    if not isinstance(item, pytest.Function) or claimed_elsewhere(item):
        return None
    unmarked_test = (
        inspect.iscoroutinefunction(inspect.unwrap(item.obj))
        and item.get_closest_marker("asyncio") is None
    )
    fixtures = sorted(
        name
        for name, defs in fixturedefs_of(item).items()
        if defs
        and _is_async_function(defs[-1].func)
        and not getattr(defs[-1].func, "_force_asyncio_fixture", False)
    )
    parts = ["this unmarked async test"] if unmarked_test else []
    if fixtures:
        noun = "fixture" if len(fixtures) == 1 else "fixtures"
        parts.append(f"the async {noun} {', '.join(repr(f) for f in fixtures)}")
    return " and ".join(parts) or None


def _is_async_function(func: object) -> bool:
    func = inspect.unwrap(func)  # type: ignore[arg-type]
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


class StrictModeLeftOut:
    """The per-test hook of guard mode under strict mode: a test that fails because
    pytest-asyncio leaves it (or its async fixtures) alone says so, with the fix."""

    def __init__(self, left_out: dict[str, str]) -> None:
        self.left_out = left_out

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        what = self.left_out.get(item.nodeid)
        if what is None or not report.failed or call.when == "teardown":
            return report
        crash = getattr(report.longrepr, "reprcrash", None)
        said = getattr(crash, "message", None) or report.longreprtext.strip()
        first = said.splitlines()[0].removeprefix("Failed: ") if said else ""
        report.longrepr = (
            f"loopwarden: {what} did not run: {STRICT_MODE}\n(pytest's message: {first})"
        )
        return report


class MarkerErrors:
    """The per-test hook, in sessions where a test's loopwarden marker is wrong: fail it."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        error = peek(item.stash, MARKER_ERROR, None)
        if error is not None:
            pytest.fail(error, pytrace=False)
