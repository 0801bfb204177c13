"""``PgTaskStore`` and ``PgTaskLists``: every owner's tasks in one PostgreSQL table.

The same contract as ``callport.store.sqlite_tasks`` (tests/store/test_store_tasks.py runs over
both). The change feed (``subscribe``) is this process's: a change made on another node is in
the table at once but is not announced here (the cross-node bus is a later step of scale-out;
docs/scale-out.md).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from callport.store.postgres import PgDb
from callport.store.tasks import (
    KEEP,
    ChangeFeed,
    Clock,
    Keep,
    Task,
    TaskChange,
    TaskError,
    clean_due,
    clean_title,
    local_now,
    rank_by_title,
    sort_key,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

DEFAULT_OWNER = "owner"
_COLUMNS = "id, title, due, done, created_at, updated_at"


def _row(row: dict[str, Any]) -> Task:
    return Task(
        id=int(row["id"]),
        title=str(row["title"]),
        due=datetime.fromisoformat(row["due"]) if row["due"] else None,
        done=bool(row["done"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


async def _select(conn: AsyncConnection[dict[str, Any]], owner: str, task_id: int) -> Task | None:
    if not isinstance(task_id, int) or not 0 < task_id < 2**63:  # out of range: no such task
        return None
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM tasks WHERE id = %s AND owner = %s", (task_id, owner))
    row = await cur.fetchone()
    return _row(row) if row is not None else None


class PgTaskStore:
    """One owner's tasks in PostgreSQL (another owner's ids are "no such task" here)."""

    def __init__(self, db: PgDb, *, clock: Clock = local_now, owner: str = DEFAULT_OWNER) -> None:
        if not owner:
            raise ValueError("a task list needs an owner name")
        self.db = db
        self.owner = owner
        self._clock = clock
        self._feed = ChangeFeed()

    def subscribe(self) -> AsyncIterator[TaskChange]:
        return self._feed.subscribe()

    async def add(self, title: str, due: datetime | None = None) -> Task:
        title, due_clean, now = clean_title(title), clean_due(due), self._clock()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO tasks (title, due, done, created_at, updated_at, owner) "
                f"VALUES (%s, %s, FALSE, %s, %s, %s) RETURNING {_COLUMNS}",
                (title, _iso(due_clean), _iso(now), _iso(now), self.owner))
            row = await cur.fetchone()
        assert row is not None
        task = _row(row)
        self._feed.publish(TaskChange("added", task))
        return task

    async def get(self, task_id: int) -> Task | None:
        async with self.db.transaction() as conn:
            return await _select(conn, self.owner, task_id)

    async def list(self, *, include_done: bool = False) -> builtins.list[Task]:
        where = "" if include_done else " AND done = FALSE"
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE owner = %s{where}", (self.owner,))
            rows = await cur.fetchall()
        return sorted((_row(r) for r in rows), key=sort_key)

    async def update(
        self,
        task_id: int,
        *,
        title: str | Keep = KEEP,
        due: datetime | Keep | None = KEEP,
        done: bool | Keep = KEEP,
    ) -> Task | None:
        sets: builtins.list[str] = []
        args: builtins.list[object] = []
        if not isinstance(title, Keep):
            sets.append("title = %s")
            args.append(clean_title(title))
        if not isinstance(due, Keep):
            sets.append("due = %s")
            args.append(_iso(clean_due(due)))
        if not isinstance(done, Keep):
            sets.append("done = %s")
            args.append(bool(done))
        sets.append("updated_at = %s")
        args.append(_iso(self._clock()))
        if not isinstance(task_id, int) or not 0 < task_id < 2**63:
            return None
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE tasks SET {', '.join(sets)} WHERE id = %s AND owner = %s "
                f"RETURNING {_COLUMNS}", (*args, task_id, self.owner))  # fmt: skip
            row = await cur.fetchone()
        if row is None:
            return None
        task = _row(row)
        self._feed.publish(TaskChange("updated", task))
        return task

    async def complete(self, task_id: int) -> Task | None:
        return await self.update(task_id, done=True)

    async def complete_all(self) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE tasks SET done = TRUE, updated_at = %s WHERE owner = %s AND done = FALSE "
                f"RETURNING {_COLUMNS}", (_iso(self._clock()), self.owner))  # fmt: skip
            tasks = sorted((_row(r) for r in await cur.fetchall()), key=lambda t: t.id)
        for task in tasks:
            self._feed.publish(TaskChange("updated", task))
        return len(tasks)

    async def reschedule(self, task_id: int, due: datetime | None) -> Task | None:
        return await self.update(task_id, due=due)

    async def delete(self, task_id: int) -> bool:
        if not isinstance(task_id, int) or not 0 < task_id < 2**63:
            return False
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"DELETE FROM tasks WHERE id = %s AND owner = %s RETURNING {_COLUMNS}",
                (task_id, self.owner))
            row = await cur.fetchone()
        if row is None:
            return False
        self._feed.publish(TaskChange("deleted", _row(row)))
        return True

    async def find_by_title(
        self, query: str, *, include_done: bool = False
    ) -> builtins.list[Task]:
        return rank_by_title(query, await self.list(include_done=include_done))


class PgTaskLists:
    """Every owner's tasks: ``of(owner)`` is that owner's ``PgTaskStore`` (the same object each
    time in this process, so one change feed per owner per node)."""

    def __init__(self, db: PgDb, *, clock: Clock = local_now) -> None:
        self.db = db
        self._clock = clock
        self._lists: dict[str, PgTaskStore] = {}

    def of(self, owner: str) -> PgTaskStore:
        if not isinstance(owner, str) or not owner:
            raise TaskError("a task list needs an owner name")
        store = self._lists.get(owner)
        if store is None:
            store = self._lists[owner] = PgTaskStore(self.db, clock=self._clock, owner=owner)
        return store

    async def owners(self) -> builtins.list[str]:
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT DISTINCT owner FROM tasks ORDER BY owner")
            return [str(r["owner"]) for r in await cur.fetchall()]
