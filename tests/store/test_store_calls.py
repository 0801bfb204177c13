"""Contract suite for CallStore implementations (memory and SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callport.store.calls import (
    CallRecord,
    CallStore,
    CallStoreError,
    MemoryCallStore,
)
from callport.store.postgres import PgDb
from callport.store.postgres_calls import PgCallStore
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_calls import SqliteCallStore
from callport.store.sqlite_tasks import SqliteTaskStore

T0 = datetime(2025, 3, 12, 9, 0, 0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallStore]:
    if request.param == "memory":
        yield MemoryCallStore(clock=lambda: T0)
    elif request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield PgCallStore(pg, clock=lambda: T0)
        await pg.close()
    else:
        sq = SqliteCallStore(tmp_path / "calls.db", clock=lambda: T0)
        yield sq
        sq.close()


def rec(call_id: str, minutes: int = 0, provider: str = "") -> CallRecord:
    return CallRecord(call_id=call_id, channel="twilio", caller="+15550001", callee="+15550002",
                      provider_call_id=provider, started_at=T0 + timedelta(minutes=minutes))


async def test_create_get(store: CallStore) -> None:
    r = rec("c1", provider="CA123")
    assert await store.create(r) == r
    assert await store.get("c1") == r
    assert await store.get("nope") is None
    with pytest.raises(CallStoreError):
        await store.create(rec("c1"))


async def test_status_flow_sets_ended_once(store: CallStore) -> None:
    await store.create(rec("c1"))
    r = await store.update_status("c1", "in-progress", at=T0 + timedelta(seconds=5))
    assert r is not None and r.status == "in-progress" and r.ended_at is None
    end = T0 + timedelta(seconds=65)
    r = await store.update_status("c1", "completed", at=end)
    assert r is not None and r.ended_at == end
    r = await store.update_status("c1", "completed", at=end + timedelta(seconds=9))  # retry
    assert r is not None and r.ended_at == end
    assert await store.get("c1") == r
    assert await store.update_status("ghost", "completed") is None


async def test_provider_id_lookup(store: CallStore) -> None:
    await store.create(rec("c1"))
    assert await store.by_provider_id("CA9") is None
    r = await store.set_provider_id("c1", "CA9")
    assert r is not None and r.provider_call_id == "CA9"
    found = await store.by_provider_id("CA9")
    assert found is not None and found.call_id == "c1"
    assert await store.by_provider_id("") is None
    assert await store.set_provider_id("ghost", "x") is None


async def test_events_in_order(store: CallStore) -> None:
    await store.create(rec("c1"))
    await store.add_event("c1", "answered", at=T0)
    await store.add_event("c1", "dtmf", "5", at=T0 + timedelta(seconds=3))
    e = await store.add_event("c1", "hangup", "caller")
    assert e.at == T0
    assert [(x.kind, x.detail) for x in await store.events("c1")] == [
        ("answered", ""), ("dtmf", "5"), ("hangup", "caller")]
    assert await store.events("ghost") == []
    with pytest.raises(CallStoreError):
        await store.add_event("ghost", "x")


async def test_list_recent_newest_first(store: CallStore) -> None:
    for i in range(5):
        await store.create(rec(f"c{i}", minutes=i))
    assert [r.call_id for r in await store.list_recent(3)] == ["c4", "c3", "c2"]
    assert await store.list_recent(0) == []


async def test_tasks_and_calls_share_one_file(tmp_path: Path) -> None:
    db = SqliteDb(tmp_path / "callport.db")
    tasks = SqliteTaskStore(db)
    calls = SqliteCallStore(db)
    await tasks.add("x")
    await calls.create(rec("c1"))
    assert len(await tasks.list()) == 1 and await calls.get("c1") is not None
    db.close()


async def test_close_unfinished_ends_live_calls_with_the_cause(store: CallStore) -> None:
    done_at = T0 + timedelta(seconds=30)
    await store.create(rec("ringing"))
    await store.create(rec("live", minutes=1))
    await store.update_status("live", "in-progress")
    await store.create(rec("done", minutes=2))
    await store.update_status("done", "completed", at=done_at)
    crash = T0 + timedelta(hours=1)
    assert await store.close_unfinished("crash", at=crash) == 2
    for call_id in ("ringing", "live"):
        r = await store.get(call_id)
        assert r is not None and r.status == "ended" and r.ended_at == crash
        assert r.hangup_cause == "crash"
        [event] = await store.events(call_id)
        assert (event.kind, event.detail, event.at) == ("ended", "crash", crash)
    done = await store.get("done")
    assert done is not None and done.status == "completed" and done.ended_at == done_at
    assert done.hangup_cause == "" and await store.events("done") == []
    assert await store.close_unfinished("crash", at=crash) == 0  # idempotent


async def test_close_unfinished_survives_reopening_the_file(tmp_path: Path) -> None:
    first = SqliteCallStore(tmp_path / "calls.db", clock=lambda: T0)
    await first.create(rec("c1"))
    first.close()  # the process is gone; its call was never ended
    again = SqliteCallStore(tmp_path / "calls.db", clock=lambda: T0)
    assert await again.close_unfinished("crash") == 1
    r = await again.get("c1")
    assert r is not None and r.status == "ended" and r.ended_at == T0
    again.close()
