"""The own runner's state for one session: which loops exist, and which loop each test uses.

Loop model (see docs/explanation/loops.md):

- Every async test and async fixture runs in a loop identified by a *loop scope* and the node of
  that scope (the session, a package, a module, a class, or the test itself).
- A fixture wider than function scope runs in the loop of ``max(its scope, the default fixture loop
  scope, the loops of the async fixtures it requests)`` — never in a loop narrower than itself.
- A test (and its function-scoped async fixtures) runs in the loop its marker asks for; without one,
  in the loop of the wider async fixtures it uses, or else in the default test loop. When those
  loops differ the test fails at setup with a message naming the fixtures, scopes and the fix.

With the defaults everything shares one session loop, so none of that can conflict.

A test the project gives another loop (its ``pytest_asyncio_loop_factories`` answer or its
``event_loop_policy`` fixture names uvloop's, say) runs, with its async fixtures, in a loop that
factory makes, of the same scope: a :class:`ForeignLoop`. loopwarden does not guard such loops
(they are not WardenLoops): the leak engine, virtual time and fuzzing never see them, and the
session's summary says so.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import warnings
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from typing import Any

import pytest

from loopwarden._core._driver import Driver
from loopwarden._core._lifecycle import close_loop
from loopwarden._core._loop import WardenLoop, new_loop
from loopwarden._core._records import Record
from loopwarden._plugin import _compat
from loopwarden._plugin._keys import FOREIGN_LOOP, SEED, VIRTUAL
from loopwarden._plugin._stash import marker_names, peek

SCOPES = ("function", "class", "module", "package", "session")
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}


def wider(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


class FixtureOwner(Record):
    """Owner token for what a wider-scoped fixture creates (leaks are attributed to it)."""

    name: str
    scope: str
    nodeid: str
    _fields = ("name", "scope", "nodeid")

    def __init__(self, name: str, scope: str, nodeid: str) -> None:
        self.name = name
        self.scope = scope
        self.nodeid = nodeid

    def __str__(self) -> str:
        return f"{self.scope}-scoped fixture {self.name!r}"

    # Written out (Record's are generic): an owner is hashed and compared for every record of a
    # loop it is checked on, and pytest-asyncio's loop-factory fixture has one per test.
    def __eq__(self, other: object) -> bool:
        if type(other) is not FixtureOwner:
            return NotImplemented
        return self.name == other.name and self.scope == other.scope and self.nodeid == other.nodeid

    def __hash__(self) -> int:
        return hash((self.name, self.scope, self.nodeid))

    @classmethod
    def of(cls, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> FixtureOwner:
        """The owner of what ``fixturedef`` creates, from inside its setup or finalizer hooks."""
        return cls(fixturedef.argname, fixturedef.scope, request.node.nodeid)


def lives_per_test(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> bool:
    """Is this fixture the test's: declared function-scoped, or parametrized per test?

    A fixture parametrized with ``indirect=True, scope="function"`` (pytest-asyncio's loop-factory
    fixture is one) is set up and torn down for each test, whatever scope it was declared with:
    what it makes is the test's, not a wider fixture's, in the leak guard, the loop guard and the
    own runner alike.
    """
    return fixturedef.scope == "function" or request.scope == "function"


class ForeignLoop(Record):
    """A loop the project asks for that loopwarden does not make (uvloop's, a custom class).

    ``name`` is the parameter id the test carries (``uvloop`` in ``test_x[uvloop]``), ``made_by``
    the factory or policy class, ``source`` where the project asks for it; ``make`` makes one.
    """

    name: str
    made_by: str
    source: str
    make: Callable[[], asyncio.AbstractEventLoop]
    _fields = ("name", "made_by", "source", "make")

    def __init__(
        self,
        name: str,
        made_by: str,
        source: str,
        make: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        self.name = name
        self.made_by = made_by
        self.source = source
        self.make = make

    @property
    def label(self) -> str:
        """``'uvloop' (uvloop.EventLoopPolicy)``: which loop, in the summary and in messages."""
        return f"{self.name!r} ({self.made_by})"


class LoopState(Record):
    """One loop of the session, the node whose scope it lives for, and its long-lived driver.

    ``foreign`` is set for a loop the project's factory or policy made (not a WardenLoop).
    """

    scope: str
    node: pytest.Item | pytest.Collector | pytest.Session
    loop: WardenLoop
    driver: Driver
    foreign: ForeignLoop | None
    _fields = ("scope", "node", "loop", "driver", "foreign")

    def __init__(
        self,
        scope: str,
        node: pytest.Item | pytest.Collector | pytest.Session,
        loop: WardenLoop,
        driver: Driver,
        foreign: ForeignLoop | None = None,
    ) -> None:
        self.scope = scope
        self.node = node
        self.loop = loop
        self.driver = driver
        self.foreign = foreign

    def describe(self) -> str:
        if self.scope == "session":
            where = "the session loop"
        elif self.scope == "function":
            where = "the test's own loop"
        else:
            where = f"the loop of {self.scope} {self.node.nodeid}"
        if self.foreign is None:
            return where
        return f"{where} made by {self.foreign.label}"

    @property
    def label(self) -> str:
        """Which kind of loop this is: the foreign loop's label, or loopwarden's."""
        return "loopwarden's" if self.foreign is None else self.foreign.label


class ItemState(Record):
    """Which loop a test runs in, and its function driver (created at its first async step)."""

    loop_state: LoopState
    driver: Driver | None
    _fields = ("loop_state", "driver")

    def __init__(self, loop_state: LoopState, driver: Driver | None = None) -> None:
        self.loop_state = loop_state
        self.driver = driver

    def function_driver(self, item: pytest.Item) -> Driver:
        if self.driver is None:
            self.driver = self.loop_state.driver.child(f"loopwarden test {item.name}")
        return self.driver


ITEM_STATE = pytest.StashKey[ItemState]()
# The kind of async test an item is, decided once at collection ("coro"), or absent for sync tests.
ASYNC_ITEM = pytest.StashKey[str]()
# The loop scope a test's marker asks for and the marker's name, read once at collection.
MARKER_SCOPE = pytest.StashKey[tuple[str | None, str]]()


def async_kind(func: object) -> str | None:
    """'coro' for a coroutine function, 'agen' for an async generator function, else None."""
    if inspect.iscoroutinefunction(func):
        return "coro"
    if inspect.isasyncgenfunction(func):
        return "agen"
    return None


def class_of(item: pytest.Item) -> type[Any] | None:
    """The class a test function is defined in, or None (``item.cls`` without its walk up the
    node chain: a test method's parent node is its class)."""
    parent = item.parent
    return parent.obj if isinstance(parent, pytest.Class) else None


def unittest_subclass(cls: type[Any] | None, name: str = "TestCase") -> bool:
    """Is ``cls`` a subclass of ``unittest.TestCase`` (or of ``unittest.<name>``)?

    Asked without importing unittest: a class can only derive from its classes once their module
    is imported, and the import would cost every pytest start a few milliseconds.
    """
    if cls is None:
        return False
    module = sys.modules.get(
        "unittest.async_case" if name == "IsolatedAsyncioTestCase" else "unittest.case"
    )
    return module is not None and issubclass(cls, getattr(module, name))


class Runtime(Record):
    """All loops of the session and the rules choosing between them."""

    default_test_scope: str
    default_fixture_scope: str | None
    debug: bool
    loops: dict[tuple[str, str], LoopState]
    current_item: pytest.Item | None
    # Called with each loop the runtime creates (the clock and fuzz plugins set it up).
    new_loop_hooks: list[Callable[[WardenLoop], None]]
    # A conftest overrides pytest-asyncio's event_loop_policy, and its autouse name is
    # registered: each async test's loop follows the policy it got (see _policy.py).
    policy_named: bool
    # Then: the loop the policy a test got makes, when it is not asyncio's (_policy.foreign_loop).
    policy_loop: Callable[[pytest.Item], ForeignLoop | None] | None
    # The open loops the project's factories or policies made, keyed by scope, node and label;
    # never in ``loops``, which are the loops loopwarden guards.
    foreign_loops: dict[tuple[str, str, str], LoopState]
    # label -> (the foreign loop, how many tests ran on one), for the summary.
    unguarded: dict[str, tuple[ForeignLoop, int]]
    _fixture_scopes: dict[object, str]
    _kinds: dict[object, str | None]
    # The loop each wider async fixture was last set up in (checked when foreign loops exist).
    _fixture_loops: dict[object, LoopState]
    # The argnames added to async fixtures so they follow the kind of loop (follow_loop_kinds).
    _injected: dict[object, tuple[str, ...]]
    _fields = (
        "default_test_scope",
        "default_fixture_scope",
        "debug",
        "loops",
        "current_item",
        "new_loop_hooks",
        "policy_named",
        "policy_loop",
        "foreign_loops",
        "unguarded",
        "_fixture_scopes",
        "_kinds",
        "_fixture_loops",
        "_injected",
    )

    def __init__(
        self,
        default_test_scope: str,
        default_fixture_scope: str | None,
        debug: bool = False,
        loops: dict[tuple[str, str], LoopState] | None = None,
        current_item: pytest.Item | None = None,
        new_loop_hooks: list[Callable[[WardenLoop], None]] | None = None,
        policy_named: bool = False,
        policy_loop: Callable[[pytest.Item], ForeignLoop | None] | None = None,
        foreign_loops: dict[tuple[str, str, str], LoopState] | None = None,
        unguarded: dict[str, tuple[ForeignLoop, int]] | None = None,
        _fixture_scopes: dict[object, str] | None = None,
        _kinds: dict[object, str | None] | None = None,
        _fixture_loops: dict[object, LoopState] | None = None,
        _injected: dict[object, tuple[str, ...]] | None = None,
    ) -> None:
        self.default_test_scope = default_test_scope
        self.default_fixture_scope = default_fixture_scope
        self.debug = debug
        self.loops = {} if loops is None else loops
        self.current_item = current_item
        self.new_loop_hooks = [] if new_loop_hooks is None else new_loop_hooks
        self.policy_named = policy_named
        self.policy_loop = policy_loop
        self.foreign_loops = {} if foreign_loops is None else foreign_loops
        self.unguarded = {} if unguarded is None else unguarded
        self._fixture_scopes = {} if _fixture_scopes is None else _fixture_scopes
        self._kinds = {} if _kinds is None else _kinds
        self._fixture_loops = {} if _fixture_loops is None else _fixture_loops
        self._injected = {} if _injected is None else _injected

    # -- loops --------------------------------------------------------------------------------

    def _scope_node(
        self, item: pytest.Item, scope: str
    ) -> pytest.Item | pytest.Collector | pytest.Session:
        if scope == "function":
            return item
        if scope == "session":
            return item.session
        kinds: dict[str, type[pytest.Collector]] = {
            "class": pytest.Class,
            "module": pytest.Module,
            "package": pytest.Package,
        }
        node = item.getparent(kinds[scope])
        if node is None:  # e.g. a class-scoped loop for a module-level test
            return self._scope_node(item, SCOPES[_RANK[scope] + 1])
        return node

    def loop_for(self, scope: str, item: pytest.Item) -> LoopState:
        """The loop of ``scope`` for ``item``, created on first use (a foreign loop when the
        project gives the test one)."""
        node = self._scope_node(item, scope)
        foreign = self.foreign_of(item)
        if foreign is not None:
            return self._foreign_loop(
                scope if node is not item.session else "session", node, foreign
            )
        key = (scope if node is not item.session else "session", node.nodeid)
        state = self.loops.get(key)
        if state is None:
            loop = new_loop()
            if self.debug:
                loop.set_debug(True)
            if key[0] == "session":
                # Code that calls asyncio.get_event_loop() from synchronous fixtures gets the loop
                # its async fixtures run in.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    asyncio.set_event_loop(loop)
            for hook in self.new_loop_hooks:
                hook(loop)
            driver = Driver(loop, f"loopwarden {key[0]} driver")
            state = LoopState(key[0], node, loop, driver)
            self.loops[key] = state
        return state

    def foreign_of(self, item: pytest.Item) -> ForeignLoop | None:
        """The loop the project gives ``item`` instead of loopwarden's, if any: from its loop
        factory (decided at collection) or from the ``event_loop_policy`` it got (known once that
        fixture, autouse and set up first, has run)."""
        stash = item.stash
        if FOREIGN_LOOP in stash:
            return stash[FOREIGN_LOOP]
        if self.policy_loop is not None:
            found = self.policy_loop(item)
            if found is not None:
                stash[FOREIGN_LOOP] = found
            return found
        return None

    def _foreign_loop(
        self,
        scope: str,
        node: pytest.Item | pytest.Collector | pytest.Session,
        foreign: ForeignLoop,
    ) -> LoopState:
        key = (scope, node.nodeid, foreign.label)
        state = self.foreign_loops.get(key)
        if state is None:
            loop: Any = foreign.make()
            if self.debug:
                loop.set_debug(True)
            driver = Driver(loop, f"loopwarden {scope} driver ({foreign.name})")
            state = LoopState(scope, node, loop, driver, foreign)
            self.foreign_loops[key] = state
        return state

    def close_loops_outside(self, nextitem: pytest.Item | None) -> None:
        """Close the loops whose scope node does not contain ``nextitem`` (all when None)."""
        if self.foreign_loops:
            self._close_outside(self.foreign_loops, nextitem)
        if not self.loops:
            return
        if nextitem is not None and len(self.loops) == 1 and ("session", "") in self.loops:
            return  # only the session loop, and the session goes on
        self._close_outside(self.loops, nextitem)

    def _close_outside(self, loops: dict[Any, LoopState], nextitem: pytest.Item | None) -> None:
        if nextitem is None:
            keep: set[str] = set()
        else:
            keep = {node.nodeid for node in nextitem.listchain()}
        closed = []
        for key, state in list(loops.items()):
            if nextitem is not None and state.node.nodeid in keep:
                continue
            del loops[key]
            state.driver.stop()
            close_loop(state.loop)
            closed.append(state)
            if state.scope == "session" and state.foreign is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    asyncio.set_event_loop(None)
        if closed and self._fixture_loops:
            # Keep no closed loop alive through the fixtures that ran in it.
            gone = {id(state) for state in closed}
            for fixturedef, state in list(self._fixture_loops.items()):
                if id(state) in gone:
                    del self._fixture_loops[fixturedef]

    # -- fixtures -----------------------------------------------------------------------------

    def kind_of(self, func: object) -> str | None:
        try:
            return self._kinds[func]
        except KeyError:
            kind = self._kinds[func] = async_kind(func)
            return kind
        except TypeError:  # unhashable callable
            return async_kind(func)

    def fixture_loop_scope(self, fixturedef: pytest.FixtureDef[Any], item: pytest.Item) -> str:
        """The loop scope of an async fixture wider than function scope (see module docstring)."""
        try:
            return self._fixture_scopes[fixturedef]
        except KeyError:
            pass
        scope: str = fixturedef.scope
        if self.default_fixture_scope is not None:
            scope = wider(scope, self.default_fixture_scope)
        defs = _compat.fixturedefs_of(item)
        for argname in fixturedef.argnames:
            dep_defs = defs.get(argname)
            if not dep_defs:
                continue
            dep = dep_defs[-1]
            if dep is fixturedef or dep.scope == "function" or self.kind_of(dep.func) is None:
                continue
            scope = wider(scope, self.fixture_loop_scope(dep, item))
        self._fixture_scopes[fixturedef] = scope
        return scope

    def _wider_async_fixtures(self, item: pytest.Item) -> list[tuple[str, str]]:
        """(name, scope) of the async fixtures wider than function scope that ``item`` uses."""
        found = []
        defs = _compat.fixturedefs_of(item)
        for name in getattr(item, "fixturenames", ()):
            fixture_defs = defs.get(name)
            if not fixture_defs:
                continue
            fixturedef = fixture_defs[-1]
            if fixturedef.scope == "function" or self.kind_of(fixturedef.func) is None:
                continue
            found.append((name, self.fixture_loop_scope(fixturedef, item)))
        return found

    def item_state(self, item: pytest.Item) -> ItemState:
        """Which loop ``item`` runs in; decided once, at its first async step."""
        state = peek(item.stash, ITEM_STATE, None)
        if state is None:
            state = ItemState(self._choose_loop(item))
            item.stash[ITEM_STATE] = state
        return state

    @property
    def uniform(self) -> bool:
        """True when every async fixture and unmarked test shares the session loop (default)."""
        return self.default_test_scope == "session" and self.default_fixture_scope == "session"

    def _choose_loop(self, item: pytest.Item) -> LoopState:
        marker_scope, marker_name = item.stash.get(MARKER_SCOPE, None) or _marker_loop_scope(item)
        if marker_scope is None and self.uniform:
            # Every wider async fixture runs in the session loop too: nothing can conflict.
            return self.loop_for("session", item)
        used = self._wider_async_fixtures(item)
        if marker_scope is not None:
            target = self.loop_for(marker_scope, item)
            for name, scope in used:
                other = self.loop_for(scope, item)
                if other is not target:
                    pytest.fail(
                        f"loopwarden: {item.name} asks for loop_scope={marker_scope!r} "
                        f"(@pytest.mark.{marker_name}) but uses async fixture {name!r}, which runs "
                        f"in {other.describe()}; what the fixture made is bound to that loop "
                        '("attached to a different loop").\n'
                        f"Fix: drop loop_scope from the marker, so the test runs in the fixture's "
                        f"loop, or use loop_scope={scope!r}.",
                        pytrace=False,
                    )
            return target
        chosen: dict[tuple[str, str], tuple[str, str, LoopState]] = {}
        for name, scope in used:
            state = self.loop_for(scope, item)
            chosen.setdefault((state.scope, state.node.nodeid), (name, scope, state))
        if len(chosen) > 1:
            # Name the wider fixture first: the fix is for the narrower one to request it.
            (name_a, _, loop_a), (name_b, _, loop_b) = sorted(
                chosen.values(), key=lambda entry: -_RANK[entry[1]]
            )[:2]
            pytest.fail(
                f"loopwarden: {item.name} cannot run in one event loop: "
                f"async fixture {name_a!r} runs in "
                f"{loop_a.describe()} and async fixture {name_b!r} runs in {loop_b.describe()}.\n"
                f"Fix: set loopwarden_loop = session (the default: one loop for everything), or "
                f"give both fixtures the same scope, or make {name_b!r} request {name_a!r} "
                f"(a fixture runs in the loop of the async fixtures it requests).",
                pytrace=False,
            )
        if chosen:
            return next(iter(chosen.values()))[2]
        return self.loop_for(self.default_test_scope, item)

    def driver_for_fixture(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, item: pytest.Item
    ) -> tuple[Driver, object]:
        """The driver that runs this fixture's steps, and the owner its creations belong to."""
        if fixturedef.scope == "function":
            return self.item_state(item).function_driver(item), item.nodeid
        scope = self.fixture_loop_scope(fixturedef, item)
        state = self.loop_for(scope, item)
        self._fixture_loops[fixturedef] = state
        if request.scope == "function":
            # Parametrized per test (``indirect=True, scope="function"``): it runs in the loop of
            # its declared scope, but lives for one test, and what it makes is that test's.
            return state.driver, item.nodeid
        # The owner the leak guard checks at the fixture's teardown: the request's node, which
        # for a class-scoped fixture of a test outside a class is the test itself.
        return state.driver, FixtureOwner.of(fixturedef, request)

    def fixture_wrapper(
        self,
        fixturedef: pytest.FixtureDef[Any],
        request: pytest.FixtureRequest,
        item: pytest.Item,
        kind: str,
    ) -> Callable[..., Any]:
        """A synchronous stand-in for an async fixture function, which pytest then calls."""
        original = _bind(fixturedef.func, request)
        injected = self._injected.get(fixturedef) if self._injected else None
        if injected:
            original = _without(original, injected)
        name = fixturedef.argname
        driver, owner = self.driver_for_fixture(fixturedef, request, item)

        def check_not_running() -> None:
            if driver.loop.is_running():
                pytest.fail(
                    f"loopwarden: async fixture {name!r} was requested with "
                    "request.getfixturevalue() while the event loop is running (from inside an "
                    "async test or fixture); an async fixture cannot be set up from inside a "
                    "running loop.\n"
                    f"Fix: request {name!r} as an argument of the test or fixture instead.",
                    pytrace=False,
                )

        if kind == "coro":

            def run_coroutine_fixture(**kwargs: Any) -> Any:
                __tracebackhide__ = True
                check_not_running()
                return driver.run(original(**kwargs), owner)

            return run_coroutine_fixture

        # A fixture that lives for one test is begun in the running loop, which then registers
        # it, as pytest-asyncio's runs on the test's loop: a test's loop.shutdown_asyncgens()
        # finalizes it. A wider one is not: pytest-asyncio runs it in a wider loop than the
        # test's, which the test's shutdown_asyncgens() does not reach.
        per_test = request.scope == "function"

        def run_asyncgen_fixture(**kwargs: Any) -> Generator[Any, None, None]:
            __tracebackhide__ = True
            check_not_running()
            agen = original(**kwargs)
            try:
                first = _first_step(agen) if per_test else agen.__anext__()
                value = driver.run(first, owner)
            except StopAsyncIteration:
                raise ValueError(f"async fixture {name!r} did not yield a value") from None
            yield value
            try:
                driver.run(agen.__anext__(), owner)
            except StopAsyncIteration:
                return
            driver.run(agen.aclose(), owner)
            pytest.fail(
                f"loopwarden: async fixture {name!r} has more than one 'yield'; "
                "a fixture yields its value exactly once, then tears down.",
                pytrace=False,
            )

        return run_asyncgen_fixture

    # -- tests --------------------------------------------------------------------------------

    def run_test(
        self, item: pytest.Item, func: Callable[..., Coroutine[Any, Any, Any]], kwargs: Any
    ) -> None:
        __tracebackhide__ = True
        state = self.item_state(item)
        if self.foreign_loops:
            self._check_one_kind_of_loop(item, state.loop_state)
        try:
            if state.driver is None:
                # No async function-scoped fixture ran: a one-shot task is enough.
                state.loop_state.driver.run_in_task(
                    func(**kwargs), f"loopwarden test {item.name}", item.nodeid
                )
            else:
                state.driver.run(func(**kwargs), item.nodeid)
        except RuntimeError as exc:
            advice = _RUNNING_LOOP_ADVICE.get(str(exc))
            if advice is not None:
                exc.add_note(advice)
            raise

    def _check_one_kind_of_loop(self, item: pytest.Item, state: LoopState) -> None:
        """Fail the test if its loop is not the kind the project gives it, or if an async fixture
        it uses was set up in another kind of loop (for a test that got another policy or
        factory): what that fixture made is bound to the other loop."""
        __tracebackhide__ = True
        foreign = self.foreign_of(item)
        if foreign is not None:
            self._count_unguarded(foreign)
            _warn_unguarded_features(item, foreign)
        wanted = "loopwarden's" if foreign is None else foreign.label
        for name, _ in self._wider_async_fixtures(item):
            fixturedef = _compat.fixturedefs_of(item)[name][-1]
            ran_in = self._fixture_loops.get(fixturedef)
            if ran_in is None or ran_in.label == wanted:
                continue
            pytest.fail(
                f"loopwarden: {item.name} runs on {_kind_of_loop(foreign)}, but async fixture "
                f"{name!r} was set up in {ran_in.describe()} for an earlier test, and pytest "
                'keeps its value for this one: what it made is bound to that loop ("attached to '
                'a different loop").\n'
                f"Fix: {_one_loop_advice(name, foreign, ran_in)}",
                pytrace=False,
            )
        if state.label != wanted:
            pytest.fail(
                f"loopwarden: {item.name} gets {_kind_of_loop(foreign)} from the project's "
                f"event_loop_policy fixture, but its async fixtures were set up in "
                f"{state.describe()} before that fixture ran.\n"
                "Fix: give event_loop_policy session scope (as pytest-asyncio's own has), so it "
                "is set up before any async fixture.",
                pytrace=False,
            )

    def follow_loop_kinds(self, items: list[pytest.Item], names: dict[str, str | None]) -> None:
        """Make each async fixture wider than function scope depend on ``names`` (the fixtures
        that decide which kind of loop a test gets: the loop-factory parameter, the project's
        ``event_loop_policy``), as pytest-asyncio's loop fixtures do: when a test comes with
        another kind of loop than the last, pytest tears those fixtures down and sets them up
        again, in the new kind. Only names of a scope at least as wide as the fixture's are
        added (a wider fixture cannot depend on a narrower one); the call-time check covers the
        rest (see ``_check_one_kind_of_loop``). ``names`` maps each to its scope, or to None
        to read it from the test's own definition of it (a conftest's override)."""
        seen: set[int] = set()
        for item in items:
            defs = _compat.fixturedefs_of(item)
            if not defs:
                continue
            deciders = {}
            for name, scope in names.items():
                if scope is None:
                    found = defs.get(name)
                    if not found:
                        continue
                    scope = found[-1].scope
                deciders[name] = _RANK[scope]
            for name, fixture_defs in defs.items():
                fixturedef = fixture_defs[-1]
                if id(fixturedef) in seen or name in deciders:
                    continue
                seen.add(id(fixturedef))
                if fixturedef.scope == "function" or self.kind_of(fixturedef.func) is None:
                    continue
                rank = _RANK[fixturedef.scope]
                added = tuple(
                    decider
                    for decider, decider_rank in deciders.items()
                    if decider_rank >= rank and decider not in fixturedef.argnames
                )
                if added:
                    self._injected[fixturedef] = added
                    fixturedef.argnames = (*fixturedef.argnames, *added)  # type: ignore[misc]

    def _count_unguarded(self, foreign: ForeignLoop) -> None:
        _, count = self.unguarded.get(foreign.label, (foreign, 0))
        self.unguarded[foreign.label] = (foreign, count + 1)

    def finish_item(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """After a test's teardown: end its driver, close loops whose scope ended."""
        state = peek(item.stash, ITEM_STATE, None)
        if state is not None:
            if state.driver is not None:
                state.driver.stop()
            # Items live until the session ends: keep no reference to a loop that may close now.
            del item.stash[ITEM_STATE]
        self.close_loops_outside(nextitem)


def _warn_unguarded_features(item: pytest.Item, foreign: ForeignLoop) -> None:
    """Say that virtual time or a fuzzed schedule the test asks for does not apply to its loop."""
    stash = item.stash
    for asked, feature, instead in (
        (VIRTUAL in stash, "virtual time", "runs in real time"),
        (SEED in stash, "a fuzzed schedule", "keeps FIFO order"),
    ):
        if asked:
            item.warn(
                pytest.PytestWarning(
                    f"loopwarden: {item.name} asks for {feature}, but it runs on the loop "
                    f"{foreign.label} from {foreign.source}, which loopwarden does not make: it "
                    f"{instead}. Give the test asyncio's own loop to run it on loopwarden's, or "
                    f"drop {feature} for this test."
                )
            )


def _kind_of_loop(foreign: ForeignLoop | None) -> str:
    return "loopwarden's loop" if foreign is None else f"the loop {foreign.label}"


def _one_loop_advice(name: str, foreign: ForeignLoop | None, other: LoopState) -> str:
    """How a wider async fixture gets set up in each kind of loop its tests run on."""
    for found in (foreign, other.foreign):
        if found is not None and found.source.startswith("the event_loop_policy"):
            return (
                f"make {name!r} request event_loop_policy, so it is set up again for each "
                "policy, or give it function scope."
            )
    return (
        f"give {name!r} function scope, or answer one factory per run in the "
        "pytest_asyncio_loop_factories hook (an option the hook reads)."
    )


_RUNNING_LOOP_ADVICE = {
    "asyncio.run() cannot be called from a running event loop": (
        "loopwarden: this async test already runs in an event loop, so it cannot start another "
        "with asyncio.run(). Fix: 'await' the coroutine directly instead of asyncio.run(coro)."
    ),
    "This event loop is already running": (
        "loopwarden: this async test already runs in the event loop, so run_until_complete() "
        "cannot drive it again. Fix: 'await' the coroutine directly."
    ),
    "Cannot run the event loop while another loop is running": (
        "loopwarden: this async test already runs in an event loop, so it cannot run another "
        "loop inside. Fix: 'await' the coroutine directly instead of running a new loop."
    ),
}


def marker_loop_scope(item: pytest.Item) -> None:
    """Read the loop scope a test's marker asks for once, at collection, and stash it.

    An invalid scope is not stashed: it fails the test at setup, when it is read again.
    """
    try:
        found = _marker_loop_scope(item)
    except pytest.fail.Exception:
        return
    item.stash[MARKER_SCOPE] = found


def _marker_loop_scope(item: pytest.Item) -> tuple[str | None, str]:
    names = marker_names(item)
    for name in ("loopwarden", "asyncio"):
        if name not in names:
            continue
        scope = None
        for marker in item.iter_markers(name):
            scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
            if scope is not None:
                break
        if scope is None:
            continue
        if scope not in SCOPES:
            pytest.fail(
                f"loopwarden: {item.nodeid}: @pytest.mark.{name}(loop_scope={scope!r}) is not a "
                f"valid loop scope; allowed values: {', '.join(SCOPES)}.",
                pytrace=False,
            )
        return str(scope), name
    return None, ""


def _without(func: Any, names: tuple[str, ...]) -> Any:
    """``func`` called without the keyword arguments ``names`` (added by follow_loop_kinds)."""

    def call_without(**kwargs: Any) -> Any:
        for name in names:
            kwargs.pop(name, None)
        return func(**kwargs)

    return call_without


def _bind(func: Any, request: pytest.FixtureRequest) -> Any:
    """Bind a fixture defined in a test class to the test's instance, as pytest itself does."""
    instance = request.instance
    bound_to = getattr(func, "__self__", None)
    if instance is None or bound_to is None or isinstance(bound_to, type):
        return func
    if not isinstance(instance, type(bound_to)):  # a fixture of another class (a plugin object)
        return func
    return func.__func__.__get__(instance)


async def _first_step(agen: AsyncGenerator[Any, None]) -> Any:
    """An async fixture's first step, begun in the running loop: the loop's first-iteration hook
    then registers the generator, so ``loop.shutdown_asyncgens()`` finalizes it (gql's
    client.subscribe() runs it, and its tests wait for the fixture's server to stop)."""
    return await agen.__anext__()
