"""From the runs' records to a prioritised list of problems, and the JSON document.

Every problem names a place (``path:line``, relative to the folder the doctor ran in) and the fix.
Categories, in the order the summary lists them — what costs a team most first:

1. ``hang``: a phase ran past the timeout (the run stalls; CI kills the job);
2. ``leak``: a test left something running (tasks, timers, connections, threads…);
3. ``unseen-error``: a coroutine never awaited, an exception nobody retrieved;
4. ``order-dependent``: the test passed in FIFO order and failed under another schedule;
5. ``repeat``: the test failed when run again in the same process, whatever the schedule;
6. ``blocking``: a call held the event loop;
7. ``lint``: a static finding of ``loopwarden lint``;
8. ``virtual-time``: real seconds spent waiting on timers that virtual time saves.

The JSON schema is documented in docs/reference/doctor.md (``SCHEMA_VERSION``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopwarden._core._findings import ADVICE, KINDS

SCHEMA_VERSION = 1

CATEGORIES = (
    "hang",
    "leak",
    "unseen-error",
    "order-dependent",
    "repeat",
    "blocking",
    "lint",
    "virtual-time",
)

TITLES = {
    "hang": "Hangs",
    "leak": "Leaks",
    "unseen-error": "Unseen errors",
    "order-dependent": "Order-dependent tests",
    "repeat": "Tests that fail when run again",
    "blocking": "Blocking calls",
    "lint": "Lint findings",
    "virtual-time": "Time virtual time would save",
}


# The leak guard's advice; two say it differently in the summary, which shows no error text
# "above" and can name the fixture to use instead.
_LEAK_FIX = {
    **ADVICE,
    "unclosed": "close sessions in the fixture's teardown ('async with', or await "
    "session.close()), or inject one shared session (the aiohttp_session fixture)",
    "callback-error": "a callback or task crashed in the background; fix the error it raised",
}
_HANG_FIX = (
    "make the await it is stuck on complete (or cancel what it waits for); bound waits with "
    "asyncio.timeout(); in virtual time an idle loop is reported at once"
)
_BLOCKING_FIX = (
    "await an async equivalent, or run the blocking call in a thread (asyncio.to_thread)"
)
_ORDER_FIX = (
    "the test relies on which of its running tasks resumes first: that follows the order in "
    "which their awaits finish, and one more await in the code under test, or a reply that comes "
    "later, changes it (every schedule still started tasks in the order they were created, "
    "each before its creator resumed, as asyncio does); wait for the condition itself (await "
    "settle(), await eventually(...), an Event) instead of a number of steps or a sleep"
)
_REPEAT_FIX = (
    "the test changes state that outlives it (a module global, a class attribute, a cache, a "
    "singleton): build that state in a function-scoped fixture, or reset it in the fixture's "
    "teardown"
)

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from loopwarden._core._schema import DoctorRecord, FindingJson, LintFindingJson
_VIRTUAL_FIX = (
    "run it in virtual time: @pytest.mark.loopwarden(virtual_time=True) (or "
    "loopwarden_virtual_time = on for the suite)"
)

_STUCK_AT = re.compile(r"\bstuck at (?P<where>\S+:\d+) in (?P<func>[^\s,]+)")
_BLOCKED_AT = re.compile(r"\bat (?P<where>\S+:\d+) in (?P<func>\S+)$")
_SITE = re.compile(r"^(?P<where>.+?:\d+) in (?P<func>.+)$")


@dataclass
class Problem:
    """One thing to fix, with the tests it shows up in."""

    category: str
    location: str
    function: str | None
    title: str
    fix: str
    tests: list[str] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, str]:
        return (self.category, self.location, self.data.get("name") or self.title)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "location": self.location,
            "function": self.function,
            "title": self.title,
            "fix": self.fix,
            "tests": self.tests,
            "detail": self.detail,
            "data": self.data,
        }


class Places:
    """Turns rootdir-relative sites and absolute paths into paths relative to the doctor's cwd."""

    def __init__(self, cwd: Path, rootdir: str | None) -> None:
        self.cwd = cwd
        self.rootdir = Path(rootdir) if rootdir else cwd

    def path(self, raw: str) -> str:
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = self.rootdir / candidate
        try:
            rel = os.path.relpath(candidate, self.cwd)
        except ValueError:
            return raw
        return raw if rel.startswith(os.pardir) and not Path(raw).is_absolute() else rel

    def where(self, where: str) -> str:
        path, _, line = where.rpartition(":")
        return f"{self.path(path)}:{line}" if path else where

    def site(self, site: str | None) -> tuple[str, str | None] | None:
        if not site:
            return None
        match = _SITE.match(site)
        if match is None:
            return None
        return self.where(match["where"]), match["func"]


