"""``python -m loopwarden.lint``: the ``lint`` sub-command on its own (same flags, exit status)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loopwarden.lint import _command


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run ``loopwarden lint``.

    Args:
        argv: Arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="loopwarden lint",
        description="Check async tests for patterns that hang, leak, flake or slow a suite.",
    )
    _command.add_arguments(parser)
    return _command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
