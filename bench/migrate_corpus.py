"""``python bench/run.py migrate``: ``loopwarden migrate`` on real pytest-asyncio suites.

For each suite of :data:`CORPUS` (a PyPI sdist that ships its tests, pinned; downloaded at run
time into ``bench/.work/migrate/``, git-ignored, never committed):

1. **baseline**: the suite as released, on the pytest and pytest-asyncio it was written for;
2. **own runner**: a fresh copy, ``loopwarden migrate --write``, then pytest 9 with loopwarden
   and without pytest-asyncio (``-p no:asyncio`` as well, for suites whose test plugins pull
   pytest-asyncio in: the report says which);
3. for the suites written for pytest-asyncio 0.21: another copy, ``loopwarden migrate --target
   pytest-asyncio --write``, then pytest 9 with pytest-asyncio 1.5 alone.

Each migrated run is compared with the baseline by node id: the same tests collected, and every
test the baseline passed passes. Where not, the table names the tests and the places the
migration left for a person. No edit by hand happens between the steps. Node ids are compared
after pytest 8's renaming of duplicate parameter ids (``1.234-1.2340`` on pytest 7,
``1.234-1.234_0`` from pytest 8 on), which no migration can keep: loopwarden needs pytest 8.

The own runner's copy runs as loopwarden runs by default (a test that leaks fails), and as
``migrate --write`` then tells a user to take over a suite that leaks today: one run that records
the leaks in a baseline (``--lw-leaks-baseline``), and a second with it, which is compared.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _harness as h
import real_suites as rs

MIGRATE_DIR = h.WORK_DIR / "migrate"
PYTEST_NEW = "pytest==9.2.0"
PYTEST_ASYNCIO_NEW = "pytest-asyncio==1.5.0"
OLD = ("pytest==7.4.4", "pytest-asyncio==0.21.2")
COMMON = ("-q", "-p", "no:cacheprovider")
# A suite without a pytest section of its own would read the configuration of a folder above
# it (in this checkout: loopwarden's own pyproject.toml); it gets an empty one, as in its repo.
EMPTY_INI = "[pytest]\n"


@dataclass(frozen=True)
class Suite:
    """A released test suite, and what it needs to run as its authors ran it.

    Args:
        dist: the distribution name on PyPI; ``version``: pinned.
        style: ``0.21`` (defines or requests the ``event_loop`` fixture), ``markers`` (markers
            and ``@pytest_asyncio.fixture``, 0.17-0.23 era) or ``1.x``.
        old: the pytest and pytest-asyncio pins it runs on.
        requirements: its test requirements, pinned.
        tests: the folders to run; ``args``: what else its run needs (each with a reason).
        extras: the library's extras its tests need.
        own_ini: ``False`` when the sdist has no pytest section (it then gets an empty one).
    """

    dist: str
    version: str
    style: str
    old: tuple[str, str]
    requirements: tuple[str, ...]
    tests: tuple[str, ...] = ("tests",)
    args: tuple[str, ...] = ()
    extras: str = ""
    own_ini: bool = True

    @property
    def key(self) -> str:
        return f"{self.dist.replace('-', '_').lower()}-{self.version}"


P8 = ("pytest==8.3.5", "pytest-asyncio==0.23.8")
NO_ADDOPTS = ("-o", "addopts=")  # (--cov options: pytest-cov is not installed)

CORPUS = (
    Suite(
        "aiosmtplib",
        "1.1.7",
        "0.21",
        OLD,
        ("hypothesis==6.88.1", "aiosmtpd==1.2.4"),
        # Python 3.11's TimeoutError is asyncio's: these three assert the old hierarchy.
        args=(
            "--deselect=tests/test_timeouts.py::test_timeout_error_on_connect",
            "--deselect=tests/test_timeouts.py::test_connect_timeout_error",
            "--deselect=tests/test_timeouts.py::test_server_disconnected_error_after_connect_timeout",
        ),
        own_ini=False,
    ),
    Suite(
        "aiosmtplib",
        "2.0.2",
        "0.21",
        OLD,
        ("hypothesis==6.88.1", "aiosmtpd==1.4.4.post2", "trustme==0.9.0"),
    ),
    Suite(
        "aiojobs",
        "1.1.0",
        "0.21",
        OLD,
        ("aiohttp==3.8.6", "yarl==1.8.2", "pytest-aiohttp==1.0.5"),
        args=NO_ADDOPTS,
    ),
    Suite("aiorwlock", "1.3.0", "0.21", OLD, ()),
    Suite(
        "mode-streaming",
        "0.3.5",
        "0.21",
        OLD,
        ("hypothesis==6.88.1", "freezegun==1.2.2", "pytz==2023.3"),
        tests=("t/unit", "t/functional"),
    ),
    Suite(
        "pyee",
        "9.1.1",
        "0.21",
        ("pytest==7.3.1", "pytest-asyncio==0.21.2"),
        ("pytest-trio==0.8.0", "trio==0.22.0", "twisted==22.10.0"),
        own_ini=False,
    ),
    Suite(
        "structlog",
        "22.3.0",
        "0.21",
        OLD,
        ("freezegun==1.2.2", "pretend==1.0.9", "simplejson==3.19.1"),
    ),
    Suite(
        "fastapi-users",
        "10.4.2",
        "0.21",
        OLD,
        (
            "pytest-mock==3.10.0",
            "fastapi==0.95.2",
            "pydantic==1.10.13",
            "starlette==0.27.0",
            "httpx==0.23.3",
            "asgi-lifespan==2.0.0",
            "httpx-oauth==0.11.2",
            "redis==4.5.5",
            "bcrypt==4.0.1",
        ),
        extras="[oauth,redis]",
    ),
    Suite(
        "fastapi-users-db-sqlalchemy",
        "5.0.0",
        "0.21",
        OLD,
        (
            "fastapi-users==10.4.2",
            "fastapi==0.95.2",
            "pydantic==1.10.13",
            "sqlalchemy==2.0.23",
            "aiosqlite==0.19.0",
            "bcrypt==4.0.1",
        ),
    ),
    Suite("asgiref", "3.7.2", "markers", OLD, ()),
    Suite(
        "httpx-sse",
        "0.3.1",
        "markers",
        OLD,
        ("httpx==0.24.1", "sse-starlette==1.6.5", "starlette==0.27.0"),
        args=NO_ADDOPTS,
    ),
    Suite(
        "asgi-lifespan",
        "2.0.0",
        "markers",
        OLD,
        ("pytest-trio==0.8.0", "trio==0.22.2", "starlette==0.21.0"),
        args=NO_ADDOPTS,
    ),
    Suite("janus", "1.0.0", "markers", P8, (), own_ini=False),
    Suite("async-timeout", "4.0.3", "markers", P8, (), args=NO_ADDOPTS),
    Suite("async-lru", "2.0.5", "markers", P8, ("pytest-timeout==2.3.1",), args=NO_ADDOPTS),
    Suite(
        "aiosignal",
        "1.3.2",
        "1.x",
        ("pytest==8.3.5", "pytest-asyncio==0.24.0"),
        (),
        args=NO_ADDOPTS,
    ),
    Suite(
        "aiohappyeyeballs",
        "2.7.1",
        "1.x",
        (PYTEST_NEW, PYTEST_ASYNCIO_NEW),
        (),
        args=NO_ADDOPTS,
    ),
    Suite("culsans", "0.11.0", "1.x", (PYTEST_NEW, PYTEST_ASYNCIO_NEW), (), own_ini=False),
)


@dataclass
class Step:
    """One pytest run of one copy of a suite."""

    name: str
    outcomes: dict[str, str]
    counts: dict[str, int]
    log: str
    exit_code: int
    person: list[str] = field(default_factory=list)  # what migrate left for a person
    migrate_summary: str = ""
    note: str = ""

    @property
    def passed(self) -> set[str]:
        return {node for node, outcome in self.outcomes.items() if outcome == "passed"}


@dataclass
class Result:
    suite: Suite
    steps: dict[str, Step]

    def verdict(self, name: str) -> tuple[bool, list[str], list[str]]:
        """Whether step ``name`` equals the baseline: (same, ids that differ, lost passes), ids
        compared after pytest 8's renaming of duplicate parameter ids (see renamed_ids)."""
        base, other = self.steps["baseline"], self.steps[name]
        renamed = renamed_ids(base.outcomes, other.outcomes)
        outcomes = {renamed.get(node, node): outcome for node, outcome in other.outcomes.items()}
        passed = {node for node, outcome in outcomes.items() if outcome == "passed"}
        missing = sorted(set(base.outcomes) ^ set(outcomes))
        lost = sorted(base.passed - passed)
        return not missing and not lost, missing, lost

    def renamed(self, name: str) -> int:
        """How many of step ``name``'s ids are pytest 8's names of the baseline's."""
        return len(renamed_ids(self.steps["baseline"].outcomes, self.steps[name].outcomes))


