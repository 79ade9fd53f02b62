"""The ``db`` suite (issue 7): what isolating each test's database work costs.

``python bench/run.py db`` measures, on a real PostgreSQL server (loopwarden's own throwaway
server, :mod:`loopwarden._db._postgres`, started from the machine's binaries), the ways a test
suite can give every test a clean database, each around the same work — one ORM insert, a
``commit()``, one select — against a small schema of four tables:

- **savepoint** — loopwarden's ``db_connection`` + ``db_session`` cycle: a pooled connection of
  the loop's engine, ``BEGIN``, a session joined with ``join_transaction_mode="create_savepoint"``
  (the commit releases a SAVEPOINT), ``ROLLBACK`` at teardown;
- **engine per test** — the field report's workaround: ``create_async_engine``, first connect,
  the same transaction and rollback, ``dispose()``;
- **template per test** — what template-based tools do: ``CREATE DATABASE … TEMPLATE tmpl``, a
  new engine on it, the test (committed for real), ``dispose()``, ``DROP DATABASE``;
- **no isolation** — the same work on one open session, committed for real (rows pile up): the
  floor, so ``mechanism - no isolation`` is the isolation's own cost;
- **savepoint on SQLite** — loopwarden's default database (aiosqlite file), for reference.

**In-process** (the mechanism): one script per round in the ``db`` venv starts a server, builds
the databases, and times every test of every mechanism with ``perf_counter`` on one loopwarden
loop (``loopwarden.new_loop()``), mechanisms rotated between rounds; medians and p90 per test.
**Whole pytest runs** (what a user feels): N tests using each mechanism as a fixture, under
loopwarden's own runner, against a server the harness keeps up for the whole benchmark, timed
like every other suite (``_harness.measure_rounds``); per-test cost over a floor of the same
tests without a database.

Imported by ``run.py`` (it registers the sub-command); it uses ``_shared.py``'s pins and flags.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _harness as h
import _shared as shared

TARGET_MS = 2.0  # issue 7: loopwarden's per-test isolation <= 2 ms on real PostgreSQL

# The database drivers, pinned like the anchors (the versions the dev venvs test with).
SQLALCHEMY = "2.1.9"
GREENLET = "3.5.6"
ASYNCPG = "0.32.0"
AIOSQLITE = "0.22.1"

DB_VENV = h.Venv(
    "db",
    (
        f"pytest=={shared.PYTEST}",
        f"sqlalchemy=={SQLALCHEMY}",
        f"greenlet=={GREENLET}",
        f"asyncpg=={ASYNCPG}",
        f"aiosqlite=={AIOSQLITE}",
    ),
    editable=(h.REPO_ROOT,),
    disable_plugins=shared.FOREIGN_PLUGINS,
)

MECHANISMS = ("savepoint", "engine", "template", "none", "sqlite")
LABELS = {
    "savepoint": "loopwarden savepoint rollback (PostgreSQL)",
    "engine": "engine per test (create + connect + dispose)",
    "template": "CREATE DATABASE ... TEMPLATE per test (+ drop)",
    "none": "no isolation (same work, committed; the floor)",
    "sqlite": "loopwarden savepoint rollback (SQLite, reference)",
}

# -- what every measurement shares: the schema and the test's work ----------------------------

SCHEMA_PY = '''\
"""The benchmark's schema (four tables, foreign keys, a unique index) and one test's work."""

import datetime

from sqlalchemy import ForeignKey, Numeric, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), unique=True)


class Product(Base):
    __tablename__ = "product"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    price: Mapped[float] = mapped_column(Numeric(10, 2))


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    created: Mapped[datetime.datetime] = mapped_column(default=datetime.datetime(2026, 1, 1))


class OrderLine(Base):
    __tablename__ = "order_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    quantity: Mapped[int]


async def one_test(session, n):
    """One test's work: an insert, a commit (a SAVEPOINT release under loopwarden), a select."""
    email = f"c{n}@example.com"
    session.add(Customer(name=f"customer {n}", email=email))
    await session.commit()
    found = await session.scalar(select(Customer.id).where(Customer.email == email))
    assert found is not None
