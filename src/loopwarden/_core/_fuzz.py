"""Schedule fuzzing: run a real asyncio loop's ready tasks in seeded, varied orders.

Stock asyncio runs ready callbacks first-in first-out, so a race between tasks almost never
shows on a developer's machine and shows "sometimes" in CI. :class:`FuzzScheduler` is installed
on a :class:`~loopwarden._core._loop.WardenLoop` (``loop.set_scheduler``) and, before each loop
iteration, changes the order of what is ready — in two ways, both driven by one seeded RNG:

- **Permutation.** The *task steps* in the ready batch (a task starting, or resuming after the
  future it awaited is done) are shuffled among themselves, within each run of task steps that
  no plain callback separates. Plain callbacks (``call_soon``, future callbacks, transport and
  protocol calls) keep their places and their FIFO order, and no task step moves ahead of one:
  asyncio's own machinery relies on a future's callbacks running in the order they were added
  (``sock_connect`` removes its writer in a callback that must run before the task that awaited
  it makes a transport on the socket).
- **Holding a task back** (after PCT, "probabilistic concurrency testing"): now and then one task
  step is taken out of the batch and put back only after 1 to ``max_hold`` later iterations, so
  every other task runs several steps ahead of it — the deep interleavings a permutation of one
  batch cannot reach (a reader running before a writer that started first). A step is held only
  while something else is ready, so the loop never waits in ``select()`` on a held step.

A task *start* is never delayed: it runs before every step that became ready after it, so tasks
start in the order they were created, and before the creator resumes from the ``await`` that
followed ``create_task`` — as in every asyncio run (a task's first step is a ``call_soon``
callback, and those run first in, first out). Code relies on that deliberately: two putters
created one after the other fill a queue in that order (CPython's own queue tests check it);
``create_task(x); await asyncio.sleep(0)`` lets ``x`` start. What the fuzzer varies is what no
asyncio run promises: which of the tasks already running resumes first, which follows when their
awaits finish (a resumption may still be moved after a start, or held).

The same seed gives the same decisions for the same sequence of ready batches: a run that uses
virtual time and no real I/O replays exactly. Real I/O and threads change which batches the loop
sees, so a replay is then best effort.

Limits: only the order of what is ready at the same time changes — never whether a timer fires
before another, or when I/O arrives; a race that needs a thread to run at a certain moment, or
two timers to swap, is out of reach.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import random
import types
from typing import Any

from loopwarden._core import _private

#: The default chance, per iteration, of starting to hold a task step back.
HOLD_PROBABILITY = 0.15
#: The default longest hold, in loop iterations.
MAX_HOLD = 3


def is_task_step(handle: asyncio.Handle) -> bool:
    """Is ``handle`` the step or wake-up of a task the fuzzer may reorder?

    Every task counts (C and Python tasks alike) except the own runner's long-lived drivers of
    wider-scoped fixtures ("loopwarden session driver", …): they exist in one run and not in
    another (a replay of one test starts the session), so reordering them would make a replay
    differ. Their fixtures' steps therefore keep FIFO order.
    """
    callback = _private.callback_of(handle)
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return False
    name = task.get_name()
    return not (name.startswith("loopwarden ") and name.endswith(" driver"))


def is_task_start(handle: asyncio.Handle) -> bool:
    """Is ``handle`` (a task step) the first step of a task that has not started yet?"""
    task = getattr(_private.callback_of(handle), "__self__", None)
    coro = task.get_coro() if isinstance(task, asyncio.Task) else None
    if isinstance(coro, types.CoroutineType):
        return inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
    if isinstance(coro, types.GeneratorType):  # a generator-based coroutine
        return inspect.getgeneratorstate(coro) == inspect.GEN_CREATED
    return False  # another awaitable (an async generator's aclose(), Cython's): no state to read


def _starts_in_place(
    shuffled: list[asyncio.Handle], original: list[asyncio.Handle], starts: set[int]
) -> list[asyncio.Handle]:
    """``shuffled`` with each task start moved back to no later than its place in ``original``.

    A start runs before every step that became ready after it, as in asyncio: the resumptions
    keep the shuffled order, and a start comes right before the first of them that followed it
    (a resumption that became ready earlier may still run after it: its await finished later).
    """
    rank = {id(handle): position for position, handle in enumerate(original)}
    pending = [handle for handle in original if id(handle) in starts]  # (creation order)
    result: list[asyncio.Handle] = []
    for handle in shuffled:
        if id(handle) in starts:
            continue
        while pending and rank[id(pending[0])] < rank[id(handle)]:
            result.append(pending.pop(0))
        result.append(handle)
    result.extend(pending)
    return result


def _runs(positions: list[int]) -> list[list[int]]:
    """Split sorted positions into runs of consecutive ones."""
    runs: list[list[int]] = []
    for position in positions:
        if runs and runs[-1][-1] == position - 1:
            runs[-1].append(position)
        else:
            runs.append([position])
    return runs


class FuzzScheduler:
    """A seeded scheduler for :meth:`WardenLoop.set_scheduler`; see the module docstring.

    Args:
        seed: the schedule; the same seed, the same decisions.
        hold_probability: chance per iteration of holding one task step back (0 turns it off).
        max_hold: the longest hold, in iterations.
    """

    def __init__(
        self, seed: int, *, hold_probability: float = HOLD_PROBABILITY, max_hold: int = MAX_HOLD
    ) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._hold_probability = hold_probability
        self._max_hold = max(1, max_hold)
        self._held: list[list[Any]] = []  # [iterations left, handle]
        #: Iterations seen, and how many had their order changed.
        self.iterations = 0
        self.changed = 0

    def restart(self, part: str) -> None:
        """Start the decisions afresh for a new part of the run (e.g. a test's call phase).

        What ran before (fixtures set up in another order, a loop made earlier or later) then
        does not shift the decisions of this part: a replay of one test alone makes the same
        choices in its call phase as the run inside the whole suite did.
        """
        self._rng = random.Random(f"{self.seed}:{part}")

    @property
    def holding(self) -> int:
        """How many task steps are held back right now."""
        return len(self._held)

    def reorder(self, ready: collections.deque[asyncio.Handle]) -> None:
        self.iterations += 1
        released = self._release(ready)
        if not ready:
            return
        batch = list(ready)
        steps = [i for i, handle in enumerate(batch) if is_task_step(handle)]
        if not steps:
            return
        changed = released
        # (By identity: the shuffle moves the steps, and these say which are first steps.)
        starts = {id(batch[i]) for i in steps if is_task_start(batch[i])}
        for run in _runs(steps):
            if len(run) < 2:
                continue
            order = [batch[i] for i in run]
            self._rng.shuffle(order)
            if starts:
                order = _starts_in_place(order, [batch[i] for i in run], starts)
            for position, handle in zip(run, order, strict=True):
                if batch[position] is not handle:
                    changed = True
                batch[position] = handle
        # Draws and decisions depend only on the task steps, so that other callbacks in the
        # batch (the runner's own) do not change them; a hold needs another step ready, and
        # takes a resumption only (a held start would let tasks created after it start first).
        if self._rng.random() < self._hold_probability and len(steps) > 1:
            resumptions = [i for i in steps if id(batch[i]) not in starts]
            if resumptions:
                position = resumptions[self._rng.randrange(len(resumptions))]
                handle = batch.pop(position)
                self._held.append([self._rng.randint(1, self._max_hold), handle])
                changed = True
        if changed:
            self.changed += 1
            ready.clear()
            ready.extend(batch)

    def _release(self, ready: collections.deque[asyncio.Handle]) -> bool:
        """Put back the held steps whose time has come (all, if nothing else is ready)."""
        if not self._held:
            return False
        everything = not ready
        keep: list[list[Any]] = []
        back: list[asyncio.Handle] = []
        for entry in self._held:
            entry[0] -= 1
            if everything or entry[0] <= 0:
                back.append(entry[1])
            else:
                keep.append(entry)
        self._held = keep
        ready.extend(back)
        return bool(back)

    def release_all(self, ready: collections.deque[asyncio.Handle]) -> None:
        """Put every held step back (when the scheduler is removed)."""
        ready.extend(entry[1] for entry in self._held)
        self._held = []