_DUPLICATE = re.compile(r"(?<=\d)_(\d+)\]$")


def renamed_ids(base: Iterable[str], other: Iterable[str]) -> dict[str, str]:
    """The ids of ``other`` (a run on pytest >= 8) that are pytest 8's names for ids of ``base``
    (a run on pytest 7), each mapped to the baseline's.

    pytest tells duplicate parameter ids apart with a counter: pytest 7 appends it
    (``[1.234-1.2340]``), pytest 8 puts ``_`` before it when the id ends in a digit
    (``[1.234-1.234_0]``). An id counts as renamed only when it is not in ``base``, its pytest 7
    form is, and no id of ``other`` has that form already.
    """
    base_ids, other_ids = set(base), set(other)
    renamed = {}
    for node in other_ids - base_ids:
        old = _DUPLICATE.sub(r"\1]", node)
        if old != node and old in base_ids and old not in other_ids:
            renamed[node] = old
    return renamed


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", metavar="NAMES", help="comma-separated distribution names")
    parser.add_argument("--run-timeout", type=float, default=900.0, metavar="SECONDS")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")


def fetch(suite: Suite, python: Path) -> Path:
    sdists = MIGRATE_DIR / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    stems = {suite.dist, suite.dist.replace("-", "_"), suite.dist.lower()}
    for stem in stems:
        found = sdists / f"{stem}-{suite.version}.tar.gz"
        if found.exists():
            return found
    h.log(f"bench: downloading the {suite.dist} {suite.version} sdist")
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "download", "--no-binary",
         ":all:", "--no-deps", "--dest", str(sdists), f"{suite.dist}=={suite.version}"],
        capture_output=True, text=True, env=h.child_env(),
    )  # fmt: skip
    for stem in stems:
        found = sdists / f"{stem}-{suite.version}.tar.gz"
        if found.exists():
            return found
    raise h.BenchError(f"downloading {suite.dist} {suite.version} failed:\n{done.stderr[-2000:]}")


