"""The gateway example (examples/gateway) passes with every guard on, and under fuzzing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway"
TESTS = 7

pytest.importorskip("websockets", reason="examples/gateway needs websockets")


@pytest.fixture
def gateway(pytester: pytest.Pytester) -> Path:
    shutil.copytree(
        EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    return pytester.path


def test_the_gateway_suite_passes_in_both_modes(gateway, run):
    result = run("-W", "error")
    result.assert_outcomes(passed=TESTS)


def test_the_gateway_suite_has_no_order_dependent_test(gateway, own):
    result = own("--lw-fuzz-runs=20", "-p", "no:randomly")
    result.assert_outcomes(passed=TESTS * 20)
    result.stdout.fnmatch_lines(
        [
            f"{TESTS} tests fuzzed, {TESTS * 20} schedules run; 0 order-dependent (failed under "
            "some schedule, passed in FIFO order)"
        ]
    )