def test_location(record: DoctorRecord, places: Places) -> str:
    return f"{places.path(record['path'])}:{record['line']}"


def hung(record: DoctorRecord) -> bool:
    """Whether a phase of the test ran past the timeout."""
    return any(f.get("kind") == "hang" for f in record.get("findings", ()))


def slow_not_stuck(main: dict[str, DoctorRecord], rerun: list[DoctorRecord]) -> set[str]:
    """The tests stopped at the timeout that passed when run again in virtual time: they were
    waiting on timers that take longer than the timeout, not stuck (aiojobs' test_plugin waits
    for a job sleeping 10 s, against the default timeout of 10 s)."""
    return {
        str(r["nodeid"])
        for r in rerun
        if r["outcome"] == "passed" and str(r["nodeid"]) in main and hung(main[str(r["nodeid"])])
    }


def from_findings(
    records: list[DoctorRecord], places: Places, slow: AbstractSet[str] = frozenset()
) -> list[Problem]:
    """Hangs, leaks, unseen errors and blocking calls from the main run's findings.

    What a test left running after its phase was stopped for a hang is the hang's doing — the
    doctor cut the test short — not a leak of its own: it goes into the hang's detail (aiojobs'
    test_plugin, stopped in ``wait_and_close``, "leaked" the scheduler task it was waiting for).
    A test in ``slow`` (:func:`slow_not_stuck`) is no hang: neither the stop nor what it left
    then is reported here; :func:`from_virtual` reports its time.
    """
    problems: list[Problem] = []
    for record in records:
        findings = list(record.get("findings", ()))
        hung = [f for f in findings if f.get("kind") == "hang"]
        left = []
        if hung and str(record["nodeid"]) in slow:
            findings = [f for f in findings if f.get("kind") != "hang" and not _left_running(f)]
            hung = []
        if hung:
            left = [f for f in findings if _left_running(f)]
            findings = [f for f in findings if not _left_running(f)]
        for finding in findings:
            problem = _problem_of(finding, record, places)
            if problem is not None:
                if left and finding is hung[0]:
                    problem.detail = [
                        *problem.detail,
                        "left running when the phase was stopped (not reported apart): "
                        + "; ".join(str(f.get("message", "")) for f in left),
                    ]
                problems.append(problem)
    return problems


def _left_running(finding: FindingJson) -> bool:
    kind = KINDS.get(str(finding.get("kind")))
    return kind is not None and kind.left_running


def _problem_of(finding: FindingJson, record: DoctorRecord, places: Places) -> Problem:
    kind = str(finding.get("kind"))
    message = str(finding.get("message", ""))
    nodeid = str(record["nodeid"])
    fallback = (test_location(record, places), nodeid.rpartition("::")[2])
    detail = [str(line) for line in finding.get("detail", ())]
    if kind == "hang":
        match = _STUCK_AT.search(message)
        where, func = (places.where(match["where"]), match["func"]) if match else fallback
        return Problem(
            "hang",
            where,
            func,
            message.removeprefix("loopwarden: "),
            _HANG_FIX,
            [nodeid],
            detail,
            {"kind": kind, "name": finding.get("name"), "phase": finding.get("name")},
        )
    if kind == "blocking":
        match = _BLOCKED_AT.search(message)
        where, func = (places.where(match["where"]), match["func"]) if match else fallback
        return Problem(
            "blocking",
            where,
            func,
            message.removeprefix("loopwarden: "),
            _BLOCKING_FIX,
            [nodeid],
            detail,
            {"kind": kind, "name": finding.get("name")},
        )
    site = places.site(finding.get("user_site")) or places.site(finding.get("site"))
    where, func = site if site is not None else fallback
    created = places.site(finding.get("site"))
    if created is not None and finding.get("user_site"):
        detail = [f"created at {created[0]} in {created[1]}", *detail]
    return Problem(
        KINDS[kind].doctor if kind in KINDS else "leak",
        where,
        func,
        message,
        _LEAK_FIX.get(kind, "see docs/how-to/leaks.md"),
        [nodeid],
        detail,
        {"kind": kind, "name": finding.get("name"), "owner": finding.get("owner")},
    )


