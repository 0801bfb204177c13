"""Self-repairs in one utterance: "move it to tomorrow, no sorry, to sunday"; "add milk, oh
actually never mind".

Spoken requests correct themselves mid-sentence. A repair marker ("no sorry", "I mean",
"actually", "make that", "or rather", "no wait") splits the utterance into what was said
first and the correction after it. Two general readings, nothing phrase-specific beyond the
markers themselves:

- the correction takes the request back ("never mind", "forget it", "cancel that"):
  ``cancels`` is true and nothing should be done;
- the correction is just a new date or time ("... no sorry, to sunday"): ``repaired_when``
  returns that date with the first part's text (its own date phrase taken out), so the
  first date is replaced, not kept.

Input may be raw or normalised text; both are normalised first.
"""

from __future__ import annotations

import re
from datetime import datetime

from callport.nlu.dates import WhenMatch, extract_when
from callport.nlu.text import normalize

__all__ = ["cancels", "repaired_when", "split_repair"]

_MARKER = re.compile(
    r"\b(?:no sorry|sorry|no wait|wait no|no no|i mean|i meant|actually|or rather|"
    r"make that|scratch that|no make it|change that to)\b"
)
_TAKEN_BACK = re.compile(
    r"^(?:(?:oh|no|well|just)\s+)*(?:never mind|nevermind|forget it|forget that|cancel that|"
    r"cancel it|don't bother|don't|do not|ignore that|leave it|scratch that)"
    r"(?:\s+(?:then|please|thanks|thank you))?$"
)
# what may stand around a corrected date ("to sunday", "make it friday", "for 3 pm instead")
_AROUND_DATE = frozenset({
    "to", "for", "on", "at", "by", "until", "till", "make", "it", "the", "instead", "then",
    "please", "due", "one", "day", "time",
})  # fmt: skip


def split_repair(text: str) -> tuple[str, str] | None:
    """``(first, correction)`` split at the last repair marker, or None when there is none
    (or nothing was said before it)."""
    norm = normalize(text)
    last = None
    for m in _MARKER.finditer(norm):
        last = m
    if last is None:
        return None
    first, after = norm[: last.start()].strip(), norm[last.end():].strip()
    if not first:
        return None
    return first, after


def cancels(text: str) -> bool:
    """The utterance takes itself back ("add milk, oh actually never mind")."""
    parts = split_repair(text)
    if parts is None:
        return False
    return _TAKEN_BACK.match(parts[1]) is not None


def repaired_when(text: str, now: datetime) -> WhenMatch | None:
    """The corrected date, with the first part's words (its date taken out), when the
    correction is only a date; None otherwise (read the utterance as it is)."""
    parts = split_repair(text)
    if parts is None:
        return None
    first, after = parts
    corrected = extract_when(after, now)
    if corrected is None or set(corrected.rest.split()) - _AROUND_DATE:
        return None
    before = extract_when(first, now)
    rest = before.rest if before is not None else first
    return WhenMatch(corrected.when, rest)
