"""Deleting one person's call records and voicemail (``callport privacy erase``, GDPR art. 17),
on SQLite and on PostgreSQL. A user is their calls and the messages left for them; a phone
number is the calls from or to it and the messages it left. ``Stores.erase`` picks the backend.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.store.postgres import PgDb
    from callport.store.sqlite import SqliteDb


def _where(user: str | None, phone: str | None, mark: str) -> tuple[str, tuple[str, ...], str]:
    """``(calls WHERE, its parameters, voicemail column)`` for the person."""
    if user is not None:
        return f"user_name = {mark}", (user,), "for_user"
    assert phone is not None
    return f"(caller = {mark} OR callee = {mark})", (phone, phone), "caller"


async def sqlite_erase(db: SqliteDb, *, user: str | None, phone: str | None) -> tuple[int, int]:
    """``(calls, voicemail)`` deleted, then the file is vacuumed."""
    where, params, column = _where(user, phone, "?")

    def run(conn: sqlite3.Connection) -> tuple[int, int]:
        conn.execute(f"DELETE FROM call_events WHERE call_id IN "
                     f"(SELECT call_id FROM calls WHERE {where})", params)  # fmt: skip
        calls = conn.execute(f"DELETE FROM calls WHERE {where}", params).rowcount
        mail = conn.execute(f"DELETE FROM voicemail WHERE {column} = ?",
                            (user or phone,)).rowcount  # fmt: skip
        return calls, mail

    done = await db.transaction(run)
    if db.path != ":memory:":
        with sqlite3.connect(db.path) as conn:  # VACUUM cannot run inside a transaction
            conn.execute("VACUUM")
        conn.close()
    return done


async def pg_erase(db: PgDb, *, user: str | None, phone: str | None) -> tuple[int, int]:
    """``(calls, voicemail)`` deleted, in one transaction (autovacuum reclaims the rows)."""
    where, params, column = _where(user, phone, "%s")
    async with db.transaction() as conn:
        await conn.execute(f"DELETE FROM call_events WHERE call_id IN "
                           f"(SELECT call_id FROM calls WHERE {where})", params)  # fmt: skip
        cur = await conn.execute(f"DELETE FROM calls WHERE {where}", params)
        calls = cur.rowcount
        cur = await conn.execute(f"DELETE FROM voicemail WHERE {column} = %s",
                                 (user or phone,))  # fmt: skip
        return calls, cur.rowcount
