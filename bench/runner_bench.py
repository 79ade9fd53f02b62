"""The ``runner`` suite (issue 2): what an async test runner costs, loopwarden's against the others.

``python bench/run.py runner`` times the synthetic suites of ``_shared.py`` (2000 trivial async
tests; 200 tests with a function- and a session-scoped async fixture) under loopwarden's own
runner, guard mode (pytest-asyncio + loopwarden), pytest-asyncio alone (also with a stdlib
loop-factory hook), anyio's plugin and a bare 20-line runner, each over a sync floor of the same
suite. See ``bench/README.md`` for what each configuration measures and why the comparison is fair.

Imported by ``run.py`` (it registers the sub-command).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace

import _harness as h
import _shared as shared

# pytest-asyncio with its loop-factory hook answered by a stdlib loop: what pytest-asyncio's own
# factory machinery costs (it parametrizes every test), which guard mode pays before loopwarden
# does anything.
FACTORY_CONFTEST = """\
import asyncio


def pytest_asyncio_loop_factories(config, item):
    return {"stdlib": asyncio.new_event_loop}
"""

# The least an asyncio test runner can do, as a reference point between the floor and the tools:
# one loop for the session, each async test run to completion on it. No guards, no async
# fixtures, no error messages; what is left above it is what a runner's features cost.
BARE_RUNNER_CONFTEST = """\
import asyncio
import inspect

import pytest

_loop = None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    _loop.run_until_complete(func(**args))
    return True


def pytest_sessionfinish(session):
    if _loop is not None:
        _loop.close()
