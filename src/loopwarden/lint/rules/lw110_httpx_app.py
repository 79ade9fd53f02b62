"""LW110: ``httpx.AsyncClient(app=...)`` — removed in httpx 0.28."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import keyword

INFO = RuleInfo(
    code="LW110",
    name="httpx-app-argument",
    summary="`httpx.AsyncClient(app=...)` instead of `transport=httpx.ASGITransport(app=...)`",
    fix="safe",
)

_TRANSPORTS = {"httpx.AsyncClient": "ASGITransport", "httpx.Client": "WSGITransport"}


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag the ``app=`` shortcut httpx removed."""
    callee = ctx.resolve(node.func)
    if callee not in _TRANSPORTS or keyword(node, "app") is None:
        return
    transport = _TRANSPORTS[callee]
    cls = callee.rpartition(".")[2]
    fix = None
    if keyword(node, "transport") is None:
        httpx, imports = ctx.module_alias("httpx")
        fix = ctx.make_fix(
            "app_to_transport",
            "safe",
            node.func,
            f"use `transport=httpx.{transport}(app=...)`",
            args=(f"{httpx}.{transport}",),
            imports=imports,
        )
    ctx.report(
        INFO.code,
        node,
        f'`httpx.{cls}(app=...)` was removed in httpx 0.28: it fails with "TypeError: '
        f"{cls}.__init__() got an unexpected keyword argument 'app'\"; use "
        f"`transport=httpx.{transport}(app=...)`",
        fix,
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("app",),)
CALLS = (("callee", tuple(_TRANSPORTS), check_call),)
