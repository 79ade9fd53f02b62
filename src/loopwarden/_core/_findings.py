"""Findings: what the guards found wrong with one test, as data, as text and as JSON.

A :class:`Finding` is built from the core's records (leftover tasks, timers, resources, threads,
captured exception-handler contexts, never-awaited coroutines) and carries everything a person
or the doctor needs: what it is, where it was created, and the few lines that explain it.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, get_args

from loopwarden._core import _libraries
from loopwarden._core._records import Record
from loopwarden._core._registry import CapturedContext, TaskOrigin
from loopwarden._core._sites import Site, _is_library, _is_machinery, shown
from loopwarden._core._snapshot import Leftovers

if TYPE_CHECKING:
    from loopwarden._core._schema import FindingJson


class Kind(Record):
    """What loopwarden knows about one kind of finding.

    Attributes:
        noun: how one is counted in a headline ("2 executor jobs").
        group: the ``allow_leaks`` keyword that covers it (``tasks``, ``timers``, ``threads``,
            ``resources``, ``errors``), or None.
        left_running: something left running (a leak) rather than an error that happened.
        doctor: the doctor's category: ``leak`` or ``unseen-error``.
        advice: what to do about it.
    """

    noun: str
    group: str | None
    left_running: bool
    doctor: str
    advice: str
    __slots__ = ("advice", "doctor", "group", "left_running", "noun")
    _fields = ("noun", "group", "left_running", "doctor", "advice")

    def __init__(
        self, noun: str, group: str | None, left_running: bool, doctor: str, advice: str
    ) -> None:
        self.noun = noun
        self.group = group
        self.left_running = left_running
        self.doctor = doctor
        self.advice = advice


#: Every kind of leak or error finding, in one table (hangs and blocking calls are the
#: watchdog's, and have none of these properties).
KINDS: dict[str, Kind] = {
    "task": Kind(
        "task",
        "tasks",
        True,
        "leak",
        "cancel and await background tasks in the fixture that started them (or use a "
        "TaskGroup inside the test)",
    ),
    "task-destroyed": Kind(
        "destroyed pending task",
        "tasks",
        False,
        "unseen-error",
        "keep a reference to each task you create and await it",
    ),
    "timer": Kind(
        "timer",
        "timers",
        True,
        "leak",
        "keep the handle of call_later()/call_at() and cancel it in teardown",
    ),
    "thread": Kind(
        "thread",
        "threads",
        True,
        "leak",
        "join threads you start, or run blocking work with asyncio.to_thread(); a library's "
        "worker thread (a database driver's) ends when what started it is closed (await "
        "engine.dispose())",
    ),
    "server": Kind(
        "server",
        "resources",
        True,
        "leak",
        "close the server (server.close(); await server.wait_closed()) in teardown",
    ),
    "connection": Kind(
        "connection",
        "resources",
        True,
        "leak",
        "close connections in teardown (writer.close(); await writer.wait_closed())",
    ),
    "transport": Kind(
        "transport", "resources", True, "leak", "close both ends of every connection in teardown"
    ),
    "subprocess": Kind(
        "subprocess",
        "resources",
        True,
        "leak",
        "await proc.wait() (or proc.communicate()) before the test ends",
    ),
    "executor": Kind(
        "executor job", "resources", True, "leak", "await the executor future before the test ends"
    ),
    "session": Kind(
        "unclosed session",
        "resources",
        True,
        "leak",
        "close the client after the fixture's yield (aiohttp: await session.close(); httpx: "
        "await client.aclose()), or make it with 'async with' — see docs/how-to/leaks.md",
    ),
    # A session the library itself reported freed: nothing is left running.
    "unclosed": Kind(
        "unclosed session",
        "resources",
        False,
        "leak",
        "close sessions in the fixture's teardown ('async with', or await session.close()), or "
        "inject one shared session — see docs/how-to/leaks.md",
    ),
    "db-connection": Kind(
        "database connection",
        "resources",
        True,
        "leak",
        "open SQLAlchemy connections and sessions with 'async with' (async with "
        "engine.connect() as conn: …, async with AsyncSession(engine) as session: …), or use "
        "the db_connection / db_session fixtures, which close themselves",
    ),
    "coroutine": Kind(
        "never-awaited coroutine",
        "errors",
        False,
        "unseen-error",
        "await the coroutine (or pass it to asyncio.create_task and await the task)",
    ),
    "task-exception": Kind(
        "unretrieved task exception",
        "errors",
        False,
        "unseen-error",
        "await the task (or call task.result()) so its exception is seen",
    ),
    "callback-error": Kind(
        "background error",
        "errors",
        False,
        "unseen-error",
        "a callback or task crashed in the background; fix the error above",
    ),
}

# The allow_leaks marker's keywords and the finding kinds each one covers.
ALLOW_GROUPS: dict[str, frozenset[str]] = {
    group: frozenset(name for name, kind in KINDS.items() if kind.group == group)
    for group in ("tasks", "timers", "threads", "resources", "errors")
}

# Kinds that are about something left running (a "leak") rather than an error that happened.
_LEFT_RUNNING = frozenset(name for name, kind in KINDS.items() if kind.left_running)

#: What to do about each kind of finding (the doctor's summary reuses it).
ADVICE = {name: kind.advice for name, kind in KINDS.items()}


#: Kinds the leak baseline takes as another (see :meth:`Finding.signature`).
_SAME_FOR_THE_BASELINE = {"task-destroyed": "task"}

#: What a finding is: a kind of :data:`KINDS` (what the leak guard finds), or what the watchdog
#: finds (``hang``, ``blocking``). A test checks that the two lists agree.
FindingKind = Literal[
    "task",
    "task-destroyed",
    "timer",
    "thread",
    "server",
    "connection",
    "transport",
    "subprocess",
    "executor",
    "session",
    "unclosed",
    "db-connection",
    "coroutine",
    "task-exception",
    "callback-error",
    "hang",
    "blocking",
]
#: How a finding counts: ``new`` fails its test; ``allowed`` by ``allow_leaks``; ``baselined``
#: known in the baseline file; ``recorded`` into it; ``warned`` reported as a warning.
FindingStatus = Literal["new", "allowed", "baselined", "recorded", "warned"]
FINDING_KINDS: frozenset[str] = frozenset(get_args(FindingKind))
FINDING_STATUSES: frozenset[str] = frozenset(get_args(FindingStatus))


def finding_kind(value: str) -> FindingKind:
    """``value`` as a finding kind; ValueError if it is none (a report from another version)."""
    if value not in FINDING_KINDS:
        raise ValueError(
            f"unknown finding kind {value!r}; known: {', '.join(sorted(FINDING_KINDS))}"
        )
    return value  # type: ignore[return-value]  # (checked just above)


def finding_status(value: str) -> FindingStatus:
    """``value`` as a finding status; ValueError if it is none."""
    if value not in FINDING_STATUSES:
        raise ValueError(
            f"unknown finding status {value!r}; known: {', '.join(sorted(FINDING_STATUSES))}"
        )
    return value  # type: ignore[return-value]  # (checked just above)


class Finding(Record):
    """One thing a guard found.

    Attributes:
        kind: what it is (``task``, ``timer``, ``thread``, ``server``, ``connection``,
            ``transport``, ``subprocess``, ``executor``, ``session``, ``unclosed``,
            ``db-connection``, ``coroutine``, ``task-exception``, ``task-destroyed``,
            ``callback-error``, ``hang``, ``blocking``).
        name: a short identity used by allow-lists and the baseline (a coroutine's qualified
            name, a callback, a thread's target, …): stable across runs.
        message: one line saying what it is.
        site: where it was created (``path:line in function``), relative to the rootdir.
        user_site: when ``site`` is inside a library, the user's line that led there.
        detail: further lines (the await chain, a traceback, a creation stack).
        owner: the test node id, or the fixture that owns it.
        status: ``new`` (counts), ``allowed`` (marker), ``baselined`` (in the baseline file).
    """

    kind: FindingKind
    name: str
    message: str
    site: str | None
    user_site: str | None
    detail: list[str]
    owner: str
    status: FindingStatus
    __slots__ = ("detail", "kind", "message", "name", "owner", "site", "status", "user_site")
    _fields = ("kind", "name", "message", "site", "user_site", "detail", "owner", "status")

    def __init__(
        self,
        kind: FindingKind,
        name: str,
        message: str,
        site: str | None = None,
        user_site: str | None = None,
        detail: list[str] | None = None,
        owner: str = "",
        status: FindingStatus = "new",
    ) -> None:
        self.kind = kind
        self.name = name
        self.message = message
        self.site = site
        self.user_site = user_site
        self.detail = [] if detail is None else detail
        self.owner = owner
        self.status = status

    def lines(self) -> list[str]:
        out = [f"  {self.message}"]
        if self.site is not None:
            where = f"      created at {self.site}"
            if self.user_site is not None:
                where += f" (from {self.user_site})"
            out.append(where)
        out.extend(f"      {line}" for line in self.detail)
        return out

    def signature(self, *, own_site: bool = False) -> str:
        """A line-number-free key for the baseline: kind, name and the creating function.

        ``own_site``: key on ``site`` even when ``user_site`` is known (the key of versions that
        found no user line for what a library makes in a callback; see ``Baseline.classify``).
        """
        where = ""
        site = self.site if own_site else (self.user_site or self.site)
        # A pending task nothing refers to is reported destroyed when the garbage collector
        # takes it before the check, else still pending: which, the run's allocations decide.
        # For the baseline both are the same task left behind.
        kind = _SAME_FOR_THE_BASELINE.get(self.kind, self.kind)
        # A thread's key stays kind and name: baselines recorded before threads had a start
        # site keep matching, and so do runs where the start was not recorded.
        if site is not None and self.kind != "thread":
            path, _, rest = site.partition(":")
            function = rest.partition(" in ")[2]
            where = f"@{path}:{function}"
        return f"{kind}:{self.name}{where}"

    def to_json(self) -> FindingJson:
        return {
            "kind": self.kind,
            "name": self.name,
            "message": self.message,
            "site": self.site,
            "user_site": self.user_site,
            "detail": list(self.detail),
            "owner": self.owner,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            kind=finding_kind(str(data["kind"])),
            name=str(data["name"]),
            message=str(data["message"]),
            site=data.get("site"),
            user_site=data.get("user_site"),
            detail=[str(line) for line in data.get("detail", ())],
            owner=str(data.get("owner", "")),
            status=finding_status(str(data.get("status", "new"))),
        )


class Sites:
    """Formats sites relative to the rootdir (shorter, and stable across machines)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def text(self, text: str) -> str:
        """``text`` with absolute paths below the root made relative (asyncio's messages)."""
        return text.replace(os.path.join(self.root, ""), "")

    def site(self, site: Site | None) -> str | None:
        if site is None:
            return None
        return shown(site, self.root)

    def origin(self, origin: TaskOrigin | None) -> tuple[str | None, str | None]:
        if origin is None:
            return None, None
        return self.site(origin.site), self.site(origin.user_site)

    def chain(self, frames: Iterable[Site]) -> str:
        """An await chain on one line: user frames with their place, asyncio's by name."""
        parts = []
        for frame in frames:
            if _is_machinery(frame.filename):
                parts.append(f"asyncio {frame.function}()")
            else:
                place = frame.relative_to(self.root)
                parts.append(f"{frame.function}() at {place.filename}:{place.lineno}")
        return " -> ".join(parts)

    def stack(self, origin: TaskOrigin | None) -> list[str]:
        if origin is None or not origin.stack:
            return []
        return ["creation stack (most recent call last):"] + [
            f"  {self.site(site)}" for site in origin.stack
        ]


def from_leftovers(left: Leftovers, sites: Sites, owner: str) -> list[Finding]:
    """Findings for everything still alive after a test (or fixture) ended."""
    found: list[Finding] = []
    for task in left.tasks:
        site, user_site = sites.origin(task.origin)
        detail = []
        if task.parked_at:
            detail.append(f"parked at: {sites.chain(task.parked_at)}")
        if task.awaited_by:
            detail.append(f"awaited by: {' ← '.join(task.awaited_by)}")
        detail.extend(sites.stack(task.origin))
        found.append(
            Finding(
                "task",
                task.coro,
                f"task {task.name!r} running {task.coro}() is still pending",
                site,
                user_site,
                detail,
                owner,
            )
        )
    for timer in left.timers:
        site, user_site = sites.origin(timer.origin)
        found.append(
            Finding(
                "timer",
                timer.callback,
                f"timer calling {timer.callback}() was neither run nor cancelled",
                site,
                user_site,
                sites.stack(timer.origin),
                owner,
            )
        )
    for resource in left.resources:
        site, user_site = sites.origin(resource.origin)
        found.append(
            Finding(
                finding_kind(resource.kind),
                _resource_name(resource.kind, resource.description),
                _resource_message(resource.kind, resource.description),
                site,
                user_site,
                sites.stack(resource.origin),
                owner,
            )
        )
    for thread in left.threads:
        site, user_site = sites.origin(thread.origin)
        found.append(
            Finding(
                "thread",
                thread.target,
                f"thread {thread.name!r} (target {thread.target}) is still alive",
                site,
                user_site,
                [],
                owner,
            )
        )
    return found


def _resource_message(kind: str, description: str) -> str:
    if kind == "executor":
        return f"executor work still running: {description}"
    if kind == "session":
        return f"{description} was never closed"
    return f"{kind} still open: {description}"


def _resource_name(kind: str, description: str) -> str:
    # Addresses and object ids change from run to run; the kind and class do not.
    if kind == "session":
        # (A subclass: "app.ApiClient (an httpx.AsyncClient)" is named "app.ApiClient", as
        # before the library's name was shown — a baseline keeps matching.)
        return description.split(" (an ", 1)[0]
    match = re.match(r"<(\w+)", description)
    return match.group(1) if match else kind


# Messages asyncio and aiohttp pass to the loop's exception handler, and what they mean.
_UNRETRIEVED = "Task exception was never retrieved"
_DESTROYED = "Task was destroyed but it is pending!"
_UNCLOSED = re.compile(r"^Unclosed (client session|connector|response|connection)")


def from_context(captured: CapturedContext, sites: Sites, owner: str) -> Finding:
    """A finding for one context the loop's exception handler received."""
    context = captured.context
    message = sites.text(captured.message)
    exc = captured.exception
    site, user_site = sites.origin(captured.origin)
    detail: list[str] = []
    if exc is not None:
        detail = _traceback_lines(exc, sites)
    if message == _UNRETRIEVED:
        task = context.get("future") or context.get("task")
        name = _task_coro(task)
        return Finding(
            "task-exception",
            name,
            f"task running {name}() failed and nobody retrieved its exception: {_exc_line(exc)}",
            site,
            user_site,
            detail,
            owner,
        )
    if message == _DESTROYED:
        task = context.get("task")
        name = _task_coro(task)
        if site is None:
            # Collected with its reference cycle: the registry's weak entry is gone, but the
            # coroutine still says where it is defined.
            code = getattr(getattr(task, "get_coro", lambda: None)(), "cr_code", None)
            if code is not None:
                site = sites.site(Site(code.co_filename, code.co_firstlineno, code.co_name))
                detail = [
                    "(where it was created is unknown: it was collected with its reference "
                    "cycle; the site above is where its coroutine is defined)"
                ]
        return Finding(
            "task-destroyed",
            name,
            f"task running {name}() was garbage-collected while still pending",
            site,
            user_site,
            detail,
            owner,
        )
    unclosed = _UNCLOSED.match(message)
    if unclosed is not None:
        what = unclosed.group(1)
        return Finding(
            "unclosed",
            what,
            f"{message.rstrip('.')} (reported by the library when it was garbage-collected)",
            site,
            user_site,
            [],
            owner,
        )
    return Finding(
        "callback-error",
        type(exc).__qualname__ if exc is not None else message,
        f"the event loop's exception handler was called: {message}"
        + (f": {_exc_line(exc)}" if exc is not None else ""),
        site,
        user_site,
        detail,
        owner,
    )


def never_awaited(
    coro_name: str, origin: Iterable[tuple[str, int, str]], sites: Sites, owner: str
) -> Finding:
    """A coroutine that was created and dropped without being awaited.

    When a library made the coroutine (an ``AsyncMock`` call runs in ``unittest/mock.py``), the
    finding's ``user_site`` is the first frame of the user's own code that led there, as for
    tasks and timers.
    """
    frames = [
        Site(filename, lineno, function)
        for filename, lineno, function in origin
        if not _is_machinery(filename)
    ]
    site = user_site = None
    detail = []
    if frames:
        site = sites.site(frames[0])
        if _is_library(frames[0].filename):
            user = next((f for f in frames if not _is_library(f.filename)), None)
            user_site = sites.site(user)
        if len(frames) > 1:
            detail = ["created via (most recent call first):"] + [
                f"  {sites.site(frame)}" for frame in frames
            ]
    return Finding(
        "coroutine",
        coro_name,
        f"coroutine {coro_name}() was never awaited",
        site,
        user_site,
        detail,
        owner,
    )


def _task_coro(task: object) -> str:
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if get_coro is not None else None
    code = getattr(coro, "cr_code", None)
    if code is not None:
        return str(code.co_qualname)
    return type(coro).__qualname__ if coro is not None else repr(task)


def _exc_line(exc: BaseException | None) -> str:
    if exc is None:
        return "no exception"
    text = str(exc)
    return f"{type(exc).__qualname__}: {text}" if text else type(exc).__qualname__


def _traceback_lines(exc: BaseException, sites: Sites) -> list[str]:
    lines = ["traceback (most recent call last):"]
    entries = [
        entry
        for entry in traceback.extract_tb(exc.__traceback__)
        if not _is_machinery(entry.filename)
    ]
    for entry in entries[-6:]:
        site = Site(entry.filename, entry.lineno or 0, entry.name)
        lines.append(f"  {sites.site(site)}")
        if entry.line:
            lines.append(f"    {entry.line.strip()}")
    lines.append(_exc_line(exc))
    return lines


# -- allow-lists -----------------------------------------------------------------------------


class AllowList:
    """What one test's ``@pytest.mark.allow_leaks(...)`` lets through."""

    def __init__(self, patterns: dict[str, list[re.Pattern[str]] | bool], reason: str) -> None:
        self.patterns = patterns
        self.reason = reason

    def allows(self, finding: Finding) -> bool:
        for group, kinds in ALLOW_GROUPS.items():
            if finding.kind not in kinds or group not in self.patterns:
                continue
            rule = self.patterns[group]
            if rule is True:
                return True
            if isinstance(rule, list) and any(
                p.search(finding.name) or p.search(finding.message) for p in rule
            ):
                return True
        return False


def parse_allow_leaks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> AllowList:
    """Validate the marker's arguments; raises ValueError saying what is wrong and the fix."""
    allowed = ", ".join([*ALLOW_GROUPS, "reason"])
    if args:
        raise ValueError(f"takes keyword arguments only ({allowed}), got positional {args!r}")
    unknown = sorted(set(kwargs) - {*ALLOW_GROUPS, "reason"})
    if unknown:
        raise ValueError(f"got unknown keyword {unknown[0]!r}; allowed: {allowed}")
    reason = kwargs.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(
            "needs reason='...' saying why the leak is acceptable (it is shown in reports)"
        )
    patterns: dict[str, list[re.Pattern[str]] | bool] = {}
    for group in ALLOW_GROUPS:
        if group not in kwargs:
            continue
        value = kwargs[group]
        if value is True:
            patterns[group] = True
            continue
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ValueError(
                f"{group}= must be True, a regular expression, or a list of them; got {value!r}"
            )
        compiled = []
        for item in items:
            try:
                compiled.append(re.compile(item))
            except re.error as exc:
                raise ValueError(
                    f"{group}={item!r} is not a valid regular expression: {exc}"
                ) from None
        patterns[group] = compiled
    if not patterns:
        raise ValueError(
            f"allows nothing; name what to allow with one of: {', '.join(ALLOW_GROUPS)}"
        )
    return AllowList(patterns, reason.strip())


# -- the text of a teardown failure -----------------------------------------------------------


def _count(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    parts = []
    for kind, number in counts.items():
        known = KINDS.get(kind)
        noun = known.noun if known is not None else kind
        parts.append(f"{number} {noun}{'' if number == 1 else 's'}")
    return ", ".join(parts)


#: A failure text shows at most this many groups of alike findings (the report has them all).
MAX_GROUPS_SHOWN = 20


def _grouped(findings: list[Finding]) -> list[list[Finding]]:
    """Alike findings together (same kind, identity, creation line and state: 5000 tasks from
    one line are one entry), kinds in the order found, each kind's groups by creation line."""
    rank = {kind: i for i, kind in enumerate(dict.fromkeys(f.kind for f in findings))}
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    for finding in findings:
        key = (finding.kind, finding.name, finding.site, finding.user_site, tuple(finding.detail))
        groups.setdefault(key, []).append(finding)
    return sorted(groups.values(), key=lambda g: (rank[g[0].kind], _site_order(g[0].site)))


def _site_order(site: str | None) -> tuple[str, int]:
    """``path:line in function`` in file order, then line order (line 9 before line 10)."""
    if site is None:
        return ("\uffff", 0)  # no line: last
    path, _, line = site.split(" in ", 1)[0].rpartition(":")
    return (path, int(line)) if line.isdigit() else (site, 0)


def describe(
    findings: list[Finding], who: str, cleanup: list[str], when: str = "after teardown"
) -> str:
    """The text of a leak failure: a headline, each finding, what was cleaned up, the fix.

    ``when``: when the check ran, for the headline ("left 1 task behind after teardown").
    """
    left = [f for f in findings if f.kind in _LEFT_RUNNING]
    errors = [f for f in findings if f.kind not in _LEFT_RUNNING]
    heads = []
    if left:
        heads.append(f"left {_count(left)} behind {when}")
    if errors:
        heads.append(("and had " if left else "had ") + _count(errors))
    lines = [f"loopwarden: {who} {' '.join(heads)}:"]
    groups = _grouped(findings)
    for group in groups[:MAX_GROUPS_SHOWN]:
        first, *more = group
        entry = first.lines()
        if more:
            entry[0] += f" — and {len(more)} more like it (same creation line and state)"
        lines.extend(entry)
    hidden = sum(len(group) for group in groups[MAX_GROUPS_SHOWN:])
    if hidden:
        others = len(groups) - MAX_GROUPS_SHOWN
        lines.append(
            f"  … and {hidden} more finding{'s' if hidden != 1 else ''} from {others} other "
            f"line{'s' if others != 1 else ''} (--lw-report lists every one)"
        )
    lines.extend(cleanup)
    advice = "; ".join(dict.fromkeys(filter(None, map(_advice, findings))))
    lines.append(f"Fix: {advice}.")
    reported = [f for f in findings if f.kind == "callback-error"]
    if reported:
        # A library that reports errors through the loop's exception handler (a job scheduler,
        # a task-group helper) is often made to fail on purpose by its own tests.
        names = ", ".join(repr(re.escape(name)) for name in dict.fromkeys(f.name for f in reported))
        lines.append(
            "A test that provokes this on purpose says so: "
            f'@pytest.mark.allow_leaks(errors=[{names}], reason="...").'
        )
    return "\n".join(lines)


def _advice(finding: Finding) -> str | None:
    """What to do about ``finding``: by its kind, or for a client left open, by its library."""
    if finding.kind == "session":
        return _libraries.advice(finding.message) or ADVICE["session"]
    return ADVICE.get(finding.kind)


def relative_root(rootpath: os.PathLike[str] | str) -> Sites:
    return Sites(os.fspath(rootpath))
