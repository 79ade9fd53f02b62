"""``--target pytest-asyncio``: a sync fixture wider than a test that becomes async gets
``loop_scope=``, the scope of the ``event_loop`` override its tests ran on under 0.21.

That loop is the one migrate writes as ``asyncio_default_test_loop_scope`` when it removes the
override, so the fixture and its tests share it again. Where the loop is not certain (no
override reaches the fixture, two disagree, one stays, the configuration says another scope),
the fixture is left and reported with what to write. Each case compares whole texts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopwarden.migrate._analyze import Settings
from loopwarden.migrate._runner import migrate as migrate_files

from ._helpers import PATH, dedent, migrate
from .test_cli import run, write

PA = "pytest-asyncio"

OVERRIDE = """\
import asyncio

import pytest


@pytest.fixture(scope="{scope}")
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
"""

WIDE = OVERRIDE.format(scope="session") + dedent(
    """\


    @pytest.fixture(scope="module")
    def loop(event_loop):
        return event_loop


    @pytest.fixture(autouse=True, scope='class')
    def clock(event_loop):
        return event_loop.time


    @pytest.fixture(
        scope="module",
        params=["a", "b"],
        ids=["first", "second"],
        name="server",
    )
    def _server(request, event_loop):
        server = event_loop.run_until_complete(start(request.param))

        def close():
            server.close()

        request.addfinalizer(close)
        return server
    """
)

REMOVED_SESSION = (
    "note: tests/test_x.py:7: event_loop fixture (scope='session') removed: pytest-asyncio 1.0 "
    "has no event_loop fixture; its scope goes into the pytest configuration: "
    "asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope = session"
)


def left(name: str, scope: str, why: str | None, loop_scope: str | None = None) -> str:
    """The report on a wide fixture left as it is."""
    loop = (
        repr(loop_scope)
        if loop_scope
        else ("<the scope of the event_loop fixture it used: the loop its tests run in>")
    )
    because = f"{why}; " if why else ""
    return (
        f"{name} is a sync fixture wider than a test (scope={scope}) that uses pytest-asyncio's "
        "event_loop fixture (gone in pytest-asyncio 1.0; loopwarden's runner has none); not "
        f"rewritten: {because}make it `async def` with @pytest_asyncio.fixture(scope={scope}, "
        f"loop_scope={loop}), await what it runs on the loop, and call "
        "asyncio.get_running_loop() where it needs the loop"
    )


@pytest.mark.parametrize("strict", [True, False])
def test_a_wide_fixture_gets_the_loop_scope_of_the_event_loop_it_ran_on(strict: bool) -> None:
    """A module-scoped fixture on the session loop gets loop_scope='session', not its own scope:
    its tests run in the session loop (asyncio_default_test_loop_scope = session), and a
    fixture in a module loop would hand them objects bound to another loop. Only
    pytest_asyncio.fixture takes loop_scope=, so auto mode gets it too; the other keyword
    arguments stay as written."""
    new, reports = migrate(WIDE, target=PA, strict=strict)
    assert new == dedent(
        """\
        import asyncio

        import pytest_asyncio


        @pytest_asyncio.fixture(scope="module", loop_scope="session")
        async def loop():
            return asyncio.get_running_loop()


        @pytest_asyncio.fixture(autouse=True, scope='class', loop_scope='session')
        async def clock():
            return asyncio.get_running_loop().time


        @pytest_asyncio.fixture(
            scope="module",
            loop_scope="session",
            params=["a", "b"],
            ids=["first", "second"],
            name="server",
        )
        async def _server(request):
            server = await start(request.param)
            yield server
            server.close()
        """
    )
    assert reports == [REMOVED_SESSION]
    # A second run has nothing left to do.
    assert migrate(new, target=PA, strict=strict) == (new, [])


@pytest.mark.parametrize(
    ("loop_scope", "scope", "expected"),
    [
        ("module", '"module"', '@pytest_asyncio.fixture(scope="module", loop_scope="module")'),
        ("session", "lifetime", '@pytest_asyncio.fixture(scope=lifetime, loop_scope="session")'),
    ],
)
def test_the_loop_scope_may_equal_the_scope_and_a_session_loop_fits_any_scope(
    loop_scope: str, scope: str, expected: str
) -> None:
    source = OVERRIDE.format(scope=loop_scope)
    source += f"\n\n@pytest.fixture(scope={scope})\ndef loop(event_loop):\n    return event_loop\n"
    new, _ = migrate(source, target=PA)
    assert new == (
        f"import asyncio\n\nimport pytest_asyncio\n\n\n{expected}\nasync def loop():\n"
        "    return asyncio.get_running_loop()\n"
    )


def test_a_sync_fixture_under_pytest_asyncios_decorator_gets_the_loop_scope_too() -> None:
    # It was made async without loop_scope=, so in a loop of its own scope.
    source = OVERRIDE.format(scope="session").replace("pytest\n", "pytest\nimport pytest_asyncio\n")
    source += '\n\n@pytest_asyncio.fixture(scope="module")\ndef loop(event_loop):\n'
    source += "    return event_loop\n"
    new, reports = migrate(source, target=PA, strict=True)
    assert new == (
        "import asyncio\n\nimport pytest_asyncio\n\n\n"
        '@pytest_asyncio.fixture(scope="module", loop_scope="session")\n'
        "async def loop():\n    return asyncio.get_running_loop()\n"
    )
    assert reports == [REMOVED_SESSION.replace(":7:", ":8:")]


def test_with_target_loopwarden_a_wide_fixture_gets_no_loop_scope() -> None:
    # The own runner gives a wider fixture the loop its tests share.
    new, reports = migrate(WIDE)
    assert '@pytest.fixture(scope="module")\nasync def loop():\n' in new
    assert "loop_scope" not in new
    assert reports == []


WIDE_LOOP = "\n\n@pytest.fixture(scope={scope})\ndef loop(event_loop):\n    return event_loop\n"
KEPT = (
    f"{PATH}:7: event_loop fixture kept, since something still asks for it: {PATH}:14 (loop); "
    "delete it once nothing does (see those entries)"
)
MISMATCH = (
    f"its tests ran in the session-scoped loop of the event_loop fixture at {PATH}:7, but with "
    "the pytest configuration as it is they would run in function-scoped loops (migrate does not "
    "overwrite a loop scope it sets): set asyncio_default_fixture_loop_scope = session and "
    "asyncio_default_test_loop_scope = session (or mark its tests "
    "@pytest.mark.asyncio(loop_scope='session'))"
)


@pytest.mark.parametrize(
    ("source", "settings", "reports"),
    [
        # No override in reach: under 0.21 such a fixture met a function-scoped event_loop.
        (
            "import pytest\n" + WIDE_LOOP.format(scope='"module"'),
            {},
            [
                f"{PATH}:5: "
                + left(
                    "loop",
                    "'module'",
                    "no event_loop fixture override reaches it in the files read, so the loop its "
                    "tests ran in is unknown (pytest-asyncio 0.21's own event_loop is "
                    "function-scoped, too narrow for it)",
                )
            ],
        ),
        # A loop narrower than the fixture was a ScopeMismatch under 0.21 already. (What is
        # left asks for event_loop, so the override it reaches stays.)
        (
            OVERRIDE.format(scope="module") + WIDE_LOOP.format(scope='"session"'),
            {},
            [
                KEPT,
                f"{PATH}:14: "
                + left(
                    "loop",
                    "'session'",
                    f"the event_loop fixture it got at {PATH}:7 is module-scoped, narrower than "
                    "the fixture (pytest-asyncio 0.21 raised ScopeMismatch)",
                ),
            ],
        ),
        # A scope that is not a literal may be wider than a module loop.
        (
            OVERRIDE.format(scope="module") + WIDE_LOOP.format(scope="lifetime"),
            {},
            [
                KEPT,
                f"{PATH}:14: "
                + left(
                    "loop",
                    "lifetime",
                    "its scope is not a literal, and may be wider than the module-scoped loop of "
                    f"the event_loop fixture at {PATH}:7",
                    "module",
                ),
            ],
        ),
        # The configuration keeps another test loop scope: the tests would run in another loop.
        (
            OVERRIDE.format(scope="session") + WIDE_LOOP.format(scope='"module"'),
            {"test_loop_scope": "function"},
            [KEPT, f"{PATH}:14: " + left("loop", "'module'", MISMATCH, "session")],
        ),
        # A fixture loop scope chosen otherwise stops migrate from writing either key.
        (
            OVERRIDE.format(scope="session") + WIDE_LOOP.format(scope='"module"'),
            {"fixture_loop_scope": "function"},
            [KEPT, f"{PATH}:14: " + left("loop", "'module'", MISMATCH, "session")],
        ),
    ],
    ids=["no override", "narrower", "computed scope", "test loop scope", "fixture loop scope"],
)
def test_a_wide_fixture_whose_loop_is_uncertain_is_left_and_reported(
    source: str, settings: dict[str, str], reports: list[str]
) -> None:
    assert migrate(source, target=PA, **settings) == (source, reports)  # type: ignore[arg-type]


def test_one_fixture_left_keeps_the_override_and_so_the_next_one_is_left_too() -> None:
    """A fixture left asks for event_loop, which keeps the override; with it kept, migrate writes
    no loop scope into the configuration, so a second fixture on the same loop is left too."""
    source = OVERRIDE.format(scope="module") + dedent(
        """\


        @pytest.fixture(scope="session")
        def wide(event_loop):
            return event_loop


        @pytest.fixture(scope="module")
        def fits(event_loop):
            return event_loop
        """
    )
    new, reports = migrate(source, target=PA)
    assert new == source
    assert reports == [
        f"{PATH}:7: event_loop fixture kept, since something still asks for it: {PATH}:14 "
        f"(wide), {PATH}:19 (fits); delete it once nothing does (see those entries)",
        f"{PATH}:14: "
        + left(
            "wide",
            "'session'",
            f"the event_loop fixture it got at {PATH}:7 is module-scoped, narrower than the "
            "fixture (pytest-asyncio 0.21 raised ScopeMismatch)",
        ),
        f"{PATH}:19: "
        + left(
            "fits",
            "'module'",
            f"the event_loop fixture at {PATH}:7 stays, since something still asks for it (see "
            "that entry)",
            "module",
        ),
    ]


def test_an_override_kept_for_a_sync_test_or_as_non_standard_leaves_the_fixture() -> None:
    users = OVERRIDE.format(scope="session") + WIDE_LOOP.format(scope='"module"')
    users += "\n\ndef test_sync(event_loop):\n    event_loop.run_forever()\n"
    new, reports = migrate(users, target=PA)
    assert new == users
    assert reports[0] == (
        f"{PATH}:7: event_loop fixture kept, since something still asks for it: {PATH}:14 "
        f"(loop), {PATH}:18 (test_sync); delete it once nothing does (see those entries)"
    )
    assert reports[1] == f"{PATH}:14: " + left(
        "loop",
        "'module'",
        f"the event_loop fixture at {PATH}:7 stays, since something still asks for it (see that "
        "entry)",
        "session",
    )
    custom = OVERRIDE.format(scope="session").replace(
        "    yield loop\n", "    asyncio.set_event_loop(loop)\n    yield loop\n"
    )
    custom += WIDE_LOOP.format(scope='"module"')
    assert migrate(custom, target=PA) == (
        custom,
        [
            f"{PATH}:7: event_loop fixture does more than make, yield and close a loop (a custom "
            "policy, uvloop, extra setup), so it was left as is: pytest-asyncio 1.0 no longer "
            "runs async tests on an event_loop fixture, so the async tests and fixtures that "
            "asked for it now call asyncio.get_running_loop(), and sync tests keep it as a plain "
            "fixture. Move any setup it does for async tests into a fixture of their own; choose "
            "other loops with an event_loop_policy fixture or, from pytest-asyncio 1.4, the "
            "pytest_asyncio_loop_factories hook",
            f"{PATH}:15: "
            + left(
                "loop",
                "'module'",
                f"the event_loop fixture at {PATH}:7 stays, as it does more than the usual recipe "
                "(see that entry)",
                "session",
            ),
        ],
    )


@pytest.mark.parametrize(
    ("decorator", "why", "scope"),
    [
        (
            '@pytest_asyncio.fixture(scope="module", loop_scope="module")',
            "it already says loop_scope='module'",
            "'module'",
        ),
        (
            '@pytest.fixture(scope="module", **options)',
            "its decorator has positional or ** arguments, which migrate does not rewrite",
            "'module'",
        ),
    ],
)
def test_a_decorator_migrate_cannot_add_loop_scope_to_is_left(
    decorator: str, why: str, scope: str
) -> None:
    source = OVERRIDE.format(scope="session").replace("pytest\n", "pytest\nimport pytest_asyncio\n")
    source += f"\n\n{decorator}\ndef loop(event_loop):\n    return event_loop\n"
    new, reports = migrate(source, target=PA)
    assert new == source
    assert reports[1] == f"{PATH}:15: " + left("loop", scope, why)


def test_a_wide_fixture_that_drives_the_loop_otherwise_is_reported_with_the_loop_scope_advice() -> (
    None
):
    source = OVERRIDE.format(scope="session") + dedent(
        """\


        @pytest.fixture(scope="module")
        def server(event_loop):
            event_loop.run_until_complete(start())
            return event_loop.run_forever()
        """
    )
    new, reports = migrate(source, target=PA)
    assert new == source
    assert reports[1] == f"{PATH}:14: " + left("server", "'module'", None)


# -- across files ---------------------------------------------------------------------------------

LOOP_DEF = """\
@pytest.fixture(scope="module")
def loop(event_loop):
    return event_loop
