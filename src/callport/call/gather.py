"""``call.gather``: one menu question, asked until it has an answer or the ladder runs out.

    match await call.gather("Sales or support?", choices=[
            Choice("sales", ("buy something",), keys="1"),
            Choice("support", ("it is broken",), keys="2")]):
        case Chosen(choice="sales", by=by, confidence=c): ...
        case Digits(digits=d): ...            # digit collection (num_digits / finish_on_key)
        case Command(name="operator"): ...    # a global command the flow handles
        case NoInput() | NoMatch(): ...       # the ladder ran out: the menu's fallback
        case HungUp(): ...

The prompt (text spoken clause by clause, or any ``AudioSource``) can be barged in on by
speech or a key; the choices' phrases are the STT hints while listening. The reprompt ladder:
no input -> the prompt again; no match -> the choices with their keys; ``max_tries`` misses ->
``NoInput``/``NoMatch``. Unsure words are asked back ("Did you want billing?"); two close
choices are asked apart ("Did you want sales or support?"); ``repeat`` / ``*`` says the prompt
again (not a miss). The decisions are made by ``callport.call.understand``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callport.call.results import Heard, HungUp, ListenResult, Pressed, Timeout
from callport.call.sources import AudioSource
from callport.call.understand import (
    Choice,
    Command,
    Confirm,
    Decision,
    DigitCollector,
    Picked,
    Understanding,
    Unmatched,
    WhichOne,
    stt_hints,
    yes_or_no,
)

if TYPE_CHECKING:
    from callport.call.call import Call

__all__ = ["Choice", "Chosen", "Digits", "GatherResult", "HungUp", "NoInput",
           "NoMatch", "Said", "gather"]

SORRY = "Sorry, I didn't catch that."


@dataclass(frozen=True, slots=True)
class Chosen:
    """A choice was made ``by`` ``"speech"`` or ``"dtmf"``; ``heard`` what was said (or
    ``digits`` pressed) that made it; confidence 1.0 for a key or a confirmed answer."""

    choice: str
    by: str
    confidence: float
    heard: str = ""
    digits: str = ""


@dataclass(frozen=True, slots=True)
class Digits:
    """Collected digits; ``finished_by`` ``"key"`` (``finish_on_key``), ``"length"``
    (``num_digits``) or ``"timeout"`` (the inter-digit timeout)."""

    digits: str
    finished_by: str


@dataclass(frozen=True, slots=True)
class NoInput:
    """``tries`` prompts in a row got nothing."""

    tries: int


@dataclass(frozen=True, slots=True)
class NoMatch:
    """The ladder ran out on answers that matched nothing; ``heard`` the last of them."""

    tries: int
    heard: str = ""


@dataclass(frozen=True, slots=True)
class Said:
    """A global command was given (``Command.name``) with what was heard."""

    command: str
    by: str
    heard: str = ""
    digits: str = ""


GatherResult = Chosen | Digits | NoInput | NoMatch | Said | HungUp


def choices_text(choices: Sequence[Choice]) -> str:
    """"For sales, say sales or press 1. ..." (the no-match rung of the ladder)."""
    parts = []
    for c in choices:
        key = f" or press {c.keys[0]}" if c.keys else ""
        parts.append(f"For {c.spoken}, say {c.spoken}{key}.")
    return " ".join(parts)


async def gather(
    call: Call,
    prompt: str | AudioSource,
    *,
    choices: Sequence[Choice] = (),
    understanding: Understanding | None = None,
    num_digits: int = 0,
    finish_on_key: str = "#",
    timeout: float = 5.0,
    inter_digit_timeout: float = 3.0,
    max_tries: int = 3,
    barge_in: bool = True,
    commands: bool = True,
    confirm: bool = True,
) -> GatherResult:
    """Ask ``prompt`` and return the caller's answer (see the module docstring).

    Without ``choices`` (or with ``num_digits``) keys are collected as ``Digits``; speech then
    is a ``NoMatch`` rung. ``understanding`` may be passed to reuse a warmed classifier.
    """
    if understanding is None:
        understanding = Understanding(choices=choices, commands=commands)
    choices = understanding.choices
    collect = num_digits > 0 or not choices
    hints = stt_hints(choices)
    saved_hints = call.hints
    call.hints = hints or saved_hints
    misses, repeats = 0, 0
    say_next: str | AudioSource | None = prompt
    try:
        while True:
            if say_next is not None:
                await _prompt(call, say_next, barge_in)
            if call.ended:
                return HungUp(call.session.hangup_reason or "normal")
            answer = await call.listen(timeout=timeout)
            decision: Decision
            match answer:
                case HungUp():
                    return answer
                case Timeout():
                    misses += 1
                    if misses >= max_tries:
                        return NoInput(misses)
                    say_next = prompt
                    continue
                case Pressed(digits=digit) if collect:
                    return await _collect(call, digit, num_digits, finish_on_key,
                                          inter_digit_timeout)
                case Pressed(digits=digit):
                    decision, heard, by_digits = understanding.key(digit), "", digit
                case Heard(text=text, confidence=heard_confidence):
                    decision = (Unmatched() if collect
                                else understanding.words(text, heard=heard_confidence))
                    heard, by_digits = text, ""
                case _:
                    continue
            if confirm:
                decision = await _settle(call, understanding, decision, timeout)
                if isinstance(decision, _Ended):
                    return HungUp(call.session.hangup_reason or "caller")
            match decision:
                case Picked(choice=choice, by=by, confidence=confidence):
                    return Chosen(choice.name, by, round(confidence, 3), heard, by_digits)
                case Command(name="repeat"):
                    repeats += 1
                    if repeats > max_tries * 2:  # a caller who only ever says "repeat"
                        return NoMatch(misses + 1, heard)
                    say_next = prompt
                case Command(name=name, by=by):
                    return Said(name, by, heard, by_digits)
                case _:
                    misses += 1
                    if misses >= max_tries:
                        return NoMatch(misses, heard or by_digits)
                    say_next = (f"{SORRY} {choices_text(choices)}" if choices
                                else f"{SORRY} {prompt if isinstance(prompt, str) else ''}")
    finally:
        call.hints = saved_hints


class _Ended(Decision):
    """The call ended while a question was being asked back."""


async def _prompt(call: Call, what: str | AudioSource, barge_in: bool) -> None:
    if isinstance(what, str):
        await call.say(what, interruptible=barge_in)
    else:
        await call.play(what, interruptible=barge_in)


async def _settle(
    call: Call, understanding: Understanding, decision: Decision, timeout: float
) -> Decision:
    """Ask back an unsure answer (``Confirm``) or two close ones (``WhichOne``); a key answers
    too. Anything else is returned as it is."""
    match decision:
        case Confirm(choice=choice, confidence=confidence):
            await call.say(f"Did you want {choice.spoken}?")
            answer = await call.listen(timeout=timeout)
            match answer:
                case HungUp():
                    return _Ended()
                case Heard(text=text):
                    yes = yes_or_no(text)
                    if yes is True:
                        return Picked(choice, "speech", max(confidence, 0.99))
                    if yes is False:
                        return Unmatched(choice.name, confidence)
                    again = understanding.words(text)
                    return again if isinstance(again, Picked | Command) else Unmatched()
                case Pressed(digits=digit):
                    return understanding.key(digit)
            return Unmatched(choice.name, confidence)
        case WhichOne(first=first, second=second):
            keys = (f" Press {first.keys[0]} for {first.spoken}, or {second.keys[0]} for "
                    f"{second.spoken}.") if first.keys and second.keys else ""
            await call.say(f"Did you want {first.spoken} or {second.spoken}?{keys}")
            answer = await call.listen(timeout=timeout)
            match answer:
                case HungUp():
                    return _Ended()
                case Heard(text=text):
                    return understanding.words(text, among=(first, second))
                case Pressed(digits=digit):
                    return understanding.key(digit)
            return Unmatched()
    return decision


async def _collect(
    call: Call, first: str, num_digits: int, finish_on_key: str, inter_digit_s: float
) -> Digits | HungUp:
    """Keys after ``first`` until the length, the finish key or the inter-digit timeout."""
    loop = asyncio.get_running_loop()
    collector = DigitCollector(num_digits=num_digits, finish_on_key=finish_on_key,
                               inter_digit_s=inter_digit_s)
    collector.press(first, loop.time())
    while not collector.done:
        wait = max(0.0, collector.deadline() - loop.time()) if collector.digits else inter_digit_s
        answer: ListenResult = await call.listen(timeout=wait)
        match answer:
            case HungUp():
                return answer
            case Pressed(digits=digit):
                collector.press(digit, loop.time())
            case Timeout():
                if not collector.digits:
                    collector.finished_by = "timeout"
                collector.tick(loop.time() + inter_digit_s)  # the wait was the deadline
            case _:
                pass  # speech during digit entry is ignored
    return Digits(collector.digits, collector.finished_by)
