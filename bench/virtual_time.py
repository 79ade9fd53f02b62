"""The ``virtual-time`` and ``settle`` suites (issue 4): what virtual time and settle cost, and
where a clock that jumps gets the answer wrong.

``python bench/run.py virtual-time`` times a generated suite of timeout-heavy async tests (each
sleeps, times out and waits for ``call_later`` for one simulated minute) under loopwarden's own
runner with ``--lw-virtual-time`` and under looptime (on pytest-asyncio), each against its own
*floor*: the same tests with every sleep and timeout deleted. A tool whose virtual time is cheap
runs an hour-long suite about as fast as that floor. Then a small *correctness* table runs one
tiny test per scenario under both tools — a thread, an executor job, a server outside the loop,
a subprocess, a sleeping fixture, a hang — where a clock that jumps while real work is under way
times the test out early, or one that never notices the loop is idle hangs.

``python bench/run.py settle`` measures one wait: how long each way of "letting the loop finish
what it started" takes on a 50-stage ``asyncio.Queue`` pipeline, and whether it waited long
enough (``loopwarden.settle()``, ``asyncio.sleep(0.01)``, ``asyncio.sleep(0)``, anyio's
``wait_all_tasks_blocked()``).

Imported by ``run.py`` (it registers both sub-commands); it builds on ``_shared.py``'s pinned venvs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import _harness as h
import _shared as shared

# -- pinned anchors ---------------------------------------------------------------------------

LOOPTIME = "0.9"

VENVS = {
    # looptime is a pytest-asyncio plugin: it patches pytest-asyncio's loops.
    "looptime": h.Venv(
        "looptime",
        (
            f"pytest=={shared.PYTEST}",
            f"pytest-asyncio=={shared.PYTEST_ASYNCIO}",
            f"looptime=={LOOPTIME}",
        ),
        disable_plugins=(("anyio", "anyio"),),
    ),
}

TARGET_VIRTUAL_TIME = 1.20  # issue 4: virtual time <= 1.2x its floor (wall and CPU)
TARGET_SETTLE_MS = 1.0  # issue 4: settle() <= 1 ms on the 50-stage pipeline

# Simulated seconds each timed test spends waiting (checked by the test itself, so a run in which
# the clock did not jump, or jumped too far, fails instead of being timed).
SIMULATED_PER_TEST = 60

# -- the generated suites ---------------------------------------------------------------------

# One simulated minute: a sleep, a wait_for that times out, an asyncio.timeout that expires, a
# call_later. Each asserts what it must (the timeouts really expire, the callback really fires),
# and the test asserts that one minute passed on the loop's clock (give or take float rounding:
# loop.time() is a float in the thousands of seconds, so four additions can lose ~1e-13 s).
TIMED_TEST = """\
async def test_{i}():
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(10)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), 15)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(20):
            await asyncio.sleep(3600)
    fired = loop.create_future()
    loop.call_later(15, fired.set_result, {i})
    assert await fired == {i}
    elapsed = loop.time() - start
    assert {seconds} - 1e-6 <= elapsed < {seconds} + 1, elapsed
"""

# The same test with the sleeps and timeouts deleted: what is left is what does not depend on
# time (the loop, the future resolved by a callback, the assertions).
FLOOR_TEST = """\
async def test_{i}():
    loop = asyncio.get_running_loop()
    start = loop.time()
    fired = loop.create_future()
    loop.call_soon(fired.set_result, {i})
    assert await fired == {i}
    elapsed = loop.time() - start
    assert elapsed < {seconds}, elapsed
