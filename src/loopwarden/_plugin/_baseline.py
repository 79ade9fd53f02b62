"""The leak baseline: known findings per owner, recorded on a first run, honoured on later ones.

The leak plugin classifies each finding against it; the report plugin, which sees every test's
report (the xdist controller's included), writes it when it is being recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from loopwarden._core._findings import Finding
from loopwarden._core._records import Record
from loopwarden._plugin import _settings

BASELINE_VERSION = 1
_LEGACY = re.compile(r"^task-destroyed:")


class Baseline(Record):
    """Known findings per owner; recorded when the file does not exist yet."""

    path: Path
    recording: bool
    known: dict[str, set[str]]
    _fields = ("path", "recording", "known")

    def __init__(
        self, path: Path, recording: bool, known: dict[str, set[str]] | None = None
    ) -> None:
        self.path = path
        self.recording = recording
        self.known = {} if known is None else known

    def classify(self, owner: str, finding: Finding) -> None:
        """Mark ``finding`` recorded or baselined when the baseline covers it."""
        signature = finding.signature()
        if self.recording:
            finding.status = "recorded"
            return
        known = self.known.get(owner, ())
        if signature in known:
            finding.status = "baselined"
        elif finding.user_site is not None and finding.signature(own_site=True) in known:
            # Recorded before loopwarden found the user's line for it: still the same finding.
            finding.status = "baselined"

    def stale(self, ran: set[str], findings: list[tuple[str, dict[str, Any]]]) -> int:
        """How many known entries of the tests in ``ran`` none of ``findings`` (this run's
        ``(owner, finding as JSON)``, from every process) matches: fixed ones. Entries of tests
        that did not run (a subset ran, ``-x`` stopped, skipped), and of wider fixtures, are not
        judged."""
        seen: dict[str, set[str]] = {}
        for owner, data in findings:
            if data.get("status") != "baselined":
                continue
            finding = Finding.from_json(data)
            signatures = seen.setdefault(owner, set())
            signatures.add(finding.signature())
            if finding.user_site is not None:
                signatures.add(finding.signature(own_site=True))
        return sum(
            len(signatures - seen.get(owner, set()))
            for owner, signatures in self.known.items()
            if owner in ran
        )

    def classify_any(self, owners: list[str], finding: Finding) -> None:
        """:meth:`classify` for a finding one of ``owners`` made (a parametrized test's late
        finding): recorded under each, known when any of them knows it."""
        if self.recording:
            finding.status = "recorded"
            return
        for owner in owners:
            self.classify(owner, finding)
            if finding.status == "baselined":
                return


def load_baseline(config: pytest.Config) -> Baseline | None:
    raw = _settings.settings(config).leaks_baseline
    if not raw:
        return None
    path = Path(raw)
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    if not path.exists():
        return Baseline(path, recording=True)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("loopwarden_baseline") != BASELINE_VERSION:
            raise ValueError(f"'loopwarden_baseline' must be {BASELINE_VERSION}")
        # (A baseline recorded before a destroyed pending task and a pending one shared a key.)
        known = {
            owner: {_LEGACY.sub("task:", sig) for sig in sigs}
            for owner, sigs in data["tests"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise pytest.UsageError(
            f"loopwarden: the leak baseline {raw} cannot be read ({exc}). Delete it to record a "
            "new one on the next run."
        ) from None
    return Baseline(path, recording=False, known=known)