# Lint rules whose findings the doctor shows only where its run saw what makes them bite (see
# _seen_racing): a sleep before a check can lose its race only to work that takes real time.
_NEEDS_EVIDENCE = frozenset({"LW102"})


def from_lint(
    findings: list[LintFindingJson], places: Places, records: list[DoctorRecord] | None = None
) -> tuple[list[Problem], list[str]]:
    """The lint findings as problems; and the places of those left out for want of evidence.

    LW102 (a sleep before a check) is shown only for a test whose run saw I/O or another thread
    wake the loop while a timer was pending (``io_waits``), or that failed: a sleep that only
    ready callbacks race (a task's first step) always wins, and on real suites such reports
    were false alarms (sse-starlette: four "flaky" claims about sleeps that cannot flake).
    """
    problems = []
    unconfirmed = []
    for finding in findings:
        fix = finding.get("fix")
        code = str(finding["code"])
        if (
            code in _NEEDS_EVIDENCE
            and records is not None
            and not _seen_racing(finding, places, records)
        ):
            unconfirmed.append(
                f"{places.path(os.path.join(str(places.cwd), finding['path']))}:{finding['line']}"
            )
            continue
        how = fix.get("description") if fix is not None else None
        unsafe = " --unsafe-fixes" if fix is not None and fix["safety"] == "unsafe" else ""
        problems.append(
            Problem(
                "lint",
                f"{places.path(os.path.join(str(places.cwd), finding['path']))}:{finding['line']}",
                finding.get("context"),
                # (The whole text: the report is read once, not scanned line by line.)
                f"{code} {finding.get('explanation') or finding['message']}",
                (
                    f"{how} (loopwarden lint --fix{unsafe}); more: loopwarden lint --explain {code}"
                    if how
                    else f"loopwarden lint --explain {code}"
                ),
                data={"code": code, "name": code},
            )
        )
    return problems, unconfirmed


def _seen_racing(finding: LintFindingJson, places: Places, records: list[DoctorRecord]) -> bool:
    """Whether the test holding ``finding`` ran with I/O or thread work waking the loop while a
    timer was pending, or failed, in the doctor's run (a test that did not run shows nothing)."""
    path = os.path.normpath(os.path.join(str(places.cwd), str(finding["path"])))
    context = str(finding.get("context") or "")
    for record in records:
        if os.path.normpath(str(record.get("path", ""))) != path:
            continue
        name = ".".join(p.split("[", 1)[0] for p in str(record["nodeid"]).split("::")[1:])
        if not name or not (context == name or context.startswith(name + ".")):
            continue
        if record.get("io_waits", 1) or record.get("outcome") in ("failed", "error"):
            return True
    return False


def _fuzz_outcomes(records: list[DoctorRecord]) -> dict[str, dict[str, Any]]:
    from loopwarden._plugin._keys import base_nodeid

    by_test: dict[str, dict[str, Any]] = {}
    for record in records:
        base = base_nodeid(str(record["nodeid"]))
        entry = by_test.setdefault(
            base, {"record": record, "runs": 0, "fifo_failed": False, "failed": []}
        )
        entry["runs"] += 1
        failed = record["outcome"] in ("failed", "error")
        if record.get("seed") is None:
            if failed:
                entry["fifo_failed"] = True
        elif failed:
            entry["failed"].append((record["seed"], record.get("message")))
    return by_test