"""
LOOP_FIXTURE = "import pytest\n\n\n" + LOOP_DEF


def _migrate_tree(
    root: Path, files: dict[str, str], outer: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Migrate every file of ``files`` in-process, from ``root``; the new texts of the files
    that change and the reports."""
    write(root, files)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        work = [(name, Settings(PA)) for name in sorted(files) if name.endswith(".py")]
        plans, outcomes = migrate_files(work, jobs=1, outer=outer)
    finally:
        os.chdir(cwd)
    reports = sorted((r for p in plans for r in p.reports), key=lambda r: r.sort_key)
    changed = {o.path: o.after for o in outcomes if o.after is not None}
    return changed, [("" if r.person else "note: ") + r.render() for r in reports]


def test_the_override_in_a_conftest_above_gives_the_loop_scope(tmp_path: Path) -> None:
    changed, reports = _migrate_tree(
        tmp_path,
        {
            "tests/conftest.py": OVERRIDE.format(scope="package"),
            "tests/api/conftest.py": LOOP_FIXTURE,
            "tests/api/test_a.py": "async def test_a(loop):\n    assert loop\n",
        },
    )
    assert changed == {
        "tests/conftest.py": "\n",
        "tests/api/conftest.py": dedent(
            """\
            import asyncio

            import pytest_asyncio


            @pytest_asyncio.fixture(scope="module", loop_scope="package")
            async def loop():
                return asyncio.get_running_loop()
            """
        ),
    }
    assert reports == [
        "note: tests/conftest.py:7: event_loop fixture (scope='package') removed: pytest-asyncio "
        "1.0 has no event_loop fixture; its scope goes into the pytest configuration: "
        "asyncio_default_fixture_loop_scope = package and asyncio_default_test_loop_scope = "
        "package"
    ]


