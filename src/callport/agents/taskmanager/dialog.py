"""Dialog state between turns: what the agent is waiting for, and the unread part of a list.

At most one thing is pending at a time:

- ``Confirm``: a destructive action (delete, complete all) awaiting yes/no in the next turn;
- ``AskTitle``: an intent that came without a task name ("delete a task") awaiting the name;
- ``AskDue``: a reschedule that named a task but no date, awaiting the date.

Anything else said instead drops the pending question, except a turn the classifier cannot
place while a confirmation is pending, which repeats the question.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callport.store.tasks import Task


@dataclass(frozen=True, slots=True)
class Pending:
    """Base of what the agent waits for."""


@dataclass(frozen=True, slots=True)
class Confirm(Pending):
    action: str  # "delete", "delete_all" or "complete_all"
    task_ids: tuple[int, ...]
    question: str
    title: str = ""  # the task's title when there is one task


@dataclass(frozen=True, slots=True)
class AskTitle(Pending):
    intent: str  # "add", "complete", "delete" or "reschedule"


@dataclass(frozen=True, slots=True)
class AskDue(Pending):
    task_id: int
    title: str


@dataclass(slots=True)
class DialogState:
    pending: Pending | None = None
    unread: list[Task] = field(default_factory=list)  # the rest of a list, for "more"
    spoken: list[tuple[str, Task]] = field(default_factory=list)  # list lines just said
    last_task_id: int | None = None  # "it", "that one": the task last talked about
