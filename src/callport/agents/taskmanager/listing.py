"""Reading the list aloud: a page of tasks at a time, "more" for the rest, resume after barge-in.

``list`` says how many tasks there are (for a day, when one was asked) and reads the first
page; ``more`` reads the next. A caller who barges in on a page (``interrupted``) hears again,
on "more", every task from the first one not heard to the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

from callport.agents.base import AgentOutput, Say
from callport.agents.taskmanager import replies
from callport.agents.taskmanager.dialog import DialogState
from callport.nlu.dates import When
from callport.store.tasks import Task, TaskStore

Outputs = AsyncIterator[AgentOutput]


class TaskLister:
    """Pages through the open tasks; the unread rest lives in the shared ``DialogState``."""

    def __init__(self, *, store: TaskStore, state: DialogState, page_size: int) -> None:
        self._store = store
        self._state = state
        self._page = max(page_size, 1)

    async def list(self, when: When | None, now: datetime) -> Outputs:
        tasks = await self._store.list()
        day = when.date if when else None
        if day is not None:
            tasks = [t for t in tasks if due_on(t, day, now)]
        scope = replies.scope_phrase(day, now.date())
        yield Say(replies.count_phrase(len(tasks), scope))
        self._state.unread = tasks
        async for out in self.more(now, announce_empty=False):
            yield out

    async def more(self, now: datetime, *, announce_empty: bool = True) -> Outputs:
        state = self._state
        page, state.unread = state.unread[: self._page], state.unread[self._page :]
        if not page:
            if announce_empty:
                yield Say("That's all your tasks.")
            return
        state.spoken = []
        for task in page:
            line = replies.describe(task, now)
            state.spoken.append((line, task))
            yield Say(line)
        if state.unread:
            n = len(state.unread)
            yield Say(f"There {'is' if n == 1 else 'are'} {n} more. Say more to hear them.")

    def interrupted(self, heard: str) -> None:
        """The caller cut a page off after ``heard``: unheard lines stay for "more"."""
        state = self._state
        if not state.spoken:
            return
        said = " ".join(heard.split())
        for index, (line, _task) in enumerate(state.spoken):
            if line not in said:
                unheard = [task for _, task in state.spoken[index:]]
                state.unread = unheard + state.unread
                break
        state.spoken = []


def due_on(task: Task, day: date, now: datetime) -> bool:
    if task.due is None:
        return False
    if day == now.date():  # "today" includes what is overdue
        return task.due.date() <= day
    return task.due.date() == day
