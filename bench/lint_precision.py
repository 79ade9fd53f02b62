"""How often ``loopwarden lint`` is right on real code: every finding on real test suites, read.

The corpus is the test folders of real async projects (pinned sdists, downloaded at run time into
``bench/.work/lint/``; nothing downloaded is committed). Every finding goes to
``bench/.work/lint/precision-findings.json``. Each rule's findings are then read: all of them for
a rule with at most ``SAMPLE`` findings, else a sample of ``SAMPLE`` chosen by a hash of each
finding's place (stable: a finding stays in the sample whatever else changes). ``READINGS`` holds
a person's verdict on each one read, with the evidence from the code:

- **actionable**: a person should change the code (the finding says what and why, correctly);
- **not actionable**: the code is right as it is (a false positive for this suite).

Every rule is linted, the opt-in ones included (``--select ALL``; the table marks them). The
readings are in ``bench/lint_readings.json``. Readings that match no finding any more (the rule was
fixed since) are moved to ``bench/lint_readings_stale.json`` (``--move-stale``), same format: the
"before" evidence, counted in a note but out of the table.

The rules were tuned on that corpus, so ``--held-out`` measures them on another one: asyncio
projects the rules were never tuned on (``HELD_OUT_PROJECTS``), downloaded into ``bench/.work/lint/
heldout-sdists/``, unpacked into ``bench/.work/lint/heldout/``, findings in
``bench/.work/lint/heldout-findings.json``, readings in ``bench/lint_readings_heldout.json``; same
rules, same sample.

The per-rule table (findings, read, actionable, precision) is printed; ``--markdown`` writes it.
Exit status 1 when a rule's precision is under 90 %, or (``--strict``) a sampled finding is unread.

Usage::

    python bench/lint_precision.py [--held-out] [--markdown out.md] [--strict] [--show-unread]
    python bench/lint_precision.py --move-stale    # live readings that match nothing -> stale
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
HERE = Path(__file__).resolve().parent
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


def load_readings(path: Path) -> dict[str, Reading]:
    """``"<project>/<path>:<line>:<code>"`` -> the verdict, read in the suite's code (one sentence
    of evidence each, citing the lines that decided it); empty when the file does not exist."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {key: Reading(value["actionable"], value["evidence"]) for key, value in data.items()}


def save_readings(path: Path, readings: dict[str, Reading]) -> None:
    data = {
        key: {"actionable": r.actionable, "evidence": r.evidence} for key, r in readings.items()
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


class Corpus(NamedTuple):
    """Where one corpus comes from, goes to, and is read."""

    label: str
    projects: dict[str, str]
    sdists: Path
    root: Path
    findings: Path
    readings: Path
    stale: Path


MAIN = Corpus(
    "corpus", PROJECTS, lint_bench.SDISTS, CORPUS, FINDINGS,
    HERE / "lint_readings.json", HERE / "lint_readings_stale.json",
)  # fmt: skip

# Asyncio projects the rules were never tuned on (in neither PROJECTS nor lint_bench.PROJECTS),
# whose sdists ship their tests, pinned. Their findings measure the rules honestly; fix a rule
# from them only for a clear, general flaw (bench/README-lint.md, "Held-out corpus").
HELD_OUT_PROJECTS = {
    "aiobotocore": "3.10.0",
    "aiogram": "3.31.0",
    "aiohappyeyeballs": "2.7.1",
    "aiohttp-cors": "0.8.1",
    "aiohttp-jinja2": "1.6",
    "aiohttp-sse": "3.0",
    "aioitertools": "0.13.0",
    "aiomonitor": "0.7.1",
    "aiomysql": "0.3.2",
    "aiortc": "1.16.0",
    "aiosignal": "1.4.0",
    "aiosmtpd": "1.4.6",
    "aresponses": "3.0.0",
    "arq": "0.28.0",
    "asyncclick": "8.4.2.1",
    "databases": "0.9.0",
    "faust-streaming": "0.15.3",
    "gql": "4.4.0",
    "httpx-ws": "0.9.0",
    "hypercorn": "0.18.0",
    "mode-streaming": "0.7.1",
    "motor": "3.7.1",
    "pytest-aiohttp": "1.1.1",
    "quart": "0.20.0",
    "slixmpp": "1.17.0",
    "tortoise-orm": "1.1.9",
    "trio-asyncio": "0.16.0",
}

HELD_OUT = Corpus(
    "held-out corpus", HELD_OUT_PROJECTS, lint_bench.WORK / "heldout-sdists",
    lint_bench.WORK / "heldout", lint_bench.WORK / "heldout-findings.json",
    HERE / "lint_readings_heldout.json", HERE / "lint_readings_heldout_stale.json",
)  # fmt: skip

# The main corpus's readings, as the script has always exposed them.
READINGS: dict[str, Reading] = load_readings(MAIN.readings)


class Finding(NamedTuple):
    key: str
    code: str
    message: str

    @property
    def rank(self) -> str:
        """Its place in its rule's sample order: a hash of the key, so a finding's membership
        in the sample does not depend on the other findings."""
        return hashlib.sha1(self.key.encode()).hexdigest()


def lint(corpus: Corpus = MAIN) -> list[Finding]:
    lint_bench.download(corpus.projects, corpus.sdists)
    lint_bench.extract(corpus.projects, corpus.root, corpus.sdists)
    roots = [str(corpus.root / name) for name in corpus.projects if (corpus.root / name).exists()]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "loopwarden.lint", "--isolated", "--exit-zero", "--no-gitignore",
         "--select", "ALL", "--format", "json", *roots],
        check=True, capture_output=True, text=True, env=env, cwd=corpus.root,
    )  # fmt: skip
    raw = json.loads(done.stdout)
    corpus.findings.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    found = []
    for item in raw:
        path = Path(item["path"])
        relative = path.relative_to(corpus.root) if path.is_absolute() else path
        key = f"{relative.as_posix()}:{item['line']}:{item['code']}"
        found.append(Finding(key, item["code"], item["message"]))
    return found


