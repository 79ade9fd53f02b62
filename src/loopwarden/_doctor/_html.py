"""The doctor's HTML report: one self-contained page (inline CSS and SVG, no script, no network).

It shows the summary (problems by priority, each with place and fix) and, per test that created
tasks, a timeline: the test's phases as bands, each task as a bar from creation to its end,
coloured by how it ended — a leaked task's bar runs into the leak check that found it, so what
outlived the test stands out. Elements carry ``data-*`` attributes (test, task state) so tests can
assert on the DOM.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from loopwarden._doctor._diagnosis import CATEGORIES, TITLES

_WIDTH = 760
_ROW = 20  # a bar is 16 px: an 11 px label's underscores stay inside it
_CHAR = 6.7  # the width of one character of the 11 px monospace labels
_STATES = ("done", "failed", "cancelled", "leaked", "pending")

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
code, .where { font-family: ui-monospace, monospace; font-size: 0.92em; }
.problem { border-left: 4px solid #999; padding: 0.3em 0.8em; margin: 0.6em 0;
  background: #fafafa; }
.problem.hang, .problem.leak { border-color: #c62828; }
.problem.unseen-error, .problem.order-dependent, .problem.repeat { border-color: #ef6c00; }
.problem.blocking, .problem.lint { border-color: #f9a825; }
.problem.virtual-time { border-color: #1565c0; }
.fix { color: #2e7d32; } .tests { color: #666; font-size: 0.9em; }
.timeline { margin: 1em 0 1.6em; } .timeline h3 { font-size: 1em; margin: 0.2em 0; }
svg text { font: 11px ui-monospace, monospace; fill: #222; } svg text.inside { fill: #fff; }
.bar.done { fill: #66bb6a; } .bar.failed { fill: #ef6c00; } .bar.cancelled { fill: #9e9e9e; }
.bar.leaked { fill: #c62828; } .bar.pending { fill: #ab47bc; }
.band { fill: #eceff1; } .band.call { fill: #e3f2fd; }
.legend span { display: inline-block; padding: 0 0.5em; margin-right: 0.4em; color: #fff; }
.legend .done { background: #66bb6a; } .legend .failed { background: #ef6c00; }
.legend .cancelled { background: #9e9e9e; } .legend .leaked { background: #c62828; }
.legend .pending { background: #ab47bc; }
.nothing { color: #2e7d32; }
"""


