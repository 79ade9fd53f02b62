"""LW103: ``asyncio.sleep`` patched globally."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint.rules._common import PATCHERS, patched_target, targets_asyncio

INFO = RuleInfo(
    code="LW103",
    name="patched-asyncio-sleep",
    summary="`asyncio.sleep` patched globally",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 0 of 10 findings
    # read were actionable (bench/README-lint.md); a default rule needs 90 %.
    default=False,
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag ``patch("asyncio.sleep")``, ``patch.object(asyncio, "sleep")``, ``monkeypatch``…"""
    target = patched_target(node, ctx)
    if target is None or target[1] != "sleep" or not targets_asyncio(target[0]):
        return
    scope = ctx.test_scope()
    where = ""
    if scope is not None and scope.fixture_autouse:
        where = f" in autouse fixture `{scope.name}` (for every test it applies to)"
    ctx.report(
        INFO.code,
        node,
        f"patching `{target[0]}.sleep`{where} replaces it for every caller: asyncio "
        f"itself, libraries and the code under test; loops that yield with "
        f"`await asyncio.sleep(0)` stop yielding and spin (the test hangs), and delays and "
        f"timeouts no longer mean anything; use virtual time (loopwarden's virtual clock) so "
        f"sleeps finish at once without patching",
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("sleep",),)
CALLS = (("callee", PATCHERS, check_call),)
