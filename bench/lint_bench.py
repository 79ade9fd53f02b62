"""Benchmark ``loopwarden lint`` against ``ast.parse``, flake8 + flake8-async and ruff.

The corpus is the test folders of real async projects, downloaded at run time as sdists from PyPI
into ``bench/.work/lint/`` (git-ignored; nothing downloaded is ever committed). Every tool checks
the same files; each measurement is repeated ``--rounds`` times and the median is reported.

Measured, in one run:

- ``ast.parse``: read + parse every file, one process (the floor for any ``ast``-based checker),
  once as is and once with the cyclic GC paused per file as loopwarden does;
- ``loopwarden (1 process)``: read + parse + check every file in this process, all rules;
- ``loopwarden CLI``: ``python -m loopwarden.lint`` end to end (process start, file discovery,
  process pool);
- ``flake8 + flake8-async``: ``flake8 --select ASYNC -j 1`` in its own venv, on a sample of the
  corpus (every k-th file; it is ~250x slower; ``--flake8-lines``/``--flake8-rounds``);
- ``ruff --select ASYNC``: ruff's own parallelism, no cache.

Targets (issue 5): loopwarden lines/s >= 50x flake8-async's; loopwarden (1 process) time <= 1.5x
``ast.parse`` time.

Usage::

    python bench/lint_bench.py [--rounds 5] [--flake8-lines 20000] [--skip-flake8]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work" / "lint"
SDISTS = WORK / "sdists"
CORPUS = WORK / "corpus"
FLAKE8_VENV = WORK / "venv-flake8"

# Pinned so that runs are comparable; each sdist ships its test suite.
PROJECTS = {
    "aiohttp": "3.11.18",
    "anyio": "4.9.0",
    "websockets": "15.0.1",
    "httpx": "0.28.1",
    "starlette": "0.46.2",
    "pytest-asyncio": "0.26.0",
    "redis": "5.2.1",
    "uvicorn": "0.34.2",
    "asyncpg": "0.30.0",
}
FLAKE8_REQUIREMENTS = ["flake8==7.2.0", "flake8-async==25.5.1"]
TEST_DIRS = ("tests", "test", "testing")


def log(message: str) -> None:
    print(f"[lint-bench] {message}", file=sys.stderr, flush=True)


def download(projects: dict[str, str] = PROJECTS, sdists: Path = SDISTS) -> None:
    """``pip download`` each sdist into ``sdists`` (pip builds its metadata in an isolated
    environment)."""
    sdists.mkdir(parents=True, exist_ok=True)
    for name, version in projects.items():
        if _sdist(name, version, sdists):
            continue
        log(f"downloading the sdist of {name}=={version}")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "-d", str(sdists), f"{name}=={version}"],
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            log(f"could not download {name}=={version}; it is left out of the corpus")


def _sdist(name: str, version: str, sdists: Path = SDISTS) -> Path | None:
    stems = {name.replace("-", "_"), name}
    for path in sdists.glob("*"):
        for stem in stems:
            if path.name.lower().startswith(f"{stem}-{version}".lower()):
                return path
    return None


def extract(
    projects: dict[str, str] = PROJECTS, corpus: Path = CORPUS, sdists: Path = SDISTS
) -> list[Path]:
    """Unpack only the test folders (and the project's metadata files) of each sdist found in
    ``sdists`` into ``<corpus>/<project>/``."""
    for name, version in projects.items():
        target = corpus / name
        if target.exists():
            continue
        archive = _sdist(name, version, sdists)
        if archive is None:
            continue
        log(f"extracting the tests of {archive.name}")
        members: list[tuple[str, bytes]] = []
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if _wanted(info.filename):
                        members.append((info.filename, zf.read(info)))
        else:
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    if member.isfile() and _wanted(member.name):
                        handle = tf.extractfile(member)
                        if handle is not None:
                            members.append((member.name, handle.read()))
        for member_name, data in members:
            relative = Path(*Path(member_name).parts[1:])  # drop "<project>-<version>/"
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    return sorted(p for name in projects for p in (corpus / name).rglob("*.py"))


# The project's own description, next to its tests: what it declares decides whether some rules'
# messages hold for it (``loopwarden.lint._project``).
METADATA_FILES = ("pyproject.toml", "setup.cfg", "PKG-INFO")
_REQUIREMENTS = re.compile(r"^(requirements[\w.-]*|[\w.-]*requirements)\.txt$")


def _wanted(name: str) -> bool:
    parts = Path(name).parts
    if len(parts) == 2 and (parts[1] in METADATA_FILES or _REQUIREMENTS.match(parts[1])):
        return True
    if len(parts) == 3 and parts[1] == "requirements" and parts[2].endswith(".txt"):
        return True
    return name.endswith(".py") and any(p in TEST_DIRS for p in parts[1:-1])


def ensure_flake8() -> Path:
    python = FLAKE8_VENV / "bin" / "python"
    flake8 = FLAKE8_VENV / "bin" / "flake8"
    if not flake8.exists():
        log("creating the flake8 + flake8-async venv")
        subprocess.run([sys.executable, "-m", "venv", str(FLAKE8_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *FLAKE8_REQUIREMENTS], check=True
        )
    return flake8


def median_time(fn, rounds: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


def count_lines(files: list[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flake8-lines", type=int, default=12_000)
    parser.add_argument("--flake8-rounds", type=int, default=3)
    parser.add_argument("--skip-flake8", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    download()
    files = extract()
    paths = [str(p) for p in files]
    lines = count_lines(files)
    log(f"corpus: {len(files)} files, {lines} lines ({', '.join(PROJECTS)})")

    sys.path.insert(0, str(REPO / "src"))
    from loopwarden.lint._runner import Options, check_files
    from loopwarden.lint.rules import RULES

    def parse_only() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in paths:
                with open(path, "rb") as handle:
                    source = handle.read().decode("utf-8")
                with contextlib.suppress(SyntaxError):
                    ast.parse(source, filename=path)

    def parse_only_gc_paused() -> None:
        # What loopwarden does around each file (see _runner.check_source): the cyclic GC is
        # paused while a fresh tree is alive. Shown so the ratio can be read both ways.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in paths:
                with open(path, "rb") as handle:
                    source = handle.read().decode("utf-8")
                gc.disable()
                try:
                    ast.parse(source, filename=path)
                except SyntaxError:
                    pass
                finally:
                    gc.enable()

    options = Options(codes=frozenset(RULES))
    findings: list[int] = []

    def lint_in_process() -> None:
        results = check_files(paths, options, jobs=1)
        findings.append(sum(len(r.findings) for r in results))

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def lint_cli() -> None:
        subprocess.run(
            [sys.executable, "-m", "loopwarden.lint", "--isolated", "--exit-zero",
             "--no-gitignore", "--format", "json", str(CORPUS)],
            check=True, stdout=subprocess.DEVNULL, env=env,
        )  # fmt: skip

    results: dict[str, dict[str, float]] = {}

    def record(name: str, seconds: float, measured_lines: int, samples: list[float]) -> None:
        results[name] = {
            "seconds": seconds,
            "lines": measured_lines,
            "lines_per_s": measured_lines / seconds,
            "samples": samples,  # type: ignore[dict-item]
        }
        log(f"{name}: {seconds:.3f} s median, {measured_lines / seconds:,.0f} lines/s")

    # Warm the OS file cache and the imports once, so the first measured tool is not penalised.
    parse_only()
    lint_in_process()
    # Rounds are interleaved (A B C A B C ...) so that load from other processes on a shared
    # machine spreads over every tool instead of penalising one.
    measured = (
        ("ast.parse (1 process)", parse_only),
        ("ast.parse, GC paused per file (1 process)", parse_only_gc_paused),
        ("loopwarden (1 process)", lint_in_process),
        ("loopwarden CLI (all cores)", lint_cli),
    )
    timings: dict[str, list[float]] = {name: [] for name, _ in measured}
    for _ in range(args.rounds):
        for name, fn in measured:
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    for name, _ in measured:
        record(name, statistics.median(timings[name]), lines, timings[name])

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:
        version = subprocess.run([ruff, "--version"], capture_output=True, text=True).stdout
        seconds, samples = median_time(
            lambda: subprocess.run(
                [
                    ruff,
                    "check",
                    "--isolated",
                    "--no-cache",
                    "--select",
                    "ASYNC",
                    "--exit-zero",
                    "--quiet",
                    str(CORPUS),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            ),
            args.rounds,
        )
        record(f"ruff --select ASYNC ({version.strip()}, all cores)", seconds, lines, samples)

    if not args.skip_flake8:
        flake8 = ensure_flake8()
        sample: list[Path] = []
        sample_lines = 0
        # A deterministic sample spread over every project: every k-th file.
        step = max(1, int(lines / max(args.flake8_lines, 1)))
        for path in files[::step]:
            sample.append(path)
            sample_lines += path.read_bytes().count(b"\n")
        seconds, samples = median_time(
            lambda: subprocess.run(
                [
                    str(flake8),
                    "--isolated",
                    "--select",
                    "ASYNC",
                    "-j",
                    "1",
                    "--exit-zero",
                    *map(str, sample),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            ),
            args.flake8_rounds,
        )
        record("flake8 + flake8-async (1 process, sample)", seconds, sample_lines, samples)

    ours = results["loopwarden (1 process)"]
    parse = results["ast.parse (1 process)"]
    parse_paused = results["ast.parse, GC paused per file (1 process)"]
    print()
    print(f"corpus: {len(files)} files, {lines:,} lines of test code from {', '.join(PROJECTS)}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'tool':<58} {'median s':>9} {'lines/s':>12}")
    for name, row in results.items():
        print(f"{name:<58} {row['seconds']:>9.3f} {row['lines_per_s']:>12,.0f}")
    print()
    print(
        f"loopwarden (1 process) / ast.parse time: {ours['seconds'] / parse['seconds']:.2f}x "
        f"(target <= 1.5x)"
    )
    print(
        f"loopwarden (1 process) / ast.parse with GC paused: "
        f"{ours['seconds'] / parse_paused['seconds']:.2f}x"
    )
    for name, row in results.items():
        if name.startswith("flake8"):
            ratio = ours["lines_per_s"] / row["lines_per_s"]
            print(f"loopwarden (1 process) / flake8-async lines/s: {ratio:.0f}x (target >= 50x)")
        if name.startswith("ruff"):
            ratio = ours["lines_per_s"] / row["lines_per_s"]
            print(f"loopwarden (1 process) / ruff (all cores) lines/s: {ratio:.2f}x")
    print(f"findings on the corpus: {findings[-1]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
