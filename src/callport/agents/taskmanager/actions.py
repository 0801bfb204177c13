"""What the Task Manager does to tasks: add, and complete / delete / reschedule one named task.

A spoken title is resolved to the tasks it names (``store.tasks.close_matches``): one clear
match is acted on at once; several about equally good ones become a "which one?" question
(``picker``) and the action waits in a ``dialog.Pick`` until ``choose``. Destructive actions
(delete, complete, complete all) ask for a yes first (``dialog.Confirm``, answered in
``confirm``): a recogniser's slip ("delete it" heard as "believe it") or a classifier's wrong
guess must never change a task unasked. A complete the caller already answered a question
about (a "which one?" choice, or a yes to "Did you want me to mark ... done?") is not asked
again. A title that names no task may be a misheard one: the task it sounds most like
(``misheard``) is offered by its real title, and every action on such a guess asks first
("Mark pay the plumber as done?", "Move wash the car to Friday?"). No task is changed until
the caller has said which one and, where asked, yes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from difflib import SequenceMatcher

from callport.agents.base import AgentOutput, HangUpCall, Say, TurnInfo
from callport.agents.taskmanager import picker, replies
from callport.agents.taskmanager.dialog import AskDue, AskTitle, Choice, Confirm, DialogState, Pick
from callport.agents.taskmanager.examples import (
    ADD,
    COMPLETE,
    DELETE,
    GOODBYE,
    NO,
    RESCHEDULE,
    YES,
)
from callport.agents.taskmanager.misheard import likely_task
from callport.agents.taskmanager.slots import mentions_all
from callport.nlu.dates import When
from callport.nlu.intents import IntentResult
from callport.nlu.text import normalize
from callport.store.tasks import Task, TaskError, TaskStore, close_matches, local_now

Outputs = AsyncIterator[AgentOutput]
DUPLICATE_RATIO = 0.92  # "buy milk" vs "buy milks": the same task said twice


class TaskActions:
    """Changes to the store on the caller's behalf, asking first where a change is unclear."""

    def __init__(self, *, store: TaskStore, state: DialogState) -> None:
        self._store = store
        self._state = state

    async def add(self, title: str, when: When | None, now: datetime) -> Outputs:
        if not title:
            self._state.pending = AskTitle(ADD)
            yield Say(replies.ASK_TITLE[ADD])
            return
        due = when.as_datetime() if when else None
        same = await self._duplicate(title)
        if same is not None:  # saying "add" twice should not silently make two
            due_text = replies.say_due(same.due, now)
            question = (f"You already have {same.title}" + (f", due {due_text}" if due_text
                                                               else "") + ". Add it again?")
            self._state.pending = Confirm("add_again", (same.id,), question, title, due)
            yield Say(question)
            return
        async for out in self._add(title, due, now):
            yield out

    async def _add(self, title: str, due: datetime | None, now: datetime) -> Outputs:
        try:
            task = await self._store.add(title, due)
        except TaskError as exc:
            yield Say(f"Sorry, I couldn't add that: {exc}.")
            return
        self._state.last_task_id = task.id
        yield Say(replies.added(task, now))

    async def _duplicate(self, title: str) -> Task | None:
        """An open task whose title is the same as ``title`` or nearly (case, punctuation,
        fillers and number words aside, or at most a letter or two apart)."""
        key = normalize(title)
        for task in await self._store.find_by_title(title):
            other = normalize(task.title)
            if other == key or SequenceMatcher(None, other, key).ratio() >= DUPLICATE_RATIO:
                return task
        return None

    async def complete(self, title: str, rest: str, now: datetime, *,
                       asked: bool = False) -> Outputs:
        """Mark one task (or all) as done; ``asked``: the caller already said yes to it."""
        if not title and mentions_all(rest):
            tasks = await self._store.list()
            if not tasks:
                yield Say("You have no open tasks.")
                return
            n = len(tasks)
            what = "your one open task" if n == 1 else f"all {n} open tasks"
            question = f"Mark {what} as done?"
            self._state.pending = Confirm("complete_all", tuple(t.id for t in tasks), question)
            yield Say(question)
            return
        async for out in self._one(COMPLETE, title, None, now, asked=asked):
            yield out

    async def delete(self, title: str, rest: str, now: datetime) -> Outputs:
        if not title and mentions_all(rest):
            tasks = await self._store.list(include_done=True)
            if not tasks:
                yield Say("Your list is already empty.")
                return
            n = len(tasks)
            what = "your one task" if n == 1 else f"all {n} tasks"
            question = f"Delete {what}? This can't be undone."
            self._state.pending = Confirm("delete_all", tuple(t.id for t in tasks), question)
            yield Say(question)
            return
        async for out in self._one(DELETE, title, None, now):
            yield out

    async def reschedule(self, title: str, when: When | None, now: datetime) -> Outputs:
        async for out in self._one(RESCHEDULE, title, when, now):
            yield out

    async def set_due(self, task_id: int, when: When, now: datetime) -> Outputs:
        async for out in self._move(task_id, when.as_datetime(), now):
            yield out

    async def _move(self, task_id: int, due: datetime, now: datetime) -> Outputs:
        task = await self._store.reschedule(task_id, due)
        if task is None:
            yield Say("That task is gone.")
            return
        self._state.last_task_id = task.id
        yield Say(f"Moved {task.title} to {replies.say_due(task.due, now).removeprefix('on ')}.")

    async def choose(self, pick: Pick, choice: Choice, when: When | None, now: datetime) -> Outputs:
        """Carry out the action ``pick`` held back, on the task the caller chose."""
        self._state.pending = None
        task = await self._store.get(choice.task_id)
        if task is None:
            yield Say("That task is gone.")
            return
        async for out in self._act(pick.intent, task, when or pick.when, now, asked=True):
            yield out

    async def confirm(self, pending: Confirm, result: IntentResult,
                      now: datetime | None = None) -> Outputs:
        yield TurnInfo(result.intent, round(result.score, 3), {"confirming": pending.action})
        if result.intent == NO:
            self._state.pending = None
            yield Say(replies.CANCELLED)
            return
        if pending.action == "end_call" and result.intent in {YES, GOODBYE}:
            self._state.pending = None
            yield Say(replies.GOODBYE)
            yield HangUpCall("goodbye")
            return
        if result.intent != YES:
            yield Say(f"{replies.CONFIRM_AGAIN} {pending.question}")
            return
        self._state.pending = None
        if pending.action == "add_again":
            async for out in self._add(pending.title, pending.due, now or local_now()):
                yield out
            return
        if pending.action == "complete":
            async for out in self._complete(pending.task_ids[0]):
                yield out
            return
        if pending.action == "reschedule":
            async for out in self._reschedule(pending, now or local_now()):
                yield out
            return
        if pending.action == "complete_all":
            n = await self._store.complete_all()
            yield Say(f"Done. I marked {n} {'task' if n == 1 else 'tasks'} as done.")
            return
        deleted = [tid for tid in pending.task_ids if await self._store.delete(tid)]
        if pending.action == "delete_all":
            yield Say(f"Deleted {len(deleted)} {'task' if len(deleted) == 1 else 'tasks'}.")
        elif deleted:
            yield Say(f"Deleted {pending.title}." if pending.title else "Deleted.")
        else:
            yield Say("That task was already gone.")

    async def _reschedule(self, pending: Confirm, now: datetime) -> Outputs:
        """A yes to "Move X to Friday?" (moved) or to "Did you mean X?" (asks when)."""
        task_id = pending.task_ids[0]
        if pending.due is None:
            self._state.pending = AskDue(task_id, pending.title)
            yield Say(f"When should {pending.title} be due?")
            return
        async for out in self._move(task_id, pending.due, now):
            yield out

    async def _complete(self, task_id: int) -> Outputs:
        task = await self._store.complete(task_id)
        if task is None:
            yield Say("That task is gone.")
            return
        yield Say(f"Nice. {task.title[:1].upper() + task.title[1:]} is done.")

    # -- one named task ----------------------------------------------------------------------

    async def _one(self, intent: str, title: str, when: When | None, now: datetime, *,
                   asked: bool = False) -> Outputs:
        """Act on the task ``title`` names, ask which one, or say why neither."""
        tasks = await self._resolve(title, intent, when, include_done=intent == DELETE)
        if not tasks and title:
            heard = likely_task(title, await self._store.list(include_done=intent == DELETE))
            if heard is not None:  # misheard, most likely: say the real title, act on a yes
                async for out in self._guessed(intent, heard, when, now):
                    yield out
                return
        if not tasks:
            if not title:
                yield Say(replies.ASK_TITLE[intent])
            else:
                yield Say(f"I couldn't find a task called {title}.")
            return
        choices = picker.choices_for(tasks, now)
        if len(choices) == 1:
            task = next(t for t in tasks if t.id == choices[0].task_id)
            async for out in self._act(intent, task, when, now, asked=asked):
                yield out
            return
        pick = picker.new_pick(intent, choices, title, when)
        self._state.pending = pick
        yield Say(picker.question(pick))

    async def names_a_task(self, title: str, intent: str) -> bool:
        """Does ``title`` name one of the caller's tasks, by its words or by sound?"""
        tasks = await self._store.list(include_done=intent == DELETE)
        found = await self._store.find_by_title(title, include_done=intent == DELETE)
        return bool(close_matches(title, found)) or likely_task(title, tasks) is not None

    async def _guessed(self, intent: str, task: Task, when: When | None, now: datetime
                       ) -> Outputs:
        """A task guessed from a title that named none: every action on it asks first,
        naming the task as it is written ("Mark pay the plumber as done?")."""
        self._state.last_task_id = task.id
        if intent == RESCHEDULE:
            due = when.as_datetime() if when else None
            question = (f"Move {task.title} to {replies.say_due(due, now).removeprefix('on ')}?"
                        if due else f"Did you mean {task.title}?")
            self._state.pending = Confirm("reschedule", (task.id,), question, task.title, due)
            yield Say(question)
            return
        async for out in self._act(intent, task, when, now):  # complete, delete: they ask
            yield out

    async def _resolve(
        self, title: str, intent: str, when: When | None, *, include_done: bool
    ) -> list[Task]:
        """The tasks a title names about equally well; with no title, the one just talked
        about, else ask for the title (``[]`` either way when there is none)."""
        if title:
            found = await self._store.find_by_title(title, include_done=include_done)
            return close_matches(title, found)
        if self._state.last_task_id is not None:
            task = await self._store.get(self._state.last_task_id)
            if task is not None:
                return [task]
        self._state.pending = AskTitle(intent, when)
        return []

    async def _act(self, intent: str, task: Task, when: When | None, now: datetime, *,
                   asked: bool = False) -> Outputs:
        self._state.last_task_id = task.id
        match intent:
            case "complete" if asked:
                async for out in self._complete(task.id):
                    yield out
            case "complete":
                question = f"Mark {task.title} as done?"
                self._state.pending = Confirm("complete", (task.id,), question, task.title)
                yield Say(question)
            case "delete":
                question = f"Delete {task.title}?"
                self._state.pending = Confirm("delete", (task.id,), question, task.title)
                yield Say(question)
            case _ if when is None:
                self._state.pending = AskDue(task.id, task.title)
                yield Say(f"When should {task.title} be due?")
            case _:
                async for out in self.set_due(task.id, when, now):
                    yield out
