"""The ``guards`` suite: what loopwarden's guards (issue 3) cost, on and off, in both modes.

``python bench/run.py guards`` times the runner suite's synthetic suites (2000 trivial async tests;
200 tests with a function- and a session-scoped async fixture) with:

- loopwarden's own runner, guards at their defaults (on) and switched off (:data:`GUARDS_OFF`);
- guard mode (pytest-asyncio + loopwarden), guards on and off;
- pytest-asyncio alone, the anchor; and the sync floor, for per-test overheads.

Before anything is timed, a small *leaky* suite (one test leaves a task pending) is run in every
"on" configuration, where loopwarden must fail that test and report the leak, and in every "off"
one, where it must pass: otherwise "on" and "off" are not what they claim and the benchmark stops.

Imported by ``run.py`` (it registers the sub-command); it builds on ``_shared.py``'s pinned venvs
and suite writers.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import _harness as h
import _shared as shared

# Every guard off: the leak guard, the hang watchdog and the blocking-call check.
GUARDS_OFF = ("--lw-leaks=off", "--lw-timeout=0", "--lw-blocking=0")

TARGET_GUARDS = 1.10  # issue 3: guards on <= 1.10x guards off

# The proof that the guards are on: the first test leaves a task pending.
LEAKY_TESTS = """\
import asyncio


async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.Event().wait(), name="bench-leak")


async def test_clean():
    await asyncio.sleep(0)
"""
LEAKY_NODEID = "test_leaky.py::test_leaks_a_task"


def _arguments(parser: argparse.ArgumentParser) -> None:
    shared.add_size_arguments(parser)
    parser.add_argument(
        "--only",
        default=None,
        metavar="PATTERNS",
        help="comma-separated fnmatch patterns of configurations to run, e.g. 'trivial/own-*' "
        "(each group's floor always runs)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="PATTERNS",
        help="instead of timing, run the matching configurations once under cProfile and print "
        "the loopwarden functions with the most cumulative time per test (e.g. 'trivial/own-on')",
    )
    parser.add_argument(
        "--profile-top", type=int, default=25, metavar="N", help="rows per profile (default: 25)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instead of timing, count each run's instructions once under valgrind "
        "(see bench/README.md)",
    )


PLAIN_FACTORY_CONFTEST = """\
import asyncio

_FACTORIES = {"plain": asyncio.SelectorEventLoop}


def pytest_asyncio_loop_factories(config, item):
    return _FACTORIES
