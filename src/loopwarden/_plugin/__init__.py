"""pytest adapters: one module per capability, each its own pytest11 entry point.

Module map:

- ``config`` (entry point ``loopwarden``): the settings, the mode (own runner, guard mode,
  limited), the header, the parts switched off; blocking it switches all of loopwarden off.
- Capabilities, each switchable alone (``-p no:loopwarden.X``): ``runner`` (runs async tests
  and fixtures), ``guard`` (loops for pytest-asyncio, unittest and anyio), ``leaks`` (the leak
  engine per test and fixture), ``report`` (summary, JSON report, baseline file), ``watchdog``
  (timeouts, hangs, blocking calls), ``clock`` (virtual time), ``fuzz`` (schedules), ``db`` and
  ``components`` (fixtures). ``doctor`` is loaded by ``loopwarden doctor`` only.
- Shared, imported by any of them and importing none of them: ``_keys`` (stash keys and names
  plugins share), ``_hookspecs`` (the hooks between plugins: a loop went idle, a runner is
  closing a loop), ``_publish`` (each test's findings until its report carries them),
  ``_baseline``, ``_settings``, ``_loops`` (the session's open loops), ``_runtime`` (the own
  runner's loops and steps), ``_policy`` (a project's ``event_loop_policy`` override under the
  own runner), ``_ports`` (pytest-asyncio's port fixtures), ``_stash`` (cheap reads of a
  test's stash and markers, and the tests the collection passes look at), ``_compat`` (the few
  pytest internals read, and the one changed: loopwarden's package taken out of pytest's
  assertion rewriting, on import of this package).

A plugin never imports another capability's module: it reads the other's state by a key from
``_keys`` (absent when that plugin is switched off) or tells it through a hook.
"""

from loopwarden._plugin._compat import skip_assertion_rewriting

skip_assertion_rewriting()
