"""``SqliteTaskStore``: tasks in a SQLite table (the embedded default)."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from callport.store.sqlite import SqliteDb
from callport.store.tasks import (
    KEEP,
    ChangeFeed,
    Clock,
    Keep,
    Task,
    TaskChange,
    clean_due,
    clean_title,
    local_now,
    rank_by_title,
    sort_key,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL CHECK (length(title) > 0),
    due TEXT,
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_open_due ON tasks (done, due);
"""

_COLUMNS = "id, title, due, done, created_at, updated_at"


def _row(row: sqlite3.Row) -> Task:
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


def _select(conn: sqlite3.Connection, task_id: int) -> Task | None:
    if not 0 < task_id < 2**63:  # out of SQLite's integer range: no such task
        return None
    row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return _row(row) if row is not None else None


class SqliteTaskStore:
    """Tasks in SQLite; pass a path (``":memory:"`` works) or a shared :class:`SqliteDb`."""

    def __init__(self, path: str | Path | SqliteDb, *, clock: Clock = local_now) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = path if isinstance(path, SqliteDb) else SqliteDb(path)
        self.db.ensure_schema("tasks", SCHEMA)
        self._clock = clock
        self._feed = ChangeFeed()

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    def subscribe(self) -> AsyncIterator[TaskChange]:
        return self._feed.subscribe()

    async def add(self, title: str, due: datetime | None = None) -> Task:
        title, due_clean, now = clean_title(title), clean_due(due), self._clock()

        def run(conn: sqlite3.Connection) -> Task:
            cur = conn.execute(
                "INSERT INTO tasks (title, due, done, created_at, updated_at) "
                "VALUES (?, ?, 0, ?, ?)",
                (title, _iso(due_clean), _iso(now), _iso(now)),
            )
            task = _select(conn, int(cur.lastrowid or 0))
            assert task is not None
            return task

        task = await self.db.transaction(run)
        self._feed.publish(TaskChange("added", task))
        return task

    async def get(self, task_id: int) -> Task | None:
        return await self.db.transaction(lambda conn: _select(conn, task_id))

    async def list(self, *, include_done: bool = False) -> list[Task]:
        where = "" if include_done else " WHERE done = 0"

        def run(conn: sqlite3.Connection) -> list[Task]:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM tasks{where}").fetchall()
            return sorted((_row(r) for r in rows), key=sort_key)

        return await self.db.transaction(run)

    async def update(
        self,
        task_id: int,
        *,
        title: str | Keep = KEEP,
        due: datetime | Keep | None = KEEP,
        done: bool | Keep = KEEP,
    ) -> Task | None:
        sets: list[str] = []
        args: list[object] = []
        if not isinstance(title, Keep):
            sets.append("title = ?")
            args.append(clean_title(title))
        if not isinstance(due, Keep):
            sets.append("due = ?")
            args.append(_iso(clean_due(due)))
        if not isinstance(done, Keep):
            sets.append("done = ?")
            args.append(1 if done else 0)
        sets.append("updated_at = ?")
        args.append(_iso(self._clock()))

        def run(conn: sqlite3.Connection) -> Task | None:
            if _select(conn, task_id) is None:
                return None
            cur = conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE id = ?", (*args, task_id))
            return _select(conn, task_id) if cur.rowcount else None

        task = await self.db.transaction(run)
        if task is not None:
            self._feed.publish(TaskChange("updated", task))
        return task

    async def complete(self, task_id: int) -> Task | None:
        return await self.update(task_id, done=True)

    async def complete_all(self) -> int:
        now = _iso(self._clock())

        def run(conn: sqlite3.Connection) -> builtins.list[Task]:
            ids = [int(r["id"]) for r in conn.execute("SELECT id FROM tasks WHERE done = 0")]
            conn.execute("UPDATE tasks SET done = 1, updated_at = ? WHERE done = 0", (now,))
            return [t for t in (_select(conn, i) for i in ids) if t is not None]

        tasks = await self.db.transaction(run)
        for task in tasks:
            self._feed.publish(TaskChange("updated", task))
        return len(tasks)

    async def reschedule(self, task_id: int, due: datetime | None) -> Task | None:
        return await self.update(task_id, due=due)

    async def delete(self, task_id: int) -> bool:
        def run(conn: sqlite3.Connection) -> Task | None:
            task = _select(conn, task_id)
            if task is not None:
                conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
            return task

        task = await self.db.transaction(run)
        if task is None:
            return False
        self._feed.publish(TaskChange("deleted", task))
        return True

    async def find_by_title(
        self, query: str, *, include_done: bool = False
    ) -> builtins.list[Task]:
        return rank_by_title(query, await self.list(include_done=include_done))
