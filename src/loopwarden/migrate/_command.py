"""``loopwarden migrate``: command-line arguments and the run.

By default the changes are printed as a unified diff on stdout (a patch ``git apply`` takes) and
the summary goes to stderr; ``--write`` writes them and prints the summary on stdout. Exit status:
0 when nothing is left for a person, 1 when something is (the places are listed), 2 for usage
errors (a path that does not exist, ``--write`` in a git work tree with uncommitted changes) and
internal errors. This module only imports the standard library at import time, so
``loopwarden --help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from loopwarden.migrate._model import FilePlan, Outcome, Report
    from loopwarden.migrate._project import Configs, PytestConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``migrate`` sub-command's arguments.

    Args:
        parser: The sub-command's parser.
    """
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to migrate (default: the current folder)",
    )
    parser.add_argument(
        "--target",
        choices=("loopwarden", "pytest-asyncio"),
        default="loopwarden",
        help="loopwarden (default): loopwarden's own runner runs the suite, pytest-asyncio is no "
        "longer needed; pytest-asyncio: stay on pytest-asyncio 1.x, only the event_loop fixture "
        "and its overrides go",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="write the changes (default: print them as a diff); refuses in a git work tree "
        "with uncommitted changes",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --write, write even when the git work tree has uncommitted changes",
    )
    parser.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="also make the rewrites that may change what a test checks (a patched "
        "asyncio.sleep -> loopwarden's virtual time); each one is listed for a person to check",
    )
    parser.add_argument(
        "--exclude",
        type=lambda value: [v.strip() for v in value.split(",") if v.strip()],
        action="extend",
        default=[],
        metavar="PATTERNS",
        help="comma-separated glob patterns of files or folders to leave alone (in addition to "
        ".gitignore and the `exclude` of [tool.loopwarden.lint], which migrate honours too)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU when there are many files)",
    )