def test_overrides_below_a_conftest_fixture_that_disagree_leave_it(tmp_path: Path) -> None:
    """pytest gives each test the nearest event_loop: the tests under tests/unit got a module
    loop, the others the session loop; a fixture used by both has no one loop_scope."""
    files = {
        "tests/conftest.py": OVERRIDE.format(scope="session") + "\n\n" + LOOP_DEF,
        "tests/unit/conftest.py": OVERRIDE.format(scope="module"),
    }
    changed, reports = _migrate_tree(tmp_path, files)
    assert changed == {"tests/unit/conftest.py": "\n"}
    assert reports == [
        "tests/conftest.py:7: event_loop fixture kept, since something still asks for it: "
        "tests/conftest.py:14 (loop); delete it once nothing does (see those entries)",
        "tests/conftest.py:14: "
        + left(
            "loop",
            "'module'",
            "the event_loop fixtures its tests may get make loops of different scopes: session "
            "(tests/conftest.py:7), module (tests/unit/conftest.py:7); the tests that use it "
            "must share one loop",
        ),
        "note: tests/unit/conftest.py:7: event_loop fixture (scope='module') removed: "
        "pytest-asyncio 1.0 has no event_loop fixture; its scope goes into the pytest "
        "configuration: asyncio_default_fixture_loop_scope = module and "
        "asyncio_default_test_loop_scope = module",
    ]
    # The nearest override wins: one in the fixture's own conftest hides those above it.
    files = {
        "tests/conftest.py": OVERRIDE.format(scope="module"),
        "tests/api/conftest.py": OVERRIDE.format(scope="session") + "\n\n" + LOOP_DEF,
    }
    changed, _ = _migrate_tree(tmp_path / "nearest", files)
    assert changed == {
        "tests/api/conftest.py": dedent(
            """\
            import asyncio

            import pytest_asyncio


            @pytest_asyncio.fixture(scope="module", loop_scope="session")
            async def loop():
                return asyncio.get_running_loop()
            """
        ),
        "tests/conftest.py": "\n",
    }


