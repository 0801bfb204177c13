"""The Task Manager: an offline voice agent that keeps a to-do list.

Every turn yields a ``TurnInfo`` (intent, score, slots) first, then short ``Say`` replies, and
``HangUpCall`` after goodbye. Destructive actions (delete, complete all) ask first; the answer
comes in the next turn and "no" cancels. Lists are read a few tasks at a time ("more" reads
on); a list cut off by barge-in resumes at the first task the caller did not fully hear.

Keypad: 1 lists the tasks, 2 reads more, 0 is help; while a question is pending 1 is yes and
2 is no.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime

from callport.agents.base import (
    AgentInput,
    AgentOutput,
    CallInfo,
    HangUpCall,
    Say,
    TurnInfo,
    UserPressed,
    UserSaid,
)
from callport.agents.taskmanager import replies
from callport.agents.taskmanager.dialog import AskDue, AskTitle, Confirm, DialogState
from callport.agents.taskmanager.examples import (
    ADD,
    COMPLETE,
    DELETE,
    GOODBYE,
    HELP,
    LIST,
    MORE,
    NO,
    RESCHEDULE,
    YES,
    build_classifier,
)
from callport.agents.taskmanager.slots import extract_title, mentions_all
from callport.nlu.dates import When, extract_when
from callport.nlu.intents import IntentClassifier, IntentResult
from callport.nlu.text import normalize
from callport.store.tasks import Task, TaskError, TaskStore, local_now

log = logging.getLogger(__name__)

Outputs = AsyncIterator[AgentOutput]
VOCABULARY_TITLES = 12  # task titles offered to STT as hints per turn


class TaskManagerAgent:
    """One call's Task Manager. Build it with :func:`task_manager_factory`."""

    def __init__(
        self,
        *,
        store: TaskStore,
        classifier: IntentClassifier,
        now: Callable[[], datetime] = local_now,
        page_size: int = 3,
        offload: bool = True,
    ) -> None:
        self._store = store
        self._classifier = classifier
        self._now = now
        self._page = max(page_size, 1)
        self._offload = offload  # classify in a worker thread, off the event loop
        self.state = DialogState()

    # -- Agent protocol ----------------------------------------------------------------------

    async def respond(self, event: AgentInput) -> Outputs:
        match event:
            case UserSaid(text=text):
                async for out in self._said(text):
                    yield out
            case UserPressed(digits=digits):
                async for out in self._pressed(digits):
                    yield out
            case _:
                yield TurnInfo(None)

    async def vocabulary(self) -> list[str]:
        """Open task titles, newest first: STT hints for the caller's next turn."""
        tasks = await self._store.list()
        return [t.title for t in sorted(tasks, key=lambda t: -t.id)[:VOCABULARY_TITLES]]

    def interrupted(self, heard: str) -> None:
        """The caller cut the reply off after ``heard``: unheard list lines stay for "more"."""
        if not self.state.spoken:
            return
        said = " ".join(heard.split())
        for index, (line, _task) in enumerate(self.state.spoken):
            if line not in said:
                unheard = [task for _, task in self.state.spoken[index:]]
                self.state.unread = unheard + self.state.unread
                break
        self.state.spoken = []

    # -- turns -------------------------------------------------------------------------------

    async def _classify(self, text: str) -> IntentResult:
        if self._offload:
            return await asyncio.to_thread(self._classifier.classify, text)
        return self._classifier.classify(text)

    async def _said(self, text: str) -> Outputs:
        self.state.spoken = []
        now = self._now()
        pending = self.state.pending
        if isinstance(pending, AskTitle | AskDue):
            pinned = self._classifier.keyword(text)
            if pinned == NO:
                self.state.pending = None
                yield TurnInfo(NO, 1.0, {"cancelled": type(pending).__name__})
                yield Say(replies.CANCELLED)
                return
            if pinned in {GOODBYE, HELP}:
                self.state.pending = None
            else:
                async for out in self._answer(pending, text, now):
                    yield out
                return
        result = await self._classify(text)
        if isinstance(self.state.pending, Confirm):
            if result.intent in {YES, NO, None}:
                async for out in self._confirm(self.state.pending, result):
                    yield out
                return
            self.state.pending = None  # a new request instead of an answer: drop the question
        async for out in self._intent(result, text, now):
            yield out

    async def _pressed(self, digits: str) -> Outputs:
        digit = digits[:1]
        if isinstance(self.state.pending, Confirm) and digit in {"1", "2"}:
            answer = YES if digit == "1" else NO
            async for out in self._confirm(self.state.pending, IntentResult(answer, 1.0)):
                yield out
            return
        mapped = {"1": LIST, "2": MORE, "0": HELP}.get(digit)
        self.state.pending = None
        if mapped is None:
            yield TurnInfo(None, 0.0, {"digits": digits})
            yield Say("Press 1 to hear your tasks, 2 for more, or 0 for help.")
            return
        async for out in self._intent(IntentResult(mapped, 1.0, via="dtmf"), "", self._now()):
            yield out

    async def _intent(self, result: IntentResult, text: str, now: datetime) -> Outputs:
        intent = result.intent
        self.state.pending = None
        found = extract_when(text, now) if text else None
        rest = found.rest if found else normalize(text)
        when = found.when if found else None
        title = extract_title(intent, rest) if intent in {ADD, COMPLETE, DELETE, RESCHEDULE} else ""
        slots: dict[str, str] = {}
        if title:
            slots["title"] = title
        if when is not None:
            slots["due"] = when.as_datetime().isoformat(timespec="minutes")
            slots["due_time"] = "yes" if when.time is not None else "no"
        yield TurnInfo(intent, round(result.score, 3), slots)
        match intent:
            case "add":
                outs = self._add(title, when, now)
            case "list":
                outs = self._list(when, now)
            case "more":
                outs = self._more(now)
            case "complete":
                outs = self._complete(title, rest, now)
            case "delete":
                outs = self._delete(title, rest)
            case "reschedule":
                outs = self._reschedule(title, when, now)
            case "help":
                outs = _say(replies.HELP)
            case "goodbye":
                outs = _say(replies.GOODBYE, hang_up=True)
            case "yes" | "no":
                outs = _say("There's nothing to confirm right now. " + _EXAMPLE)
            case _:
                outs = _say(replies.FALLBACK)
        async for out in outs:
            yield out

    async def _answer(self, pending: AskTitle | AskDue, text: str, now: datetime) -> Outputs:
        """The reply to "which task?" or "when?"."""
        self.state.pending = None
        found = extract_when(text, now)
        rest = found.rest if found else normalize(text)
        when = found.when if found else None
        if isinstance(pending, AskDue):
            yield TurnInfo(RESCHEDULE, 1.0, _slots(pending.title, when))
            if when is None:
                yield Say("Sorry, I didn't catch a date. Say something like: tomorrow at 3 PM.")
                self.state.pending = pending
                return
            async for out in self._set_due(pending.task_id, when, now):
                yield out
            return
        title = extract_title(pending.intent, rest) or rest
        yield TurnInfo(pending.intent, 1.0, _slots(title, when))
        match pending.intent:
            case "add":
                outs = self._add(title, when, now)
            case "complete":
                outs = self._complete(title, rest, now)
            case "delete":
                outs = self._delete(title, rest)
            case _:
                outs = self._reschedule(title, when, now)
        async for out in outs:
            yield out

    async def _confirm(self, pending: Confirm, result: IntentResult) -> Outputs:
        yield TurnInfo(result.intent, round(result.score, 3), {"confirming": pending.action})
        if result.intent == NO:
            self.state.pending = None
            yield Say(replies.CANCELLED)
            return
        if result.intent != YES:
            yield Say(f"{replies.CONFIRM_AGAIN} {pending.question}")
            return
        self.state.pending = None
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

    # -- actions -----------------------------------------------------------------------------

    async def _add(self, title: str, when: When | None, now: datetime) -> Outputs:
        if not title:
            self.state.pending = AskTitle(ADD)
            yield Say(replies.ASK_TITLE[ADD])
            return
        try:
            task = await self._store.add(title, when.as_datetime() if when else None)
        except TaskError as exc:
            yield Say(f"Sorry, I couldn't add that: {exc}.")
            return
        self.state.last_task_id = task.id
        yield Say(replies.added(task, now))

    async def _list(self, when: When | None, now: datetime) -> Outputs:
        tasks = await self._store.list()
        day = when.date if when else None
        if day is not None:
            tasks = [t for t in tasks if _due_on(t, day, now)]
        scope = replies.scope_phrase(day, now.date())
        yield Say(replies.count_phrase(len(tasks), scope))
        self.state.unread = tasks
        async for out in self._more(now, announce_empty=False):
            yield out

    async def _more(self, now: datetime, *, announce_empty: bool = True) -> Outputs:
        page, self.state.unread = self.state.unread[: self._page], self.state.unread[self._page :]
        if not page:
            if announce_empty:
                yield Say("That's all your tasks.")
            return
        self.state.spoken = []
        for task in page:
            line = replies.describe(task, now)
            self.state.spoken.append((line, task))
            yield Say(line)
        if self.state.unread:
            n = len(self.state.unread)
            yield Say(f"There {'is' if n == 1 else 'are'} {n} more. Say more to hear them.")

    async def _find(self, title: str) -> Task | None:
        if not title:
            return None
        matches = await self._store.find_by_title(title)
        return matches[0] if matches else None

    async def _complete(self, title: str, rest: str, now: datetime) -> Outputs:
        if not title and mentions_all(rest):
            tasks = await self._store.list()
            if not tasks:
                yield Say("You have no open tasks.")
                return
            n = len(tasks)
            what = "your one open task" if n == 1 else f"all {n} open tasks"
            question = f"Mark {what} as done?"
            self.state.pending = Confirm("complete_all", tuple(t.id for t in tasks), question)
            yield Say(question)
            return
        task = await self._resolve(title, COMPLETE)
        if task is None:
            if not title:
                yield Say(replies.ASK_TITLE[COMPLETE])
            else:
                yield Say(f"I couldn't find a task called {title}.")
            return
        await self._store.complete(task.id)
        yield Say(f"Nice. {_cap(task.title)} is done.")

    async def _delete(self, title: str, rest: str) -> Outputs:
        if not title and mentions_all(rest):
            tasks = await self._store.list(include_done=True)
            if not tasks:
                yield Say("Your list is already empty.")
                return
            n = len(tasks)
            what = "your one task" if n == 1 else f"all {n} tasks"
            question = f"Delete {what}? This can't be undone."
            self.state.pending = Confirm("delete_all", tuple(t.id for t in tasks), question)
            yield Say(question)
            return
        task = await self._resolve(title, DELETE, include_done=True)
        if task is None:
            if not title:
                yield Say(replies.ASK_TITLE[DELETE])
            else:
                yield Say(f"I couldn't find a task called {title}.")
            return
        question = f"Delete {task.title}?"
        self.state.pending = Confirm("delete", (task.id,), question, task.title)
        yield Say(question)

    async def _reschedule(self, title: str, when: When | None, now: datetime) -> Outputs:
        task = await self._resolve(title, RESCHEDULE)
        if task is None:
            if not title:
                yield Say(replies.ASK_TITLE[RESCHEDULE])
            else:
                yield Say(f"I couldn't find a task called {title}.")
            return
        if when is None:
            self.state.pending = AskDue(task.id, task.title)
            yield Say(f"When should {task.title} be due?")
            return
        async for out in self._set_due(task.id, when, now):
            yield out

    async def _set_due(self, task_id: int, when: When, now: datetime) -> Outputs:
        task = await self._store.reschedule(task_id, when.as_datetime())
        if task is None:
            yield Say("That task is gone.")
            return
        self.state.last_task_id = task.id
        yield Say(f"Moved {task.title} to {replies.say_due(task.due, now).removeprefix('on ')}.")

    async def _resolve(self, title: str, intent: str, *, include_done: bool = False) -> Task | None:
        """The task a title names; with no title, the one just talked about, else ask."""
        if title:
            matches = await self._store.find_by_title(title, include_done=include_done)
            if matches:
                self.state.last_task_id = matches[0].id
                return matches[0]
            return None
        if self.state.last_task_id is not None:
            task = await self._store.get(self.state.last_task_id)
            if task is not None:
                return task
        self.state.pending = AskTitle(intent)
        return None


_EXAMPLE = "You can say things like: add a task to buy milk tomorrow."


async def _say(text: str, *, hang_up: bool = False) -> Outputs:
    yield Say(text)
    if hang_up:
        yield HangUpCall("goodbye")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slots(title: str, when: When | None) -> dict[str, str]:
    slots = {"title": title} if title else {}
    if when is not None:
        slots["due"] = when.as_datetime().isoformat(timespec="minutes")
    return slots


def _due_on(task: Task, day: date, now: datetime) -> bool:
    if task.due is None:
        return False
    if day == now.date():  # "today" includes what is overdue
        return task.due.date() <= day
    return task.due.date() == day


def task_manager_factory(
    store: TaskStore,
    *,
    classifier: IntentClassifier | None = None,
    now: Callable[[], datetime] = local_now,
    page_size: int = 3,
) -> Callable[[CallInfo], TaskManagerAgent]:
    """An ``AgentFactory``: one agent per call, all sharing the store and the classifier."""
    shared = classifier or build_classifier()

    def make(info: CallInfo) -> TaskManagerAgent:
        log.debug("task manager for call %s (%s)", info.call_id, info.channel)
        return TaskManagerAgent(store=store, classifier=shared, now=now, page_size=page_size)

    return make

