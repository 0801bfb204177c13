"""Call records and their event log: ``CallStore`` protocol, in-memory and SQLite versions.

Channels create a record when a call starts, move its ``status`` as the provider reports it
(status callbacks are the truth, not the media WebSocket) and append ``CallEvent``s for what
happened on the way (answered, transferred, DTMF, errors). A terminal status sets
``ended_at``. Times are passed in (``at``) or taken from the store's clock.

``close_unfinished`` is for start-up: a record still ringing or in progress then belongs to a
process that died (kill -9, power loss), so it is ended with an ``ended`` event naming the
cause (``crash``), not left in progress forever. One process owns a store's live calls (the
embedded SQLite file); a store shared by several live processes must not be swept this way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from callport.store.sqlite import SqliteDb
from callport.store.tasks import Clock, local_now

TERMINAL = frozenset({"completed", "failed", "busy", "no-answer", "canceled", "ended"})


class CallStoreError(ValueError):
    """A call-store request is invalid (duplicate id, unknown call)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    call_id: str
    channel: str
    direction: str = "inbound"  # inbound, outbound
    caller: str = ""
    callee: str = ""
    provider_call_id: str = ""
    status: str = "ringing"
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallEvent:
    call_id: str
    at: datetime
    kind: str
    detail: str = ""


class CallStore(Protocol):
    async def create(self, record: CallRecord) -> CallRecord: ...

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None: ...

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None: ...

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent: ...

    async def events(self, call_id: str) -> list[CallEvent]: ...

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None: ...

    async def list_recent(self, limit: int = 50) -> list[CallRecord]: ...

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        """End every record not in a ``TERMINAL`` status (status ``ended``, ``ended_at`` =
        ``at``) and add an ``ended`` event with ``cause`` as its detail; returns how many."""
        ...


def _with_status(record: CallRecord, status: str, at: datetime) -> CallRecord:
    ended = record.ended_at
    if status in TERMINAL and ended is None:
        ended = at
    return replace(record, status=status, ended_at=ended)


class MemoryCallStore:
    def __init__(self, *, clock: Clock = local_now) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._events: dict[str, list[CallEvent]] = {}
        self._clock = clock

    async def create(self, record: CallRecord) -> CallRecord:
        if record.call_id in self._calls:
            raise CallStoreError(f"call {record.call_id!r} already exists")
        self._calls[record.call_id] = record
        self._events[record.call_id] = []
        return record

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = _with_status(record, status, at or self._clock())
        self._calls[call_id] = record
        return record

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = replace(record, provider_call_id=provider_call_id)
        self._calls[call_id] = record
        return record

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent:
        if call_id not in self._calls:
            raise CallStoreError(f"no call {call_id!r}")
        event = CallEvent(call_id, at or self._clock(), kind, detail)
        self._events[call_id].append(event)
        return event

    async def events(self, call_id: str) -> list[CallEvent]:
        return list(self._events.get(call_id, []))

    async def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None:
        if not provider_call_id:
            return None
        for record in self._calls.values():
            if record.provider_call_id == provider_call_id:
                return record
        return None

    async def list_recent(self, limit: int = 50) -> list[CallRecord]:
        ordered = sorted(self._calls.values(), key=lambda r: r.started_at, reverse=True)
        return ordered[: max(limit, 0)]

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        when = at or self._clock()
        open_ids = [r.call_id for r in self._calls.values() if r.status not in TERMINAL]
        for call_id in open_ids:
            self._calls[call_id] = _with_status(self._calls[call_id], "ended", when)
            self._events[call_id].append(CallEvent(call_id, when, "ended", cause))
        return len(open_ids)


