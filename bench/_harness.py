"""Shared machinery for loopwarden's benchmarks (stdlib only, Python 3.11+).

A benchmark *suite* is a sub-command of ``bench/run.py`` registered with :func:`register`. Most
suites do the same four things, and this module does them for them:

- **environments**: :class:`Venv` builds (or reuses) one virtual environment per tool under
  ``bench/.work/venvs/``, keyed by a hash of its pinned requirements, so plugins never meet;
- **configurations**: a :class:`Config` is "this venv's Python runs pytest on this directory with
  these flags, and exactly N tests must pass";
- **measurement**: :func:`measure_rounds` runs every configuration once per round, rotating the
  order each round so machine noise spreads evenly, and reads wall time plus the child's own
  user+sys CPU time (``os.wait4``); a run that fails, or passes a different number of tests,
  aborts the benchmark (:class:`BrokenRun`) — the numbers of a broken run mean nothing;
- **reporting**: medians, per-test overheads, ratios with targets (:class:`Ratio`), a plain text
  table (:func:`format_table`) and the raw numbers as JSON (:func:`write_json`).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"  # git-ignored
VENVS_DIR = WORK_DIR / "venvs"
SUITES_DIR = WORK_DIR / "suites"
LOGS_DIR = WORK_DIR / "logs"

# Environment variables that would make a child pytest differ from a plain run (or between tools).
_SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    # A machine that sets it compiles, on every run, whatever pip left without bytecode — an
    # editable install's sources (loopwarden) and pytest's assertion-rewritten plugin modules —
    # but not the installed anchors: the warm-up run writes every tool's bytecode instead.
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONSTARTUP",
    "PYTHONDEVMODE",
    "PYTHONASYNCIODEBUG",
    "PYTHONTRACEMALLOC",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONWARNINGS",
    "PYTHONBREAKPOINT",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
    "PYTEST_THEME",
    "VIRTUAL_ENV",
)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


# -- the suite registry -----------------------------------------------------------------------


@dataclass(frozen=True)
class Suite:
    """One sub-command of ``bench/run.py``."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


SUITES: dict[str, Suite] = {}