'''

# Starts a throwaway server, creates the measured databases (schema built where a mechanism needs
# it already built), prints their URLs as one JSON line, and keeps the server until stdin closes.
SERVER_PY = """\
import asyncio
import json
import sys

from sqlalchemy.ext.asyncio import create_async_engine

from bench_schema import Base
from loopwarden._db import _postgres


async def prepare(server):
    admin = create_async_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        for name in ("bench_lw", "bench_engine", "bench_tmpl", "bench_none"):
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await admin.dispose()
    for name in ("bench_engine", "bench_tmpl", "bench_none"):
        engine = create_async_engine(server.url(name))
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()


server = _postgres.start_server()
try:
    asyncio.run(prepare(server))
    print(json.dumps({"base": server.url("{db}")}), flush=True)
    sys.stdin.read()  # until the harness closes the pipe
finally:
    server.stop()
"""

# One round in-process: argv = tests per mechanism as JSON, warm-up count, round number, tmpdir.
IN_PROCESS_PY = """\
import asyncio
import json
import sys
import time

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

import loopwarden
from bench_schema import one_test
from loopwarden._db import _isolation

COUNTS, WARMUP = json.loads(sys.argv[1]), int(sys.argv[2])
ROUND, TMP = int(sys.argv[3]), sys.argv[4]
BASE = sys.stdin.readline().strip()  # the server's URL with {db} for the database


def url(db):
    return BASE.replace("{db}", db)


async def isolated(conn, n):
    # db_connection + db_session, as loopwarden's fixtures do them.
    transaction = await conn.begin()
    try:
        async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as s:
            await one_test(s, n)
    finally:
        if transaction.is_active:
            await transaction.rollback()
        await conn.close()


async def savepoint(db, n):
    engine = await db.engine()
    await isolated(await engine.connect(), n)


async def engine_per_test(n):
    engine = create_async_engine(url("bench_engine"))
    try:
        await isolated(await engine.connect(), n)
    finally:
        await engine.dispose()


async def template_per_test(admin, n):
    name = f"bench_t{ROUND}_{n}"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "bench_tmpl"')
    engine = create_async_engine(url(name))
    try:
        async with AsyncSession(engine) as s:
            await one_test(s, n)
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE "{name}"')


async def main():
    pg = _isolation.Database(_isolation.async_url(url("bench_lw")))
    from bench_schema import Base
    await _isolation.create_schema(pg.url, {}, Base.metadata)
    lite = _isolation.Database(_isolation.async_url(f"sqlite:///{TMP}/bench-{ROUND}.db"))
    await _isolation.create_schema(lite.url, {}, Base.metadata)
    admin = create_async_engine(url("postgres"), isolation_level="AUTOCOMMIT")
    none_engine = create_async_engine(url("bench_none"))
    none_session = AsyncSession(none_engine)
    runs = {
        "savepoint": lambda n: savepoint(pg, n),
        "engine": engine_per_test,
        "template": lambda n: template_per_test(admin, n),
        "none": lambda n: one_test(none_session, n),
        "sqlite": lambda n: savepoint(lite, n),
    }
    names = list(COUNTS)
    names = names[ROUND % len(names):] + names[:ROUND % len(names)]
    out = {}
    n = ROUND * 1_000_000
    for name in names:
        for _ in range(WARMUP):
            n += 1
            await runs[name](n)
        times = []
        for _ in range(COUNTS[name]):
            n += 1
            start = time.perf_counter()
            await runs[name](n)
            times.append(time.perf_counter() - start)
        out[name] = times
    await none_session.close()
    await none_engine.dispose()
    await admin.dispose()  # the two Databases' engines are disposed by the loop's shutdown
    print(json.dumps({"order": names, "times": out}))


with asyncio.Runner(loop_factory=loopwarden.new_loop) as runner:
    runner.run(main())
"""

# -- the pytest suites ------------------------------------------------------------------------

TEST_BODY = {
    "floor": "async def test_{i}():\n    await asyncio.sleep(0)\n",
    "savepoint": "async def test_{i}(db_session):\n    await one_test(db_session, {i})\n",
    "fixture": "async def test_{i}(session):\n    await one_test(session, {i})\n",
}

LW_CONFTEST = """\
import pytest

from bench_schema import Base


@pytest.fixture(scope="session")
def loopwarden_db_schema():
    return Base.metadata
"""

ENGINE_CONFTEST = """\
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

URL = {url!r}


@pytest.fixture
async def session():
    engine = create_async_engine(URL)
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint") as s:
                yield s
            await transaction.rollback()
    finally:
        await engine.dispose()
"""

TEMPLATE_CONFTEST = """\
import itertools

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

BASE = {base!r}
_numbers = itertools.count()


@pytest.fixture(scope="session")
async def admin():
    engine = create_async_engine(BASE.replace("{{db}}", "postgres"), isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(admin):
    name = f"bench_p{{next(_numbers)}}"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{{name}}" TEMPLATE "bench_tmpl"')
    engine = create_async_engine(BASE.replace("{{db}}", name))
    try:
        async with AsyncSession(engine) as s:
            yield s
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE "{{name}}"')
"""


def write_suite(directory: Path, n: int, body: str, ini: str, conftest: str) -> None:
    h.fresh_dir(directory)
    (directory / "pytest.ini").write_text(ini)
    (directory / "bench_schema.py").write_text(SCHEMA_PY)
    (directory / "conftest.py").write_text(conftest)
    head = "import asyncio\n\nfrom bench_schema import one_test\n\n\n"
    for index, numbers in enumerate(shared.spread(n, max(1, n // 50))):
        tests = "\n\n".join(TEST_BODY[body].format(i=i) for i in numbers)
        (directory / f"test_db_{index:02d}.py").write_text(head + tests)


# -- the server the pytest runs share ---------------------------------------------------------


class BenchServer:
    """A throwaway PostgreSQL server in a child process of the ``db`` venv, until :meth:`stop`."""

    def __init__(self, venv: h.ReadyVenv, directory: Path) -> None:
        (directory / "bench_pg_server.py").write_text(SERVER_PY)
        (directory / "bench_schema.py").write_text(SCHEMA_PY)
        self.proc = subprocess.Popen(
            [str(venv.python), "bench_pg_server.py"],
            cwd=directory,
            env=h.child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise h.BenchError(
                "the benchmark's PostgreSQL server did not start (is PostgreSQL installed? "
                "apt-get install postgresql); run bench_pg_server.py in "
                f"{directory} with {venv.python} to see why."
            )
        self.base: str = json.loads(line)["base"]

    def url(self, db: str) -> str:
        return self.base.replace("{db}", db)

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(60)


# -- measuring --------------------------------------------------------------------------------


def run_in_process(
    venv: h.ReadyVenv, server: BenchServer, counts: Mapping[str, int], rounds: int, warmup: int
) -> list[dict[str, Any]]:
    directory = h.fresh_dir(h.SUITES_DIR / "db" / "in-process")
    (directory / "bench_schema.py").write_text(SCHEMA_PY)
    (directory / "bench_db_in_process.py").write_text(IN_PROCESS_PY)
    out: list[dict[str, Any]] = []
    for rnd in range(rounds):
        cmd = [
            str(venv.python),
            "bench_db_in_process.py",
            json.dumps(dict(counts)),
            str(warmup),
            str(rnd),
            str(directory),
        ]
        log_path = h.LOGS_DIR / "db--in-process.log"
        proc = subprocess.run(
            cmd,
            cwd=directory,
            env=h.child_env(),
            input=server.base + "\n",
            capture_output=True,
            text=True,
        )
        log_path.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise h.BrokenRun(
                f"in-process db benchmark: exit code {proc.returncode}\n"
                f"command: (cd {directory} && {' '.join(cmd)})\n--- last lines ---\n{tail}"
            )
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        h.log(f"bench: in-process round {rnd + 1}/{rounds} done")
    return out


def _pytest_configs(server: BenchServer, n: int, n_template: int) -> list[h.Config]:
    suites = h.fresh_dir(h.SUITES_DIR / "db" / "pytest")
    ini = shared.EMPTY_INI
    lw_pg_ini = f"[pytest]\nloopwarden_db_url = {server.url('bench_lw')}\n"
    write_suite(suites / "floor", n, "floor", ini, LW_CONFTEST)
    write_suite(suites / "savepoint", n, "savepoint", lw_pg_ini, LW_CONFTEST)
    write_suite(suites / "sqlite", n, "savepoint", ini, LW_CONFTEST)
    engine_conftest = ENGINE_CONFTEST.format(url=server.url("bench_engine"))
    write_suite(suites / "engine", n, "fixture", ini, engine_conftest)
    write_suite(suites / "template-floor", n_template, "floor", ini, LW_CONFTEST)
    write_suite(
        suites / "template", n_template, "fixture", ini, TEMPLATE_CONFTEST.format(base=server.base)
    )
    own, foreign = ": own runner", ("asyncio-", "anyio-")

    def config(key: str, label: str, suite: str, expected: int) -> h.Config:
        return h.Config(
            key=key,
            label=label,
            group=key.split("/")[0],
            venv="db",
            suite_dir=suites / suite,
            args=(*shared.PYTEST_ARGS, "."),
            expected=expected,
            header_has=(own,),
            header_lacks=foreign,
        )

    return [
        config("n/floor", f"{n} async tests, no database (floor)", "floor", n),
        config("n/savepoint", f"{n} tests, loopwarden db_session, PostgreSQL", "savepoint", n),
        config("n/engine", f"{n} tests, engine per test, PostgreSQL", "engine", n),
        config("n/sqlite", f"{n} tests, loopwarden db_session, SQLite", "sqlite", n),
        config(
            "t/floor",
            f"{n_template} async tests, no database (floor)",
            "template-floor",
            n_template,
        ),
        config(
            "t/template",
            f"{n_template} tests, CREATE DATABASE TEMPLATE per test",
            "template",
            n_template,
        ),
    ]


# -- the suite --------------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tests",
        type=int,
        default=None,
        metavar="N",
        help="in-process tests per mechanism and round (default: 300 savepoint/sqlite/none, "
        "100 engine, 30 template; a tenth with --quick), and pytest tests (default: 200)",
    )
    parser.add_argument("--no-pytest", action="store_true", help="in-process only")
    parser.add_argument("--no-in-process", action="store_true", help="whole pytest runs only")


@h.register(
    "db",
    help="database isolation per test on real PostgreSQL: loopwarden's SAVEPOINT rollback vs "
    "an engine per test vs CREATE DATABASE ... TEMPLATE per test (and SQLite), in-process "
    "and in whole pytest runs",
    add_arguments=_arguments,
)
def db(args: argparse.Namespace) -> int:
    scale = 0.1 if args.quick else 1.0
    base_n = args.tests if args.tests is not None else 300
    counts = {
        "savepoint": max(3, int(base_n * scale)),
        "engine": max(3, int(base_n / 3 * scale)),
        "template": max(3, int(base_n / 10 * scale)),
        "none": max(3, int(base_n * scale)),
        "sqlite": max(3, int(base_n * scale)),
    }
    n_pytest = 40 if args.quick else 200
    n_template = max(10, n_pytest // 4)
    base_python = h.find_python(args.python)
    venv = h.ensure_venv(DB_VENV, base_python)
    h.log(f"bench: venv {venv.path.name} {'reused' if venv.reused else 'built'}")
    versions = {
        "python": h.short_python(base_python),
        "pytest": shared.PYTEST,
        "sqlalchemy": SQLALCHEMY,
        "asyncpg": ASYNCPG,
        "aiosqlite": AIOSQLITE,
        "loopwarden": f"{venv.packages.get('loopwarden', '?')} ({h.git_revision()})",
    }
    print("loopwarden bench: db — " + " · ".join(f"{k} {v}" for k, v in versions.items()))
    report = h.Report(
        suite="db",
        meta={"versions": versions, "rounds": args.rounds, "machine": h.machine_info()},
    )
    server = BenchServer(venv, h.fresh_dir(h.SUITES_DIR / "db" / "server"))
    try:
        if not args.no_in_process:
            h.log(f"bench: in-process, {counts} tests x {args.rounds} rounds")
            rounds_data = run_in_process(venv, server, counts, args.rounds, warmup=5)
            print(_render_in_process(rounds_data, args.rounds))
            report.meta["in_process"] = rounds_data
        if not args.no_pytest:
            configs = _pytest_configs(server, n_pytest, n_template)
            samples = h.measure_rounds(configs, {"db": venv}, args.rounds)
            summaries = {k: h.Summary.of(s) for k, s in samples.items()}
            print(_render_pytest(configs, summaries, args.rounds))
            report.summaries = {k: asdict(s) for k, s in summaries.items()}
            report.configs = {
                c.key: {
                    "label": c.label,
                    "expected": c.expected,
                    "samples": [asdict(s) | {"cpu": s.cpu} for s in samples[c.key]],
                }
                for c in configs
            }
    finally:
        server.stop()
    if args.json:
        h.write_json(args.json, report)
        h.log(f"bench: raw numbers written to {args.json}")
    return 0


def _render_in_process(rounds_data: list[dict[str, Any]], rounds: int) -> str:
    pooled: dict[str, list[float]] = {m: [] for m in MECHANISMS}
    per_round: dict[str, list[float]] = {m: [] for m in MECHANISMS}
    for data in rounds_data:
        for name, times in data["times"].items():
            pooled[name] += [t * 1000 for t in times]
            per_round[name].append(statistics.median(times) * 1000)
    med = {m: statistics.median(v) for m, v in pooled.items() if v}
    rows = []
    for m in MECHANISMS:
        if m not in med:
            continue
        # (max - min) / median of the round medians, as the table's caption says.
        middle = statistics.median(per_round[m])
        spread = (max(per_round[m]) - min(per_round[m])) / middle if middle else 0.0
        over = med[m] - med["none"] if m != "sqlite" else None
        rows.append(
            [
                LABELS[m],
                str(len(pooled[m])),
                f"{med[m]:.2f}",
                f"{h.percentile(pooled[m], 0.9):.2f}",
                f"{spread * 100:.0f} %",
                "—" if over is None else f"{over:+.2f}",
                f"{med[m] / med['savepoint']:.1f}{h.TIMES}",
            ]
        )
    cost = med["savepoint"] - med["none"]
    verdict = "met" if cost <= TARGET_MS else "NOT met"
    return "\n".join(
        [
            "",
            f"in-process, ms per test (one insert + commit + select), {rounds} round(s); spread = "
            "(max - min) / median of the round medians",
            h.format_table(
                [
                    "mechanism",
                    "tests",
                    "median ms",
                    "p90 ms",
                    "spread",
                    "isolation ms (over none)",
                    "/ savepoint",
                ],
                rows,
            ),
            f"target: loopwarden's isolation (savepoint - no isolation, medians) <= "
            f"{TARGET_MS:.1f} ms per test on PostgreSQL: {cost:.2f} ms, {verdict} (the whole "
            f"test, its own work included: {med['savepoint']:.2f} ms median, "
            f"{h.percentile(pooled['savepoint'], 0.9):.2f} ms p90)",
        ]
    )


def _render_pytest(
    configs: Sequence[h.Config], summaries: Mapping[str, h.Summary], rounds: int
) -> str:
    rows = []
    per_test: dict[str, float] = {}
    for c in configs:
        s = summaries[c.key]
        floor = summaries[f"{c.group}/floor"]
        over = (s.wall - floor.wall) / c.expected * 1000
        per_test[c.key] = over
        rows.append(
            [
                c.label,
                f"{s.wall:.2f}",
                f"{s.wall_spread * 100:.0f} %",
                f"{s.cpu:.2f}",
                "—" if c.key.endswith("floor") else f"{over:+.2f}",
            ]
        )
    base = per_test["n/savepoint"]
    ratios = [
        f"per-test wall over the floor, relative to loopwarden's savepoint ({base:.2f} ms): "
        + ", ".join(
            f"{key.split('/')[1]} {per_test[key] / base:.1f}{h.TIMES}"
            for key in ("n/engine", "t/template", "n/sqlite")
        )
        if base > 0
        else "savepoint run was not slower than the floor: no ratios"
    ]
    return "\n".join(
        [
            "",
            f"whole pytest runs (own runner, CPU is the pytest process only: the server's work "
            f"shows in wall), medians of {rounds} round(s)",
            h.format_table(
                ["configuration", "wall s", "wall spread", "CPU s", "wall over floor ms/test"],
                rows,
            ),
            *ratios,
        ]
    )