def _error(message: str) -> int:
    print(f"loopwarden migrate: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``loopwarden migrate`` with parsed arguments.

    Args:
        args: The namespace filled by the arguments of :func:`add_arguments`.

    Returns:
        The exit status: 0 nothing left for a person, 1 something is, 2 usage or internal error.
    """
    from loopwarden.lint._files import Excluder, discover
    from loopwarden.migrate import _project
    from loopwarden.migrate._analyze import Settings
    from loopwarden.migrate._model import Report
    from loopwarden.migrate._report import summary
    from loopwarden.migrate._runner import migrate

    paths: list[str] = args.paths or ["."]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        return _error(
            f"no such file or folder: {', '.join(missing)}; name the folder of the test suite "
            "(loopwarden migrate tests/) or files in it"
        )
    others = [
        p
        for p in paths
        if os.path.isfile(p) and not p.endswith(".py") and not _project.is_project_file(p)
    ]
    if others:
        return _error(
            f"not a Python file, a pytest configuration file or a requirements file: "
            f"{', '.join(others)}; name .py files or folders"
        )
    if args.jobs is not None and args.jobs < 1:
        return _error(f"--jobs must be at least 1, got {args.jobs}")
    if args.force and not args.write:
        return _error("--force only makes sense with --write (without it, nothing is written)")
    if args.write and not args.force:
        dirty = _project.git_dirty(paths)
        if dirty:
            top, files = dirty[0]
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if files[5:] else "")
            return _error(
                f"--write refuses to run: the git work tree {top} has uncommitted changes "
                f"({shown}); commit or stash them first, so that `git diff` shows exactly what "
                "migrate changed and `git checkout` takes it back, or run again with --force"
            )

    configs = _project.Configs()
    settings: dict[int, tuple[_project.PytestConfig, Settings]] = {}

    def settings_of(path: str) -> Settings:
        config = configs.of(path)
        if id(config) not in settings:
            settings[id(config)] = (
                config,
                Settings(
                    target=args.target,
                    strict=(
                        config.strict
                        if args.target == "loopwarden"
                        else config.pytest_asyncio_strict
                    ),
                    fixture_loop_scope=config.scope("asyncio_default_fixture_loop_scope"),
                    test_loop_scope=config.scope("asyncio_default_test_loop_scope"),
                    python_functions=config.patterns("python_functions", "test"),
                    python_classes=config.patterns("python_classes", "Test"),
                    python_files=config.patterns("python_files", "test_*.py", "*_test.py"),
                    lint_codes=lint_codes,
                    unsafe_fixes=args.unsafe_fixes,
                    virtual_time=config.value("loopwarden_virtual_time"),
                    suite=config.suite(),
                    own_loop=config.value("loopwarden_loop"),
                ),
            )
        return settings[id(config)][1]

    # What lint leaves out, migrate leaves alone: the configured `exclude` and --exclude.
    from loopwarden.lint._config import ConfigError, load_settings
    from loopwarden.lint.rules import RULES
    from loopwarden.migrate._model import LINT_FIXES
    from loopwarden.migrate._runner import PATCHED_SLEEP

    try:
        lint_settings = load_settings(list(RULES), exclude=args.exclude)
    except ConfigError as error:
        return _error(f"{error} (migrate reads `exclude` and `ignore` from there)")
    # Lint's rules that migrate applies (LW110's fix, LW103's patched sleeps) are part of the
    # migration whatever lint runs by default (LW103 is opt-in there): only the project's
    # `ignore` turns one off. A `select` that leaves them out says what `loopwarden lint` checks
    # on every run, as the default selection does, not that a migration should skip them.
    lint_codes = (LINT_FIXES | {PATCHED_SLEEP}) - lint_settings.ignored
    excluder = Excluder((".venv*", *lint_settings.exclude), lint_settings.root)
    found = discover(paths, excluder)
    # pytest loads conftest.py files from its rootdir (the configuration's folder) down only.
    outer = [
        path
        for path in _project.outer_conftests(paths, found)
        if not excluder.excluded(os.path.abspath(path), excluder.root)
        and (ini := configs.of(path).path) is not None
        and os.path.abspath(path).startswith(os.path.dirname(os.path.abspath(ini)) + os.sep)
    ]
    work = [(path, settings_of(path)) for path in [*found, *outer] if path.endswith(".py")]
    try:
        plans, outcomes = migrate(work, jobs=args.jobs, outer=frozenset(outer))
    except Exception as error:  # a bug of ours: say so, with exit status 2
        return _error(f"internal error: {type(error).__name__}: {error}")

    reports: list[Report] = [report for plan in plans for report in plan.reports]
    reports += [outcome.error for outcome in outcomes if outcome.error is not None]
    reports += [
        Report(
            outcome.path,
            None,
            "changed too, though outside the paths given: pytest loads this conftest.py for "
            "the tests there, and its fixtures migrate with them",
            person=False,
        )
        for outcome in outcomes
        if outcome.path in outer and outcome.after is not None
    ]
    scoped = [c for c, _ in settings.values()] if args.target == "pytest-asyncio" else []
    config_outcomes, config_reports = _config_edits(plans, configs, scoped)
    outcomes = [*outcomes, *config_outcomes]
    reports += config_reports
    for path in _project.project_files(paths, found):
        reports += _project.scan_project_file(path, configs.of(path), args.target)
    for config, used in settings.values():
        if not used.strict or args.target != "loopwarden" or config.path is None:
            continue
        if not any(
            r.path == _project.display(config.path) and "strict" in r.message for r in reports
        ):
            reports.append(
                Report(
                    _project.display(config.path),
                    None,
                    "loopwarden's own runner would run in strict mode here (loopwarden_mode or "
                    "asyncio_mode is strict), so the @pytest.mark.asyncio markers were kept; set "
                    "loopwarden_mode = auto (the default) and run loopwarden migrate again to "
                    "drop them",
                )
            )

    if args.target == "pytest-asyncio":
        reports += _no_current_loop_note(outcomes)

    changed = [outcome for outcome in outcomes if outcome.after is not None]
    if args.write:
        for outcome in changed:
            assert outcome.after is not None
            with open(outcome.path, "w", encoding=outcome.encoding, newline="") as handle:
                handle.write(outcome.after)
        own_runner = args.target == "loopwarden"
        sys.stdout.write(summary(outcomes, reports, write=True, own_runner=own_runner))
    else:
        for outcome in changed:
            sys.stdout.write(outcome.patch)
        sys.stdout.flush()
        sys.stderr.write(summary(outcomes, reports, write=False))
    return 1 if any(report.person for report in reports) else 0


_EVENT_LOOP_KINDS = ("event_loop_fixture", "event_loop_param", "sync_fixture", "sync_driver")


def _no_current_loop_note(outcomes: Sequence[Outcome]) -> list[Report]:
    """With ``--target pytest-asyncio``, once for a suite that used the ``event_loop`` fixture:
    the current loop synchronous code had under pytest-asyncio 0.21 is gone in 1.x, which
    migrate cannot see (the call is often in the code under test: mode-streaming's services)."""
    from loopwarden.migrate._model import Report

    used = [
        o for o in outcomes if o.after is not None and any(o.counts[k] for k in _EVENT_LOOP_KINDS)
    ]
    if not used:
        return []
    where = next((o for o in used if o.counts["event_loop_fixture"]), used[0])
    return [
        Report(
            where.path,
            None,
            "pytest-asyncio 0.21 left a current event loop for synchronous tests and fixtures "
            "(its event_loop fixture set a new one as it closed the old); 1.x leaves none, so "
            "synchronous code that calls asyncio.get_event_loop(), in a test or in the code it "
            'tests, raises "There is no current event loop" once an async test has run. Give '
            "such tests a loop (a fixture that makes one and sets it with "
            "asyncio.set_event_loop), or use --target loopwarden, whose runner makes its session "
            "loop (its default) the current one",
            person=False,
        )
    ]


def _config_edits(
    plans: list[FilePlan], configs: Configs, unset_scope: list[PytestConfig]
) -> tuple[list[Outcome], list[Report]]:
    """The pytest configuration files to edit for the keys the removed ``event_loop`` overrides
    ask for (``--target pytest-asyncio``) and ``loopwarden_virtual_time`` (a ``conftest.py``'s
    patched ``asyncio.sleep`` removed, ``--unsafe-fixes``), and the places where that cannot be
    done.

    ``unset_scope``: configurations whose ``asyncio_default_fixture_loop_scope`` gets
    ``function`` where nothing else sets it (pytest-asyncio 0.24+ warns on every run while it is
    unset, an error under ``filterwarnings = error``; ``function`` is what 0.21 did).
    """
    from collections import Counter

    from loopwarden.migrate import _project
    from loopwarden.migrate._config_edit import ConfigEditError, set_keys
    from loopwarden.migrate._model import Outcome, Report
    from loopwarden.migrate._runner import diff

    wanted: dict[str | None, dict[str, dict[str, list[str]]]] = {}
    for plan in plans:
        if not plan.config_keys:
            continue
        config = configs.of(plan.path)
        for key, value in plan.config_keys.items():
            by_value = wanted.setdefault(config.path, {}).setdefault(key, {})
            by_value.setdefault(value, []).append(plan.path)
    outcomes: list[Outcome] = []
    reports: list[Report] = []
    fixture_key = "asyncio_default_fixture_loop_scope"
    for config in unset_scope:
        if config.path is None or config.scope(fixture_key) is not None:
            continue
        keys = wanted.setdefault(config.path, {})
        if fixture_key not in keys:
            keys[fixture_key] = {"function": []}
            reports.append(
                Report(
                    _project.display(config.path),
                    None,
                    f"{fixture_key} = function written: pytest-asyncio 0.24 and later warn on "
                    "every run while it is unset (an error under filterwarnings = error), and "
                    "function is what pytest-asyncio 0.21 did",
                    person=False,
                )
            )
    for path, keys in sorted(wanted.items(), key=lambda item: item[0] or ""):
        chosen = {}
        for key, by_value in keys.items():
            if len(by_value) > 1:
                said = "; ".join(
                    f"{value} ({', '.join(sorted(set(files)))})"
                    for value, files in by_value.items()
                )
                first = min(f for files in by_value.values() for f in files)
                reports.append(
                    Report(
                        _project.display(path) if path else first,
                        None,
                        f"the removed event_loop fixtures ask for different values of {key}: "
                        f"{said}; one pytest configuration holds one: choose it, and give the "
                        "tests that need another @pytest.mark.asyncio(loop_scope=...)",
                    )
                )
                continue
            chosen[key] = next(iter(by_value))
        if not chosen:
            continue
        settings = " and ".join(f"{key} = {value}" for key, value in chosen.items())
        if path is None:
            files = sorted(
                {f for by_value in keys.values() for fs in by_value.values() for f in fs}
            )
            reports.append(
                Report(
                    files[0],
                    None,
                    f"no pytest configuration file applies here, so {settings} was not written: "
                    "add them to the [pytest] section of the suite's pytest.ini (or "
                    "[tool.pytest.ini_options] of pyproject.toml)",
                )
            )
            continue
        shown = _project.display(path)
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                before = handle.read()
            after = set_keys(path, before, chosen)
        except (OSError, UnicodeDecodeError, ConfigEditError) as error:
            reports.append(
                Report(shown, None, f"{settings} was not written: {error}; add it by hand")
            )
            continue
        if after != before:
            outcomes.append(
                Outcome(
                    shown,
                    "utf-8",
                    before,
                    after,
                    Counter(
                        "virtual_time_key" if key == "loopwarden_virtual_time" else "config_key"
                        for key in chosen
                    ),
                    patch=diff(shown, before, after),
                )
            )
    return outcomes, reports
