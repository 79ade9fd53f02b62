"""The ``fuzz`` suite (issue 8): what schedule fuzzing costs, and how many schedules it runs.

``python bench/run.py fuzz`` answers the issue's two benchmark questions:

- **Overhead of one fuzzed run vs a plain run** (target <= 1.3x): the runner suite's 2000 trivial
  tests (``await asyncio.sleep(0)``) under loopwarden's own runner, plain and with
  ``--lw-fuzz-seed`` (every test runs once, under a fuzzed schedule). A lone task gives the
  scheduler nothing to permute, so the same is measured on a *gather* suite whose tests run three
  tasks that each await ``sleep(0)`` three times — the shape of the corpus bugs. Both against the
  runner suite's sync floor, for the per-test overhead.
- **Schedules per second**: in pytest, ``--lw-fuzz-runs=50`` on 20 gather tests (1000 items)
  against the same 1000 items made by plain ``parametrize`` without fuzzing, which is what pytest
  itself charges per item; and in-process, without pytest, complete runs per second of every
  scenario of the fuzz corpus (``tests/core/fuzz_corpus.py``), each on a new loopwarden loop
  with a seeded :class:`~loopwarden._core._fuzz.FuzzScheduler`, in virtual time — against the
  same runs in FIFO order.

Nothing is timed until fuzzing is shown to be on: the pytest headers must announce it, a probe
test that records how three tasks interleave must see a non-FIFO order under the replayed seed
(and FIFO order without it), and ``--lw-fuzz-runs`` must report a FIFO-dependent probe as
order-dependent. After timing, the last fuzzed run's summary must count every schedule.

Imported by ``run.py`` (it registers the sub-command); it builds on ``_shared.py``'s venvs, suite
writers and sync floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _harness as h
import _shared as shared

TARGET_FUZZ = 1.30  # issue 8: one fuzzed run <= 1.3x a plain run, on the 2000-test suite
SEED = 12345  # the replayed schedule of the overhead runs
CORPUS = h.REPO_ROOT / "tests" / "core" / "fuzz_corpus.py"

# -- the generated suites ---------------------------------------------------------------------

# Three tasks, three steps each: every iteration has up to three task steps ready, so the
# scheduler has something to permute and to hold back (a lone task never does).
GATHER_HEAD = """\
import asyncio
{extra}

async def _worker(n):
    for _ in range(3):
        await asyncio.sleep(0)
    return n
"""

GATHER_TEST = """\
async def test_{i}({args}):
    assert await asyncio.gather(_worker(0), _worker(1), _worker(2)) == [0, 1, 2]
"""


def write_gather(directory: Path, n: int, files: int, parametrize: int = 0) -> None:
    """``n`` gather-shaped async tests in ``files`` files, own runner defaults (empty ini).

    With ``parametrize`` > 0 each test is collected that many times by plain
    ``pytest.mark.parametrize`` (no fuzzing): the same item count as ``--lw-fuzz-runs``.
    """
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(shared.EMPTY_INI)
    extra = ""
    if parametrize:
        extra = (
            "\nimport pytest\n\n"
            f"pytestmark = pytest.mark.parametrize('run', range({parametrize}))\n"
        )
    head = GATHER_HEAD.format(extra=extra)
    for index, numbers in enumerate(shared.spread(n, files)):
        tests = "\n\n".join(
            GATHER_TEST.format(i=i, args="run" if parametrize else "") for i in numbers
        )
        (directory / f"test_gather_{index:02d}.py").write_text(f"{head}\n\n{tests}")


# The proof that schedules really change: three tasks record how their steps interleave. Under
# FIFO order the interleaving is round-robin; under a fuzzed schedule (that permutes anything
# here) it is not. The replayed seed re-seeds the call phase of every test the same way, so one
# probe under SEED stands for every test of the timed runs.
PROBE = """\
import asyncio

FIFO = [(n, i) for i in range(3) for n in range(3)]


async def test_interleaving_is_fifo():
    order = []

    async def worker(n):
        for i in range(3):
            order.append((n, i))
            await asyncio.sleep(0)

    await asyncio.gather(worker(0), worker(1), worker(2))
    assert order == FIFO, order
"""

# -- the in-process measurement ---------------------------------------------------------------

# Runs in the loopwarden venv, one process per round. Prints one JSON line.
IN_PROCESS_SCRIPT = """\
import asyncio
import importlib.util
import json
import sys
import time

import loopwarden
from loopwarden._core._fuzz import FuzzScheduler

