"""``loopwarden lint``: command-line arguments and the run.

Exit status: 0 when no findings remain, 1 when some do (or ``--diff`` has changes to show),
2 for usage errors (bad flags or configuration) and internal errors. This module only imports the
standard library at import time, so ``loopwarden --help`` stays instant.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``lint`` sub-command's arguments.

    Args:
        parser: The sub-command's parser.
    """
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders to check (default: the current folder)",
    )
    parser.add_argument(
        "--select",
        type=_comma_list,
        action="extend",
        metavar="CODES",
        help="comma-separated codes or prefixes to check (LW101,LW2, ALL); replaces the "
        "configured `select`",
    )
    parser.add_argument(
        "--extend-select",
        type=_comma_list,
        action="extend",
        default=[],
        metavar="CODES",
        # Which rules are opt-in is not spelled out here: importing the rules to list them would
        # slow `loopwarden --help`, and a list written out goes stale.
        help="comma-separated codes or prefixes to check in addition to the selection: the "
        "opt-in rules, which --list-rules marks",
    )
    parser.add_argument(
        "--ignore",
        type=_comma_list,
        action="extend",
        default=[],
        metavar="CODES",
        help="comma-separated codes or prefixes to skip; added to the configured `ignore`",
    )
    parser.add_argument(
        "--exclude",
        type=_comma_list,
        action="extend",
        default=[],
        metavar="PATTERNS",
        help="comma-separated glob patterns of files or folders to skip (in addition to "
        ".gitignore and the configured `exclude`)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif", "github"),
        default="text",
        help="report format (default: text)",
    )
    parser.add_argument("--fix", action="store_true", help="apply safe fixes")
    parser.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix or --diff, also apply fixes that may change behaviour",
    )
    parser.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff instead of writing them; exit 1 if there are any",
    )
    parser.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="read [tool.loopwarden.lint] from this file instead of the nearest pyproject.toml",
    )
    parser.add_argument("--isolated", action="store_true", help="ignore configuration files")
    parser.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply exclude patterns to files named on the command line too (pre-commit)",
    )
    parser.add_argument(
        "--no-gitignore",
        dest="gitignore",
        action="store_false",
        help="also check files that .gitignore excludes",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU when there are many files)",
    )
    parser.add_argument(
        "--show-fixes",
        action="store_true",
        help="under each finding, the fix it offers; with --fix, also list what was fixed",
    )
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings remain")
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    parser.add_argument(
        "--explain",
        metavar="RULE",
        help="print a rule's page (what it finds, why it matters, how to fix it) and exit: "
        "a code (LW102) or a name (sleep-as-barrier)",
    )


def _error(message: str) -> int:
    print(f"loopwarden lint: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run ``loopwarden lint`` with parsed arguments.

    Args:
        args: The namespace filled by the arguments of :func:`add_arguments`.

    Returns:
        The exit status: 0 clean, 1 findings, 2 usage or internal error.
    """
    from loopwarden._version import __version__
    from loopwarden.lint import _report
    from loopwarden.lint._config import ConfigError, load_settings
    from loopwarden.lint._files import Excluder, discover
    from loopwarden.lint._runner import Options, check_files
    from loopwarden.lint.rules import DEFAULT_CODES, RULES

    if args.explain is not None:
        from loopwarden.lint._explain import find_rule, page

        info = find_rule(args.explain, RULES)
        if info is None:
            return _error(
                f"--explain: no rule {args.explain!r}; give a code (LW102) or a name "
                "(sleep-as-barrier): `loopwarden lint --list-rules` lists them"
            )
        sys.stdout.write(page(info))
        return 0
    if args.list_rules:
        for info in RULES.values():
            fix = f" (fix: {info.fix})" if info.fix else ""
            opt_in = "" if info.default else f" (opt-in: --extend-select {info.code})"
            print(f"{info.code}  {info.name:<28} {info.summary}{fix}{opt_in}")
        return 0
    if args.jobs is not None and args.jobs < 1:
        return _error(f"--jobs must be at least 1, got {args.jobs}")
    paths: list[str] = args.paths or ["."]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        return _error(f"no such file or folder: {', '.join(missing)}")
    try:
        settings = load_settings(
            list(RULES),
            config=args.config,
            isolated=args.isolated,
            select=args.select,
            ignore=args.ignore,
            exclude=args.exclude,
            default=DEFAULT_CODES,
            extend_select=args.extend_select,
        )
    except ConfigError as error:
        return _error(error.message)

    excluder = Excluder(settings.exclude, settings.root)
    files = discover(paths, excluder, gitignore=args.gitignore, force_exclude=args.force_exclude)
    fixing = args.fix or args.diff
    options = Options(
        codes=settings.codes,
        per_file_ignores=settings.per_file_ignores,
        fix=fixing,
        unsafe_fixes=args.unsafe_fixes,
        root=settings.root,
    )
    try:
        results = check_files(files, options, jobs=args.jobs)
    except Exception as error:  # a bug of ours: say so, with exit status 2
        return _error(f"internal error: {type(error).__name__}: {error}")

    status = 0
    for result in results:
        if result.error is not None:
            print(f"loopwarden lint: {result.error}", file=sys.stderr)
            status = 2

    if args.diff:
        changed = 0
        for result in results:
            if result.fixed_source is None:
                continue
            changed += 1
            before = result.original_source or ""
            sys.stdout.writelines(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    result.fixed_source.splitlines(keepends=True),
                    fromfile=f"a/{result.path}",
                    tofile=f"b/{result.path}",
                )
            )
        fixes = sum(len(r.fixed) for r in results)
        print(
            f"Would fix {fixes} finding{'s' if fixes != 1 else ''} in {changed} "
            f"file{'s' if changed != 1 else ''}.",
            file=sys.stderr,
        )
        return status or (1 if changed and not args.exit_zero else 0)

    fixed = 0
    if args.fix:
        for result in results:
            if result.fixed_source is not None:
                with open(result.path, "w", encoding=result.encoding, newline="") as handle:
                    handle.write(result.fixed_source)
                fixed += len(result.fixed)
        if args.show_fixes and args.format == "text":
            done = sorted((f for r in results for f in r.fixed), key=lambda f: f.sort_key)
            sys.stdout.write(_report.render_fixed(done))

    findings = sorted((f for r in results for f in r.findings), key=lambda f: f.sort_key)
    if args.format == "json":
        sys.stdout.write(_report.render_json(findings))
    elif args.format == "sarif":
        sys.stdout.write(_report.render_sarif(findings, __version__))
    elif args.format == "github":
        sys.stdout.write(_report.render_github(findings))
    else:
        sys.stdout.write(_report.render_text(findings, args.unsafe_fixes, args.show_fixes))
        print(_report.summary(findings, fixed))
    if status:
        return status
    return 1 if findings and not args.exit_zero else 0
