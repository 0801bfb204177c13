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
    TaskError,
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
    updated_at TEXT NOT NULL,
    owner TEXT NOT NULL CHECK (length(owner) > 0)
);
"""
INDEX = """
DROP INDEX IF EXISTS tasks_open_due;
CREATE INDEX IF NOT EXISTS tasks_owner_open_due ON tasks (owner, done, due);
"""
DEFAULT_OWNER = "owner"


def migrate(conn: sqlite3.Connection, *, default_owner: str) -> None:
    """Create the table, or give a table from before owners an ``owner`` column (idempotent):
    its rows become ``default_owner``'s tasks."""
    columns = {str(r["name"]) for r in conn.execute("PRAGMA table_info(tasks)")}
    if not columns:
        conn.execute(SCHEMA)
    elif "owner" not in columns:
        conn.execute("ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        conn.execute("UPDATE tasks SET owner = ? WHERE owner = ''", (default_owner,))
    for statement in INDEX.strip().split(";"):
        if statement.strip():
            conn.execute(statement)


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


def _select(conn: sqlite3.Connection, owner: str, task_id: int) -> Task | None:
    if not isinstance(task_id, int) or not 0 < task_id < 2**63:  # out of range: no such task
        return None
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM tasks WHERE id = ? AND owner = ?", (task_id, owner)
    ).fetchone()
    return _row(row) if row is not None else None


def _open(path: str | Path | SqliteDb, default_owner: str) -> SqliteDb:
    db = path if isinstance(path, SqliteDb) else SqliteDb(path)
    db.ensure_migration("tasks", lambda conn: migrate(conn, default_owner=default_owner))
    return db


class SqliteTaskStore:
    """One owner's tasks in SQLite; pass a path (``":memory:"`` works) or a shared
    :class:`SqliteDb`. Without ``owner`` it is the list of the owner named ``"owner"``.
    Another owner's task ids are "no such task" here. Use ``SqliteTaskLists`` for many owners
    (it hands out one store, hence one change feed, per owner)."""

    def __init__(
        self,
        path: str | Path | SqliteDb,
        *,
        clock: Clock = local_now,
        owner: str = DEFAULT_OWNER,
        default_owner: str = DEFAULT_OWNER,
    ) -> None:
        if not owner:
            raise ValueError("a task list needs an owner name")
        self._own_db = not isinstance(path, SqliteDb)
        self.db = _open(path, default_owner)
        self.owner = owner
        self._clock = clock
        self._feed = ChangeFeed()

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    def subscribe(self) -> AsyncIterator[TaskChange]:
        return self._feed.subscribe()

    async def add(self, title: str, due: datetime | None = None) -> Task:
        title, due_clean, now = clean_title(title), clean_due(due), self._clock()
        owner = self.owner

        def run(conn: sqlite3.Connection) -> Task:
            cur = conn.execute(
                "INSERT INTO tasks (title, due, done, created_at, updated_at, owner) "
                "VALUES (?, ?, 0, ?, ?, ?)",
                (title, _iso(due_clean), _iso(now), _iso(now), owner),
            )
            task = _select(conn, owner, int(cur.lastrowid or 0))
            assert task is not None
            return task

        task = await self.db.transaction(run)
        self._feed.publish(TaskChange("added", task))
        return task

    async def get(self, task_id: int) -> Task | None:
        return await self.db.transaction(lambda conn: _select(conn, self.owner, task_id))

    async def list(self, *, include_done: bool = False) -> list[Task]:
        where = "" if include_done else " AND done = 0"

        def run(conn: sqlite3.Connection) -> list[Task]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE owner = ?{where}", (self.owner,)
            ).fetchall()
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
        owner = self.owner

        def run(conn: sqlite3.Connection) -> Task | None:
            if _select(conn, owner, task_id) is None:
                return None
            cur = conn.execute(
                f"UPDATE tasks SET {', '.join(sets)} WHERE id = ? AND owner = ?",
                (*args, task_id, owner),
            )
            return _select(conn, owner, task_id) if cur.rowcount else None

        task = await self.db.transaction(run)
        if task is not None:
            self._feed.publish(TaskChange("updated", task))
        return task

    async def complete(self, task_id: int) -> Task | None:
        return await self.update(task_id, done=True)

    async def complete_all(self) -> int:
        now, owner = _iso(self._clock()), self.owner

        def run(conn: sqlite3.Connection) -> builtins.list[Task]:
            ids = [int(r["id"]) for r in conn.execute(
                "SELECT id FROM tasks WHERE owner = ? AND done = 0", (owner,))]  # fmt: skip
            conn.execute(
                "UPDATE tasks SET done = 1, updated_at = ? WHERE owner = ? AND done = 0",
                (now, owner),
            )
            return [t for t in (_select(conn, owner, i) for i in ids) if t is not None]

        tasks = await self.db.transaction(run)
        for task in tasks:
            self._feed.publish(TaskChange("updated", task))
        return len(tasks)

    async def reschedule(self, task_id: int, due: datetime | None) -> Task | None:
        return await self.update(task_id, due=due)

    async def delete(self, task_id: int) -> bool:
        owner = self.owner

        def run(conn: sqlite3.Connection) -> Task | None:
            task = _select(conn, owner, task_id)
            if task is not None:
                conn.execute("DELETE FROM tasks WHERE id = ? AND owner = ?", (task_id, owner))
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


class SqliteTaskLists:
    """Every owner's tasks in one SQLite table: ``of(owner)`` is that owner's
    ``SqliteTaskStore`` (the same object each time, so one change feed per owner). Rows from
    before owners existed belong to ``default_owner`` (``identity.owner``)."""

    def __init__(
        self,
        path: str | Path | SqliteDb,
        *,
        clock: Clock = local_now,
        default_owner: str = DEFAULT_OWNER,
    ) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = _open(path, default_owner)
        self._clock = clock
        self._default_owner = default_owner
        self._lists: dict[str, SqliteTaskStore] = {}

    def of(self, owner: str) -> SqliteTaskStore:
        if not isinstance(owner, str) or not owner:
            raise TaskError("a task list needs an owner name")
        store = self._lists.get(owner)
        if store is None:
            store = SqliteTaskStore(self.db, clock=self._clock, owner=owner,
                                    default_owner=self._default_owner)  # fmt: skip
            self._lists[owner] = store
        return store

    async def owners(self) -> builtins.list[str]:
        def run(conn: sqlite3.Connection) -> builtins.list[str]:
            rows = conn.execute("SELECT DISTINCT owner FROM tasks ORDER BY owner").fetchall()
            return [str(r["owner"]) for r in rows]

        return await self.db.transaction(run)

    def close(self) -> None:
        if self._own_db:
            self.db.close()
