"""Keyword evidence for intents, learnt from the example phrases: stems, sound keys, noisy-or.

Sentence embeddings judge a whole utterance; a short command word ("scrap", "postpone") can be
drowned by a long task title or a misheard word. ``CueIndex`` adds the complementary view: each
content word of the examples is a *cue* for the intents whose examples use it, weighted by how
specific it is (the share of its uses that fall in that intent) and how often it was seen. An
utterance's evidence for an intent combines its words' cues by noisy-or, so one specific cue
counts almost fully and unrelated title words add nothing (they are not cues anywhere).

Words are compared by ``stem`` (a light English suffix stripper: "cancelled", "cancelling" ->
"cancel") and, failing that, by ``phonetic.sound_key`` at a discount, so a cue a recogniser
spelt as a homophone still counts a little. Nothing here lists words: the cues are whatever
the examples say, and stop words (function words, which every intent uses) are not cues.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from callport.nlu.phonetic import sound_key
from callport.nlu.text import normalize, tokens

__all__ = ["CueIndex", "stem"]

_STOP = (
    "a an the to of for on in at by with from into onto about as is are was were be been am "
    "i me my mine you your we our us it its this that these those them they he she his her "
    "and or but so if then than do does did can could would will shall should may might must "
    "please just now also too very really some any all there here what which who whom how "
    "when where why want wanna like need have has had get got go going let lets s d ll m re ve "
    "t don didn isn oh ok okay yes no not um uh well hi hey"
)
STOP_WORDS = frozenset(_STOP.split())
SOUND_DISCOUNT = 0.6  # a cue matched by sound only counts this much
SEEN_FULL = 2  # a cue seen this many times in an intent's examples counts fully


def stem(word: str) -> str:
    """A light suffix stripper ("tasks" -> "task", "called" -> "call", "buying" -> "buy")."""
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""),
                         ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: len(w) - len(suffix)] + repl
            if repl == "" and len(w) > 3 and w[-1] == w[-2] and w[-1] not in "ls":
                w = w[:-1]  # "stopped" -> "stopp" -> "stop"
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # "remove" / "removing" meet at "remov"
    return w


def content_words(text: str) -> list[str]:
    """The normalised words of ``text`` that can be cues (no stop words, no bare digits)."""
    return [w for w in tokens(normalize(text)) if w not in STOP_WORDS and not w.isdigit()]


class CueIndex:
    """Per-intent keyword evidence in [0, 1], learnt from ``examples`` (intent -> phrases)."""

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        self.intents = tuple(examples)
        uses: dict[str, Counter[str]] = defaultdict(Counter)  # stem -> intent -> examples
        for intent, phrases in examples.items():
            for phrase in phrases:
                for s in {stem(w) for w in content_words(phrase)}:
                    uses[s][intent] += 1
        self._cue: dict[str, dict[str, float]] = {}
        for s, by_intent in uses.items():
            total = sum(by_intent.values())
            self._cue[s] = {
                intent: (n / total) * min(1.0, n / SEEN_FULL) for intent, n in by_intent.items()
            }
        self._by_sound: dict[str, dict[str, float]] = {}
        for s, weights in self._cue.items():
            key = sound_key(s)
            if key.strip("a"):
                merged = self._by_sound.setdefault(key, {})
                for intent, weight in weights.items():
                    merged[intent] = max(merged.get(intent, 0.0), weight)

    def cues(self, word: str) -> dict[str, float]:
        """The intents a (normalised) word is a cue for, with its weight for each."""
        s = stem(word)
        if s in self._cue:
            return self._cue[s]
        by_sound = self._by_sound.get(sound_key(s), {})
        return {intent: w * SOUND_DISCOUNT for intent, w in by_sound.items()}

    def evidence(self, text: str) -> dict[str, float]:
        """Noisy-or of the utterance's cues, per intent (0.0 for an intent with no cue)."""
        missing = {intent: 1.0 for intent in self.intents}
        for word in set(content_words(text)):
            for intent, weight in self.cues(word).items():
                missing[intent] *= 1.0 - weight
        return {intent: 1.0 - m for intent, m in missing.items()}
