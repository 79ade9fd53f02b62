"""Schedule fuzzing in pytest: ``--lw-fuzz-runs=N``, ``@pytest.mark.loopwarden(fuzz=N)``,
``--lw-fuzz-seed=SEED``.

With N runs, each async test is collected N times (ids ``fuzz0`` … ``fuzzN-1``), each a full
test with its own setup and teardown. Run 0 keeps asyncio's FIFO order; run *i* > 0 runs under
the :class:`~loopwarden._core._fuzz.FuzzScheduler` of a seed derived from the test's id and *i* —
the same seeds on every machine and every run, so a schedule that fails in CI fails locally too.
The scheduler is on from the start of the test's setup to the end of its teardown, on every loop
the test and its fixtures use.

A failing fuzzed run names its seed and the command that replays it; the terminal summary lists
the tests that failed under some schedule but passed in FIFO order — the order-dependent ones —
first. ``--lw-fuzz-seed=SEED`` runs each selected async test once, under that seed.
"""

from __future__ import annotations

import inspect
import shlex
import zlib
from collections.abc import Generator
from typing import Any

import pytest

from loopwarden._core._fuzz import FuzzScheduler
from loopwarden._core._loop import WardenLoop
from loopwarden._core._records import Record
from loopwarden._plugin import _settings
from loopwarden._plugin._keys import FUZZ_ARG, SEED, VIRTUAL, base_nodeid
from loopwarden._plugin._loops import live_loops, on_new_loop, warn_if_foreign
from loopwarden._plugin._stash import marker_names, notable_items
from loopwarden._plugin.config import (
    MARKER_ERROR,
    STATE,
    Mode,
    marker_arg,
    register_per_test,
    stands_down,
)

#: The parameter that carries the run index (a fixture of that name returns it).
# Per test: the seed of its schedule (absent: FIFO).
FUZZ = pytest.StashKey["Fuzz"]()


def seed_for(nodeid: str, run: int) -> int:
    """The seed of run ``run`` (> 0) of the test ``nodeid`` (without its fuzz id)."""
    return zlib.crc32(f"{nodeid}#{run}".encode()) or run


class Outcome(Record):
    """What happened to the runs of one test.

    A run fails when its setup or its call fails; what its teardown does (a leak, most often) is
    counted apart, since a schedule cannot change it the way it changes the test's assertions.
    """

    runs: int
    fifo_failed: bool
    failed: list[int]
    teardown_failed: int
    # The first run whose teardown failed with a given text (the run's own name taken out), so
    # that later runs failing the same way say so in one line instead of repeating it.
    teardown_texts: dict[str, str]
    _fields = ("runs", "fifo_failed", "failed", "teardown_failed", "teardown_texts")

    def __init__(
        self,
        runs: int = 0,
        fifo_failed: bool = False,
        failed: list[int] | None = None,
        teardown_failed: int = 0,
        teardown_texts: dict[str, str] | None = None,
    ) -> None:
        self.runs = runs
        self.fifo_failed = fifo_failed
        self.failed = [] if failed is None else failed
        self.teardown_failed = teardown_failed
        self.teardown_texts = {} if teardown_texts is None else teardown_texts


class Fuzz(Record):
    """The session's fuzzing state."""

    config: pytest.Config
    runs: int
    replay: int | None
    current: FuzzScheduler | None
    outcomes: dict[str, Outcome]
    _fields = ("config", "runs", "replay", "current", "outcomes")

    def __init__(
        self,
        config: pytest.Config,
        runs: int,
        replay: int | None,
        current: FuzzScheduler | None = None,
        outcomes: dict[str, Outcome] | None = None,
    ) -> None:
        self.config = config
        self.runs = runs
        self.replay = replay
        self.current = current
        self.outcomes = {} if outcomes is None else outcomes

    def install(self, loop: WardenLoop) -> None:
        if self.current is not None:
            loop.set_scheduler(self.current)

    def switch(self, scheduler: FuzzScheduler | None) -> None:
        self.current = scheduler
        for loop in live_loops(self.config):
            loop.set_scheduler(scheduler)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    state = config.stash.get(STATE, None)
    if state is None or state.mode is Mode.LIMITED:
        return
    chosen = _settings.settings(config)
    config.stash[FUZZ] = Fuzz(config, chosen.fuzz_runs, chosen.fuzz_seed)


