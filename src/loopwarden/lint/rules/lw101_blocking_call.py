"""LW101: a blocking call inside ``async def`` stops the whole event loop while it runs."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import FunctionScope

INFO = RuleInfo(
    code="LW101",
    name="blocking-call-in-async",
    summary="blocking call inside `async def`",
    fix="safe",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 0 of 7 findings
    # read were actionable (bench/README-lint.md); a default rule needs 90 %.
    default=False,
    # flake8-async's and ruff's blocking-call rules (configured calls, HTTP, subprocess, file
    # I/O, input(), time.sleep).
    same_as=frozenset(
        {"ASYNC200", "ASYNC210", "ASYNC211", "ASYNC212", "ASYNC220", "ASYNC221", "ASYNC222"}
        | {"ASYNC230", "ASYNC231", "ASYNC232", "ASYNC250", "ASYNC251"}
    ),
)

_SUBPROCESS = (
    "`await asyncio.create_subprocess_exec(...)` or `await asyncio.to_thread({callee}, ...)`"
)
_HTTP = (
    "an async client (`httpx.AsyncClient`, `aiohttp.ClientSession`) or "
    "`await asyncio.to_thread({callee}, ...)`"
)
BLOCKING: dict[str, str] = {
    "time.sleep": "`await asyncio.sleep(...)`",
    "urllib.request.urlopen": _HTTP,
    "subprocess.run": _SUBPROCESS,
    "subprocess.call": _SUBPROCESS,
    "subprocess.check_call": _SUBPROCESS,
    "subprocess.check_output": _SUBPROCESS,
    "os.system": _SUBPROCESS,
    **{
        f"{client}{verb}": _HTTP
        for client in ("requests.", "requests.Session().", "requests.session().")
        for verb in ("get", "post", "put", "patch", "delete", "head", "options", "request")
    },
}
_FILE_METHODS = frozenset({"read", "readline", "readlines", "write", "writelines"})


def _deliberate(node: ast.Call, callee: str | None, ctx: Checker) -> bool:
    """Blocking that real suites do on purpose, or that blocks for no time that matters: a test
    of blocking itself (its name says so); a pause of at most 10 ms (server-side time passing
    between two commands, a lock polled in a helper); and in test files, plain-file I/O
    (``open(...).read()``: a stdlib reference value read from a small local file)."""
    scope = ctx.function
    if ctx.is_test_file:
        # The test's own name, or its helper's (async-timeout's test_timeout_blocking_loop blocks
        # in a coroutine it defines for the purpose).
        test = ctx.test_scope()
        for named in (scope, test):
            if named is not None and _named_blocking(named.name):
                return True
    if callee == "time.sleep":
        delay = node.args[0] if len(node.args) == 1 else None
        return (
            (
                type(delay) is ast.Constant
                and type(delay.value) in (int, float)
                and 0 <= delay.value <= 0.01  # type: ignore[operator]
            )
            or _beside_async_sleep(node, scope, ctx)
            or _polling_outside_the_tests(node, scope)
            or _said_on_purpose(node, ctx)
        )
    return callee is None and ctx.is_test_file


def _beside_async_sleep(node: ast.Call, scope: FunctionScope | None, ctx: Checker) -> bool:
    """``time.sleep`` in one branch of an ``if`` whose other branch awaits ``asyncio.sleep``:
    the code chooses to block (aiomultiprocess's benchmark simulates CPU-bound work so)."""
    if scope is None:
        return False
    for branch in ast.walk(scope.node):
        if type(branch) is not ast.If:
            continue
        for mine, other in ((branch.body, branch.orelse), (branch.orelse, branch.body)):
            if any(node in ast.walk(s) for s in mine) and any(
                type(n) is ast.Await
                and type(n.value) is ast.Call
                and ctx.resolve(n.value.func) == "asyncio.sleep"
                for s in other
                for n in ast.walk(s)
            ):
                return True
    return False


def _polling_outside_the_tests(node: ast.Call, scope: FunctionScope | None) -> bool:
    """``time.sleep`` as the pause of a loop that ends by ``break`` or ``return``, in a fixture
    or helper, not a test: polling a server in another process until it is up (a database
    container in aiohttp-session's fixtures, redis' ``waitForIndex``), before any test task
    runs on the loop."""
    if scope is None or scope.is_test:
        return False
    for loop in ast.walk(scope.node):
        if type(loop) not in (ast.For, ast.While, ast.AsyncFor):
            continue
        body = [n for s in loop.body for n in ast.walk(s)]  # type: ignore[attr-defined]
        if node in body and any(type(n) in (ast.Break, ast.Return) for n in body):
            return True
    return False


_ON_PURPOSE = ("hold the", "holds the", "block the", "blocks the", "on purpose", "deliberately")


def _said_on_purpose(node: ast.Call, ctx: Checker) -> bool:
    """The comment right above the call (or on its line) says it blocks the loop on purpose
    (asgiref: "hold the event loop with sync sleeps so the callback … is still queued")."""
    lines = ctx.data.get("lw101_lines")
    if lines is None:
        lines = ctx.data["lw101_lines"] = ctx.source.splitlines()
    text = []
    at = node.lineno - 1
    if at < len(lines) and "#" in lines[at]:
        text.append(lines[at].split("#", 1)[1])
    # The comment block above it, within six lines and the same block of code.
    above = at - 1
    while above >= 0 and at - above <= 6:
        stripped = lines[above].strip()
        if not stripped or stripped.startswith(("def ", "async def ", "class ")):
            break
        if stripped.startswith("#"):
            text.append(stripped)
        above -= 1
    said = " ".join(text).lower()
    return "loop" in said and any(words in said for words in _ON_PURPOSE)


def _named_blocking(name: str) -> bool:
    """``test_keepalive_timeout_sync_sleep``, ``test_blocking_call``; not
    ``test_non_blocking_fetch``."""
    words = name.lower().split("_")
    if "non" in words or "nonblocking" in words:
        return False
    return "blocking" in words or "sync_sleep" in name.lower()


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag known blocking calls made directly in a coroutine."""
    if not ctx.in_coroutine:
        return
    callee = ctx.resolve(node.func)
    if callee in BLOCKING:
        if _deliberate(node, callee, ctx):
            return
        instead = BLOCKING[callee].format(callee=callee)
        fix = None
        if callee == "time.sleep" and type(ctx.parent) is ast.Expr and len(node.args) == 1:
            asyncio, imports = ctx.module_alias("asyncio")
            fix = ctx.make_fix(
                "call_to_await",
                "safe",
                node.func,
                "replace with `await asyncio.sleep(...)`",
                args=(f"{asyncio}.sleep",),
                imports=imports,
            )
        ctx.report(
            INFO.code,
            node,
            f"blocking call `{callee}()` inside `async def {ctx.function_name()}` stops the event "
            f"loop until it returns: every other task, timeout and I/O callback waits; "
            f"use {instead}",
            fix,
        )
        return
    func = node.func
    if (
        type(func) is ast.Attribute
        and func.attr in _FILE_METHODS
        and type(func.value) is ast.Call
        and ctx.resolve(func.value.func) == "builtins.open"
        and not _deliberate(node, None, ctx)
    ):
        ctx.report(
            INFO.code,
            node,
            f"`open(...).{func.attr}()` inside `async def {ctx.function_name()}` does blocking "
            f"file I/O on the event loop; use `await asyncio.to_thread(path.read_text)` "
            f"(or `write_text`), or an async file library",
        )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("async",), ("sleep", "requests", "urlopen", "subprocess", "system", ".read", ".write"))
CALLS = (("callee", tuple(BLOCKING), check_call), ("method", tuple(_FILE_METHODS), check_call))
