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
    from loopwarden.lint import _command as lint_command

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    status: int = args.run(args)
    return status
