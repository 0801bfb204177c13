"""``SqliteTokenStore``: API, session and sign-in tokens in SQLite (the default).

Only the SHA-256 digest of a token's secret is stored (``tokens`` in ``sqlite_userdb``); a
``signin`` token is consumed in the same transaction that checks it, so two requests cannot
both use it; a token of a removed user verifies as nobody.
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
from collections.abc import Iterable

from callport.store.memory_users import clean_kinds, new_token, token_info_of_row
from callport.store.sqlite_userdb import OnUsersDb, read_user
from callport.store.users import (
    TOKEN_KINDS,
    IssuedToken,
    TokenInfo,
    TokenKind,
    UserError,
    token_digest,
    token_id_of,
)
from callport.types import User

_TOKEN_COLUMNS = "id, user, kind, label, created_at, expires_at, last_used_at, revoked"


class SqliteTokenStore(OnUsersDb):
    """Tokens in SQLite, for the users of the ``SqliteUserStore`` on the same database."""

    async def create(
        self,
        user: str,
        *,
        kind: TokenKind = "api",
        ttl_s: float | None = None,
        label: str = "",
        now: float,
    ) -> IssuedToken:
        issued = new_token(user, kind=kind, ttl_s=ttl_s, label=label, now=now)
        secret, info = issued.secret, issued.info

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone() is None:
                raise UserError(f"no user {user!r}")
            conn.execute(
                "INSERT INTO tokens (id, digest, user, kind, label, created_at, expires_at, "
                "revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                (info.id, token_digest(secret), user, kind, info.label, now, info.expires_at),
            )

        await self.db.transaction(run)
        return issued

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
            user = read_user(conn, str(row["user"]))
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
            return [token_info_of_row(r) for r in rows]

        return await self.db.transaction(run)
