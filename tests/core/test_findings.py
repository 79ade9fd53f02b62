"""The finding kinds and statuses: one list the type checker reads, one table of kinds."""

from __future__ import annotations

import pytest

from loopwarden._core import _findings
from loopwarden._core._findings import KINDS, Finding


def test_the_typed_kinds_are_the_kinds_table_and_what_the_watchdog_finds():
    assert set(KINDS) | {"hang", "blocking"} == _findings.FINDING_KINDS


def test_a_finding_from_json_has_a_known_kind_and_status():
    finding = Finding("timer", "print", "timer calling print() was neither run nor cancelled")
    assert Finding.from_json(finding.to_json()) == finding
    known = ", ".join(sorted(_findings.FINDING_KINDS))
    with pytest.raises(ValueError) as raised:
        Finding.from_json({**finding.to_json(), "kind": "gremlin"})
    assert str(raised.value) == f"unknown finding kind 'gremlin'; known: {known}"
    with pytest.raises(ValueError) as raised:
        Finding.from_json({**finding.to_json(), "status": "maybe"})
    assert str(raised.value) == (
        "unknown finding status 'maybe'; known: allowed, baselined, new, recorded, warned"
    )
