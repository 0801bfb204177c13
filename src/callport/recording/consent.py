"""The recording consent state machine of one call (pure: the driver feeds it what happened
and when, in its own clock's seconds).

    machine = ConsentMachine(mode=Mode.NOTIFY, caller="+14155550100", callee="+442071838750")
    machine.words            # what to say first: always the automated-assistant statement
    machine.disclosed(at=1.0)          # the words were played
    machine.stayed(at=6.0)             # notify: still on the line -> implied consent
    machine.decision                   # Decision(outcome="implied", record=True, ...)

Modes: ``off`` (nothing recorded, no recording notice: the automated-assistant statement is
still made by the caller of ``ai_notice``), ``notify`` (a notice, then staying on the line is
implied consent), ``consent`` (the caller is asked and must say yes). When either party's
number is in an all-party-consent jurisdiction, ``notify`` becomes ``consent`` (the stricter
mode applies). A decline, silence or an unclear answer means no recording; the call goes on.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from callport.recording.rules import all_party_rule

AI_NOTICE = "You are talking to an automated assistant."


def outbound_notice(behalf: str) -> str:
    """What every outbound call says first (cannot be turned off): an automated call, from
    whom, and how to stop it (FCC 24-17: identify, disclose, offer an opt-out; EU AI Act art.
    50: say it is an AI)."""
    who = behalf.strip() or "callport"
    return (f"Hello, this is an automated call from {who}, made by an AI assistant. "
            "If you do not want these calls, say stop or hang up.")


class Mode(enum.Enum):
    OFF = "off"
    NOTIFY = "notify"
    CONSENT = "consent"


class State(enum.Enum):
    DISCLOSING = "disclosing"  # the notice is being said
    WAITING = "waiting"  # notify: the caller may hang up; consent: waiting for the answer
    DECIDED = "decided"


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided, when (driver clock), with which words and under which rule."""

    outcome: str  # off | implied | consent | decline | no-answer | hung-up
    record: bool
    at: float
    mode: str  # the mode that applied (after the all-party rule)
    rule: str  # "setting", or "all-party:US-CA" when the stricter rule applied
    words: str  # what the caller was told
    answer: str = ""  # consent mode: the caller's words (empty for a hang-up or silence)


_YES = re.compile(r"\b(yes|yeah|yep|sure|ok|okay|agree|i agree|consent|fine|of course)\b")
_NO = re.compile(r"\b(no|nope|don't|do not|decline|refuse|not ok|disagree|stop)\b")


def classify(answer: str) -> str:
    """``yes``, ``no`` or ``unclear`` for a spoken answer (a no wins over a yes: "yes, no")."""
    text = answer.lower().replace("’", "'")
    if _NO.search(text):
        return "no"
    if _YES.search(text):
        return "yes"
    return "unclear"


def applied_mode(mode: Mode, caller: str, callee: str) -> tuple[Mode, str]:
    """The mode after the all-party rule, and the rule's name."""
    if mode is Mode.NOTIFY:
        rule = all_party_rule(caller, callee)
        if rule:
            return Mode.CONSENT, rule
    return mode, "setting"


class ConsentMachine:
    """One call's consent: build it at the start, say ``words``, feed it the outcome."""

    def __init__(
        self,
        *,
        mode: Mode,
        caller: str,
        callee: str,
        notice: str = "This call may be recorded.",
        question: str = "Do you agree to the recording? Please say yes or no.",
        at: float = 0.0,
    ) -> None:
        self.mode, self.rule = applied_mode(mode, caller, callee)
        self.decision: Decision | None = None
        if self.mode is Mode.OFF:
            self.words = ""
            self.state = State.DECIDED
            self.decision = Decision("off", False, at, "off", self.rule, "")
            return
        parts = [AI_NOTICE, notice.strip()]
        if self.mode is Mode.CONSENT:
            parts.append(question.strip())
        self.words = " ".join(p for p in parts if p)
        self.state = State.DISCLOSING

    @property
    def asks(self) -> bool:
        """Whether an answer is expected after the words."""
        return self.mode is Mode.CONSENT

    def disclosed(self, *, at: float) -> None:
        if self.state is State.DISCLOSING:
            self.state = State.WAITING

    def hung_up(self, *, at: float) -> Decision:
        """The caller hung up (during the notice or before answering): nothing recorded."""
        if self.decision is None:
            self._decide("hung-up", False, at)
        assert self.decision is not None
        return self.decision

    def stayed(self, *, at: float) -> Decision:
        """Notify mode: the caller stayed on the line after the notice (implied consent)."""
        self._expect(Mode.NOTIFY)
        return self._decide("implied", True, at)

    def answered(self, answer: str, *, at: float) -> Decision:
        """Consent mode: the caller's answer; yes records, anything else does not."""
        self._expect(Mode.CONSENT)
        verdict = classify(answer)
        outcome = "consent" if verdict == "yes" else "decline"
        return self._decide(outcome, verdict == "yes", at, answer)

    def no_answer(self, *, at: float) -> Decision:
        """Consent mode: nothing said in time; without a yes nothing is recorded."""
        self._expect(Mode.CONSENT)
        return self._decide("no-answer", False, at)

    def _expect(self, mode: Mode) -> None:
        if self.state is not State.WAITING or self.mode is not mode:
            raise RuntimeError(f"consent: unexpected input in state {self.state.value} "
                               f"(mode {self.mode.value})")

    def _decide(self, outcome: str, record: bool, at: float, answer: str = "") -> Decision:
        self.decision = Decision(outcome, record, at, self.mode.value, self.rule, self.words,
                                 answer)
        self.state = State.DECIDED
        return self.decision
