"""The session's findings: carried on test reports, summarised, written as JSON, baselined.

Each test's findings ride on its teardown report (``report.loopwarden``, a list of JSON-ready
dicts), so they reach the xdist controller like any other report data. The process that sees
every report (the controller, or the only process) writes ``--lw-report`` and records the
baseline file.

JSON report schema, version 1 (documented in docs/reference/report.md)::

    {"version": 1, "loopwarden": "0.1.0", "mode": "own runner" | "guard" | "limited",
     "tests": {"<nodeid>": {"outcome": "passed" | "failed" | "skipped" | "error",
                            "findings": [<finding>, ...]}},
     "late": [<finding>, ...],
     "findings_total": <int>}

with ``<finding>`` as in :meth:`Finding.to_json`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from loopwarden._core._findings import Finding
from loopwarden._core._leaks import candidates
from loopwarden._core._records import Record
from loopwarden._core._registry import AFTER_CLOSE, FOUND_BY_GC
from loopwarden._plugin import _settings
from loopwarden._plugin._keys import FINDINGS_ATTR, LEAK_GUARD, outcome_after
from loopwarden._plugin._publish import on_first_publish, take_published
from loopwarden._plugin.config import STATE, register_per_test, stands_down
from loopwarden._version import __version__

if TYPE_CHECKING:
    from loopwarden._core._schema import FindingJson, ReportJson, TestEntryJson


class Collected(Record):
    """Findings of the whole run, as the process that sees every report collects them."""

    tests: dict[str, TestEntryJson]
    late: list[FindingJson]
    _fields = ("tests", "late")

    def __init__(
        self,
        tests: dict[str, TestEntryJson] | None = None,
        late: list[FindingJson] | None = None,
    ) -> None:
        self.tests = {} if tests is None else tests
        self.late = [] if late is None else late

    @property
    def total(self) -> int:
        return sum(len(t["findings"]) for t in self.tests.values()) + len(self.late)


def pytest_configure(config: pytest.Config) -> None:
    if stands_down(config, __name__):
        return
    reporter = Reporter(config)
    config.pluginmanager.register(reporter, "loopwarden-reporter")
    config.pluginmanager.register(LateFindings(config), "loopwarden-late-findings")
    on_first_publish(config, reporter.follow_reports)


# Where an xdist worker hands its late findings to the controller.
_WORKER_OUTPUT = "loopwarden_late"


class LateFindings:
    """Completes the late findings when every test and fixture has ended, and hands a worker's
    to the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    # Trylast: after every fixture's teardown and the own runner's loops' close (its trylast
    # wrapper, registered earlier, is inside this one), and before xdist's worker sends its
    # output to the controller on the way out.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            guard = self.config.stash.get(LEAK_GUARD, None)
            if guard is not None:
                late = guard.finish_session()
                workeroutput = getattr(self.config, "workeroutput", None)
                if workeroutput is not None:
                    workeroutput[_WORKER_OUTPUT] = [f.to_json() for f in late]