"""


# -- the proof that "on" is on and "off" is off -----------------------------------------------


def check_guards_detect(venv: h.ReadyVenv, on: h.Config, off: h.Config, ini: str) -> None:
    """Run the leaky suite with ``on``'s and ``off``'s flags; raise unless on fails, off passes.

    "On" must error the leaking test at teardown and put exactly that task leak in the JSON
    report; "off" must pass both tests. Not timed.
    """
    directory = h.fresh_dir(h.SUITES_DIR / "guards" / f"leaky-{on.venv}")
    (directory / "pytest.ini").write_text(ini)
    (directory / "test_leaky.py").write_text(LEAKY_TESTS)
    for config, guards_on in ((on, True), (off, False)):
        args = [a for a in config.args if a != "."]
        report_path = directory / f"report-{'on' if guards_on else 'off'}.json"
        cmd = [
            str(venv.python),
            "-m",
            "pytest",
            *venv.plugin_flags,
            *args,
            f"--lw-report={report_path.name}",
            ".",
        ]
        log_path = h.LOGS_DIR / f"guards-leaky--{config.key.replace('/', '--')}.log"
        *_, code, output = h.run_timed(cmd, directory, log_path)
        outcome = h.parse_outcome(output)
        problem = None
        if guards_on:
            findings = _findings(report_path)
            # The leaking test passes its call and errors at teardown: 2 passed, 1 error.
            if code != 1 or outcome != {"passed": 2, "errors": 1}:
                problem = (
                    "expected the leaking test to error at teardown (exit code 1, "
                    f"{{'passed': 2, 'errors': 1}}), got exit code {code}, "
                    f"{outcome or 'no summary'}"
                )
            elif findings is None:
                problem = f"no JSON report was written at {report_path}"
            elif [f.get("kind") for f in findings.get(LEAKY_NODEID, [])] != ["task"] or sum(
                map(len, findings.values())
            ) != 1:
                problem = f"expected exactly one 'task' finding on {LEAKY_NODEID}, got {findings}"
        elif code != 0 or outcome != {"passed": 2}:
            problem = (
                f"expected both tests to pass with {' '.join(GUARDS_OFF)}, got exit code {code}, "
                f"{outcome or 'no summary'}"
            )
        if problem:
            state = "on" if guards_on else "off"
            tail = "\n".join(output.strip().splitlines()[-30:])
            raise h.BrokenRun(
                f"{config.label}: the guards are not {state} as this configuration claims, so its "
                f"timings would mean nothing; no numbers are reported.\n{problem}.\n"
                f"command: (cd {directory} && {' '.join(cmd)})\nfull output: {log_path}\n"
                f"--- last lines ---\n{tail}"
            )
        h.log(f"bench: leaky suite, {config.label}: guards {'on' if guards_on else 'off'}, checked")


def _findings(report_path: Path) -> dict[str, list[dict[str, Any]]] | None:
    """Findings per test from a ``--lw-report`` file (schema version 1); None if missing."""
    if not report_path.exists():
        return None
    report = json.loads(report_path.read_text())
    if report.get("version") != 1:
        raise h.BenchError(f"{report_path}: report version {report.get('version')}, expected 1")
    return {
        nodeid: entry.get("findings", [])
        for nodeid, entry in report.get("tests", {}).items()
        if entry.get("findings")
    }


# -- the suite --------------------------------------------------------------------------------


@h.register(
    "guards",
    help="what the guards cost: own runner and guard mode with guards on vs off, against "
    "pytest-asyncio alone (a leaky suite proves 'on' is on first)",
    add_arguments=_arguments,
)
def guards(args: argparse.Namespace) -> int:
    n_trivial, n_fixture = shared.suite_sizes(args)

    base_python = h.find_python(args.python)
    venvs = {
        name: h.ensure_venv(shared.VENVS[name], base_python)
        for name in ("loopwarden", "pytest-asyncio", "guard")
    }
    for venv in venvs.values():
        h.log_venv(venv)
    floor_flags = shared.floor_flags(venvs["loopwarden"])

    # Own directory under suites/: the runner suite wipes and regenerates its own.
    suites = h.fresh_dir(h.SUITES_DIR / "guards")
    T, F = "trivial", "fixtures"
    pa_ini = shared.PYTEST_ASYNCIO_INI
    shared.write_trivial(suites / "trivial-floor", n_trivial, "sync", shared.EMPTY_INI)
    shared.write_trivial(suites / "trivial-own", n_trivial, "async", shared.EMPTY_INI)
    shared.write_trivial(suites / "trivial-pytest-asyncio", n_trivial, "async", pa_ini)
    shared.write_trivial(suites / "trivial-guard", n_trivial, "async", pa_ini)
    shared.write_fixtures(suites / "fixtures-floor", n_fixture, "sync", shared.EMPTY_INI)
    shared.write_fixtures(suites / "fixtures-own", n_fixture, "loopwarden", shared.EMPTY_INI)
    shared.write_fixtures(suites / "fixtures-pytest-asyncio", n_fixture, "pytest-asyncio", pa_ini)
    shared.write_fixtures(suites / "fixtures-guard", n_fixture, "pytest-asyncio", pa_ini)
    # pytest-asyncio's loop-factory hook, answered with plain asyncio loops: what guard mode
    # costs before loopwarden does anything (pytest-asyncio parametrizes every async test with
    # the factory and sets up one more fixture per test).
    for group in ("trivial", "fixtures"):
        shutil.copytree(suites / f"{group}-pytest-asyncio", suites / f"{group}-factory")
        conftest = suites / f"{group}-factory" / "conftest.py"
        before = conftest.read_text() + "\n\n" if conftest.exists() else ""
        conftest.write_text(before + PLAIN_FACTORY_CONFTEST)

    own_header = ((": own runner",), ("asyncio-", "anyio-"))
    guard_header = ((": guard mode", f"asyncio-{shared.PYTEST_ASYNCIO}"), ("anyio-",))
    kinds = {
        # name: (label, venv, suite directory suffix, extra flags, header has/lacks)
        "floor": (
            "sync floor (pytest only)",
            "loopwarden",
            "floor",
            floor_flags,
            ((), ("plugins:",)),
        ),
        "own-on": ("loopwarden own runner, guards on", "loopwarden", "own", (), own_header),
        "own-off": (
            "loopwarden own runner, guards off",
            "loopwarden",
            "own",
            GUARDS_OFF,
            own_header,
        ),
        "pytest-asyncio": (
            f"pytest-asyncio {shared.PYTEST_ASYNCIO} alone",
            "pytest-asyncio",
            "pytest-asyncio",
            (),
            ((f"asyncio-{shared.PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        ),
        "factory": (
            "pytest-asyncio + a plain loop-factory hook",
            "pytest-asyncio",
            "factory",
            (),
            ((f"asyncio-{shared.PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        ),
        "guard-on": ("pytest-asyncio + loopwarden, guards on", "guard", "guard", (), guard_header),
        "guard-off": (
            "pytest-asyncio + loopwarden, guards off",
            "guard",
            "guard",
            GUARDS_OFF,
            guard_header,
        ),
    }
    configs = []
    for group, n in ((T, n_trivial), (F, n_fixture)):
        for kind, (label, venv_name, suffix, extra, (has, lacks)) in kinds.items():
            configs.append(
                h.Config(
                    key=f"{group}/{kind}",
                    label=label,
                    group=group,
                    venv=venv_name,
                    suite_dir=suites / f"{group}-{suffix}",
                    args=(*shared.PYTEST_ARGS, *extra, "."),
                    expected=n,
                    header_has=has,
                    header_lacks=lacks,
                )
            )
    ratios = []
    for g in (T, F):
        ratios += [
            h.Ratio(
                "own runner: guards on / off", f"{g}/own-on", f"{g}/own-off", target=TARGET_GUARDS
            ),
            h.Ratio(
                "guard mode: guards on / off",
                f"{g}/guard-on",
                f"{g}/guard-off",
                target=TARGET_GUARDS,
            ),
            h.Ratio(
                "own runner, guards on / pytest-asyncio",
                f"{g}/own-on",
                f"{g}/pytest-asyncio",
                target=shared.TARGET_OWN_RUNNER if g == T else None,
            ),
            h.Ratio(
                "guard mode, guards on / pytest-asyncio alone",
                f"{g}/guard-on",
                f"{g}/pytest-asyncio",
                target=shared.TARGET_GUARD,
            ),
            h.Ratio(
                "plain loop-factory hook / pytest-asyncio alone",
                f"{g}/factory",
                f"{g}/pytest-asyncio",
            ),
            h.Ratio(
                "guard mode, guards off / plain loop-factory hook",
                f"{g}/guard-off",
                f"{g}/factory",
            ),
            h.Ratio(
                "guard mode, guards on / plain loop-factory hook",
                f"{g}/guard-on",
                f"{g}/factory",
            ),
        ]
    ratios = [replace(ratio, floor=f"{ratio.numerator.split('/')[0]}/floor") for ratio in ratios]
    if args.only:
        configs, ratios = h.select_configs(configs, ratios, args.only)

    # Refuse to time anything until "on" is shown to be on and "off" to be off, in each venv
    # that has an on configuration (the suites are the same in both groups: check one).
    by_key = {c.key: c for c in configs}
    for tool, ini in (("own", shared.EMPTY_INI), ("guard", pa_ini)):
        on = next((c for c in configs if c.key.endswith(f"/{tool}-on")), None)
        if on is not None:
            off = by_key.get(f"{on.group}/{tool}-off") or replace(
                on, key=f"{on.group}/{tool}-off", args=(*shared.PYTEST_ARGS, *GUARDS_OFF, ".")
            )
            h.check_header(venvs[on.venv], on)
            check_guards_detect(venvs[on.venv], on, off, ini)

    if args.profile:
        return h.profile_matching(args.profile, configs, venvs, args.profile_top)

    titles = shared.suite_titles(configs, n_trivial, n_fixture)
    if args.instructions:
        return h.print_counts("guards", configs, venvs, ratios, titles)

    h.log(f"bench: {len(configs)} configurations x {args.rounds} rounds (+ warm-up)")
    samples = h.measure_rounds(configs, venvs, args.rounds)
    summaries = {key: h.Summary.of(runs) for key, runs in samples.items()}

    versions = {
        "python": h.short_python(base_python),
        "pytest": shared.PYTEST,
        "pytest-asyncio": shared.PYTEST_ASYNCIO,
        "loopwarden": f"{venvs['loopwarden'].packages.get('loopwarden', '?')} ({h.git_revision()})",
    }
    counts = {T: n_trivial, F: n_fixture}
    print(
        h.render_timings(
            configs, summaries, ratios, titles, counts, versions, args.rounds, suite="guards"
        )
    )
    print(f"guards off = {' '.join(GUARDS_OFF)}; the leaky suite proved on/off before timing")

    if args.json:
        report = h.Report(
            suite="guards",
            meta={
                "versions": versions,
                "rounds": args.rounds,
                "tests": counts,
                "guards_off_flags": list(GUARDS_OFF),
                "machine": h.machine_info(),
            },
            configs=h.configs_json(configs, venvs, samples),
            summaries={k: asdict(s) for k, s in summaries.items()},
            ratios=[
                {
                    "label": x.label,
                    "numerator": x.numerator,
                    "denominator": x.denominator,
                    "cpu": x.value(summaries, "cpu"),
                    "cpu_over_floor": x.over_floor(summaries, "cpu"),
                    "cpu_paired_median": h.paired_median(
                        samples[x.numerator], samples[x.denominator], "cpu"
                    ),
                    "wall": x.value(summaries, "wall"),
                    "target_cpu": x.target,
                    "met_total_cpu": x.verdict(summaries),
                    "met_cpu_over_floor": x.verdict(summaries, over_floor=True),
                }
                for x in ratios
            ],
        )
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0
