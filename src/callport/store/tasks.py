"""Tasks: the ``Task`` record, the ``TaskStore`` protocol, and the in-memory implementation.

Due times are wall-clock local times of the server (naive ``datetime``): an aware datetime
given to a store is converted to local time first, so every stored due compares with every
other. Every implementation passes the shared contract suite in ``tests/store``.

Stores announce changes: ``subscribe()`` yields a ``TaskChange`` for every add, update and
delete made after it was called (the browser page uses it to refresh live).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import difflib
import enum
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar

from callport.nlu.phonetic import sound_key, sounds_alike

MAX_TITLE = 200
TITLE_THRESHOLD = 0.45  # the least ``title_score`` that counts as naming a task

_T = TypeVar("_T")

Clock = Callable[[], datetime]


class TaskError(ValueError):
    """A task request is invalid (empty or overlong title); the message says why."""


class Keep(enum.Enum):
    """Marker for "leave this field as it is" in ``TaskStore.update``."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    id: int
    title: str
    due: datetime | None
    done: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TaskChange:
    kind: str  # "added", "updated" or "deleted"
    task: Task


def local_now() -> datetime:
    return datetime.now().replace(microsecond=0)


def clean_title(title: str) -> str:
    """A title as stored: single-spaced and non-empty, at most ``MAX_TITLE`` characters."""
    if not isinstance(title, str):
        raise TaskError("title must be a string")
    text = " ".join(title.split())
    if not text:
        raise TaskError("title must not be empty")
    if len(text) > MAX_TITLE:
        raise TaskError(f"title is longer than {MAX_TITLE} characters")
    return text


def clean_due(due: datetime | None) -> datetime | None:
    """Naive local time, to the second."""
    if due is None:
        return None
    if due.tzinfo is not None:
        due = due.astimezone().replace(tzinfo=None)
    return due.replace(microsecond=0)


def sort_key(task: Task) -> tuple[bool, datetime, int]:
    """Tasks with a due date first, soonest first; then the rest in creation order."""
    return (task.due is None, task.due or datetime.max, task.id)


# -- fuzzy title matching -------------------------------------------------------------------

_STOP = frozenset(
    {"a", "an", "the", "to", "my", "of", "for", "on", "at", "in", "and", "task", "tasks"}
    | {"item", "thing", "that", "this", "it", "called", "one", "i", "is", "was", "with"}
)
_WORD = re.compile(r"[a-z0-9']+")


# Two titles match a query "about equally well" (``close_matches``) when their scores differ by
# less than this. See ``close_matches`` for why 0.1.
TIE_MARGIN = 0.1
_EXACT = 1.0 - 1e-9


def title_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def sounds_like(word: str) -> str:
    """``word``'s sound key (``nlu.phonetic``): "by", "buy" and "bye" share one, and so do
    "two" and "2". A general spelling-to-sound rule set, not a table of observed slips."""
    return sound_key(word)


def _word_match(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if sounds_alike(a, b):
        return 0.95  # sounds the same ("by" / "buy", "right" / "write"); the spelling wins
    if min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)):
        return 0.9  # "call" / "calling", "groceries" / "grocery"
    if len(a) == len(b) >= 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        return 0.8  # one letter misheard ("mum" / "mom")
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    return ratio if ratio >= 0.8 else 0.0  # misheard spelling ("favour" / "favor")


def title_score(query: str, title: str) -> float:
    """How well ``query`` names ``title``: 0..1, by (fuzzy) content-word overlap."""
    q, t = title_words(query), title_words(title)
    if not q or not t:
        return 0.0
    matched = sum(max(_word_match(w, x) for x in t) for w in q)
    covered = sum(max(_word_match(x, w) for w in q) for x in t)
    # mostly: are the caller's words in the title? a little: is the whole title named?
    return 0.7 * (matched / len(q)) + 0.3 * (covered / len(t))


