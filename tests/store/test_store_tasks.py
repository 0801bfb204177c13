"""Contract suite for TaskStore implementations (memory and SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callport.store.postgres import PgDb
from callport.store.postgres_tasks import PgTaskLists, PgTaskStore
from callport.store.sqlite_tasks import SqliteTaskLists, SqliteTaskStore
from callport.store.tasks import (
    MemoryTaskLists,
    MemoryTaskStore,
    TaskChange,
    TaskError,
    TaskLists,
    TaskStore,
    title_score,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 12, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[TaskStore]:
    if request.param == "memory":
        yield MemoryTaskStore(clock=clock)
    elif request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield PgTaskStore(pg, clock=clock)
        await pg.close()
    else:
        sq = SqliteTaskStore(tmp_path / "tasks.db", clock=clock)
        yield sq
        sq.close()


D = datetime(2025, 3, 13, 15, 0)


async def test_add_get_roundtrip(store: TaskStore, clock: FakeClock) -> None:
    task = await store.add("  buy   milk ", D)
    assert task.title == "buy milk"
    assert task.due == D and not task.done
    assert task.created_at == task.updated_at == clock.now
    assert await store.get(task.id) == task
    assert await store.get(task.id + 1000) is None
    assert await store.get(-1) is None
    assert await store.get(2**70) is None


async def test_list_orders_by_due_then_creation(store: TaskStore) -> None:
    a = await store.add("no due")
    b = await store.add("later", D + timedelta(days=2))
    c = await store.add("sooner", D)
    d = await store.add("also no due")
    assert [t.id for t in await store.list()] == [c.id, b.id, a.id, d.id]


async def test_complete_hides_from_default_list(store: TaskStore, clock: FakeClock) -> None:
    a = await store.add("one")
    b = await store.add("two")
    clock.advance(60)
    done = await store.complete(a.id)
    assert done is not None and done.done and done.updated_at == clock.now
    assert done.created_at == a.created_at
    assert [t.id for t in await store.list()] == [b.id]
    assert {t.id for t in await store.list(include_done=True)} == {a.id, b.id}
    assert await store.complete(999) is None


async def test_complete_all(store: TaskStore) -> None:
    await store.add("one")
    await store.add("two")
    assert await store.complete_all() == 2
    assert await store.list() == []
    assert await store.complete_all() == 0


async def test_update_fields_and_keep(store: TaskStore) -> None:
    t = await store.add("draft", D)
    u = await store.update(t.id, title="final")
    assert u is not None and u.title == "final" and u.due == D
    u = await store.update(t.id, due=None)
    assert u is not None and u.due is None and u.title == "final"
    u = await store.update(t.id, done=True)
    assert u is not None and u.done
    u = await store.update(t.id, done=False)
    assert u is not None and not u.done
    assert await store.update(12345, title="x") is None


async def test_reschedule_and_timezone_normalised(store: TaskStore) -> None:
    t = await store.add("call mom")
    aware = datetime(2025, 3, 14, 12, 0, 30, 999, tzinfo=UTC)
    r = await store.reschedule(t.id, aware)
    assert r is not None and r.due is not None
    assert r.due.tzinfo is None
    assert r.due == aware.astimezone().replace(tzinfo=None, microsecond=0)
    assert await store.reschedule(999, D) is None


async def test_delete(store: TaskStore) -> None:
    t = await store.add("x")
    assert await store.delete(t.id) is True
    assert await store.get(t.id) is None
    assert await store.delete(t.id) is False


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201])
async def test_bad_title_rejected_and_nothing_stored(store: TaskStore, bad: str) -> None:
    keep = await store.add("keep me")
    with pytest.raises(TaskError):
        await store.add(bad)
    with pytest.raises(TaskError):
        await store.update(keep.id, title=bad)
    assert [t.title for t in await store.list(include_done=True)] == ["keep me"]


async def test_find_by_title_fuzzy(store: TaskStore) -> None:
    milk = await store.add("buy milk")
    mom = await store.add("call mom about the party")
    await store.add("renew passport")
    assert [t.id for t in await store.find_by_title("the milk task")] == [milk.id]
    assert (await store.find_by_title("call mum"))[0].id == mom.id  # misheard
    assert await store.find_by_title("walk the dog") == []
    await store.complete(milk.id)
    assert await store.find_by_title("milk") == []
    assert [t.id for t in await store.find_by_title("milk", include_done=True)] == [milk.id]


async def test_subscribe_sees_changes(store: TaskStore) -> None:
    seen: list[TaskChange] = []

    async def watch() -> None:
        async for change in store.subscribe():
            seen.append(change)
            if len(seen) == 3:
                return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)  # let it subscribe
    t = await store.add("a")
    await store.complete(t.id)
    await store.delete(t.id)
    await asyncio.wait_for(watcher, 2)
    assert [c.kind for c in seen] == ["added", "updated", "deleted"]
    assert seen[1].task.done


async def test_sqlite_survives_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "t.db"
    first = SqliteTaskStore(path, clock=clock)
    t = await first.add("persist me", D)
    first.close()
    second = SqliteTaskStore(path, clock=clock)
    assert await second.get(t.id) == t
    second.close()


async def test_sqlite_rolls_back_failed_transaction(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "t.db")
    await store.add("survivor")

    def boom(conn: object) -> None:
        import sqlite3

        assert isinstance(conn, sqlite3.Connection)
        conn.execute("DELETE FROM tasks")
        raise RuntimeError("crash mid-transaction")

    with pytest.raises(RuntimeError):
        await store.db.transaction(boom)
    assert [t.title for t in await store.list()] == ["survivor"]
    store.close()


async def test_sqlite_concurrent_writers(tmp_path: Path) -> None:
    store = SqliteTaskStore(tmp_path / "t.db")
    await asyncio.gather(*(store.add(f"task {i}") for i in range(50)))
    tasks = await store.list()
    assert len(tasks) == 50 and len({t.id for t in tasks}) == 50
    store.close()


def test_title_score_prefers_exact() -> None:
    score: Callable[[str, str], float] = title_score
    assert score("buy milk", "buy milk") == 1.0
    assert score("milk", "buy milk") > score("milk", "buy bread and milk and eggs")
    assert score("dentist", "buy milk") == 0.0


# -- one list per owner (TaskLists) ----------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def lists(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[TaskLists]:
    if request.param == "memory":
        yield MemoryTaskLists(clock=clock)
    elif request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield PgTaskLists(pg, clock=clock)
        await pg.close()
    else:
        sq = SqliteTaskLists(tmp_path / "tasks.db", clock=clock)
        yield sq
        sq.close()


async def test_owners_see_only_their_own_tasks(lists: TaskLists) -> None:
    alice, bob = lists.of("alice"), lists.of("bob")
    a = await alice.add("call mum", D)
    b = await bob.add("call mum")
    await bob.add("buy milk")
    assert a.id != b.id
    assert [t.id for t in await alice.list(include_done=True)] == [a.id]
    assert [t.title for t in await bob.list()] == ["call mum", "buy milk"]
    assert await alice.get(b.id) is None
    assert [t.id for t in await alice.find_by_title("call mum")] == [a.id]
    assert [t.id for t in await bob.find_by_title("call mum")] == [b.id]
    assert await lists.owners() == ["alice", "bob"]
    assert await lists.of("carol").list(include_done=True) == []


async def test_owners_cannot_change_or_delete_each_others_tasks(lists: TaskLists) -> None:
    alice, bob = lists.of("alice"), lists.of("bob")
    b = await bob.add("bob's task", D)
    assert await alice.update(b.id, title="hijacked") is None
    assert await alice.complete(b.id) is None
    assert await alice.reschedule(b.id, None) is None
    assert not await alice.delete(b.id)
    await alice.add("alice's task")
    assert await alice.complete_all() == 1
    assert await bob.get(b.id) == b  # untouched by all of the above
    assert await bob.delete(b.id)


async def test_the_same_owner_gets_the_same_list_and_feed(lists: TaskLists) -> None:
    assert lists.of("alice") is lists.of("alice")
    seen: list[TaskChange] = []

    async def watch(store: TaskStore, count: int) -> None:
        async for change in store.subscribe():
            seen.append(change)
            if len(seen) == count:
                return

    watcher = asyncio.create_task(watch(lists.of("alice"), 2))
    await asyncio.sleep(0)
    await lists.of("bob").add("bob's, unseen")
    await lists.of("alice").add("alice's, seen")
    await lists.of("alice").complete_all()
    await asyncio.wait_for(watcher, 2)
    assert [(c.kind, c.task.title) for c in seen] == [
        ("added", "alice's, seen"),
        ("updated", "alice's, seen"),
    ]


async def test_an_owner_needs_a_name(lists: TaskLists) -> None:
    with pytest.raises(TaskError):
        lists.of("")


OLD_SCHEMA = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL CHECK (length(title) > 0),
    due TEXT,
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tasks_open_due ON tasks (done, due);
INSERT INTO tasks (title, due, done, created_at, updated_at)
    VALUES ('from before owners', '2025-03-13T15:00:00', 0, '2025-03-12T09:00:00',
            '2025-03-12T09:00:00'),
           ('done before owners', NULL, 1, '2025-03-12T09:00:00', '2025-03-12T09:00:00');
"""


async def test_sqlite_migrates_a_database_from_before_owners(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    lists = SqliteTaskLists(path, default_owner="dana")
    dana = lists.of("dana")
    assert [t.title for t in await dana.list(include_done=True)] == [
        "from before owners",
        "done before owners",
    ]
    assert (await dana.list())[0].due == D
    assert await lists.of("owner").list(include_done=True) == []
    new = await lists.of("erin").add("after owners")
    assert await dana.get(new.id) is None
    lists.close()
    # opening again migrates nothing twice and keeps every row where it was
    again = SqliteTaskLists(path, default_owner="someone-else")
    assert len(await again.of("dana").list(include_done=True)) == 2
    assert await again.owners() == ["dana", "erin"]
    again.close()
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(tasks)")}
    conn.close()
    assert columns.count("owner") == 1
    assert "tasks_owner_open_due" in indexes and "tasks_open_due" not in indexes


async def test_sqlite_task_store_alone_is_the_owner_list(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    single = SqliteTaskStore(path)
    t = await single.add("mine")
    single.close()
    lists = SqliteTaskLists(path)
    assert await lists.of("owner").get(t.id) == t
    assert await lists.of("alice").get(t.id) is None
    lists.close()