CORPUS, SEEDS, OFFSET = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("fuzz_corpus", CORPUS)
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)


def once(scenario, seed):
    # One complete run: a new loop, the scheduler of `seed` (None: FIFO), virtual time.
    def factory():
        loop = loopwarden.new_loop()
        if seed is not None:
            loop.set_scheduler(FuzzScheduler(seed))
        return loop

    async def main():
        with loopwarden.virtual_time():
            await scenario()

    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    except Exception as exc:  # what a bug does under a bad schedule: the run still completed
        return type(exc).__name__
    return None


batches = [
    (name, version, mode, fn)
    for name, pair in corpus.SCENARIOS.items()
    for version, fn in zip(("bug", "fixed"), pair)
    for mode in ("fuzz", "fifo")
]
for name, version, mode, fn in batches:  # warm-up, untimed
    once(fn, 1 if mode == "fuzz" else None)
batches = batches[OFFSET % len(batches):] + batches[:OFFSET % len(batches)]
results = []
for name, version, mode, fn in batches:
    failures = {}
    failed_seeds = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for seed in range(1, SEEDS + 1):
        failure = once(fn, seed if mode == "fuzz" else None)
        if failure is not None:
            failures[failure] = failures.get(failure, 0) + 1
            failed_seeds.append(seed)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    results.append({
        "scenario": name, "version": version, "mode": mode, "runs": SEEDS,
        "wall": wall, "cpu": cpu, "failures": failures, "failed_seeds": failed_seeds[:5],
    })
