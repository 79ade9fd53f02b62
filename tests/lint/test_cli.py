"""``loopwarden lint`` end to end, in a subprocess: exit codes, formats, fixes, configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loopwarden.lint.rules import RULES

from ._helpers import REPO


def _cli_wires_lint() -> bool:
    from loopwarden._cli import _main

    try:
        _main._parser().parse_args(["lint", "--list-rules"])
    except SystemExit:
        return False
    return True


WIRED = _cli_wires_lint()
# `python -m loopwarden._cli lint` is the interface; until the CLI wires the sub-command, the same
# code runs through `python -m loopwarden.lint` so everything below still tests it.
LINT = [sys.executable, "-m", "loopwarden._cli", "lint"] if WIRED else [
    sys.executable, "-m", "loopwarden.lint"
]  # fmt: skip

BLOCKING = """\
import asyncio
import time


async def test_fetch():
    time.sleep(0.1)
    asyncio.create_task(work())


async def work():
    pass
"""
# BLOCKING's findings are LW101's and LW107's, opt-in since the held-out precision study
# (bench/README-lint.md): the tests of reports, fixes and file discovery select them.
SELECT_BLOCKING = ("--extend-select", "LW101,LW107")


def lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.mark.skipif(not WIRED, reason="loopwarden._cli does not wire the `lint` sub-command yet")
def test_console_entry_point_runs_lint(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    result = subprocess.run(
        [sys.executable, "-m", "loopwarden._cli", "lint", "--select", "LW101"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "tests/test_a.py:6:5: LW101" in result.stdout


def test_clean_project_exits_0(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_ok.py": "async def test_ok():\n    assert True\n"})
    result = lint(tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "All checks passed.\n", "")


def test_findings_text_and_exit_1(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    result = lint(tmp_path, *SELECT_BLOCKING)
    assert result.returncode == 1
    # One line per finding, ruff-style: what and where; why and the fix are in --explain.
    assert result.stdout.splitlines() == [
        "tests/test_a.py:6:5: LW101 [*] in test_fetch: blocking call `time.sleep()` inside "
        "`async def test_fetch` stops the event loop until it returns",
        "tests/test_a.py:7:5: LW107 in test_fetch: the task from `asyncio.create_task()` is "
        "dropped",
        "Found 2 findings. 1 fixable with `loopwarden lint --fix`. Why, and how to fix: "
        "`loopwarden lint --explain CODE`.",
    ]


def test_show_fixes_names_each_fix_and_what_was_fixed(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    result = lint(tmp_path, *SELECT_BLOCKING, "--show-fixes")
    assert result.stdout.splitlines()[:3] == [
        "tests/test_a.py:6:5: LW101 [*] in test_fetch: blocking call `time.sleep()` inside "
        "`async def test_fetch` stops the event loop until it returns",
        "    fix (safe): replace with `await asyncio.sleep(...)`",
        "tests/test_a.py:7:5: LW107 in test_fetch: the task from `asyncio.create_task()` is "
        "dropped",
    ]
    fixed = lint(tmp_path, *SELECT_BLOCKING, "--fix", "--show-fixes")
    assert fixed.stdout.splitlines() == [
        "fixed tests/test_a.py:6:5: LW101 blocking call `time.sleep()` inside `async def "
        "test_fetch` stops the event loop until it returns",
        "tests/test_a.py:7:5: LW107 in test_fetch: the task from `asyncio.create_task()` is "
        "dropped",
        "Fixed 1 finding. Found 1 finding. Why, and how to fix: `loopwarden lint --explain CODE`.",
    ]


@pytest.mark.parametrize("name", ["LW102", "lw102", "sleep-as-barrier"])
def test_explain_prints_the_rules_page(tmp_path: Path, name: str) -> None:
    result = lint(tmp_path, "--explain", name)
    assert result.returncode == 0, result.stderr
    page = (REPO / "docs/reference/rules/LW102.md").read_text(encoding="utf-8")
    assert result.stdout == page
    assert "## Why is this bad?" in result.stdout


def test_explain_an_unknown_rule_says_how_to_name_one(tmp_path: Path) -> None:
    result = lint(tmp_path, "--explain", "LW999")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "loopwarden lint: error: --explain: no rule 'LW999'; give a code (LW102) or a name "
        "(sleep-as-barrier): `loopwarden lint --list-rules` lists them\n"
    )


def test_the_wheel_carries_the_pages_explain_reads() -> None:
    # A checkout reads docs/reference/rules; a wheel carries them where _explain looks first.
    import tomllib

    from loopwarden.lint import _explain

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    included = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    packaged = Path(included["docs/reference/rules"])
    assert _explain._PAGES[0] == REPO / "src" / packaged
    assert _explain._PAGES[1] == REPO / "docs" / "reference" / "rules"


def test_json_schema(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    result = lint(tmp_path, *SELECT_BLOCKING, "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [list(item) for item in data] == [
        ["path", "line", "col", "end_line", "end_col", "code", "message", "explanation",
         "fix_available", "context", "fix"]
    ] * 2  # fmt: skip
    first = data[0]
    assert {k: first[k] for k in ("path", "line", "col", "end_line", "end_col", "code")} == {
        "path": "tests/test_a.py", "line": 6, "col": 5, "end_line": 6, "end_col": 20,
        "code": "LW101",
    }  # fmt: skip
    assert first["message"] == (
        "blocking call `time.sleep()` inside `async def test_fetch` stops the event loop until it "
        "returns"
    )
    assert first["explanation"] == (
        "blocking call `time.sleep()` inside `async def test_fetch` stops the event loop until it "
        "returns: every other task, timeout and I/O callback waits; use "
        "`await asyncio.sleep(...)`"
    )
    assert first["fix_available"] is True
    assert first["fix"] == {
        "safety": "safe",
        "description": "replace with `await asyncio.sleep(...)`",
    }
    assert data[1]["code"] == "LW107" and data[1]["fix"] is None


def test_sarif_and_github_formats(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    sarif = json.loads(lint(tmp_path, *SELECT_BLOCKING, "--format", "sarif").stdout)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)
    # Which rules run by default, as SARIF says it (LW101 is opt-in, LW116 and LW000 are not).
    configured = {r["id"]: r["defaultConfiguration"] for r in run["tool"]["driver"]["rules"]}
    assert configured["LW101"] == {"enabled": False, "level": "warning"}
    assert configured["LW116"] == {"enabled": True, "level": "warning"}
    assert configured["LW000"] == {"enabled": True, "level": "error"}
    # This run selected LW101 and LW107 (opt-in), whose results follow: the run says they
    # were on.
    [invocation] = run["invocations"]
    assert invocation["ruleConfigurationOverrides"] == [
        {
            "descriptor": {"id": code, "index": list(RULES).index(code)},
            "configuration": {"enabled": True},
        }
        for code in ("LW101", "LW107")
    ]
    result = run["results"][0]
    assert result["ruleId"] == "LW101"
    assert result["message"]["text"].endswith("stops the event loop until it returns")
    assert result["properties"]["explanation"].endswith("use `await asyncio.sleep(...)`")
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 6, "startColumn": 5, "endLine": 6, "endColumn": 20}
    github = lint(tmp_path, *SELECT_BLOCKING, "--format", "github").stdout.splitlines()
    assert github[0].startswith(
        "::warning file=tests/test_a.py,line=6,col=5,endLine=6,endColumn=20,title=LW101::LW101 "
    )


def test_fix_writes_safe_fixes_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tests/test_a.py": """\
            import asyncio
            import time


            async def test_fetch(service):
                time.sleep(0.1)  # keep this comment
                await asyncio.sleep(1)
                assert service.ok
            """
        },
    )
    result = lint(tmp_path, "--fix", "--extend-select", "LW101,LW102")
    assert result.returncode == 1  # the unsafe LW102 fix was not applied
    assert (tmp_path / "tests/test_a.py").read_text() == textwrap.dedent(
        """\
        import asyncio
        import time


        async def test_fetch(service):
            await asyncio.sleep(0.1)  # keep this comment
            await asyncio.sleep(1)
            assert service.ok
        """
    )
    assert result.stdout.splitlines()[-1] == (
        "Fixed 1 finding. Found 1 finding. 1 fixable with `--fix --unsafe-fixes`. Why, and how "
        "to fix: `loopwarden lint --explain CODE`."
    )
    unsafe = lint(tmp_path, "--fix", "--unsafe-fixes", "--extend-select", "LW101,LW102")
    assert unsafe.returncode == 0, unsafe.stdout
    text = (tmp_path / "tests/test_a.py").read_text()
    assert "import loopwarden\n" in text
    assert "    await loopwarden.eventually(lambda: service.ok)\n    assert service.ok\n" in text


def test_diff_shows_and_does_not_write(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    before = (tmp_path / "tests/test_a.py").read_text()
    result = lint(tmp_path, *SELECT_BLOCKING, "--diff")
    assert result.returncode == 1
    assert result.stdout == (
        "--- a/tests/test_a.py\n"
        "+++ b/tests/test_a.py\n"
        "@@ -3,7 +3,7 @@\n"
        " \n"
        " \n"
        " async def test_fetch():\n"
        "-    time.sleep(0.1)\n"
        "+    await asyncio.sleep(0.1)\n"
        "     asyncio.create_task(work())\n"
        " \n"
        " \n"
    )
    assert result.stderr == "Would fix 1 finding in 1 file.\n"
    assert (tmp_path / "tests/test_a.py").read_text() == before
    nothing = lint(tmp_path, "--diff", "--select", "LW107")
    assert (nothing.returncode, nothing.stdout) == (0, "")


def test_syntax_error_is_reported_and_run_continues(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_bad.py": "def f(:\n", "tests/test_z.py": BLOCKING})
    result = lint(tmp_path, *SELECT_BLOCKING, "--format", "json")
    assert result.returncode == 1
    assert [(f["path"], f["code"], f["line"]) for f in json.loads(result.stdout)] == [
        (
            "tests/test_bad.py",
            "LW000",
            1,
        ),
        ("tests/test_z.py", "LW101", 6),
        ("tests/test_z.py", "LW107", 7),
    ]


def test_unknown_config_key_exits_2(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.loopwarden.lint]\nselcet = ["LW101"]\n',
            "tests/test_a.py": BLOCKING,
        },
    )
    result = lint(tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"loopwarden lint: error: {tmp_path / 'pyproject.toml'}: unknown key `selcet` in "
        "[tool.loopwarden.lint]; allowed keys: `select` (list of rule codes or prefixes (`LW1`, "
        "`ALL`)); `extend-select` (list of rule codes or prefixes added to the selection "
        "(opt-in rules)); `ignore` (list of rule codes or prefixes); `exclude` (list of glob "
        "patterns); `per-file-ignores` (table of glob pattern -> list of codes)\n"
    )


def test_unknown_code_in_config_exits_2(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.loopwarden.lint]\nignore = ["LW999"]\n'})
    result = lint(tmp_path)
    assert result.returncode == 2
    assert "unknown rule code 'LW999' in `ignore` of " in result.stderr
    assert "known codes: LW000, LW101," in result.stderr


def test_unknown_code_on_command_line_exits_2(tmp_path: Path) -> None:
    result = lint(tmp_path, "--select", "LW1,XYZ")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "loopwarden lint: error: unknown rule code 'XYZ' in --select; known codes: "
    )


def test_missing_path_exits_2(tmp_path: Path) -> None:
    result = lint(tmp_path, "nope")
    assert (result.returncode, result.stderr) == (
        2,
        "loopwarden lint: error: no such file or folder: nope\n",
    )


def test_select_ignore_and_config(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    codes = lambda r: [f["code"] for f in json.loads(r.stdout)]  # noqa: E731
    assert codes(lint(tmp_path, "--format", "json", "--select", "LW107")) == ["LW107"]
    assert codes(lint(tmp_path, "--format", "json", *SELECT_BLOCKING, "--ignore", "LW1")) == []
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.loopwarden.lint]\nextend-select = ["LW101", "LW107"]\n'
            'ignore = ["LW107"]\n'
        },
    )
    assert codes(lint(tmp_path, "--format", "json")) == ["LW101"]
    # --select replaces the configured select; the configured ignore still applies.
    assert codes(lint(tmp_path, "--format", "json", "--select", "LW1")) == ["LW101"]
    # --isolated reads neither the configured extend-select nor its ignore.
    assert codes(lint(tmp_path, "--format", "json", "--isolated")) == []
    isolated = lint(tmp_path, "--format", "json", "--isolated", *SELECT_BLOCKING)
    assert codes(isolated) == ["LW101", "LW107"]


def test_per_file_ignores_and_exclude(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": textwrap.dedent(
                """\
                [tool.loopwarden.lint]
                extend-select = ["LW101", "LW107"]
                exclude = ["tests/legacy/*"]

                [tool.loopwarden.lint.per-file-ignores]
                "tests/test_b.py" = ["LW101"]
                """
            ),
            "tests/test_a.py": BLOCKING,
            "tests/test_b.py": BLOCKING,
            "tests/legacy/test_c.py": BLOCKING,
            "tests/skipme/test_d.py": BLOCKING,
        },
    )
    result = lint(tmp_path, "--format", "json", "--exclude", "skipme")
    found = [(f["path"], f["code"]) for f in json.loads(result.stdout)]
    assert found == [
        ("tests/test_a.py", "LW101"),
        ("tests/test_a.py", "LW107"),
        ("tests/test_b.py", "LW107"),
    ]
    # A file named explicitly is checked even when excluded, unless --force-exclude.
    named = lint(tmp_path, "--format", "json", "tests/legacy/test_c.py")
    assert len(json.loads(named.stdout)) == 2
    forced = lint(tmp_path, "--format", "json", "--force-exclude", "tests/legacy/test_c.py")
    assert (forced.returncode, json.loads(forced.stdout)) == (0, [])


GITIGNORE_TREE = {
    ".gitignore": "generated/\n*_gen.py\n!keep_gen.py\n/top_only.py\n",
    "tests/test_a.py": BLOCKING,
    "generated/test_b.py": BLOCKING,
    "tests/x_gen.py": BLOCKING,
    "tests/keep_gen.py": BLOCKING,
    "top_only.py": BLOCKING,
    "tests/top_only.py": BLOCKING,
    ".venv/lib/test_e.py": BLOCKING,
}
GITIGNORE_KEPT = ["tests/keep_gen.py", "tests/test_a.py", "tests/top_only.py"]


def _paths(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted({f["path"] for f in json.loads(result.stdout)})


def test_gitignore_without_git(tmp_path: Path) -> None:
    write(tmp_path, GITIGNORE_TREE)
    assert _paths(lint(tmp_path, *SELECT_BLOCKING, "--format", "json")) == GITIGNORE_KEPT
    everything = _paths(lint(tmp_path, *SELECT_BLOCKING, "--format", "json", "--no-gitignore"))
    assert "generated/test_b.py" in everything
    assert ".venv/lib/test_e.py" not in everything  # built-in excludes still apply


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_in_git_work_tree(tmp_path: Path) -> None:
    write(tmp_path, GITIGNORE_TREE)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    assert _paths(lint(tmp_path, *SELECT_BLOCKING, "--format", "json")) == GITIGNORE_KEPT
    assert _paths(lint(tmp_path / "tests", *SELECT_BLOCKING, "--format", "json")) == [
        "keep_gen.py", "test_a.py", "top_only.py",
    ]  # fmt: skip


def test_config_files_are_checked(tmp_path: Path) -> None:
    write(tmp_path, {"pytest.ini": "[pytest]\nasyncio_mode = auto\n"})
    result = lint(tmp_path, "--format", "json")
    assert [(f["path"], f["line"], f["code"]) for f in json.loads(result.stdout)] == [
        ("pytest.ini", 2, "LW201")
    ]


def test_parallel_run_matches_serial(tmp_path: Path) -> None:
    write(tmp_path, {f"tests/test_{i:03}.py": BLOCKING for i in range(80)})
    serial = lint(tmp_path, *SELECT_BLOCKING, "--format", "json", "-j", "1")
    parallel = lint(tmp_path, *SELECT_BLOCKING, "--format", "json", "-j", "2")
    assert parallel.returncode == serial.returncode == 1
    assert json.loads(parallel.stdout) == json.loads(serial.stdout)
    assert len(json.loads(serial.stdout)) == 160


def test_parallel_fix(tmp_path: Path) -> None:
    write(tmp_path, {f"tests/test_{i:03}.py": BLOCKING for i in range(70)})
    result = lint(tmp_path, "--fix", "-j", "2", "--select", "LW101")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "Fixed 70 findings. No findings remain.\n"
    assert "await asyncio.sleep(0.1)" in (tmp_path / "tests/test_069.py").read_text()


def test_list_rules(tmp_path: Path) -> None:
    result = lint(tmp_path, "--list-rules")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(RULES)


def test_exit_zero(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_a.py": BLOCKING})
    assert lint(tmp_path, *SELECT_BLOCKING).returncode == 1
    assert lint(tmp_path, *SELECT_BLOCKING, "--exit-zero").returncode == 0


def test_add_arguments_does_not_import_libcst() -> None:
    code = (
        "import argparse, sys\n"
        "from loopwarden.lint import _command\n"
        "_command.add_arguments(argparse.ArgumentParser())\n"
        "print('libcst' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"


def test_fix_keeps_a_declared_encoding(tmp_path: Path) -> None:
    source = (
        "# -*- coding: latin-1 -*-\n"
        "import time\n"
        "async def test_caf\u00e9():\n"
        "    x = '\u00e9t\u00e9'; time.sleep(1)\n"
    )
    path = tmp_path / "tests" / "test_latin.py"
    path.parent.mkdir()
    path.write_bytes(source.encode("latin-1"))
    result = lint(tmp_path, "--fix", "--select", "LW101")
    assert result.returncode == 0, result.stdout + result.stderr
    fixed = path.read_bytes().decode("latin-1")
    assert fixed == (
        "# -*- coding: latin-1 -*-\n"
        "import asyncio\n"
        "import time\n"
        "async def test_caf\u00e9():\n"
        "    x = '\u00e9t\u00e9'; await asyncio.sleep(1)\n"
    )


def test_fix_with_a_broken_file_fixes_the_others(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_bad.py": "def f(:\n", "tests/test_z.py": BLOCKING})
    result = lint(tmp_path, *SELECT_BLOCKING, "--fix", "--format", "json")
    assert result.returncode == 1
    assert [f["code"] for f in json.loads(result.stdout)] == ["LW000", "LW107"]
    assert "await asyncio.sleep(0.1)" in (tmp_path / "tests/test_z.py").read_text()
    assert (tmp_path / "tests/test_bad.py").read_text() == "def f(:\n"


def test_github_format_escapes_properties_and_data() -> None:
    from loopwarden.lint._model import Finding
    from loopwarden.lint._report import render_github

    finding = Finding("a,b:c.py", 1, 2, 1, 5, "LW101", "50% done\nnext")
    assert render_github([finding]) == (
        "::warning file=a%2Cb%3Ac.py,line=1,col=2,endLine=1,endColumn=5,title=LW101::"
        "LW101 50%25 done%0Anext\n"
    )


def test_undecodable_file_is_lw000(tmp_path: Path) -> None:
    write(tmp_path, {"tests/test_z.py": BLOCKING})
    (tmp_path / "tests" / "test_bytes.py").write_bytes(b"x = '\xff\xfe'\n")
    result = lint(tmp_path, "--format", "json", "--select", "LW000,LW101")
    assert result.returncode == 1, result.stderr
    found = [(f["path"], f["code"], f["message"]) for f in json.loads(result.stdout)]
    assert found[0][:2] == ("tests/test_bytes.py", "LW000")
    assert found[0][2] == (
        "cannot decode this file (invalid or missing encoding declaration); it was not checked "
        "— other files were; save it as UTF-8 or declare its encoding (`# -*- coding: latin-1 -*-`)"
    )
    assert found[1][:2] == ("tests/test_z.py", "LW101")


def test_the_sleep_barrier_fix_keeps_tests_passing_that_wait_for_timers(tmp_path: Path) -> None:
    """The fix for a sleep before a check waits until the check holds: a reconnect delay, a
    periodic cleanup, a thread's callback — what `settle()` (the old fix) does not wait for, so
    the fixed tests failed. Each fixed test is run."""
    write(
        tmp_path,
        {
            "pytest.ini": "[pytest]\n",
            "tests/test_app.py": """\
            import asyncio
            import threading
            from unittest import mock


            class Client:
                connected = False

                def start(self):
                    asyncio.get_running_loop().call_later(0.2, self._connect)  # reconnect delay

                def _connect(self):
                    self.connected = True


            class Cache:
                cleanups = 0

                async def cleanup_loop(self):
                    while True:
                        await asyncio.sleep(0.05)  # sleep-ok: the periodic work under test
                        self.cleanups += 1


            async def test_reconnects():
                client = Client()
                client.start()
                await asyncio.sleep(0.5)
                assert client.connected


            async def test_cleans_up():
                cache = Cache()
                task = asyncio.create_task(cache.cleanup_loop())
                try:
                    await asyncio.sleep(0.2)
                    assert cache.cleanups >= 2
                finally:
                    task.cancel()


            def notify_from_a_thread(loop, handler):
                threading.Event().wait(0.1)  # the work the thread does first
                loop.call_soon_threadsafe(handler, "event")


            async def test_calls_back():
                handler = mock.Mock()
                loop = asyncio.get_running_loop()
                threading.Thread(target=notify_from_a_thread, args=(loop, handler)).start()
                await asyncio.sleep(0.3)
                handler.assert_called_once_with("event")
            """,
        },
    )
    fixed = lint(tmp_path, "--fix", "--unsafe-fixes", "--select", "LW102")  # (opt-in)
    assert fixed.stdout.splitlines()[-1] == "Fixed 3 findings. No findings remain.", fixed.stdout
    text = (tmp_path / "tests/test_app.py").read_text()
    assert "asyncio.sleep(0.5)" not in text
    assert "await loopwarden.eventually(lambda: client.connected)\n" in text
    assert (
        'await loopwarden.eventually(lambda: handler.assert_called_once_with("event") or True)\n'
        in text
    )
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout
    assert tests.stdout.splitlines()[-1].startswith("3 passed")


def test_an_opt_in_rule_runs_only_when_selected(tmp_path: Path) -> None:
    """LW109 (a wait with no timeout of its own) is opt-in: the suite's timeout (loopwarden's
    watchdog, pytest-timeout) already stops such a wait. Selected by name, prefix or ALL, or
    added with extend-select on the command line or in the configuration."""
    write(
        tmp_path,
        {
            "tests/test_a.py": """\
            async def test_ready(server):
                await server.ready.wait()
            """
        },
    )
    assert lint(tmp_path).stdout == "All checks passed.\n"
    for args in (("--extend-select", "LW109"), ("--select", "LW1"), ("--select", "ALL")):
        result = lint(tmp_path, *args)
        assert result.returncode == 1, args
        assert "tests/test_a.py:2:5: LW109 " in result.stdout, args
    (tmp_path / "pyproject.toml").write_text('[tool.loopwarden.lint]\nextend-select = ["LW109"]\n')
    assert "LW109" in lint(tmp_path).stdout
    listed = lint(tmp_path, "--list-rules").stdout
    [line] = [line for line in listed.splitlines() if line.startswith("LW109")]
    assert line.endswith("(opt-in: --extend-select LW109)")


def test_a_rule_demoted_to_opt_in_reports_only_when_selected(tmp_path: Path) -> None:
    """LW105 (a test running its own loop) was read 0 of 20 actionable on code it was not tuned
    on (bench/README-lint.md, held-out corpus): no finding by default, the same finding as
    before once selected."""
    write(
        tmp_path,
        {
            "tests/test_a.py": """\
            import asyncio


            def test_handler(db_session):
                loop = asyncio.new_event_loop()
                result = loop.run_until_complete(handler(db_session))
                assert result == 1
            """
        },
    )
    default = lint(tmp_path)
    assert (default.returncode, default.stdout, default.stderr) == (0, "All checks passed.\n", "")
    selected = lint(tmp_path, "--extend-select", "LW105")
    assert (selected.returncode, selected.stdout, selected.stderr) == (
        1,
        "tests/test_a.py:5:12: LW105 in test_handler: test `test_handler` manages its own event "
        "loop with `asyncio.new_event_loop()`\n"
        "Found 1 finding. Why, and how to fix: `loopwarden lint --explain CODE`.\n",
        "",
    )