def fuzz_suspects(records: list[DoctorRecord]) -> dict[str, int]:
    """Tests that passed in FIFO order and failed under a schedule: their first failing seed."""
    return {
        base: int(entry["failed"][0][0])
        for base, entry in _fuzz_outcomes(records).items()
        if entry["failed"] and not entry["fifo_failed"]
    }


def from_fuzz(
    records: list[DoctorRecord],
    runs: int,
    places: Places,
    replays: list[DoctorRecord] | None = None,
) -> tuple[list[Problem], dict[str, Any]]:
    """Order-dependent tests, and tests that fail when run again.

    A test that passed in FIFO order and failed under some fuzzed schedule is replayed alone
    under its first failing schedule (``replays``: that run's records). Failing again, it is
    order-dependent. Passing, the schedule was not the cause: it failed on state an earlier run
    of itself, in the same process, left behind. Without a replay (interrupted), the test is
    reported as order-dependent.
    """
    by_test = _fuzz_outcomes(records)
    replayed = {str(r["nodeid"]): r for r in replays or ()}
    problems = []
    repeat: list[str] = []
    for base, entry in by_test.items():
        if not entry["failed"] or entry["fifo_failed"]:
            continue
        seed, message = entry["failed"][0]
        replay = f"pytest {shlex.quote(base)} --lw-fuzz-seed={seed}"
        again = replayed.get(base)
        name = base.rpartition("::")[2]
        if again is not None and again["outcome"] == "passed":
            repeat.append(base)
            exact = bool(again.get("virtual"))
            problems.append(
                Problem(
                    "repeat",
                    test_location(entry["record"], places),
                    name,
                    f"passed on its first run, failed when run again in the same process "
                    f"({len(entry['failed'])} of {entry['runs'] - 1} later runs), and passed "
                    "alone under the schedule it failed under: state from an earlier run "
                    "survives",
                    _REPEAT_FIX,
                    [base],
                    [
                        f"first failure (schedule {seed}): {message}" if message else "",
                        ""
                        if exact
                        else "the replay ran in real time: exact only if the test makes no real "
                        "I/O and starts no threads, so a timing-dependent failure can pass it by "
                        "chance",
                    ],
                    {"seeds": [s for s, _ in entry["failed"]], "name": base, "exact_replay": exact},
                )
            )
            continue
        confirmed = again is not None
        problems.append(
            Problem(
                "order-dependent",
                test_location(entry["record"], places),
                name,
                f"passed in FIFO order, failed under {len(entry['failed'])} of "
                f"{entry['runs'] - 1} fuzzed schedules"
                + ("; fails again when replayed alone" if confirmed else ""),
                _ORDER_FIX,
                [base],
                [f"first failure (schedule {seed}): {message}" if message else "", replay],
                {
                    "replay": replay,
                    "seeds": [s for s, _ in entry["failed"]],
                    "name": base,
                    "confirmed": confirmed,
                },
            )
        )
    summary = {
        "runs": runs,
        "tests": len(by_test),
        "schedules": sum(e["runs"] for e in by_test.values()),
        "order_dependent": [p.tests[0] for p in problems if p.category == "order-dependent"],
        "fail_when_run_again": repeat,
        "failing_in_fifo_order": [b for b, e in by_test.items() if e["fifo_failed"]],
    }
    return problems, summary