print(json.dumps(results))
"""


def run_in_process(venv: h.ReadyVenv, seeds: int, rounds: int) -> list[list[dict[str, Any]]]:
    """Every corpus scenario, bug and fixed, fuzzed and FIFO, ``seeds`` runs each, per round.

    One process per round, the batches rotated by the round number (as :func:`measure_rounds`
    rotates configurations). A fixed version that fails, or a bug that fails in FIFO order,
    stops the benchmark: the corpus is then not what its numbers claim to measure.
    """
    if not CORPUS.exists():
        raise h.BenchError(f"the fuzz corpus is not at {CORPUS}")
    directory = h.fresh_dir(h.SUITES_DIR / "fuzz" / "in-process")
    script = directory / "bench_fuzz_in_process.py"
    script.write_text(IN_PROCESS_SCRIPT)
    out: list[list[dict[str, Any]]] = []
    for rnd in range(rounds):
        cmd = [str(venv.python), str(script), str(CORPUS), str(seeds), str(rnd * 5)]
        log_path = h.LOGS_DIR / "fuzz--in-process.log"
        *_, code, output = h.run_timed(cmd, directory, log_path)
        if code != 0:
            tail = "\n".join(output.strip().splitlines()[-30:])
            raise h.BrokenRun(
                f"in-process fuzz benchmark: exit code {code}\ncommand: {' '.join(cmd)}\n"
                f"full output: {log_path}\n--- last lines ---\n{tail}"
            )
        batches = json.loads(output.strip().splitlines()[-1])
        for b in batches:
            wrong = b["failures"] and (b["version"] == "fixed" or b["mode"] == "fifo")
            if wrong:
                raise h.BrokenRun(
                    f"in-process fuzz benchmark: {b['scenario']!r} ({b['version']}, {b['mode']}) "
                    f"failed {b['failures']} (first seeds {b['failed_seeds']}); a fixed version "
                    "must pass every schedule and a bug must pass in FIFO order."
                )
        out.append(batches)
        h.log(f"bench: in-process round {rnd + 1}/{rounds} done")
    return out


# -- proofs that fuzzing is on ----------------------------------------------------------------


def check_fuzzing_on(venv: h.ReadyVenv, runs: int) -> None:
    """Run the probe without fuzzing, with ``--lw-fuzz-seed=SEED`` and with ``--lw-fuzz-runs``.

    Plain: the interleaving is FIFO (``1 passed``). Replayed seed: it is not (``1 failed``), so
    the overhead runs really run under a schedule that reorders the gather tests' steps. Fuzz
    runs: run 0 passes, some later run fails, and the summary calls the probe order-dependent.
    """
    directory = h.fresh_dir(h.SUITES_DIR / "fuzz" / "probe")
    (directory / "pytest.ini").write_text(shared.EMPTY_INI)
    (directory / "test_probe.py").write_text(PROBE)
    checks: list[tuple[str, tuple[str, ...], str]] = [
        ("plain", (), "FIFO interleaving without fuzzing: 1 passed"),
        ("seed", (f"--lw-fuzz-seed={SEED}",), f"a non-FIFO interleaving under seed {SEED}"),
        ("runs", (f"--lw-fuzz-runs={runs}",), "fuzz0 passes, a later schedule fails"),
    ]
    for name, flags, want in checks:
        cmd = [
            str(venv.python),
            "-m",
            "pytest",
            *venv.plugin_flags,
            *shared.PYTEST_ARGS,
            *flags,
            ".",
        ]
        log_path = h.LOGS_DIR / f"fuzz-probe--{name}.log"
        *_, code, output = h.run_timed(cmd, directory, log_path)
        outcome = h.parse_outcome(output)
        if name == "plain":
            ok = code == 0 and outcome == {"passed": 1}
        elif name == "seed":
            ok = code == 1 and outcome == {"failed": 1}
        else:
            ok = (
                code == 1
                and outcome.get("failed", 0) >= 1
                and outcome.get("failed", 0) + outcome.get("passed", 0) == runs
                and set(outcome) <= {"failed", "passed"}
                and "test_interleaving_is_fifo[fuzz0]" not in output  # -q names failures only
                and f"1 test fuzzed, {runs} schedules run; 1 order-dependent" in output
            )
        if not ok:
            tail = "\n".join(output.strip().splitlines()[-30:])
            raise h.BrokenRun(
                f"fuzzing is not on as the benchmark claims ({name}: expected {want}; got exit "
                f"code {code}, {outcome or 'no summary'}); no numbers are reported.\n"
                f"command: (cd {directory} && {' '.join(cmd)})\nfull output: {log_path}\n"
                f"--- last lines ---\n{tail}"
            )
        h.log(f"bench: fuzz probe ({name}): {want}, checked")


# -- the suite --------------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tests",
        type=int,
        default=None,
        metavar="N",
        help="tests in the trivial and gather suites (default: 2000; 200 with --quick)",
    )
    parser.add_argument(
        "--rate-tests",
        type=int,
        default=None,
        metavar="N",
        help="gather tests fuzzed with --lw-fuzz-runs (default: 20; 4 with --quick)",
    )
    parser.add_argument(
        "--fuzz-runs",
        type=int,
        default=50,
        metavar="N",
        help="--lw-fuzz-runs of the schedules-per-second run (default: 50)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="in-process runs per corpus scenario, version and mode, per round (default: 200; "
        "20 with --quick)",
    )
    parser.add_argument(
        "--no-in-process", action="store_true", help="skip the in-process corpus measurement"
    )
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the in-process corpus measurement"
    )


@h.register(
    "fuzz",
    help="schedule fuzzing: one fuzzed run vs a plain run (2000 trivial and 2000 gather tests), "
    "schedules per second in pytest (--lw-fuzz-runs vs plain parametrize) and in-process "
    "(the fuzz corpus)",
    add_arguments=_arguments,
)
def fuzz(args: argparse.Namespace) -> int:
    n = args.tests if args.tests is not None else (200 if args.quick else 2000)
    n_rate = args.rate_tests if args.rate_tests is not None else (4 if args.quick else 20)
    seeds = args.seeds if args.seeds is not None else (20 if args.quick else 200)
    runs = args.fuzz_runs
    if n < 1 or n_rate < 1 or runs < 2 or seeds < 1:
        raise h.BenchError("--tests, --rate-tests and --seeds must be >= 1, --fuzz-runs >= 2")
    base_python = h.find_python(args.python)
    venv = h.ensure_venv(shared.VENVS["loopwarden"], base_python)
    h.log_venv(venv)
    venvs = {"loopwarden": venv}
    versions = {
        "python": h.short_python(base_python),
        "pytest": shared.PYTEST,
        "loopwarden": f"{venv.packages.get('loopwarden', '?')} ({h.git_revision()})",
    }
    print("loopwarden bench: fuzz — " + " · ".join(f"{k} {v}" for k, v in versions.items()))
    report = h.Report(
        suite="fuzz",
        meta={
            "versions": versions,
            "rounds": args.rounds,
            "tests": n,
            "rate_tests": n_rate,
            "fuzz_runs": runs,
            "seed": SEED,
            "in_process_seeds": seeds,
            "machine": h.machine_info(),
        },
    )

    if not args.in_process_only:
        configs, samples = _time_pytest(venv, venvs, n, n_rate, runs, args.rounds)
        summaries = {key: h.Summary.of(s) for key, s in samples.items()}
        print(_render_pytest(configs, samples, summaries, n, n_rate, runs, args.rounds))
        report.configs = {
            c.key: {
                "label": c.label,
                "command": h.pytest_command(venv, c),
                "suite_dir": str(c.suite_dir),
                "expected": c.expected,
                "samples": [asdict(s) | {"cpu": s.cpu} for s in samples[c.key]],
            }
            for c in configs
        }
        report.summaries = {k: asdict(s) for k, s in summaries.items()}
        report.ratios = [
            {
                "label": label,
                "numerator": num,
                "denominator": den,
                "cpu": summaries[num].cpu / summaries[den].cpu,
                "wall": summaries[num].wall / summaries[den].wall,
                "cpu_paired_median": h.paired_median(samples[num], samples[den], "cpu"),
                "wall_paired_median": h.paired_median(samples[num], samples[den], "wall"),
                "target": target,
            }
            for label, num, den, target in _RATIOS
        ]
    if not args.no_in_process:
        h.log(f"bench: in-process corpus, {seeds} runs per batch x {args.rounds} rounds")
        in_process = run_in_process(venv, seeds, args.rounds)
        print(_render_in_process(in_process, seeds, args.rounds))
        report.meta["in_process"] = in_process
    if args.json:
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0


# (label, numerator, denominator, target)
_RATIOS: tuple[tuple[str, str, str, float | None], ...] = (
    ("trivial: fuzzed run / plain run", "trivial/fuzz", "trivial/plain", TARGET_FUZZ),
    ("gather: fuzzed run / plain run", "gather/fuzz", "gather/plain", TARGET_FUZZ),
    ("fuzz runs / plain parametrize (same items)", "rate/fuzz-runs", "rate/param", None),
)


def _time_pytest(
    venv: h.ReadyVenv,
    venvs: Mapping[str, h.ReadyVenv],
    n: int,
    n_rate: int,
    runs: int,
    rounds: int,
) -> tuple[list[h.Config], dict[str, list[h.Sample]]]:
    """Generate the suites, prove fuzzing is on, time every configuration in rotated rounds."""
    suites = h.fresh_dir(h.SUITES_DIR / "fuzz" / "pytest")
    shared.write_trivial(suites / "floor", n, "sync", shared.EMPTY_INI)
    shared.write_trivial(suites / "trivial", n, "async", shared.EMPTY_INI)
    write_gather(suites / "gather", n, 20)
    write_gather(suites / "rate-fuzz", n_rate, 4)
    write_gather(suites / "rate-param", n_rate, 4, parametrize=runs)

    own = ": own runner"
    foreign = ("asyncio-", "anyio-")
    fuzz_headers = ("fuzzing every async test", "replaying fuzz schedule")
    seed_flag = f"--lw-fuzz-seed={SEED}"
    runs_flag = f"--lw-fuzz-runs={runs}"

    def config(
        key: str,
        label: str,
        suite: str,
        expected: int,
        flags: tuple[str, ...] = (),
        has: tuple[str, ...] = (own,),
        lacks: tuple[str, ...] = (*foreign, *fuzz_headers),
    ) -> h.Config:
        return h.Config(
            key=key,
            label=label,
            group=key.split("/")[0],
            venv="loopwarden",
            suite_dir=suites / suite,
            args=(*shared.PYTEST_ARGS, *flags, "."),
            expected=expected,
            header_has=has,
            header_lacks=lacks,
        )

    configs = [
        config(
            "floor/sync",
            "sync floor (pytest only, `pass`)",
            "floor",
            n,
            shared.floor_flags(venv),
            has=(),
            lacks=("plugins:",),
        ),
        config("trivial/plain", "trivial: own runner, plain", "trivial", n),
        config(
            "trivial/fuzz",
            f"trivial: own runner, {seed_flag}",
            "trivial",
            n,
            (seed_flag,),
            has=(own, f"replaying fuzz schedule {SEED}"),
            lacks=foreign,
        ),
        config("gather/plain", "gather: own runner, plain", "gather", n),
        config(
            "gather/fuzz",
            f"gather: own runner, {seed_flag}",
            "gather",
            n,
            (seed_flag,),
            has=(own, f"replaying fuzz schedule {SEED}"),
            lacks=foreign,
        ),
        config(
            "rate/fuzz-runs",
            f"{n_rate} gather tests, {runs_flag}",
            "rate-fuzz",
            n_rate * runs,
            (runs_flag,),
            has=(own, f"fuzzing every async test over {runs} schedules"),
            lacks=foreign,
        ),
        config(
            "rate/param",
            f"{n_rate} gather tests x parametrize({runs}), no fuzzing",
            "rate-param",
            n_rate * runs,
        ),
    ]
    for c in configs:
        h.check_header(venv, c)
    check_fuzzing_on(venv, runs)
    h.log(f"bench: {len(configs)} configurations x {rounds} rounds (+ warm-up)")
    samples = h.measure_rounds(configs, venvs, rounds)
    # The timed fuzz-runs processes ran every schedule: the last one's summary says so.
    last = (h.LOGS_DIR / "rate--fuzz-runs.log").read_text(errors="replace")
    want = f"{n_rate} tests fuzzed, {n_rate * runs} schedules run; 0 order-dependent"
    if want not in last:
        raise h.BrokenRun(f"the last --lw-fuzz-runs run did not report {want!r}; see its log")
    return configs, samples


def _render_pytest(
    configs: Sequence[h.Config],
    samples: Mapping[str, list[h.Sample]],
    summaries: Mapping[str, h.Summary],
    n: int,
    n_rate: int,
    runs: int,
    rounds: int,
) -> str:
    floor = summaries["floor/sync"]
    rows = []
    for c in configs:
        if c.group == "rate":
            continue
        s = summaries[c.key]
        is_floor = c.group == "floor"
        rows.append(
            [
                c.label,
                f"{s.wall:.2f}",
                f"{s.wall_spread:.0%}",
                f"{s.cpu:.2f}",
                f"{s.cpu_spread:.0%}",
                f"{s.cpu / n * 1000:.3f}",
                "—" if is_floor else f"{(s.cpu - floor.cpu) / n * 1000:+.3f}",
            ]
        )
    ratio_rows = []
    for label, num, den, target in _RATIOS:
        a, b = summaries[num], summaries[den]
        cpu, wall = a.cpu / b.cpu, a.wall / b.wall
        over = (a.cpu - floor.cpu) / (b.cpu - floor.cpu) if b.cpu > floor.cpu else None
        per_item = (a.cpu - b.cpu) / samples_expected(configs, num) * 1000
        ratio_rows.append(
            [
                label,
                h.times(wall),
                h.times(cpu),
                h.times(h.paired_median(samples[num], samples[den], "wall")),
                h.times(h.paired_median(samples[num], samples[den], "cpu")),
                "—" if over is None or num.startswith("rate") else h.times(over),
                f"{per_item:+.3f}",
                "—" if target is None else f"<= {target:.2f}{h.TIMES}",
                "—" if target is None else ("met" if cpu <= target else "NOT MET"),
                "—" if target is None else ("met" if wall <= target else "NOT MET"),
            ]
        )
    rate_rows = []
    items = n_rate * runs
    for key in ("rate/fuzz-runs", "rate/param"):
        s = summaries[key]
        label = next(c.label for c in configs if c.key == key)
        rate_rows.append(
            [
                label,
                str(items),
                f"{s.wall:.2f}",
                f"{s.wall_spread:.0%}",
                f"{s.cpu:.2f}",
                f"{s.cpu_spread:.0%}",
                f"{items / s.wall:.0f}",
                f"{items / s.cpu:.0f}",
                f"{s.cpu / items * 1000:.3f}",
            ]
        )
    return "\n".join(
        [
            f"medians of {rounds} rounds (configurations alternated within each round); CPU = "
            "user+sys of the pytest process; spread = (max-min)/median",
            "",
            f"[overhead] {n} tests, own runner: trivial = `await asyncio.sleep(0)`; gather = "
            "three tasks x three sleep(0); floor = the same number of sync `pass` tests",
            h.format_table(
                [
                    "configuration",
                    "wall s",
                    "spread",
                    "CPU s",
                    "spread",
                    "CPU ms/test",
                    "over floor CPU ms/test",
                ],
                rows,
            ),
            "",
            f"[schedules per second] {n_rate} gather tests x {runs}: --lw-fuzz-runs (run 0 FIFO, "
            f"{runs - 1} fuzzed) vs plain parametrize without fuzzing",
            h.format_table(
                [
                    "configuration",
                    "items",
                    "wall s",
                    "spread",
                    "CPU s",
                    "spread",
                    "schedules/wall s",
                    "schedules/CPU s",
                    "CPU ms/item",
                ],
                rate_rows,
            ),
            "",
            "ratios: medians over medians, and paired (median over rounds of the ratio within "
            "each round); over floor = (a - floor) / (b - floor), CPU; extra = (a - b) CPU per "
            "test or item",
            h.format_table(
                [
                    "ratio",
                    "wall",
                    "CPU",
                    "paired wall",
                    "paired CPU",
                    "over floor",
                    "extra CPU ms",
                    "target",
                    "met: CPU",
                    "met: wall",
                ],
                ratio_rows,
            ),
        ]
    )


def samples_expected(configs: Sequence[h.Config], key: str) -> int:
    """The test (item) count of configuration ``key``."""
    return next(c.expected for c in configs if c.key == key)


def _render_in_process(rounds_data: list[list[dict[str, Any]]], seeds: int, rounds: int) -> str:
    """Per scenario: median over rounds of runs per second, fuzzed and FIFO; bugs found."""
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for batches in rounds_data:
        for b in batches:
            by.setdefault((b["scenario"], b["version"], b["mode"]), []).append(b)
    scenarios = list(dict.fromkeys(key[0] for key in by))

    def rate(entries: list[dict[str, Any]], metric: str = "wall") -> float:
        return float(statistics.median(e["runs"] / e[metric] for e in entries))

    rows = []
    for name in scenarios:
        fixed_fuzz, fixed_fifo = by[(name, "fixed", "fuzz")], by[(name, "fixed", "fifo")]
        bug_fuzz = by[(name, "bug", "fuzz")]
        found = bug_fuzz[0]["failures"]  # the same seeds every round: the same outcome
        per_run = statistics.median(e["wall"] / e["runs"] for e in fixed_fuzz) / statistics.median(
            e["wall"] / e["runs"] for e in fixed_fifo
        )
        rows.append(
            [
                name,
                f"{rate(fixed_fuzz):.0f}",
                f"{rate(fixed_fuzz, 'cpu'):.0f}",
                f"{rate(fixed_fifo):.0f}",
                h.times(per_run),
                f"{rate(bug_fuzz):.0f}",
                f"{rate(bug_fuzz, 'cpu'):.0f}",
                f"{sum(found.values())}/{seeds} "
                + ", ".join(f"{k} {v}" for k, v in sorted(found.items())),
            ]
        )

    def overall(version: str | None, mode: str, metric: str = "wall") -> float:
        per_round = []
        for batches in rounds_data:
            chosen = [
                b
                for b in batches
                if b["mode"] == mode and (version is None or b["version"] == version)
            ]
            per_round.append(sum(b["runs"] for b in chosen) / sum(b[metric] for b in chosen))
        return float(statistics.median(per_round))

    fixed_rounds = [
        sum(b["runs"] for b in rd if b["mode"] == "fuzz" and b["version"] == "fixed")
        / sum(b["wall"] for b in rd if b["mode"] == "fuzz" and b["version"] == "fixed")
        for rd in rounds_data
    ]
    spread = (max(fixed_rounds) - min(fixed_rounds)) / statistics.median(fixed_rounds)
    rows.append(
        [
            "all 12 scenarios",
            f"{overall('fixed', 'fuzz'):.0f}",
            f"{overall('fixed', 'fuzz', 'cpu'):.0f}",
            f"{overall('fixed', 'fifo'):.0f}",
            h.times(overall("fixed", "fifo") / overall("fixed", "fuzz")),
            f"{overall('bug', 'fuzz'):.0f}",
            f"{overall('bug', 'fuzz', 'cpu'):.0f}",
            "",
        ]
    )
    return "\n".join(
        [
            "",
            f"[in-process] complete runs per second of each fuzz-corpus scenario (no pytest): "
            f"a new loopwarden loop, FuzzScheduler(seed) for seeds 1..{seeds}, virtual time; "
            f"medians of {rounds} rounds (one process each, batches rotated); spread of the "
            f"overall fixed/fuzzed rate over rounds: {spread:.0%}",
            h.format_table(
                [
                    "scenario",
                    "fixed, fuzzed: runs/wall s",
                    "runs/CPU s",
                    "fixed, FIFO: runs/wall s",
                    "fuzzed / FIFO time per run",
                    "bug, fuzzed: runs/wall s",
                    "runs/CPU s",
                    "bug found in",
                ],
                rows,
            ),
            f"overall fuzzed (bug and fixed together): {overall(None, 'fuzz'):.0f} runs/wall s, "
            f"{overall(None, 'fuzz', 'cpu'):.0f} runs/CPU s",
        ]
    )
