"""The SQLite tables of users, their phones and their tokens, shared by both stores.

``SCHEMA`` makes ``users`` (name, display name, roles, scrypt hashes of PIN and password, an
agent's SIP ``digest_keys``, queue memberships), ``user_phones`` (one row per number,
``phone`` UNIQUE: a number belongs to one user) and ``tokens`` (id, SHA-256 digest of the
secret, user, kind, label, times, revoked). ``open_users_db`` makes them on a database and
adds the columns older databases lack (``OnUsersDb``: a store opened on it); ``read_user``
and ``hash_of`` read one user's row inside a transaction of ``sqlite_users.SqliteUserStore``
or ``sqlite_tokens.SqliteTokenStore``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from callport.store.memory_users import user_of_row
from callport.store.sqlite import SqliteDb
from callport.types import User

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    roles TEXT NOT NULL,
    pin_hash TEXT,
    password_hash TEXT,
    created_at REAL NOT NULL,
    digest_keys TEXT,
    queues TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS user_phones (
    phone TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    position INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS user_phones_user ON user_phones (user);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    user TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('api', 'session', 'signin')),
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL,
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user);
"""


def open_users_db(path: str | Path | SqliteDb) -> SqliteDb:
    db = path if isinstance(path, SqliteDb) else SqliteDb(path)
    db.ensure_schema("users", SCHEMA)
    db.ensure_migration("users.digest_keys", _add_digest_keys)
    db.ensure_migration("users.queues", _add_queues)
    return db


class OnUsersDb:
    """A store on the users database: a path opens its own (closed by ``close``), a shared
    :class:`SqliteDb` is left to its owner."""

    def __init__(self, path: str | Path | SqliteDb) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = open_users_db(path)

    def close(self) -> None:
        if self._own_db:
            self.db.close()


def _add_queues(conn: sqlite3.Connection) -> None:
    """Databases made before queues lack the ``queues`` column (an agent's memberships)."""
    columns = {str(r["name"]) for r in conn.execute("PRAGMA table_info(users)")}
    if "queues" not in columns:
        conn.execute("ALTER TABLE users ADD COLUMN queues TEXT NOT NULL DEFAULT ''")


def _add_digest_keys(conn: sqlite3.Connection) -> None:
    """Databases made before agents' SIP phones lack the ``digest_keys`` column."""
    columns = {str(r["name"]) for r in conn.execute("PRAGMA table_info(users)")}
    if "digest_keys" not in columns:
        conn.execute("ALTER TABLE users ADD COLUMN digest_keys TEXT")


def read_user(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute(
        "SELECT name, display_name, roles, pin_hash, password_hash, queues FROM users "
        "WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    phones = conn.execute(
        "SELECT phone FROM user_phones WHERE user = ? ORDER BY position", (name,)
    ).fetchall()
    return user_of_row(row, (str(p["phone"]) for p in phones))


def hash_of(conn: sqlite3.Connection, name: str, column: str) -> str | None:
    row = conn.execute(f"SELECT {column} FROM users WHERE name = ?", (name,)).fetchone()
    return str(row[0]) if row is not None and row[0] is not None else None