"""


# -- the runner suite -------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    shared.add_size_arguments(parser)
    parser.add_argument(
        "--only",
        default=None,
        metavar="PATTERNS",
        help="comma-separated fnmatch patterns of configurations to run, e.g. "
        "'trivial/*' or 'trivial/pytest-asyncio*,trivial/guard' (each group's floor always runs)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="PATTERNS",
        help="instead of timing, run the matching configurations once under cProfile and print "
        "the loopwarden functions (src/loopwarden) with the most cumulative time per test",
    )
    parser.add_argument(
        "--profile-top", type=int, default=25, metavar="N", help="rows per profile (default: 25)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instead of timing, count each run's instructions once under valgrind: a quiet "
        "measure on a noisy machine (user space only; see bench/README.md)",
    )


@h.register(
    "runner",
    help="async test runner overhead: loopwarden's own runner and guard mode vs pytest-asyncio "
    "and anyio, over a sync floor",
    add_arguments=_arguments,
)
def runner(args: argparse.Namespace) -> int:
    n_trivial, n_fixture = shared.suite_sizes(args)

    base_python = h.find_python(args.python)
    venvs = {name: h.ensure_venv(spec, base_python) for name, spec in shared.VENVS.items()}
    for venv in venvs.values():
        h.log_venv(venv)
    floor_flags = shared.floor_flags(venvs["loopwarden"])

    suites = h.fresh_dir(h.SUITES_DIR)
    T, F, S = "trivial", "fixtures", "start"
    empty_ini, pa_ini = shared.EMPTY_INI, shared.PYTEST_ASYNCIO_INI
    shared.write_trivial(suites / "trivial-floor", n_trivial, "sync", empty_ini)
    shared.write_trivial(
        suites / "trivial-bare", n_trivial, "async", empty_ini, BARE_RUNNER_CONFTEST
    )
    shared.write_trivial(suites / "trivial-loopwarden", n_trivial, "async", empty_ini)
    shared.write_trivial(suites / "trivial-loopwarden-pa-ini", n_trivial, "async", pa_ini)
    shared.write_trivial(suites / "trivial-pytest-asyncio", n_trivial, "async", pa_ini)
    shared.write_trivial(
        suites / "trivial-pytest-asyncio-factory",
        n_trivial,
        "async",
        pa_ini,
        FACTORY_CONFTEST,
    )
    shared.write_trivial(suites / "trivial-guard", n_trivial, "async", pa_ini)
    shared.write_trivial(suites / "trivial-loopwarden-sync", n_trivial, "sync", empty_ini)
    shared.write_trivial(
        suites / "trivial-anyio", n_trivial, "anyio", empty_ini, shared.ANYIO_CONFTEST
    )
    # Start-up: one sync test, so what is measured is starting, collecting and ending a session.
    shared.write_trivial(suites / "start-floor", 1, "sync", empty_ini)
    shared.write_trivial(suites / "start-loopwarden-sync", 1, "sync", empty_ini)
    shared.write_fixtures(suites / "fixtures-floor", n_fixture, "sync", empty_ini)
    shared.write_fixtures(suites / "fixtures-loopwarden", n_fixture, "loopwarden", empty_ini)
    shared.write_fixtures(suites / "fixtures-pytest-asyncio", n_fixture, "pytest-asyncio", pa_ini)
    shared.write_fixtures(suites / "fixtures-guard", n_fixture, "pytest-asyncio", pa_ini)
    shared.write_fixtures(suites / "fixtures-anyio", n_fixture, "anyio", empty_ini)

    # What each configuration's pytest header must (not) show: the intended plugins, in the
    # intended mode, and nothing else.
    expect = {
        "floor": ((), ("plugins:",)),
        "bare": ((), ("plugins:",)),
        "loopwarden-sync": ((": own runner",), ("asyncio-", "anyio-")),
        "loopwarden": ((": own runner",), ("asyncio-", "anyio-")),
        "loopwarden-pa-ini": ((": own runner",), ("asyncio-", "anyio-")),
        "pytest-asyncio": ((f"asyncio-{shared.PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        "pytest-asyncio-factory": ((f"asyncio-{shared.PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        "anyio": ((f"anyio-{shared.ANYIO}",), ("loopwarden", "asyncio-")),
        "guard": ((": guard mode", f"asyncio-{shared.PYTEST_ASYNCIO}"), ("anyio-",)),
    }

    def config(
        group: str, tool: str, label: str, venv: str, extra: tuple[str, ...] = ()
    ) -> h.Config:
        n = {T: n_trivial, F: n_fixture, S: 1}[group]
        has, lacks = expect[tool]
        return h.Config(
            key=f"{group}/{tool}",
            label=label,
            group=group,
            venv=venv,
            suite_dir=suites / f"{group}-{tool}",
            args=(*shared.PYTEST_ARGS, *extra, "."),
            expected=n,
            header_has=has,
            header_lacks=lacks,
        )

    configs = [
        config(T, "floor", "sync floor (pytest only)", "loopwarden", floor_flags),
        config(T, "bare", "bare runner (no guards, conftest)", "loopwarden", floor_flags),
        config(T, "loopwarden-sync", "sync tests, loopwarden active", "loopwarden"),
        config(T, "loopwarden", "loopwarden own runner", "loopwarden"),
        config(T, "loopwarden-pa-ini", "loopwarden, pytest-asyncio's ini", "loopwarden"),
        config(
            T, "pytest-asyncio", f"pytest-asyncio {shared.PYTEST_ASYNCIO} auto", "pytest-asyncio"
        ),
        config(T, "anyio", f"anyio {shared.ANYIO} plugin", "anyio"),
        config(
            T,
            "pytest-asyncio-factory",
            "pytest-asyncio + stdlib loop factory hook",
            "pytest-asyncio",
        ),
        config(T, "guard", "pytest-asyncio + loopwarden (guard)", "guard"),
        config(S, "floor", "pytest alone (loopwarden's plugins off)", "loopwarden", floor_flags),
        config(S, "loopwarden-sync", "loopwarden active", "loopwarden"),
        config(F, "floor", "sync floor (sync fixtures)", "loopwarden", floor_flags),
        config(F, "loopwarden", "loopwarden own runner", "loopwarden"),
        config(
            F, "pytest-asyncio", f"pytest-asyncio {shared.PYTEST_ASYNCIO} auto", "pytest-asyncio"
        ),
        config(F, "anyio", f"anyio {shared.ANYIO} plugin", "anyio"),
        config(F, "guard", "pytest-asyncio + loopwarden (guard)", "guard"),
    ]
    ratios = [
        h.Ratio(
            "loopwarden / pytest-asyncio",
            f"{T}/loopwarden",
            f"{T}/pytest-asyncio",
            target=shared.TARGET_OWN_RUNNER,
        ),
        h.Ratio(
            "pytest-asyncio+loopwarden / pytest-asyncio alone",
            f"{T}/guard",
            f"{T}/pytest-asyncio",
            target=shared.TARGET_GUARD,
        ),
        h.Ratio(
            "loopwarden (pytest-asyncio's ini) / pytest-asyncio",
            f"{T}/loopwarden-pa-ini",
            f"{T}/pytest-asyncio",
        ),
        h.Ratio(
            "pytest-asyncio+loopwarden / pytest-asyncio+stdlib factory",
            f"{T}/guard",
            f"{T}/pytest-asyncio-factory",
        ),
        h.Ratio("anyio / pytest-asyncio", f"{T}/anyio", f"{T}/pytest-asyncio"),
        h.Ratio("bare runner / pytest-asyncio", f"{T}/bare", f"{T}/pytest-asyncio"),
        h.Ratio("loopwarden / bare runner", f"{T}/loopwarden", f"{T}/bare"),
        h.Ratio(
            "sync tests: loopwarden active / not installed", f"{T}/loopwarden-sync", f"{T}/floor"
        ),
        h.Ratio("start-up: loopwarden active / not", f"{S}/loopwarden-sync", f"{S}/floor"),
        h.Ratio("loopwarden / pytest-asyncio", f"{F}/loopwarden", f"{F}/pytest-asyncio"),
        h.Ratio(
            "pytest-asyncio+loopwarden / pytest-asyncio alone",
            f"{F}/guard",
            f"{F}/pytest-asyncio",
            target=shared.TARGET_GUARD,
        ),
        h.Ratio("anyio / pytest-asyncio", f"{F}/anyio", f"{F}/pytest-asyncio"),
    ]
    ratios = [replace(r, floor=f"{r.numerator.split('/')[0]}/floor") for r in ratios]
    if args.only:
        configs, ratios = h.select_configs(configs, ratios, args.only)

    if args.profile:
        return h.profile_matching(args.profile, configs, venvs, args.profile_top)

    titles = shared.suite_titles(configs, n_trivial, n_fixture)
    if args.instructions:
        return h.print_counts("runner", configs, venvs, ratios, titles)

    h.log(f"bench: {len(configs)} configurations x {args.rounds} rounds (+ warm-up)")
    samples = h.measure_rounds(configs, venvs, args.rounds)
    summaries = {key: h.Summary.of(runs) for key, runs in samples.items()}

    revision = h.git_revision()
    versions = {
        "python": h.short_python(base_python),
        "pytest": shared.PYTEST,
        "pytest-asyncio": shared.PYTEST_ASYNCIO,
        "anyio": shared.ANYIO,
        "loopwarden": f"{venvs['loopwarden'].packages.get('loopwarden', '?')} ({revision})",
    }
    counts = {T: n_trivial, F: n_fixture}
    print(h.render_timings(configs, summaries, ratios, titles, counts, versions, args.rounds))

    if args.json:
        report = h.Report(
            suite="runner",
            meta={
                "versions": versions,
                "rounds": args.rounds,
                "tests": counts,
                "machine": h.machine_info(),
                "venvs": {
                    n: {
                        "path": str(v.path),
                        "packages": v.packages,
                        "pytest11": v.pytest11,
                        "flags": v.plugin_flags,
                    }
                    for n, v in venvs.items()
                },
            },
            configs=h.configs_json(configs, venvs, samples),
            summaries={k: asdict(s) for k, s in summaries.items()},
            ratios=[
                {
                    "label": r.label,
                    "numerator": r.numerator,
                    "denominator": r.denominator,
                    "cpu": r.value(summaries, "cpu"),
                    "cpu_over_floor": r.over_floor(summaries, "cpu"),
                    "cpu_paired_median": h.paired_median(
                        samples[r.numerator], samples[r.denominator], "cpu"
                    ),
                    "wall": r.value(summaries, "wall"),
                    "wall_over_floor": r.over_floor(summaries, "wall"),
                    "target_cpu": r.target,
                    "met_total_cpu": r.verdict(summaries),
                    "met_cpu_over_floor": r.verdict(summaries, over_floor=True),
                }
                for r in ratios
            ],
        )
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0
