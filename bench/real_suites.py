"""The ``real-suites`` suite: virtual time on the test suites of real async libraries from PyPI.

The synthetic suites measure what loopwarden costs; this one measures what virtual time *buys*
on code nobody wrote for loopwarden, and whether it changes any outcome. For each library in
:data:`LIBRARIES` it

- downloads the pinned sdist (``pip download --no-binary :all: --no-deps``; the sdist ships the
  test suite) into ``bench/.work/real-suites/`` (git-ignored) and unpacks it;
- builds a venv with pytest, pytest-asyncio (so loopwarden works in guard mode, as most users
  will meet it), the library from its sdist, its test dependencies, and loopwarden editable from
  this repository;
- runs the library's tests in real time and with ``--lw-virtual-time``, both with every other
  guard off (:data:`GUARDS_OFF`), alternating over several rounds, timing wall and CPU;
- runs the virtual configuration once more, untimed, with the hang watchdog on
  (``--lw-timeout=60``): with the watchdog off an idle loop is not reported, so this run shows
  what a user with the defaults would see;
- compares every test's outcome (read from ``--junitxml``) between real and virtual time, and
  classifies each difference from its failure text (:func:`classify`), unless
  :attr:`Library.known` already says why.

Unlike the synthetic suites, failures are data here, not a broken run: a library's suite may fail
in both modes for reasons of its own (the outcome counts show that). What aborts the benchmark is
a configuration that is not what it claims (header check), a run that collects nothing, or a run
that outlives ``--run-timeout`` (with the watchdog off, an idle hang would wait forever).

Downloaded code is never committed: everything lives under ``bench/.work/``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _harness as h
import _shared as shared

# -- what is measured -------------------------------------------------------------------------

GUARDS_OFF = ("--lw-leaks=off", "--lw-timeout=0", "--lw-blocking=0")
VIRTUAL = ("--lw-virtual-time",)
# The untimed extra run: virtual time with the hang watchdog on, as a user with defaults has it.
WATCHDOG = ("--lw-leaks=off", "--lw-timeout=60", "--lw-blocking=0", "--lw-virtual-time")

# Every run: no cache plugin writing state, and the project's addopts dropped (they ask for
# pytest-cov, -s, --verbose…: plugins not installed, or output that costs time).
COMMON_ARGS = ("-q", "-p", "no:cacheprovider", "-o", "addopts=")

REAL_DIR = h.WORK_DIR / "real-suites"  # git-ignored, like all of bench/.work/


@dataclass(frozen=True)
class Library:
    """A PyPI library whose sdist ships a pytest suite that uses asyncio time.

    Args:
        name: the distribution name on PyPI.
        version: pinned: the sdist (and so the test suite) is exactly this release.
        test_requirements: pinned extras its tests import or its ini needs.
        pytest_args: what to run and what to leave out (paths, ``-m``, ``--ignore``, ``-o``).
        why: what its tests do with time, for the report.
        known: node id -> why its outcome differs between real and virtual time, established
            by reading the failure; overrides :func:`classify`.
        volatile_ids: a regular expression for the parts of node ids that change from run to
            run (a parameter made with ``secrets``), replaced by ``<volatile>`` before runs are
            compared; the reason beside it.
    """

    name: str
    version: str
    test_requirements: tuple[str, ...]
    pytest_args: tuple[str, ...]
    why: str
    known: Mapping[str, str] = field(default_factory=dict)
    volatile_ids: str | None = None

    @property
    def key(self) -> str:
        return self.name.replace("-", "_").lower()


LIBRARIES = (
    Library(
        name="aiocache",
        version="0.12.3",
        # Its serializer tests import both; marshmallow 4 dropped the API the tests use.
        test_requirements=("pytest-mock==3.15.1", "marshmallow==3.26.1", "msgpack==1.1.0"),
        pytest_args=(
            # The memory backend only: redis and memcached need servers.
            "-m",
            "not redis and not memcached",
            "--ignore=tests/ut/backends/test_redis.py",
            "--ignore=tests/ut/backends/test_memcached.py",
            "--ignore=tests/performance",
            # Unset in its setup.cfg, and its filterwarnings=error turns the warning into an error.
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "tests",
        ),
        why="TTLs and locks with real sleeps (asyncio.sleep(1.1), lease expiry), 454 tests",
    ),
    Library(
        name="async-lru",
        version="2.4.0",
        test_requirements=("pytest-timeout==2.4.0",),  # its ini sets `timeout = 15`
        pytest_args=("-o", "asyncio_default_fixture_loop_scope=function", "tests"),
        why="TTL expiry, jitter and cancellation with short sleeps; a thread-safety module",
    ),
    Library(
        name="janus",
        version="2.0.0",
        test_requirements=(),
        # test_benchmarks.py needs pytest-codspeed's `benchmark` fixture: not a time test.
        pytest_args=("--ignore=tests/test_benchmarks.py", "tests"),
        why="a queue between threads and the loop: sleeps while threads work, where virtual "
        "time must not jump (it must treat a working thread as 'not quiet')",
    ),
)

MODES = {
    "real": ("real time", GUARDS_OFF),
    "virtual": ("virtual time", (*GUARDS_OFF, *VIRTUAL)),
}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help="comma-separated libraries to run (default: all of "
        + ", ".join(lib.name for lib in LIBRARIES)
        + ")",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="kill a pytest run after this long (the watchdog is off in timed runs, so an idle "
        "hang would otherwise never end; default: 600)",
    )
    parser.add_argument(
        "--no-watchdog-run",
        action="store_true",
        help="skip the untimed virtual-time run with the watchdog on (--lw-timeout=60)",
    )


def select(libraries: Sequence[Library], only: str | None) -> list[Library]:
    """The libraries ``--only`` names (comma-separated names or keys); all of them without it."""
    if not only:
        return list(libraries)
    wanted = {n.strip().lower() for n in only.split(",") if n.strip()}
    chosen = [lib for lib in libraries if lib.name in wanted or lib.key in wanted]
    if not chosen:
        raise h.BenchError(f"--only {only!r} matches no library")
    return chosen


# -- sources and venvs ------------------------------------------------------------------------


def fetch_sdist(lib: Library, python: Path) -> Path:
    """The library's sdist in ``bench/.work/real-suites/sdists/``, downloaded once."""
    sdists = REAL_DIR / "sdists"
    found = _find_sdist(sdists, lib)
    if found is not None:
        return found
    sdists.mkdir(parents=True, exist_ok=True)
    h.log(f"bench: downloading the {lib.name} {lib.version} sdist")
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "--disable-pip-version-check",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--dest",
            str(sdists),
            f"{lib.name}=={lib.version}",
        ],
        capture_output=True,
        text=True,
        env=h.child_env(),
    )
    found = _find_sdist(sdists, lib)
    if result.returncode != 0 or found is None:
        raise h.BenchError(
            f"downloading the {lib.name} {lib.version} sdist failed (pip exit "
            f"{result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return found


def _find_sdist(directory: Path, lib: Library) -> Path | None:
    # Older sdists keep the dashes of the project name, newer ones normalize them (PEP 625).
    for stem in {lib.name, lib.key, lib.name.lower()}:
        candidate = directory / f"{stem}-{lib.version}.tar.gz"
        if candidate.exists():
            return candidate
    return None


def unpack(sdist: Path, lib: Library) -> Path:
    """A pristine copy of the sdist's tree, unpacked afresh each run.

    Fresh so that nothing a previous run left (``__pycache__``, files a test wrote) or a hand
    edit while investigating changes what is measured.
    """
    target = h.fresh_dir(REAL_DIR / "src" / lib.key)
    with tarfile.open(sdist) as archive:
        data_filter = getattr(tarfile, "data_filter", None)  # 3.11.4+: refuse unsafe members
        if data_filter is not None:
            archive.extractall(target, filter=data_filter)
        else:  # pragma: no cover - old 3.11 patch releases
            archive.extractall(target)
    tops = [p for p in target.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise h.BenchError(f"{sdist.name}: expected one top-level directory, found {tops}")
    return tops[0]


def venv_for(
    lib: Library,
    sdist: Path,
    python: Path,
    prefix: str = "real",
    disable_plugins: tuple[tuple[str, str], ...] = (("anyio", "anyio"),),
) -> h.ReadyVenv:
    """pytest, pytest-asyncio, the library from its sdist, its test extras, loopwarden editable.

    The venv is ``<prefix>-<library key>``; ``disable_plugins`` as in :class:`_harness.Venv`:
    anyio's plugin is off here, and stays on for the ``trust`` suite, whose suites need it.
    """
    spec = h.Venv(
        name=f"{prefix}-{lib.key}",
        requirements=(
            f"pytest=={shared.PYTEST}",
            f"pytest-asyncio=={shared.PYTEST_ASYNCIO}",
            *lib.test_requirements,
            str(sdist),  # a path: installs exactly the downloaded release
        ),
        editable=(h.REPO_ROOT,),
        disable_plugins=disable_plugins,
    )
    venv = h.ensure_venv(spec, python)
    got = venv.packages.get(lib.name.lower())
    if got != lib.version:
        raise h.BenchError(
            f"venv {venv.path.name} has {lib.name} {got}, not {lib.version}; delete it and rerun."
        )
    return venv


# -- running and reading outcomes -------------------------------------------------------------


@dataclass
class Run:
    """One pytest run of one library in one mode."""

    mode: str
    round: int  # -1: warm-up or the untimed watchdog run
    wall: float
    user: float
    sys: float
    exit_code: int
    counts: dict[str, int]
    outcomes: dict[str, str]  # node id -> passed / failed / error / skipped (joined with +)
    messages: dict[str, str]  # node id -> failure or error text, for tests that did not pass
    log: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def read_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Per-test outcomes and failure texts from pytest's ``--junitxml`` file.

    A test that passed but errored at teardown is ``error+passed`` in pytest's counting too.
    """
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    if not path.exists():
        return outcomes, messages
    for case in ET.parse(path).getroot().iter("testcase"):
        classname = case.get("classname", "")
        node = f"{classname}::{case.get('name', '')}" if classname else case.get("name", "")
        kinds: set[str] = set()
        texts = []
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kinds.add({"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag])
                message = child.get("message", "")
                texts.append(f"{message}\n{child.text or ''}".strip())
                if child.tag == "error" and message.startswith("failed on teardown"):
                    kinds.add("passed")  # unless the call failed too (then "failed" is there)
        if {"passed", "failed"} <= kinds:
            kinds.discard("passed")
        outcome = "+".join(sorted(kinds)) if kinds else "passed"
        outcomes[node] = outcome
        if texts:
            messages[node] = "\n".join(texts)
    return outcomes, messages


def run_once(
    lib: Library,
    venv: h.ReadyVenv,
    cwd: Path,
    mode: str,
    flags: Sequence[str],
    round_: int,
    timeout: float,
) -> Run:
    """One run; raises :class:`_harness.BrokenRun` if it collected nothing or timed out."""
    stem = f"real-suites--{lib.key}--{mode}"
    junit = h.LOGS_DIR / f"{stem}.xml"
    if junit.exists():
        junit.unlink()
    cmd = [
        str(venv.python),
        "-m",
        "pytest",
        *venv.plugin_flags,
        *COMMON_ARGS,
        *flags,
        f"--junitxml={junit}",
        *lib.pytest_args,
    ]
    log_path = h.LOGS_DIR / f"{stem}.log"
    wall, user, sys_, code, output = h.run_timed(cmd, cwd, log_path, timeout=timeout)
    counts = h.parse_outcome(output)
    outcomes, messages = read_junit(junit)
    # 0: all passed; 1: some failed — both are data here. Anything else (usage error, internal
    # error, nothing collected) means the configuration itself is broken.
    if code not in (0, 1) or not outcomes:
        tail = "\n".join(output.strip().splitlines()[-40:])
        raise h.BrokenRun(
            f"{lib.name} ({mode}) did not run its tests: exit code {code}, outcome "
            f"{counts or 'unknown'}.\ncommand: (cd {cwd} && {' '.join(cmd)})\n"
            f"full output: {log_path}\n--- last lines ---\n{tail}"
        )
    return Run(mode, round_, wall, user, sys_, code, counts, outcomes, messages, str(log_path))


# -- classifying differences ------------------------------------------------------------------

_WALL_CLOCK = re.compile(r"\btime\.(monotonic|time|perf_counter)\b|\bdatetime\.now\b")


def classify(message: str) -> str:
    """A first reading of why a test fails in one mode only, from its failure text.

    Heuristic, and said to be: the README's Results section holds the reading of a person.
    """
    if "loop went idle in virtual time" in message:
        return "idle hang reported by loopwarden (nothing scheduled, nothing working)"
    if "did not finish" in message and "loopwarden_timeout" in message:
        return "loopwarden watchdog timeout"
    if _WALL_CLOCK.search(message):
        return "measures wall time (time.monotonic()/time.time() do not follow virtual time)"
    if "TimeoutError" in message or "Timeout" in message:
        return "a timeout fired in one mode only: relies on a real-time race"
    if re.search(r"[/\\]loopwarden[/\\]", message):
        return "raised inside loopwarden: possible loopwarden bug, read the log"
    return "unclassified: read the log"


@dataclass
class Difference:
    """A test whose outcome is not the same in real and virtual time."""

    node: str
    real: str
    virtual: str
    reason: str
    message: str


def differences(
    lib: Library, real: Sequence[Run], virtual: Sequence[Run]
) -> tuple[list[Difference], dict[str, dict[str, list[str]]]]:
    """Tests whose (majority) outcome differs between the modes, and tests flaky within a mode."""

    def majority(runs: Sequence[Run]) -> tuple[dict[str, str], dict[str, list[str]]]:
        nodes = sorted({n for run in runs for n in run.outcomes})
        chosen: dict[str, str] = {}
        flaky: dict[str, list[str]] = {}
        for node in nodes:
            seen = [run.outcomes.get(node, "absent") for run in runs]
            chosen[node] = statistics.mode(seen)
            if len(set(seen)) > 1:
                flaky[node] = seen
        return chosen, flaky

    real_out, real_flaky = majority(real)
    virt_out, virt_flaky = majority(virtual)
    diffs: list[Difference] = []
    for node in sorted(set(real_out) | set(virt_out)):
        a, b = real_out.get(node, "absent"), virt_out.get(node, "absent")
        if a == b:
            continue
        failing = virtual if b != "passed" else real
        message = next((run.messages[node] for run in failing if node in run.messages), "")
        reason = lib.known.get(node) or classify(message)
        diffs.append(Difference(node, a, b, reason, message))
    flaky = {"real": real_flaky, "virtual": virt_flaky}
    return diffs, flaky


# -- the sub-command --------------------------------------------------------------------------


@dataclass
class LibraryResult:
    """Everything measured for one library."""

    lib: Library
    venv: h.ReadyVenv
    runs: dict[str, list[Run]]
    watchdog: Run | None
    diffs: list[Difference]
    flaky: dict[str, dict[str, list[str]]]
    watchdog_diffs: list[Difference]

    def summary(self, mode: str) -> h.Summary:
        return h.Summary.of(
            [h.Sample(run.round, 0, run.wall, run.user, run.sys) for run in self.runs[mode]]
        )


@h.register(
    "real-suites",
    help="virtual time on real libraries' test suites (aiocache, async-lru, janus from PyPI "
    "sdists): real vs --lw-virtual-time, wall/CPU and outcome differences",
    add_arguments=_arguments,
)
def real_suites(args: argparse.Namespace) -> int:
    libs = select(LIBRARIES, args.only)
    base_python = h.find_python(args.python)

    prepared: list[tuple[Library, h.ReadyVenv, Path]] = []
    for lib in libs:
        sdist = fetch_sdist(lib, base_python)
        venv = venv_for(lib, sdist, base_python)
        source = unpack(sdist, lib)
        h.log(
            f"bench: {lib.name} {lib.version}: venv {venv.path.name} "
            f"{'reused' if venv.reused else 'built'}; tests in {source}"
        )
        for mode, (label, flags) in MODES.items():
            header_has = [": guard mode"]
            header_lacks: list[str] = []
            (header_has if mode == "virtual" else header_lacks).append("virtual time on")
            h.check_header(
                venv,
                h.Config(
                    key=f"real-suites/{lib.key}-{mode}",
                    label=f"{lib.name}, {label}",
                    group=lib.key,
                    venv=venv.spec.name,
                    suite_dir=source,
                    args=(*COMMON_ARGS, *flags, *lib.pytest_args),
                    expected=0,
                    header_has=tuple(header_has),
                    header_lacks=tuple(header_lacks),
                ),
            )
        prepared.append((lib, venv, source))

    # Every (library, mode) pair is a configuration; each round runs them all, starting one
    # further along, so no configuration always runs first or after the same neighbour.
    configs = [(lib, venv, source, mode) for lib, venv, source in prepared for mode in MODES]
    runs: dict[tuple[str, str], list[Run]] = {(c[0].key, c[3]): [] for c in configs}
    if not args.quick:  # --quick: one round, no warm-up; the numbers then mean little
        h.log(f"bench: warm-up ({len(configs)} runs, not timed)")
        for lib, venv, source, mode in configs:
            run_once(lib, venv, source, mode, MODES[mode][1], -1, args.run_timeout)
    h.log(f"bench: {len(configs)} configurations x {args.rounds} rounds")
    for round_ in range(args.rounds):
        started = time.perf_counter()
        order = [configs[(round_ + i) % len(configs)] for i in range(len(configs))]
        for lib, venv, source, mode in order:
            run = run_once(lib, venv, source, mode, MODES[mode][1], round_, args.run_timeout)
            runs[(lib.key, mode)].append(run)
        h.log(
            f"bench: round {round_ + 1}/{args.rounds} done in "
            f"{time.perf_counter() - started:.1f}s (load average {os.getloadavg()[0]:.2f})"
        )

    results: list[LibraryResult] = []
    for lib, venv, source in prepared:
        watchdog = None
        watchdog_diffs: list[Difference] = []
        if not args.no_watchdog_run:
            watchdog = run_once(lib, venv, source, "watchdog", WATCHDOG, -1, args.run_timeout)
            watchdog_diffs, _ = differences(lib, runs[(lib.key, "real")], [watchdog])
        diffs, flaky = differences(lib, runs[(lib.key, "real")], runs[(lib.key, "virtual")])
        results.append(
            LibraryResult(
                lib,
                venv,
                {mode: runs[(lib.key, mode)] for mode in MODES},
                watchdog,
                diffs,
                flaky,
                watchdog_diffs,
            )
        )

    versions = {
        "python": h.short_python(base_python),
        "pytest": shared.PYTEST,
        "pytest-asyncio": shared.PYTEST_ASYNCIO,
        "loopwarden": f"{prepared[0][1].packages.get('loopwarden', '?')} ({h.git_revision()})",
    }
    print(render(results, versions, args.rounds))
    if args.json:
        h.write_json(args.json, report(results, versions, args.rounds))
        h.log(f"bench: raw numbers written to {args.json}")
    return 0


# pytest's own order in its summary line.
_ORDER = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warnings", "errors")


def _counts(run_list: Sequence[Run]) -> str:
    """The outcome counts of a mode's runs: one line if every round agrees, else each round's."""
    seen = []
    for run in run_list:
        order = sorted(run.counts, key=lambda k: (_ORDER.index(k) if k in _ORDER else 99, k))
        text = ", ".join(f"{run.counts[k]} {k}" for k in order) or "?"
        if text not in seen:
            seen.append(text)
    return " | ".join(seen)


def render(results: Sequence[LibraryResult], versions: Mapping[str, str], rounds: int) -> str:
    """The plain-text report: one table row per library and mode, then the differences."""
    times = h.TIMES
    out = [
        "loopwarden bench: real-suites — " + " · ".join(f"{k} {v}" for k, v in versions.items()),
        f"medians of {rounds} rounds (configurations alternated within each round); guards off "
        f"({' '.join(GUARDS_OFF)}); CPU = user+sys of the pytest process",
        "",
    ]
    rows = []
    for res in results:
        real, virt = res.summary("real"), res.summary("virtual")
        for mode, s in (("real", real), ("virtual", virt)):
            rows.append(
                [
                    f"{res.lib.name} {res.lib.version}",
                    MODES[mode][0],
                    _counts(res.runs[mode]),
                    f"{s.wall:.2f}",
                    f"{s.cpu:.2f}",
                    f"{s.cpu_spread:.0%}",
                    "—" if mode == "real" else f"{real.wall / s.wall:.2f}{times}",
                    "—" if mode == "real" else f"{real.cpu / s.cpu:.2f}{times}",
                ]
            )
        if res.watchdog is not None:
            wd = res.watchdog
            rows.append(
                [
                    f"{res.lib.name} {res.lib.version}",
                    "virtual + watchdog (1 run)",
                    _counts([wd]),
                    f"{wd.wall:.2f}",
                    f"{wd.cpu:.2f}",
                    "—",
                    f"{real.wall / wd.wall:.2f}{times}",
                    f"{real.cpu / wd.cpu:.2f}{times}",
                ]
            )
    out.append(
        h.format_table(
            [
                "library",
                "mode",
                "outcome",
                "wall s",
                "CPU s",
                "spread",
                "speed-up wall",
                "speed-up CPU",
            ],
            rows,
            left=3,
        )
    )
    for res in results:
        out += ["", f"[{res.lib.name}] {res.lib.why}"]
        if not res.diffs and not res.watchdog_diffs:
            out.append("  no test changes outcome in virtual time")
        for title, diffs in (
            ("real -> virtual", res.diffs),
            ("real -> virtual + watchdog", res.watchdog_diffs),
        ):
            for d in diffs:
                first = d.message.strip().splitlines()[0][:160] if d.message.strip() else ""
                out.append(f"  {title}: {d.node}: {d.real} -> {d.virtual}: {d.reason}")
                if first:
                    out.append(f"      {first}")
        for mode, flaky in res.flaky.items():
            for node, seen in flaky.items():
                out.append(f"  flaky in {mode} time: {node}: {', '.join(seen)}")
        out.append(f"  logs: {h.LOGS_DIR}/real-suites--{res.lib.key}--*.log")
    return "\n".join(out)


def report(results: Sequence[LibraryResult], versions: Mapping[str, str], rounds: int) -> h.Report:
    """The raw numbers for ``--json``: every run's times and counts, and every difference."""

    def run_dict(run: Run) -> dict[str, Any]:
        data = asdict(run)
        data.pop("outcomes")
        data.pop("messages")
        data["cpu"] = run.cpu
        return data

    return h.Report(
        suite="real-suites",
        meta={"versions": dict(versions), "rounds": rounds, "machine": h.machine_info()},
        configs={
            f"{res.lib.key}/{mode}": {
                "library": f"{res.lib.name}=={res.lib.version}",
                "mode": mode,
                "venv": str(res.venv.path),
                "packages": res.venv.packages,
                "samples": [run_dict(run) for run in res.runs[mode]],
            }
            for res in results
            for mode in MODES
        },
        summaries={
            f"{res.lib.key}/{mode}": asdict(res.summary(mode)) for res in results for mode in MODES
        },
        ratios=[
            {
                "label": f"{res.lib.name}: real / virtual",
                "wall": res.summary("real").wall / res.summary("virtual").wall,
                "cpu": res.summary("real").cpu / res.summary("virtual").cpu,
                "differences": [asdict(d) for d in res.diffs],
                "watchdog_run": None if res.watchdog is None else run_dict(res.watchdog),
                "watchdog_differences": [asdict(d) for d in res.watchdog_diffs],
                "flaky": res.flaky,
            }
            for res in results
        ],
    )
