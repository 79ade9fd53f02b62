"""The JSON loopwarden writes, as typed dicts shared by its writers and its readers.

- :class:`FindingJson`: one finding (``Finding.to_json``), in ``--lw-report``, on test reports,
  in the doctor's records and in the leak baseline's recording.
- :class:`ReportJson`: the ``--lw-report`` file (docs/reference/report.md), version 1.
- :class:`DoctorRecord` and :class:`TaskJson`: the doctor's line per test (``--lw-doctor``,
  written by ``_plugin/doctor.py``, read by ``_doctor/``); :class:`CollectedEvent` its first line.
- :class:`LintFindingJson`: one ``loopwarden lint --format json`` finding, as the doctor reads it.

A reader of a file from another version meets keys it does not know, or misses keys: these
types say what this version writes; readers of files they did not write check what they use.

Only type checkers import this module (creating the typed dicts costs a pytest start several
million instructions): code imports it under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:
    from loopwarden._core._findings import FindingKind, FindingStatus

Outcome = Literal["passed", "failed", "skipped", "error"]


class FindingJson(TypedDict):
    kind: FindingKind
    name: str
    message: str
    site: str | None
    user_site: str | None
    detail: list[str]
    owner: str
    status: FindingStatus


class TestEntryJson(TypedDict):
    outcome: Outcome | None
    findings: list[FindingJson]


class ReportJson(TypedDict):
    version: int
    loopwarden: str
    mode: str | None
    tests: dict[str, TestEntryJson]
    late: list[FindingJson]
    findings_total: int


TaskState = Literal["done", "failed", "cancelled", "leaked", "pending"]


class TaskJson(TypedDict):
    name: str
    coro: str
    site: str | None
    created: float
    ended: float | None
    state: TaskState


class CollectedEvent(TypedDict):
    event: Literal["collected"]
    total: int
    rootdir: str
    inifile: str | None


# (A functional definition: "async" is a keyword.)
_MeasuredTest = TypedDict(
    "_MeasuredTest",
    {
        "path": str,
        "line": int,
        "async": bool,
        "virtual": bool,
        "duration": float,
        "timer_wait": float,
        "io_waits": int,
        "virtual_skipped": float,
        "phases": dict[str, list[float]],
        "seed": int | None,
        "fuzz_run": int | None,
        "tasks": list[TaskJson],
    },
)


class MeasuredTest(_MeasuredTest):
    """What the doctor's plugin measures of one test (before its outcome is known)."""


class DoctorRecord(MeasuredTest):
    """The doctor's line for one test: what was measured, its outcome and its findings."""

    event: Literal["test"]
    nodeid: str
    outcome: Outcome
    message: str | None
    findings: list[FindingJson]


class LintFixJson(TypedDict):
    safety: Literal["safe", "unsafe"]
    description: str


class LintFindingJson(TypedDict):
    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    code: str
    message: str
    explanation: str
    fix_available: bool
    context: str
    fix: LintFixJson | None
