"""loopwarden's benchmarks, side by side with the tools users have today.

Usage::

    python bench/run.py runner [--rounds N] [--tests N] [--fixture-tests N] [--quick] [--json PATH]
                               [--only PATTERNS] [--profile PATTERNS]
    python bench/run.py guards [same options]      # the guards' cost (suite in guards.py)

Stdlib only (Python 3.11+); run it with any interpreter. Each tool gets its own virtual
environment under ``bench/.work/`` (git-ignored). See ``bench/README.md`` for what each suite
measures and why the comparison is fair.

Adding a suite: write ``run(args) -> int`` (and optionally ``add_arguments(parser)``), decorate it
with ``@_harness.register("name", help=...)``, in this file or in a module this file imports.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: run.py is run as a script, and imports its siblings. Importing a suite
# module registers its sub-commands; ``--help`` lists them in that order, the runner first.
import _harness as h
import runner_bench  # noqa: F401  (registers "runner")

# isort: split
import db_bench  # noqa: F401  (registers "db")
import fuzz_bench  # noqa: F401  (registers "fuzz")
import guards  # noqa: F401  (registers the "guards" suite)
import migrate_corpus  # noqa: F401  (registers "migrate")
import real_suites  # noqa: F401  (registers "real-suites")
import trust  # noqa: F401  (registers "trust")
import virtual_time  # noqa: F401  (registers "virtual-time" and "settle")

if __name__ == "__main__":
    sys.exit(h.main(description=__doc__ or ""))
