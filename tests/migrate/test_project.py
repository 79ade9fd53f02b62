"""Rewrites 6 and 7 (reported, not edited): dependency lines naming pytest-asyncio and
pytest-asyncio's ini keys; the pytest configuration that applies; which files are parsed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst
import pytest

from loopwarden.migrate import _project, _rewrite
from loopwarden.migrate._analyze import Settings, finalize
from loopwarden.migrate._model import FilePlan
from loopwarden.migrate._runner import analyze_file, rewrite_file

DEPENDENCY = (
    "pytest-asyncio is no longer needed with --target loopwarden; remove it (or keep it and run "
    "with -p no:asyncio)"
)
FIXTURE_SCOPE_NOTE = (
    "asyncio_default_fixture_loop_scope = function: loopwarden's own runner honours it (with "
    "either asyncio_default_*_loop_scope set, tests and fixtures get loops of those scopes, as "
    "under pytest-asyncio); delete both keys for loopwarden's default, one loop for the session, "
    "or set loopwarden_loop"
)
AUTO_NOTE = (
    "asyncio_mode = auto: loopwarden's own runner reads it when loopwarden_mode is unset, so it "
    "can stay; delete it or write loopwarden_mode instead once pytest-asyncio is gone"
)


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def _scan(path: str, target: _project.Target = "loopwarden") -> list[str]:
    config = _project.find_pytest_config([path])
    return [
        ("" if r.person else "note: ") + f"{r.line}: {r.message}"
        for r in _project.scan_project_file(path, config, target)
    ]


def test_pyproject_dependencies_and_ini_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "pyproject.toml",
        """\
        [project]
        dependencies = ["httpx"]
        # pytest-asyncio is for the tests only

        [project.optional-dependencies]
        test = [
            "pytest>=8",
            "pytest-asyncio>=0.21",
            "pytest_asyncio[testing] ; python_version >= '3.11'",
        ]

        [tool.poetry.group.dev.dependencies]
        pytest-asyncio = "^0.21"

        [tool.pytest.ini_options]
        asyncio_mode = "auto"
        asyncio_default_fixture_loop_scope = "function"

        [[tool.mypy.overrides]]
        module = "pytest_asyncio.*"
        """,
    )
    assert _scan(path) == [
        f"8: {DEPENDENCY}",
        f"9: {DEPENDENCY}",
        f"13: {DEPENDENCY}",
        f"note: 16: {AUTO_NOTE}",
        f"note: 17: {FIXTURE_SCOPE_NOTE}",
    ]
    assert _scan(path, target="pytest-asyncio") == []


def test_requirements_setup_cfg_and_tox_ini(tmp_path: Path) -> None:
    requirements = _write(
        tmp_path / "requirements-dev.txt",
        """\
        # pytest-asyncio
        pytest>=8
        pytest-asyncio==0.21.1
        PyTest_AsyncIO
        pytest-asyncio-cooperative
        """,
    )
    assert _scan(requirements) == [f"3: {DEPENDENCY}", f"4: {DEPENDENCY}"]
    nested = _write(tmp_path / "requirements" / "test.in", "pytest-asyncio\n")
    assert _scan(nested) == [f"1: {DEPENDENCY}"]
    setup_cfg = _write(
        tmp_path / "setup.cfg",
        """\
        [options.extras_require]
        test =
            pytest-asyncio>=0.21

        [tool:pytest]
        asyncio_mode = auto
        """,
    )
    assert _scan(setup_cfg) == [f"3: {DEPENDENCY}", f"note: 6: {AUTO_NOTE}"]
    tox_ini = _write(
        tmp_path / "sub" / "tox.ini",
        """\
        [testenv]
        deps = pytest-asyncio

        [pytest]
        asyncio_default_fixture_loop_scope = function
        """,
    )
    assert _scan(tox_ini) == [f"2: {DEPENDENCY}", f"note: 5: {FIXTURE_SCOPE_NOTE}"]


def test_strict_mode_is_a_place_for_a_person(tmp_path: Path) -> None:
    path = _write(tmp_path / "pytest.ini", "[pytest]\nasyncio_mode = strict\n")
    config = _project.find_pytest_config([str(tmp_path)])
    assert config.strict
    assert _scan(path) == [
        "2: asyncio_mode = strict: loopwarden's own runner honours it and runs only tests marked "
        "@pytest.mark.asyncio, so migrate kept those markers; delete the key (loopwarden's "
        "default is auto: every async test runs) and run loopwarden migrate again to drop them"
    ]


@pytest.mark.parametrize(
    ("text", "strict", "pytest_asyncio_strict"),
    [
        ("[pytest]\nasyncio_mode = strict\n", True, True),
        ("[pytest]\nasyncio_mode = strict  # see docs\n", True, True),
        ("[pytest]\nasyncio_mode = auto\n", False, False),
        # Unset: loopwarden's default is auto, pytest-asyncio's is strict.
        ("[pytest]\n", False, True),
        ("[pytest]\naddopts = -ra --asyncio-mode=strict\n", True, True),
        ("[pytest]\naddopts = -ra --asyncio-mode=auto\n", False, False),
        ("[pytest]\nasyncio_mode = strict\nloopwarden_mode = auto\n", False, True),
        ("[pytest]\nloopwarden_mode = strict\n", True, True),
    ],
)
def test_strict_mode_detection(
    tmp_path: Path, text: str, strict: bool, pytest_asyncio_strict: bool
) -> None:
    _write(tmp_path / "pytest.ini", text)
    config = _project.find_pytest_config([str(tmp_path)])
    assert (config.strict, config.pytest_asyncio_strict) == (strict, pytest_asyncio_strict)


def test_the_configuration_is_found_as_pytest_finds_it(tmp_path: Path) -> None:
    _write(tmp_path / "setup.cfg", "[tool:pytest]\nasyncio_default_fixture_loop_scope = module\n")
    _write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")  # no pytest table: skipped
    _write(tmp_path / "tests" / "tox.ini", "[testenv]\ndeps = x\n")  # no [pytest]: skipped
    tests = tmp_path / "tests"
    config = _project.find_pytest_config([str(tests / "test_a.py"), str(tests)])
    assert config.path == str(tmp_path / "setup.cfg")
    assert config.scope("asyncio_default_fixture_loop_scope") == "module"
    assert config.scope("asyncio_default_test_loop_scope") is None
    _write(tmp_path / "pytest.ini", "[pytest]\n")  # first in pytest's order: wins, even empty
    assert _project.find_pytest_config([str(tests)]).path == str(tmp_path / "pytest.ini")


def test_project_files_are_read_up_to_the_project_root(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(tmp_path / "requirements.txt", "pytest-asyncio\n")  # above the root: not read
    _write(project / "pyproject.toml", "[project]\nname = 'x'\n")
    _write(project / "requirements" / "dev.txt", "pytest\n")
    _write(project / "tests" / "requirements-test.txt", "pytest\n")
    _write(project / "tests" / "README.md", "pytest-asyncio\n")
    tests = str(project / "tests")
    found = sorted(_project.project_files([tests], []))
    assert found == sorted(
        str(project / name)
        for name in (
            "pyproject.toml",
            "requirements/dev.txt",
            "tests/requirements-test.txt",
        )
    )


def test_only_files_with_a_trigger_word_are_parsed(tmp_path: Path) -> None:
    broken = _write(tmp_path / "test_broken.py", "def test_a(:\n    pass\n")
    assert analyze_file(broken, Settings()) is None  # never parsed, so never reported
    for word in ("pytest_asyncio", "event_loop", "mark.asyncio"):
        path = _write(tmp_path / "test_word.py", f"# {word}\ndef test_a(:\n    pass\n")
        plan = analyze_file(path, Settings())
        assert plan is not None
        assert plan.error == "not Python 3 we can parse: invalid syntax at line 2; left alone"


def _planned(tmp_path: Path) -> tuple[str, FilePlan]:
    source = "import pytest\n\n\n@pytest.mark.asyncio\nasync def test_a():\n    pass\n"
    path = _write(tmp_path / "test_a.py", source)
    plan = analyze_file(path, Settings())
    assert plan is not None
    finalize(plan, {}, Settings())
    return source, plan


def test_a_file_libcst_cannot_parse_is_left_alone_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, plan = _planned(tmp_path)

    def refuse(text: str, plan: FilePlan) -> str:
        raise libcst.ParserSyntaxError(
            "tokenizer error: bad", lines=text.splitlines(True), raw_line=5, raw_column=4
        )

    monkeypatch.setattr(_rewrite, "rewrite", refuse)
    outcome = rewrite_file(plan)
    assert (outcome.after, outcome.patch) == (None, "")
    assert outcome.error is not None
    assert outcome.error.render() == (
        f"{plan.path}: not Python 3 we can parse: tokenizer error: bad at line 5; left alone"
    )
    assert Path(plan.path).read_text(encoding="utf-8") == source


def test_a_rewrite_that_breaks_the_code_is_never_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plan = _planned(tmp_path)
    monkeypatch.setattr(_rewrite, "rewrite", lambda text, plan: "def test_a(:\n")
    outcome = rewrite_file(plan)
    assert outcome.after is None
    assert outcome.error is not None
    assert outcome.error.render() == (
        f"{plan.path}:1: internal error: the rewrite produced invalid code (invalid syntax); the "
        "file was left alone; please report this with the file"
    )
    monkeypatch.undo()
    good = rewrite_file(plan)
    assert good.error is None
    assert good.after == "async def test_a():\n    pass\n"


def test_values_are_shown_without_quotes_or_inline_comments(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "pyproject.toml",
        """\
        [tool.pytest.ini_options]
        asyncio_mode = "auto"  # the suite is all async
        """,
    )
    assert _scan(path) == [f"note: 2: {AUTO_NOTE}"]
    ini = _write(tmp_path / "sub" / "pytest.ini", "[pytest]\nasyncio_mode = auto ; inline\n")
    assert _scan(ini) == [f"note: 2: {AUTO_NOTE}"]
