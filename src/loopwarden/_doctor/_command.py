"""``loopwarden doctor [PATH] [-- PYTEST_ARGS]``: the phases, progress lines, and outputs.

Phases, each in a subprocess so a hung or crashing suite cannot take the doctor with it:

1. ``lint``: ``loopwarden lint PATH``;
2. ``run``: the suite under pytest with every instrument on — leaks as findings (``warn``), the
   watchdog (``--timeout``), blocking detection, the JSON report and the doctor plugin;
3. ``virtual time``: the passing tests that waited on timers, again in virtual time;
4. ``fuzz``: the passing async tests again, under ``--fuzz-runs`` schedules.

Ctrl-C stops the running phase (pytest still writes what it saw), skips the rest and writes
the summary, ``--json`` and ``--html`` of what was found. Exit status: 0 nothing found, 1
problems found, 2 usage error or the suite could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from loopwarden._core._schema import DoctorRecord, LintFindingJson


EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``doctor`` sub-command's arguments.

    Args:
        parser: The sub-command's parser.
    """
    parser.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="the suite to diagnose (default: .)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write the diagnosis as JSON (docs/reference/doctor.md)"
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML report with task timelines"
    )
    parser.add_argument(
        "--fuzz-runs",
        type=_count,
        default=5,
        metavar="N",
        help="schedules per async test in the fuzz phase, the first FIFO (default 5; 0 skips)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="a test phase running longer is reported as a hang (default 10)",
    )
    parser.add_argument(
        "--min-timer-wait",
        type=_seconds,
        default=0.1,
        metavar="SECONDS",
        help="re-run a test in virtual time when it waited at least this long on timers "
        "(default 0.1)",
    )
    parser.add_argument("--no-lint", action="store_true", help="skip the lint phase")
    parser.add_argument(
        "pytest_args",
        nargs="*",
        default=[],
        help=argparse.SUPPRESS,  # filled from what follows `--` (see loopwarden._cli._main)
    )


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {raw!r}")
    return value


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {raw!r}")
    return value


