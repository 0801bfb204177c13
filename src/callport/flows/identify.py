"""Who is calling: the identification gate's decisions, sans-IO.

Before a phone call's flow runs, callport decides who the caller is (``flows.gate`` drives
this module over a live call):

1. ``caller_number(info)``: the number that identifies the far end, in E.164 (the caller for
   inbound calls, the callee for outbound ones), or None when the caller ID is not a number
   (anonymous, a SIP name, garbage): such a caller is "unknown".
2. ``decide(user, ...)``: a known user without a PIN is identified at once (``Identified``),
   a known user with a PIN must enter it (``NeedPin``); an unknown caller follows
   ``identity.unknown``: ``Reject`` (a polite goodbye naming no user), a throw-away
   ``guest_user`` (``Identified``) or the owner (``ActAsOwner``).
3. ``PinEntry``: the PIN dialogue as a state machine. Input: keypad digits (``#`` submits,
   ``*`` starts over), spoken digits ("one two three four" -> ``1234``) and timer expiry;
   time is an argument (``now``), the driver asks for ``get_timer()`` and calls
   ``handle_timer(now)``. Output: ``AskPin`` (say this, then listen), ``CheckPin`` (verify
   against the store, answer with ``checked``), ``PinAccepted``, ``PinRejected`` (say goodbye
   and hang up). Silence for ``timeout_s`` and anything that cannot be a PIN (4-12 digits)
   count as wrong attempts; ``attempts`` wrong ones end the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callport.store.users import PIN, UserError, clean_phone
from callport.types import CallInfo, User

PROMPT = "Please enter your PIN on the keypad, then press hash, or say the digits."
RETRY = "Sorry, that PIN didn't match. Please try again."
NO_PIN_HEARD = "Sorry, I didn't get your PIN. Please try again."
GOODBYE_PIN = "Sorry, that PIN didn't match. Goodbye."
GOODBYE_UNKNOWN = (
    "Sorry, I don't recognise the number you're calling from, so I can't help you on this "
    "line. Goodbye."
)
GOODBYE_UNKNOWN_CALLEE = (  # a call callport placed, to a number no user has
    "Hello, this is an automated assistant. Sorry, I can't help on this number. Goodbye."
)
MAX_PIN = 12  # digits: a longer keypad entry is submitted as it stands (and fails)
MIN_PIN = 4
DIGIT_GAP_S = 3.0  # after at least MIN_PIN keypad digits, this pause submits the entry
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
HINTS = DIGIT_WORDS  # what STT should expect to hear while a PIN is asked for

_WORD_DIGITS = {word: str(i) for i, word in enumerate(DIGIT_WORDS)} | {
    "oh": "0", "o": "0", "nought": "0", "to": "2", "too": "2", "for": "4", "ate": "8",
    "niner": "9", "won": "1",
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3}
_TOKEN = re.compile(r"[a-z]+|[0-9]+")


# -- who the caller is ----------------------------------------------------------------------


def caller_number(info: CallInfo) -> str | None:
    """The far end's number in E.164, or None when its caller ID is not a phone number.

    Accepts ``+15551234567``, ``tel:+1 555 123 4567`` and ``sip:+15551234567@host;user=phone``
    (the user part); anything else (``anonymous``, ``sip:alice@host``, ``1234``) is None.
    """
    raw = info.callee if info.direction == "outbound" else info.caller
    text = raw.strip()
    lower = text.lower()
    if lower.startswith(("sip:", "sips:")):
        text = text.split(":", 1)[1].split("@", 1)[0]
    elif lower.startswith("tel:"):
        text = text[4:]
    text = text.split(";", 1)[0]
    try:
        return clean_phone(text)
    except UserError:
        return None


@dataclass(frozen=True, slots=True)
class Identified:
    user: User


@dataclass(frozen=True, slots=True)
class NeedPin:
    user: User


@dataclass(frozen=True, slots=True)
class Reject:
    message: str = GOODBYE_UNKNOWN


@dataclass(frozen=True, slots=True)
class ActAsOwner:
    name: str


Decision = Identified | NeedPin | Reject | ActAsOwner


def guest_user(call_id: str) -> User:
    """The stand-in for an unknown caller under ``identity.unknown = "guest"``."""
    tail = re.sub(r"[^a-z0-9]", "", call_id.lower())[-8:] or "call"
    return User(name=f"guest-{tail}", display_name="guest", guest=True)


def decide(
    user: User | None, *, unknown: str, owner: str, call_id: str, outbound: bool = False
) -> Decision:
    """What to do with a caller whose number matched ``user`` (None: no user has it).
    ``outbound``: callport placed the call (the goodbye then does not say "calling from")."""
    if user is not None:
        return NeedPin(user) if user.has_pin else Identified(user)
    match unknown:
        case "guest":
            return Identified(guest_user(call_id))
        case "owner":
            return ActAsOwner(owner)
        case _:  # "reject", and anything a validated setting cannot be
            return Reject(GOODBYE_UNKNOWN_CALLEE) if outbound else Reject()


# -- spoken digits --------------------------------------------------------------------------


def spoken_digits(text: str) -> str | None:
    """The digits in a transcript ("one two three four", "1, 2, 3, 4.", "double five"), or
    None when it holds no digit at all. Other words are skipped ("my PIN is ...")."""
    out: list[str] = []
    repeat = 1
    for token in _TOKEN.findall(text.lower()):
        if token.isdigit():
            out.append(token[0] * repeat + token[1:])
            repeat = 1
        elif token in _REPEAT:
            repeat = _REPEAT[token]
        elif token in _WORD_DIGITS:
            out.append(_WORD_DIGITS[token] * repeat)
            repeat = 1
    return "".join(out) if out else None


def plausible_pin(digits: str) -> bool:
    return bool(PIN.match(digits))


# -- the PIN dialogue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AskPin:
    """Say ``text``, then call ``PinEntry.listening(now)`` and wait for input."""

    text: str


@dataclass(frozen=True, slots=True)
class CheckPin:
    """Verify ``pin`` and answer with ``PinEntry.checked(ok)``. Never log ``pin``."""

    pin: str


@dataclass(frozen=True, slots=True)
class PinAccepted:
    pass


@dataclass(frozen=True, slots=True)
class PinRejected:
    """Too many wrong attempts: say ``text`` and hang up."""

    text: str = GOODBYE_PIN


PinEvent = AskPin | CheckPin | PinAccepted | PinRejected


class PinEntry:
    """One caller's PIN dialogue (states: asking, waiting, checking, accepted, rejected)."""

    def __init__(self, *, attempts: int, timeout_s: float, digit_gap_s: float = DIGIT_GAP_S
                 ) -> None:  # fmt: skip
        if attempts < 1 or timeout_s <= 0 or digit_gap_s <= 0:
            raise ValueError("PinEntry: attempts >= 1 and positive timeouts")
        self.attempts = attempts
        self.attempts_left = attempts
        self._timeout_s = timeout_s
        self._gap_s = digit_gap_s
        self._digits = ""
        self._deadline: float | None = None
        self.state = "new"

    @property
    def done(self) -> bool:
        return self.state in {"accepted", "rejected"}

    @property
    def wrong_attempts(self) -> int:
        return self.attempts - self.attempts_left

    def start(self) -> list[PinEvent]:
        if self.state != "new":
            raise RuntimeError("PinEntry.start: already started")
        self.state = "asking"
        return [AskPin(PROMPT)]

    def listening(self, now: float) -> None:
        """The prompt has been said: the caller's time to answer starts now."""
        if self.state == "asking":
            self.state = "waiting"
            self._deadline = now + self._timeout_s

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must be called (None: no timer while asking or checking)."""
        return self._deadline if self.state == "waiting" else None

    def handle_timer(self, now: float) -> list[PinEvent]:
        if self.state != "waiting" or self._deadline is None or now < self._deadline:
            return []
        if len(self._digits) >= MIN_PIN:  # the pause after a keypad entry ends it
            return self._submit(self._digits)
        return self._wrong(NO_PIN_HEARD)  # silence, or a few digits and then silence

    def digit(self, digit: str, now: float) -> list[PinEvent]:
        """A keypad digit (RFC 4733 event names: 0-9, ``*``, ``#``, A-D)."""
        if self.state not in {"asking", "waiting"}:
            return []
        self.state = "waiting"
        if digit == "#":
            return self._submit(self._digits)
        if digit == "*":
            self._digits = ""
            self._deadline = now + self._timeout_s
            return []
        if not digit.isdigit() or len(digit) != 1:
            return []
        self._digits += digit
        if len(self._digits) >= MAX_PIN:
            return self._submit(self._digits)
        gap = self._gap_s if len(self._digits) >= MIN_PIN else self._timeout_s
        self._deadline = now + gap
        return []

    def speech(self, text: str) -> list[PinEvent]:
        """A transcribed caller turn: its digits (after any keypad digits) are the entry."""
        if self.state not in {"asking", "waiting"}:
            return []
        self.state = "waiting"
        digits = spoken_digits(text)
        if digits is None:
            if not text.strip():
                return []
            return self._wrong(NO_PIN_HEARD)
        return self._submit(self._digits + digits)

    def checked(self, ok: bool) -> list[PinEvent]:
        """The store's verdict on the last ``CheckPin``."""
        if self.state != "checking":
            raise RuntimeError("PinEntry.checked: no PIN is being checked")
        if ok:
            self.state = "accepted"
            return [PinAccepted()]
        return self._wrong(RETRY)

    def _submit(self, digits: str) -> list[PinEvent]:
        self._digits = ""
        self._deadline = None
        if not plausible_pin(digits):  # no PIN is that short or long: wrong, no store check
            return self._wrong(RETRY if digits else NO_PIN_HEARD)
        self.state = "checking"
        return [CheckPin(digits)]

    def _wrong(self, retry_text: str) -> list[PinEvent]:
        self._digits = ""
        self._deadline = None
        self.attempts_left -= 1
        if self.attempts_left <= 0:
            self.state = "rejected"
            return [PinRejected()]
        self.state = "asking"
        return [AskPin(retry_text)]
