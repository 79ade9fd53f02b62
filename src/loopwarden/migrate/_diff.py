"""Unified diffs of rewritten files, fast when most definitions of a file changed.

:func:`difflib.unified_diff` matches the whole file line by line, and its cost grows much faster
than the file when changes are everywhere, as they are in a suite where every test loses its
marker. Here the lines are first cut into chunks, one per top-level definition (decorators
included) plus what precedes the first; chunks are aligned by the name they define, and only the
lines of aligned chunks that differ are matched with :class:`difflib.SequenceMatcher`. Any
alignment gives a correct diff; this one is the natural one for a rewrite that never moves a
definition. Hunks are formatted as :func:`difflib.unified_diff` formats them, with three lines of
context, and a last line without a newline is marked as ``git apply`` and ``patch`` expect.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from difflib import SequenceMatcher

Opcode = tuple[str, int, int, int, int]

_STARTS = ("@", "def ", "async def ", "class ")
_NAME = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)", re.MULTILINE)
_NO_NEWLINE = "\n\\ No newline at end of file\n"


def _chunks(lines: Sequence[str]) -> list[tuple[int, int]]:
    cuts = [0]
    for index in range(1, len(lines)):
        if lines[index].startswith(_STARTS) and not lines[index - 1].startswith("@"):
            cuts.append(index)
    cuts.append(len(lines))
    return [(start, stop) for start, stop in itertools.pairwise(cuts) if stop > start]


def _key(text: str) -> str:
    match = _NAME.search(text)
    return f"def {match.group(1)}" if match else text


def _lines(a: Sequence[str], b: Sequence[str], i: int, j: int) -> list[Opcode]:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return [(str(t), i + i1, i + i2, j + j1, j + j2) for t, i1, i2, j1, j2 in matcher.get_opcodes()]


def opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """Edit operations turning lines ``a`` into lines ``b`` (as :meth:`SequenceMatcher.get_opcodes`
    returns them: ``equal``, ``replace``, ``delete``, ``insert``, contiguous and ordered)."""
    chunks_a, chunks_b = _chunks(a), _chunks(b)
    texts_a = ["".join(a[start:stop]) for start, stop in chunks_a]
    texts_b = ["".join(b[start:stop]) for start, stop in chunks_b]
    keys = SequenceMatcher(None, [_key(t) for t in texts_a], [_key(t) for t in texts_b], False)
    out: list[Opcode] = []
    for tag, i1, i2, j1, j2 in keys.get_opcodes():
        a1 = chunks_a[i1][0] if i1 < len(chunks_a) else len(a)
        a2 = chunks_a[i2 - 1][1] if i2 > i1 else a1
        b1 = chunks_b[j1][0] if j1 < len(chunks_b) else len(b)
        b2 = chunks_b[j2 - 1][1] if j2 > j1 else b1
        if tag != "equal":
            out += _lines(a[a1:a2], b[b1:b2], a1, b1)
            continue
        for (x1, x2), (y1, y2), text_a, text_b in zip(
            chunks_a[i1:i2], chunks_b[j1:j2], texts_a[i1:i2], texts_b[j1:j2], strict=True
        ):
            if text_a == text_b:
                out.append(("equal", x1, x2, y1, y2))
            else:
                out += _lines(a[x1:x2], b[y1:y2], x1, y1)
    merged: list[Opcode] = []
    for code in out:
        if code[1] == code[2] and code[3] == code[4]:
            continue
        if merged and merged[-1][0] == code[0] == "equal":
            _, start_a, _, start_b, _ = merged[-1]
            merged[-1] = ("equal", start_a, code[2], start_b, code[4])
        else:
            merged.append(code)
    return merged


def _groups(codes: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """Hunks: the changes with ``context`` equal lines around them (difflib's grouping)."""
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def _line(prefix: str, line: str) -> str:
    return prefix + line if line.endswith("\n") else prefix + line + _NO_NEWLINE


def unified_diff(before: str, after: str, fromfile: str, tofile: str, context: int = 3) -> str:
    """The unified diff from ``before`` to ``after``; empty when they are equal.

    Args:
        before: The old text.
        after: The new text.
        fromfile: The ``---`` name (``a/path``).
        tofile: The ``+++`` name (``b/path``).
        context: Lines of context around each change.

    Returns:
        The diff text.
    """
    a = before.splitlines(keepends=True)
    b = after.splitlines(keepends=True)
    codes = opcodes(a, b)
    if all(code[0] == "equal" for code in codes):
        return ""
    out = [f"--- {fromfile}\n", f"+++ {tofile}\n"]
    for group in _groups(codes, context):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [_line(" ", line) for line in a[i1:i2]]
                continue
            out += [_line("-", line) for line in a[i1:i2]]
            out += [_line("+", line) for line in b[j1:j2]]
    return "".join(out)