"""


def write_timed(directory: Path, n: int, flavor: str, ini: str) -> None:
    """``n`` async tests in 10 files; ``flavor``: ``timed`` (one simulated minute) or ``floor``."""
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    body = TIMED_TEST if flavor == "timed" else FLOOR_TEST
    for index, numbers in enumerate(shared.spread(n, 10)):
        tests = "\n\n".join(body.format(i=i, seconds=SIMULATED_PER_TEST) for i in numbers)
        head = "import asyncio\n\nimport pytest\n" if flavor == "timed" else "import asyncio\n"
        (directory / f"test_timed_{index:02d}.py").write_text(f"{head}\n\n{tests}")


# -- the correctness scenarios ----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One tiny test file, and what a correct tool does with it.

    Args:
        key: short name (``a`` … ``g``), as in the README.
        title: what the test does.
        source: the test module (the same for both tools; pytest-asyncio runs it in auto mode).
        expect: ``pass``, or ``fail`` — the test is a hang and a correct tool reports it fast.
        message: for ``fail``, a string loopwarden's report must contain (its hang message);
            looptime's failure counts as right whatever it says, as long as it comes fast.
        lw_flags: extra loopwarden flags (an opt-in the scenario needs; the title says so).
    """

    key: str
    title: str
    source: str
    expect: str = "pass"
    message: str = ""
    lw_flags: tuple[str, ...] = ()


_THREAD = """\
import asyncio
import threading
import time


async def test_thread_calls_back():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def work():
        time.sleep(0.2)
        loop.call_soon_threadsafe(fut.set_result, "done")

    thread = threading.Thread(target=work)
    thread.start()
    assert await asyncio.wait_for(fut, 5) == "done"
    thread.join()
"""

_EXECUTOR = """\
import asyncio
import time


async def test_executor_job():
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, time.sleep, 0.2), 5)
"""

# The server runs in a thread started when the module is imported (collection), before any test:
# a peer outside the loop and outside the test, like a database or a service in a container.
_SERVER = """\
import asyncio
import socket
import threading
import time

DELAY = {delay}


def _serve(listener):
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.recv(100)
            time.sleep(DELAY)
            conn.sendall(b"pong\\n")


_listener = socket.create_server(("127.0.0.1", 0))
PORT = _listener.getsockname()[1]
threading.Thread(target=_serve, args=(_listener,), daemon=True).start()


async def test_server_outside_the_loop():
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(b"ping\\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.readline(), 5) == b"pong\\n"
    writer.close()
    await writer.wait_closed()
"""

_FIXTURE = """\
import asyncio

import pytest


@pytest.fixture
async def slow_resource():
    await asyncio.sleep(3600)
    yield "ready"
    await asyncio.sleep(3600)


async def test_uses_a_slow_fixture(slow_resource):
    assert slow_resource == "ready"
"""

_HANG = """\
import asyncio


async def test_waits_for_nothing():
    await asyncio.get_running_loop().create_future()
"""

_SUBPROCESS = """\
import asyncio
import sys


async def test_subprocess():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(0.3)"
    )
    assert await asyncio.wait_for(proc.wait(), 5) == 0
"""

# A deadline on time.monotonic(), polled with asyncio.sleep(): code that mixes the two clocks.
_MONOTONIC = """\
import asyncio
import time


async def wait_until_expired(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(1)


async def test_monotonic_deadline():
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(wait_until_expired(60), 120)
    assert loop.time() - start >= 60
"""

IDLE_MESSAGE = "the loop went idle in virtual time"

SCENARIOS = (
    Scenario(
        "a",
        "raw thread: sleeps 0.2 s real, then call_soon_threadsafe; wait_for(fut, 5)",
        _THREAD,
    ),
    Scenario("b", "run_in_executor(None, time.sleep, 0.2) inside wait_for(..., 5)", _EXECUTOR),
    Scenario(
        "c",
        "loopback server in a thread (outside the loop) answers after 0.3 s; wait_for(..., 5)",
        _SERVER.format(delay=0.3),
    ),
    Scenario(
        "d",
        "async fixture sleeps 3600 s in setup and in teardown",
        _FIXTURE,
    ),
    Scenario(
        "e",
        "awaits a future nothing resolves (a hang: must fail fast)",
        _HANG,
        expect="fail",
        message=IDLE_MESSAGE,
    ),
    Scenario(
        "f",
        "asyncio subprocess that runs 0.3 s real; wait_for(proc.wait(), 5)",
        _SUBPROCESS,
    ),
    Scenario(
        "g",
        "as (c), but the server answers after 1.5 s real (beyond loopwarden's 1 s in-flight "
        "allowance)",
        _SERVER.format(delay=1.5),
    ),
    Scenario(
        "h",
        "deadline on time.monotonic() polled with asyncio.sleep(1); loopwarden with its opt-in "
        "--lw-virtual-monotonic",
        _MONOTONIC,
        lw_flags=("--lw-virtual-monotonic",),
    ),
    Scenario(
        "h0",
        "as (h), loopwarden without the opt-in",
        _MONOTONIC,
    ),
)


