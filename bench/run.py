"""loopwarden's benchmarks, side by side with the tools users have today.

Usage::

    python bench/run.py runner [--rounds N] [--tests N] [--fixture-tests N] [--quick] [--json PATH]
                               [--only PATTERNS] [--profile PATTERNS]
    python bench/run.py guards [same options]      # the guards' cost (suite in guards.py)

Stdlib only (Python 3.11+); run it with any interpreter. Each tool gets its own virtual
environment under ``bench/.work/`` (git-ignored). See ``bench/README.md`` for what each suite
measures and why the comparison is fair.

Adding a suite: write ``run(args) -> int`` (and optionally ``add_arguments(parser)``), decorate it
with ``@_harness.register("name", help=...)``, in this file or in a module this file imports.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: run.py is run as a script, and imports its sibling.
import _harness as h

# -- pinned anchors: every version the benchmark compares against, in one place ---------------

PYTEST = "9.2.0"
PYTEST_ASYNCIO = "1.5.0"
ANYIO = "4.16.0"

# Plugins that must not interfere where they are not the tool being measured: if a dependency
# ever pulls one of them into a venv, the runs there switch it off.
_FOREIGN = (("anyio", "anyio"), ("pytest-asyncio", "asyncio"))

VENVS = {
    "loopwarden": h.Venv(
        "loopwarden", (f"pytest=={PYTEST}",), editable=(h.REPO_ROOT,), disable_plugins=_FOREIGN
    ),
    "pytest-asyncio": h.Venv(
        "pytest-asyncio",
        (f"pytest=={PYTEST}", f"pytest-asyncio=={PYTEST_ASYNCIO}"),
        disable_plugins=(("anyio", "anyio"),),
    ),
    "anyio": h.Venv(
        "anyio",
        (f"pytest=={PYTEST}", f"anyio=={ANYIO}"),
        disable_plugins=(("pytest-asyncio", "asyncio"),),
    ),
    "guard": h.Venv(
        "guard",
        (f"pytest=={PYTEST}", f"pytest-asyncio=={PYTEST_ASYNCIO}"),
        editable=(h.REPO_ROOT,),
        disable_plugins=(("anyio", "anyio"),),
    ),
}

# Every measured run: quiet output, no cache plugin writing .pytest_cache between runs.
PYTEST_ARGS = ("-q", "-p", "no:cacheprovider")

TIMES = "\N{MULTIPLICATION SIGN}"
TARGET_OWN_RUNNER = 0.60  # issue 2: own runner (guards on) <= 0.6x pytest-asyncio CPU, 2000 tests
TARGET_GUARD = 1.10  # issue 2: pytest-asyncio + loopwarden <= 1.10x pytest-asyncio alone

# -- the generated suites ---------------------------------------------------------------------

PYTEST_ASYNCIO_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

EMPTY_INI = "[pytest]\n"

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

ANYIO_CONFTEST = """\
import pytest


# Session scope: anyio's async fixtures request anyio_backend, so a session-scoped async fixture
# needs a session-scoped backend (anyio's own default fixture is module-scoped).
@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"
"""

# The fixture suite's fixtures. Identical for every tool except the one line pytest-asyncio needs
# for a session-scoped async fixture when its default fixture loop scope is "function".
FIXTURES_CONFTEST = """\
import asyncio

import pytest
{extra_imports}

{session_decorator}
async def session_resource():
    await asyncio.sleep(0)
    yield {{"scope": "session"}}
    await asyncio.sleep(0)


@pytest.fixture
async def resource():
    await asyncio.sleep(0)
    yield {{"scope": "function"}}
    await asyncio.sleep(0)
"""

SYNC_FIXTURES_CONFTEST = """\
import pytest


@pytest.fixture(scope="session")
def session_resource():
    yield {"scope": "session"}


@pytest.fixture
def resource():
    yield {"scope": "function"}