def unpack(sdist: Path, suite: Suite, copy: str) -> Path:
    target = h.fresh_dir(MIGRATE_DIR / "src" / suite.key / copy)
    with tarfile.open(sdist) as archive:
        archive.extractall(target, filter=getattr(tarfile, "data_filter", None))
    (top,) = [p for p in target.iterdir() if p.is_dir()]
    if not suite.own_ini:
        (top / "pytest.ini").write_text(EMPTY_INI, encoding="utf-8")
    # A checkout of its own, as a project is: inside this repository the tree is git-ignored
    # (bench/.work/), and migrate, like lint, leaves git-ignored files alone.
    subprocess.run(["git", "init", "-q", str(top)], check=True, capture_output=True)
    return top


def venv(suite: Suite, sdist: Path, python: Path, kind: str) -> h.ReadyVenv:
    library = f"{suite.dist}{suite.extras} @ {sdist.as_uri()}"
    if kind == "baseline":
        requirements = (*suite.old, *suite.requirements, library)
        editable: tuple[Path, ...] = ()
    elif kind == "own":
        requirements = (PYTEST_NEW, *suite.requirements, library)
        editable = (h.REPO_ROOT,)
    else:
        requirements = (PYTEST_NEW, PYTEST_ASYNCIO_NEW, *suite.requirements, library)
        editable = ()
    spec = h.Venv(name=f"migrate-{kind}-{suite.key}", requirements=requirements, editable=editable)
    return h.ensure_venv(spec, python)


