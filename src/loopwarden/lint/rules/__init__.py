"""The rules, one module per code. Each module defines ``INFO`` and, for AST rules, ``HANDLERS``
(``(node type, handler)`` pairs), ``CALLS`` (``(kind, names, handler)``: the handler sees only
calls of those canonical callees or method names), optionally ``EXIT`` (called at the end of
every function) and ``TRIGGERS`` (words without which the rule cannot fire on a file).

Adding a rule: write ``lwNNN_name.py``, list it in ``_MODULES``, add a fixture file under
``tests/lint/fixtures/`` and a page under ``docs/reference/rules/`` (tests fail without them).
"""

from __future__ import annotations

import functools
from types import ModuleType

from loopwarden.lint._checker import Handler, Registry
from loopwarden.lint._model import RuleInfo
from loopwarden.lint.rules import (
    lw000_syntax_error,
    lw101_blocking_call,
    lw102_sleep_barrier,
    lw103_patched_sleep,
    lw104_mock_awaited,
    lw105_own_loop,
    lw106_pytest_asyncio_leftovers,
    lw107_dropped_task,
    lw108_missing_await,
    lw109_wait_without_timeout,
    lw110_httpx_app,
    lw111_mocked_primitive,
    lw112_unclosed_session,
    lw113_swallowed_cancellation,
    lw114_get_event_loop,
    lw115_fixture_teardown,
    lw116_removed_asyncio_api,
    lw201_config,
)

_MODULES: tuple[ModuleType, ...] = (
    lw000_syntax_error,
    lw101_blocking_call,
    lw102_sleep_barrier,
    lw103_patched_sleep,
    lw104_mock_awaited,
    lw105_own_loop,
    lw106_pytest_asyncio_leftovers,
    lw107_dropped_task,
    lw108_missing_await,
    lw109_wait_without_timeout,
    lw110_httpx_app,
    lw111_mocked_primitive,
    lw112_unclosed_session,
    lw113_swallowed_cancellation,
    lw114_get_event_loop,
    lw115_fixture_teardown,
    lw116_removed_asyncio_api,
    lw201_config,
)

RULES: dict[str, RuleInfo] = {m.INFO.code: m.INFO for m in _MODULES}
"""Every rule by code, in code order."""

DEFAULT_CODES: tuple[str, ...] = tuple(code for code, info in RULES.items() if info.default)
"""The codes that run when nothing selects (``RuleInfo.default``), in code order; the others are
opt-in."""


_TRIGGERS: dict[str, tuple[tuple[str, ...], ...]] = {
    m.INFO.code: m.TRIGGERS for m in _MODULES if hasattr(m, "TRIGGERS")
}


def applicable_codes(codes: frozenset[str], source: str) -> frozenset[str]:
    """The selected codes that can possibly fire on ``source``.

    A rule whose trigger words are all absent from the text cannot find anything: every API a rule
    knows is spelled out in the file (at least in its import), so skipping it changes no result
    and saves its handlers on every node of the file.
    """
    kept = []
    for code in codes:
        groups = _TRIGGERS.get(code)
        if groups is None or all(any(word in source for word in group) for group in groups):
            kept.append(code)
    return frozenset(kept)


@functools.lru_cache(maxsize=256)
def build_registry(codes: frozenset[str]) -> Registry:
    """The handlers of the selected AST rules.

    Args:
        codes: Selected rule codes.

    Returns:
        A registry for :class:`~loopwarden.lint._checker.Checker`.
    """
    handlers: list[tuple[str, type, Handler]] = []
    exits: list[tuple[str, Handler]] = []
    calls: list[tuple[str, str, str, Handler]] = []
    for module in _MODULES:
        code = module.INFO.code
        if code not in codes:
            continue
        for node_type, handler in getattr(module, "HANDLERS", ()):
            handlers.append((code, node_type, handler))
        for kind, names, handler in getattr(module, "CALLS", ()):
            calls.extend((code, kind, name, handler) for name in names)
        exit_handler = getattr(module, "EXIT", None)
        if exit_handler is not None:
            exits.append((code, exit_handler))
    return Registry(handlers, exits, (), calls)
