"""How the benchmark modules fit together: no import cycle, every suite registered, in order."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = {path.stem: path for path in sorted(BENCH.glob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_bench_module_imports_run():
    # run.py is the command: it imports the suites, nothing imports it.
    assert {name for name, path in MODULES.items() if "run" in _imports(path)} == set()


def test_no_import_cycle():
    graph = {name: _imports(path) & MODULES.keys() for name, path in MODULES.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for dep in sorted(graph[name]):
                visit(dep, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_no_bench_module_touches_sys_modules():
    touching = [
        f"{name}.py:{node.lineno}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    ]
    assert touching == []


def test_run_lists_every_suite_in_order():
    out = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    listed = out.split("positional arguments:", 1)[1].split("options:", 1)[0]
    # A suite's name starts its line, 4 spaces in; its help goes on further in.
    suites = [m[1] for m in re.finditer(r"^ {4}(\S+)", listed, re.MULTILINE)]
    assert suites == [
        "runner",
        "db",
        "fuzz",
        "guards",
        "real-suites",
        "migrate",
        "migrate-speed",
        "trust",
        "virtual-time",
        "settle",
    ]


@pytest.fixture(scope="module")
def h():
    sys.path.insert(0, str(BENCH))
    try:
        import _harness

        yield _harness
    finally:
        sys.path.remove(str(BENCH))


def test_run_timed_returns_exit_code_output_and_times(h, tmp_path):
    cmd = [sys.executable, "-c", "print('hello'); raise SystemExit(3)"]
    wall, user, sys_, code, output = h.run_timed(cmd, tmp_path, tmp_path / "logs" / "a.log")
    assert (code, output) == (3, "hello\n")
    assert (tmp_path / "logs" / "a.log").read_text() == "hello\n"
    assert wall > 0 and user >= 0 and sys_ >= 0


def test_run_timed_kills_a_run_that_outlives_its_timeout(h, tmp_path):
    # sleep-ok: the child sleeps until the timeout under test kills it
    cmd = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    with pytest.raises(h.BrokenRun, match="still running after 1s and was killed"):
        h.run_timed(cmd, tmp_path, tmp_path / "b.log", timeout=1.0)
    assert (tmp_path / "b.log").read_text() == "started\n"