"""


def _spread(n: int, files: int) -> list[range]:
    """Test numbers ``0..n-1`` cut into ``files`` nearly equal consecutive chunks."""
    files = max(1, min(files, n))
    size, extra = divmod(n, files)
    chunks, start = [], 0
    for i in range(files):
        end = start + size + (1 if i < extra else 0)
        chunks.append(range(start, end))
        start = end
    return chunks


def write_trivial(directory: Path, n: int, flavor: str, ini: str, conftest: str = "") -> None:
    """``n`` trivial tests in 20 files; ``flavor``: async, anyio (marked async) or sync."""
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    if conftest:
        (directory / "conftest.py").write_text(conftest)
    for index, numbers in enumerate(_spread(n, 20)):
        if flavor == "sync":
            head = ""
            body = "def test_{i}():\n    pass\n"
        else:
            head = "import asyncio\n"
            if flavor == "anyio":
                head += "\nimport pytest\n\npytestmark = pytest.mark.anyio\n"
            body = "async def test_{i}():\n    await asyncio.sleep(0)\n"
        tests = "\n\n".join(body.format(i=i) for i in numbers)
        (directory / f"test_trivial_{index:02d}.py").write_text(f"{head}\n\n{tests}")


def write_fixtures(directory: Path, n: int, flavor: str, ini: str) -> None:
    """``n`` tests each using a function- and a session-scoped async-generator fixture."""
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    if flavor == "sync":
        conftest = SYNC_FIXTURES_CONFTEST
    elif flavor == "pytest-asyncio":
        conftest = FIXTURES_CONFTEST.format(
            extra_imports="import pytest_asyncio\n",
            session_decorator='@pytest_asyncio.fixture(scope="session", loop_scope="session")',
        )
    else:
        conftest = FIXTURES_CONFTEST.format(
            extra_imports="", session_decorator='@pytest.fixture(scope="session")'
        )
    if flavor == "anyio":
        conftest += "\n\n" + ANYIO_CONFTEST
    (directory / "conftest.py").write_text(conftest)
    for index, numbers in enumerate(_spread(n, 10)):
        if flavor == "sync":
            head = ""
            body = (
                "def test_{i}(session_resource, resource):\n"
                '    assert session_resource["scope"] == "session"\n'
                '    assert resource["scope"] == "function"\n'
            )
        else:
            head = "import asyncio\n"
            if flavor == "anyio":
                head += "\nimport pytest\n\npytestmark = pytest.mark.anyio\n"
            body = (
                "async def test_{i}(session_resource, resource):\n"
                "    await asyncio.sleep(0)\n"
                '    assert session_resource["scope"] == "session"\n'
                '    assert resource["scope"] == "function"\n'
            )
        tests = "\n\n".join(body.format(i=i) for i in numbers)
        (directory / f"test_fixtures_{index:02d}.py").write_text(f"{head}\n\n{tests}")


# -- the runner suite -------------------------------------------------------------------------


def _runner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tests",
        type=int,
        default=None,
        metavar="N",
        help="trivial async tests per suite (default: 2000; 200 with --quick)",
    )
    parser.add_argument(
        "--fixture-tests",
        type=int,
        default=None,
        metavar="N",
        help="tests in the async-fixture suite (default: 200; 40 with --quick)",
    )
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


def suite_titles(configs: Sequence[h.Config], n_trivial: int, n_fixture: int) -> dict[str, str]:
    """The headings of the groups ``configs`` covers."""
    titles = {
        "trivial": f"{n_trivial} trivial tests (`await asyncio.sleep(0)`; floor: `pass`)",
        "fixtures": f"{n_fixture} tests, each with a function- and a session-scoped "
        "async-generator fixture",
    }
    return {g: t for g, t in titles.items() if any(c.group == g for c in configs)}


def _floor_flags(venv: h.ReadyVenv) -> tuple[str, ...]:
    """``-p no:X`` for every pytest plugin loopwarden registers, read from the venv itself."""
    names = sorted(name for name, dist in venv.pytest11.items() if dist == "loopwarden")
    if not names:
        raise h.BenchError(f"no loopwarden pytest plugins found in {venv.path}; rebuild it.")
    flags: list[str] = []
    for name in names:
        flags += ["-p", f"no:{name}"]
    return tuple(flags)


@h.register(
    "runner",
    help="async test runner overhead: loopwarden's own runner and guard mode vs pytest-asyncio "
    "and anyio, over a sync floor",
    add_arguments=_runner_arguments,
)
def runner(args: argparse.Namespace) -> int:
    n_trivial = args.tests if args.tests is not None else (200 if args.quick else 2000)
    n_fixture = (
        args.fixture_tests if args.fixture_tests is not None else (40 if args.quick else 200)
    )
    if n_trivial < 1 or n_fixture < 1:
        raise h.BenchError("--tests and --fixture-tests must be at least 1")

    base_python = h.find_python(args.python)
    venvs = {name: h.ensure_venv(spec, base_python) for name, spec in VENVS.items()}
    for venv in venvs.values():
        h.log(
            f"bench: venv {venv.path.name} {'reused' if venv.reused else 'built'}; "
            f"pytest plugins: {', '.join(sorted(venv.pytest11)) or 'none'}"
            + (f"; run with {' '.join(venv.plugin_flags)}" if venv.plugin_flags else "")
        )
    floor_flags = _floor_flags(venvs["loopwarden"])

    suites = h.fresh_dir(h.SUITES_DIR)
    T, F = "trivial", "fixtures"
    write_trivial(suites / "trivial-floor", n_trivial, "sync", EMPTY_INI)
    write_trivial(suites / "trivial-bare", n_trivial, "async", EMPTY_INI, BARE_RUNNER_CONFTEST)
    write_trivial(suites / "trivial-loopwarden", n_trivial, "async", EMPTY_INI)
    write_trivial(suites / "trivial-loopwarden-pa-ini", n_trivial, "async", PYTEST_ASYNCIO_INI)
    write_trivial(suites / "trivial-pytest-asyncio", n_trivial, "async", PYTEST_ASYNCIO_INI)
    write_trivial(
        suites / "trivial-pytest-asyncio-factory",
        n_trivial,
        "async",
        PYTEST_ASYNCIO_INI,
        FACTORY_CONFTEST,
    )
    write_trivial(suites / "trivial-guard", n_trivial, "async", PYTEST_ASYNCIO_INI)
    write_trivial(suites / "trivial-loopwarden-sync", n_trivial, "sync", EMPTY_INI)
    write_trivial(suites / "trivial-anyio", n_trivial, "anyio", EMPTY_INI, ANYIO_CONFTEST)
    write_fixtures(suites / "fixtures-floor", n_fixture, "sync", EMPTY_INI)
    write_fixtures(suites / "fixtures-loopwarden", n_fixture, "loopwarden", EMPTY_INI)
    write_fixtures(
        suites / "fixtures-pytest-asyncio", n_fixture, "pytest-asyncio", PYTEST_ASYNCIO_INI
    )
    write_fixtures(suites / "fixtures-guard", n_fixture, "pytest-asyncio", PYTEST_ASYNCIO_INI)
    write_fixtures(suites / "fixtures-anyio", n_fixture, "anyio", EMPTY_INI)

    # What each configuration's pytest header must (not) show: the intended plugins, in the
    # intended mode, and nothing else.
    expect = {
        "floor": ((), ("plugins:",)),
        "bare": ((), ("plugins:",)),
        "loopwarden-sync": ((": own runner",), ("asyncio-", "anyio-")),
        "loopwarden": ((": own runner",), ("asyncio-", "anyio-")),
        "loopwarden-pa-ini": ((": own runner",), ("asyncio-", "anyio-")),
        "pytest-asyncio": ((f"asyncio-{PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        "pytest-asyncio-factory": ((f"asyncio-{PYTEST_ASYNCIO}",), ("loopwarden", "anyio-")),
        "anyio": ((f"anyio-{ANYIO}",), ("loopwarden", "asyncio-")),
        "guard": ((": guard mode", f"asyncio-{PYTEST_ASYNCIO}"), ("anyio-",)),
    }

    def config(
        group: str, tool: str, label: str, venv: str, extra: tuple[str, ...] = ()
    ) -> h.Config:
        n = n_trivial if group == T else n_fixture
        has, lacks = expect[tool]
        return h.Config(
            key=f"{group}/{tool}",
            label=label,
            group=group,
            venv=venv,
            suite_dir=suites / f"{group}-{tool}",
            args=(*PYTEST_ARGS, *extra, "."),
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
        config(T, "pytest-asyncio", f"pytest-asyncio {PYTEST_ASYNCIO} auto", "pytest-asyncio"),
        config(T, "anyio", f"anyio {ANYIO} plugin", "anyio"),
        config(
            T,
            "pytest-asyncio-factory",
            "pytest-asyncio + stdlib loop factory hook",
            "pytest-asyncio",
        ),
        config(T, "guard", "pytest-asyncio + loopwarden (guard)", "guard"),
        config(F, "floor", "sync floor (sync fixtures)", "loopwarden", floor_flags),
        config(F, "loopwarden", "loopwarden own runner", "loopwarden"),
        config(F, "pytest-asyncio", f"pytest-asyncio {PYTEST_ASYNCIO} auto", "pytest-asyncio"),
        config(F, "anyio", f"anyio {ANYIO} plugin", "anyio"),
        config(F, "guard", "pytest-asyncio + loopwarden (guard)", "guard"),
    ]
    ratios = [
        h.Ratio(
            "loopwarden / pytest-asyncio",
            f"{T}/loopwarden",
            f"{T}/pytest-asyncio",
            target=TARGET_OWN_RUNNER,
        ),
        h.Ratio(
            "pytest-asyncio+loopwarden / pytest-asyncio alone",
            f"{T}/guard",
            f"{T}/pytest-asyncio",
            target=TARGET_GUARD,
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
        h.Ratio("loopwarden / pytest-asyncio", f"{F}/loopwarden", f"{F}/pytest-asyncio"),
        h.Ratio(
            "pytest-asyncio+loopwarden / pytest-asyncio alone",
            f"{F}/guard",
            f"{F}/pytest-asyncio",
            target=TARGET_GUARD,
        ),
        h.Ratio("anyio / pytest-asyncio", f"{F}/anyio", f"{F}/pytest-asyncio"),
    ]
    ratios = [replace(r, floor=f"{r.numerator.split('/')[0]}/floor") for r in ratios]
    if args.only:
        patterns = [p.strip() for p in args.only.split(",") if p.strip()]
        configs = [
            c
            for c in configs
            if c.key.endswith("/floor") or any(fnmatch.fnmatchcase(c.key, p) for p in patterns)
        ]
        groups = {c.group for c in configs if not c.key.endswith("/floor")}
        if not groups:
            raise h.BenchError(f"--only {args.only!r} matches no configuration")
        configs = [c for c in configs if c.group in groups]
        keys = {c.key for c in configs}
        ratios = [r for r in ratios if r.numerator in keys and r.denominator in keys]

    if args.profile:
        return h.profile_matching(args.profile, configs, venvs, args.profile_top)

    titles = suite_titles(configs, n_trivial, n_fixture)
    if args.instructions:
        return h.print_counts("runner", configs, venvs, ratios, titles)

    h.log(f"bench: {len(configs)} configurations x {args.rounds} rounds (+ warm-up)")
    samples = h.measure_rounds(configs, venvs, args.rounds)
    summaries = {key: h.Summary.of(runs) for key, runs in samples.items()}

    revision = h.git_revision()
    versions = {
        "python": _short_python(base_python),
        "pytest": PYTEST,
        "pytest-asyncio": PYTEST_ASYNCIO,
        "anyio": ANYIO,
        "loopwarden": f"{venvs['loopwarden'].packages.get('loopwarden', '?')} ({revision})",
    }
    counts = {T: n_trivial, F: n_fixture}
    print(_render(configs, summaries, ratios, titles, counts, versions, args.rounds))

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
            configs={
                c.key: {
                    "label": c.label,
                    "venv": c.venv,
                    "command": h.pytest_command(venvs[c.venv], c),
                    "suite_dir": str(c.suite_dir),
                    "expected": c.expected,
                    "samples": [asdict(s) | {"cpu": s.cpu} for s in samples[c.key]],
                }
                for c in configs
            },
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


def _short_python(python: Path) -> str:
    import subprocess

    out = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _render(
    configs: list[h.Config],
    summaries: dict[str, h.Summary],
    ratios: list[h.Ratio],
    titles: dict[str, str],
    counts: dict[str, int],
    versions: dict[str, str],
    rounds: int,
    suite: str = "runner",
) -> str:
    out = [
        f"loopwarden bench: {suite} — " + " · ".join(f"{k} {v}" for k, v in versions.items()),
        f"medians of {rounds} rounds (tools alternated within each round); CPU = user+sys of the "
        "pytest process; spread = (max-min)/median of CPU",
    ]
    for group, title in titles.items():
        n = counts[group]
        floor = summaries[f"{group}/floor"]
        rows = []
        for c in (c for c in configs if c.group == group):
            s = summaries[c.key]
            is_floor = c.key == f"{group}/floor"
            rows.append(
                [
                    c.label,
                    f"{s.wall:.2f}",
                    f"{s.cpu:.2f}",
                    f"{s.cpu_spread:.0%}",
                    f"{s.cpu / n * 1000:.3f}",
                    "—" if is_floor else f"{(s.cpu - floor.cpu) / n * 1000:+.3f}",
                    "—" if is_floor else f"{(s.wall - floor.wall) / n * 1000:+.3f}",
                ]
            )
        out += [
            "",
            f"[{group}] {title}",
            h.format_table(
                [
                    "configuration",
                    "wall s",
                    "CPU s",
                    "spread",
                    "CPU ms/test",
                    "over floor CPU ms/test",
                    "over floor wall ms/test",
                ],
                rows,
            ),
        ]

    def times(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}{TIMES}"

    def met(value: bool | None) -> str:
        return "—" if value is None else ("met" if value else "NOT MET")

    rows = []
    for r in ratios:
        group = r.numerator.split("/")[0]
        rows.append(
            [
                f"[{group}] {r.label}",
                times(r.value(summaries, "cpu")),
                times(r.over_floor(summaries, "cpu")),
                times(r.value(summaries, "wall")),
                "—" if r.target is None else f"<= {r.target:.2f}{TIMES}",
                met(r.verdict(summaries)),
                met(r.verdict(summaries, over_floor=True)),
            ]
        )
    out += [
        "",
        "ratios — CPU: whole pytest run; CPU over floor: the async overhead only, i.e. "
        "(tool - floor) / (pytest-asyncio - floor)",
        h.format_table(
            [
                "ratio",
                "CPU",
                "CPU over floor",
                "wall",
                "target (CPU)",
                "met: CPU",
                "met: over floor",
            ],
            rows,
        ),
    ]
    return "\n".join(out)


# Suites in modules of their own build on the definitions above, so they are imported last, and
# find this module as `run` even when it runs as __main__ (not executed a second time).
sys.modules.setdefault("run", sys.modules[__name__])
import db_bench  # noqa: E402, F401  (registers "db")
import fuzz_bench  # noqa: E402, F401  (registers "fuzz")
import guards  # noqa: E402, F401  (registers the "guards" suite)
import real_suites  # noqa: E402, F401  (registers "real-suites")
import trust  # noqa: E402, F401  (registers "trust")
import virtual_time  # noqa: E402, F401  (registers "virtual-time" and "settle")

if __name__ == "__main__":
    sys.exit(h.main(description=__doc__ or ""))