def unmatched_words(query: str, title: str) -> list[str]:
    """The content words of ``query`` that have no (fuzzy) counterpart in ``title``."""
    t = title_words(title)
    return [w for w in title_words(query) if not any(_word_match(w, x) for x in t)]


def rank_by_title(
    query: str, tasks: Iterable[Task], *, threshold: float = TITLE_THRESHOLD
) -> list[Task]:
    scored = [(title_score(query, t.title), t) for t in tasks]
    good = [(s, t) for s, t in scored if s >= threshold]
    good.sort(key=lambda st: (-st[0], sort_key(st[1])))
    return [t for _, t in good]


def close_matches(query: str, tasks: Iterable[Task], *, margin: float = TIE_MARGIN) -> list[Task]:
    """The tasks ``query`` names about equally well, best first: one task when it is clear.

    ``tasks`` are candidates already found (``find_by_title``). A task whose whole title was
    said, word for word, wins outright. Otherwise every task scoring within ``margin`` of the
    best is a contender. Why 0.1, given ``title_score`` = 0.7 x (share of the caller's words in
    the title) + 0.3 x (share of the title's words the caller said):

    - a word the caller said that one title has and the other lacks moves the first term by
      0.7 / (words said): at least 0.14 for up to five content words, so that title wins;
    - when both titles hold every word said, only the second term differs, by 0.3 x the
      difference in how much of each title was named: "milk" scores 0.85 for "buy milk" and
      0.8 for "return milk crates", "call" 0.85 for both "call mom" and "call the dentist".
      That difference is below 0.1 unless one title is the query itself, which wins above;
    - a word misheard by one letter (0.8 instead of 1.0) costs 0.14 / (words said) plus
      0.06 / (title words), which decides only short requests ("mum": "call mum" 0.85 over
      "call mom" 0.68); a homophone (0.95) costs a quarter of that and never decides alone.
    """
    return contenders([(title_score(query, t.title), t) for t in tasks], margin=margin)


def contenders(scored: Iterable[tuple[float, _T]], *, margin: float = TIE_MARGIN) -> list[_T]:
    """``close_matches`` on items already scored: the best, and all within ``margin`` of it."""
    ranked = sorted(scored, key=lambda st: -st[0])  # stable: equal scores keep their order
    if not ranked:
        return []
    best = ranked[0][0]
    if best >= _EXACT:
        return [item for s, item in ranked if s >= _EXACT]
    return [item for s, item in ranked if best - s < margin - 1e-9]


# -- the protocol ----------------------------------------------------------------------------


class TaskStore(Protocol):
    async def add(self, title: str, due: datetime | None = None) -> Task: ...

    async def get(self, task_id: int) -> Task | None: ...

    async def list(self, *, include_done: bool = False) -> list[Task]: ...

    async def update(
        self,
        task_id: int,
        *,
        title: str | Keep = KEEP,
        due: datetime | Keep | None = KEEP,
        done: bool | Keep = KEEP,
    ) -> Task | None: ...

    async def complete(self, task_id: int) -> Task | None: ...

    async def complete_all(self) -> int: ...

    async def reschedule(self, task_id: int, due: datetime | None) -> Task | None: ...

    async def delete(self, task_id: int) -> bool: ...

    async def find_by_title(
        self, query: str, *, include_done: bool = False
    ) -> builtins.list[Task]: ...

    def subscribe(self) -> AsyncIterator[TaskChange]: ...


class TaskLists(Protocol):
    """Every user's task list. ``of(owner)`` is one user's list as a ``TaskStore``: it reads and
    changes only that owner's tasks, and its ``subscribe()`` sees only that owner's changes
    (stores for the same owner share one feed, so the page hears what the phone agent did)."""

    def of(self, owner: str) -> TaskStore: ...

    async def owners(self) -> builtins.list[str]:
        """The owners that have at least one task."""
        ...


