"""Text normalisation for transcribed speech: lowercase, plain punctuation, digits for numbers.

Speech recognisers write the same words many ways ("3 p.m.", "three PM", "3pm"; "twenty-first",
"21st"). ``normalize`` maps them onto one spelling so that the slot parsers can stay small:

>>> normalize("Um, add a task to call Bob at three P.M. on the twenty-first!")
'add a task to call bob at 3 pm on the 21st'
"""

from __future__ import annotations

import re

UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip

FILLERS = frozenset({"um", "umm", "uh", "uhh", "erm", "er", "hmm", "mm", "ah", "eh"})

_PUNCT = re.compile(r"[^\w\s:'/-]")
_LONE_COLON = re.compile(r"(?<!\d):|:(?!\d)")
_SPACES = re.compile(r"\s+")
_AMPM = re.compile(r"\b([ap])\.?\s?m\b\.?", re.IGNORECASE)
_GLUED_AMPM = re.compile(r"\b(\d{1,2})(?::(\d{2}))?([ap]m)\b")


def ordinal_suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _words_to_numbers(words: list[str]) -> list[str]:
    """Replace runs of number words by digits ("twenty one" -> "21", "twenty first" -> "21st")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in TENS:
            if nxt in UNITS and 0 < UNITS[nxt] < 10:
                out.append(str(TENS[w] + UNITS[nxt]))
                i += 2
                continue
            if nxt in ORDINALS and ORDINALS[nxt] < 10:
                n = TENS[w] + ORDINALS[nxt]
                out.append(f"{n}{ordinal_suffix(n)}")
                i += 2
                continue
            out.append(str(TENS[w]))
        elif w in UNITS and w != "oh":
            out.append(str(UNITS[w]))
        elif w == "oh" and out and out[-1].isdigit() and nxt in UNITS:
            # "three oh five" -> 3 05 (a time)
            out.append(f"0{UNITS[nxt]}")
            i += 2
            continue
        elif w in ORDINALS and w != "second":
            n = ORDINALS[w]
            out.append(f"{n}{ordinal_suffix(n)}")
        elif w == "second" and (not out or out[-1] in {"the", "on", "of"}):
            out.append("2nd")
        else:
            out.append(w)
        i += 1
    return out


def normalize(text: str) -> str:
    """Lowercase, drop fillers and punctuation (keeping ``:`` in times), digits for number words."""
    text = text.lower().replace("’", "'")
    text = _AMPM.sub(lambda m: f" {m.group(1)}m ", text)
    text = _PUNCT.sub(" ", text)
    text = text.replace("-", " ")
    text = _LONE_COLON.sub(" ", text)
    words = [w.strip("'") for w in _SPACES.split(text)]
    words = [w for w in words if w and w not in FILLERS]
    words = _words_to_numbers(words)
    joined = " ".join(words)
    joined = _GLUED_AMPM.sub(
        lambda m: f"{m.group(1)}{':' + m.group(2) if m.group(2) else ''} {m.group(3)}", joined
    )
    return joined.strip()


def tokens(text: str) -> list[str]:
    """Words of an already normalised text."""
    return [w for w in text.split() if w]
