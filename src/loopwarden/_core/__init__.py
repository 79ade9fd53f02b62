"""The engine: instrumented event loops and what reads them. Never imports pytest.

Module map (each module's docstring says more):

- ``_loop``: :class:`WardenLoop` — records who created every task, timer and resource, its
  clock (real or virtual), the scheduling seam (fuzz), the heartbeat (blocking calls) and the
  instruments (``add_instrument``: task created, before/after a real select).
- ``_registry``: creation records (site, owner) and the exception-handler contexts a loop saw.
- ``_sites``: where something was created (the first frame outside asyncio and loopwarden).
- ``_snapshot``: what an owner left on a loop, as records (tasks, timers, resources, threads).
- ``_leaks``: the leak engine — one check for every runner (grace, what wider owners hold,
  clean-up, observers), and the runner-close check; ``_no_leaks``: ``loopwarden.no_leaks()``.
- ``_findings``: a finding as data, text and JSON; the finding kinds and their advice.
- ``_schema``: the JSON loopwarden writes (``--lw-report``, the doctor's records, lint's JSON) as
  typed dicts, shared by the writers and the readers.
- ``_lifecycle``: cancelling and closing what is left, with a deadline; the hook on
  ``asyncio.Runner.close``.
- ``_quiet``: when a loop is quiet (virtual time, ``settle()``); ``_clock``: ``settle()``,
  ``eventually()``, ``virtual_time()``, ``Clock``; ``_threads``: is a thread working or parked.
- ``_tasks``: reading tasks — the one await-chain walker, what a task waits on, task dumps;
  ``_watchdog``: the watchdog thread (deadlines, blocking calls, interrupts); ``_hangs``: the
  records it makes (hang reports, blocked iterations) and how they read.
- ``_driver``: long-lived tasks that run a runner's steps; ``_fuzz``: seeded schedules;
  ``_records``: the base of the small data classes.
- ``_private``: every private detail of asyncio, threading and warnings that loopwarden reads or
  wraps, in one place (each has a canary test).
"""
