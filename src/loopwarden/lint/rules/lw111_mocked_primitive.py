"""LW111: an asyncio synchronisation primitive replaced by a mock."""

from __future__ import annotations

import ast

from loopwarden.lint._checker import Checker
from loopwarden.lint._model import RuleInfo
from loopwarden.lint._semantic import keyword
from loopwarden.lint.rules._common import (
    ALL_MOCK_FACTORIES,
    PATCHERS,
    mock_spec,
    patched_target,
    targets_asyncio,
)

INFO = RuleInfo(
    code="LW111",
    name="mocked-asyncio-primitive",
    summary="asyncio `Event`/`Lock`/`Condition`/`Queue`/`Semaphore` replaced by a mock",
    # Opt-in: on the held-out corpus (27 projects no rule was tuned on) 0 of 2 findings
    # read were actionable (bench/README-lint.md: 0 of 1 after a fix); a default rule needs
    # 90 %.
    default=False,
)

PRIMITIVES = frozenset(
    {
        "Event",
        "Lock",
        "Condition",
        "Queue",
        "PriorityQueue",
        "LifoQueue",
        "Semaphore",
        "BoundedSemaphore",
        "Barrier",
    }
)


def check_call(node: ast.Call, ctx: Checker) -> None:
    """Flag patches of ``asyncio.<Primitive>`` and mocks specced on one."""
    target = patched_target(node, ctx)
    if target is not None:
        if (
            target[1] in PRIMITIVES
            and targets_asyncio(target[0])
            and not _returns_a_real_one(node, ctx)
        ):
            _report(node, f"asyncio.{target[1]}", "patched", ctx)
        return
    callee = ctx.resolve(node.func)
    if callee not in ALL_MOCK_FACTORIES:
        return
    spec = mock_spec(node)
    if spec is None and node.args:
        spec = node.args[0]
    if spec is None:
        return
    resolved = ctx.resolve(spec)
    if resolved is not None and resolved.startswith("asyncio.") and resolved[8:] in PRIMITIVES:
        _report(node, resolved, "mocked", ctx)


def _real_primitive(node: ast.expr | None, ctx: Checker) -> bool:
    """``asyncio.Semaphore(2)``, or a name bound to such a call."""
    if type(node) is ast.Call:
        callee = ctx.resolve(node.func)
    elif type(node) is ast.Name:
        bound = ctx.binding(node.id)
        callee = bound.callee if bound is not None else None
    else:
        return False
    return callee is not None and callee.startswith("asyncio.") and callee[8:] in PRIMITIVES


def _returns_a_real_one(node: ast.Call, ctx: Checker) -> bool:
    """``patch("asyncio.Semaphore", return_value=semaphore)`` with a real primitive: the code
    under test gets one that blocks as usual (the patch only hands the test's instance in, as
    aiogram's dispatcher tests do)."""
    return _real_primitive(keyword(node, "return_value"), ctx)


def _report(node: ast.AST, primitive: str, how: str, ctx: Checker) -> None:
    ctx.report(
        INFO.code,
        node,
        f"`{primitive}` {how} with a mock, which never blocks: so `wait()`/`get()`/`acquire()` "
        f"return at once (or fail with \"object MagicMock can't be used in 'await' "
        f'expression") and the test no longer checks the ordering it was written for; use a '
        f"real `{primitive}()` and drive it from the test (`set()`, `put_nowait()`, `release()`)",
    )


# Words that must occur in a file for this rule to find anything: a conjunction of
# alternatives. Names are matched as written in the source, where imports spell them out.
TRIGGERS = (("Event", "Lock", "Condition", "Queue", "Semaphore", "Barrier"),)
CALLS = (("callee", (*PATCHERS, *ALL_MOCK_FACTORIES), check_call),)
