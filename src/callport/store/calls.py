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

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from callport.store.sqlite import SqliteDb
from callport.store.tasks import Clock, local_now

TERMINAL = frozenset({"completed", "failed", "busy", "no-answer", "canceled", "ended"})


class CallStoreError(ValueError):
    """A call-store request is invalid (duplicate id, unknown call)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAttempt:
    """One carrier tried for an outbound call (``callport.routing``)."""

    carrier: str
    outcome: str  # answered, placed, failed
    cause: str = ""  # the carrier's failure ("sip 503 Service Unavailable", "http 500")


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
    user: str = ""  # the identified user's name (empty: not identified)
    answered_at: datetime | None = None
    # answered, busy, no-answer, declined, invalid-number, unavailable, canceled, failed,
    # refused (by routing's rules); empty: see ``outcome``
    disposition: str = ""
    hangup_cause: str = ""  # why it ended (the session's hang-up reason, a provider's)
    carrier: str = ""  # twilio, telnyx, sip, a trunk's name
    attempts: tuple[CallAttempt, ...] = ()
    billable_s: int = 0
    cost: Decimal | None = None  # None: no rate known
    currency: str = ""

    @property
    def duration_s(self) -> float:
        """Seconds from the answer to the end (0 when unanswered or still running)."""
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max((self.ended_at - self.answered_at).total_seconds(), 0.0)

    @property
    def outcome(self) -> str:
        """``disposition``, else what the status says (answered, in-progress, busy, ...)."""
        if self.disposition:
            return self.disposition
        if self.status in ("completed", "ended"):
            return "answered" if self.answered_at is not None else self.status
        return self.status


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

    async def amend(
        self,
        call_id: str,
        *,
        user: str | None = None,
        answered_at: datetime | None = None,
        disposition: str | None = None,
        hangup_cause: str | None = None,
        carrier: str | None = None,
        attempts: tuple[CallAttempt, ...] | None = None,
        billable_s: int | None = None,
        cost: Decimal | None = None,
        currency: str | None = None,
    ) -> CallRecord | None:
        """Set the given details (None: keep); None when the call is unknown."""
        ...

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> list[CallRecord]:
        """Newest first; ``since``: started at or after; ``user``: that user's calls only."""
        ...

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        """End every record not in a ``TERMINAL`` status (status ``ended``, ``ended_at`` =
        ``at``, ``hangup_cause`` = ``cause`` unless one was recorded) and add an ``ended``
        event with ``cause`` as its detail; returns how many."""
        ...


def _amended(record: CallRecord, **changes: object) -> CallRecord:
    return replace(record, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def _matches(record: CallRecord, since: datetime | None, user: str | None) -> bool:
    if user is not None and record.user != user:
        return False
    return since is None or _after(record.started_at, since)


def _after(at: datetime, since: datetime) -> bool:
    if (at.tzinfo is None) != (since.tzinfo is None):  # compare naive local with aware
        at, since = at.astimezone(), since.astimezone()
    return at >= since


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

    async def amend(self, call_id: str, **changes: Any) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = self._calls[call_id] = _amended(record, **changes)
        return record

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> list[CallRecord]:
        found = [r for r in self._calls.values() if _matches(r, since, user)]
        return sorted(found, key=lambda r: r.started_at, reverse=True)[: max(limit, 0)]

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        when = at or self._clock()
        open_ids = [r.call_id for r in self._calls.values() if r.status not in TERMINAL]
        for call_id in open_ids:
            record = _with_status(self._calls[call_id], "ended", when)
            self._calls[call_id] = replace(record, hangup_cause=record.hangup_cause or cause)
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

# Details added after the first schema: (column, SQL type and default).
DETAILS = (
    ("user_name", "TEXT NOT NULL DEFAULT ''"), ("answered_at", "TEXT"),
    ("disposition", "TEXT NOT NULL DEFAULT ''"), ("hangup_cause", "TEXT NOT NULL DEFAULT ''"),
    ("carrier", "TEXT NOT NULL DEFAULT ''"), ("attempts", "TEXT NOT NULL DEFAULT '[]'"),
    ("billable_s", "INTEGER NOT NULL DEFAULT 0"), ("cost", "TEXT"),
    ("currency", "TEXT NOT NULL DEFAULT ''"),
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
            r.billable_s, str(r.cost) if r.cost is not None else None, r.currency)


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

    async def close_unfinished(self, cause: str, *, at: datetime | None = None) -> int:
        when = _iso(at or self._clock())
        terminal = sorted(TERMINAL)
        marks = ", ".join("?" * len(terminal))

        def run(conn: sqlite3.Connection) -> int:
            ids = [row["call_id"] for row in conn.execute(
                f"SELECT call_id FROM calls WHERE status NOT IN ({marks})", terminal)]
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
