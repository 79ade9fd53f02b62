"""A project's ``event_loop_policy`` override under the own runner: the same tests, said plainly.

Under pytest-asyncio, ``event_loop_policy`` is an autouse session fixture, so a conftest that
overrides it with parameters (asyncio's policy and uvloop's, a common pattern) runs *every* test
once per parameter: ``test_x[default]``, ``test_x[uvloop]``. The own runner defines no such
fixture, so the override's parameters would apply to no test, and half the matrix would vanish
from the run.

Here the own runner registers the same autouse name, and only when a conftest or a test module
overrides it (a session with no override pays nothing): the run collects the very tests
pytest-asyncio would.
Each async test then runs on loopwarden's loop when the policy it got is asyncio's own, and on a
loop the policy makes when it is another (uvloop's), unguarded: loopwarden guards only the loops
it makes, and the session's summary names the others (see _runtime.py).
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from typing import Any

import pytest

from loopwarden._plugin._keys import RUNTIME
from loopwarden._plugin._runtime import ForeignLoop

NAME = "event_loop_policy"
PLUGIN_NAME = "loopwarden-event-loop-policy"
# The conftests seen overriding the fixture before the own runner was configured (the initial
# conftests load first).
_SEEN = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session", autouse=True, name=NAME)
def _event_loop_policy() -> Any:
    """pytest-asyncio's autouse ``event_loop_policy``, for the project's override to replace
    (this module is registered as a plugin for it; see register)."""
    get_policy = getattr(asyncio, "get_event_loop_policy", None)  # (gone in Python 3.16)
    if get_policy is None:
        return None
    with warnings.catch_warnings():  # (deprecated on Python 3.14+)
        warnings.simplefilter("ignore", DeprecationWarning)
        return get_policy()


def defines_override(plugin: object) -> bool:
    """Whether ``plugin`` (a conftest module) defines a fixture named ``event_loop_policy``."""
    found = getattr(plugin, NAME, None)
    if found is None:
        return False
    # pytest >= 8.4 wraps fixtures in a FixtureFunctionDefinition; earlier ones mark the function.
    return type(found).__name__ == "FixtureFunctionDefinition" or hasattr(
        found, "_pytestfixturefunction"
    )


def seen(config: pytest.Config, where: str) -> None:
    """A conftest or test module at ``where`` overrides the fixture: register the autouse name
    (once), now if the own runner is configured, else when it is."""
    config.stash.setdefault(_SEEN, []).append(where)
    if RUNTIME in config.stash:
        register(config)


def registered(config: pytest.Config) -> bool:
    """Whether the autouse name is registered already."""
    return config.pluginmanager.has_plugin(PLUGIN_NAME)


def register(config: pytest.Config) -> None:
    """Register the autouse name if a conftest overrides the fixture (the own runner only)."""
    manager = config.pluginmanager
    if config.stash.get(_SEEN, None) and not manager.has_plugin(PLUGIN_NAME):
        # (A module, not an object's method: pytest 9.2 deprecates session fixtures defined as
        # instance methods.)
        manager.register(sys.modules[__name__], PLUGIN_NAME)
        runtime = config.stash[RUNTIME]
        runtime.policy_named = True  # (read per test: an attribute, not a lookup)
        runtime.policy_loop = foreign_loop


def foreign_loop(item: pytest.Item) -> ForeignLoop | None:
    """The loop the test's policy makes when it is not asyncio's own (uvloop's), else None.

    Known once the policy fixture has run (it is autouse, so it is set up before the fixtures
    that need a loop); before that, None.
    """
    funcargs = getattr(item, "funcargs", None)
    if not funcargs or NAME not in funcargs:
        return None
    policy = funcargs[NAME]
    kind = type(policy)
    if policy is None or kind.__module__.partition(".")[0] == "asyncio":
        return None  # asyncio's own policy: its loops are asyncio loops, as loopwarden's is
    callspec = getattr(item, "callspec", None)
    name = param_id(item) if callspec is not None and NAME in callspec.params else kind.__name__
    return ForeignLoop(
        name,
        f"{kind.__module__}.{kind.__qualname__}",
        "the event_loop_policy fixture",
        policy.new_event_loop,
    )


def param_id(item: pytest.Item, argname: str = NAME) -> str:
    """The id part of ``argname``'s parameter in the test's id (``uvloop`` in
    ``test_x[uvloop]``)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or argname not in callspec.params:
        return "?"
    names = list(callspec.params)
    parts = callspec.id.split("-") if callspec.id else []
    if len(parts) == len(names):
        return str(parts[names.index(argname)])
    return repr(callspec.params[argname])