@dataclass
class Outcome:
    """What one scenario did under one tool."""

    tool: str
    scenario: str
    result: str  # passed, failed, error, hang
    why: str  # for a failure: loopwarden's idle-hang report, or a TimeoutError
    right: bool
    wall: float
    summary: dict[str, int]
    log: str


def run_with_timeout(
    cmd: list[str], cwd: Path, log_path: Path, timeout: float
) -> tuple[int | None, str, float]:
    """Run ``cmd`` in its own process group; kill that group after ``timeout`` real seconds.

    Returns the exit code (None when it was killed: a hang), the output and the wall time.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w+b") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=h.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this very child leads
            proc.wait()
            code = None
        wall = time.perf_counter() - start
        out.seek(0)
        output = out.read().decode(errors="replace")
    return code, output, wall


def run_scenarios(
    tools: Mapping[str, tuple[h.ReadyVenv, tuple[str, ...], str]],
    hang_timeout: float,
) -> list[Outcome]:
    """Run every scenario under every tool, one process at a time; return what happened."""
    outcomes = []
    for scenario in SCENARIOS:
        for tool, (venv, flags, ini) in tools.items():
            directory = h.fresh_dir(
                h.SUITES_DIR / "virtual-time" / f"scenario-{scenario.key}-{tool}"
            )
            (directory / "pytest.ini").write_text(ini)
            (directory / f"test_scenario_{scenario.key}.py").write_text(scenario.source)
            if tool == "loopwarden":
                flags = (*flags, *scenario.lw_flags)
            cmd = [
                str(venv.python),
                "-m",
                "pytest",
                *venv.plugin_flags,
                *shared.PYTEST_ARGS,
                *flags,
            ]
            log_path = h.LOGS_DIR / f"virtual-time-scenario-{scenario.key}--{tool}.log"
            code, output, wall = run_with_timeout([*cmd, "."], directory, log_path, hang_timeout)
            summary = h.parse_outcome(output)
            if code is None:
                result = "hang"
            elif summary == {"passed": 1}:
                result = "passed"
            elif summary.get("failed"):
                result = "failed"
            else:
                result = "error" if summary.get("errors") else f"exit {code}"
            why = ""
            if result != "passed" and code is not None:
                if scenario.message and scenario.message in output:
                    why = "idle hang reported"
                elif "TimeoutError" in output:
                    why = "TimeoutError"
            if scenario.expect == "pass":
                right = result == "passed"
            else:  # a hang, reported fast: loopwarden must also say why
                right = result in ("failed", "error") and (
                    tool != "loopwarden" or scenario.message in output
                )
            outcomes.append(
                Outcome(tool, scenario.key, result, why, right, wall, summary, str(log_path))
            )
            h.log(f"bench: scenario ({scenario.key}) under {tool}: {result} in {wall:.1f}s")
    return outcomes


# -- the virtual-time suite -------------------------------------------------------------------


def _vt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tests",
        type=int,
        default=None,
        metavar="N",
        help="timed tests per suite (default: 200; 20 with --quick)",
    )
    parser.add_argument(
        "--hang-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="real seconds after which a correctness scenario counts as a hang (default: 20)",
    )
    parser.add_argument("--no-correctness", action="store_true", help="skip the correctness table")
    parser.add_argument(
        "--correctness-only", action="store_true", help="only the correctness table, no timing"
    )


def _ready(names: tuple[str, ...], python: str) -> dict[str, h.ReadyVenv]:
    base_python = h.find_python(python)
    specs = {**shared.VENVS, **VENVS}
    venvs = {name: h.ensure_venv(specs[name], base_python) for name in names}
    for venv in venvs.values():
        h.log_venv(venv)
    return venvs


@h.register(
    "virtual-time",
    help="timeout-heavy suite (a simulated minute per test) under loopwarden's virtual time and "
    "looptime, each against the same suite without sleeps; plus a correctness table",
    add_arguments=_vt_arguments,
)
def virtual_time(args: argparse.Namespace) -> int:
    n = args.tests if args.tests is not None else (20 if args.quick else 200)
    if n < 1:
        raise h.BenchError("--tests must be at least 1")
    venvs = _ready(("loopwarden", "pytest-asyncio", "looptime"), args.python)
    lw_flags: tuple[str, ...] = ("--lw-virtual-time",)
    lt_flags: tuple[str, ...] = ("--looptime",)
    versions = {
        "python": h.short_python(venvs["loopwarden"].python),
        "pytest": shared.PYTEST,
        "pytest-asyncio": shared.PYTEST_ASYNCIO,
        "looptime": LOOPTIME,
        "loopwarden": f"{venvs['loopwarden'].packages.get('loopwarden', '?')} ({h.git_revision()})",
    }
    report = h.Report(
        suite="virtual-time",
        meta={"versions": versions, "rounds": args.rounds, "tests": n, "machine": h.machine_info()},
    )

    out: list[str] = [
        "loopwarden bench: virtual-time — " + " · ".join(f"{k} {v}" for k, v in versions.items())
    ]
    if not args.correctness_only:
        configs, samples, summaries = _time_suites(args, n, venvs, lw_flags, lt_flags)
        out.append(_render_timing(configs, samples, summaries, n, args.rounds))
        report.configs = h.configs_json(configs, venvs, samples)
        report.summaries = {k: asdict(s) for k, s in summaries.items()}
        report.ratios = [
            {
                "label": label,
                "numerator": num,
                "denominator": den,
                "cpu": summaries[num].cpu / summaries[den].cpu,
                "cpu_paired_median": h.paired_median(samples[num], samples[den], "cpu"),
                "wall": summaries[num].wall / summaries[den].wall,
                "wall_paired_median": h.paired_median(samples[num], samples[den], "wall"),
                "target": target,
            }
            for label, num, den, target in _RATIOS
        ]
    if not args.no_correctness:
        tools = {
            "loopwarden": (venvs["loopwarden"], lw_flags, shared.EMPTY_INI),
            "looptime": (venvs["looptime"], lt_flags, shared.PYTEST_ASYNCIO_INI),
        }
        outcomes = run_scenarios(tools, args.hang_timeout)
        out.append(_render_correctness(outcomes, args.hang_timeout))
        report.meta["correctness"] = [asdict(o) for o in outcomes]
    print("\n".join(out))
    if args.json:
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0


# (label, numerator, denominator, target): each tool against its own floor, then side by side.
_RATIOS = (
    ("loopwarden virtual time / its floor", "lw/virtual", "lw/floor", TARGET_VIRTUAL_TIME),
    ("loopwarden virtual time / floor with the flag", "lw/virtual", "lw/floor-flag", None),
    ("looptime / its floor (pytest-asyncio)", "lt/looptime", "lt/floor", None),
    ("looptime / floor with --looptime", "lt/looptime", "lt/floor-flag", None),
    ("loopwarden virtual time / looptime", "lw/virtual", "lt/looptime", None),
    ("loopwarden floor / pytest-asyncio floor", "lw/floor", "lt/floor", None),
)


def _time_suites(
    args: argparse.Namespace,
    n: int,
    venvs: dict[str, h.ReadyVenv],
    lw_flags: tuple[str, ...],
    lt_flags: tuple[str, ...],
) -> tuple[list[h.Config], dict[str, list[h.Sample]], dict[str, h.Summary]]:
    suites = h.fresh_dir(h.SUITES_DIR / "virtual-time")
    write_timed(suites / "lw-timed", n, "timed", shared.EMPTY_INI)
    write_timed(suites / "lw-floor", n, "floor", shared.EMPTY_INI)
    write_timed(suites / "lt-timed", n, "timed", shared.PYTEST_ASYNCIO_INI)
    write_timed(suites / "lt-floor", n, "floor", shared.PYTEST_ASYNCIO_INI)
    own = (": own runner",)
    foreign = ("asyncio-", "anyio-", "looptime-")
    looptime_has = (f"asyncio-{shared.PYTEST_ASYNCIO}", f"looptime-{LOOPTIME}")

    def config(
        key: str,
        label: str,
        venv: str,
        suite: str,
        flags: tuple[str, ...],
        has: tuple[str, ...],
        lacks: tuple[str, ...],
    ) -> h.Config:
        return h.Config(
            key=key,
            label=label,
            group=key.split("/")[0],
            venv=venv,
            suite_dir=suites / suite,
            args=(*shared.PYTEST_ARGS, *flags, "."),
            expected=n,
            header_has=has,
            header_lacks=lacks,
        )

    configs = [
        config(
            "lw/virtual",
            "loopwarden own runner, --lw-virtual-time",
            "loopwarden",
            "lw-timed",
            lw_flags,
            (*own, "virtual time on for every test"),
            foreign,
        ),
        config(
            "lw/floor",
            "floor: loopwarden own runner, no sleeps",
            "loopwarden",
            "lw-floor",
            (),
            own,
            (*foreign, "virtual time on"),
        ),
        config(
            "lw/floor-flag",
            "floor: loopwarden, no sleeps, --lw-virtual-time",
            "loopwarden",
            "lw-floor",
            lw_flags,
            (*own, "virtual time on for every test"),
            foreign,
        ),
        config(
            "lt/looptime",
            f"looptime {LOOPTIME} --looptime (pytest-asyncio {shared.PYTEST_ASYNCIO})",
            "looptime",
            "lt-timed",
            lt_flags,
            looptime_has,
            ("loopwarden", "anyio-"),
        ),
        config(
            "lt/floor",
            f"floor: pytest-asyncio {shared.PYTEST_ASYNCIO} alone, no sleeps",
            "pytest-asyncio",
            "lt-floor",
            (),
            (f"asyncio-{shared.PYTEST_ASYNCIO}",),
            ("loopwarden", "anyio-", "looptime-"),
        ),
        config(
            "lt/floor-flag",
            "floor: looptime --looptime, no sleeps",
            "looptime",
            "lt-floor",
            lt_flags,
            looptime_has,
            ("loopwarden", "anyio-"),
        ),
    ]
    # Virtual time must really be on before anything is timed: in real time a timed run takes
    # n minutes, so one that does not finish quickly is stopped and reported, not waited for.
    limit = 60.0 + n * 0.5
    for c in configs:
        if c.suite_dir.name.endswith("-timed"):
            h.check_header(venvs[c.venv], c)
            cmd = h.pytest_command(venvs[c.venv], c)
            log_path = h.LOGS_DIR / (c.key.replace("/", "--") + ".probe.log")
            code, output, wall = run_with_timeout(cmd, c.suite_dir, log_path, limit)
            if code is None:
                raise h.BrokenRun(
                    f"{c.label}: {n} tests of one simulated minute each did not finish in "
                    f"{limit:.0f} real seconds: virtual time is not on, so no numbers are "
                    f"reported.\ncommand: (cd {c.suite_dir} && {' '.join(cmd)})\n"
                    f"--- last lines ---\n{output[-2000:]}"
                )
            h.log(f"bench: {c.label}: virtual time checked ({wall:.1f}s for {n} minutes)")
    h.log(f"bench: {len(configs)} configurations x {args.rounds} rounds (+ warm-up)")
    samples = h.measure_rounds(configs, venvs, args.rounds)
    summaries = {key: h.Summary.of(runs) for key, runs in samples.items()}
    return configs, samples, summaries


def _render_timing(
    configs: list[h.Config],
    samples: dict[str, list[h.Sample]],
    summaries: dict[str, h.Summary],
    n: int,
    rounds: int,
) -> str:
    rows = []
    for c in configs:
        s = summaries[c.key]
        floor = summaries[f"{c.group}/floor"]
        is_floor = c.key == f"{c.group}/floor"
        rows.append(
            [
                c.label,
                f"{s.wall:.2f}",
                f"{s.wall_spread:.0%}",
                f"{s.cpu:.2f}",
                f"{s.cpu_spread:.0%}",
                "—" if is_floor else f"{(s.wall - floor.wall) / n * 1000:+.2f}",
                "—" if is_floor else f"{(s.cpu - floor.cpu) / n * 1000:+.2f}",
            ]
        )
    ratio_rows = []
    for label, num, den, target in _RATIOS:
        wall = summaries[num].wall / summaries[den].wall
        cpu = summaries[num].cpu / summaries[den].cpu
        paired_wall = h.paired_median(samples[num], samples[den], "wall")
        paired_cpu = h.paired_median(samples[num], samples[den], "cpu")
        verdict = "—"
        if target is not None:
            verdict = "met" if wall <= target and cpu <= target else "NOT MET"
        ratio_rows.append(
            [
                label,
                h.times(wall),
                h.times(cpu),
                h.times(paired_wall),
                h.times(paired_cpu),
                "—" if target is None else f"<= {target:.2f}{h.TIMES}",
                verdict,
            ]
        )
    simulated = n * SIMULATED_PER_TEST / 3600
    return "\n".join(
        [
            f"medians of {rounds} rounds (configurations alternated within each round); CPU = "
            "user+sys of the pytest process; spread = (max-min)/median; over floor: against "
            "the tool's own floor, per test",
            "",
            f"[virtual-time] {n} tests, each one simulated minute of sleeps and timeouts "
            f"({simulated:.1f} h in all); floors: the same tests without them",
            h.format_table(
                [
                    "configuration",
                    "wall s",
                    "spread",
                    "CPU s",
                    "spread",
                    "over floor wall ms/test",
                    "over floor CPU ms/test",
                ],
                rows,
            ),
            "",
            "ratios: medians over medians, and paired (median over rounds of the ratio within "
            "each round); the target is judged on medians over medians",
            h.format_table(
                [
                    "ratio",
                    "wall",
                    "CPU",
                    "paired wall",
                    "paired CPU",
                    "target (wall and CPU)",
                    "met",
                ],
                ratio_rows,
            ),
        ]
    )


def _render_correctness(outcomes: list[Outcome], hang_timeout: float) -> str:
    by = {(o.scenario, o.tool): o for o in outcomes}
    rows = []
    for s in SCENARIOS:
        cells = [f"({s.key}) {s.title}", "pass" if s.expect == "pass" else "fail fast"]
        for tool in ("loopwarden", "looptime"):
            o = by[(s.key, tool)]
            what = f"{o.result} ({o.why})" if o.why else o.result
            cells.append(f"{what} {o.wall:.1f}s: {'right' if o.right else 'WRONG'}")
        rows.append(cells)
    return "\n".join(
        [
            "",
            f"[correctness] one tiny test per scenario; hang = killed after {hang_timeout:g} s "
            "real (the pytest process: interpreter start and collection included)",
            h.format_table(["scenario", "correct", "loopwarden", "looptime"], rows, left=2),
        ]
    )


# -- the settle micro-benchmark ---------------------------------------------------------------

# Runs in a tool's venv: one process per method and round. Prints one JSON line.
SETTLE_SCRIPT = """\
import asyncio
import json
import sys
import time