class ChangeFeed:
    """Fan-out of ``TaskChange`` to subscribers; a slow subscriber drops old changes, not new."""

    def __init__(self, *, maxsize: int = 256) -> None:
        self._queues: set[asyncio.Queue[TaskChange]] = set()
        self._maxsize = maxsize

    def publish(self, change: TaskChange) -> None:
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(change)

    async def subscribe(self) -> AsyncIterator[TaskChange]:
        queue: asyncio.Queue[TaskChange] = asyncio.Queue(self._maxsize)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)


# -- in memory -------------------------------------------------------------------------------


class MemoryTaskStore:
    """Tasks in a dict: for tests and for ``callport talk`` without a database."""

    def __init__(self, *, clock: Clock = local_now, ids: Iterator[int] | None = None) -> None:
        self._tasks: dict[int, Task] = {}
        self._ids = ids if ids is not None else itertools.count(1)  # shared by MemoryTaskLists
        self._clock = clock
        self._feed = ChangeFeed()

    def subscribe(self) -> AsyncIterator[TaskChange]:
        return self._feed.subscribe()

    async def add(self, title: str, due: datetime | None = None) -> Task:
        now = self._clock()
        title = clean_title(title)
        task = Task(id=next(self._ids), title=title, due=clean_due(due), done=False,
                    created_at=now, updated_at=now)  # fmt: skip
        self._tasks[task.id] = task
        self._feed.publish(TaskChange("added", task))
        return task

    async def get(self, task_id: int) -> Task | None:
        return self._tasks.get(task_id)

    async def list(self, *, include_done: bool = False) -> list[Task]:
        return sorted((t for t in self._tasks.values() if include_done or not t.done), key=sort_key)

    async def update(
        self,
        task_id: int,
        *,
        title: str | Keep = KEEP,
        due: datetime | Keep | None = KEEP,
        done: bool | Keep = KEEP,
    ) -> Task | None:
        task = self._tasks.get(task_id)
        if task is None:
            return None
        new = replace(
            task,
            title=task.title if isinstance(title, Keep) else clean_title(title),
            due=task.due if isinstance(due, Keep) else clean_due(due),
            done=task.done if isinstance(done, Keep) else bool(done),
            updated_at=self._clock(),
        )
        self._tasks[task_id] = new
        self._feed.publish(TaskChange("updated", new))
        return new

    async def complete(self, task_id: int) -> Task | None:
        return await self.update(task_id, done=True)

    async def complete_all(self) -> int:
        open_ids = [t.id for t in self._tasks.values() if not t.done]
        for task_id in open_ids:
            await self.update(task_id, done=True)
        return len(open_ids)

    async def reschedule(self, task_id: int, due: datetime | None) -> Task | None:
        return await self.update(task_id, due=due)

    async def delete(self, task_id: int) -> bool:
        task = self._tasks.pop(task_id, None)
        if task is None:
            return False
        self._feed.publish(TaskChange("deleted", task))
        return True

    async def find_by_title(
        self, query: str, *, include_done: bool = False
    ) -> builtins.list[Task]:
        return rank_by_title(query, await self.list(include_done=include_done))


class MemoryTaskLists:
    """Every owner's ``MemoryTaskStore``: ``of(owner)`` always returns the same store (one feed
    per owner); task ids are unique across owners, so one owner's id is "no such task" to all
    the others."""

    def __init__(
        self, *, clock: Clock = local_now, lists: dict[str, TaskStore] | None = None
    ) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._lists: dict[str, TaskStore] = dict(lists or {})

    def of(self, owner: str) -> TaskStore:
        if not isinstance(owner, str) or not owner:
            raise TaskError("a task list needs an owner name")
        store = self._lists.get(owner)
        if store is None:
            store = self._lists[owner] = MemoryTaskStore(clock=self._clock, ids=self._ids)
        return store

    async def owners(self) -> builtins.list[str]:
        return sorted([o for o, s in self._lists.items() if await s.list(include_done=True)])
