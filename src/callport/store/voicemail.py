"""Voicemail: messages callers left after the tone, for one user each.

A ``Voicemail`` holds the caller's audio (16-bit mono PCM bytes at ``sample_rate``), its
transcript, who called, when, from which menu, for whom and whether they heard it yet.
``VoicemailStore`` is the Protocol; ``MemoryVoicemailStore`` and ``SqliteVoicemailStore``
(sharing the server's database) implement it, and one contract suite
(tests/store/test_store_voicemail.py) runs over both.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from callport.store.sqlite import SqliteDb


@dataclass(frozen=True, slots=True, kw_only=True)
class Voicemail:
    id: int = 0  # given by the store
    call_id: str
    caller: str
    for_user: str
    menu: str
    at: datetime
    transcript: str
    audio: bytes  # PCM16 little-endian mono
    sample_rate: int
    heard: bool = False  # the user it was left for has listened to it (or marked it)

    @property
    def seconds(self) -> float:
        return len(self.audio) / 2 / self.sample_rate if self.sample_rate else 0.0


class VoicemailStore(Protocol):
    async def add(self, message: Voicemail) -> Voicemail: ...

    async def get(self, message_id: int) -> Voicemail | None: ...

    async def list(self, *, for_user: str | None = None, limit: int = 100) -> list[Voicemail]:
        """Newest first; ``for_user`` only that user's messages."""
        ...

    async def mark_heard(self, message_id: int) -> bool:
        """Mark one message heard; False when there is no such message."""
        ...


class MemoryVoicemailStore:
    def __init__(self) -> None:
        self._messages: list[Voicemail] = []

    async def add(self, message: Voicemail) -> Voicemail:
        stored = replace(message, id=len(self._messages) + 1)
        self._messages.append(stored)
        return stored

    async def get(self, message_id: int) -> Voicemail | None:
        return next((m for m in self._messages if m.id == message_id), None)

    async def list(self, *, for_user: str | None = None, limit: int = 100) -> list[Voicemail]:
        found = [m for m in self._messages if for_user is None or m.for_user == for_user]
        return sorted(found, key=lambda m: (m.at, m.id), reverse=True)[:limit]

    async def mark_heard(self, message_id: int) -> bool:
        for n, m in enumerate(self._messages):
            if m.id == message_id:
                self._messages[n] = replace(m, heard=True)
                return True
        return False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS voicemail (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    for_user TEXT NOT NULL,
    menu TEXT NOT NULL,
    at TEXT NOT NULL,
    transcript TEXT NOT NULL,
    audio BLOB NOT NULL,
    sample_rate INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS voicemail_user ON voicemail (for_user, at);
"""


def _add_heard(conn: sqlite3.Connection) -> None:
    """Databases made before ``heard`` existed get the column (every message unheard)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(voicemail)")}
    if "heard" not in columns:
        conn.execute("ALTER TABLE voicemail ADD COLUMN heard INTEGER NOT NULL DEFAULT 0")


def _row(row: sqlite3.Row) -> Voicemail:
    return Voicemail(id=row["id"], call_id=row["call_id"], caller=row["caller"],
                     for_user=row["for_user"], menu=row["menu"],
                     at=datetime.fromisoformat(row["at"]), transcript=row["transcript"],
                     audio=bytes(row["audio"]), sample_rate=row["sample_rate"],
                     heard=bool(row["heard"]))  # fmt: skip


class SqliteVoicemailStore:
    """Voicemail in SQLite; may share a :class:`SqliteDb` (one file) with the other stores."""

    def __init__(self, path: str | Path | SqliteDb) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = path if isinstance(path, SqliteDb) else SqliteDb(path)
        self.db.ensure_schema("voicemail", _SCHEMA)
        self.db.ensure_migration("voicemail-heard", _add_heard)

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    async def add(self, message: Voicemail) -> Voicemail:
        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO voicemail (call_id, caller, for_user, menu, at, transcript, audio,"
                " sample_rate, heard) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message.call_id, message.caller, message.for_user, message.menu,
                 message.at.isoformat(), message.transcript, message.audio,
                 message.sample_rate, int(message.heard)))  # fmt: skip
            return int(cur.lastrowid or 0)

        return replace(message, id=await self.db.transaction(run))

    async def get(self, message_id: int) -> Voicemail | None:
        def run(conn: sqlite3.Connection) -> Voicemail | None:
            row = conn.execute("SELECT * FROM voicemail WHERE id = ?", (message_id,)).fetchone()
            return _row(row) if row is not None else None

        return await self.db.transaction(run)

    async def list(self, *, for_user: str | None = None, limit: int = 100) -> list[Voicemail]:
        def run(conn: sqlite3.Connection) -> list[Voicemail]:
            where, args = ("WHERE for_user = ?", [for_user]) if for_user is not None else ("", [])
            rows = conn.execute(f"SELECT * FROM voicemail {where} ORDER BY at DESC, id DESC "
                                "LIMIT ?", (*args, limit)).fetchall()  # fmt: skip
            return [_row(r) for r in rows]

        return await self.db.transaction(run)

    async def mark_heard(self, message_id: int) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE voicemail SET heard = 1 WHERE id = ?", (message_id,))
            return cur.rowcount > 0

        return await self.db.transaction(run)
