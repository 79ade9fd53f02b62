"""A patched ``asyncio.sleep`` (lint's LW103) -> loopwarden's virtual time, with --unsafe-fixes.

Without the flag the patch is reported, saying that --unsafe-fixes makes the rewrite; with it, an
autouse fixture that only patches the sleep goes and what it applied to is marked (the module,
its class, or the suite's ini key for a conftest.py), and a test's patch statement goes and the
test is marked. Each rewrite made is still listed for a person, and each one refused says why.
Every case compares whole texts.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from loopwarden.migrate._model import Target

from ._helpers import OWN_RUNNER_NEXT, PATH, dedent, migrate
from .test_cli import MIGRATE, run, write

PA = "pytest-asyncio"
REPLACES = "replaces it for every caller (asyncio itself, libraries, the code under test)"
WAY_OUT = (
    "use loopwarden's virtual time, where sleeps end at once on the loop's clock: delete the "
    "patch and "
)
MARK = "pytest.mark.loopwarden(virtual_time=True)"
MODULE = f"mark the module pytestmark = {MARK}, or set loopwarden_virtual_time = on for the suite"
TEST = f"mark the test @{MARK}"
SUITE = (
    "set loopwarden_virtual_time = on for the suite (or mark each module below this conftest.py "
    f"pytestmark = {MARK})"
)
AUTOUSE = "patching `asyncio.sleep` in autouse fixture `{0}` (for every test it applies to)"
PATCHING = "patching `asyncio.sleep`"
UNSAFE = (
    "an unsafe rewrite, so check it: sleeps now end when the loop's clock reaches them (it jumps "
    "ahead while the loop is quiet), not at once"
)


def offered(what: str, advice: str) -> str:
    """The report without --unsafe-fixes on a patch the flag would replace."""
    return (
        f"{what} {REPLACES}; not rewritten without --unsafe-fixes, as that is not safe (a test "
        f"may rely on the patched sleep): {WAY_OUT}{advice} (loopwarden migrate --unsafe-fixes "
        "does that)"
    )


def refused(what: str, why: str, advice: str) -> str:
    """The report on a patch that stays, with or without the flag."""
    return f"{what} {REPLACES}; not rewritten, even with --unsafe-fixes: {why}; {WAY_OUT}{advice}"


def applied(what: str, done: str, guard: bool = False) -> str:
    """The report on a patch the flag replaced: listed for a person to check."""
    more = (
        "; with pytest-asyncio, virtual time needs loopwarden's loops (guard mode, "
        "pytest-asyncio 1.4 or later)"
        if guard
        else ""
    )
    return (
        f"{what} {REPLACES}: replaced by loopwarden's virtual time (--unsafe-fixes): {done}; "
        f"{UNSAFE}{more}"
    )


MODULE_FIXTURE = """\
import asyncio
from unittest import mock

import pytest


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    async def fast(delay, result=None):
        return result

    monkeypatch.setattr(asyncio, "sleep", fast)


async def test_retry():
    with mock.patch("asyncio.sleep") as sleep:
        await asyncio.sleep(5)
    sleep.assert_called_once_with(5)


async def test_backoff(monkeypatch):
    monkeypatch.setattr("app.worker.sleep", None)  # not asyncio's
    await asyncio.sleep(30)