class Progress:
    """Progress lines on stderr: rewritten in place on a terminal, one line per step elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""
        self.step = -1

    def phase(self, number: int, name: str, text: str) -> None:
        self._end_line()
        self.stream.write(f"[{number}/4] {name}: {text}\n")
        self.stream.flush()

    def tests(self, name: str, done: int, total: int | None, final: bool = False) -> None:
        text = f"      {name}: {done}/{total if total is not None else '?'} tests"
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self.last)))
            self.last = text
            if final:
                self._end_line()
        else:
            # A log, not a terminal: a line per tenth of the tests (at most 11 per phase).
            step = (10 * done // total) if total else -1
            if final or (step > self.step and done):
                self.step = step
                self.stream.write(text + "\n")
            if final:
                self.step = -1
        self.stream.flush()

    def _end_line(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.last = ""


def run(args: argparse.Namespace) -> int:
    """Run the doctor; returns the exit status."""
    from loopwarden._doctor import _diagnosis as diag
    from loopwarden._doctor import _runs
    from loopwarden._doctor._text import render
    from loopwarden._plugin._keys import base_nodeid

    cwd = Path.cwd()
    if not Path(args.path).exists():
        sys.stderr.write(f"loopwarden doctor: {args.path}: no such file or folder\n")
        return EXIT_ERROR
    progress = Progress(sys.stderr)
    too_old = _pytest_asyncio_too_old(args.pytest_args)
    if too_old:
        sys.stderr.write(f"loopwarden doctor: {too_old}\n")
    started = time.monotonic()
    phases: list[dict[str, Any]] = []
    interrupted = False
    lint: list[LintFindingJson] = []
    main: _runs.Run | None = None
    virtual_run: _runs.Run | None = None
    fuzz_run: _runs.Run | None = None
    replay_run: _runs.Run | None = None
    base_args = [
        args.path,
        "-q",
        "-p",
        "no:cacheprovider",  # leave the project's last-failed cache alone
        "--lw-leaks=warn",
        f"--lw-timeout={args.timeout:g}",
        "--lw-blocking=0.25",
        "--lw-blocking-action=warn",
        *args.pytest_args,
    ]

    def show(run: _runs.Run) -> None:
        progress.tests(run.name, len(run.records), run.total, final=run.exit_status is not None)

    with tempfile.TemporaryDirectory(prefix="loopwarden-doctor-") as tmp:
        workdir = Path(tmp)
        try:
            # 1. lint
            if args.no_lint:
                phases.append({"name": "lint", "status": "skipped", "seconds": 0.0})
            else:
                progress.phase(1, "lint", f"loopwarden lint {args.path}")
                t0 = time.monotonic()
                try:
                    lint = _runs.run_lint(args.path, cwd)
                except RuntimeError as exc:
                    sys.stderr.write(f"loopwarden doctor: {exc}\n")
                    return EXIT_ERROR
                phases.append(_phase("lint", t0, "done", findings=len(lint)))
            # 2. the suite with every instrument on
            progress.phase(
                2, "run", "the suite with leak, hang and blocking checks and timer accounting"
            )
            main = _runs.pytest_run("run", base_args, workdir, cwd, show)
            phases.append(_phase("run", time.monotonic() - main.seconds, "done"))
            if main.total is None or main.exit_status not in (0, 1):
                sys.stderr.write(_could_not_run(main, args.path))
                if too_old:
                    sys.stderr.write(f"loopwarden doctor: the likely cause: {too_old}\n")
                return EXIT_ERROR
            # Later runs name tests one by one: keep the first run's rootdir and configuration
            # (a test folder's own pytest.ini would otherwise take over).
            again = [*base_args[1:], f"--rootdir={main.rootdir}"]
            if main.inifile:
                again += ["-c", main.inifile]
            passed_async = [r for r in main.records if r["async"] and r["outcome"] == "passed"]
            # 3. virtual time for the tests that waited on timers
            # A test stopped at the timeout may be slow, not stuck (aiojobs' test_plugin waits
            # for a job sleeping 10 s): virtual time tells them apart. An idle loop is reported
            # at once there; only a test busy for ever costs its timeout again.
            sleepers = [
                r
                for r in main.records
                if r["async"]
                and not r["virtual"]
                and (
                    diag.hung(r)
                    or (r["outcome"] == "passed" and float(r["timer_wait"]) >= args.min_timer_wait)
                )
            ]
            if sleepers:
                progress.phase(
                    3,
                    "virtual time",
                    f"{len(sleepers)} test{'s' if len(sleepers) != 1 else ''} that waited on "
                    "timers, again in virtual time",
                )
                ids = _node_args(sleepers, keep_params=True)
                virtual_run = _runs.pytest_run(
                    "virtual", [*again, "--lw-virtual-time", *ids], workdir, cwd, show
                )
                phases.append(_later_phase("virtual time", virtual_run))
            else:
                progress.phase(3, "virtual time", "no test waited on timers; skipped")
                phases.append({"name": "virtual time", "status": "skipped", "seconds": 0.0})
            # 4. fuzzed schedules
            # The fuzzer reorders task steps: a test that started no task of its own (its
            # fixtures' included) has nothing to reorder, and skipping it keeps the phase short.
            # So does running in virtual time the tests that passed in it. A test that leaked is
            # fuzzed too: its leaks are warnings here, cleaned up after each run, and whether it
            # depends on task order is a question of its own.
            concurrent = [r for r in passed_async if r["tasks"]]
            virtual_ok = sorted(
                str(r["nodeid"])
                for r in (virtual_run.records if virtual_run is not None else [])
                if r["outcome"] == "passed" and r["virtual"]
            )
            plan_path = workdir / "plan.json"
            if args.fuzz_runs >= 2 and concurrent:
                ids = _node_args(concurrent, keep_params=False)
                in_virtual = sum(1 for r in concurrent if str(r["nodeid"]) in virtual_ok)
                progress.phase(
                    4,
                    "fuzz",
                    f"{len(ids)} async test{'s' if len(ids) != 1 else ''} that start tasks, under "
                    f"{args.fuzz_runs} schedules each"
                    + (f" ({in_virtual} in virtual time)" if in_virtual else ""),
                )
                _write(plan_path, json.dumps({"virtual": virtual_ok}))
                fuzz_run = _runs.pytest_run(
                    "fuzz",
                    [
                        *again,
                        f"--lw-fuzz-runs={args.fuzz_runs}",
                        f"--lw-doctor-plan={plan_path}",
                        *ids,
                    ],
                    workdir,
                    cwd,
                    show,
                )
                fuzz_phase = _later_phase("fuzz", fuzz_run)
                # A test that failed only under fuzzed schedules: replay its first failing
                # schedule alone, in a fresh process. Failing again, it is order-dependent;
                # passing, it failed on state an earlier run of itself left behind.
                suspects = diag.fuzz_suspects(fuzz_run.records)
                if suspects and fuzz_phase["status"] == "done":
                    progress.phase(
                        4,
                        "fuzz",
                        f"replaying the failing schedule of {len(suspects)} "
                        f"test{'s' if len(suspects) != 1 else ''} alone",
                    )
                    _write(
                        plan_path,
                        json.dumps({"virtual": virtual_ok, "replay": suspects}),
                    )
                    paths = {base_nodeid(str(r["nodeid"])): r["path"] for r in fuzz_run.records}
                    replay_ids = [f"{paths[base]}::{base.partition('::')[2]}" for base in suspects]
                    replay_run = _runs.pytest_run(
                        "replay",
                        # One run per test, whatever the project's loopwarden_fuzz_runs says.
                        [*again, "--lw-fuzz-runs=1", f"--lw-doctor-plan={plan_path}", *replay_ids],
                        workdir,
                        cwd,
                        show,
                    )
                    fuzz_phase["seconds"] = round(fuzz_run.seconds + replay_run.seconds, 3)
                    fuzz_phase["replayed"] = len(suspects)
                    if _later_phase("replay", replay_run)["status"] != "done":
                        replay_run = None  # said on stderr; the suspects stay order-dependent
                phases.append(fuzz_phase)
            else:
                progress.phase(
                    4,
                    "fuzz",
                    "skipped (--fuzz-runs below 2, or no passing async test starts a task)",
                )
                phases.append({"name": "fuzz", "status": "skipped", "seconds": 0.0})
        except _runs.Interrupted as stop:
            interrupted = True
            partial: _runs.Run = stop.partial
            if partial.name == "run":
                main = partial
            elif partial.name == "virtual":
                virtual_run = partial
            elif partial.name == "fuzz":
                fuzz_run = partial
            else:
                replay_run = partial
            phases.append(
                {
                    "name": partial.name,
                    "status": "interrupted",
                    "seconds": round(partial.seconds, 3),
                }
            )
            sys.stderr.write("\nloopwarden doctor: interrupted; reporting what was found so far\n")
        except KeyboardInterrupt:  # between phases, or during lint
            interrupted = True
            sys.stderr.write("\nloopwarden doctor: interrupted; reporting what was found so far\n")

    places = diag.Places(cwd, main.rootdir if main is not None else None)
    main_records = main.records if main is not None else []
    lint_problems, lint_unconfirmed = diag.from_lint(lint, places, main_records if main else None)
    by_id = {str(r["nodeid"]): r for r in main_records}
    slow = diag.slow_not_stuck(by_id, virtual_run.records if virtual_run is not None else [])
    problems = diag.from_findings(main_records, places, slow=slow) + lint_problems
    virtual_summary: dict[str, Any] | None = None
    if virtual_run is not None:
        found, virtual_summary = diag.from_virtual(
            by_id,
            virtual_run.records,
            places,
            min_saving=args.min_timer_wait / 2,
            timeout=args.timeout,
        )
        problems += found
    fuzz_summary: dict[str, Any] | None = None
    if fuzz_run is not None:
        found, fuzz_summary = diag.from_fuzz(
            fuzz_run.records,
            args.fuzz_runs,
            places,
            replay_run.records if replay_run is not None else None,
        )
        problems += found
    problems = diag.merge(problems)
    runtime = time.monotonic() - started
    document = {
        "version": diag.SCHEMA_VERSION,
        "loopwarden": _version(),
        "path": args.path,
        "pytest_args": list(args.pytest_args),
        "interrupted": interrupted,
        "runtime_seconds": round(runtime, 3),
        "phases": phases,
        "tests": diag.outcomes(main_records),
        "failures": diag.failures(main_records, slow),
        "counts": {c: sum(1 for p in problems if p.category == c) for c in diag.CATEGORIES},
        "problems": [p.to_json() for p in problems],
        # LW102 findings left out: their tests saw no I/O or thread work race a timer.
        "lint_unconfirmed": lint_unconfirmed,
        "virtual_time": virtual_summary,
        "fuzz": fuzz_summary,
        "late": main.report["late"] if main is not None and main.report is not None else [],
        "timelines": {
            str(r["nodeid"]): {
                "location": diag.test_location(r, places),
                "outcome": r["outcome"],
                "duration": r["duration"],
                "phases": r["phases"],
                "tasks": [
                    {**t, "site": (places.site(t["site"]) or (t["site"], None))[0]}
                    for t in r["tasks"]
                ],
            }
            for r in main_records
        },
    }
    written = []
    if args.json:
        _write(Path(args.json), json.dumps(document, indent=2) + "\n")
        written.append(f"JSON written to {args.json}")
    if args.html:
        from loopwarden._doctor._html import render_html

        _write(Path(args.html), render_html(document))
        written.append(f"HTML report written to {args.html}")
    sys.stdout.write(render(document, written))
    sys.stdout.flush()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_PROBLEMS if problems else EXIT_CLEAN


def _phase(name: str, started: float, status: str = "done", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "seconds": round(time.monotonic() - started, 3),
        **extra,
    }


def _later_phase(name: str, run: Any) -> dict[str, Any]:
    """A re-run's phase entry; a re-run pytest could not start is said, not hidden."""
    if run.total is not None and run.exit_status in (0, 1):
        return {"name": name, "status": "done", "seconds": round(run.seconds, 3)}
    sys.stderr.write(_could_not_run(run, f"the {name} phase"))
    return {"name": name, "status": "failed", "seconds": round(run.seconds, 3)}


