"""The doctor's subprocesses: ``loopwarden lint`` and pytest runs with the doctor plugin on.

Each pytest run streams one JSON line per finished test (``--lw-doctor``, see
:mod:`loopwarden._plugin.doctor`); the doctor reads that file while the run goes, for progress,
and keeps what it holds when the run is interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwarden._core._schema import DoctorRecord, LintFindingJson, ReportJson


# How often the progress line is refreshed while a run goes (real seconds).
POLL = 0.25
# How long a run gets to write its reports after Ctrl-C before it is killed.
INTERRUPT_GRACE = 10.0


@dataclass
class Run:
    """One pytest run: its records, exit status, and whether it was interrupted."""

    name: str
    records: list[DoctorRecord] = field(default_factory=list)
    total: int | None = None
    rootdir: str | None = None
    inifile: str | None = None
    exit_status: int | None = None
    interrupted: bool = False
    seconds: float = 0.0
    log: str = ""
    report: ReportJson | None = None


class Interrupted(Exception):
    """Ctrl-C during a phase; the phase's partial results are on the exception."""

    def __init__(self, partial: Any) -> None:
        super().__init__("interrupted")
        self.partial = partial


def run_lint(path: str, cwd: Path) -> list[LintFindingJson]:
    """``loopwarden lint PATH --format json`` in a subprocess; its findings.

    With the opt-in LW102 (sleep barriers): the doctor shows them next to what running the
    suite found (a test's timer waits, the same test in virtual time)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopwarden.lint",
            path,
            "--format",
            "json",
            "--exit-zero",
            "--extend-select",
            "LW102",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"loopwarden lint {path} failed (exit status {done.returncode}):\n{done.stderr}"
        )
    findings: list[LintFindingJson] = json.loads(done.stdout or "[]")
    return findings


def pytest_run(
    name: str,
    args: Sequence[str],
    workdir: Path,
    cwd: Path,
    progress: Callable[[Run], None],
) -> Run:
    """Run ``python -m pytest ARGS`` with the doctor plugin, reporting progress as tests finish.

    Raises:
        Interrupted: on Ctrl-C, after the subprocess wrote what it had (the partial Run).
    """
    records_path = workdir / f"{name}.jsonl"
    report_path = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "loopwarden._plugin.doctor",
        f"--lw-doctor={records_path}",
        f"--lw-report={report_path}",
        *args,
    ]
    run = Run(name)
    started = time.monotonic()
    reader = _Reader(records_path, run)
    with log_path.open("w", encoding="utf-8") as log:
        # Its own session: a Ctrl-C in the terminal reaches the doctor only, which then asks
        # pytest to stop (SIGINT) and waits for it to write its reports.
        process = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while True:
                try:
                    process.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    if reader.read():
                        progress(run)
        except KeyboardInterrupt:
            run.interrupted = True
            _stop(process)
        finally:
            if process.poll() is None:  # an error in the doctor itself: leave nothing behind
                _stop(process)
    reader.read()
    run.exit_status = process.returncode
    run.seconds = time.monotonic() - started
    run.log = log_path.read_text(encoding="utf-8", errors="replace")
    if report_path.exists():
        try:
            run.report = json.loads(report_path.read_text(encoding="utf-8"))
        except ValueError:
            run.report = None
    progress(run)
    if run.interrupted:
        raise Interrupted(run)
    return run


def _stop(process: subprocess.Popen[Any]) -> None:
    """SIGINT (pytest writes its reports and exits), then SIGKILL after a grace period."""
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except KeyboardInterrupt:  # a second Ctrl-C: stop now
        process.kill()
        process.wait()


class _Reader:
    """Reads the records file as it grows; complete lines only."""

    def __init__(self, path: Path, run: Run) -> None:
        self.path = path
        self.run = run
        self.offset = 0
        self.pending = ""

    def read(self) -> bool:
        try:
            with self.path.open("r", encoding="utf-8") as stream:
                stream.seek(self.offset)
                chunk = stream.read()
                self.offset = stream.tell()
        except FileNotFoundError:
            return False
        if not chunk:
            return False
        text = self.pending + chunk
        lines = text.split("\n")
        self.pending = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("event") == "collected":
                self.run.total = int(record["total"])
                self.run.rootdir = str(record["rootdir"])
                self.run.inifile = record.get("inifile")
            elif record.get("event") == "test":
                self.run.records.append(record)
        return True