def from_virtual(
    main: dict[str, DoctorRecord],
    rerun: list[DoctorRecord],
    places: Places,
    min_saving: float = 0.05,
    timeout: float | None = None,
) -> tuple[list[Problem], dict[str, Any]]:
    """What virtual time saves per test: the main run's duration against the re-run's.

    A test that passes in virtual time but saves less than ``min_saving`` seconds is no problem
    (janus: a wait on a thread, which virtual time does not shorten, "saved 0.00 s"). A test the
    main run stopped at ``timeout`` is listed only when it passes in virtual time (slow, not
    stuck); failing there too, it stays a hang.
    """
    problems = []
    real = virtual = saved = 0.0
    for record in rerun:
        before = main.get(str(record["nodeid"]))
        if before is None:
            continue
        passes = record["outcome"] == "passed"
        stopped = hung(before)
        if stopped and not passes:
            continue  # a hang, reported from the main run
        gain = max(0.0, float(before["duration"]) - float(record["duration"]))
        if passes and gain < min_saving:
            continue
        data = {
            "real_seconds": round(float(before["duration"]), 3),
            "timer_wait_seconds": round(float(before["timer_wait"]), 3),
            "virtual_seconds": round(float(record["duration"]), 3),
            "saved_seconds": round(gain if passes else 0.0, 3),
            "passes_in_virtual_time": passes,
            "name": record["nodeid"],
        }
        if stopped:
            data["stopped_at_timeout"] = True
        if passes:
            real += float(before["duration"])
            virtual += float(record["duration"])
            saved += gain
        if passes and stopped:
            limit = f"the {timeout:g} s timeout" if timeout is not None else "the timeout"
            title = (
                f"was stopped at {limit}, but passes in virtual time in "
                f"{record['duration']:.2f} s: it waited on timers (slow), it was not stuck"
            )
            fix = _VIRTUAL_FIX
        elif passes:
            title = (
                f"waited {before['timer_wait']:.2f} s on timers; takes "
                f"{record['duration']:.2f} s in virtual time instead of "
                f"{before['duration']:.2f} s (saves {gain:.2f} s, still passes)"
            )
            fix = _VIRTUAL_FIX
        else:
            title = (
                f"waited {before['timer_wait']:.2f} s on timers, but fails in virtual time: "
                f"{record.get('message') or record['outcome']}"
            )
            fix = (
                "it waits on something outside the loop's clock (time.monotonic(), a thread "
                "polling, a real peer): keep it in real time, or use "
                "@pytest.mark.loopwarden(virtual_time=True, monotonic=True) when it reads "
                "time.monotonic()"
            )
        problems.append(
            Problem(
                "virtual-time",
                test_location(record, places),
                str(record["nodeid"]).rpartition("::")[2],
                title,
                fix,
                [str(record["nodeid"])],
                data=data,
            )
        )
    problems.sort(key=lambda p: -float(p.data["saved_seconds"]))
    summary = {
        "tests": len(problems),
        "real_seconds": round(real, 3),
        "virtual_seconds": round(virtual, 3),
        "saved_seconds": round(saved, 3),
    }
    return problems, summary


def merge(problems: list[Problem]) -> list[Problem]:
    """One problem per place and identity, listing every test it shows up in; sorted."""
    merged: dict[tuple[str, str, str], Problem] = {}
    for problem in problems:
        key = problem.key()
        known = merged.get(key)
        if known is None:
            merged[key] = problem
        else:
            known.tests.extend(t for t in problem.tests if t not in known.tests)
    order = {category: rank for rank, category in enumerate(CATEGORIES)}
    # Within a category by place; time savings biggest first.
    return sorted(
        merged.values(),
        key=lambda p: (order[p.category], -float(p.data.get("saved_seconds", 0.0)), p.location),
    )


def failures(
    records: list[DoctorRecord], slow: AbstractSet[str] = frozenset()
) -> list[dict[str, Any]]:
    """The tests that failed (``failed``: the call; ``error``: setup or teardown), each with
    the first line of its failure; ``slow_not_stuck: true`` for one stopped at the timeout that
    passed in virtual time (``slow``, see :func:`slow_not_stuck`): its failure is the timeout's,
    and the virtual-time problem says what it was."""
    found = []
    for record in records:
        if record["outcome"] not in ("failed", "error"):
            continue
        nodeid = str(record["nodeid"])
        failure: dict[str, Any] = {
            "test": nodeid,
            "outcome": str(record["outcome"]),
            "message": record.get("message") or "",
        }
        if nodeid in slow:
            failure["slow_not_stuck"] = True
        found.append(failure)
    return found


def outcomes(records: list[DoctorRecord]) -> dict[str, int]:
    counts = {"total": len(records), "passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for record in records:
        outcome = str(record["outcome"])
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
