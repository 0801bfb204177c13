"""``PgCallStore`` and ``PgVoicemailStore``: call records, their events and voicemail in
PostgreSQL, with the contracts of ``SqliteCallStore`` and ``SqliteVoicemailStore``
(tests/store/test_store_calls.py, test_store_call_details.py and test_store_voicemail.py run
over every backend). ``close_unfinished`` is what a surviving node runs for a lost node's calls.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from callport.store.calls import (
    TERMINAL,
    CallEvent,
    CallRecord,
    CallStoreError,
    _amended,
    _matches,
    _with_status,
)
from callport.store.postgres import PgDb
from callport.store.sqlite_calls import DETAILS, _attempts, _details
from callport.store.tasks import Clock, local_now
from callport.store.voicemail import Voicemail

if TYPE_CHECKING:
    from psycopg import AsyncConnection

_COLS = (
    "call_id, channel, direction, caller, callee, provider_call_id, status, started_at, ended_at"
    ", " + ", ".join(column for column, _ in DETAILS)
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


_DECODE: dict[str, Any] = {
    "answered_at": _when, "attempts": _attempts, "billable_s": int,
    "cost": lambda v: Decimal(v) if v else None,
}


def _record(row: dict[str, Any]) -> CallRecord:
    """A row as a record; detail columns (``sqlite_calls.DETAILS``) map to the record's fields
    of the same name (``user_name`` to ``user``), text ones as they are."""
    started = _when(row["started_at"])
    assert started is not None
    details = {("user" if column == "user_name" else column):
               _DECODE.get(column, str)(row[column]) for column, _ in DETAILS}  # fmt: skip
    return CallRecord(
        call_id=row["call_id"], channel=row["channel"], direction=row["direction"],
        caller=row["caller"], callee=row["callee"], provider_call_id=row["provider_call_id"],
        status=row["status"], started_at=started, ended_at=_when(row["ended_at"]), **details,
    )  # fmt: skip


async def _get(conn: AsyncConnection[dict[str, Any]], call_id: str) -> CallRecord | None:
    cur = await conn.execute(f"SELECT {_COLS} FROM calls WHERE call_id = %s", (call_id,))
    row = await cur.fetchone()
    return _record(row) if row is not None else None


class PgCallStore:
    """Call records in PostgreSQL, on a shared :class:`PgDb`."""

    def __init__(self, db: PgDb, *, clock: Clock = local_now) -> None:
        self.db = db
        self._clock = clock

    async def create(self, record: CallRecord) -> CallRecord:
        from psycopg.errors import UniqueViolation

        r = record
        marks = ", ".join(["%s"] * (9 + len(DETAILS)))
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    f"INSERT INTO calls ({_COLS}) VALUES ({marks})",
                    (r.call_id, r.channel, r.direction, r.caller, r.callee, r.provider_call_id,
                     r.status, _iso(r.started_at), _iso(r.ended_at), *_details(r)))  # fmt: skip
        except UniqueViolation:
            raise CallStoreError(f"call {r.call_id!r} already exists") from None
        return record

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None:
        when = at or self._clock()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLS} FROM calls WHERE call_id = %s FOR UPDATE", (call_id,))
            row = await cur.fetchone()
            if row is None:
                return None
            record = _with_status(_record(row), status, when)
            await conn.execute("UPDATE calls SET status = %s, ended_at = %s WHERE call_id = %s",
                               (record.status, _iso(record.ended_at), call_id))
            return record

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE calls SET provider_call_id = %s WHERE call_id = %s",
                               (provider_call_id, call_id))
            return await _get(conn, call_id)

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent:
        event = CallEvent(call_id, at or self._clock(), kind, detail)
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT 1 FROM calls WHERE call_id = %s", (call_id,))
            if await cur.fetchone() is None:
                raise CallStoreError(f"no call {call_id!r}")
            await conn.execute(
                "INSERT INTO call_events (call_id, at, kind, detail) VALUES (%s, %s, %s, %s)",
                (call_id, _iso(event.at), kind, detail))
        return event

    async def events(self, call_id: str) -> builtins.list[CallEvent]:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT call_id, at, kind, detail FROM call_events WHERE call_id = %s "
                "ORDER BY seq", (call_id,))  # fmt: skip
            rows = await cur.fetchall()
        return [CallEvent(r["call_id"], datetime.fromisoformat(r["at"]), r["kind"], r["detail"])
                for r in rows]  # fmt: skip

    async def get(self, call_id: str) -> CallRecord | None:
        async with self.db.transaction() as conn:
            return await _get(conn, call_id)

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None:
        if not provider_call_id:
            return None
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLS} FROM calls WHERE provider_call_id = %s LIMIT 1",
                (provider_call_id,))
            row = await cur.fetchone()
        return _record(row) if row is not None else None

    async def list_recent(self, limit: int = 50) -> builtins.list[CallRecord]:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLS} FROM calls ORDER BY started_at DESC LIMIT %s", (max(limit, 0),))
            return [_record(r) for r in await cur.fetchall()]

    async def amend(self, call_id: str, **changes: Any) -> CallRecord | None:
        sets = ", ".join(f"{column} = %s" for column, _ in DETAILS)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLS} FROM calls WHERE call_id = %s FOR UPDATE", (call_id,))
            row = await cur.fetchone()
            if row is None:
                return None
            record = _amended(_record(row), **changes)
            await conn.execute(f"UPDATE calls SET {sets} WHERE call_id = %s",
                               (*_details(record), call_id))
            return record

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> builtins.list[CallRecord]:
        async with self.db.transaction() as conn:
            if user is None:
                cur = await conn.execute(f"SELECT {_COLS} FROM calls ORDER BY started_at DESC")
            else:
                cur = await conn.execute(
                    f"SELECT {_COLS} FROM calls WHERE user_name = %s ORDER BY started_at DESC",
                    (user,))
            rows = await cur.fetchall()
        found = [r for r in map(_record, rows) if _matches(r, since, None)]
        return found[: max(limit, 0)]

    async def close_unfinished(self, cause: str, *, at: datetime | None = None,
                               started_before: datetime | None = None,
                               keep: Collection[str] = ()) -> int:
        when = _iso(at or self._clock())
        before = "" if started_before is None else " AND started_at < %s"
        args: builtins.list[object] = [sorted(TERMINAL)]
        if started_before is not None:
            args.append(_iso(started_before))
        spared = set(keep)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT call_id FROM calls WHERE NOT (status = ANY(%s)){before} FOR UPDATE",
                args)
            ids = [r["call_id"] for r in await cur.fetchall() if r["call_id"] not in spared]
            for call_id in ids:
                await conn.execute(
                    "UPDATE calls SET status = 'ended', ended_at = COALESCE(ended_at, %s), "
                    "hangup_cause = CASE WHEN hangup_cause = '' THEN %s ELSE hangup_cause END "
                    "WHERE call_id = %s", (when, cause, call_id))  # fmt: skip
                await conn.execute(
                    "INSERT INTO call_events (call_id, at, kind, detail) "
                    "VALUES (%s, %s, 'ended', %s)", (call_id, when, cause))  # fmt: skip
        return len(ids)


def _message(row: dict[str, Any]) -> Voicemail:
    return Voicemail(id=int(row["id"]), call_id=row["call_id"], caller=row["caller"],
                     for_user=row["for_user"], menu=row["menu"],
                     at=datetime.fromisoformat(row["at"]), transcript=row["transcript"],
                     audio=bytes(row["audio"]), sample_rate=int(row["sample_rate"]),
                     heard=bool(row["heard"]))  # fmt: skip


class PgVoicemailStore:
    """Voicemail (audio as BYTEA) in PostgreSQL, on a shared :class:`PgDb`."""

    def __init__(self, db: PgDb) -> None:
        self.db = db

    async def add(self, message: Voicemail) -> Voicemail:
        m = message
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO voicemail (call_id, caller, for_user, menu, at, transcript, audio, "
                "sample_rate, heard) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (m.call_id, m.caller, m.for_user, m.menu, m.at.isoformat(), m.transcript,
                 m.audio, m.sample_rate, m.heard))  # fmt: skip
            row = await cur.fetchone()
        assert row is not None
        return replace(message, id=int(row["id"]))

    async def get(self, message_id: int) -> Voicemail | None:
        if not isinstance(message_id, int) or not 0 < message_id < 2**63:
            return None
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT * FROM voicemail WHERE id = %s", (message_id,))
            row = await cur.fetchone()
        return _message(row) if row is not None else None

    async def list(self, *, for_user: str | None = None,
                   limit: int = 100) -> builtins.list[Voicemail]:
        async with self.db.transaction() as conn:
            if for_user is None:
                cur = await conn.execute(
                    "SELECT * FROM voicemail ORDER BY at DESC, id DESC LIMIT %s", (max(limit, 0),))
            else:
                cur = await conn.execute(
                    "SELECT * FROM voicemail WHERE for_user = %s ORDER BY at DESC, id DESC "
                    "LIMIT %s", (for_user, max(limit, 0)))  # fmt: skip
            return [_message(r) for r in await cur.fetchall()]

    async def mark_heard(self, message_id: int) -> bool:
        if not isinstance(message_id, int) or not 0 < message_id < 2**63:
            return False
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE voicemail SET heard = TRUE WHERE id = %s", (message_id,))
            return cur.rowcount > 0
