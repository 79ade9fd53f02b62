"""The exceptions loopwarden raises, exported from ``loopwarden``.

:class:`LoopwardenError` is the base of those that mean "loopwarden found something wrong, or was
used wrongly"; the ones that are failed assertions (a leak, a settle deadline) are
``AssertionError``\\ s too, so a test runner reports them as failures, not errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopwarden._core._findings import Finding
    from loopwarden._core._hangs import HangReport


class LoopwardenError(Exception):
    """Base class of loopwarden's errors."""


class LeaksFound(LoopwardenError, AssertionError):
    """A :func:`loopwarden.no_leaks` block left something behind, or something went wrong unseen.

    ``str()`` is the report (each finding with where it was created, what was cleaned up, the
    fix); :attr:`findings` has them as data.
    """

    def __init__(self, text: str, findings: list[Finding]) -> None:
        super().__init__(text)
        self.findings = findings

    def __reduce__(self) -> tuple[Any, ...]:  # (its __init__ takes two arguments)
        return (type(self), (str(self), self.findings))


class SettleTimeout(LoopwardenError, AssertionError):
    """:func:`loopwarden.settle` reached its deadline: the loop never became quiet.

    ``str()`` says what kept it busy and lists every pending task with the line it is parked on.
    """


class EventuallyTimeout(LoopwardenError, AssertionError):
    """:func:`loopwarden.eventually`'s predicate did not hold by the deadline.

    ``str()`` shows the predicate's last value (or the exception it raised) and every pending task.
    """

    def __init__(self, message: str, last: object) -> None:
        super().__init__(message)
        #: The predicate's last value, or the exception it last raised.
        self.last = last

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.last))


class LoopIdle(LoopwardenError, RuntimeError):
    """Inside :func:`loopwarden.virtual_time`, the loop had nothing scheduled and nothing working:
    a hang.

    Raised in the task that entered the block, instead of waiting forever.
    """


class HangInterrupt(LoopwardenError):
    """Raised in the main thread by the watchdog to stop code that blocks past its timeout.

    ``str()`` is a one-line summary; :attr:`report` carries the whole ``HangReport`` (what every
    task was awaiting, and each thread's stack).
    """

    def __init__(self, report: HangReport) -> None:
        super().__init__(report.summary())
        self.report = report


# Shown as loopwarden.X in tracebacks (where users import them from), and pickled by that name.
for _public in (
    LoopwardenError,
    LeaksFound,
    SettleTimeout,
    EventuallyTimeout,
    LoopIdle,
    HangInterrupt,
):
    _public.__module__ = "loopwarden"
del _public