def sample(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.code, []).append(finding)
    ordered = sorted(by_rule.items())
    return {code: sorted(group, key=lambda f: f.rank)[:SAMPLE] for code, group in ordered}


def table(
    findings: Sequence[Finding],
    chosen: dict[str, list[Finding]],
    readings: dict[str, Reading] = READINGS,
) -> tuple[str, bool]:
    sys.path.insert(0, str(REPO / "src"))
    from loopwarden.lint.rules import RULES

    totals = Counter(f.code for f in findings)
    lines = [
        "| rule | findings | read | actionable | not actionable | unread | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ok = True
    for code, group in chosen.items():
        read = [readings[f.key] for f in group if f.key in readings]
        good = sum(r.actionable for r in read)
        precision = good / len(read) if read else None
        shown = f"{precision:.0%}" if precision is not None else "—"
        if precision is not None and precision < TARGET:
            ok = False
            shown = f"**{shown}**"
        opt_in = "" if code not in RULES or RULES[code].default else " (opt-in)"
        lines.append(
            f"| {code}{opt_in} | {totals[code]} | {len(read)} | {good} | {len(read) - good} | "
            f"{len(group) - len(read)} | {shown} |"
        )
    return "\n".join(lines), ok


def move_stale(corpus: Corpus, findings: Sequence[Finding]) -> int:
    """Move the readings that match no finding from the live file to the stale one."""
    missing = [name for name in corpus.projects if not (corpus.root / name).exists()]
    if missing:
        # A project left out of the run would make all its readings look stale.
        print(f"not moving stale readings: {', '.join(missing)} missing from the corpus")
        return 1
    live = load_readings(corpus.readings)
    keys = {f.key for f in findings}
    moved = {key: r for key, r in live.items() if key not in keys}
    stale = {**load_readings(corpus.stale), **moved}
    save_readings(corpus.stale, dict(sorted(stale.items())))
    save_readings(corpus.readings, {k: r for k, r in live.items() if k in keys})
    print(f"moved {len(moved)} readings to {corpus.stale.name} ({len(stale)} there now)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held-out", action="store_true", help="lint the held-out corpus only")
    parser.add_argument("--markdown", type=Path, help="write the table and the readings here")
    parser.add_argument("--strict", action="store_true", help="fail on a sampled unread finding")
    parser.add_argument("--show-unread", action="store_true", help="list the unread sample")
    parser.add_argument(
        "--move-stale", action="store_true",
        help="move the readings that match no finding to the stale readings file",
    )  # fmt: skip
    args = parser.parse_args()
    corpus = HELD_OUT if args.held_out else MAIN
    readings = load_readings(corpus.readings)
    findings = lint(corpus)
    if args.move_stale:
        return move_stale(corpus, findings)
    chosen = sample(findings)
    text, ok = table(findings, chosen, readings)
    files = len(list(corpus.root.rglob("*.py")))
    print(
        f"{corpus.label}: {len(corpus.projects)} projects' tests, {files} files, "
        f"{len(findings)} findings"
    )
    print(text)
    unread = [f for group in chosen.values() for f in group if f.key not in readings]
    if args.show_unread:
        for finding in unread:
            print(f"unread: {finding.key}: {finding.message}")
    false = [
        (f, readings[f.key]) for group in chosen.values() for f in group
        if f.key in readings and not readings[f.key].actionable
    ]  # fmt: skip
    if args.markdown:
        body = [text, "", "Not actionable (read):", ""]
        body += [f"- `{f.key}`: {r.evidence}" for f, r in false] or ["- none"]
        args.markdown.write_text("\n".join(body) + "\n", encoding="utf-8")
    keys = {f.key for f in findings}
    stale = sorted(set(readings) - keys)
    if stale:
        print(
            f"{len(stale)} readings match no finding any more (fixed rules?): {stale[:5]}; "
            f"--move-stale moves them to {corpus.stale.name}"
        )
    kept = load_readings(corpus.stale)
    if kept:
        back = sorted(set(kept) & keys)
        print(
            f"{len(kept)} stale readings (before the rules were fixed) are kept in "
            f"{corpus.stale.name}, out of the table"
            + (f"; {len(back)} match a finding again: {back[:5]}" if back else "")
        )
    if not ok:
        print(f"a rule is under {TARGET:.0%} actionable precision")
    if args.strict and unread:
        print(f"{len(unread)} sampled findings are not read yet (--show-unread lists them)")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