def run_pytest(
    suite: Suite, env: h.ReadyVenv, cwd: Path, name: str, flags: Sequence[str], timeout: float
) -> Step:
    junit = h.LOGS_DIR / f"migrate--{suite.key}--{name}.xml"
    junit.unlink(missing_ok=True)
    cmd = [str(env.python), "-m", "pytest", *COMMON, *flags, f"--junitxml={junit}", *suite.args,
           *suite.tests]  # fmt: skip
    log = h.LOGS_DIR / f"migrate--{suite.key}--{name}.log"
    _, _, _, code, output = h.run_timed(cmd, cwd, log, timeout=timeout)
    outcomes, _ = rs.read_junit(junit)
    return Step(name, outcomes, h.parse_outcome(output), str(log), code)


def migrate(env: h.ReadyVenv, cwd: Path, suite: Suite, target: str) -> tuple[list[str], str]:
    """``loopwarden migrate --write`` in ``cwd``; the places left for a person, and the summary."""
    cmd = [str(env.python), "-m", "loopwarden._cli", "migrate", "--write", "--force",
           "--target", target, *suite.tests]  # fmt: skip
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=h.child_env())
    if done.returncode not in (0, 1):
        raise h.BenchError(f"migrate failed in {cwd}:\n{done.stdout}{done.stderr}")
    lines = done.stdout.splitlines()
    person: list[str] = []
    if "Needs a person" in done.stdout:
        start = next(i for i, line in enumerate(lines) if line.startswith("Needs a person"))
        for line in lines[start + 1 :]:
            if line.startswith(("Notes (", "Nothing is left")) or "need a person" in line:
                break
            if "needs a person" in line and line[:1].isdigit():
                break
            person.append(line)
    return person, done.stdout


def has_pytest_asyncio(env: h.ReadyVenv) -> bool:
    return "pytest-asyncio" in env.packages


def run_suite(suite: Suite, python: Path, timeout: float) -> Result:
    sdist = fetch(suite, python)
    steps: dict[str, Step] = {}
    base_env = venv(suite, sdist, python, "baseline")
    steps["baseline"] = run_pytest(
        suite, base_env, unpack(sdist, suite, "baseline"), "baseline", (), timeout
    )
    own_env = venv(suite, sdist, python, "own")
    own_dir = unpack(sdist, suite, "own")
    person, summary = migrate(own_env, own_dir, suite, "loopwarden")
    step = run_pytest(suite, own_env, own_dir, "own", ("-p", "no:asyncio"), timeout)
    step.person, step.migrate_summary = person, summary
    if has_pytest_asyncio(own_env):
        step.note = "pytest-asyncio pulled in by a test plugin: -p no:asyncio"
    steps["own"] = step
    # The same migrated copy as migrate --write tells a user to take over a suite that leaks
    # today: a first run records the leaks in a baseline, the second (compared) fails only new
    # ones. Known leaks are still cleaned up, so they do not reach the next test (with the
    # findings off, aiosmtplib 2.0.2's leftover connections made a later test time out).
    known = ("-p", "no:asyncio", f"--lw-leaks-baseline={own_dir / '.loopwarden' / 'leaks.json'}")
    run_pytest(suite, own_env, own_dir, "own-record", known, timeout)
    steps["own-known"] = run_pytest(suite, own_env, own_dir, "own-known", known, timeout)
    if suite.style == "0.21":
        pa_env = venv(suite, sdist, python, "pytest-asyncio")
        pa_dir = unpack(sdist, suite, "pytest-asyncio")
        person, summary = migrate(own_env, pa_dir, suite, "pytest-asyncio")
        step = run_pytest(suite, pa_env, pa_dir, "pytest-asyncio", (), timeout)
        step.person, step.migrate_summary = person, summary
        steps["pytest-asyncio"] = step
    return Result(suite, steps)