def test_a_conftest_above_the_paths_given_keeps_its_wide_fixture(tmp_path: Path) -> None:
    # Tests outside the paths may have met another event_loop: not certain, so left.
    files = {
        "tests/conftest.py": OVERRIDE.format(scope="session") + "\n\n" + LOOP_DEF,
        "tests/unit/test_a.py": "async def test_a(loop):\n    assert loop\n",
    }
    changed, reports = _migrate_tree(tmp_path, files, outer=frozenset({"tests/conftest.py"}))
    assert changed == {}
    assert reports == [
        "tests/conftest.py:7: event_loop fixture kept, since something still asks for it: the "
        "tests of its folder outside the paths given, which this run did not read (run "
        "loopwarden migrate on the whole folder); delete it once nothing does (see those "
        "entries)",
        "tests/conftest.py:14: "
        + left(
            "loop",
            "'module'",
            "the tests of its folder outside the paths given, which this run did not read, may "
            "have run in another loop (run loopwarden migrate on the whole folder)",
        ),
    ]


@pytest.mark.slow
def test_a_migrated_wide_fixture_shares_its_tests_loop_under_pytest_asyncio(
    tmp_path: Path,
) -> None:
    """End to end: the migrated suite passes under pytest-asyncio 1.x, and would not with the
    fixture's own scope as its loop_scope (its tests run in the session loop)."""
    pytest.importorskip("pytest_asyncio", reason="the migrated suite runs on pytest-asyncio")
    check = "import asyncio\n\n\nasync def test_{0}(loop):\n"
    check += "    assert loop is asyncio.get_running_loop()\n"
    write(
        tmp_path,
        {
            "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
            "tests/conftest.py": OVERRIDE.format(scope="session") + "\n\n" + LOOP_DEF,
            "tests/test_a.py": check.format("a"),
            "tests/test_b.py": check.format("b"),
        },
    )
    result = run(tmp_path, "--target", PA, "--write", "tests")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert result.stdout == (
        "Made 6 changes in 2 files:\n"
        "     1  sync fixture that hands out event_loop -> async def\n"
        "     1  event_loop fixture override removed\n"
        "     2  import added or removed\n"
        "     2  pytest configuration key set (the removed event_loop fixture's scope)\n"
        "Notes (2):\n"
        "tests/conftest.py: pytest-asyncio 0.21 left a current event loop for synchronous "
        "tests and fixtures (its event_loop fixture set a new one as it closed the old); 1.x "
        "leaves none, so synchronous code that calls asyncio.get_event_loop(), in a test or in "
        'the code it tests, raises "There is no current event loop" once an async test has '
        "run. Give such tests a loop (a fixture that makes one and sets it with "
        "asyncio.set_event_loop), or use --target loopwarden, whose runner makes its session "
        "loop (its default) the current one\n"
        "tests/conftest.py:7: event_loop fixture (scope='session') removed: pytest-asyncio 1.0 "
        "has no event_loop fixture; its scope goes into the pytest configuration: "
        "asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope = "
        "session\n"
        "Nothing is left for a person.\n"
    )
    conftest = tmp_path / "tests" / "conftest.py"
    migrated = conftest.read_text(encoding="utf-8")
    assert '@pytest_asyncio.fixture(scope="module", loop_scope="session")\n' in migrated

    def pytest_run() -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    status, output = pytest_run()
    assert status == 0, output
    assert "2 passed" in output
    conftest.write_text(migrated.replace('loop_scope="session"', 'loop_scope="module"'))
    status, output = pytest_run()
    assert status == 1, output
    assert "2 failed" in output