def render_html(document: dict[str, Any]) -> str:
    """The page for a doctor ``document`` (as written by ``--json``)."""
    tests = document["tests"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>loopwarden doctor: {escape(document['path'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>loopwarden doctor <code>{escape(document['path'])}</code></h1>",
        f"<p>{tests['total']} tests: "
        + ", ".join(
            f"{tests[k]} {k}" for k in ("passed", "failed", "error", "skipped") if tests.get(k)
        )
        + f". Doctor took {document['runtime_seconds']:.1f} s.</p>",
    ]
    if document["interrupted"]:
        parts.append("<p><strong>Interrupted</strong>: this is what was found before Ctrl-C.</p>")
    problems = document["problems"]
    if not problems:
        parts.append('<p class="nothing">Nothing found.</p>')
    for category in CATEGORIES:
        mine = [p for p in problems if p["category"] == category]
        if not mine:
            continue
        parts.append(f'<h2 id="{category}">{escape(TITLES[category])} ({len(mine)})</h2>')
        for problem in mine:
            where = problem["location"] + (
                f" in {problem['function']}" if problem.get("function") else ""
            )
            parts.append(
                f'<div class="problem {category}" data-category="{category}" '
                f'data-location="{escape(problem["location"])}">'
                f'<div><span class="where">{escape(where)}</span>: '
                f"{escape(problem['title'])}</div>"
                f'<div class="fix">Fix: {escape(problem["fix"])}</div>'
                + (
                    '<div class="tests">'
                    + ", ".join(_test_link(t, document["timelines"]) for t in problem["tests"][:5])
                    + "</div>"
                    if problem["tests"]
                    else ""
                )
                + "</div>"
            )
    timelines = [(nodeid, t) for nodeid, t in document["timelines"].items() if t["tasks"]]
    if timelines:
        parts.append('<h2 id="timelines">Task timelines</h2>')
        parts.append(
            '<p class="legend">'
            + "".join(f'<span class="{s}">{s}</span>' for s in _STATES)
            + " — bars run from a task's creation to its end; bands are the test's setup, call "
            "and teardown.</p>"
        )
        # Tests with a leaked task first: that is what a person comes to see.
        timelines.sort(key=lambda item: not any(t["state"] == "leaked" for t in item[1]["tasks"]))
        for nodeid, timeline in timelines:
            parts.append(_timeline(nodeid, timeline))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _anchor(nodeid: str) -> str:
    """The id of a test's timeline in the page (node ids have characters ids must not)."""
    return "timeline-" + re.sub(r"[^A-Za-z0-9_.-]", "-", nodeid)


def _test_link(nodeid: str, timelines: dict[str, Any]) -> str:
    """A test's name, linked to its timeline when the page has one."""
    timeline = timelines.get(nodeid)
    if timeline is None or not timeline.get("tasks"):
        return escape(nodeid)
    return f'<a href="#{_anchor(nodeid)}">{escape(nodeid)}</a>'


def _timeline(nodeid: str, timeline: dict[str, Any]) -> str:
    tasks = timeline["tasks"]
    end = max(
        [float(timeline["duration"])]
        + [float(t["ended"]) for t in tasks if t["ended"] is not None]
        + [1e-6]
    )
    scale = _WIDTH / end
    height = _ROW * (len(tasks) + 1) + 4
    rows = []
    for name, (start, stop) in timeline["phases"].items():
        x = float(start) * scale
        w = max(1.0, (float(stop) - float(start)) * scale)
        # A band too narrow for its name gets none (its tooltip names it): a cut-off or
        # overlapping "set" "tear" helps nobody.
        label = f'<text x="{x + 2:.1f}" y="11">{name}</text>' if w >= _CHAR * len(name) + 4 else ""
        rows.append(
            f'<rect class="band {name}" x="{x:.1f}" y="0" width="{w:.1f}" height="{height}">'
            f"<title>{name}: {start:.3f} to {stop:.3f} s</title></rect>{label}"
        )
    for index, task in enumerate(tasks):
        y = _ROW * (index + 1)
        start = float(task["created"])
        stop = float(task["ended"]) if task["ended"] is not None else end
        x = start * scale
        w = max(2.0, (stop - start) * scale)
        label = f"{task['coro']} ({task['state']})"
        tip = (
            f"{task['name']} running {task['coro']}, created at {task['site']} after "
            f"{start:.3f} s, {task['state']} at {stop:.3f} s"
        )
        # The label goes inside a bar long enough to hold it, else beside it where there is
        # room: a leaked task's bar often spans the whole width.
        text_w = _CHAR * len(label)
        if w >= text_w + 8:
            place = f'x="{x + 4:.1f}" class="inside"'
        elif x + w + 4 + text_w <= _WIDTH:
            place = f'x="{x + w + 4:.1f}"'
        else:
            place = f'x="{max(x - 4, text_w):.1f}" text-anchor="end"'
        rows.append(
            f'<rect class="bar {task["state"]}" data-state="{task["state"]}" '
            f'data-coro="{escape(task["coro"])}" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" '
            f'height="{_ROW - 4}"><title>{escape(tip)}</title></rect>'
            f'<text {place} y="{y + 14}">{escape(label)}</text>'
        )
    return (
        f'<div class="timeline" id="{_anchor(nodeid)}" data-test="{escape(nodeid)}">'
        f"<h3><code>{escape(nodeid)}</code> — {escape(timeline['location'])}, "
        f"{timeline['outcome']}, {float(timeline['duration']):.3f} s</h3>"
        f'<svg width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img">{"".join(rows)}</svg></div>'
    )