_PARAMS = re.compile(r"\[[^\]]*\]$")


def _node_args(records: list[DoctorRecord], keep_params: bool) -> list[str]:
    """Node ids to select again, by absolute file path (so any rootdir works).

    Without parameters when fuzzing: the fuzz plugin adds its own ``fuzzN`` parameter, so an id
    with the old parameters would no longer match.
    """
    ids: list[str] = []
    for record in records:
        rest = str(record["nodeid"]).partition("::")[2]
        if not keep_params:
            rest = _PARAMS.sub("", rest)
        node = f"{record['path']}::{rest}"
        if node not in ids:
            ids.append(node)
    return ids


# The first pytest-asyncio that works with pytest 8.2 (0.23.5 declared pytest 8, 0.23.6 fixed
# 8.2); loopwarden needs pytest >= 8, so installing it upgrades a pytest 7 suite's pytest.
_PYTEST_8_READY = (0, 23, 6)


def _pytest_asyncio_too_old(pytest_args: list[str]) -> str | None:
    """Why the suite's pytest-asyncio cannot run under this pytest, or None."""
    if any("no:asyncio" in arg for arg in pytest_args):
        return None  # switched off: the own runner runs the tests
    try:
        version = importlib.metadata.version("pytest-asyncio")
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    if parts >= _PYTEST_8_READY:
        return None
    pytest_version = importlib.metadata.version("pytest")
    return (
        f"pytest-asyncio {version} predates pytest 8 (this is pytest {pytest_version}, which "
        "loopwarden needs): it often cannot collect or run the suite. Upgrade it to keep it "
        "(pip install 'pytest-asyncio>=1.4': loopwarden then guards its loops; a suite written "
        "for 0.21 may need edits, which docs/how-to/switch-from-pytest-asyncio.md lists), or "
        "drop it and let loopwarden run the tests (pip uninstall pytest-asyncio, or pass "
        "-- -p no:asyncio)."
    )


def _could_not_run(run: Any, path: str) -> str:
    tail = "\n".join(run.log.strip().splitlines()[-25:])
    return (
        f"loopwarden doctor: pytest could not run the suite in {path} (exit status "
        f"{run.exit_status}). Its output ends with:\n{tail}\n"
        "Fix what it says, or pass pytest arguments after `--` (e.g. loopwarden doctor "
        f"{path} -- -p no:asyncio).\n"
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _version() -> str:
    from loopwarden._version import __version__

    return __version__