@pytest.mark.slow
def test_sync_code_has_no_current_loop_after_an_async_test_under_pytest_asyncio_1(
    tmp_path: Path,
) -> None:
    """The note's claim, end to end: after --target pytest-asyncio, a sync test whose code calls
    asyncio.get_event_loop() after an async test fails on pytest-asyncio 1.x; migrated with
    --target loopwarden instead (the note's other way), it passes on loopwarden's runner."""
    pytest.importorskip("pytest_asyncio", reason="the migrated suite runs on pytest-asyncio")
    suite = {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
        "tests/test_a.py": (
            "import asyncio\n\n\nasync def test_a(event_loop):\n    assert event_loop\n\n\n"
            "def test_b():\n    assert asyncio.get_event_loop() is not None\n"
        ),
    }

    def pytest_run(where: Path, *flags: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *flags],
            cwd=where, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    stay = tmp_path / "stay"
    write(stay, suite)
    result = run(stay, "--target", PA, "--write", "tests")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert "tests/test_a.py: pytest-asyncio 0.21 left a current event loop" in result.stdout
    status, output = pytest_run(stay, "-p", "no:loopwarden")
    assert status == 1, output
    assert "RuntimeError: There is no current event loop" in output
    assert "1 failed, 1 passed" in output

    move = tmp_path / "move"
    write(move, suite)
    result = run(move, "--write", "tests")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert "pytest-asyncio 0.21 left a current event loop" not in result.stdout
    status, output = pytest_run(move, "-p", "no:asyncio")
    assert status == 0, output
    assert "2 passed" in output