class Reporter:
    """Collects every test's findings from the reports; writes the outputs at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collected = Collected()

    def follow_reports(self) -> None:
        """Read every test report from now on (a hook call per phase of every test).

        Only sessions that need it pay for it: one that writes ``--lw-report`` (every test's
        outcome), an xdist controller (the workers' findings arrive on their reports), and any
        session once a test has findings to attach to its report.
        """
        register_per_test(self.config, Reports(self.config, self.collected), "loopwarden-reports")

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = self.config
        controller = not hasattr(config, "workerinput") and config.pluginmanager.has_plugin(
            "dsession"
        )
        guard = config.stash.get(LEAK_GUARD, None)
        baseline = guard is not None and guard.baseline is not None
        # (With a baseline, which tests ran decides which of its entries are judged stale.)
        if controller or baseline or _settings.settings(config).report:
            self.follow_reports()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """An xdist worker is down: its late findings (the controller's hook)."""
        output = getattr(node, "workeroutput", None) or {}
        self.collected.late.extend(output.get(_WORKER_OUTPUT, ()))

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            if not hasattr(self.config, "workerinput"):
                guard = self.config.stash.get(LEAK_GUARD, None)
                if guard is not None:  # (complete by now: see LateFindings)
                    self.collected.late.extend(f.to_json() for f in guard.late)
                _write_outputs(self.config, self.collected)
                failing = any(f["status"] == "new" for f in self.collected.late)
                if failing and session.exitstatus == 0:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not hasattr(self.config, "workerinput"):
            _summary(terminalreporter, self.config, self.collected)


class Reports:
    """The per-test hook: each test's outcome and findings, from its reports."""

    def __init__(self, config: pytest.Config, collected: Collected) -> None:
        self.config = config
        self.collected = collected

    # First: the teardown report takes the test's findings before anyone reads it (the doctor)
    # or sends it to the controller (an xdist worker).
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            published = take_published(self.config, report.nodeid)
            if published:
                setattr(report, FINDINGS_ATTR, [f.to_json() for f in published])
        tests = self.collected.tests
        entry = tests.get(report.nodeid)
        outcome = outcome_after(entry["outcome"] if entry is not None else None, report)
        if outcome is not None or report.when == "teardown":
            if entry is None:
                entry = tests[report.nodeid] = {"outcome": "passed", "findings": []}
            if outcome is not None:
                entry["outcome"] = outcome
        if report.when == "teardown":
            assert entry is not None
            entry["findings"].extend(getattr(report, FINDINGS_ATTR, None) or ())


def _write_outputs(config: pytest.Config, collected: Collected) -> None:
    raw = _settings.settings(config).report
    if raw:
        path = Path(raw)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        state = config.stash.get(STATE, None)
        data: ReportJson = {
            "version": 1,
            "loopwarden": __version__,
            "mode": state.mode.value if state is not None else None,
            "tests": collected.tests,
            "late": collected.late,
            "findings_total": collected.total,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    guard = config.stash.get(LEAK_GUARD, None)
    baseline = guard.baseline if guard is not None else None
    if baseline is not None and baseline.recording:
        tests: dict[str, list[str]] = {}
        for owner, finding in _every_finding(collected):
            signature = Finding.from_json(finding).signature()
            tests.setdefault(owner, [])
            if signature not in tests[owner]:
                tests[owner].append(signature)
        from loopwarden._plugin._baseline import BASELINE_VERSION

        recorded = {"loopwarden_baseline": BASELINE_VERSION, "tests": dict(sorted(tests.items()))}
        baseline.path.parent.mkdir(parents=True, exist_ok=True)
        baseline.path.write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")


# How a late finding that does not count is marked in the summary.
_LATE_STATUS = {
    "allowed": " (allowed by @pytest.mark.allow_leaks)",
    "baselined": " (known, in the baseline)",
    "recorded": " (recorded into the baseline)",
    "warned": " (warned about, not failing)",
}


def _every_finding(collected: Collected) -> Generator[tuple[str, FindingJson], None, None]:
    """(owner, finding) for each test's findings (a wider fixture's own under it), then the late
    ones (a parametrized test's "one of a[1], a[2]" under each)."""
    for nodeid, entry in collected.tests.items():
        for finding in entry["findings"]:
            yield finding.get("owner") or nodeid, finding
    for finding in collected.late:
        for owner in candidates(finding["owner"]):  # (a parametrized test's: under each)
            yield owner, finding


def _summary(terminalreporter: Any, config: pytest.Config, collected: Collected) -> None:
    counted = [(nodeid, f) for nodeid, entry in collected.tests.items() for f in entry["findings"]]
    guard = config.stash.get(LEAK_GUARD, None)
    if not counted and not collected.late and (guard is None or guard.baseline is None):
        return
    terminalreporter.section("loopwarden")
    by_status: dict[str, int] = {}
    tests_with: dict[str, set[str]] = {}
    for nodeid, finding in counted:
        by_status[finding["status"]] = by_status.get(finding["status"], 0) + 1
        tests_with.setdefault(finding["status"], set()).add(nodeid)
    labels = {
        "new": "failing",
        "warned": "warned about, not failing (loopwarden_leaks or loopwarden_blocking_action "
        "= warn)",
        "allowed": "allowed by @pytest.mark.allow_leaks",
        "baselined": "known (in the baseline)",
        "recorded": "recorded into the baseline",
    }
    for status in ("new", "warned", "baselined", "recorded", "allowed"):
        number = by_status.get(status, 0)
        if not number:
            continue
        terminalreporter.write_line(
            f"{number} finding{'s' if number != 1 else ''} {labels.get(status, status)} "
            f"in {len(tests_with[status])} test{'s' if len(tests_with[status]) != 1 else ''}"
        )
    if collected.late:
        # Counted too: the lines above count the tests' findings only.
        number = len(collected.late)
        failing = sum(1 for f in collected.late if f["status"] == "new")
        terminalreporter.write_line(
            f"{number} late finding{'s' if number != 1 else ''}, found when no test could fail "
            f"for {'them' if number != 1 else 'it'} any more: "
            + (f"{failing} failing the run (not a test)" if failing else "none failing the run")
        )
    for finding in collected.late:
        where = finding.get("user_site") or finding.get("site")
        created = f", created at {where}" if where else ""
        if finding["owner"] == FOUND_BY_GC:
            whose = (
                "found dead in a reference cycle by the garbage collector; made by no test "
                "loopwarden can name, so no test is failed for it"
            )
        elif finding["owner"] == AFTER_CLOSE:
            whose = (
                "reported after its loop had closed; made by no test loopwarden can name, so no "
                "test is failed for it"
            )
        else:
            whose = f"by {finding['owner']}; found after that test had finished"
        status = _LATE_STATUS.get(finding["status"], "")
        terminalreporter.write_line(f"late{status}: {finding['message']}{created} ({whose})")
    baseline = guard.baseline if guard is not None else None
    if baseline is not None:
        if baseline.recording:
            terminalreporter.write_line(
                f"baseline recorded: {baseline.path} — later runs with the same "
                "--lw-leaks-baseline only warn about these findings"
            )
        else:
            ran = {nodeid for nodeid, e in collected.tests.items() if e["outcome"] != "skipped"}
            stale = baseline.stale(ran, list(_every_finding(collected)))
            if stale:
                terminalreporter.write_line(
                    f"{stale} baseline entr{'ies' if stale != 1 else 'y'} of the tests that ran "
                    f"no longer occur{'' if stale != 1 else 's'} (fixed?); delete "
                    f"{baseline.path} and run the whole suite again to re-record"
                )
    raw = _settings.settings(config).report
    if raw:
        terminalreporter.write_line(f"report written to {raw}")
