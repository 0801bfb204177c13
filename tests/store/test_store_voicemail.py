"""One contract over both VoicemailStores (memory, SQLite on a file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callport.store.voicemail import (
    MemoryVoicemailStore,
    SqliteVoicemailStore,
    Voicemail,
    VoicemailStore,
)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VoicemailStore]:
    if request.param == "memory":
        yield MemoryVoicemailStore()
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
