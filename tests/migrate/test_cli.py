"""``loopwarden migrate`` end to end, in a subprocess: the diff, the summary, exit statuses,
``--write`` and git, and a migrated suite that passes on loopwarden's own runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ._helpers import OWN_RUNNER_NEXT

MIGRATE = [sys.executable, "-m", "loopwarden._cli", "migrate"]

CONFTEST = """\
import asyncio

import pytest
import pytest_asyncio


@pytest.fixture(scope="session")
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest_asyncio.fixture(scope="session")
async def queue():
    return asyncio.Queue()


@pytest_asyncio.fixture
async def loop_time(event_loop):
    return event_loop.time()
"""

TEST_APP = """\
import asyncio

import pytest

pytestmark = pytest.mark.asyncio


async def test_put(queue, event_loop):
    await queue.put(1)
    assert event_loop is asyncio.get_running_loop()


@pytest.mark.asyncio
async def test_get(queue):
    await queue.put(2)
    assert await queue.get() in (1, 2)


async def test_time(loop_time, event_loop):
    assert event_loop.time() >= loop_time


class TestGroup:
    @pytest.mark.asyncio()
    async def test_sleep(self):
        await asyncio.sleep(0)

    def test_sync(self):
        assert True
"""

SUITE = {
    "pyproject.toml": (
        '[project]\nname = "app"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    ),
    "requirements-test.txt": "pytest>=8\npytest-asyncio==0.21.2\n",
    "tests/conftest.py": CONFTEST,
    "tests/test_app.py": TEST_APP,
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MIGRATE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def read(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        # (pytest's runs write bytecode beside the tests unless PYTHONDONTWRITEBYTECODE is set)
        if path.is_file() and ".git" not in path.parts and "__pycache__" not in path.parts
    }


@pytest.mark.slow
def test_a_migrated_suite_passes_on_the_own_runner_with_the_same_tests(tmp_path: Path) -> None:
    # (The suite before migration imports pytest_asyncio, as a 0.21 suite does.)
    pytest.importorskip("pytest_asyncio", reason="the unmigrated suite imports pytest-asyncio")
    write(tmp_path, SUITE)
    collected = pytest_run(tmp_path, "--collect-only")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "5 tests collected" in collected.stdout
    before = pytest_run(tmp_path)
    assert before.returncode == 1, "the 0.21 suite must fail on the own runner before migrating"
    assert "uses the event_loop fixture" in before.stdout

    result = run(tmp_path, "--write", "tests")
    assert result.returncode == 1, result.stderr  # the requirements line is left for a person
    assert result.stderr == ""
    assert result.stdout == (
        "Made 11 changes in 2 files:\n"
        "     2  @pytest_asyncio.fixture -> @pytest.fixture\n"
        "     3  @pytest.mark.asyncio / pytestmark removed\n"
        "     3  event_loop parameter removed (its uses -> asyncio.get_running_loop())\n"
        "     1  event_loop fixture override removed\n"
        "     2  import added or removed\n"
        "Needs a person (1):\n"
        "requirements-test.txt:2: pytest-asyncio is no longer needed with --target loopwarden; "
        "remove it (or keep it and run with -p no:asyncio)\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
        + OWN_RUNNER_NEXT
    )
    files = read(tmp_path)
    assert not any("pytest_asyncio" in text for text in files.values())
    after = pytest_run(tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "5 passed" in after.stdout
    # A second run has nothing left to change.
    again = run(tmp_path, "tests")
    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr.startswith("No changes to make.\nNeeds a person (1):\n")


@pytest.mark.slow
def test_target_pytest_asyncio_writes_the_removed_loops_scope_into_the_configuration(
    tmp_path: Path,
) -> None:
    """pytest-asyncio 1.0 removed the event_loop fixture; a 0.21 suite's session loop becomes
    asyncio_default_*_loop_scope = session, written into its pytest configuration (the format
    kept), and the migrated suite passes under pytest-asyncio."""
    pytest.importorskip("pytest_asyncio", reason="the migrated suite runs on pytest-asyncio")
    write(tmp_path, SUITE)
    result = run(tmp_path, "--target", "pytest-asyncio", "--write", "tests")
    assert (result.returncode, result.stderr) == (0, ""), result.stdout
    assert result.stdout.splitlines()[:5] == [
        "Made 7 changes in 3 files:",
        "     3  event_loop parameter removed (its uses -> asyncio.get_running_loop())",
        "     1  event_loop fixture override removed",
        "     1  import added or removed",
        "     2  pytest configuration key set (the removed event_loop fixture's scope)",
    ]
    assert (tmp_path / "pyproject.toml").read_text(encoding="utf-8") == (
        '[project]\nname = "app"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
        'asyncio_default_fixture_loop_scope = "session"\n'
        'asyncio_default_test_loop_scope = "session"\n'
    )
    after = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert after.returncode == 0, after.stdout + after.stderr
    assert "5 passed" in after.stdout


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        (
            "pytest.ini",
            "[pytest]\n# why: the suite's own settings\naddopts = -ra  ; inline\n\n",
            "[pytest]\n# why: the suite's own settings\naddopts = -ra  ; inline\n"
            "asyncio_default_fixture_loop_scope = session\n"
            "asyncio_default_test_loop_scope = session\n\n",
        ),
        (
            "setup.cfg",
            "[metadata]\nname = app\n\n[tool:pytest]\naddopts =\n    -ra\n\n[flake8]\nx = 1\n",
            "[metadata]\nname = app\n\n[tool:pytest]\naddopts =\n    -ra\n"
            "asyncio_default_fixture_loop_scope = session\n"
            "asyncio_default_test_loop_scope = session\n\n[flake8]\nx = 1\n",
        ),
    ],
)
def test_ini_files_keep_their_comments_and_layout(
    tmp_path: Path, name: str, before: str, after: str
) -> None:
    write(tmp_path, {name: before, "tests/conftest.py": CONFTEST})
    shown = run(tmp_path, "--target", "pytest-asyncio", "tests")
    assert f"--- a/{name}\n+++ b/{name}\n" in shown.stdout
    assert (tmp_path / name).read_text(encoding="utf-8") == before  # (diff mode writes nothing)
    result = run(tmp_path, "--target", "pytest-asyncio", "--write", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / name).read_text(encoding="utf-8") == after


def test_target_pytest_asyncio_sets_the_fixture_loop_scope_that_newer_versions_warn_about(
    tmp_path: Path,
) -> None:
    # pytest-asyncio 0.24+ warns on every run while asyncio_default_fixture_loop_scope is unset;
    # under filterwarnings = error (aiorwlock's) the run ends in INTERNALERROR before any test.
    write(
        tmp_path,
        {
            "setup.cfg": "[tool:pytest]\nfilterwarnings = error\n",
            "tests/test_a.py": "import pytest\n\n@pytest.mark.asyncio\nasync def test_a():\n"
            "    pass\n",
        },
    )
    result = run(tmp_path, "--target", "pytest-asyncio", "--write", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "setup.cfg").read_text(encoding="utf-8") == (
        "[tool:pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    assert (
        "setup.cfg: asyncio_default_fixture_loop_scope = function written: pytest-asyncio 0.24 "
        "and later warn on every run while it is unset (an error under filterwarnings = error), "
        "and function is what pytest-asyncio 0.21 did"
    ) in result.stdout.splitlines()
    # --target loopwarden leaves it: the own runner does not warn.
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\nfilterwarnings = error\n")
    assert run(tmp_path, "--write", "tests").returncode == 0
    assert "loop_scope" not in (tmp_path / "setup.cfg").read_text(encoding="utf-8")


def test_without_a_pytest_configuration_the_keys_are_a_place_for_a_person(tmp_path: Path) -> None:
    write(tmp_path, {"tests/conftest.py": CONFTEST})
    result = run(tmp_path, "--target", "pytest-asyncio", "--write", "tests")
    assert result.returncode == 1
    assert (
        "tests/conftest.py: no pytest configuration file applies here, so "
        "asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope = "
        "session was not written: add them to the [pytest] section of the suite's pytest.ini "
        "(or [tool.pytest.ini_options] of pyproject.toml)"
    ) in result.stdout.splitlines()


def test_diff_mode_prints_the_patch_and_the_summary_and_writes_nothing(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n',
        "tests/test_a.py": (
            "import pytest\n\n\n"
            "@pytest.mark.asyncio\nasync def test_a(event_loop):\n    assert event_loop\n"
        ),
        "tests/test_b.py": "def test_b():\n    assert True\n",
    }
    write(tmp_path, files)
    result = run(tmp_path, "tests")
    assert result.stdout == (
        "--- a/tests/test_a.py\n"
        "+++ b/tests/test_a.py\n"
        "@@ -1,6 +1,5 @@\n"
        "-import pytest\n"
        "+import asyncio\n"
        " \n"
        " \n"
        "-@pytest.mark.asyncio\n"
        "-async def test_a(event_loop):\n"
        "-    assert event_loop\n"
        "+async def test_a():\n"
        "+    assert asyncio.get_running_loop()\n"
    )
    assert result.stderr == (
        "Would make 4 changes in 1 file (the diff above; --write applies it):\n"
        "     1  @pytest.mark.asyncio / pytestmark removed\n"
        "     1  event_loop parameter removed (its uses -> asyncio.get_running_loop())\n"
        "     2  import added or removed\n"
        "Notes (1):\n"
        "pyproject.toml:2: asyncio_mode = auto: loopwarden's own runner reads it when "
        "loopwarden_mode is unset, so it can stay; delete it or write loopwarden_mode instead "
        "once pytest-asyncio is gone\n"
        "Nothing is left for a person.\n"
    )
    assert result.returncode == 0
    assert read(tmp_path) == files


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_printed_diff_applies_with_git_apply_to_what_write_writes(tmp_path: Path) -> None:
    write(tmp_path / "a", SUITE)
    write(tmp_path / "b", SUITE)
    patch = run(tmp_path / "a", "tests").stdout
    assert patch.startswith("--- a/tests/conftest.py\n")
    applied = subprocess.run(
        ["git", "apply", "-"], input=patch, cwd=tmp_path / "a", text=True,
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    run(tmp_path / "b", "--write", "tests")
    assert read(tmp_path / "a") == read(tmp_path / "b") != SUITE


def test_usage_errors_exit_2_with_the_fix(tmp_path: Path) -> None:
    missing = run(tmp_path, "nope/")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == (
        "loopwarden migrate: error: no such file or folder: nope/; name the folder of the test "
        "suite (loopwarden migrate tests/) or files in it\n"
    )
    write(tmp_path, {"README.md": "x\n"})
    other = run(tmp_path, "README.md")
    assert (other.returncode, other.stderr) == (
        2,
        "loopwarden migrate: error: not a Python file, a pytest configuration file or a "
        "requirements file: README.md; name .py files or folders\n",
    )
    force = run(tmp_path, "--force")
    assert (force.returncode, force.stderr) == (
        2,
        "loopwarden migrate: error: --force only makes sense with --write (without it, nothing "
        "is written)\n",
    )


def test_a_file_that_does_not_parse_is_reported_and_left_alone(tmp_path: Path) -> None:
    broken = "import pytest_asyncio\n\n\ndef test_a(:\n    pass\n"
    write(tmp_path, {"pytest.ini": "[pytest]\n", "tests/test_broken.py": broken})
    result = run(tmp_path, "--write", "tests")
    assert result.returncode == 1
    assert result.stdout == (
        "No changes to make.\n"
        "Needs a person (1):\n"
        "tests/test_broken.py: not Python 3 we can parse: invalid syntax at line 4; left alone\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
    )
    assert (tmp_path / "tests" / "test_broken.py").read_text(encoding="utf-8") == broken


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c",
         "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_write_refuses_in_a_dirty_git_work_tree_unless_forced(tmp_path: Path) -> None:
    write(tmp_path, SUITE)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "suite")
    (tmp_path / "tests" / "test_app.py").write_text(TEST_APP + "\n# wip\n", encoding="utf-8")
    before = read(tmp_path)

    refused = run(tmp_path, "--write", "tests")
    assert (refused.returncode, refused.stdout) == (2, "")
    top = os.path.realpath(tmp_path)
    assert refused.stderr == (
        f"loopwarden migrate: error: --write refuses to run: the git work tree {top} has "
        "uncommitted changes (tests/test_app.py); commit or stash them first, so that `git diff` "
        "shows exactly what migrate changed and `git checkout` takes it back, or run again with "
        "--force\n"
    )
    assert read(tmp_path) == before
    # Diff mode never writes, so it does not mind.
    assert run(tmp_path, "tests").stdout.startswith("--- a/tests/conftest.py")

    forced = run(tmp_path, "--write", "--force", "tests")
    assert forced.returncode == 1, forced.stderr
    assert forced.stdout.startswith("Made 11 changes in 2 files:\n")
    assert "pytest_asyncio" not in read(tmp_path)["tests/conftest.py"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_write_runs_in_a_clean_git_work_tree_and_outside_git(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    write(clean, SUITE)
    _git(clean, "init", "-q")
    _git(clean, "add", "-A")
    _git(clean, "commit", "-q", "-m", "suite")
    # A changed file of another kind (docs) does not count.
    (clean / "README.md").write_text("notes\n", encoding="utf-8")
    assert run(clean, "--write", "tests").stdout.startswith("Made 11 changes in 2 files:\n")
    outside = tmp_path / "outside"
    write(outside, SUITE)
    assert run(outside, "--write", "tests").stdout.startswith("Made 11 changes in 2 files:\n")


@pytest.mark.slow
def test_many_files_in_worker_processes_give_the_same_result(tmp_path: Path) -> None:
    files = {"pytest.ini": "[pytest]\n"}
    for i in range(70):
        files[f"tests/test_{i}.py"] = TEST_APP.replace("test_", f"test_{i}_")
    files["tests/conftest.py"] = CONFTEST
    write(tmp_path, files)
    serial = run(tmp_path, "-j", "1", "tests")
    parallel = run(tmp_path, "-j", "2", "tests")
    assert serial.returncode == parallel.returncode == 0
    assert serial.stdout == parallel.stdout
    assert serial.stderr == parallel.stderr
    # 70 modules of 6 changes (3 markers, 2 parameters, an import), and the conftest's 5.
    assert serial.stderr.startswith("Would make 425 changes in 71 files")


def test_each_file_follows_its_own_pytest_configuration(tmp_path: Path) -> None:
    marked = "import pytest\n\n\n@pytest.mark.asyncio\nasync def test_a():\n    pass\n"
    write(
        tmp_path,
        {
            "pyproject.toml": "[project]\nname = 'x'\n",
            "auto/pytest.ini": "[pytest]\n",
            "auto/test_a.py": marked,
            "strict/pytest.ini": "[pytest]\nasyncio_mode = strict\n",
            "strict/test_s.py": marked,
        },
    )
    result = run(tmp_path, ".")
    assert result.stdout == (
        "--- a/auto/test_a.py\n"
        "+++ b/auto/test_a.py\n"
        "@@ -1,6 +1,2 @@\n"
        "-import pytest\n"
        "-\n"
        "-\n"
        "-@pytest.mark.asyncio\n"
        " async def test_a():\n"
        "     pass\n"
    )
    assert result.stderr == (
        "Would make 2 changes in 1 file (the diff above; --write applies it):\n"
        "     1  @pytest.mark.asyncio / pytestmark removed\n"
        "     1  import added or removed\n"
        "Needs a person (1):\n"
        "strict/pytest.ini:2: asyncio_mode = strict: loopwarden's own runner honours it and runs "
        "only tests marked @pytest.mark.asyncio, so migrate kept those markers; delete the key "
        "(loopwarden's default is auto: every async test runs) and run loopwarden migrate again "
        "to drop them\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
    )
    assert result.returncode == 1


@pytest.mark.slow
def test_tests_are_what_the_configured_python_classes_collect(tmp_path: Path) -> None:
    # mode-streaming 0.3.5: `python_classes = test_*` in setup.cfg, and event_loop in its methods.
    write(
        tmp_path,
        {
            "setup.cfg": "[tool:pytest]\npython_classes =\n    test_*\n    Test\n",
            "tests/test_thread.py": """\
                class test_ServiceThread:
                    async def test_start(self, event_loop):
                        assert event_loop.is_running()


                def helper(event_loop):
                    return event_loop
                """,
        },
    )
    result = run(tmp_path, "--write", "tests")
    assert result.stdout == (
        "Made 2 changes in 1 file:\n"
        "     1  event_loop parameter removed (its uses -> asyncio.get_running_loop())\n"
        "     1  import added or removed\n"
        "Notes (1):\n"
        "tests/test_thread.py:6: helper takes event_loop but is not a test (its name does not "
        "match python_functions (test)) nor a fixture; left as it is, as its callers pass the "
        "loop. If pytest does collect it as a test, make it `async def` and use "
        "asyncio.get_running_loop() instead\n"
        "Nothing is left for a person.\n" + OWN_RUNNER_NEXT
    )
    assert (result.returncode, result.stderr) == (0, "")
    after = pytest_run(tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "1 passed" in after.stdout


def test_a_conftest_above_the_paths_given_migrates_with_them(tmp_path: Path) -> None:
    # mode-streaming 0.3.5 runs `t/unit t/functional`; its `loop` fixture is in t/conftest.py.
    write(
        tmp_path,
        {
            "setup.cfg": "[tool:pytest]\n",
            "conftest.py": "",
            "t/conftest.py": """\
                import pytest


                @pytest.fixture()
                def loop(event_loop):
                    return event_loop
                """,
            "t/unit/test_a.py": "async def test_a(loop):\n    assert loop.is_running()\n",
            "other/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef o(event_loop): ...\n",
        },
    )
    result = run(tmp_path, "t/unit")
    assert result.stdout == (
        "--- a/t/conftest.py\n"
        "+++ b/t/conftest.py\n"
        "@@ -1,6 +1,8 @@\n"
        "+import asyncio\n"
        "+\n"
        " import pytest\n"
        " \n"
        " \n"
        " @pytest.fixture()\n"
        "-def loop(event_loop):\n"
        "-    return event_loop\n"
        "+async def loop():\n"
        "+    return asyncio.get_running_loop()\n"
    )
    assert result.stderr == (
        "Would make 2 changes in 1 file (the diff above; --write applies it):\n"
        "     1  sync fixture that hands out event_loop -> async def\n"
        "     1  import added or removed\n"
        "Notes (1):\n"
        "t/conftest.py: changed too, though outside the paths given: pytest loads this "
        "conftest.py for the tests there, and its fixtures migrate with them\n"
        "Nothing is left for a person.\n"
    )
    assert result.returncode == 0


@pytest.mark.slow
def test_sync_fixtures_and_tests_that_drive_the_loop_run_as_async_after_migrating(
    tmp_path: Path,
) -> None:
    # aiosmtplib 2.0.2's shape: a server started with run_until_complete and closed in a
    # request.addfinalizer callback; a sync test awaiting through run_until_complete.
    write(
        tmp_path,
        {
            "pytest.ini": "[pytest]\n",
            "tests/conftest.py": """\
                import asyncio

                import pytest


                async def echo(reader, writer):
                    writer.write(await reader.readline())
                    await writer.drain()
                    writer.close()
                    await writer.wait_closed()


                @pytest.fixture
                def server(request, event_loop) -> asyncio.AbstractServer:
                    start = asyncio.start_server(echo, "127.0.0.1", 0)
                    server = event_loop.run_until_complete(start)

                    def close() -> None:
                        server.close()
                        event_loop.run_until_complete(server.wait_closed())

                    request.addfinalizer(close)
                    return server
                """,
            "tests/test_echo.py": """\
                import asyncio


                async def ask(port):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(b"hi\\n")
                    answer = await reader.readline()
                    writer.close()
                    await writer.wait_closed()
                    return answer


                def test_echo(event_loop, server):
                    port = server.sockets[0].getsockname()[1]
                    assert event_loop.run_until_complete(ask(port)) == b"hi\\n"
                """,
        },
    )
    result = run(tmp_path, "--write", "tests")
    assert result.stdout == (
        "Made 3 changes in 2 files:\n"
        "     2  sync test or fixture driving event_loop.run_until_complete -> async def\n"
        "     1  import added or removed\n"
        "Nothing is left for a person.\n" + OWN_RUNNER_NEXT
    )
    assert (result.returncode, result.stderr) == (0, "")
    after = pytest_run(tmp_path, "-W", "error")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "1 passed" in after.stdout


@pytest.mark.slow
def test_sync_tests_keep_the_projects_own_event_loop_fixture_and_the_rest_runs_on_the_runner(
    tmp_path: Path,
) -> None:
    # aiosmtplib 1.1.7's shape: an event_loop fixture with more than the recipe (its exception
    # handler), which stays; a sync fixture that asks for it only to have a current loop when
    # its client looks the loop up; sync tests of the client's sync API, which drives the loop.
    write(
        tmp_path,
        {
            "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
            "tests/conftest.py": """\
                import asyncio

                import pytest


                class Client:
                    def __init__(self):
                        self.loop = asyncio.get_event_loop()

                    async def ping(self):
                        assert asyncio.get_running_loop() is self.loop
                        return "pong"

                    def ping_sync(self):
                        return asyncio.get_event_loop().run_until_complete(self.ping())


                @pytest.fixture
                def event_loop(request):
                    loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(loop)
                    loop.set_exception_handler(
                        lambda loop, context: request.node.warn(
                            pytest.PytestWarning(context["message"])
                        )
                    )
                    yield loop
                    loop.close()
                    asyncio.set_event_loop(None)


                @pytest.fixture
                def client(event_loop):
                    return Client()
                """,
            "tests/test_client.py": """\
                import asyncio

                import pytest


                async def test_ping(client):
                    assert await client.ping() == "pong"


                def test_ping_sync(event_loop, client):
                    assert client.ping_sync() == "pong"


                def test_ping_driven(event_loop, client):
                    assert event_loop.run_until_complete(client.ping()) == "pong"
                    assert client.ping_sync() == "pong"


                def test_no_running_loop(event_loop):
                    with pytest.raises(RuntimeError):
                        asyncio.get_running_loop()
                """,
        },
    )
    result = run(tmp_path, "--write", "tests")
    assert result.stdout == (
        "Made 1 change in 1 file:\n"
        "     1  event_loop parameter removed from a sync fixture that never reads it (the "
        "runner's loop is current while an async test's fixtures are set up)\n"
        "Needs a person (1):\n"
        "tests/conftest.py:19: event_loop fixture does more than make, yield and close a loop (a "
        "custom policy, uvloop, extra setup), so it was left as is: loopwarden's runner runs "
        "async tests on its own loops, never on this one, so the async tests and fixtures that "
        "asked for it now call asyncio.get_running_loop(), and sync tests keep it as a plain "
        "fixture. Move any setup it does for async tests into a fixture of their own; choose "
        "other loops (uvloop) with an event_loop_policy fixture or the "
        "pytest_asyncio_loop_factories hook, which loopwarden's runner honours (their loops run "
        "unguarded)\n"
        "Notes (5):\n"
        "pytest.ini:2: asyncio_mode = auto: loopwarden's own runner reads it when loopwarden_mode "
        "is unset, so it can stay; delete it or write loopwarden_mode instead once "
        "pytest-asyncio is gone\n"
        "tests/conftest.py:33: client asked for event_loop without reading it: the parameter is "
        "removed, so client no longer sets up the project's event_loop fixture "
        "(tests/conftest.py:19) for the tests that use it; a sync test that needs what that "
        "fixture sets up (a current loop, an exception handler) should ask for it itself\n"
        "tests/test_client.py:10: test_ping_sync is a sync test that uses the project's "
        "event_loop fixture (tests/conftest.py:19), which stays: left as it is\n"
        "tests/test_client.py:14: test_ping_driven is a sync test that uses the project's "
        "event_loop fixture (tests/conftest.py:19), which stays: left as it is\n"
        "tests/test_client.py:19: test_no_running_loop is a sync test that uses the project's "
        "event_loop fixture (tests/conftest.py:19), which stays: left as it is\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
        + OWN_RUNNER_NEXT
    )
    assert "def client():\n" in (tmp_path / "tests/conftest.py").read_text()
    after = pytest_run(tmp_path, "-W", "error")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "4 passed" in after.stdout


def test_lint_fixes_for_what_a_0_21_suite_meets_are_applied_by_lints_engine(
    tmp_path: Path,
) -> None:
    # httpx 0.28 removed AsyncClient(app=...): LW110's fix, in a file migrate changes too and in
    # one it has nothing else to do in.
    write(
        tmp_path,
        {
            "pytest.ini": "[pytest]\n",
            "test_api.py": """\
                import httpx
                import pytest


                @pytest.mark.asyncio
                async def test_root(app):
                    async with httpx.AsyncClient(app=app) as client:
                        assert client
                """,
            "test_other.py": """\
                import httpx


                async def test_other(app):
                    async with httpx.AsyncClient(app=app, base_url="http://t") as client:
                        assert client
                """,
            "test_plain.py": "import httpx\n\n\ndef test_plain():\n    httpx.Client()\n",
        },
    )
    result = run(tmp_path, ".")
    assert result.stdout == (
        "--- a/test_api.py\n"
        "+++ b/test_api.py\n"
        "@@ -1,8 +1,6 @@\n"
        " import httpx\n"
        "-import pytest\n"
        " \n"
        " \n"
        "-@pytest.mark.asyncio\n"
        " async def test_root(app):\n"
        "-    async with httpx.AsyncClient(app=app) as client:\n"
        "+    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:\n"
        "         assert client\n"
        "--- a/test_other.py\n"
        "+++ b/test_other.py\n"
        "@@ -2,5 +2,5 @@\n"
        " \n"
        " \n"
        " async def test_other(app):\n"
        '-    async with httpx.AsyncClient(app=app, base_url="http://t") as client:\n'
        '+    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:\n'  # noqa: E501
        "         assert client\n"
    )
    assert result.stderr == (
        "Would make 4 changes in 2 files (the diff above; --write applies it):\n"
        "     1  @pytest.mark.asyncio / pytestmark removed\n"
        "     1  import added or removed\n"
        "     2  httpx client app= -> transport=ASGITransport(app=...) (lint's LW110 fix)\n"
        "Nothing is left for a person.\n"
    )
    assert result.returncode == 0


def test_an_override_in_a_conftest_above_the_paths_stays_for_the_tests_outside(
    tmp_path: Path,
) -> None:
    # `migrate tests/unit` reads tests/conftest.py, but not tests/other/, which may still use its
    # override; and no conftest.py above pytest's rootdir (the configuration's folder) is read.
    write(
        tmp_path,
        {
            "conftest.py": "import pytest\n\n\n@pytest.fixture\ndef above(event_loop): ...\n",
            "proj/pytest.ini": "[pytest]\n",
            "proj/tests/conftest.py": """\
                import asyncio

                import pytest


                @pytest.fixture(scope="session")
                def event_loop():
                    loop = asyncio.new_event_loop()
                    yield loop
                    loop.close()
                """,
            "proj/tests/unit/test_a.py": "async def test_a(event_loop):\n    pass\n",
            "proj/tests/other/test_b.py": "def test_b(event_loop):\n    event_loop.stop()\n",
        },
    )
    result = run(tmp_path / "proj", "tests/unit")
    assert result.stdout.startswith("--- a/tests/unit/test_a.py\n")
    assert "conftest" not in result.stdout
    assert result.stderr.endswith(
        "Needs a person (1):\n"
        "tests/conftest.py:7: event_loop fixture kept, since something still asks for it: the "
        "tests of its folder outside the paths given, which this run did not read (run "
        "loopwarden migrate on the whole folder); delete it once nothing does (see those "
        "entries)\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
    )


LINT_RULES_SUITE = {
    "test_api.py": """\
        import asyncio

        import httpx


        async def test_root(app, monkeypatch):
            monkeypatch.setattr(asyncio, "sleep", None)
            async with httpx.AsyncClient(app=app) as client:
                assert client
        """,
}
LW110_DIFF = (
    "--- a/test_api.py\n"
    "+++ b/test_api.py\n"
    "@@ -5,5 +5,5 @@\n"
    " \n"
    " async def test_root(app, monkeypatch):\n"
    '     monkeypatch.setattr(asyncio, "sleep", None)\n'
    "-    async with httpx.AsyncClient(app=app) as client:\n"
    "+    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:\n"
    "         assert client\n"
)
LW110_SUMMARY = (
    "Would make 1 change in 1 file (the diff above; --write applies it):\n"
    "     1  httpx client app= -> transport=ASGITransport(app=...) (lint's LW110 fix)\n"
)
LW103_REPORT = (
    "Needs a person (1):\n"
    "test_api.py:7: patching `asyncio.sleep` replaces it for every caller (asyncio itself, "
    "libraries, the code under test); not rewritten, even with --unsafe-fixes: the replacement "
    "None may do more than return at once; use loopwarden's virtual time, where sleeps end at "
    "once on the loop's clock: delete the patch and mark the test "
    "@pytest.mark.loopwarden(virtual_time=True)\n"
    "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
)


@pytest.mark.parametrize(
    "lint_table",
    [
        "",  # lint's defaults, where LW103 is opt-in
        'select = ["LW112"]\n',  # what `loopwarden lint` checks on every run
    ],
    ids=["default", "select"],
)
def test_lint_rules_migrate_applies_whatever_lint_selects(tmp_path: Path, lint_table: str) -> None:
    """Lint's LW103 (a patched sleep, reported) and LW110 (httpx's app=, fixed) are part of the
    migration: the lint selection, default or configured, does not turn them off."""
    pyproject = "[tool.pytest.ini_options]\n\n[tool.loopwarden.lint]\n" + lint_table
    write(tmp_path, {"pyproject.toml": pyproject, **LINT_RULES_SUITE})
    result = run(tmp_path, ".")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        LW110_DIFF,
        LW110_SUMMARY + LW103_REPORT,
    )


def test_lint_rules_the_project_ignores_are_not_applied_by_migrate(tmp_path: Path) -> None:
    pyproject = '[tool.pytest.ini_options]\n\n[tool.loopwarden.lint]\nignore = ["LW103"]\n'
    write(tmp_path, {"pyproject.toml": pyproject, **LINT_RULES_SUITE})
    result = run(tmp_path, ".")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        LW110_DIFF,
        LW110_SUMMARY + "Nothing is left for a person.\n",
    )
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.pytest.ini_options]\n\n[tool.loopwarden.lint]\n"
            'ignore = ["LW110", "LW103"]\n'
        },
    )
    result = run(tmp_path, ".")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "",
        "No changes to make.\nNothing is left for a person.\n",
    )


def test_strict_mode_from_loopwarden_mode_keeps_the_markers_and_says_so(tmp_path: Path) -> None:
    marked = "import pytest\n\n\n@pytest.mark.asyncio\nasync def test_a():\n    pass\n"
    write(tmp_path, {"pytest.ini": "[pytest]\nloopwarden_mode = strict\n", "test_a.py": marked})
    result = run(tmp_path, ".")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "No changes to make.\n"
        "Needs a person (1):\n"
        "pytest.ini: loopwarden's own runner would run in strict mode here (loopwarden_mode or "
        "asyncio_mode is strict), so the @pytest.mark.asyncio markers were kept; set "
        "loopwarden_mode = auto (the default) and run loopwarden migrate again to drop them\n"
        "1 place needs a person (listed above); fix them and run loopwarden migrate again.\n"
    )


def test_what_lint_excludes_migrate_leaves_alone(tmp_path: Path) -> None:
    """A vendored or legacy folder a project keeps out of ``loopwarden lint`` (its ``exclude``,
    or ``--exclude``) was migrated anyway; migrate honours both."""
    fixture = (
        "import pytest_asyncio\n\n\n@pytest_asyncio.fixture\nasync def thing():\n    return 1\n"
    )
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.loopwarden.lint]\nexclude = ["vendored"]\n',
            "tests/test_mine.py": fixture,
            "tests/vendored/test_theirs.py": fixture,
            "tests/legacy/test_old.py": fixture,
        },
    )
    result = run(tmp_path, "tests", "--exclude", "legacy")
    changed = sorted(line for line in result.stdout.splitlines() if line.startswith("+++ "))
    assert changed == ["+++ b/tests/test_mine.py"], result.stdout + result.stderr
    write(tmp_path, {"pyproject.toml": '[tool.loopwarden.lint]\nexclud = ["vendored"]\n'})
    broken = run(tmp_path, "tests")
    assert (broken.returncode, broken.stdout) == (2, "")
    assert broken.stderr.startswith("loopwarden migrate: error: ")
    assert broken.stderr.endswith(" (migrate reads `exclude` and `ignore` from there)\n")
