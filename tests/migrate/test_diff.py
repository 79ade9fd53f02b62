"""The migrate diff: the same text as :func:`difflib.unified_diff` where that one is right, and
a patch that applies where the last line has no newline."""

from __future__ import annotations

import difflib
import random

import pytest

from loopwarden.migrate._diff import unified_diff


def _difflib(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), "a/x", "b/x"
        )
    )


BEFORE = "".join(
    f"@pytest.mark.asyncio\nasync def test_{i}(event_loop):\n    assert event_loop\n\n\n"
    for i in range(12)
)


@pytest.mark.parametrize(
    "after",
    [
        BEFORE.replace("@pytest.mark.asyncio\n", "").replace("(event_loop)", "()"),
        BEFORE.replace("async def test_3(", "async def test_3_renamed("),
        "import asyncio\n\n\n" + BEFORE.replace("test_5", "test_five"),
        BEFORE[: BEFORE.index("@", 200)],
        BEFORE + "def test_last():\n    pass\n",
        "",
    ],
    ids=["every-chunk", "renamed", "import-added", "tail-removed", "appended", "emptied"],
)
def test_the_same_text_as_difflib(after: str) -> None:
    assert unified_diff(BEFORE, after, "a/x", "b/x") == _difflib(BEFORE, after)


def test_equal_texts_have_no_diff() -> None:
    assert unified_diff(BEFORE, BEFORE, "a/x", "b/x") == ""


def test_random_edits_give_patches_that_apply() -> None:
    pieces = ["def f():\n", "    x = 1\n", "\n", "@d\n", "class C:\n", "    pass\n", "import a\n"]
    rng = random.Random(7)
    for _ in range(200):
        lines = [rng.choice(pieces) for _ in range(rng.randint(0, 25))]
        new = list(lines)
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.3 and new:
                del new[rng.randrange(len(new))]
            elif roll < 0.6:
                new.insert(rng.randint(0, len(new)), rng.choice(["def g():\n", "    y\n"]))
            elif new:
                new[rng.randrange(len(new))] = "    z\n"
        before, after = "".join(lines), "".join(new)
        patch = unified_diff(before, after, "a/x", "b/x")
        assert _apply(before, patch) == after


def _apply(before: str, patch: str) -> str:
    """A small patch applier (hunks in order, context checked)."""
    if not patch:
        return before
    old = before.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    lines = patch.splitlines(keepends=True)[2:]
    for line in lines:
        if line.startswith("@@"):
            start, _, count = line.split()[1][1:].partition(",")
            first = int(start) - (1 if count != "0" else 0)
            out += old[position:first]
            position = first
        elif line.startswith(" "):
            assert old[position] == line[1:]
            out.append(line[1:])
            position += 1
        elif line.startswith("-"):
            assert old[position] == line[1:]
            position += 1
        elif line.startswith("+"):
            out.append(line[1:])
    return "".join(out + old[position:])


def test_a_last_line_without_newline_is_marked() -> None:
    patch = unified_diff("a\nb", "a\nc", "a/x", "b/x")
    assert patch == (
        "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
        "+c\n\\ No newline at end of file\n"
    )
