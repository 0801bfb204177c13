"""Call record details (user, answer, disposition, carrier, attempts, billing) in both
stores, the SQLite migration of an older table, and ``list_calls`` filters."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from callport.store.calls import CallAttempt, CallRecord, CallStore, MemoryCallStore
from callport.store.postgres import PgDb
from callport.store.postgres_calls import PgCallStore
from callport.store.sqlite_calls import SqliteCallStore

T0 = datetime(2026, 1, 6, 12, 0, 0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallStore]:
    if request.param == "memory":
        yield MemoryCallStore()
    elif request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield PgCallStore(pg)
        await pg.close()
    else:
        yield SqliteCallStore(tmp_path / "calls.db")


async def test_details_round_trip(store: CallStore) -> None:
    await store.create(CallRecord(call_id="c1", channel="sip", direction="outbound",
                                  callee="+13125550100", started_at=T0))
    attempts = (CallAttempt(carrier="cheap", outcome="failed", cause="sip 503"),
                CallAttempt(carrier="backup", outcome="answered"))
    await store.amend("c1", carrier="backup", attempts=attempts,
                      answered_at=T0 + timedelta(seconds=5), user="alice")
    await store.update_status("c1", "ended", at=T0 + timedelta(seconds=66))
    await store.amend("c1", hangup_cause="bye", billable_s=66, cost=Decimal("0.0110"),
                      currency="USD", disposition="answered")
    got = await store.get("c1")
    assert got is not None
    assert got.carrier == "backup" and got.attempts == attempts and got.user == "alice"
    assert got.duration_s == 61.0 and got.billable_s == 66
    assert got.cost == Decimal("0.0110") and got.currency == "USD"
    assert got.outcome == "answered" and got.hangup_cause == "bye"
    assert await store.amend("nope", user="x") is None


async def test_list_calls_since_and_user(store: CallStore) -> None:
    for i, user in enumerate(["alice", "bob", "alice"]):
        await store.create(CallRecord(call_id=f"c{i}", channel="browser", user=user,
                                      started_at=T0 + timedelta(hours=i)))
    assert [r.call_id for r in await store.list_calls()] == ["c2", "c1", "c0"]
    assert [r.call_id for r in await store.list_calls(user="alice")] == ["c2", "c0"]
    since = await store.list_calls(since=T0 + timedelta(minutes=30))
    assert [r.call_id for r in since] == ["c2", "c1"]
    assert len(await store.list_calls(limit=1)) == 1


async def test_outcome_without_disposition() -> None:
    store = MemoryCallStore()
    await store.create(CallRecord(call_id="b", channel="twilio", status="busy", started_at=T0))
    await store.create(CallRecord(call_id="r", channel="sip", status="in-progress",
                                  started_at=T0))
    assert (await store.get("b")).outcome == "busy"  # type: ignore[union-attr]
    assert (await store.get("r")).outcome == "in-progress"  # type: ignore[union-attr]


async def test_an_older_database_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""CREATE TABLE calls (call_id TEXT PRIMARY KEY, channel TEXT NOT NULL,
        direction TEXT NOT NULL, caller TEXT NOT NULL, callee TEXT NOT NULL,
        provider_call_id TEXT NOT NULL, status TEXT NOT NULL, started_at TEXT NOT NULL,
        ended_at TEXT);
        INSERT INTO calls VALUES ('old', 'sip', 'inbound', '+1', '+2', '', 'ended',
        '2026-01-01T10:00:00', '2026-01-01T10:01:00');""")
    conn.commit()
    conn.close()
    store = SqliteCallStore(path)
    old = await store.get("old")
    assert old is not None and old.carrier == "" and old.attempts == () and old.cost is None
    await store.amend("old", disposition="answered")
    assert (await store.get("old")).disposition == "answered"  # type: ignore[union-attr]
    store.close()