"""

MOCK_READ = refused(PATCHING, "the mock sleep is read at line 18", TEST)


@pytest.mark.parametrize("target", ["loopwarden", PA])
def test_without_the_flag_a_patch_is_reported_with_the_flag_that_replaces_it(
    target: Target,
) -> None:
    assert migrate(MODULE_FIXTURE, target=target) == (
        MODULE_FIXTURE,
        [f"{PATH}:12: " + offered(AUTOUSE.format("no_sleep"), MODULE), f"{PATH}:16: {MOCK_READ}"],
    )
    # In a conftest.py, whose pytestmark would apply to nothing, the way out is the ini key.
    # (And a conftest.py holds no tests: test_retry there is a helper.)
    suite = (os.path.abspath("tests"),)
    assert migrate(MODULE_FIXTURE, path="tests/conftest.py", suite=suite) == (
        MODULE_FIXTURE,
        [
            "tests/conftest.py:12: " + offered(AUTOUSE.format("no_sleep"), SUITE),
            "tests/conftest.py:16: "
            + refused(
                PATCHING,
                "test_retry is neither a test nor a fixture, and its callers may rely on the patch",
                TEST,
            ),
        ],
    )


@pytest.mark.parametrize("target", ["loopwarden", PA])
def test_an_autouse_fixture_that_only_patches_the_sleep_becomes_the_modules_virtual_time(
    target: Target,
) -> None:
    new, reports = migrate(MODULE_FIXTURE, target=target, unsafe_fixes=True)
    assert new == dedent(
        """\
        import asyncio
        from unittest import mock

        import pytest

        pytestmark = pytest.mark.loopwarden(virtual_time=True)


        async def test_retry():
            with mock.patch("asyncio.sleep") as sleep:
                await asyncio.sleep(5)
            sleep.assert_called_once_with(5)


        async def test_backoff(monkeypatch):
            monkeypatch.setattr("app.worker.sleep", None)  # not asyncio's
            await asyncio.sleep(30)
        """
    )
    done = f"the fixture goes, and the module gets pytestmark = {MARK}"
    assert reports == [
        f"{PATH}:12: " + applied(AUTOUSE.format("no_sleep"), done, guard=target == PA),
        f"{PATH}:16: {MOCK_READ}",
    ]
    # Nothing is left to rewrite, and the test whose mock is read is reported again.
    assert migrate(new, target=target, unsafe_fixes=True) == (
        new,
        [f"{PATH}:10: {MOCK_READ.replace('line 18', 'line 12')}"],
    )


def test_the_mark_joins_the_modules_pytestmark_and_its_imports_follow() -> None:
    source = """\
        \"\"\"Retries.\"\"\"
        import asyncio
        from asyncio import sleep as real_sleep
        from unittest.mock import AsyncMock, patch

        import pytest

        pytestmark = [
            pytest.mark.asyncio,
            pytest.mark.timeout(5),
        ]


        async def quick(delay, *args, **kwargs):
            \"\"\"Yields once, as sleep(0) does.\"\"\"
            await real_sleep(0)


        @pytest.fixture(autouse=True)
        def no_sleep(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", quick)


        class TestRetry:
            @pytest.fixture(autouse=True)
            def fast(self):
                with patch("asyncio.sleep", new=AsyncMock()):
                    yield

            async def test_a(self):
                await asyncio.sleep(1)
        """
    new, reports = migrate(source, unsafe_fixes=True)
    assert new == dedent(
        """\
        \"\"\"Retries.\"\"\"
        import asyncio
        from asyncio import sleep as real_sleep

        import pytest

        pytestmark = [
            pytest.mark.timeout(5),
            pytest.mark.loopwarden(virtual_time=True),
        ]


        async def quick(delay, *args, **kwargs):
            \"\"\"Yields once, as sleep(0) does.\"\"\"
            await real_sleep(0)


        @pytest.mark.loopwarden(virtual_time=True)
        class TestRetry:
            async def test_a(self):
                await asyncio.sleep(1)
        """
    )
    assert reports == [
        f"{PATH}:21: "
        + applied(
            AUTOUSE.format("no_sleep"),
            f"the fixture goes, and the module's pytestmark gets {MARK}",
        ),
        f"{PATH}:27: "
        + applied(AUTOUSE.format("fast"), f"the fixture goes, and the class gets @{MARK}"),
    ]
    # pytest-asyncio's marker stays with --target pytest-asyncio; a single mark becomes a list.
    single = "import asyncio\n\nimport pytest\n\npytestmark = pytest.mark.asyncio\n\n\n"
    single += "@pytest.fixture(autouse=True)\ndef fast(mocker):\n"
    single += '    mocker.patch("asyncio.sleep")\n'
    new, _ = migrate(single, target=PA, unsafe_fixes=True)
    assert new == f"import asyncio\n\nimport pytest\n\npytestmark = [pytest.mark.asyncio, {MARK}]\n"


def test_a_tests_patch_goes_and_the_test_is_marked() -> None:
    source = """\
        from pytest import fixture
        import asyncio
        from unittest.mock import AsyncMock, patch


        async def test_retry(mocker):
            \"\"\"Retries.\"\"\"
            mocker.patch("asyncio.sleep", return_value=None)
            await asyncio.sleep(5)


        async def test_block():
            async def fake(delay):
                pass

            # Patched for the block.
            with patch("asyncio.sleep", fake), patch("app.tick") as tick:
                await asyncio.sleep(5)
                tick.assert_called()


        class TestGroup:
            async def test_inside(self):
                with patch("asyncio.sleep", AsyncMock()):  # no waiting
                    await asyncio.sleep(5)
                assert True
        """
    new, reports = migrate(source, unsafe_fixes=True)
    assert new == dedent(
        """\
        import pytest
        from pytest import fixture
        import asyncio
        from unittest.mock import patch


        @pytest.mark.loopwarden(virtual_time=True)
        async def test_retry(mocker):
            \"\"\"Retries.\"\"\"
            await asyncio.sleep(5)


        @pytest.mark.loopwarden(virtual_time=True)
        async def test_block():
            # Patched for the block.
            with patch("app.tick") as tick:
                await asyncio.sleep(5)
                tick.assert_called()


        class TestGroup:
            @pytest.mark.loopwarden(virtual_time=True)
            async def test_inside(self):
                # no waiting
                await asyncio.sleep(5)
                assert True
        """
    )
    done = f"the patch goes, and the test gets @{MARK}"
    assert reports == [
        f"{PATH}:8: " + applied(PATCHING, done),
        f"{PATH}:17: " + applied(PATCHING, done),
        f"{PATH}:24: " + applied(PATCHING, done),
    ]


REFUSALS = {
    "recorded delays are read": (
        """\
        delays = []


        async def recording(delay):
            delays.append(delay)


        @pytest.fixture(autouse=True)
        def rec(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", recording)


        async def test_a():
            assert delays == []
        """,
        16,
        AUTOUSE.format("rec"),
        "the sleeps recording records in delays are read at line 20, and virtual time would "
        "leave it empty",
        MODULE,
    ),
    "fixture yields the mock": (
        """\
        @pytest.fixture(autouse=True)
        def sleep_mock():
            with patch("asyncio.sleep") as m:
                yield m
        """,
        9,
        AUTOUSE.format("sleep_mock"),
        "the fixture sleep_mock hands out m (line 10), which its tests may use",
        MODULE,
    ),
    "fixture returns the mock": (
        """\
        @pytest.fixture(autouse=True)
        def sleep_mock(mocker):
            m = mocker.patch("asyncio.sleep")
            return m
        """,
        9,
        AUTOUSE.format("sleep_mock"),
        "the fixture sleep_mock hands out m (line 10), which its tests may use",
        MODULE,
    ),
    "other statements": (
        """\
        @pytest.fixture(autouse=True)
        def fast(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", AsyncMock())
            monkeypatch.setenv("FAST", "1")
        """,
        9,
        AUTOUSE.format("fast"),
        "the fixture fast does more than patch asyncio.sleep (line 10)",
        MODULE,
    ),
    "other context managers": (
        """\
        @pytest.fixture(autouse=True)
        def fast():
            with patch("asyncio.sleep"), patch("app.clock"):
                yield
        """,
        9,
        AUTOUSE.format("fast"),
        "the fixture fast does more than patch asyncio.sleep (the other context managers of "
        "line 9)",
        MODULE,
    ),
    "other fixtures": (
        """\
        @pytest.fixture(autouse=True)
        def fast(monkeypatch, database):
            monkeypatch.setattr(asyncio, "sleep", AsyncMock())
        """,
        9,
        AUTOUSE.format("fast"),
        "the fixture fast asks for database, which its tests would no longer get",
        MODULE,
    ),
    "used by name": (
        """\
        @pytest.fixture(autouse=True)
        def fast(mocker):
            mocker.patch("asyncio.sleep")


        @pytest.mark.usefixtures("fast")
        async def test_a():
            pass
        """,
        9,
        AUTOUSE.format("fast"),
        "line 12 asks for the fixture fast by name, and would no longer find it",
        MODULE,
    ),
    "not autouse": (
        """\
        @pytest.fixture
        def fast(mocker):
            mocker.patch("asyncio.sleep")
        """,
        9,
        PATCHING,
        "the fixture fast is not autouse, so it patches only for the tests that ask for it by "
        "name, which migrate does not follow",
        f"mark the tests that ask for the fixture @{MARK}",
    ),
    "side effect": (
        """\
        @pytest.fixture(autouse=True)
        def fast(mocker):
            mocker.patch("asyncio.sleep", side_effect=[None, ValueError()])
        """,
        9,
        AUTOUSE.format("fast"),
        "the patch passes side_effect=[None, ValueError()], so the patched sleep does more than "
        "return at once",
        MODULE,
    ),
    "fake that does more": (
        """\
        async def slow(delay):
            await real(delay / 10)


        @pytest.fixture(autouse=True)
        def fast(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", slow)
        """,
        13,
        AUTOUSE.format("fast"),
        "the replacement slow does more than return at once (line 8)",
        MODULE,
    ),
    "lambda": (
        """\
        @pytest.fixture(autouse=True)
        def fast(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", lambda *a: real(0))
        """,
        9,
        AUTOUSE.format("fast"),
        "the replacement lambda *a: real(0) is a lambda, which may do more than return at once",
        MODULE,
    ),
    "params": (
        """\
        @pytest.fixture(autouse=True, params=[0, 1])
        def fast(mocker):
            mocker.patch("asyncio.sleep")
        """,
        9,
        AUTOUSE.format("fast"),
        "the fixture fast has params, which run each of its tests per value",
        MODULE,
    ),
    "a loop of its own": (
        """\
        @pytest.fixture(autouse=True)
        def fast(mocker):
            mocker.patch("asyncio.sleep")


        def test_sync():
            asyncio.run(main())
        """,
        9,
        AUTOUSE.format("fast"),
        "line 13 runs a loop of its own (run), where virtual time does not apply, so its sleeps "
        "would take real time",
        MODULE,
    ),
    "opted out": (
        """\
        @pytest.fixture(autouse=True)
        def fast(mocker):
            mocker.patch("asyncio.sleep")


        @pytest.mark.loopwarden(virtual_time=False)
        async def test_real():
            pass
        """,
        9,
        AUTOUSE.format("fast"),
        "line 12 opts out of virtual time, so what it marks would sleep in real time",
        MODULE,
    ),
    "not asyncio's own": (
        """\
        async def test_a(monkeypatch):
            monkeypatch.setattr("app.asyncio.sleep", AsyncMock())
        """,
        8,
        "patching `app.asyncio.sleep`",
        "it patches app.asyncio.sleep, which migrate cannot tell is asyncio's own sleep (its "
        "module may hold another asyncio)",
        TEST,
    ),
    "decorator": (
        """\
        @patch("asyncio.sleep")
        async def test_a(sleep):
            pass
        """,
        7,
        PATCHING,
        "a patch decorator hands its mock to the function as an argument, which migrate does "
        "not remove",
        TEST,
    ),
    "sync test": (
        """\
        def test_a(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", AsyncMock())
        """,
        8,
        PATCHING,
        "test_a is a sync test: virtual time applies to the loops loopwarden runs async tests "
        "in, not to one a sync test runs",
        TEST,
    ),
    "nested statement": (
        """\
        async def test_a(monkeypatch, fast):
            if fast:
                monkeypatch.setattr(asyncio, "sleep", AsyncMock())
        """,
        9,
        PATCHING,
        "the patch is not a statement of its own (it stands in the if statement at line 8)",
        TEST,
    ),
    "mock read in the test": (
        """\
        async def test_a(mocker):
            sleep = mocker.patch("asyncio.sleep")
            await asyncio.sleep(5)
            sleep.assert_awaited_once_with(5)
        """,
        8,
        PATCHING,
        "the mock sleep is read at line 10",
        TEST,
    ),
    "helper": (
        """\
        def fast_sleep(monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", AsyncMock())
        """,
        8,
        PATCHING,
        "fast_sleep is neither a test nor a fixture, and its callers may rely on the patch",
        TEST,
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_patch_virtual_time_may_not_replace_is_reported_with_why(case: str) -> None:
    body, line, what, why, advice = REFUSALS[case]
    source = "import asyncio\nfrom unittest.mock import AsyncMock, patch\n\nimport pytest\n\n\n"
    source += dedent(body)
    for unsafe in (False, True):
        assert migrate(source, unsafe_fixes=unsafe) == (
            source,
            [f"{PATH}:{line}: " + refused(what, why, advice)],
        ), unsafe


# -- a conftest.py: the suite's ini key -----------------------------------------------------------

CONFTEST = """\
import asyncio
from unittest import mock

import pytest


@pytest.fixture(autouse=True, scope="session")
def no_sleep():
    \"\"\"No real waiting in tests.\"\"\"
    with mock.patch.object(asyncio, "sleep", new_callable=mock.AsyncMock):
        yield


@pytest.fixture
def settings():
    return {}
"""


def test_a_conftests_patch_becomes_the_suites_virtual_time_key(tmp_path: Path) -> None:
    pyproject = '[tool.pytest.ini_options]\ntestpaths = ["tests"]  # the suite\n'
    test = "import asyncio\n\n\nasync def test_a():\n    await asyncio.sleep(30)\n"
    write(tmp_path, {"pyproject.toml": pyproject, "tests/conftest.py": CONFTEST})
    write(tmp_path, {"tests/api/test_a.py": test})
    result = run(tmp_path, "--write", "--unsafe-fixes", "tests")
    assert (result.returncode, result.stderr) == (1, "")
    done = "the fixture goes, and the pytest configuration gets loopwarden_virtual_time = on"
    assert result.stdout == (
        "Made 4 changes in 2 files:\n"
        "     1  patched asyncio.sleep -> loopwarden's virtual time (unsafe: each is listed below, "
        "to check)\n"
        "     2  import added or removed\n"
        "     1  loopwarden_virtual_time = on set (a conftest.py's patched asyncio.sleep removed)\n"
        "Needs a person (1):\n"
        f"tests/conftest.py:10: {applied(AUTOUSE.format('no_sleep'), done)}\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
        + OWN_RUNNER_NEXT
    )
    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8") == (
        pyproject + 'loopwarden_virtual_time = "on"\n'
    )
    assert (tmp_path / "tests" / "conftest.py").read_text(encoding="utf-8") == (
        "import pytest\n\n\n@pytest.fixture\ndef settings():\n    return {}\n"
    )
    again = run(tmp_path, "--unsafe-fixes", "tests")
    assert (again.returncode, again.stdout, again.stderr) == (
        0,
        "",
        "No changes to make.\nNothing is left for a person.\n",
    )


@pytest.mark.parametrize(
    ("files", "why"),
    [
        # A test of another file asks for the fixture by name.
        (
            {"tests/api/test_b.py": "def test_b(no_sleep):\n    pass\n"},
            "tests/api/test_b.py:1 names the fixture no_sleep, and would no longer find it",
        ),
        # The conftest.py is above the paths given: tests this run did not read may.
        (
            {"tests/api/test_b.py": "async def test_b():\n    pass\n"},
            "tests of its folder outside the paths given, which this run did not read, may ask "
            "for the fixture by name (run loopwarden migrate on the whole folder)",
        ),
        # The configuration's tests are not all below the conftest.py.
        (
            {"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests", "docs"]\n'},
            "it applies to the tests below its folder only, while loopwarden_virtual_time would "
            "apply to every test of the configuration, which collects tests in tests, docs",
        ),
        # The configuration turns virtual time off.
        (
            {
                "pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n"
                "loopwarden_virtual_time = 'off'\n"
            },
            "the pytest configuration sets loopwarden_virtual_time = off",
        ),
    ],
    ids=["named elsewhere", "above the paths", "not the whole suite", "turned off"],
)
def test_a_conftests_patch_the_key_may_not_replace_is_reported(
    tmp_path: Path, files: dict[str, str], why: str
) -> None:
    pyproject = '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    write(tmp_path, {"pyproject.toml": pyproject, "tests/conftest.py": CONFTEST})
    write(tmp_path, files)
    given = "tests/api" if "outside the paths" in why else "tests"
    result = run(tmp_path, "--unsafe-fixes", given)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "No changes to make.\n"
        "Needs a person (1):\n"
        f"tests/conftest.py:10: {refused(AUTOUSE.format('no_sleep'), why, SUITE)}\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
    )


# -- end to end -----------------------------------------------------------------------------------

RETRIES = """\
import asyncio
from unittest.mock import AsyncMock

import pytest


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(asyncio, "sleep", AsyncMock())


async def fetch(attempt, tries=3, backoff=30):
    for _ in range(tries):
        try:
            return await attempt()
        except ConnectionError:
            await asyncio.sleep(backoff)
    raise TimeoutError


async def test_gives_up_after_three_tries():
    loop = asyncio.get_running_loop()
    start = loop.time()
    calls = []

    async def attempt():
        calls.append(loop.time())
        raise ConnectionError

    with pytest.raises(TimeoutError):
        await fetch(attempt)
    assert len(calls) == 3
    print(f"the loop's clock moved {loop.time() - start:.0f} s")
"""


@pytest.mark.slow
@pytest.mark.parametrize("target", ["loopwarden", PA])
def test_a_suite_whose_sleep_was_patched_passes_in_virtual_time(
    pytester: pytest.Pytester,
    own: Callable[..., pytest.RunResult],
    guarded: Callable[..., pytest.RunResult],
    target: Target,
) -> None:
    """Before: the patched sleep returns at once. After migrate --write --unsafe-fixes: the same
    test passes in virtual time, its three 30 s sleeps on the loop's clock, on loopwarden's own
    runner and on pytest-asyncio in guard mode. (Were the sleeps real, the run would take 90 s
    and hit its 60 s timeout.)"""
    ini = "[pytest]\n"
    if target == PA:
        ini += "asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    (pytester.path / "pytest.ini").write_text(ini, encoding="utf-8")
    test = pytester.path / "test_retries.py"
    test.write_text(RETRIES, encoding="utf-8")
    suite = own if target == "loopwarden" else guarded
    before = suite("-s", timeout=60)
    before.assert_outcomes(passed=1)
    before.stdout.fnmatch_lines(["*the loop's clock moved 0 s*"])

    migrated = subprocess.run(
        [*MIGRATE, "--target", target, "--write", "--unsafe-fixes", "test_retries.py"],
        cwd=pytester.path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (migrated.returncode, migrated.stderr) == (1, ""), migrated.stdout
    done = f"the fixture goes, and the module gets pytestmark = {MARK}"
    report = applied(AUTOUSE.format("no_sleep"), done, guard=target == PA)
    assert migrated.stdout == (
        "Made 2 changes in 1 file:\n"
        "     1  patched asyncio.sleep -> loopwarden's virtual time (unsafe: each is listed below, "
        "to check)\n"
        "     1  import added or removed\n"
        "Needs a person (1):\n"
        f"test_retries.py:9: {report}\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
        + (OWN_RUNNER_NEXT if target == "loopwarden" else "")
    )
    assert test.read_text(encoding="utf-8") == RETRIES.replace(
        textwrap.dedent(
            """\
            from unittest.mock import AsyncMock

            import pytest


            @pytest.fixture(autouse=True)
            def no_sleep(monkeypatch):
                monkeypatch.setattr(asyncio, "sleep", AsyncMock())
            """
        ),
        f"\nimport pytest\n\npytestmark = {MARK}\n",
    )
    after = suite("-s", timeout=60)
    after.assert_outcomes(passed=1)
    after.stdout.fnmatch_lines(["*the loop's clock moved 90 s*"])
