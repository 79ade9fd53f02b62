"""The summary ``loopwarden migrate`` prints after the diff (or after writing).

Places for a person are printed one a line, ``path:line: why``, unindented, so that editors and
CI annotations can jump to them; notes follow in the same form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from loopwarden.migrate._model import KINDS, Outcome, Report


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# After a migration to the own runner: how to run it, and how to take over a suite whose tests
# leak today (the leak guard fails them, which pytest-asyncio never did) without losing them.
OWN_RUNNER_NEXT = (
    "Next: python -m pytest -p no:asyncio runs the suite on loopwarden's runner, which fails a "
    "test that leaves tasks, timers, connections or threads behind. To take over a suite with "
    "such leaks today, record them once with --lw-leaks-baseline=.loopwarden/leaks.json (the "
    "same option on later runs: known leaks warn, new ones fail)."
)


def summary(
    outcomes: Sequence[Outcome], reports: Sequence[Report], write: bool, own_runner: bool = False
) -> str:
    """The summary text.

    Args:
        outcomes: The rewritten files (those left alone have ``after = None``).
        reports: Every place for a person and every note.
        write: Whether the changes were written (``--write``) or shown as a diff.
        own_runner: Whether the target is loopwarden's runner: written changes end with how to
            run the suite there.

    Returns:
        The text, ending with a newline.
    """
    changed = [o for o in outcomes if o.after is not None]
    counts: Counter[str] = Counter()
    for outcome in changed:
        counts.update(outcome.counts)
    total = sum(counts.values())
    lines = []
    if not changed:
        lines.append("No changes to make.")
    elif write:
        lines.append(f"Made {_plural(total, 'change')} in {_plural(len(changed), 'file')}:")
    else:
        lines.append(
            f"Would make {_plural(total, 'change')} in {_plural(len(changed), 'file')} (the diff "
            "above; --write applies it):"
        )
    for kind, label in KINDS.items():
        if counts[kind]:
            lines.append(f"{counts[kind]:>6}  {label}")
    person = sorted((r for r in reports if r.person), key=lambda r: r.sort_key)
    notes = sorted((r for r in reports if not r.person), key=lambda r: r.sort_key)
    if person:
        lines.append(f"Needs a person ({len(person)}):")
        lines.extend(r.render() for r in person)
    if notes:
        lines.append(f"Notes ({len(notes)}):")
        lines.extend(r.render() for r in notes)
    if person:
        verb = "needs" if len(person) == 1 else "need"
        lines.append(
            f"{_plural(len(person), 'place')} {verb} a person (listed above); fix them and run "
            "loopwarden migrate again."
        )
    else:
        lines.append("Nothing is left for a person.")
    if write and changed and own_runner:
        lines.append(OWN_RUNNER_NEXT)
    return "\n".join(lines) + "\n"