def register(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register ``run(args) -> exit code`` as the sub-command ``name``.

    Every sub-command gets the common options (``--rounds``, ``--quick``, ``--json``,
    ``--python``); ``add_arguments`` adds its own.
    """

    def decorate(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        if name in SUITES:
            raise ValueError(f"benchmark suite {name!r} is registered twice")
        SUITES[name] = Suite(name, help, run, add_arguments)
        return run

    return decorate


def main(argv: Sequence[str] | None = None, description: str = "") -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for suite in SUITES.values():
        sub = commands.add_parser(suite.name, help=suite.help, description=suite.help)
        sub.add_argument(
            "--rounds",
            type=int,
            default=None,
            metavar="N",
            help="timed rounds per configuration (default: 5; 1 with --quick)",
        )
        sub.add_argument(
            "--quick",
            action="store_true",
            help="a smoke run: small suites, one round; numbers are not meaningful",
        )
        sub.add_argument(
            "--json", type=Path, metavar="PATH", help="also write the raw numbers here"
        )
        sub.add_argument(
            "--python",
            default="3.11",
            metavar="VERSION",
            help="the Python version the environments are built with (default: 3.11)",
        )
        if suite.add_arguments is not None:
            suite.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        return SUITES[args.suite].run(args)
    except BenchError as exc:
        print(f"\nbench: {exc}", file=sys.stderr)
        return 2


class BenchError(Exception):
    """The benchmark cannot give trustworthy numbers; the message says why and what to do."""


class BrokenRun(BenchError):
    """A measured pytest run failed or did not run the expected tests."""


# -- environments -----------------------------------------------------------------------------


def find_python(want: str = "3.11") -> Path:
    """The interpreter for ``want``, found like ``scripts/_env.sh`` does (PATH, then pyenv).

    Returns the real executable (not a pyenv shim), so every venv links the same binary.
    """
    candidates: list[str] = []
    on_path = shutil.which(f"python{want}")
    if on_path:
        candidates.append(on_path)
    pyenv = Path.home() / ".pyenv" / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / "python") for p in sorted(pyenv.glob(f"{want}*"))]
    for candidate in candidates:
        # pyenv shims exist for every version but fail for the ones not selected: try each.
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.executable)"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return Path(out.stdout.strip())
    raise BenchError(
        f"Python {want} not found; install it (e.g. 'pyenv install {want}') or pass --python "
        "with another version."
    )


def _python_says(python: Path, code: str) -> str:
    """What ``python -c code`` prints (stripped)."""
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _python_version(python: Path) -> str:
    """``sys.version`` of ``python``: part of every venv's key."""
    return _python_says(python, "import sys; print(sys.version)")


def short_python(python: Path) -> str:
    """``3.11.9``: the version of ``python`` as the reports print it."""
    return _python_says(python, "import platform; print(platform.python_version())")


@dataclass(frozen=True)
class Venv:
    """A virtual environment holding one tool's pinned requirements.

    Args:
        name: directory name prefix under ``bench/.work/venvs/``.
        requirements: pip requirement strings, pinned (``pytest==9.2.0``).
        editable: local projects installed with ``pip install -e`` (their ``pyproject.toml`` is
            part of the key, so a change of dependencies or entry points rebuilds the venv).
        disable_plugins: ``(distribution, plugin)`` pairs: ``-p no:<plugin>`` is added to every
            run *if* that distribution turns out to be installed (e.g. anyio's plugin, when a
            dependency pulls anyio in).
    """

    name: str
    requirements: tuple[str, ...]
    editable: tuple[Path, ...] = ()
    disable_plugins: tuple[tuple[str, str], ...] = ()

    def key(self, python_version: str) -> str:
        digest = hashlib.sha256()
        digest.update(python_version.encode())
        for requirement in self.requirements:
            digest.update(b"\0req:" + requirement.encode())
        for project in self.editable:
            digest.update(b"\0editable:" + str(project).encode())
            pyproject = project / "pyproject.toml"
            if pyproject.exists():
                digest.update(pyproject.read_bytes())
        return digest.hexdigest()[:12]


@dataclass
class ReadyVenv:
    """A built environment: its interpreter, what got installed, and flags every run needs."""

    spec: Venv
    path: Path
    python: Path
    packages: dict[str, str]
    reused: bool
    plugin_flags: tuple[str, ...] = ()
    pytest11: dict[str, str] = field(default_factory=dict)  # entry point name -> distribution


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        env=child_env(),
    )


