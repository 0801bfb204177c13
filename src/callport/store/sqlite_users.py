"""``SqliteUserStore`` and ``SqliteTokenStore``: users and their tokens in SQLite (the default).

Tables: ``users`` (name, display name, roles, scrypt hashes of PIN and password, an agent's
SIP ``digest_keys``; the column is added to older databases on open),
``user_phones`` (one row per number, ``phone`` UNIQUE: a number belongs to one user) and
``tokens`` (id, SHA-256 digest of the secret, user, kind, label, times, revoked). Removing a
user deletes their phones and revokes their tokens in one transaction; a ``signin`` token is
consumed in the same transaction that checks it, so two requests cannot both use it.
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from callport.store.memory_users import (
    clean_kinds,
    hash_in_thread,
    new_token_id,
    new_user_row,
    verify_in_thread,
)
from callport.store.sqlite import SqliteDb
from callport.store.users import (
    TOKEN_KINDS,
    DigestKeys,
    IssuedToken,
    TokenInfo,
    TokenKind,
    UserError,
    clean_display_name,
    clean_password,
    clean_phone,
    clean_pin,
    clean_queues,
    clean_roles,
    digest_keys,
    new_token_secret,
    token_digest,
    token_id_of,
    wants_digest_keys,
)
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


def _open(path: str | Path | SqliteDb) -> SqliteDb:
    db = path if isinstance(path, SqliteDb) else SqliteDb(path)
    db.ensure_schema("users", SCHEMA)
    db.ensure_migration("users.digest_keys", _add_digest_keys)
    db.ensure_migration("users.queues", _add_queues)
    return db


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


def _user(conn: sqlite3.Connection, name: str) -> User | None:
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
    return User(
        name=str(row["name"]),
        display_name=str(row["display_name"]),
        phones=tuple(str(p["phone"]) for p in phones),
        roles=frozenset(r for r in str(row["roles"]).split(",") if r),
        has_pin=row["pin_hash"] is not None,
        has_password=row["password_hash"] is not None,
        queues=tuple(q for q in str(row["queues"]).split(",") if q),
    )


def _hash_of(conn: sqlite3.Connection, name: str, column: str) -> str | None:
    row = conn.execute(f"SELECT {column} FROM users WHERE name = ?", (name,)).fetchone()
    return str(row[0]) if row is not None and row[0] is not None else None


class SqliteUserStore:
    """Users in SQLite; pass a path or the shared :class:`SqliteDb`."""

    def __init__(self, path: str | Path | SqliteDb) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = _open(path)

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    async def add(
        self,
        name: str,
        *,
        display_name: str = "",
        phones: Iterable[str] = (),
        pin: str | None = None,
        password: str | None = None,
        roles: Iterable[str] = ("user",),
        queues: Iterable[str] = (),
    ) -> User:
        new = await new_user_row(name, display_name=display_name, phones=phones, pin=pin,
                                 password=password, roles=roles, queues=queues)
        name, numbers = new.name, new.phones
        row_values = (name, new.display_name, new.roles, new.pin_hash, new.password_hash,
                      time.time(), new.digest_keys, new.queues)

        def run(conn: sqlite3.Connection) -> User:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise UserError(f"user {name!r} already exists")
            for phone in numbers:
                row = conn.execute(
                    "SELECT user FROM user_phones WHERE phone = ?", (phone,)
                ).fetchone()
                if row is not None:
                    raise UserError(f"phone {phone} already belongs to {row['user']!r}")
            conn.execute(
                "INSERT INTO users (name, display_name, roles, pin_hash, password_hash, "
                "created_at, digest_keys, queues) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row_values,
            )
            conn.executemany(
                "INSERT INTO user_phones (phone, user, position) VALUES (?, ?, ?)",
                [(phone, name, i) for i, phone in enumerate(numbers)],
            )
            user = _user(conn, name)
            assert user is not None
            return user

        try:
            return await self.db.transaction(run)
        except sqlite3.IntegrityError as exc:  # another writer won the race for name or phone
            raise UserError(f"user {name!r}: name or phone already taken") from exc

    async def get(self, name: str) -> User | None:
        if not isinstance(name, str):
            return None
        return await self.db.transaction(lambda conn: _user(conn, name))

    async def by_phone(self, phone: str) -> User | None:
        try:
            number = clean_phone(phone)
        except UserError:
            return None

        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute("SELECT user FROM user_phones WHERE phone = ?", (number,)).fetchone()
            return _user(conn, str(row["user"])) if row is not None else None

        return await self.db.transaction(run)

    async def list(self) -> builtins.list[User]:
        def run(conn: sqlite3.Connection) -> builtins.list[User]:
            names = [str(r["name"]) for r in conn.execute("SELECT name FROM users ORDER BY name")]
            return [u for u in (_user(conn, n) for n in names) if u is not None]

        return await self.db.transaction(run)

    async def count(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])

        return await self.db.transaction(run)

    async def remove(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM user_phones WHERE user = ?", (name,))
            conn.execute("UPDATE tokens SET revoked = 1 WHERE user = ?", (name,))
            return conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

        return await self.db.transaction(run)

    async def _set(self, name: str, column: str, digest: str | None) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(f"UPDATE users SET {column} = ? WHERE name = ?", (digest, name))
            return cur.rowcount > 0

        return await self.db.transaction(run)

    async def set_password(self, name: str, password: str | None) -> bool:
        digest = await hash_in_thread(clean_password(password)) if password is not None else None

        def run(conn: sqlite3.Connection) -> bool:
            user = _user(conn, name)
            if user is None:
                return False
            keys = (digest_keys(name, password).encode() if password is not None
                    and wants_digest_keys(user.roles) else None)
            conn.execute("UPDATE users SET password_hash = ?, digest_keys = ? WHERE name = ?",
                         (digest, keys, name))
            return True

        return await self.db.transaction(run)

    async def set_pin(self, name: str, pin: str | None) -> bool:
        digest = await hash_in_thread(clean_pin(pin)) if pin is not None else None
        return await self._set(name, "pin_hash", digest)

    async def set_queues(self, name: str, queues: Iterable[str]) -> bool:
        return await self._set(name, "queues", ",".join(clean_queues(queues)))

    async def set_roles(self, name: str, roles: Iterable[str]) -> bool:
        given = clean_roles(roles)
        keep_keys = wants_digest_keys(given)

        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE users SET roles = ?, digest_keys = CASE WHEN ? THEN digest_keys "
                "ELSE NULL END WHERE name = ?", (",".join(sorted(given)), keep_keys, name))
            return cur.rowcount > 0

        return await self.db.transaction(run)

    async def check_password(self, name: str, password: str) -> User | None:
        stored = await self.db.transaction(lambda conn: _hash_of(conn, name, "password_hash"))
        if not await verify_in_thread(password, stored):
            return None
        return await self.get(name)

    async def check_pin(self, name: str, pin: str) -> bool:
        stored = await self.db.transaction(lambda conn: _hash_of(conn, name, "pin_hash"))
        return await verify_in_thread(pin, stored)

    async def digest_keys(self, name: str) -> DigestKeys | None:
        if not isinstance(name, str):
            return None
        text = await self.db.transaction(lambda conn: _hash_of(conn, name, "digest_keys"))
        return DigestKeys.decode(text)


def _info(row: sqlite3.Row) -> TokenInfo:
    kind = str(row["kind"])
    assert kind in TOKEN_KINDS
    return TokenInfo(
        id=str(row["id"]),
        user=str(row["user"]),
        kind=kind,  # checked above (and by the table's CHECK)
        label=str(row["label"]),
        created_at=float(row["created_at"]),
        expires_at=None if row["expires_at"] is None else float(row["expires_at"]),
        last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
        revoked=bool(row["revoked"]),
    )


_TOKEN_COLUMNS = "id, user, kind, label, created_at, expires_at, last_used_at, revoked"


class SqliteTokenStore:
    """Tokens in SQLite, for the users of the ``SqliteUserStore`` on the same database."""

    def __init__(self, path: str | Path | SqliteDb) -> None:
        self._own_db = not isinstance(path, SqliteDb)
        self.db = _open(path)

    def close(self) -> None:
        if self._own_db:
            self.db.close()

    async def create(
        self,
        user: str,
        *,
        kind: TokenKind = "api",
        ttl_s: float | None = None,
        label: str = "",
        now: float,
    ) -> IssuedToken:
        clean_kinds([kind])
        if ttl_s is not None and not ttl_s > 0:
            raise UserError("token lifetime must be positive")
        token_id = new_token_id()
        secret = new_token_secret(token_id)
        info = TokenInfo(id=token_id, user=user, kind=kind, label=clean_display_name(label),
                         created_at=now, expires_at=None if ttl_s is None else now + ttl_s,
                         last_used_at=None, revoked=False)  # fmt: skip

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                raise UserError(f"no user {user!r}")
            conn.execute(
                "INSERT INTO tokens (id, digest, user, kind, label, created_at, expires_at, "
                "revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (token_id, token_digest(secret), user, kind, info.label, now, info.expires_at),
            )

        await self.db.transaction(run)
        return IssuedToken(secret, info)

    async def verify(self, secret: str, *, kinds: Iterable[TokenKind], now: float) -> User | None:
        wanted = clean_kinds(kinds)
        token_id = token_id_of(secret) if isinstance(secret, str) else None
        if token_id is None:
            return None
        digest = token_digest(secret)

        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                "SELECT digest, user, kind, expires_at, revoked FROM tokens WHERE id = ?",
                (token_id,),
            ).fetchone()
            if row is None or not secrets.compare_digest(str(row["digest"]), digest):
                return None
            if row["revoked"] or row["kind"] not in wanted:
                return None
            if row["expires_at"] is not None and now >= float(row["expires_at"]):
                return None
            user = _user(conn, str(row["user"]))
            if user is None:
                return None
            consume = 1 if row["kind"] == "signin" else 0
            cur = conn.execute(
                "UPDATE tokens SET last_used_at = ?, revoked = ? WHERE id = ? AND revoked = 0",
                (now, consume, token_id),
            )
            return user if cur.rowcount == 1 else None

        return await self.db.transaction(run)

    async def revoke(self, token_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone()
            conn.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,))
            return row is not None

        return await self.db.transaction(run)

    async def revoke_user(self, user: str, *, kinds: Iterable[TokenKind] = TOKEN_KINDS) -> int:
        wanted = sorted(clean_kinds(kinds))
        marks = ", ".join("?" for _ in wanted)

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE tokens SET revoked = 1 "
                f"WHERE user = ? AND revoked = 0 AND kind IN ({marks})",
                (user, *wanted),
            )
            return cur.rowcount

        return await self.db.transaction(run) if wanted else 0

    async def list(self, *, user: str | None = None) -> builtins.list[TokenInfo]:
        where, args = ("WHERE user = ?", (user,)) if user is not None else ("", ())

        def run(conn: sqlite3.Connection) -> builtins.list[TokenInfo]:
            rows = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM tokens {where} ORDER BY created_at, rowid", args
            ).fetchall()
            return [_info(r) for r in rows]

        return await self.db.transaction(run)