def _counts(step: Step) -> str:
    order = ("passed", "failed", "error", "errors", "skipped", "xfailed", "xpassed")
    return ", ".join(f"{step.counts[k]} {k}" for k in order if step.counts.get(k)) or "nothing"


def _same(result: Result, name: str) -> str:
    same, missing, lost = result.verdict(name)
    renamed = result.renamed(name)
    text = "yes" if same else f"no: {len(missing)} ids differ, {len(lost)} passes lost"
    return text + (f" ({renamed} ids as pytest 8 names them)" if renamed else "")


def render(results: Sequence[Result]) -> str:
    lines = [
        "| suite | style | baseline | own runner after `migrate` | same? | with the leaks of "
        "today recorded: same? | `--target pytest-asyncio`, on 1.5 | same? | left for a person |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        s = result.suite
        own = result.steps["own"]
        cells = [
            f"{s.dist} {s.version}",
            s.style,
            _counts(result.steps["baseline"]),
            _counts(own) + (f" ({own.note})" if own.note else ""),
            _same(result, "own"),
        ]
        cells.append(_same(result, "own-known") if "own-known" in result.steps else "—")
        if "pytest-asyncio" in result.steps:
            cells += [_counts(result.steps["pytest-asyncio"]), _same(result, "pytest-asyncio")]
        else:
            cells += ["—", "—"]
        people = {line for step in result.steps.values() for line in step.person}
        cells.append(str(len(people)) if people else "0")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@h.register(
    "migrate", help="loopwarden migrate on real pytest-asyncio suites", add_arguments=_arguments
)
def migrate_corpus(args: argparse.Namespace) -> int:
    python = h.find_python(args.python)
    only = {n.strip() for n in args.only.split(",")} if args.only else None
    suites = [s for s in CORPUS if only is None or s.dist in only or s.key in only]
    if only and not suites:
        raise h.BenchError(f"--only {args.only}: no such suite; known: "
                           f"{', '.join(s.dist for s in CORPUS)}")  # fmt: skip
    results = []
    for suite in suites:
        h.log(f"bench: migrate: {suite.dist} {suite.version}")
        try:
            results.append(run_suite(suite, python, args.run_timeout))
        except h.BenchError as error:
            h.log(f"bench: migrate: {suite.dist} {suite.version}: {error}")
    table = render(results)
    print(table)
    for result in results:
        for name in result.steps:
            if name == "baseline":
                continue
            same, missing, lost = result.verdict(name)
            step = result.steps[name]
            if not same or step.person:
                print(f"[{result.suite.key} / {name}]")
                for node in missing[:10]:
                    print(f"  id differs: {node}")
                for node in lost[:10]:
                    print(f"  lost pass: {node} ({step.outcomes.get(node, 'not collected')})")
                for line in step.person:
                    print(f"  person: {line}")
    if args.markdown:
        Path(args.markdown).write_text(table, encoding="utf-8")
    if args.json:
        data = {
            r.suite.key: {
                name: {"outcomes": step.outcomes, "person": step.person, "note": step.note}
                for name, step in r.steps.items()
            }
            for r in results
        }
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    same_all = [r for r in results if r.verdict("own")[0]]
    same_known = [r for r in results if "own-known" in r.steps and r.verdict("own-known")[0]]
    h.log(f"bench: migrate: {len(same_all)} of {len(results)} suites equal their baseline; "
          f"{len(same_known)} with the leaks of today recorded in a baseline")  # fmt: skip
    return 0


# -- speed: a 100k-line tree -------------------------------------------------------------------

SPEED_LINES = 100_000


def _speed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lines", type=int, default=SPEED_LINES, metavar="N", help="tree size (default 100000)"
    )