# -- SQLite ----------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    provider_call_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS calls_provider ON calls (provider_call_id);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
CREATE TABLE IF NOT EXISTS call_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_events_call ON call_events (call_id, seq);
"""

_COLS = (
    "call_id, channel, direction, caller, callee, provider_call_id, status, started_at, ended_at"
)


def _record(row: sqlite3.Row) -> CallRecord:
    return CallRecord(
        call_id=row["call_id"],
        channel=row["channel"],
        direction=row["direction"],
        caller=row["caller"],
        callee=row["callee"],
        provider_call_id=row["provider_call_id"],
        status=row["status"],
        started_at=datetime.fromisoformat(row["started_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None,
    )


def _get(conn: sqlite3.Connection, call_id: str) -> CallRecord | None:
    row = conn.execute(f"SELECT {_COLS} FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    return _record(row) if row is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class SqliteCallStore:
    """Call records in SQLite; may share a :class:`SqliteDb` (one file) with the task store."""

    def __init__(self, path: str | Path | SqliteDb, *, clock: Clock = local_now) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = path if isinstance(path, SqliteDb) else SqliteDb(path)
        self.db.ensure_schema("calls", SCHEMA)
        self._clock = clock

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    async def create(self, record: CallRecord) -> CallRecord:
        r = record

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO calls ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.call_id, r.channel, r.direction, r.caller, r.callee, r.provider_call_id,
                     r.status, _iso(r.started_at), _iso(r.ended_at)),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise CallStoreError(f"call {r.call_id!r} already exists") from None

        await self.db.transaction(run)
        return record

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None:
        when = at or self._clock()

        def run(conn: sqlite3.Connection) -> CallRecord | None:
            record = _get(conn, call_id)
            if record is None:
                return None
            record = _with_status(record, status, when)
            conn.execute(
                "UPDATE calls SET status = ?, ended_at = ? WHERE call_id = ?",
                (record.status, _iso(record.ended_at), call_id),
            )
            return record

        return await self.db.transaction(run)

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None:
        def run(conn: sqlite3.Connection) -> CallRecord | None:
            conn.execute(
                "UPDATE calls SET provider_call_id = ? WHERE call_id = ?",
                (provider_call_id, call_id),
            )
            return _get(conn, call_id)

        return await self.db.transaction(run)

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent:
        event = CallEvent(call_id, at or self._clock(), kind, detail)

        def run(conn: sqlite3.Connection) -> None:
            if _get(conn, call_id) is None:
                raise CallStoreError(f"no call {call_id!r}")
            conn.execute(
                "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                (call_id, _iso(event.at), kind, detail),
            )

        await self.db.transaction(run)
        return event

    async def events(self, call_id: str) -> list[CallEvent]:
        def run(conn: sqlite3.Connection) -> list[CallEvent]:
            rows = conn.execute(
                "SELECT call_id, at, kind, detail FROM call_events WHERE call_id = ? ORDER BY seq",
                (call_id,),
            ).fetchall()
            return [
                CallEvent(r["call_id"], datetime.fromisoformat(r["at"]), r["kind"], r["detail"])
                for r in rows
            ]

        return await self.db.transaction(run)

    async def get(self, call_id: str) -> CallRecord | None:
        return await self.db.transaction(lambda conn: _get(conn, call_id))

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None:
        if not provider_call_id:
            return None

        def run(conn: sqlite3.Connection) -> CallRecord | None:
            row = conn.execute(
                f"SELECT {_COLS} FROM calls WHERE provider_call_id = ? LIMIT 1",
                (provider_call_id,),
            ).fetchone()
            return _record(row) if row is not None else None

        return await self.db.transaction(run)

    async def list_recent(self, limit: int = 50) -> list[CallRecord]:
        def run(conn: sqlite3.Connection) -> list[CallRecord]:
            rows = conn.execute(
                f"SELECT {_COLS} FROM calls ORDER BY started_at DESC LIMIT ?", (max(limit, 0),)
            ).fetchall()
            return [_record(r) for r in rows]

        return await self.db.transaction(run)

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        when = _iso(at or self._clock())
        terminal = sorted(TERMINAL)
        marks = ", ".join("?" * len(terminal))

        def run(conn: sqlite3.Connection) -> int:
            ids = [row["call_id"] for row in conn.execute(
                f"SELECT call_id FROM calls WHERE status NOT IN ({marks})", terminal)]
            for call_id in ids:
                conn.execute("UPDATE calls SET status = 'ended', ended_at = COALESCE(ended_at, ?)"
                             " WHERE call_id = ?", (when, call_id))
                conn.execute(
                    "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (call_id, when, "ended", cause))
            return len(ids)

        return await self.db.transaction(run)
