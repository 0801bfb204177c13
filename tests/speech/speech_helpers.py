"""Word-level helpers for speech round-trip tests."""

from __future__ import annotations

import asyncio
import re

WORDS = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    return WORDS.findall(text.lower())


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions + insertions + deletions)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


async def until(predicate: object, *, polls: int = 500) -> None:
    """Wait (polling the event loop) until ``predicate()`` is true; fail after ``polls``."""
    for _ in range(polls):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")