def build_speed_tree(python: Path, lines: int) -> tuple[Path, int, int]:
    """A test tree of at least ``lines`` lines: the 0.21 suites' test folders, copied as often
    as it takes (each copy a folder of its own, with its conftest.py files). Real code that
    migrate changes, not a generated pattern. Returns the tree, its files and lines."""
    top = h.fresh_dir(MIGRATE_DIR / "speed")
    (top / "pytest.ini").write_text(EMPTY_INI, encoding="utf-8")
    sources: list[tuple[str, bytes]] = []
    for suite in CORPUS:
        if suite.style != "0.21":
            continue
        with tarfile.open(fetch(suite, python)) as archive:
            folders = {Path(t).parts[0] for t in suite.tests} if suite.tests else {"tests"}
            for member in archive.getmembers():
                parts = Path(member.name).parts
                wanted = member.isfile() and member.name.endswith(".py") and len(parts) > 2
                data = archive.extractfile(member) if wanted and parts[1] in folders else None
                if data is not None:
                    sources.append((f"{suite.key}/{'/'.join(parts[1:])}", data.read()))
    if not sources:
        raise h.BenchError("no test files found in the 0.21 suites' sdists")
    total_lines = total_files = 0
    while total_lines < lines:
        name, source = sources[total_files % len(sources)]
        path = top / f"copy{total_files // len(sources):03d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source)
        total_lines += source.count(b"\n")
        total_files += 1
    subprocess.run(["git", "init", "-q", str(top)], check=True, capture_output=True)
    return top, total_files, total_lines


@h.register(
    "migrate-speed",
    help="loopwarden migrate (diff mode) on a 100k-line tree of real 0.21 suites",
    add_arguments=_speed_arguments,
)
def migrate_speed(args: argparse.Namespace) -> int:
    python = h.find_python(args.python)
    top, files, lines = build_speed_tree(python, args.lines)
    h.log(f"bench: migrate-speed: {files} files, {lines} lines in {top}")
    # Any suite's own-runner venv has loopwarden from this checkout (editable) and libcst.
    env = venv(CORPUS[0], fetch(CORPUS[0], python), python, "own")
    migrate_cmd = [str(env.python), "-m", "loopwarden._cli", "migrate", "."]
    parse_cmd = [
        str(env.python), "-c",
        "import ast, pathlib, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "for p in sorted(pathlib.Path('.').rglob('*.py')):\n"
        "    ast.parse(p.read_bytes())\n",
    ]  # fmt: skip
    walls: dict[str, list[float]] = {"migrate": [], "ast.parse": []}
    changed = ""
    for round_ in range(args.rounds):
        for name, cmd in (("migrate", migrate_cmd), ("ast.parse", parse_cmd)):
            log = h.LOGS_DIR / f"migrate-speed--{name}.log"
            wall, _, _, code, output = h.run_timed(cmd, top, log)
            if name == "migrate":
                if code not in (0, 1):
                    raise h.BenchError(f"migrate failed (exit {code}): {output[-2000:]}")
                changed = next(
                    (line for line in output.splitlines() if line.startswith("Would make")), ""
                )
            elif code != 0:
                raise h.BenchError(f"ast.parse failed: {output[-2000:]}")
            walls[name].append(wall)
        last = {name: times[-1] for name, times in walls.items()}
        h.log(f"bench: migrate-speed: round {round_ + 1}: "
              f"migrate {last['migrate']:.2f} s, ast.parse {last['ast.parse']:.2f} s")  # fmt: skip
    m, p = statistics.median(walls["migrate"]), statistics.median(walls["ast.parse"])
    print(f"tree: {files} files, {lines} lines (the 0.21 suites' tests, copied)")
    print(f"migrate (diff mode): {changed}")
    print(f"median of {args.rounds}: migrate {m:.2f} s, ast.parse alone {p:.2f} s "
          f"({m / p:.1f}x); target: under 10 s")  # fmt: skip
    return 0 if m < 10 else 1
