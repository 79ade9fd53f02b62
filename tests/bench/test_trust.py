"""The trust benchmark's reading of runs: what it lists, what it counts, what fails it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def trust():
    sys.path.insert(0, str(BENCH))
    try:
        import trust

        yield trust
    finally:
        sys.path.remove(str(BENCH))


def _run(trust, mode, outcomes, findings=None, nodeids=None):
    return trust.ModeRun(
        mode=mode,
        exit_code=0,
        counts={},
        outcomes=outcomes,
        messages={},
        findings=findings or {},
        nodeids=nodeids or {},
        late=[],
        log="",
        crash="",
    )


def test_junit_keys_match_what_read_junit_gives(trust):
    assert trust.junit_key("tests/test_a.py::test_b[x-1]") == "tests.test_a::test_b[x-1]"
    assert trust.junit_key("tests/sub/test_a.py::TestC::test_d") == "tests.sub.test_a.TestC::test_d"


def test_readings_match_by_node_id_or_the_longest_prefix(trust):
    broad = trust.Reading("true", "broad")
    narrow = trust.Reading("intentional", "narrow")
    readings = {"tests/": broad, "tests/test_a.py::test_b[": narrow}
    assert trust.lookup(readings, "tests/test_a.py::test_b[1]") is narrow
    assert trust.lookup(readings, "tests/test_a.py::test_c") is broad
    assert trust.lookup(readings, "other/test_x.py::test_y") is None
    # A prefix must end at a boundary ("::" or "["): "test_b" does not cover "test_bc".
    assert trust.lookup({"tests/test_a.py::test_b": narrow}, "tests/test_a.py::test_bc") is None


def test_changes_findings_and_lost_tests_are_listed_with_their_verdicts(trust, monkeypatch):
    lib = trust.Library("demo", "1.0", (), (), "a demo")
    monkeypatch.setitem(
        trust.READINGS,
        "demo",
        {
            "tests/test_a.py::test_leak": trust.Reading("true", "it leaks"),
            "tests/test_a.py::test_param[": trust.Reading("refused", "params", modes=("own",)),
        },
    )
    finding = {"kind": "task", "name": "t", "site": "tests/test_a.py:3 in test_leak"}
    nodeids = {
        "tests.test_a::test_leak": "tests/test_a.py::test_leak",
        "tests.test_a::test_ok": "tests/test_a.py::test_ok",
        "tests.test_a::test_odd": "tests/test_a.py::test_odd",
        "tests.test_a::test_param[1]": "tests/test_a.py::test_param[1]",
        "tests.test_a::test_gone": "tests/test_a.py::test_gone",
    }
    base = dict.fromkeys(nodeids, "passed")
    guard = dict(base, **{"tests.test_a::test_leak": "error+passed"})
    own = {
        "tests.test_a::test_leak": "error+passed",
        "tests.test_a::test_ok": "passed",
        "tests.test_a::test_odd": "failed",
    }
    runs = {
        "baseline": _run(trust, "baseline", base),
        "guard": _run(trust, "guard", guard, {"tests.test_a::test_leak": [finding]}, nodeids),
        "own": _run(trust, "own", own, {"tests.test_a::test_leak": [finding]}),
    }
    result = trust.read(lib, runs)
    rows = {row.nodeid: row for row in result.rows}
    assert sorted(rows) == ["tests/test_a.py::test_leak", "tests/test_a.py::test_odd"]
    assert rows["tests/test_a.py::test_leak"].verdict("guard") == "true"
    assert rows["tests/test_a.py::test_odd"].verdict("guard") == ""  # nothing happened there
    assert rows["tests/test_a.py::test_odd"].verdict("own") == "UNREAD"
    assert result.refused["own"] == ["tests.test_a::test_param[1]"]
    assert result.lost["own"] == ["tests.test_a::test_gone"]
    assert result.lost["guard"] == []
    assert result.tally("own") == {"true": 1, "UNREAD": 1}


def test_a_late_finding_is_read_on_its_owner_test(trust, monkeypatch):
    lib = trust.Library("demo", "1.0", (), (), "a demo")
    monkeypatch.setitem(
        trust.READINGS, "demo", {"tests/test_a.py::test_drop": trust.Reading("true", "dropped")}
    )
    late = {
        "kind": "coroutine",
        "name": "Event.wait",
        "site": "tests/test_a.py:7 in test_drop",
        "owner": "tests/test_a.py::test_drop",
        "status": "new",
    }
    # Owned by no test: it gets a row of its own, which must be read like the others (a late
    # finding "found by the garbage collector" failed aioesphomeapi's run, and no row showed it).
    by_gc = dict(late, owner="found by the garbage collector")
    nobody = dict(late, owner="")
    base = {"tests.test_a::test_drop": "passed", "tests.test_a::test_ok": "passed"}
    runs = {mode: _run(trust, mode, dict(base)) for mode in trust.MODES}
    runs["guard"].late.extend([late, by_gc, nobody])
    result = trust.read(lib, runs)
    rows = {row.nodeid: row for row in result.rows}
    assert sorted(rows) == ["found by the garbage collector", "tests/test_a.py::test_drop"]
    row = rows["tests/test_a.py::test_drop"]
    assert row.late == {"guard": [late]}
    assert (row.verdict("guard"), row.verdict("own")) == ("true", "")
    assert rows["found by the garbage collector"].verdict("guard") == "UNREAD"
    assert trust.unowned_late(result, "guard") == [nobody]
    lines = trust.detail_lines(result)
    shown = "coroutine Event.wait @ tests/test_a.py:7 in test_drop"
    assert f"  - late (guard, after the test): {shown}" in lines
    assert f"- late (guard): {shown} — owner " in lines


def test_a_failure_loopwarden_tells_in_its_own_words_is_read(trust):
    # The same outcome in both runs, so no outcome change: guard mode had replaced a failing
    # anyio test's own failure with "this unmarked async test did not run" (httpx).
    lib = trust.Library("demo", "1.0", (), (), "a demo")
    base = {"tests.test_a::test_fails": "failed", "tests.test_a::test_also": "failed"}
    runs = {mode: _run(trust, mode, dict(base)) for mode in trust.MODES}
    runs["baseline"].messages.update(dict.fromkeys(base, "assert 2 == 3"))
    runs["guard"].messages.update(
        {
            "tests.test_a::test_fails": "loopwarden: this unmarked async test did not run: ...",
            "tests.test_a::test_also": "assert 2 == 3",
        }
    )
    runs["own"].messages.update(dict.fromkeys(base, "assert 2 == 3"))
    result = trust.read(lib, runs)
    [row] = result.rows
    assert row.key == "tests.test_a::test_fails"
    assert (row.verdict("guard"), row.verdict("own")) == ("UNREAD", "")
    assert (
        "  - guard, in loopwarden's words: loopwarden: this unmarked async test did not run: ..."
        in trust.detail_lines(result)
    )


def test_a_suite_without_its_own_pytest_config_gets_an_empty_one(trust, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    trust.isolate(bare)
    assert (bare / "pytest.ini").read_text() == "[pytest]\n"
    native = tmp_path / "native"
    native.mkdir()
    (native / "pyproject.toml").write_text("[tool.pytest]\nminversion = '9.0'\n")
    trust.isolate(native)
    assert not (native / "pytest.ini").exists()


def _canary_runs(trust, guard_findings, own_findings, own_after="passed"):
    module = "tests/test_loopwarden_canary.py"
    leaks = f"tests.test_loopwarden_canary::{trust.CANARY_LEAKS}"
    after = f"tests.test_loopwarden_canary::{trust.CANARY_AFTER}"
    nodeids = {leaks: f"{module}::{trust.CANARY_LEAKS}", after: f"{module}::{trust.CANARY_AFTER}"}
    base = {leaks: "passed", after: "passed"}
    return {
        "baseline": _run(trust, "baseline", base),
        "guard": _run(
            trust, "guard", dict(base, **{leaks: "error+passed"}), guard_findings, nodeids
        ),
        "own": _run(trust, "own", {leaks: "error+passed", after: own_after}, own_findings, nodeids),
    }


def test_the_canary_must_be_caught_on_its_test_at_its_line_in_both_modes(trust):
    lib = trust.Library("demo", "1.0", (), (), "a demo")
    leaks = f"tests.test_loopwarden_canary::{trust.CANARY_LEAKS}"
    after = f"tests.test_loopwarden_canary::{trust.CANARY_AFTER}"
    site = f"tests/test_loopwarden_canary.py:{trust.CANARY_LINE} in {trust.CANARY_LEAKS}"
    timer = {"kind": "timer", "name": "print", "site": site}
    caught = trust.read(lib, _canary_runs(trust, {leaks: [timer]}, {leaks: [timer]}))
    assert caught.canary == []
    [row] = caught.rows
    assert (row.verdict("guard"), row.verdict("own")) == ("intentional", "intentional")
    # Charged to the next test in one mode: the row reads "misplaced", and it is said where.
    blamed = trust.read(
        lib, _canary_runs(trust, {leaks: [timer]}, {after: [timer]}, own_after="error+passed")
    )
    assert blamed.canary == [f"own: the test after the canary was blamed ({after})"]
    assert blamed.canary_missed == [f"own: {trust.CANARY_LEAKS} missed (error+passed)"]
    assert {row.verdict("own") for row in blamed.rows} == {"misplaced"}
    # Missed, not misplaced (the own runner leaves a project's uvloop unguarded): listed, and the
    # reading stays "intentional", saying where it was missed; a parametrized case is matched.
    case = f"{leaks}[uvloop]"
    runs = _canary_runs(trust, {leaks: [timer]}, {})
    for run in runs.values():
        run.outcomes[case] = "passed"
    runs["guard"].findings[case] = [timer]
    runs["guard"].outcomes[case] = "error+passed"
    missed = trust.read(lib, runs)
    assert missed.canary == []
    assert missed.canary_missed == [
        f"own: {trust.CANARY_LEAKS} missed (error+passed)",
        f"own: {trust.CANARY_LEAKS}[uvloop] missed (passed)",
    ]
