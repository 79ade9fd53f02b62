"""How often ``loopwarden lint`` is right on real code: every finding on real test suites, read.

The corpus is the test folders of real async projects (pinned sdists, downloaded at run time into
``bench/.work/lint/``; nothing downloaded is committed). Every finding goes to
``bench/.work/lint/precision-findings.json``. Each rule's findings are then read: all of them for
a rule with at most ``SAMPLE`` findings, else a sample of ``SAMPLE`` chosen by a hash of each
finding's place (stable: a finding stays in the sample whatever else changes). ``READINGS`` holds
a person's verdict on each one read, with the evidence from the code:

- **actionable**: a person should change the code (the finding says what and why, correctly);
- **not actionable**: the code is right as it is (a false positive for this suite).

Every rule is linted, the opt-in ones (LW109) included (``--select ALL``). The readings are in
``bench/lint_readings.json``.

The per-rule table (findings, read, actionable, precision) is printed; ``--markdown`` writes it.
Exit status 1 when a rule's precision is under 90 %, or (``--strict``) a sampled finding is unread.

Usage::

    python bench/lint_precision.py [--markdown out.md] [--strict] [--show-unread]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import lint_bench

REPO = lint_bench.REPO
CORPUS = lint_bench.WORK / "precision"
FINDINGS = lint_bench.WORK / "precision-findings.json"

# The lint benchmark's projects, the real-suite corpus's (bench/trust.py), and twelve more asyncio
# projects whose sdists ship their tests (added to give the rarer rules samples worth reading),
# pinned.
PROJECTS = {
    **lint_bench.PROJECTS,
    "aiocache": "0.12.3",
    "async-lru": "2.4.0",
    "janus": "2.0.0",
    "aiojobs": "1.4.0",
    "aiofiles": "25.1.0",
    "aioconsole": "0.8.2",
    "aiolimiter": "1.3.0",
    "aiosqlite": "0.22.1",
    "aiomultiprocess": "0.9.1",
    "aioresponses": "0.7.9",
    "aiosmtplib": "5.1.3",
    "sse-starlette": "3.4.5",
    "culsans": "0.11.0",
    "aiologic": "0.17.1",
    "aiodns": "4.0.4",
    "aiodocker": "0.27.0",
    "aiohttp-retry": "2.9.1",
    "aiohttp-session": "2.12.1",
    "aiomqtt": "2.5.1",
    "aiostream": "0.8.1",
    "aiozmq": "1.0.0",
    "asgiref": "3.13.0",
    "asyncssh": "2.24.1",
    "httpcore": "1.0.9",
    "python-engineio": "4.15.1",
    "python-socketio": "5.18.1",
}

#: Findings read per rule (all of a rule's findings when it has at most this many).
SAMPLE = 20
#: The precision every rule must reach, among the findings read.
TARGET = 0.9


class Reading(NamedTuple):
    actionable: bool
    evidence: str


def _readings() -> dict[str, Reading]:
    data = json.loads((Path(__file__).parent / "lint_readings.json").read_text(encoding="utf-8"))
    return {key: Reading(value["actionable"], value["evidence"]) for key, value in data.items()}


# "<project>/<path>:<line>:<code>" -> the verdict, read in the suite's code (lint_readings.json:
# one sentence of evidence each, citing the lines that decided it).
READINGS: dict[str, Reading] = _readings()


class Finding(NamedTuple):
    key: str
    code: str
    message: str

    @property
    def rank(self) -> str:
        """Its place in its rule's sample order: a hash of the key, so a finding's membership
        in the sample does not depend on the other findings."""
        return hashlib.sha1(self.key.encode()).hexdigest()


def lint(projects: dict[str, str]) -> list[Finding]:
    lint_bench.download(projects)
    lint_bench.extract(projects, CORPUS)
    roots = [str(CORPUS / name) for name in projects if (CORPUS / name).exists()]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "loopwarden.lint", "--isolated", "--exit-zero", "--no-gitignore",
         "--select", "ALL", "--format", "json", *roots],
        check=True, capture_output=True, text=True, env=env, cwd=CORPUS,
    )  # fmt: skip
    raw = json.loads(done.stdout)
    FINDINGS.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    found = []
    for item in raw:
        path = Path(item["path"])
        relative = path.relative_to(CORPUS) if path.is_absolute() else path
        key = f"{relative.as_posix()}:{item['line']}:{item['code']}"
        found.append(Finding(key, item["code"], item["message"]))
    return found


def sample(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.code, []).append(finding)
    ordered = sorted(by_rule.items())
    return {code: sorted(group, key=lambda f: f.rank)[:SAMPLE] for code, group in ordered}


def table(findings: Sequence[Finding], chosen: dict[str, list[Finding]]) -> tuple[str, bool]:
    totals = Counter(f.code for f in findings)
    lines = [
        "| rule | findings | read | actionable | not actionable | unread | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ok = True
    for code, group in chosen.items():
        read = [READINGS[f.key] for f in group if f.key in READINGS]
        good = sum(r.actionable for r in read)
        precision = good / len(read) if read else None
        shown = f"{precision:.0%}" if precision is not None else "—"
        if precision is not None and precision < TARGET:
            ok = False
            shown = f"**{shown}**"
        lines.append(
            f"| {code} | {totals[code]} | {len(read)} | {good} | {len(read) - good} | "
            f"{len(group) - len(read)} | {shown} |"
        )
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="write the table and the readings here")
    parser.add_argument("--strict", action="store_true", help="fail on a sampled unread finding")
    parser.add_argument("--show-unread", action="store_true", help="list the unread sample")
    args = parser.parse_args()
    findings = lint(PROJECTS)
    chosen = sample(findings)
    text, ok = table(findings, chosen)
    files = len(list(CORPUS.rglob("*.py")))
    print(f"corpus: {len(PROJECTS)} projects' tests, {files} files, {len(findings)} findings")
    print(text)
    unread = [f for group in chosen.values() for f in group if f.key not in READINGS]
    if args.show_unread:
        for finding in unread:
            print(f"unread: {finding.key}: {finding.message}")
    false = [
        (f, READINGS[f.key]) for group in chosen.values() for f in group
        if f.key in READINGS and not READINGS[f.key].actionable
    ]  # fmt: skip
    if args.markdown:
        body = [text, "", "Not actionable (read):", ""]
        body += [f"- `{f.key}`: {r.evidence}" for f, r in false] or ["- none"]
        args.markdown.write_text("\n".join(body) + "\n", encoding="utf-8")
    stale = sorted(set(READINGS) - {f.key for f in findings})
    if stale:
        print(f"{len(stale)} readings match no finding any more (fixed rules?): {stale[:5]}")
    if not ok:
        print(f"a rule is under {TARGET:.0%} actionable precision")
    if args.strict and unread:
        print(f"{len(unread)} sampled findings are not read yet (--show-unread lists them)")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
