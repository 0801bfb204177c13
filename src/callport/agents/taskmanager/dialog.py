"""Dialog state between turns: what the agent is waiting for, and the unread part of a list.

At most one thing is pending at a time:

- ``Confirm``: a destructive action (delete, complete, complete all), or adding a task whose
  title an open task already has, awaiting yes/no in the next turn;
- ``AskTitle``: an intent that came without a task name ("delete a task") awaiting the name;
- ``AskDue``: a reschedule that named a task but no date, awaiting the date;
- ``Guess``: a request the classifier could not place for sure, asked back ("Did you want me
  to add ...?"): yes does it, no drops it, anything else is a new turn;
- ``Pick``: an action whose title named several open tasks about equally well, awaiting
  "which one" (see ``picker``).

Anything else said instead drops the pending question, except a turn the classifier cannot
place while a confirmation is pending, which repeats the question, and one while a pick is
pending, which cancels the action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from callport.nlu.dates import When
from callport.store.tasks import Task


@dataclass(frozen=True, slots=True)
class Pending:
    """Base of what the agent waits for."""


@dataclass(frozen=True, slots=True)
class Confirm(Pending):
    action: str  # "delete", "delete_all", "complete", "complete_all", "end_call", "add_again",
    # "reschedule" (a task guessed from a misheard title: moved to ``due``, or asked when)
    task_ids: tuple[int, ...]
    question: str
    title: str = ""  # the task's title when there is one task (the new one for "add_again")
    due: datetime | None = None  # "add_again": the new task's due date; "reschedule": the new one


@dataclass(frozen=True, slots=True)
class Guess(Pending):
    intent: str  # the classifier's best guess: "add", "complete", "delete", "reschedule", "list"
    text: str  # what the caller said, acted on as ``intent`` after a yes


@dataclass(frozen=True, slots=True)
class AskTitle(Pending):
    intent: str  # "add", "complete", "delete" or "reschedule"
    when: When | None = None  # a date already said with the request


@dataclass(frozen=True, slots=True)
class AskDue(Pending):
    task_id: int
    title: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One task offered by a ``Pick``: what it is called aloud, and which task it is."""

    task_id: int
    label: str  # the title, with its due date when two titles are the same


@dataclass(frozen=True, slots=True)
class Pick(Pending):
    """ "Which one?": ``intent`` waits for the caller to choose among ``choices``."""

    intent: str  # "complete", "delete" or "reschedule"
    choices: tuple[Choice, ...]
    query: str  # the title the caller said
    when: When | None = None  # the new due date of a reschedule, when it was said
    listed: bool = True  # the choices were read out (few enough) and can be picked by number
    heard: int = 0  # how many of them the caller heard (all, unless a barge-in cut them off)


@dataclass(slots=True)
class DialogState:
    pending: Pending | None = None
    unread: list[Task] = field(default_factory=list)  # the rest of a list, for "more"
    spoken: list[tuple[str, Task]] = field(default_factory=list)  # list lines just said
    last_task_id: int | None = None  # "it", "that one": the task last talked about
