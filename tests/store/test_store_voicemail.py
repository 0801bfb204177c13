"""One contract over both VoicemailStores (memory, SQLite on a file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callport.store.postgres import PgDb
from callport.store.postgres_calls import PgVoicemailStore
from callport.store.voicemail import (
    MemoryVoicemailStore,
    SqliteVoicemailStore,
    Voicemail,
    VoicemailStore,
)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VoicemailStore]:
    if request.param == "memory":
        yield MemoryVoicemailStore()
        return
    if request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield PgVoicemailStore(pg)
        await pg.close()
        return
    s = SqliteVoicemailStore(tmp_path / "vm.db")
    yield s
    s.close()


def message(n: int, for_user: str = "alice") -> Voicemail:
    return Voicemail(call_id=f"c{n}", caller="+15550001111", for_user=for_user, menu="main",
                     at=datetime(2026, 12, 2, 10, n, tzinfo=UTC), transcript=f"message {n}",
                     audio=b"\x01\x00" * 8000, sample_rate=8000)  # fmt: skip


async def test_add_get_list_newest_first_and_per_user(store: VoicemailStore) -> None:
    first = await store.add(message(1))
    second = await store.add(message(2, "bob"))
    third = await store.add(message(3))
    assert len({first.id, second.id, third.id}) == 3 and first.id > 0
    got = await store.get(first.id)
    assert got == first and got.seconds == 1.0 and got.audio == b"\x01\x00" * 8000
    assert [m.id for m in await store.list()] == [third.id, second.id, first.id]
    assert [m.transcript for m in await store.list(for_user="alice")] == ["message 3",
                                                                          "message 1"]
    assert await store.list(for_user="carol") == [] and await store.get(999) is None
    assert len(await store.list(limit=1)) == 1


async def test_sqlite_keeps_messages_across_opens(tmp_path: Path) -> None:
    s = SqliteVoicemailStore(tmp_path / "vm.db")
    await s.add(message(1))
    s.close()
    again = SqliteVoicemailStore(tmp_path / "vm.db")
    assert [m.call_id for m in await again.list()] == ["c1"]
    again.close()


async def test_messages_start_unheard_and_are_marked_heard(store: VoicemailStore) -> None:
    first = await store.add(message(1))
    second = await store.add(message(2))
    assert not first.heard and not second.heard
    assert await store.mark_heard(first.id) is True
    assert await store.mark_heard(999) is False
    got = await store.get(first.id)
    assert got is not None and got.heard
    assert [m.heard for m in await store.list(for_user="alice")] == [False, True]


async def test_sqlite_adds_heard_to_an_older_database(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "old.db")  # the table as it was before ``heard``
    conn.executescript("CREATE TABLE voicemail (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                       " call_id TEXT NOT NULL, caller TEXT NOT NULL, for_user TEXT NOT NULL,"
                       " menu TEXT NOT NULL, at TEXT NOT NULL, transcript TEXT NOT NULL,"
                       " audio BLOB NOT NULL, sample_rate INTEGER NOT NULL);"
                       "INSERT INTO voicemail VALUES (1, 'c1', '+1555', 'alice', 'main',"
                       " '2026-12-02T10:00:00+00:00', 'hello', x'0100', 8000);")
    conn.commit()
    conn.close()
    s = SqliteVoicemailStore(tmp_path / "old.db")
    try:
        [old] = await s.list()
        assert (old.transcript, old.heard) == ("hello", False)
        assert await s.mark_heard(old.id)
        assert (await s.list())[0].heard
    finally:
        s.close()
