"""``SqliteCallStore``: call records and their events in SQLite (the embedded default).

The records, the ``CallStore`` protocol and the in-memory store are in ``callport.store.calls``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from callport.store.calls import (
    TERMINAL,
    CallAttempt,
    CallEvent,
    CallRecord,
    CallStoreError,
    _amended,
    _matches,
    _with_status,
)
from callport.store.sqlite import SqliteDb
from callport.store.tasks import Clock, local_now

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

# Details added after the first schema: (column, SQL type and default).
DETAILS = (
    ("user_name", "TEXT NOT NULL DEFAULT ''"), ("answered_at", "TEXT"),
    ("disposition", "TEXT NOT NULL DEFAULT ''"), ("hangup_cause", "TEXT NOT NULL DEFAULT ''"),
    ("carrier", "TEXT NOT NULL DEFAULT ''"), ("attempts", "TEXT NOT NULL DEFAULT '[]'"),
    ("billable_s", "INTEGER NOT NULL DEFAULT 0"), ("cost", "TEXT"),
    ("currency", "TEXT NOT NULL DEFAULT ''"), ("amd", "TEXT NOT NULL DEFAULT ''"),
)


def _add_details(conn: sqlite3.Connection) -> None:
    have = {row["name"] for row in conn.execute("PRAGMA table_info(calls)")}
    for column, decl in DETAILS:
        if column not in have:
            conn.execute(f"ALTER TABLE calls ADD COLUMN {column} {decl}")

_COLS = (
    "call_id, channel, direction, caller, callee, provider_call_id, status, started_at, ended_at"
    ", " + ", ".join(column for column, _ in DETAILS)
)


def _details(r: CallRecord) -> tuple[object, ...]:
    attempts = json.dumps([{"carrier": a.carrier, "outcome": a.outcome, "cause": a.cause}
                           for a in r.attempts])
    return (r.user, _iso(r.answered_at), r.disposition, r.hangup_cause, r.carrier, attempts,
            r.billable_s, str(r.cost) if r.cost is not None else None, r.currency, r.amd)


def _attempts(text: str) -> tuple[CallAttempt, ...]:
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(CallAttempt(carrier=str(i.get("carrier", "")), outcome=str(i.get("outcome", "")),
                             cause=str(i.get("cause", "")))
                 for i in items if isinstance(i, dict))


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
        user=row["user_name"],
        answered_at=datetime.fromisoformat(row["answered_at"]) if row["answered_at"] else None,
        disposition=row["disposition"],
        hangup_cause=row["hangup_cause"],
        carrier=row["carrier"],
        attempts=_attempts(row["attempts"]),
        billable_s=int(row["billable_s"]),
        cost=Decimal(row["cost"]) if row["cost"] else None,
        currency=row["currency"],
        amd=row["amd"],
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
        self.db.ensure_migration("calls-details", _add_details)
        self._clock = clock

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    async def create(self, record: CallRecord) -> CallRecord:
        r = record

        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    f"INSERT INTO calls ({_COLS}) VALUES ({', '.join('?' * (9 + len(DETAILS)))})",
                    (r.call_id, r.channel, r.direction, r.caller, r.callee, r.provider_call_id,
                     r.status, _iso(r.started_at), _iso(r.ended_at), *_details(r)),
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

    async def amend(self, call_id: str, **changes: Any) -> CallRecord | None:
        def run(conn: sqlite3.Connection) -> CallRecord | None:
            record = _get(conn, call_id)
            if record is None:
                return None
            record = _amended(record, **changes)
            sets = ", ".join(f"{column} = ?" for column, _ in DETAILS)
            conn.execute(f"UPDATE calls SET {sets} WHERE call_id = ?",
                         (*_details(record), call_id))
            return record

        return await self.db.transaction(run)

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> list[CallRecord]:
        def run(conn: sqlite3.Connection) -> list[CallRecord]:
            query, args = f"SELECT {_COLS} FROM calls", []
            if user is not None:
                query, args = query + " WHERE user_name = ?", [user]
            rows = conn.execute(query + " ORDER BY started_at DESC", args).fetchall()
            found = [r for r in map(_record, rows) if _matches(r, since, None)]
            return found[: max(limit, 0)]

        return await self.db.transaction(run)

    async def close_unfinished(self, cause: str, *, at: datetime | None = None,
                               started_before: datetime | None = None,
                               keep: Collection[str] = ()) -> int:
        when = _iso(at or self._clock())
        terminal = sorted(TERMINAL)
        marks = ", ".join("?" * len(terminal))
        before = "" if started_before is None else " AND started_at < ?"
        args = [*terminal, *([] if started_before is None else [_iso(started_before)])]
        spared = set(keep)

        def run(conn: sqlite3.Connection) -> int:
            ids = [row["call_id"] for row in conn.execute(
                f"SELECT call_id FROM calls WHERE status NOT IN ({marks}){before}", args)
                if row["call_id"] not in spared]
            for call_id in ids:
                conn.execute(
                    "UPDATE calls SET status = 'ended', ended_at = COALESCE(ended_at, ?), "
                    "hangup_cause = CASE WHEN hangup_cause = '' THEN ? ELSE hangup_cause END "
                    "WHERE call_id = ?", (when, cause, call_id))
                conn.execute(
                    "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (call_id, when, "ended", cause))
            return len(ids)

        return await self.db.transaction(run)