METHOD, REPS, STAGES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


async def stage(inbox, outbox):
    while True:
        item = await inbox.get()
        await outbox.put(item + 1)


def waiter():
    if METHOD.startswith("settle"):
        import loopwarden

        return loopwarden.settle
    if METHOD == "sleep-0.01":
        return lambda: asyncio.sleep(0.01)
    if METHOD == "sleep-0":
        return lambda: asyncio.sleep(0)
    if METHOD == "direct":
        return None
    if METHOD == "anyio":
        from anyio import wait_all_tasks_blocked  # (there is no anyio.testing module)

        return wait_all_tasks_blocked
    raise SystemExit(f"unknown method {METHOD}")


async def main():
    wait = waiter()
    queues = [asyncio.Queue() for _ in range(STAGES + 1)]
    tasks = [asyncio.create_task(stage(queues[i], queues[i + 1])) for i in range(STAGES)]
    # Untimed: one item through, so every stage has started and is parked on its queue.
    queues[0].put_nowait(0)
    assert await queues[-1].get() == STAGES
    samples, correct = [], 0
    for rep in range(REPS):
        value = rep * 1000
        queues[0].put_nowait(value)
        start = time.perf_counter()
        if wait is None:  # the reference: a test that knows exactly what to wait for
            got = await queues[-1].get()
            samples.append((time.perf_counter() - start) * 1000)
            correct += got == value + STAGES
            continue
        await wait()
        samples.append((time.perf_counter() - start) * 1000)
        if queues[-1].qsize() == 1 and queues[-1].get_nowait() == value + STAGES:
            correct += 1
        else:
            # The wait returned too early: let the item arrive (untimed) before the next one.
            assert await queues[-1].get() == value + STAGES
            assert queues[-1].empty()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return samples, correct


