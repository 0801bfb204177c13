"""What a menu answer means: the pure decisions behind ``call.gather`` (no I/O, no clock).

``Understanding`` maps a caller's words or key to one ``Decision``:

- ``Picked(choice, by, confidence)``: a key, or words the classifier is sure of;
- ``Confirm(choice, confidence)``: words it is not sure of ("Did you want billing?");
- ``WhichOne(first, second)``: two choices too close to tell apart ("sales or support?");
- ``Command(name)``: a global command (``repeat``, ``back``, ``main``, ``operator``; key ``*``
  repeats, ``0`` is the operator unless a choice owns it);
- ``Unmatched(best_guess, confidence)``: nothing the menu offers.

Words go through the sentence-embedding ``IntentClassifier`` (nearest examples), with each
choice's example phrases and its spoken label as examples, so "someone about my bill" can pick
*billing* though no example says it. The thresholds are the only knobs; no phrase is special.

``DigitCollector`` is the key-by-key state of digit collection (``num_digits``,
``finish_on_key``, inter-digit timeout), fed digits and times, so it is replayed in simulated
time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from callport.nlu.intents import Embedder, IntentClassifier
from callport.nlu.text import normalize

COMMANDS = ("repeat", "back", "main", "operator")
_COMMAND_EXAMPLES: dict[str, tuple[str, ...]] = {
    "repeat": ("repeat", "repeat that please", "say that again", "what were the options",
               "can you repeat the menu"),
    "back": ("go back", "back", "previous menu", "take me back"),
    "main": ("main menu", "start over", "back to the beginning", "the first menu"),
    "operator": ("operator", "a real person", "speak to a human", "representative",
                 "talk to a live agent"),
}
_COMMAND_KEYWORDS: dict[str, tuple[str, ...]] = {
    "repeat": (r"(please )?(repeat|again)( that| it)?( please)?", r"say (that|it) again"),
    "back": (r"(go )?back", r"previous( menu)?"),
    "main": (r"(the )?main menu", r"start over"),
    "operator": (r"(the )?operator", r"(a )?(human|person|representative)"),
}
_YES = re.compile(r"^(yes|yeah|yep|yup|correct|right|sure|ok|okay|that s right|yes please|"
                  r"that s it|exactly|uh huh)\b")
_NO = re.compile(r"^(no|nope|nah|not really|wrong|incorrect|neither)\b")
_CMD = "cmd:"
SURE_HEARD = 0.5  # STT confidence under which a spoken pick is asked back (see ``words``)
LEXICAL = 0.0  # weight of the examples' keyword evidence (``nlu.lexical``) on the embedding


@dataclass(frozen=True, slots=True)
class Choice:
    """One menu option: ``name`` (what the result carries), example ``phrases``, ``keys`` that
    pick it, and ``label``, what the menu says ("For *sales*, press 1"; the name by default)."""

    name: str
    phrases: tuple[str, ...] = ()
    keys: str = ""
    label: str = ""

    @property
    def spoken(self) -> str:
        return self.label or self.name


@dataclass(frozen=True, slots=True)
class Decision:
    """Base of what an answer means."""


@dataclass(frozen=True, slots=True)
class Picked(Decision):
    choice: Choice
    by: str  # "speech" | "dtmf"
    confidence: float


@dataclass(frozen=True, slots=True)
class Confirm(Decision):
    choice: Choice
    confidence: float


@dataclass(frozen=True, slots=True)
class WhichOne(Decision):
    first: Choice
    second: Choice
    confidence: float


@dataclass(frozen=True, slots=True)
class Command(Decision):
    name: str  # one of COMMANDS
    by: str
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Unmatched(Decision):
    best_guess: str | None = None
    confidence: float = 0.0


def stt_hints(choices: Sequence[Choice]) -> tuple[str, ...]:
    """Recogniser hints for a menu: every choice's spoken label first, then the example
    phrases taken round-robin across the choices, so a hint budget that cuts the list short
    (Whisper's prompt holds a few dozen words) still covers every choice, not just the first."""
    out = [c.spoken for c in choices]
    longest = max((len(c.phrases) for c in choices), default=0)
    out += [c.phrases[i] for i in range(longest) for c in choices if i < len(c.phrases)]
    return tuple(dict.fromkeys(out))


def yes_or_no(text: str) -> bool | None:
    """True for a yes, False for a no, None for anything else."""
    norm = normalize(text)
    if _YES.match(norm):
        return True
    if _NO.match(norm):
        return False
    return None


class Understanding:
    """Decisions for one set of choices (the classifier is built once, embedded lazily).

    ``accept``: a score at least this (and ``margin`` over the runner-up) is picked outright;
    ``confirm``: at least this is asked back; two choices within ``margin`` of each other and
    both at least ``confirm`` are offered as "which one". ``commands`` adds the global commands.
    """

    def __init__(
        self,
        *,
        choices: Sequence[Choice],
        embedder: Embedder | None = None,
        accept: float = 0.55,
        confirm: float = 0.25,
        margin: float = 0.05,
        commands: bool = True,
        lexical: float = LEXICAL,
        sure_heard: float = SURE_HEARD,
    ) -> None:
        self.choices = tuple(choices)
        names = [c.name for c in self.choices]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate choice names in {names}")
        self._by_name = {c.name: c for c in self.choices}
        self.accept, self.confirm, self.margin = accept, confirm, margin
        self.commands = commands
        self.lexical = lexical
        self.sure_heard = sure_heard
        owned = {c.name for c in self.choices}
        examples: dict[str, list[str]] = {
            c.name: [*c.phrases, c.spoken] for c in self.choices
        }
        keywords: dict[str, list[str]] = {}
        if commands:
            for name, phrases in _COMMAND_EXAMPLES.items():
                if name in owned:  # a choice called "operator" is the operator
                    examples[name].extend(phrases)
                    keywords[name] = list(_COMMAND_KEYWORDS[name])
                else:
                    examples[_CMD + name] = list(phrases)
                    keywords[_CMD + name] = list(_COMMAND_KEYWORDS[name])
        for choice in self.choices:  # the label alone always picks its choice
            keywords.setdefault(choice.name, []).append(re.escape(normalize(choice.spoken)))
        self._classifier: IntentClassifier | None = None
        self._examples, self._keywords, self._embedder = examples, keywords, embedder

    @property
    def classifier(self) -> IntentClassifier:
        if self._classifier is None:
            self._classifier = IntentClassifier(
                examples=self._examples, keywords=self._keywords, embedder=self._embedder,
                threshold=0.0, margin=0.0, lexical=self.lexical)  # fmt: skip
        return self._classifier

    def warm(self) -> None:
        if self.choices or self.commands:
            self.classifier.warm()

    def key(self, digit: str) -> Decision:
        for choice in self.choices:
            if digit in choice.keys:
                return Picked(choice, "dtmf", 1.0)
        if self.commands and digit == "*":
            return Command("repeat", "dtmf")
        if self.commands and digit == "0":
            return Command("operator", "dtmf")
        return Unmatched()

    def words(self, text: str, *, among: Sequence[Choice] = (),
              heard: float | None = None) -> Decision:
        """What ``text`` means; ``among`` narrows it to those choices (a which-one answer).

        ``heard`` is the recogniser's confidence in ``text`` (0..1, None when unknown): below
        ``sure_heard`` a choice is asked back rather than picked, since words the recogniser
        was unsure of may not be the caller's (a sure classifier cannot fix a misheard word).
        """
        decision = self._words(text, among)
        if (isinstance(decision, Picked) and heard is not None and heard < self.sure_heard
                and not among):
            return Confirm(decision.choice, decision.confidence)
        return decision

    def _words(self, text: str, among: Sequence[Choice]) -> Decision:
        if not normalize(text):
            return Unmatched()
        result = self.classifier.classify(text)
        if result.via == "keyword" and result.intent is not None:
            return self._decided(result.intent, 1.0, among)
        best, score = result.best_guess, result.score
        second, second_score = result.runner_up, result.runner_up_score
        if among:
            return self._among(text, among)
        if best is None or score < self.confirm:
            return Unmatched(best, score)
        if (second is not None and score - second_score < self.margin
                and second_score >= self.confirm and best in self._by_name
                and second in self._by_name):
            return WhichOne(self._by_name[best], self._by_name[second], score)
        if score >= self.accept and score - second_score >= self.margin:
            return self._decided(best, score, among)
        if best.startswith(_CMD):
            return Unmatched(best, score)  # an unsure command is not worth asking back
        return Confirm(self._by_name[best], score)

    def _decided(self, name: str, score: float, among: Sequence[Choice]) -> Decision:
        if name.startswith(_CMD):
            return Command(name.removeprefix(_CMD), "speech", score)
        choice = self._by_name[name]
        if among and choice not in among:
            return Unmatched(name, score)
        return Picked(choice, "speech", score)

    def _among(self, text: str, among: Sequence[Choice]) -> Decision:
        """A which-one answer: the closer of ``among`` ("the second one" is not understood)."""
        norm = normalize(text)
        for choice in among:
            if normalize(choice.spoken) in norm:
                return Picked(choice, "speech", 1.0)
        narrowed = Understanding(choices=among, embedder=self._embedder, commands=False,
                                 lexical=self.lexical,
                                 accept=self.confirm, confirm=self.confirm, margin=0.02)
        decision = narrowed.words(text)
        if isinstance(decision, Picked | Confirm):
            return Picked(decision.choice, "speech", decision.confidence)
        return Unmatched()


@dataclass(slots=True)
class DigitCollector:
    """Digits pressed one by one until ``num_digits`` are in, ``finish_on_key`` is pressed or
    ``inter_digit_s`` pass without a key (times are whatever clock the caller uses)."""

    num_digits: int = 0  # 0: no fixed length
    finish_on_key: str = "#"
    inter_digit_s: float = 3.0
    digits: str = ""
    finished_by: str = ""  # "length" | "key" | "timeout" once done
    last_at: float = 0.0

    @property
    def done(self) -> bool:
        return bool(self.finished_by)

    def press(self, digit: str, at: float) -> bool:
        """Take one key; True when collection is complete."""
        if self.done:
            return True
        self.last_at = at
        if self.finish_on_key and digit in self.finish_on_key:
            self.finished_by = "key"
            return True
        self.digits += digit
        if self.num_digits and len(self.digits) >= self.num_digits:
            self.finished_by = "length"
        return self.done

    def deadline(self) -> float:
        """When the inter-digit timeout runs out."""
        return self.last_at + self.inter_digit_s

    def tick(self, now: float) -> bool:
        """The clock moved on: True when the inter-digit timeout ended collection."""
        if not self.done and self.digits and now >= self.deadline():
            self.finished_by = "timeout"
        return self.done
