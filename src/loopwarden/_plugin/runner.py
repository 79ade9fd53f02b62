"""The own runner: runs ``async def`` tests and async fixtures when pytest-asyncio is not active.

An async test function is swapped, from the test's setup to its teardown, for a synchronous
stand-in that runs the coroutine on the test's loop, so pytest's own ``pytest_pyfunc_call`` (and
every plugin wrapping it) sees an ordinary call. Async fixtures are swapped the same way inside
``pytest_fixture_setup``, and swapped back when it returns. Sync tests never touch a loop.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from loopwarden._core._loop import plain_loop_factory
from loopwarden._plugin import _policy, _settings
from loopwarden._plugin._keys import FOREIGN_LOOP, RUNTIME
from loopwarden._plugin._runtime import (
    ASYNC_ITEM,
    ForeignLoop,
    Runtime,
    _marker_loop_scope,
    async_kind,
    class_of,
    marker_loop_scope,
    unittest_subclass,
)
from loopwarden._plugin._stash import claimed_elsewhere, marker_names, notable_items, peek
from loopwarden._plugin.config import (
    STATE,
    Mode,
    config_warning,
    register_per_test,
    stands_down,
)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    state = config.stash.get(STATE, None)
    if state is None or state.mode is not Mode.OWN:
        return
    if state.loop_source != "default":
        test_scope = "session" if state.loop == "session" else "function"
        fixture_scope: str | None = "session" if state.loop == "session" else None
        if _asyncio_scopes_set(config):
            config_warning(
                config,
                f"loopwarden: {state.loop_source} = {state.loop} is set, so "
                "asyncio_default_fixture_loop_scope / asyncio_default_test_loop_scope "
                "(pytest-asyncio's settings) are ignored.",
            )
    elif _asyncio_scopes_set(config):
        # A suite written for pytest-asyncio: honour its loop scopes.
        test_scope = (
            _settings.read_asyncio_scope(config, "asyncio_default_test_loop_scope") or "function"
        )
        fixture_default = _settings.read_asyncio_scope(config, "asyncio_default_fixture_loop_scope")
        fixture_scope = None if fixture_default in (None, "fixture-scope") else fixture_default
    else:
        test_scope = "session"
        fixture_scope = "session"
    debug = bool(config.getini("asyncio_debug")) or bool(config.getoption("asyncio_debug", False))
    runtime = config.stash[RUNTIME] = Runtime(test_scope, fixture_scope, debug=debug)
    register_per_test(config, OwnRunner(runtime), "loopwarden-own-runner")
    # A conftest (or test module, see pytest_collectstart) overriding pytest-asyncio's
    # event_loop_policy: the same autouse name, so its
    # parameters apply to the same tests (see _policy.py).
    _policy.register(config)
    # pytest-asyncio's port fixtures, which suites moving over use (its plugin is not active).
    from loopwarden._plugin import _ports

    config.pluginmanager.register(_ports, "loopwarden-ports")


def pytest_plugin_registered(
    plugin: object, plugin_name: str | None, manager: pytest.PytestPluginManager
) -> None:
    if not plugin_name or not plugin_name.endswith("conftest.py"):
        return
    if _policy.defines_override(plugin):
        config = manager.get_plugin("pytestconfig")
        if isinstance(config, pytest.Config):
            _policy.seen(config, plugin_name)


# A definition of the fixture in a module's text: ``def event_loop_policy(`` or
# ``name="event_loop_policy"``.
_DEFINES_POLICY = re.compile(r"def\s+event_loop_policy\s*\(|name\s*=\s*[\"']event_loop_policy[\"']")


def pytest_collectstart(collector: pytest.Collector) -> None:
    """A test module that overrides ``event_loop_policy`` (pytest-asyncio's autouse fixture):
    the own runner registers the same autouse name before the module's tests are made, so the
    override applies to them as under pytest-asyncio (as a conftest's does; see _policy.py).
    Its text is searched for a definition, not imported: a module that only seems to define it
    registers a fixture that returns asyncio's policy, which changes nothing."""
    if not isinstance(collector, pytest.Module):
        return
    config = collector.config
    if RUNTIME not in config.stash or _policy.registered(config):
        return
    try:
        data = collector.path.read_bytes()
    except OSError:
        return
    # (Most modules never name it: a substring test, then the pattern on the few that do.)
    if b"event_loop_policy" in data and _DEFINES_POLICY.search(
        data.decode("utf-8", errors="replace")
    ):
        _policy.seen(config, str(collector.path))


def _asyncio_scopes_set(config: pytest.Config) -> bool:
    return any(
        _settings.read_asyncio_scope(config, key) is not None
        for key in ("asyncio_default_test_loop_scope", "asyncio_default_fixture_loop_scope")
    )


def _runtime(config: pytest.Config) -> Runtime | None:
    return config.stash.get(RUNTIME, None)


def pytest_collection_finish(session: pytest.Session) -> None:
    # One pass over the selected tests, not a hook call per collected item: a hook call costs
    # even when it does nothing, and most tests need nothing here.
    runtime = _runtime(session.config)
    if runtime is None:
        return
    deciders: dict[str, str | None] = {}
    for item in notable_items(session):
        if isinstance(item, pytest.Function):
            _collected(runtime, item)
            callspec = getattr(item, "callspec", None)
            if callspec is not None and LOOP_FACTORY in callspec.params:
                deciders[LOOP_FACTORY] = "session"  # (its declared scope)
    if runtime.policy_named:
        deciders[_policy.NAME] = None  # (the project's override decides its scope)
    if deciders:
        # Tests come with several kinds of loop: wider async fixtures are set up again in each.
        runtime.follow_loop_kinds(session.items, deciders)


def _collected(runtime: Runtime, item: pytest.Function) -> None:
    if unittest_subclass(class_of(item)):
        return  # unittest runs these itself (IsolatedAsyncioTestCase: see the guard plugin)
    func = item.obj
    kind = async_kind(func)
    if kind == "coro":
        if claimed_elsewhere(item):
            return
        state = item.config.stash[STATE]
        # (With the policy's autouse name registered, each test gets the policy it asks for, and
        # the loop it makes; see _policy.py.)
        foreign = _foreign_factory(item)
        if foreign is not None:
            item.stash[FOREIGN_LOOP] = foreign
        override = (None if runtime.policy_named else _policy_override(item)) or (
            _event_loop_leftover(item)
        )
        if override is not None:
            item.obj = _failing(func, override)
            return
        if not state.auto and not _marked(item):
            item.obj = _failing(
                func,
                f"loopwarden: {item.name} is an async test, but loopwarden_mode = strict "
                f"(from {state.mode_source}) runs only tests marked @pytest.mark.asyncio or "
                "@pytest.mark.loopwarden.\nFix: mark the test, or set loopwarden_mode = auto.",
            )
            return
        # The stand-in is made at the test's setup (see OwnRunner), not here: items live to the end
        # of the session, and a stand-in is six objects for the garbage collector to walk.
        item.stash[ASYNC_ITEM] = "coro"
        marker_loop_scope(item)
    elif kind == "agen":
        if claimed_elsewhere(item):
            return
        item.obj = _failing(
            func,
            f"loopwarden: {item.name} is an async generator ('async def' with 'yield'), not a "
            "test coroutine; a test cannot yield.\nFix: remove the 'yield' (or, if it is meant "
            "to be a fixture, decorate it with @pytest.fixture).",
        )
    elif (
        hasattr(func, "__wrapped__")
        and inspect.iscoroutinefunction(inspect.unwrap(func))
        and not claimed_elsewhere(item)
    ):
        item.obj = _sync_wrapper_check(func, item.name)
    elif _marked_directly(item):
        item.warn(
            pytest.PytestWarning(
                f"loopwarden: {item.name} is marked to run on an event loop but is not an "
                "'async def' function; the marker does nothing. Remove the marker, or make the "
                "test 'async def'."
            )
        )


# What the items of one collector (a module, a class) share, computed once for the first of
# them: the fixtures and hook implementations visible from there (conftests, the module, the
# class). Looking them up for each async test at collection cost more than running the test.
_SHARED = pytest.StashKey[dict[tuple[str, str], Any]]()
_UNSET = object()


def _per_collector(item: pytest.Item, key: str, compute: Callable[[], Any]) -> Any:
    cache = item.config.stash.setdefault(_SHARED, {})
    parent = item.parent
    slot = (key, parent.nodeid if parent is not None else "")
    found = cache.get(slot, _UNSET)
    if found is _UNSET:
        found = cache[slot] = compute()
    return found


def _project_fixture(item: pytest.Function, name: str) -> tuple[Any, str] | None:
    """The project's fixture ``name`` visible to ``item`` and where it is defined, if any (the
    same for every test of its module or class: looked up once for them)."""
    return _per_collector(item, f"fixture:{name}", lambda: _find_project_fixture(item, name))  # type: ignore[no-any-return]


def _find_project_fixture(item: pytest.Function, name: str) -> tuple[Any, str] | None:
    manager = getattr(item.session, "_fixturemanager", None)
    if manager is None:
        return None
    try:
        defs = manager.getfixturedefs(name, item)
    except (TypeError, AttributeError):  # pytest 8.0 takes the node id
        defs = manager.getfixturedefs(name, item.nodeid)
    if not defs:
        return None
    func = defs[-1].func
    func = getattr(func, "_get_wrapped_function", lambda: func)()
    try:
        where = f"{inspect.getsourcefile(func)}:{inspect.getsourcelines(func)[1]}"
        where = str(item.config.rootpath.joinpath(where).relative_to(item.config.rootpath))
    except (TypeError, OSError, ValueError):
        where = getattr(func, "__qualname__", name)
    return defs[-1], where


def _policy_override(item: pytest.Function) -> str | None:
    """The failure text when the project overrides pytest-asyncio's ``event_loop_policy``.

    pytest-asyncio builds each test's loop from that fixture, and a parametrized one (asyncio's
    policy and uvloop's, a common pattern) runs every test once per policy. The own runner never
    requests it, so the parameters would vanish from the run without a word: half the matrix, and
    uvloop never exercised. Each async test it would apply to fails with this text instead.
    """
    found = _project_fixture(item, "event_loop_policy")
    if found is None:
        return None
    fixturedef, where = found
    params = fixturedef.params
    # (Only with params: a fixture without them has params None, and len(None) ended the
    # session in an INTERNALERROR.)
    variants = (
        f" ({len(params)} params: each test would run once, not {len(params)} times)"
        if params
        else ""
    )
    return (
        f"loopwarden: the project overrides pytest-asyncio's event_loop_policy fixture ({where})"
        f"{variants}, and loopwarden's own runner applies such an override only when a "
        "conftest.py or a test module defines it; this one comes from elsewhere (a plugin "
        "module), so it would be silently ignored.\n"
        "Fix: define the fixture in a conftest.py; or keep pytest-asyncio for this suite (drop "
        "-p no:asyncio): loopwarden then guards the loops pytest-asyncio makes (guard mode)."
    )


def _event_loop_leftover(item: pytest.Function) -> str | None:
    """The failure text when an async test uses a project's ``event_loop`` fixture.

    pytest-asyncio 0.x ran a test on the loop that fixture returned; 1.0 removed the fixture, and
    loopwarden's runner runs the test on its own loop. The fixture's loop then is a second loop
    that never runs: what the test schedules on it never happens, and what it awaits from it is
    "attached to a different loop".
    """
    if "event_loop" not in item.fixturenames:
        return None
    found = _project_fixture(item, "event_loop")
    if found is None:
        return None
    return (
        f"loopwarden: {item.name} uses the event_loop fixture ({found[1]}), pytest-asyncio "
        "0.x's way to choose a test's loop. pytest-asyncio 1.0 removed it, and loopwarden's "
        "runner runs the test on its own loop: the loop this fixture makes is another one, which "
        "never runs (what is scheduled on it never happens).\n"
        "Fix: drop the event_loop argument and call asyncio.get_running_loop() in the test; "
        "delete the fixture. For a loop shared by a module or the whole session, use "
        '@pytest.mark.asyncio(loop_scope="module") or loopwarden_loop = session (the default), '
        "not a fixture."
    )


def _factories_hook(item: pytest.Function) -> tuple[Any, list[Any]]:
    """The item's ``pytest_asyncio_loop_factories`` relay and the project's implementations of
    it (loopwarden's guard plugin answers it too, for pytest-asyncio; it says nothing here)."""
    hook = getattr(item.ihook, "pytest_asyncio_loop_factories", None)
    if hook is None:
        return None, []
    theirs = [
        impl
        for impl in hook.get_hookimpls()
        if not getattr(impl.plugin, "__name__", "").startswith("loopwarden.")
    ]
    return hook, theirs


# The loop factory of a test parametrized over the project's pytest_asyncio_loop_factories
# answer, as pytest-asyncio parametrizes it (the same ids).
LOOP_FACTORY = "_loopwarden_loop_factory"


@pytest.fixture(scope="session", name=LOOP_FACTORY)
def _loop_factory(request: pytest.FixtureRequest) -> object:
    """The loop factory a test was parametrized with (see pytest_generate_tests)."""
    return getattr(request, "param", None)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize an async test over the project's ``pytest_asyncio_loop_factories`` answer
    when it names several factories (or one, on a pytest that shows a lone id), as pytest-asyncio
    does: the run collects the same tests. Each runs on loopwarden's loop when its factory makes
    asyncio's plain loop, and fails naming the factory otherwise (see _collected)."""
    runtime = metafunc.config.stash.get(RUNTIME, None)
    if runtime is None or async_kind(metafunc.function) != "coro":
        return
    definition = metafunc.definition
    hook, theirs = _per_collector(definition, "factories", lambda: _factories_hook(definition))
    if not theirs:
        return
    factories = hook(config=metafunc.config, item=definition)
    if not isinstance(factories, Mapping) or not factories:
        return  # (what pytest-asyncio refuses as a usage error is refused per test below)
    selected = _marker_factories(definition)
    if selected is None:
        values: list[object] = list(factories.values())
        ids = list(factories)
    else:
        values = [
            factories[name]
            if name in factories
            else pytest.param(
                None,
                marks=pytest.mark.skip(
                    reason=f"Loop factory {name!r} is not available. Available factories: "
                    f"{', '.join(factories)}."
                ),
            )
            for name in selected
        ]
        ids = list(selected)
    hidden = getattr(pytest, "HIDDEN_PARAM", None)  # (pytest 8.4+)
    if len(ids) == 1 and hidden is not None:
        return  # no id to add: the test is judged by the one factory below
    metafunc.fixturenames.append(LOOP_FACTORY)
    metafunc.parametrize(
        LOOP_FACTORY,
        values,
        ids=ids,
        indirect=True,
        scope=_marker_loop_scope(definition)[0] or runtime.default_test_scope,  # type: ignore[arg-type]
    )


def _marker_factories(item: pytest.Item) -> list[str] | None:
    """``@pytest.mark.asyncio(loop_factories=[...])``: the factories a test picks, if it does."""
    marker = item.get_closest_marker("asyncio")
    chosen = marker.kwargs.get("loop_factories") if marker is not None else None
    return [str(name) for name in chosen] if chosen else None


def _foreign_factory(item: pytest.Function) -> ForeignLoop | None:
    """The loop the project's ``pytest_asyncio_loop_factories`` answer gives the test when it is
    not asyncio's plain loop (uvloop's, a custom one), else None: the test runs on a loop that
    factory makes, unguarded (see _runtime.py)."""
    # (The item's own hook relay: only the conftests above the test answer, as pytest-asyncio
    # asks them.)
    hook, theirs = _per_collector(item, "factories", lambda: _factories_hook(item))
    if not theirs:
        return None
    callspec = getattr(item, "callspec", None)
    if callspec is not None and LOOP_FACTORY in callspec.params:
        name = _policy.param_id(item, LOOP_FACTORY)
        factory = callspec.params[LOOP_FACTORY]
        if factory is None:
            return None  # a factory the marker names and the hook lacks: the test is skipped
    else:
        factories = hook(config=item.config, item=item)
        if not isinstance(factories, Mapping) or len(factories) != 1:
            return None  # (none: loopwarden's loop; several: parametrized, above)
        name, factory = next(iter(factories.items()))
    if plain_loop_factory(factory):
        return None
    impl = theirs[-1].plugin
    where = str(getattr(impl, "__file__", None) or getattr(impl, "__name__", repr(impl)))
    with contextlib.suppress(ValueError):
        where = str(Path(where).relative_to(item.config.rootpath))
    module = getattr(factory, "__module__", "?")
    made_by = f"{module}.{getattr(factory, '__qualname__', repr(factory))}"
    return ForeignLoop(
        str(name), made_by, f"the pytest_asyncio_loop_factories hook ({where})", factory
    )


def _marked(item: pytest.Item) -> bool:
    return not _RUN_MARKERS.isdisjoint(marker_names(item))


_RUN_MARKERS = frozenset({"asyncio", "loopwarden"})


def _marked_directly(item: pytest.Function) -> bool:
    # Only a marker on the function itself: a module-wide `pytestmark = pytest.mark.asyncio`
    # legitimately covers sync tests too.
    # @pytest.mark.loopwarden(timeout=...) also applies to sync tests.
    return bool(item.own_markers) and any(
        mark.name == "asyncio" or (mark.name == "loopwarden" and "timeout" not in mark.kwargs)
        for mark in item.own_markers
    )


def _copy_identity(wrapper: Callable[..., Any], func: Callable[..., Any]) -> None:
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        if hasattr(func, attr):
            setattr(wrapper, attr, getattr(func, attr))
    # pytest follows __wrapped__ to find the test's code and cut tracebacks there.
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    # pytest < 8.1 finds a test's class instance (request.instance, which class fixtures are
    # bound to) as ``item.obj.__self__``.
    instance = getattr(func, "__self__", None)
    if instance is not None:
        wrapper.__self__ = instance  # type: ignore[attr-defined]


def _test_runner(runtime: Runtime, item: pytest.Item, func: Callable[..., Any]) -> Any:
    def run_async_test(**kwargs: Any) -> None:
        __tracebackhide__ = True
        runtime.run_test(item, func, kwargs)

    _copy_identity(run_async_test, func)
    return run_async_test


# An async test's own function, kept from its setup to its teardown while the stand-in is in its
# place (see OwnRunner.pytest_runtest_setup).
_OWN_FUNCTION = pytest.StashKey[Callable[..., Any]]()


def _failing(func: Callable[..., Any], message: str) -> Any:
    def fail_test(**kwargs: Any) -> None:
        __tracebackhide__ = True
        pytest.fail(message, pytrace=False)

    _copy_identity(fail_test, func)
    return fail_test


def _sync_wrapper_check(func: Callable[..., Any], name: str) -> Any:
    inner = inspect.unwrap(func)

    def call_sync_wrapper(**kwargs: Any) -> Any:
        __tracebackhide__ = True
        result = func(**kwargs)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            pytest.fail(
                f"loopwarden: {name} is a synchronous wrapper (a decorator's inner function) "
                f"around the coroutine function {inner.__qualname__}; it returned an awaitable "
                "that nobody awaits, so the test body never ran.\nFix: make the decorator's "
                "wrapper 'async def' and 'await' the wrapped function (functools.wraps keeps "
                "the name).",
                pytrace=False,
            )
        return result

    _copy_identity(call_sync_wrapper, func)
    return call_sync_wrapper


class OwnRunner:
    """The per-test hooks, registered only when the own runner runs the async tests."""

    # Registered after pytest's capture and logging plugins, so its wrapper is trylast to run
    # inside theirs, next to pytest's own fixture call.

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        runtime = self.runtime
        runtime.current_item = item
        stash = item.stash
        if ASYNC_ITEM in stash:
            # Kept until the teardown puts it back; still there if a rerun plugin ran this setup
            # again without a teardown in between.
            if _OWN_FUNCTION in stash:
                func = stash[_OWN_FUNCTION]
            else:
                func = stash[_OWN_FUNCTION] = item.obj  # type: ignore[attr-defined]
            item.obj = _test_runner(runtime, item, func)  # type: ignore[attr-defined]
            # Decide the test's loop before any fixture runs, so a conflict fails at setup (with
            # a project's event_loop_policy, once that fixture has run: its loop follows it).
            if not runtime.policy_named:
                runtime.item_state(item)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        runtime = self.runtime
        func = fixturedef.func
        kind = runtime.kind_of(func)
        item = runtime.current_item
        if kind is None or item is None or claimed_elsewhere(item):
            return (yield)
        fixturedef.func = runtime.fixture_wrapper(fixturedef, request, item, kind)  # type: ignore[misc]
        try:
            return (yield)
        finally:
            fixturedef.func = func  # type: ignore[misc]


# A module hook, not OwnRunner's: it must wrap the leak guard's teardown check (which runs
# first, innermost) and run inside pytest's capture and logging wrappers, an order a plugin
# registered at configure time cannot take.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        runtime = peek(item.config.stash, RUNTIME, None)  # (None in guard mode: a miss, cheaply)
        if runtime is not None:
            stash = item.stash
            if _OWN_FUNCTION in stash:
                # First, and the test's own function whatever item.obj is now (pytest's --trace
                # wraps the stand-in in turn, and does not unwrap it).
                item.obj = stash[_OWN_FUNCTION]  # type: ignore[attr-defined]
                del stash[_OWN_FUNCTION]
            runtime.finish_item(item, nextitem)
            runtime.current_item = None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runtime = _runtime(config)
    if runtime is None or not runtime.unguarded:
        return
    names = ", ".join(
        f"{label} from {foreign.source}: {count} test{'s' if count != 1 else ''}"
        for label, (foreign, count) in sorted(runtime.unguarded.items())
    )
    terminalreporter.write_line(
        f"loopwarden: the project gives some tests loops loopwarden does not make: {names}. "
        "Those tests ran on them without loopwarden's loop guards (what they leave on the loop, "
        "blocking calls, virtual time, fuzzing); threads they leave, coroutines never awaited "
        "and timeouts are still checked. Tests on asyncio's plain loop ran on loopwarden's, "
        "guarded."
    )


# Inner (trylast): the loops close before the late findings are completed (the report plugin's
# trylast wrapper, registered later, is outside this one).
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        runtime = _runtime(session.config)
        if runtime is not None:
            runtime.close_loops_outside(None)