if METHOD == "settle-loopwarden":
    import loopwarden

    with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
        samples, correct = runner.run(main())
elif METHOD == "anyio":
    import anyio

    samples, correct = anyio.run(main, backend="asyncio")
else:
    samples, correct = asyncio.run(main())
print(json.dumps({"samples_ms": samples, "correct": correct, "reps": REPS}))
"""


@dataclass(frozen=True)
class Method:
    """One way of waiting; ``slow`` methods run fewer repetitions (each takes >= 10 ms)."""

    key: str
    label: str
    venv: str
    slow: bool = False
    target: bool = False


METHODS = (
    Method(
        "settle-loopwarden",
        "await loopwarden.settle(), loopwarden loop",
        "loopwarden",
        target=True,
    ),
    Method(
        "settle-stock",
        "await loopwarden.settle(), stock asyncio loop",
        "loopwarden",
        target=True,
    ),
    Method("direct", "reference: await last_queue.get() (knows what to wait for)", "loopwarden"),
    Method("sleep-0.01", "await asyncio.sleep(0.01)", "loopwarden", slow=True),
    Method("sleep-0", "await asyncio.sleep(0)", "loopwarden"),
    Method(
        "anyio",
        f"anyio {shared.ANYIO}: anyio.wait_all_tasks_blocked(), asyncio backend",
        "anyio",
        slow=True,
    ),
)


def _settle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        metavar="N",
        help="waits per process and round for the fast methods (default: 1000; 100 with "
        "--quick); the slow ones (sleep(0.01), anyio) do a tenth",
    )
    parser.add_argument(
        "--stages", type=int, default=50, metavar="N", help="pipeline stages (default: 50)"
    )


@h.register(
    "settle",
    help="one wait for a 50-stage asyncio.Queue pipeline: loopwarden.settle() vs sleep(0.01), "
    "sleep(0) and anyio's wait_all_tasks_blocked(), time per wait and whether it was enough",
    add_arguments=_settle_arguments,
)
def settle(args: argparse.Namespace) -> int:
    reps = args.reps if args.reps is not None else (100 if args.quick else 1000)
    if reps < 10 or args.stages < 1:
        raise h.BenchError("--reps must be at least 10 and --stages at least 1")
    venvs = _ready(("loopwarden", "anyio"), args.python)
    directory = h.fresh_dir(h.SUITES_DIR / "settle")
    script = directory / "bench_settle.py"
    script.write_text(SETTLE_SCRIPT)

    samples: dict[str, list[float]] = {m.key: [] for m in METHODS}
    round_medians: dict[str, list[float]] = {m.key: [] for m in METHODS}
    correct: dict[str, int] = {m.key: 0 for m in METHODS}
    total: dict[str, int] = {m.key: 0 for m in METHODS}
    for rnd in range(args.rounds):
        order = [METHODS[(rnd + i) % len(METHODS)] for i in range(len(METHODS))]
        for method in order:
            n = max(10, reps // 10) if method.slow else reps
            cmd = [
                str(venvs[method.venv].python),
                str(script),
                method.key,
                str(n),
                str(args.stages),
            ]
            log_path = h.LOGS_DIR / f"settle--{method.key}.log"
            code, output, _ = run_with_timeout(cmd, directory, log_path, 600)
            if code != 0:
                tail = "\n".join(output.strip().splitlines()[-30:])
                raise h.BrokenRun(
                    f"settle benchmark, {method.label}: exit code {code}\n"
                    f"command: {' '.join(cmd)}\nfull output: {log_path}\n--- last lines ---\n"
                    f"{tail}"
                )
            result = json.loads(output.strip().splitlines()[-1])
            samples[method.key] += result["samples_ms"]
            round_medians[method.key].append(statistics.median(result["samples_ms"]))
            correct[method.key] += result["correct"]
            total[method.key] += result["reps"]
        h.log(f"bench: settle round {rnd + 1}/{args.rounds} done")

    rows = []
    for m in METHODS:
        values = samples[m.key]
        med = statistics.median(values)
        rm = round_medians[m.key]
        verdict = "—"
        if m.target:
            verdict = "met" if med <= TARGET_SETTLE_MS else "NOT MET"
        rows.append(
            [
                m.label,
                f"{med:.3f}",
                f"{h.percentile(values, 0.9):.3f}",
                f"{min(rm):.3f} to {max(rm):.3f}",
                f"{correct[m.key]}/{total[m.key]}",
                verdict,
            ]
        )
    print(
        "\n".join(
            [
                f"loopwarden bench: settle — python "
                f"{h.short_python(venvs['loopwarden'].python)} · anyio {shared.ANYIO} · loopwarden "
                f"{venvs['loopwarden'].packages.get('loopwarden', '?')} ({h.git_revision()})",
                f"one wait for a {args.stages}-stage asyncio.Queue pipeline to carry one item "
                f"through; {args.rounds} rounds (one process per method and round, methods "
                "alternated); medians and p90 over all waits",
                h.format_table(
                    [
                        "wait",
                        "median ms",
                        "p90 ms",
                        "round medians ms",
                        "item arrived",
                        f"target <= {TARGET_SETTLE_MS:g} ms",
                    ],
                    rows,
                ),
            ]
        )
    )
    if args.json:
        report = h.Report(
            suite="settle",
            meta={
                "rounds": args.rounds,
                "reps": reps,
                "stages": args.stages,
                "anyio": shared.ANYIO,
                "machine": h.machine_info(),
            },
            summaries={
                m.key: {
                    "label": m.label,
                    "median_ms": statistics.median(samples[m.key]),
                    "p90_ms": h.percentile(samples[m.key], 0.9),
                    "round_medians_ms": round_medians[m.key],
                    "correct": correct[m.key],
                    "waits": total[m.key],
                }
                for m in METHODS
            },
            configs={m.key: {"samples_ms": samples[m.key]} for m in METHODS},
        )
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0
