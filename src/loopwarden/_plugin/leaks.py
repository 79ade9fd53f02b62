"""The leak guard: fail exactly the test that left something behind, then clean up after it.

After a test's function-scoped fixtures are torn down, everything the test created on loopwarden's
loops must be finished: pending tasks, live timers, open servers, connections and subprocess
transports, unfinished executor work, threads it started; and nothing may have gone wrong unseen
(never-awaited coroutines, unretrieved task exceptions, unclosed sessions and other errors sent to
the loop's exception handler). Otherwise the test gets one teardown error listing every finding
with where it was created, and loopwarden cleans up so the next test starts clean.

Attribution is by creation owner (see ``_core/_registry.py``): the owner of a task is the test or
the wider-scoped fixture that was current when it was created, inherited by the tasks it creates.
Leaks of a wider-scoped fixture are reported when that fixture is torn down.

In guard mode pytest-asyncio closes a test's loop in its own fixture teardown, cancelling what is
left without a word; loopwarden's hook on ``asyncio.Runner.close`` sees those tasks first.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Generator, Hashable
from typing import Any

import pytest

from loopwarden._core import _findings, _private
from loopwarden._core._findings import AllowList, Finding, Sites
from loopwarden._core._leaks import LeakEngine, TestWatch, candidates, tap_never_awaited
from loopwarden._core._libraries import track_clients, untracked
from loopwarden._core._lifecycle import hook_runner_close
from loopwarden._core._loop import WardenLoop
from loopwarden._core._registry import set_capture_stacks, tap_collections
from loopwarden._core._threads import record_thread_starts, started_since, thread_mark
from loopwarden._plugin import _settings
from loopwarden._plugin._keys import LEAK_GUARD
from loopwarden._plugin._loops import LiveLoops, loop_sources, on_new_loop
from loopwarden._plugin._publish import publish, warn
from loopwarden._plugin._runtime import ITEM_STATE, FixtureOwner, lives_per_test
from loopwarden._plugin._stash import marker_names, notable_items, peek
from loopwarden._plugin.config import STATE, Mode, stands_down
from loopwarden._warnings import LeakWarning

# Frames of creation origin kept for every coroutine (so "never awaited" names its line).
ORIGIN_DEPTH = 3
ORIGIN_DEPTH_STACKS = 30


class LeakGuard(LeakEngine):
    """The session's leak engine, with what pytest adds: the action, the baseline, and the wider
    fixtures' reports waiting for the test whose teardown ended them."""

    action: str
    baseline: Any
    # Wider fixtures torn down during a test's teardown: (failure text, findings) per test.
    fixture_reports: dict[Hashable | None, list[tuple[str, list[Finding]]]]
    # Each marked test's allow_leaks, by node id: it allows its late findings too.
    allows: dict[str, AllowList]
    # The last test's teardown ended with a collection pass (see finish_session).
    collected_at_end: bool
    _fields = (
        *LeakEngine._fields,
        "action",
        "baseline",
        "fixture_reports",
        "allows",
        "collected_at_end",
    )

    def __init__(
        self,
        sites: Sites,
        *args: Any,
        action: str = "error",
        baseline: Any = None,
        fixture_reports: dict[Hashable | None, list[tuple[str, list[Finding]]]] | None = None,
        allows: dict[str, AllowList] | None = None,
        collected_at_end: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(sites, *args, **kwargs)
        self.action = action
        self.baseline = baseline
        self.fixture_reports = {} if fixture_reports is None else fixture_reports
        self.allows = {} if allows is None else allows
        self.collected_at_end = collected_at_end

    def finish_session(self) -> list[Finding]:
        """The late findings, complete and classified, once every test and fixture has ended.

        One collection pass first finds what the last tests left in reference cycles (else the
        collector finds it after the report, or never, and which tests ran would decide whether
        it is reported at all). Each late finding is then classified as its creator's findings
        are: by that test's ``allow_leaks`` marker, the baseline, and the action.
        """
        # No pass when no test ran (a collect-only run: no creator to charge), or when the last
        # test's teardown just made one after every fixture had ended (the own runner's loops
        # stay open until then): only closing those loops has run since.
        ran = len(self.finished) > 1 or self.current is not None
        self.collect_late(collect=ran and not self.collected_at_end)
        for finding in self.late:
            if finding.status != "new":
                continue
            # A parametrized test's: "one of a[1], a[2]" (which one made it is not known).
            owners = candidates(finding.owner)
            allows = [self.allows.get(owner) for owner in owners]
            if all(allow is not None and allow.allows(finding) for allow in allows):
                finding.status = "allowed"
            elif self.baseline is not None:
                self.baseline.classify_any(owners, finding)
            if finding.status == "new" and self.action == "warn":
                finding.status = "warned"
        return self.late


_NOT_SET = object()
WATCH = pytest.StashKey[TestWatch]()
_LAST = pytest.StashKey[bool]()
ALLOW = pytest.StashKey[AllowList]()


def _guard(config: pytest.Config) -> LeakGuard | None:
    return config.stash.get(LEAK_GUARD, None)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    config.addinivalue_line(
        "markers",
        "allow_leaks(tasks=, timers=, threads=, resources=, errors=, reason=): let this test "
        "leave the named things behind (True, a regular expression, or a list of them); "
        "reason is required.",
    )
    state = config.stash.get(STATE, None)
    chosen = _settings.settings(config)
    action = chosen.leaks
    if state is None or state.mode is Mode.LIMITED or action == "off":
        return
    set_capture_stacks(chosen.leaks_stacks)
    guard = LeakGuard(Sites(str(config.rootpath)), action=action)
    # (The report plugin records the baseline from the reports; without it, a baseline would mark
    # every finding recorded and never be written: it has no effect, and the header says so.)
    if chosen.leaks_baseline and not config.pluginmanager.is_blocked("loopwarden.report"):
        from loopwarden._plugin._baseline import load_baseline  # (only when one is used)

        guard.baseline = load_baseline(config)
    config.stash[LEAK_GUARD] = guard
    guard.loops.append(LiveLoops(config))
    config.add_cleanup(hook_runner_close())
    config.add_cleanup(tap_never_awaited(guard.coroutine_dropped))
    # What the garbage collector finds dead is charged to its creator, not to the running test.
    config.add_cleanup(tap_collections())
    # A leftover thread is reported with the line that started it.
    record_thread_starts(True)
    config.add_cleanup(lambda: record_thread_starts(False))
    depth = ORIGIN_DEPTH_STACKS if chosen.leaks_stacks else ORIGIN_DEPTH
    if sys.get_coroutine_origin_tracking_depth() < depth:
        previous = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(depth)
        config.add_cleanup(lambda: sys.set_coroutine_origin_tracking_depth(previous))


# The client libraries (aiohttp, httpx) whose clients are recorded where they are made.
_CLIENTS_TRACKED: set[str] = set()


def _track_clients(config: pytest.Config) -> None:
    """Record where each library client is made (see ``_core/_libraries.py``), from the first
    test after its library is imported."""
    config.add_cleanup(track_clients(_CLIENTS_TRACKED))


def pytest_sessionstart(session: pytest.Session) -> None:
    guard = _guard(session.config)
    if guard is not None:
        # What a loop of this session is given once closed (a future the collector frees after
        # its test's loop closed) is reported late by this session's checks.
        on_new_loop(session.config, guard.watch_after_close)


# (optional: the hook is loopwarden's own, registered by the main plugin, which may be off)
@pytest.hookimpl(optionalhook=True)
def pytest_loopwarden_runner_closing(config: pytest.Config, loop: WardenLoop) -> None:
    guard = _guard(config)
    if guard is not None:
        guard.before_runner_close(loop)


def pytest_collection_finish(session: pytest.Session) -> None:
    guard = _guard(session.config)
    if guard is None:
        return
    for item in notable_items(session):
        if "allow_leaks" not in marker_names(item):
            continue
        marker = item.get_closest_marker("allow_leaks")
        if marker is None:
            continue
        try:
            item.stash[ALLOW] = allow = _findings.parse_allow_leaks(marker.args, marker.kwargs)
        except ValueError as exc:
            message = f"loopwarden: {item.nodeid}: @pytest.mark.allow_leaks {exc}."
            raise pytest.UsageError(message) from None
        guard.allows[item.nodeid] = allow


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    guard = _guard(item.config)
    if guard is None:
        return
    if untracked(_CLIENTS_TRACKED):
        _track_clients(item.config)
    guard.enter_test(item.nodeid, _test_code(getattr(item, "obj", None)))
    # pytest records each test's warnings; one recorded elsewhere is the test's own business.
    guard.recorder = _private.warning_shower()
    item.stash[WATCH] = guard.watch()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    guard = _guard(request.config)
    if guard is None or lives_per_test(fixturedef, request):
        return (yield)
    # Threads a wider fixture starts belong to it, not to the test that happened to set it up.
    before = thread_mark()
    try:
        value = yield
    finally:
        guard.fixture_threads.update(started_since(before))
    owner = FixtureOwner.of(fixturedef, request)
    guard.wide_values[owner] = value
    return value


def pytest_fixture_post_finalizer(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    guard = _guard(request.config)
    if guard is None or lives_per_test(fixturedef, request):
        return
    owner = FixtureOwner.of(fixturedef, request)
    if guard.wide_values.pop(owner, _NOT_SET) is _NOT_SET:
        return  # never set up (or already finalised)
    findings, notes = guard.check(owner, None)
    if findings:
        guard.fixture_reports.setdefault(guard.current, []).append(
            (_findings.describe(findings, f"the {owner}", notes), findings)
        )


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    guard = _guard(item.config)
    if guard is None:
        return (yield)
    if nextitem is None:
        # The last test: what the run left in reference cycles is found while the loops are
        # still open (pytest-asyncio closes the test's in its teardown, the own runner its own
        # next), so a library's report of it — a future's unretrieved exception — is checked
        # with this test, or is a late finding of an earlier one. With no loop open (a sync
        # session) no library reports through one: the session's end makes the only pass. The
        # own runner's loops stay open through the teardown: the pass after it (in _finish)
        # finds the same with them open, and this one is needed only for loops made for
        # pytest-asyncio, unittest or anyio, which close in the test's teardown.
        if _loops_close_in_teardown(item.config):
            guard.collect_cycles()
        item.stash[_LAST] = True
    if guard.current is None:
        # The test's setup failed before the leak guard's setup hook ran (a wrong marker): what
        # its teardown finalises (the last test of a module ends the module's fixtures) is still
        # reported under this test.
        guard.current = item.nodeid
    try:
        result = yield
    except BaseException as exc:
        # The teardown failed on its own: keep that error, and add what loopwarden found to it.
        text, _ = _finish(item, guard)
        if text:
            exc.add_note(text)
        raise
    text, warned = _finish(item, guard)
    if text:
        __tracebackhide__ = True
        if guard.action == "warn":
            failure = warn(item, LeakWarning(text), warned)
            if failure is not None:
                pytest.fail(failure, pytrace=False)
        else:
            pytest.fail(text, pytrace=False)
    return result


def _loops_close_in_teardown(config: pytest.Config) -> bool:
    """Whether a loop open now may close during the test's teardown: one the loop guard made
    (pytest-asyncio closes the test's in its fixture teardown), not the own runner's."""
    _, loop_guard = loop_sources(config)
    return loop_guard is not None and loop_guard.made_any and bool(loop_guard.open_loops())


def _finish(item: pytest.Item, guard: LeakGuard) -> tuple[str, list[Finding]]:
    """Check what the test left, record the findings.

    Returns:
        the failure text ("" when clean), and the findings it holds that the ``warn`` action
        made ``warned``.
    """
    stash = item.stash
    watch = None
    if WATCH in stash:
        watch = stash[WATCH]
        del stash[WATCH]  # a finished test's item is kept to the end of the session: keep it lean
    # The runner's per-test driver ends first: what its last loop run frees is this test's.
    item_state = peek(stash, ITEM_STATE, None)
    if item_state is not None and item_state.driver is not None:
        item_state.driver.stop()
    loops = guard.live_loops()
    for loop in loops:
        # What is left is checked and cleaned up in real time: a leftover timer is reported,
        # not fired by a virtual clock.
        if loop.virtual_time:
            loop.set_virtual_time(False)
    nodeid = item.nodeid
    findings, notes = guard.check(nodeid, watch, loops)
    fixture_reports = guard.fixture_reports.pop(nodeid, None) if guard.fixture_reports else None
    guard.current = None
    guard.test_code = None
    if _LAST in stash and loops:
        guard.collect_late()  # (the test's verdict is out: what it left is a late finding)
        guard.collected_at_end = True
    if not findings and not fixture_reports:
        return "", []  # the usual case: nothing left behind
    fixture_reports = fixture_reports or []
    fixture_findings = [f for _, found in fixture_reports for f in found]
    allow = peek(item.stash, ALLOW, None)
    for finding in findings:
        if allow is not None and allow.allows(finding):
            finding.status = "allowed"
        elif guard.baseline is not None:
            guard.baseline.classify(item.nodeid, finding)
    for finding in fixture_findings:
        if guard.baseline is not None:
            guard.baseline.classify(finding.owner, finding)
    everything = findings + fixture_findings
    if everything:
        publish(item.config, item.nodeid, everything, leaks=True)
    failing = [f for f in findings if f.status == "new"]
    warned = [f for f in findings if f.status in ("baselined", "recorded")]
    texts = []
    if failing:
        texts.append(_findings.describe(failing, item.name, notes))
    texts.extend(text for text, found in fixture_reports if any(f.status == "new" for f in found))
    if warned:
        # ("test_x (known, in the baseline)": it read "(known (in the baseline))".)
        state = "known, in the baseline" if warned[0].status == "baselined" else "recorded"
        # A baseline exists so that known leaks don't fail: a warnings filter of "error" does
        # not overturn that (the summary and the report still list them).
        with contextlib.suppress(LeakWarning):
            item.warn(LeakWarning(_findings.describe(warned, f"{item.name} ({state})", [])))
    made_warned = []
    if guard.action == "warn":
        for finding in everything:
            if finding.status == "new":
                finding.status = "warned"  # reported as a warning; the test does not fail
                made_warned.append(finding)
    return "\n\n".join(texts), made_warned


def _test_code(function: Any) -> types.CodeType | None:
    """The code of the test function behind its wrappers (None for a doctest, a YAML item)."""
    for _ in range(100):  # as inspect.unwrap, without its cycle bookkeeping
        inner = getattr(function, "__wrapped__", None)
        if inner is None:
            break
        function = inner
    return getattr(function, "__code__", None)
