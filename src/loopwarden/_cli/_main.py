"""Entry point of the ``loopwarden`` command: one sub-command per job.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; heavy imports
(libcst, pytest) happen inside ``run`` so that ``loopwarden --version`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loopwarden._version import __version__


def _parser() -> argparse.ArgumentParser:
    from loopwarden._doctor import _command as doctor_command
    from loopwarden.lint import _command as lint_command
    from loopwarden.migrate import _command as migrate_command

    parser = argparse.ArgumentParser(
        prog="loopwarden",
        description="Make asyncio test suites trustworthy and fast.",
    )
    parser.add_argument("--version", action="version", version=f"loopwarden {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    lint = commands.add_parser(
        "lint",
        help="check async tests for patterns that hang, leak, flake or slow a suite",
        description="Check async tests for patterns that hang, leak, flake or slow a suite.",
    )
    lint_command.add_arguments(lint)
    lint.set_defaults(run=lint_command.run)
    doctor = commands.add_parser(
        "doctor",
        help="run a suite with every instrument on and say what to fix, where",
        description="Lint a suite, run it with leak, hang and blocking checks, re-run what "
        "waits on timers in virtual time and the async tests under fuzzed schedules, then "
        "print what to fix, most costly first. Arguments after `--` go to pytest.",
        usage="loopwarden doctor [PATH] [options] [-- PYTEST_ARGS...]",
    )
    doctor_command.add_arguments(doctor)
    doctor.set_defaults(run=doctor_command.run)
    migrate = commands.add_parser(
        "migrate",
        help="move a pytest-asyncio suite to loopwarden's own runner (prints a diff; --write)",
        description="Move a pytest-asyncio suite (0.21 or 1.x) to loopwarden's own runner: "
        "print the changes as a diff, then what needs a person. --write applies them.",
    )
    migrate_command.add_arguments(migrate)
    migrate.set_defaults(run=migrate_command.run)
    return parser


def _split_pytest_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """``doctor ... -- ARGS``: what follows ``--`` goes to pytest untouched.

    argparse would read those as the doctor's own options; other commands keep ``--`` as is.
    """
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    words = [a for a in argv[:cut] if not a.startswith("-")]
    if not words or words[0] != "doctor":
        return argv, []
    return argv[:cut], argv[cut + 1 :]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv, pytest_args = _split_pytest_args(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if pytest_args:
        args.pytest_args = [*args.pytest_args, *pytest_args]
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    status: int = args.run(args)
    return status
