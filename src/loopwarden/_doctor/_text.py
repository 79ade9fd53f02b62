"""The doctor's terminal summary: problems by priority, each with its place and its fix."""

from __future__ import annotations

from typing import Any

from loopwarden._doctor._diagnosis import CATEGORIES, TITLES

# Tests named per problem before "and N more".
_MAX_TESTS = 3
# Failed tests named in the summary.
_MAX_FAILURES = 5


def render(document: dict[str, Any], written: list[str]) -> str:
    """The summary of a doctor ``document`` (as written by ``--json``)."""
    lines: list[str] = []
    tests = document["tests"]
    outcome = ", ".join(
        f"{tests[k]} {k}" for k in ("passed", "failed", "error", "skipped") if tests.get(k)
    )
    head = f"loopwarden doctor {document['path']}: {tests['total']} tests"
    if outcome and document["counts"].get("leak"):
        outcome += "; leaks are findings here, not failures"
    lines.append(f"{head} ({outcome})" if outcome else head)
    if document["interrupted"]:
        lines.append("INTERRUPTED: what follows is what was found before Ctrl-C.")
    problems = document["problems"]
    for category in CATEGORIES:
        mine = [p for p in problems if p["category"] == category]
        if not mine:
            continue
        title = f"{TITLES[category]} ({len(mine)})"
        if category == "virtual-time" and document.get("virtual_time"):
            vt = document["virtual_time"]
            title += (
                f": {vt['saved_seconds']:.2f} s of {vt['real_seconds']:.2f} s "
                "real time would be saved"
            )
        lines += ["", title]
        for problem in mine:
            where = problem["location"]
            if problem.get("function"):
                where += f" in {problem['function']}"
            lines.append(f"  {where}: {problem['title']}")
            if problem["category"] == "order-dependent":
                lines.append(f"    replay: {problem['data']['replay']}")
            names = problem["tests"]
            if names and problem["category"] not in ("order-dependent", "repeat", "virtual-time"):
                shown = ", ".join(names[:_MAX_TESTS])
                more = f" and {len(names) - _MAX_TESTS} more" if len(names) > _MAX_TESTS else ""
                lines.append(f"    in {shown}{more}")
            lines.append(f"    fix: {problem['fix']}")
    if not problems:
        lines += [
            "",
            "Nothing found: no hang, leak, order dependence, blocking call or lint "
            "finding, and no test waits on timers.",
        ]
    unconfirmed = document.get("lint_unconfirmed") or []
    if unconfirmed:
        n = len(unconfirmed)
        lines += [
            "",
            f"Not listed: {n} sleep{'s' if n != 1 else ''} before a check (LW102) in tests where "
            "no I/O or other thread woke the loop while a timer was pending, so no work that "
            f"takes real time raced {'them' if n != 1 else 'it'} in this run (loopwarden lint "
            "--select LW102 lists every one).",
        ]
    failing = tests.get("failed", 0) + tests.get("error", 0)
    if failing:
        lines += [
            "",
            f"{failing} test{'s' if failing != 1 else ''} failed in the instrumented run "
            "(failures with a finding are listed above):",
        ]
        failures = document.get("failures", [])
        for failure in failures[:_MAX_FAILURES]:
            kind = " (at setup or teardown)" if failure["outcome"] == "error" else ""
            message = failure["message"] or "(no message)"
            if failure.get("slow_not_stuck"):
                message += f" [slow, not stuck: see {TITLES['virtual-time']!r} above]"
            lines.append(f"  {failure['test']}{kind}: {message}")
        if len(failures) > _MAX_FAILURES:
            lines.append(f"  … and {len(failures) - _MAX_FAILURES} more (--json lists them all)")
    lines.append("")
    lines += written
    timing = ", ".join(
        f"{p['name']} {p['seconds']:.1f} s" for p in document["phases"] if p["status"] != "skipped"
    )
    lines.append(f"doctor took {document['runtime_seconds']:.1f} s ({timing})")
    return "\n".join(lines) + "\n"