def ensure_venv(spec: Venv, base_python: Path) -> ReadyVenv:
    """Build ``spec`` under ``bench/.work/venvs/`` unless an identical one is there already."""
    version = _python_version(base_python)
    key = spec.key(version)
    path = VENVS_DIR / f"{spec.name}-{key}"
    python = path / "bin" / "python"
    stamp = path / ".ready"
    reused = stamp.exists() and python.exists()
    if not reused:
        for stale in VENVS_DIR.glob(f"{spec.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        log(
            f"bench: building venv {path.name} ({', '.join(spec.requirements)}"
            + "".join(f", -e {p}" for p in spec.editable)
            + ")"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(base_python), "-m", "venv", str(path)], check=True, env=child_env())
        args = ["install", "--quiet", *spec.requirements]
        for project in spec.editable:
            args += ["-e", str(project)]
        result = _pip(python, *args)
        if result.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            raise BenchError(
                f"installing {spec.name} failed (pip exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
    listed = _pip(python, "list", "--format=json")
    if listed.returncode != 0:
        raise BenchError(f"pip list failed in {path}:\n{listed.stderr}")
    packages = {
        entry["name"].lower().replace("_", "-"): entry["version"]
        for entry in json.loads(listed.stdout)
    }
    for requirement in spec.requirements:
        name, _, pinned = requirement.partition("==")
        got = packages.get(name.lower().replace("_", "-"))
        if pinned and got != pinned:
            raise BenchError(
                f"venv {path.name} has {name} {got}, not the pinned {pinned}; "
                f"delete {path} and run again."
            )
    if not reused:
        stamp.write_text(json.dumps({"key": key, "python": version, "packages": packages}))
    flags: list[str] = []
    for distribution, plugin in spec.disable_plugins:
        if distribution in packages:
            flags += ["-p", f"no:{plugin}"]
    return ReadyVenv(spec, path, python, packages, reused, tuple(flags), _pytest11(python))


def log_venv(venv: ReadyVenv) -> None:
    """One progress line: built or reused, the pytest plugins it has, the flags its runs get."""
    log(
        f"bench: venv {venv.path.name} {'reused' if venv.reused else 'built'}; "
        f"pytest plugins: {', '.join(sorted(venv.pytest11)) or 'none'}"
        + (f"; run with {' '.join(venv.plugin_flags)}" if venv.plugin_flags else "")
    )


_LIST_PYTEST11 = """
import importlib.metadata as m, json
eps = m.entry_points(group="pytest11")
print(json.dumps({ep.name: ep.dist.name if ep.dist else "?" for ep in eps}))
"""


def _pytest11(python: Path) -> dict[str, str]:
    """The pytest plugins a venv auto-loads: entry point name -> distribution name."""
    out = subprocess.run(
        [str(python), "-c", _LIST_PYTEST11], capture_output=True, text=True, env=child_env()
    )
    if out.returncode != 0:
        raise BenchError(f"cannot list pytest plugins of {python}:\n{out.stderr}")
    return {k: v.lower().replace("_", "-") for k, v in json.loads(out.stdout).items()}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child process: ours minus anything that changes pytest's run."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTHONHASHSEED"] = "0"
    env.update(extra)
    return env


# -- configurations and measurement -----------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One measured thing: ``<venv python> -m pytest <args>`` run in ``suite_dir``.

    Args:
        key: stable identifier used in JSON (``trivial/loopwarden``).
        label: what the table calls it.
        group: the suite it belongs to; overheads are computed against the group's floor.
        venv: name of the :class:`Venv` it runs in.
        suite_dir: the generated test directory (also the pytest rootdir).
        args: pytest arguments.
        expected: exactly this many tests must pass, nothing else may happen.
        header_has: strings pytest's report header must contain (checked once, before timing):
            proof that the intended plugin is active, in the intended mode.
        header_lacks: strings it must not contain (a plugin that must not be loaded).
    """

    key: str
    label: str
    group: str
    venv: str
    suite_dir: Path
    args: tuple[str, ...]
    expected: int
    header_has: tuple[str, ...] = ()
    header_lacks: tuple[str, ...] = ()


def select_configs(
    configs: Sequence[Config], ratios: Sequence[Ratio], only: str
) -> tuple[list[Config], list[Ratio]]:
    """The configurations ``--only`` names, with the floor of each group they touch.

    ``only`` is comma-separated ``fnmatch`` patterns of configuration keys (``trivial/guard``).
    A floor (a key ending in ``/floor``) is kept when some other configuration of its group is;
    ratios are kept when both their sides are.
    """
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [
        c
        for c in configs
        if c.key.endswith("/floor") or any(fnmatch.fnmatchcase(c.key, p) for p in patterns)
    ]
    groups = {c.group for c in chosen if not c.key.endswith("/floor")}
    if not groups:
        raise BenchError(f"--only {only!r} matches no configuration")
    chosen = [c for c in chosen if c.group in groups]
    keys = {c.key for c in chosen}
    kept = [r for r in ratios if r.numerator in keys and r.denominator in keys]
    return chosen, kept


@dataclass
class Sample:
    """One timed run."""

    round: int
    position: int  # place in the round's order (0 = first)
    wall: float
    user: float
    sys: float

    @property
    def cpu(self) -> float:
        return self.user + self.sys


_SUMMARY = re.compile(r"^=*\s*(?P<counts>.*?) in (?P<secs>[\d.]+)s\b.*$")
_COUNT = re.compile(r"(\d+) (\w+)")


def parse_outcome(output: str) -> dict[str, int]:
    """Counts from pytest's final summary line (``2000 passed, 1 warning in 1.2s``)."""
    for line in reversed(output.strip().splitlines()):
        match = _SUMMARY.match(line.strip())
        if match:
            counts: dict[str, int] = {}
            for number, word in _COUNT.findall(match["counts"]):
                word = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(number)
            return counts
    return {}


def run_timed(
    cmd: Sequence[str], cwd: Path, log_path: Path, timeout: float | None = None
) -> tuple[float, float, float, int, str]:
    """Run ``cmd``; return wall seconds, the child's user and sys CPU seconds, exit code, output.

    CPU time comes from ``os.wait4`` on that very child, so other processes on the machine (and
    this harness itself) are not counted.

    With ``timeout``, the run gets a process group of its own, killed whole (children included)
    after ``timeout`` seconds, and :class:`BrokenRun` says which run hung: for runs with the
    watchdog off, where a test that hangs would otherwise wait forever.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    killed = threading.Event()
    with open(log_path, "w+b") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=timeout is not None,
        )
        timer = None
        if timeout is not None:

            def kill() -> None:
                killed.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill)
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    if killed.is_set():
        raise BrokenRun(
            f"{' '.join(cmd)} (in {cwd}) was still running after {timeout:.0f}s and was killed; "
            f"a test probably hangs. Output so far: {log_path}"
        )
    return wall, usage.ru_utime, usage.ru_stime, proc.returncode, output


def pytest_command(venv: ReadyVenv, config: Config) -> list[str]:
    return [str(venv.python), "-m", "pytest", *venv.plugin_flags, *config.args]


def run_config(venv: ReadyVenv, config: Config) -> tuple[float, float, float]:
    """One run of ``config``; raises :class:`BrokenRun` unless exactly the expected tests passed."""
    cmd = pytest_command(venv, config)
    log_path = LOGS_DIR / (config.key.replace("/", "--") + ".log")
    wall, user, sys_, code, output = run_timed(cmd, config.suite_dir, log_path)
    outcome = parse_outcome(output)
    if code != 0 or outcome != {"passed": config.expected}:
        tail = "\n".join(output.strip().splitlines()[-40:])
        raise BrokenRun(
            f"{config.label} did not run cleanly: exit code {code}, outcome {outcome or 'unknown'}"
            f" (expected exactly {{'passed': {config.expected}}}: no failures, errors, skips or "
            f"warnings).\ncommand: (cd {config.suite_dir} && {' '.join(cmd)})\n"
            f"full output: {log_path}\n--- last lines ---\n{tail}"
        )
    return wall, user, sys_


def check_header(venv: ReadyVenv, config: Config) -> None:
    """Collect-only run without ``-q``: the header must show the plugins this config means."""
    if not (config.header_has or config.header_lacks):
        return
    args = [a for a in config.args if a != "-q"]
    cmd = [str(venv.python), "-m", "pytest", *venv.plugin_flags, "--collect-only", *args]
    log_path = LOGS_DIR / (config.key.replace("/", "--") + ".header.log")
    *_, code, output = run_timed(cmd, config.suite_dir, log_path)
    header = output.split("collected", 1)[0]
    missing = [s for s in config.header_has if s not in header]
    present = [s for s in config.header_lacks if s in header]
    if code != 0 or missing or present:
        raise BrokenRun(
            f"{config.label} is not set up as intended: exit code {code}; header lacks "
            f"{missing or 'nothing'}, has unwanted {present or 'nothing'}.\n"
            f"command: (cd {config.suite_dir} && {' '.join(cmd)})\n--- header ---\n{header}"
        )


def measure_rounds(
    configs: Sequence[Config],
    venvs: Mapping[str, ReadyVenv],
    rounds: int,
    warmup: bool = True,
) -> dict[str, list[Sample]]:
    """Run every configuration once per round; round ``r`` starts at configuration ``r``.

    Rotating the order means no configuration is always first (cold caches) or always next to
    the same neighbour; a load spike from another process hits the tools in turn, not one of them.
    A warm-up round (not timed) first compiles every suite's bytecode and checks every run.
    """
    samples: dict[str, list[Sample]] = {c.key: [] for c in configs}
    for config in configs:
        check_header(venvs[config.venv], config)
    if warmup:
        log(f"bench: warm-up ({len(configs)} runs, checked, not timed)")
        for config in configs:
            run_config(venvs[config.venv], config)
    for r in range(rounds):
        order = [configs[(r + i) % len(configs)] for i in range(len(configs))]
        started = time.perf_counter()
        for position, config in enumerate(order):
            wall, user, sys_ = run_config(venvs[config.venv], config)
            samples[config.key].append(Sample(r, position, wall, user, sys_))
        log(
            f"bench: round {r + 1}/{rounds} done in {time.perf_counter() - started:.1f}s "
            f"(load average {os.getloadavg()[0]:.2f})"
        )
    return samples


# -- instruction counts -----------------------------------------------------------------------

TIMES = "\N{MULTIPLICATION SIGN}"
_IREFS = re.compile(r"I\s+refs:\s+([\d,]+)")


@dataclass(frozen=True)
class Counted:
    """The instructions one configuration's whole pytest run executed (see :func:`count_all`)."""

    instructions: float


def count_instructions(venv: ReadyVenv, config: Config) -> int:
    """Instructions the whole pytest run of ``config`` executes in user space.

    Counted by valgrind's cachegrind with the cache simulation off: the same run gives the same
    count within a fraction of a percent, whatever else the machine is doing. What it leaves out:
    time in the kernel (a loop per test costs system calls), cache misses, and it runs threads
    one at a time, about 30 times slower than normal, so a thread that wakes on a real-time
    period (loopwarden's blocking-call sampler, every ``loopwarden_blocking / 2`` seconds while a
    test runs) wakes about 30 times as often per test as it really does.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise BenchError("--instructions needs valgrind (Debian: apt-get install valgrind)")
    cmd = [
        valgrind,
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        *pytest_command(venv, config),
    ]
    log_path = LOGS_DIR / (config.key.replace("/", "--") + ".instructions.log")
    _, _, _, code, output = run_timed(cmd, config.suite_dir, log_path)
    found = _IREFS.search(output)
    if code != 0 or parse_outcome(output) != {"passed": config.expected} or found is None:
        raise BrokenRun(f"counted run of {config.label} failed; see {log_path}")
    return int(found.group(1).replace(",", ""))


def count_all(
    configs: Sequence[Config], venvs: Mapping[str, ReadyVenv], jobs: int = 2
) -> dict[str, Counted]:
    """:func:`count_instructions` for every configuration, ``jobs`` at a time (counts do not
    depend on load, so they may run side by side), after one checked run of each."""
    from concurrent.futures import ThreadPoolExecutor

    for config in configs:
        check_header(venvs[config.venv], config)
        run_config(venvs[config.venv], config)  # bytecode caches warm, the run checked
    log(f"bench: counting instructions of {len(configs)} runs under valgrind, {jobs} at a time")
    with ThreadPoolExecutor(jobs) as pool:
        counts = pool.map(lambda c: count_instructions(venvs[c.venv], c), configs)
        return {c.key: Counted(float(n)) for c, n in zip(configs, counts, strict=True)}


def print_counts(
    suite: str,
    configs: Sequence[Config],
    venvs: Mapping[str, ReadyVenv],
    ratios: Sequence[Ratio],
    titles: Mapping[str, str],
) -> int:
    """The ``--instructions`` run of a suite: count every configuration, print the tables."""
    counted = count_all(configs, venvs)
    print(f"loopwarden bench: {suite}, instructions (valgrind) at {git_revision()}")
    print(render_counts(configs, counted, ratios, titles))
    return 0


def profile_matching(
    patterns: str, configs: Sequence[Config], venvs: Mapping[str, ReadyVenv], top: int
) -> int:
    """The ``--profile`` run of a suite: profile each configuration ``patterns`` matches."""
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in configs if any(fnmatch.fnmatchcase(c.key, p) for p in wanted)]
    if not chosen:
        raise BenchError(f"--profile {patterns!r} matches no configuration")
    for c in chosen:
        check_header(venvs[c.venv], c)
        run_config(venvs[c.venv], c)  # warm bytecode caches first, and check the run
        print(profile_config(venvs[c.venv], c, REPO_ROOT / "src", top))
    return 0


def render_counts(
    configs: Sequence[Config],
    counted: Mapping[str, Counted],
    ratios: Sequence[Ratio],
    titles: Mapping[str, str],
) -> str:
    """Tables of instruction counts per group, and the ratios on instructions."""
    out = []
    for group, title in titles.items():
        members = [c for c in configs if c.group == group]
        floor = next((c for c in members if c.key.endswith("/floor")), None)
        base = counted[floor.key].instructions if floor is not None else None
        rows = []
        for c in members:
            n = counted[c.key].instructions
            over = "—" if base is None or c is floor else f"{(n - base) / c.expected / 1e3:+.0f}"
            rows.append([c.label, f"{n / 1e9:.3f}", f"{n / c.expected / 1e3:.0f}", over])
        headers = ["configuration", "G instr", "k instr/test", "over floor k instr/test"]
        out.append(f"[{group}] {title}\n{format_table(headers, rows)}")
    rows = []
    for r in ratios:
        if r.numerator not in counted or r.denominator not in counted:
            continue
        value = r.value(counted, "instructions")
        over_floor = times(r.over_floor(counted, "instructions"))
        target = "—" if r.target is None else f"<= {r.target:.2f}{TIMES}"
        met = "—" if r.target is None else ("met" if value <= r.target else "NOT MET")
        group = next((c.group for c in configs if c.key == r.numerator), "")
        rows.append([f"[{group}] {r.label}", f"{value:.3f}{TIMES}", over_floor, target, met])
    headers = ["ratio (instructions)", "whole run", "over floor", "target (CPU)", "met"]
    out.append(format_table(headers, rows))
    return "\n\n".join(out)


# -- profiling --------------------------------------------------------------------------------

# Runs in the venv's own Python (pstats files are read with the interpreter that wrote them).
_PROFILE_TOP = """
import pstats, sys
path, per, prefix, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
stats = pstats.Stats(path)
rows = []
for (filename, line, name), (_, calls, own, cum, _) in stats.stats.items():
    if filename.startswith(prefix):
        rows.append((cum, own, calls, f"{filename[len(prefix):]}:{line}({name})"))
rows.sort(reverse=True)
print(f"profiled run: {stats.total_tt:.2f}s of CPU in {stats.total_calls} calls")
print(f"{'cum ms/test':>11}  {'own ms/test':>11}  {'calls':>7}  function")
for cum, own, calls, where in rows[:top]:
    print(f"{cum / per * 1000:11.4f}  {own / per * 1000:11.4f}  {calls:7d}  {where}")
"""


def profile_config(venv: ReadyVenv, config: Config, prefix: Path, top: int = 25) -> str:
    """Run ``config`` once under cProfile; the ``top`` functions under ``prefix``, per test.

    Times are cProfile's, so inflated for call-heavy code; compare them with each other and with
    the profile's total, not with the unprofiled benchmark numbers.
    """
    out = LOGS_DIR / (config.key.replace("/", "--") + ".prof")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(venv.python),
        "-m",
        "cProfile",
        "-o",
        str(out),
        "-m",
        "pytest",
        *venv.plugin_flags,
        *config.args,
    ]
    _, user, sys_, code, output = run_timed(cmd, config.suite_dir, out.with_suffix(".log"))
    if code != 0 or parse_outcome(output) != {"passed": config.expected}:
        raise BrokenRun(f"profiled run of {config.label} failed; see {out.with_suffix('.log')}")
    report = subprocess.run(
        [
            str(venv.python),
            "-c",
            _PROFILE_TOP,
            str(out),
            str(config.expected),
            str(prefix) + os.sep,
            str(top),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
    ).stdout
    return (
        f"{config.label}: {config.expected} tests; unprofiled CPU is in the benchmark table, "
        f"this profiled run took {user + sys_:.2f}s CPU\nprofile data: {out}\n{report}"
    )


# -- statistics and reporting -----------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Medians of one configuration's samples, and their spread."""

    wall: float
    cpu: float
    wall_spread: float  # (max - min) / median
    cpu_spread: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Summary:
        walls = [s.wall for s in samples]
        cpus = [s.cpu for s in samples]
        wall = statistics.median(walls)
        cpu = statistics.median(cpus)
        return cls(
            wall=wall,
            cpu=cpu,
            wall_spread=(max(walls) - min(walls)) / wall if wall else 0.0,
            cpu_spread=(max(cpus) - min(cpus)) / cpu if cpu else 0.0,
            n=len(samples),
        )


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of a metric (``cpu`` or ``wall``), with an optional target.

    With ``floor`` set, :meth:`over_floor` also gives the ratio of the *overheads* over that
    floor configuration: ``(numerator - floor) / (denominator - floor)``.
    """

    label: str
    numerator: str
    denominator: str
    metric: str = "cpu"
    target: float | None = None  # met when ratio <= target
    floor: str | None = None

    def value(
        self, summaries: Mapping[str, Summary] | Mapping[str, Counted], metric: str | None = None
    ) -> float:
        metric = metric or self.metric
        num = getattr(summaries[self.numerator], metric)
        den = getattr(summaries[self.denominator], metric)
        return float(num / den)

    def over_floor(
        self, summaries: Mapping[str, Summary] | Mapping[str, Counted], metric: str | None = None
    ) -> float | None:
        if self.floor is None:
            return None
        metric = metric or self.metric
        base = getattr(summaries[self.floor], metric)
        num = getattr(summaries[self.numerator], metric) - base
        den = getattr(summaries[self.denominator], metric) - base
        # Either below the floor is noise, not a measured overhead: no ratio (not "met").
        return float(num / den) if den > 0 and num >= 0 else None

    def verdict(self, summaries: Mapping[str, Summary], over_floor: bool = False) -> bool | None:
        if self.target is None:
            return None
        value = self.over_floor(summaries) if over_floor else self.value(summaries)
        return None if value is None else value <= self.target


def paired_median(a: Sequence[Sample], b: Sequence[Sample], metric: str = "cpu") -> float:
    """Median over rounds of ``a / b`` within each round: robust to load that drifts between rounds.

    (Both configurations ran in the same round, minutes apart at most.)
    """
    by_round = {s.round: getattr(s, metric) for s in b}
    return float(
        statistics.median(getattr(s, metric) / by_round[s.round] for s in a if s.round in by_round)
    )


def times(value: float | None) -> str:
    """A ratio as the tables print it (two decimals and :data:`TIMES`), or ``—`` for none."""
    return "—" if value is None else f"{value:.2f}{TIMES}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The sample at rank ``int(fraction * n)`` of the sorted ``values`` (the last one at most).

    With ``fraction=0.9`` that is the smallest sample with at least 90 % of the samples below it
    (for 10 samples, the largest): the p90 of the ``db`` and ``settle`` tables.
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A plain text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    rows = [list(r) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            out.append(str(cell).ljust(width) if i < left else str(cell).rjust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def render_timings(
    configs: Sequence[Config],
    summaries: Mapping[str, Summary],
    ratios: Sequence[Ratio],
    titles: Mapping[str, str],
    counts: Mapping[str, int],
    versions: Mapping[str, str],
    rounds: int,
    suite: str = "runner",
) -> str:
    """The timing report of a suite measured against floors: one table per group, then the ratios.

    Per group (``titles``: group -> heading; ``counts``: group -> tests per run), each
    configuration's median wall and CPU seconds, its CPU spread, CPU per test, and its CPU and
    wall per test over the group's floor (the configuration ``<group>/floor``). Per ratio: whole
    run CPU, CPU over floor, wall, target and the two verdicts (see :class:`Ratio`).
    """
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
            format_table(
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
        format_table(
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


def git_revision() -> str:
    """``<short sha>`` of the repo, ``+dirty`` when the working tree has changes (read-only)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "harness_python": sys.version.split()[0],
    }


@dataclass
class Report:
    """Everything a run measured, as written by ``--json``."""

    suite: str
    meta: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratios: list[dict[str, Any]] = field(default_factory=list)


def configs_json(
    configs: Sequence[Config],
    venvs: Mapping[str, ReadyVenv],
    samples: Mapping[str, Sequence[Sample]],
) -> dict[str, dict[str, Any]]:
    """``Report.configs`` of a timed suite: each configuration's command, suite and samples."""
    return {
        c.key: {
            "label": c.label,
            "venv": c.venv,
            "command": pytest_command(venvs[c.venv], c),
            "suite_dir": str(c.suite_dir),
            "expected": c.expected,
            "samples": [asdict(s) | {"cpu": s.cpu} for s in samples[c.key]],
        }
        for c in configs
    }


def write_json(path: Path, report: Report) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (whatever was there is removed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