def pytest_sessionstart(session: pytest.Session) -> None:
    fuzz = session.config.stash.get(FUZZ, None)
    if fuzz is None:
        return
    on_new_loop(session.config, fuzz.install)


def pytest_report_header(config: pytest.Config) -> str | None:
    fuzz = config.stash.get(FUZZ, None)
    if fuzz is None:
        return None
    if fuzz.replay is not None:
        return f"loopwarden: replaying fuzz schedule {fuzz.replay} (--lw-fuzz-seed)"
    if fuzz.runs > 1:
        return f"loopwarden: fuzzing every async test over {fuzz.runs} schedules (the first FIFO)"
    return None


def _runs_for(definition: Any, default: int) -> int | str:
    """Runs for a test: its marker's ``fuzz`` or the setting; a message when the marker is bad."""
    found = False
    raw: object = None
    for mark in definition.iter_markers("loopwarden"):
        if "fuzz" in mark.kwargs:
            found, raw = True, mark.kwargs["fuzz"]
            break
    if not found:
        return default
    if raw is False:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        return (
            f"@pytest.mark.loopwarden(fuzz={raw!r}) is not valid; use fuzz=N (a number of "
            "schedules, e.g. fuzz=50) or fuzz=False"
        )
    return raw


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fuzz = metafunc.config.stash.get(FUZZ, None)
    if fuzz is None or fuzz.replay is not None:
        return
    if not inspect.iscoroutinefunction(metafunc.function):
        return
    if fuzz.runs < 2 and "loopwarden" not in marker_names(metafunc.definition):
        return  # no schedules to fuzz, and no marker asking for some
    runs = _runs_for(metafunc.definition, fuzz.runs)
    if isinstance(runs, str) or runs < 2:
        return  # a bad marker fails the test at setup (see pytest_itemcollected)
    metafunc.fixturenames.append(FUZZ_ARG)
    metafunc.parametrize(FUZZ_ARG, range(runs), indirect=True, ids=lambda i: f"fuzz{i}")


@pytest.fixture
def _loopwarden_fuzz_run(request: pytest.FixtureRequest) -> int:
    """The index of this fuzzed run (0: FIFO order)."""
    return int(request.param)


def _collected(fuzz: Fuzz, item: pytest.Function) -> None:
    found, _ = marker_arg(item, "fuzz")
    if found:
        runs = _runs_for(item, fuzz.runs)
        if isinstance(runs, str):
            item.stash[MARKER_ERROR] = f"loopwarden: {item.nodeid}: {runs}."
            return
    if fuzz.replay is not None:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.stash[SEED] = fuzz.replay
        return
    callspec = getattr(item, "callspec", None)
    run = callspec.params.get(FUZZ_ARG) if callspec is not None else None
    if run is None:
        return
    fuzz.outcomes.setdefault(base_nodeid(item.nodeid), Outcome())
    if run > 0:
        item.stash[SEED] = seed_for(base_nodeid(item.nodeid), run)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    fuzz = session.config.stash.get(FUZZ, None)
    if fuzz is None:
        return
    items = notable_items(session)
    for item in items:
        if isinstance(item, pytest.Function):
            _collected(fuzz, item)
    if fuzz.outcomes or any(SEED in item.stash for item in items):
        # Only a session that fuzzes or replays pays for the per-test hooks.
        register_per_test(session.config, FuzzRuns(fuzz), "loopwarden-fuzz-runs")


