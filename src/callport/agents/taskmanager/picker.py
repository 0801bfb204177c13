""" "Which one?": choosing among open tasks a spoken title named about equally well.

When "mark call as done" fits "call mom" and "call the dentist" alike (``store.tasks.
close_matches`` decides), the agent reads the choices out ("Which one: call mom, or call the
dentist?"; at most ``MAX_LISTED``, more and it asks for more of the title) and keeps a
``dialog.Pick``. The answer picks a choice by its title words ("the dentist one", "dentist"),
by position ("the first one", "second", "number 2") or by keypad digit. Pure functions: the
agent owns the store and the dialog state.

A caller who barged in on the question heard only some choices (``heard_choices``); a
position beyond those is asked again rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from callport.agents.taskmanager import replies
from callport.agents.taskmanager.dialog import Choice, Pick
from callport.agents.taskmanager.examples import ADD, COMPLETE, DELETE, LIST, RESCHEDULE
from callport.agents.taskmanager.slots import extract_title
from callport.nlu.dates import When, extract_when
from callport.nlu.text import normalize
from callport.store.tasks import (
    TITLE_THRESHOLD,
    Task,
    contenders,
    title_score,
    unmatched_words,
)

MAX_LISTED = 3  # choices read out; with more, the caller is asked for more of the title

_SOUND_ALIKE_NUMBERS = {"won": 1, "too": 2}
_ORDINAL = re.compile(  # normalised text: "second" is "2nd", "two" is "2"
    r"^(?:(?:the|it's|its|that's|thats|i mean|i meant|number|option|task|oh|um|uh)\s+)*"
    r"(?P<n>\d{1,2}(?:st|nd|rd|th)?|last|won|too)"
    r"(?:\s+(?:1|one|option|task|please|thanks|thank you|then))*$"
)
_FILLER_LEAD = re.compile(  # normalised text: "one" is written "1"
    r"^(?:(?:no|oh|um|uh|well|sorry|i mean|i meant|it's|its|that's|thats|it was|"
    r"the (?:1|one) (?:about|with|called|that says|for)|the (?:1|one)|the task)\s+)+"
)
_ONE_TAIL = re.compile(r"\s+(?:1|one|task|please|thanks|thank you)$")
_LEAD = r"^(?:(?:ok|okay|so|and|no|actually|wait|oh|please|can you|could you|i want to)\s+)*"
# A request for another intent, said instead of an answer (checked only when the answer's
# words are not all in the chosen title: "finish the slides" may be a title).
_REQUESTS: dict[str, re.Pattern[str]] = {
    intent: re.compile(_LEAD + pattern)
    for intent, pattern in {
        ADD: r"(?:add|ad|create|new task|remind me|put)\b",
        COMPLETE: r"(?:mark|check off|tick off|cross off|complete|finish|done with)\b",
        DELETE: r"(?:delete|remove|erase|get rid of|scratch)\b",
        RESCHEDULE: r"(?:move|reschedule|postpone|push|delay|defer|shift)\b",
        LIST: r"(?:list|what|what's|whats|read|show|tell me)\b",
    }.items()
}


@dataclass(frozen=True, slots=True)
class Answer:
    """Base of what a reply to "which one?" turned out to be."""


@dataclass(frozen=True, slots=True)
class Chosen(Answer):
    choice: Choice
    when: When | None  # a date said with the answer ("the dentist one, on Friday")


@dataclass(frozen=True, slots=True)
class Unclear(Answer):
    """An answer that fits several choices (``choices``), or a position that was not offered."""

    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class NotAnAnswer(Answer):
    """Nothing in it picks a choice: "never mind", a new request, or out of scope."""


def choices_for(tasks: Sequence[Task], now: datetime) -> tuple[Choice, ...]:
    """The tasks as spoken choices; same-titled tasks are told apart by due date, else merged."""
    titles = [t.title.lower() for t in tasks]
    choices: list[Choice] = []
    for task, title in zip(tasks, titles, strict=True):
        label = task.title
        due = replies.say_due(task.due, now)
        if titles.count(title) > 1 and due:
            label = f"{task.title} due {due.removeprefix('on ')}"
        if all(c.label.lower() != label.lower() for c in choices):
            choices.append(Choice(task.id, label))  # the first of equal ones: the soonest due
    return tuple(choices)


def new_pick(
    intent: str, choices: tuple[Choice, ...], query: str, when: When | None = None
) -> Pick:
    listed = len(choices) <= MAX_LISTED
    return Pick(intent, choices, query, when, listed=listed, heard=len(choices) if listed else 0)


def afresh(pick: Pick) -> Pick:
    """``pick`` about to be asked again: every choice will be heard."""
    return replace(pick, heard=len(pick.choices) if pick.listed else 0)


def question(pick: Pick) -> str:
    """ "Which one: call mom, or call the dentist?" """
    if not pick.listed:
        return f"{len(pick.choices)} tasks match {pick.query}. Please say more of the title."
    labels = [c.label for c in pick.choices]
    return f"Which one: {', '.join(labels[:-1])}, or {labels[-1]}?"


def ask_again(pick: Pick) -> str:
    if not pick.listed:
        return f"Sorry, I still can't tell. {question(pick)}"
    n = len(pick.choices)
    keys = "1 or 2" if n == 2 else "1, 2 or 3"
    return f"{question(pick)} You can also press {keys}."


def by_digit(pick: Pick, digit: str) -> Choice | None:
    """The choice a keypad digit picks, among those the caller heard read out."""
    if pick.listed and digit in {"1", "2", "3"} and int(digit) <= pick.heard:
        return pick.choices[int(digit) - 1]
    return None


def heard_choices(pick: Pick, heard: str) -> Pick:
    """``pick`` after a barge-in: only the choices read out in full count as heard."""
    said = " ".join(normalize(heard).split())
    count = 0
    for choice in pick.choices:
        if f" {normalize(choice.label)} " not in f" {said} ":
            break
        count += 1
    return replace(pick, heard=min(count, pick.heard))


def read_answer(text: str, pick: Pick, now: datetime) -> Answer:
    """What the caller's reply to the question picks."""
    norm = normalize(text)
    position = _position(norm, pick)
    if position is not None:
        if pick.listed and 1 <= position <= pick.heard:
            return Chosen(pick.choices[position - 1], None)
        return Unclear(pick.choices)
    found = extract_when(norm, now)
    dated: Answer = NotAnAnswer()
    if found is not None:  # "the dentist one, on Friday": a new date said with the answer
        dated = _by_title(_said_title(pick.intent, found.rest), norm, pick)
        if isinstance(dated, Chosen):
            return replace(dated, when=found.when)
    # "the one due Friday": the date tells same-titled choices apart (see ``choices_for``)
    answer = _by_title(_said_title(pick.intent, norm), norm, pick)
    return dated if isinstance(answer, NotAnAnswer) else answer


def _by_title(said: str, norm: str, pick: Pick) -> Answer:
    if not said:
        return NotAnAnswer()
    scored = [(title_score(said, c.label), c) for c in pick.choices]
    best = contenders([(s, c) for s, c in scored if s >= TITLE_THRESHOLD])
    if not best:
        return NotAnAnswer()
    whole = not unmatched_words(said, best[0].label)
    if not whole and any(p.match(norm) for intent, p in _REQUESTS.items() if intent != pick.intent):
        return NotAnAnswer()  # "delete call mom" while picking what to complete
    if len(best) > 1:
        return Unclear(tuple(best))
    return Chosen(best[0], None)


def _position(norm: str, pick: Pick) -> int | None:
    m = _ORDINAL.match(norm)
    if m is None:
        return None
    word = m.group("n")
    if word == "last":
        return pick.heard
    return _SOUND_ALIKE_NUMBERS.get(word) or int(word.rstrip("stndrh"))


def _said_title(intent: str, rest: str) -> str:
    title = extract_title(intent, rest) or rest
    title = _FILLER_LEAD.sub("", title + " ").strip()
    return _ONE_TAIL.sub("", title).strip()
