"""A rough English sound key: words a recogniser may spell either way share a key.

Speech recognisers write what they hear, and on 8 kHz phone audio they often write a word that
sounds like the one meant ("by" for "buy", "right" for "write", "knew" for "new"). Instead of a
table of observed slips, ``sound_key`` applies general English spelling-to-sound rules (the
Metaphone family's: silent letters, soft c/g, ph/ck/gh, silent final e) and keeps the
consonant skeleton with every vowel run reduced to one placeholder. Digits are spelled out
first ("2" -> "two"), so a number said and a number written meet too.

It is deliberately coarse: "bat", "bit" and "but" share a key. Callers of ``sounds_alike``
should treat a shared key as weaker evidence than the same spelling (the title matcher in
``store.tasks`` scores it just below an exact word).
"""

from __future__ import annotations

import re

__all__ = ["sound_key", "sounds_alike"]

_DIGITS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"[^a-z]", ""),
        (r"^(?:kn|gn|pn)", "n"), (r"^wr", "r"), (r"^ps", "s"), (r"^wh", "w"), (r"^x", "s"),
        (r"(?<=[a-z]{2})e$", ""),  # silent final e: "rite", "bye", "ate"
        (r"(?<=[st])w(?=o)", ""),  # silent w: "two", "sword", "answer"
        (r"gh(?=[^aeiouy]|$)", ""),  # "right", "sighs", "through"
        (r"mb$", "m"), (r"ph", "f"), (r"ck", "k"), (r"q", "k"), (r"x", "ks"), (r"dg", "j"),
        (r"tch", "ch"), (r"c(?=[eiy])", "s"), (r"sch", "sk"), (r"c", "k"), (r"z", "s"),
        (r"(?<=[aeiouy])[wh]", ""),  # "new", "flower", "oh": the w/h is part of the vowel
        (r"(?<=[bcdfgjklmnpqrstvxz])h", ""),  # "thyme", "rhyme"; sh/ch/th lose their h too
        (r"([a-z])\1+", r"\1"),  # doubled letters sound single
        (r"(?<=[^aeiouy])y", "a"),  # y after a consonant is a vowel: "by", "rhyme"
        (r"[aeiouy]+", "a"),  # vowel quality is what a phone line blurs most
    )
)


def sound_key(word: str) -> str:
    """The word's sound key ("write" and "right" -> "rat", "2" and "two" -> "ta")."""
    text = word.casefold()
    if text.isdigit() and int(text) < len(_DIGITS):
        text = _DIGITS[int(text)]
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def sounds_alike(a: str, b: str) -> bool:
    """Two words with the same non-trivial sound key (at least one consonant)."""
    key = sound_key(a)
    return key == sound_key(b) and key.strip("a") != ""