class FuzzRuns:
    """The per-test hooks: each test's schedule, and what its runs did."""

    # Registered after pytest's capture and logging plugins, so its wrappers are trylast to run
    # inside theirs (what they print is the test's), as when they were module hooks.

    def __init__(self, fuzz: Fuzz) -> None:
        self.fuzz = fuzz

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        seed = item.stash.get(SEED, None)
        if seed is not None:
            warn_if_foreign(item, "a fuzzed schedule", "keep FIFO order")
            self.fuzz.switch(FuzzScheduler(seed))
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        current = self.fuzz.current
        if current is not None:
            current.restart("call")
        return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        fuzz = self.fuzz
        if fuzz.current is not None:
            fuzz.current.restart("teardown")
        try:
            return (yield)
        finally:
            if fuzz.current is not None:
                fuzz.switch(None)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        fuzz = self.fuzz
        base = base_nodeid(item.nodeid)
        outcome = fuzz.outcomes.get(base)
        seed = item.stash.get(SEED, None)
        if outcome is None and seed is None:
            return report  # not fuzzed: nothing to count, no schedule to name
        if outcome is not None and call.when == "setup":
            outcome.runs += 1
        if not report.failed:
            return report
        if outcome is not None and call.when == "teardown":
            outcome.teardown_failed += 1
            _once_per_test(outcome, item, report)
        elif outcome is not None:
            if seed is None:
                outcome.fifo_failed = True
            elif seed not in outcome.failed:
                outcome.failed.append(seed)
        if seed is not None:
            report.sections.append(("loopwarden fuzz", _replay_text(item, base, seed)))
        return report


def _once_per_test(outcome: Outcome, item: pytest.Item, report: pytest.TestReport) -> None:
    """A teardown failure the same as an earlier run's is told in one line, naming that run: a
    fixture that leaks does so in every schedule, and 30 copies bury the one that matters."""
    text = report.longreprtext.replace(item.name, "<run>")
    first = outcome.teardown_texts.setdefault(text, item.nodeid)
    if first != item.nodeid:
        report.longrepr = (
            f"loopwarden: the same teardown failure as {first} (shown there): the fixture "
            "fails this way under every schedule."
        )


def _replay_text(item: pytest.Item, base: str, seed: int) -> str:

    exact = (
        "the replay is exact if the test makes no real I/O and starts no threads"
        if item.stash.get(VIRTUAL, False)
        else "best effort: the test runs in real time; in virtual time and without real I/O "
        "the replay would be exact"
    )
    return (
        f"This run used fuzz schedule {seed}. Replay it with:\n"
        f"  pytest {shlex.quote(base)} --lw-fuzz-seed={seed}\n"
        f"({exact})."
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    fuzz = config.stash.get(FUZZ, None)
    if fuzz is None or not fuzz.outcomes:
        return
    outcomes = fuzz.outcomes
    schedules = sum(o.runs for o in outcomes.values())
    flaky = [(nodeid, o) for nodeid, o in outcomes.items() if o.failed and not o.fifo_failed]
    broken = [(nodeid, o) for nodeid, o in outcomes.items() if o.fifo_failed]
    terminalreporter.section("loopwarden fuzz")
    write = terminalreporter.write_line
    write(
        f"{len(outcomes)} test{'s' if len(outcomes) != 1 else ''} fuzzed, {schedules} "
        f"schedule{'s' if schedules != 1 else ''} run; {len(flaky)} order-dependent "
        "(failed under some schedule, passed in FIFO order)"
    )
    for nodeid, outcome in flaky:
        seed = outcome.failed[0]
        write(
            f"  ORDER-DEPENDENT {nodeid}: {len(outcome.failed)} of {outcome.runs - 1} schedules "
            f"failed; replay: pytest {shlex.quote(nodeid)} --lw-fuzz-seed={seed}"
            + _also_teardown(outcome)
        )
    for nodeid, outcome in broken:
        write(
            f"  FAILS IN FIFO ORDER TOO {nodeid} (not a scheduling problem, or not only)"
            + _also_teardown(outcome)
        )
    for nodeid, outcome in outcomes.items():
        if outcome.teardown_failed and not outcome.failed and not outcome.fifo_failed:
            write(
                f"  TEARDOWN FAILS {nodeid}: passes under every schedule; its teardown fails in "
                f"{outcome.teardown_failed} of {outcome.runs} runs (a leak?)"
            )


def _also_teardown(outcome: Outcome) -> str:
    count = outcome.teardown_failed
    if not count:
        return ""
    return f"; its teardown also fails ({count} of {outcome.runs} runs: a leak?)"
