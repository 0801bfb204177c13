"""``PgUserStore`` and ``PgTokenStore``: users and tokens in PostgreSQL (``server.db`` a URL).

The same rules as ``callport.store.sqlite_users`` (and the same contract suite,
tests/store/test_store_users.py): phones UNIQUE (a number belongs to one user; two nodes
adding it at once: one wins, the other gets ``UserError``), removing a user revokes their
tokens in the same transaction, a ``signin`` token is consumed by the ``UPDATE ... WHERE
revoked = false`` that checks it, so two nodes cannot both accept it.
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from callport.store.memory_users import (
    clean_kinds,
    hash_in_thread,
    new_token,
    new_user_row,
    token_info_of_row,
    user_of_row,
    verify_in_thread,
)
from callport.store.postgres import PgDb
from callport.store.users import (
    TOKEN_KINDS,
    DigestKeys,
    IssuedToken,
    TokenInfo,
    TokenKind,
    UserError,
    clean_password,
    clean_phone,
    clean_pin,
    clean_queues,
    clean_roles,
    digest_keys,
    token_digest,
    token_id_of,
    wants_digest_keys,
)
from callport.types import User

if TYPE_CHECKING:
    from psycopg import AsyncConnection

async def _user(conn: AsyncConnection[dict[str, Any]], name: str) -> User | None:
    cur = await conn.execute(
        "SELECT name, display_name, roles, pin_hash, password_hash, queues FROM users "
        "WHERE name = %s", (name,))
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(
        "SELECT phone FROM user_phones WHERE user_name = %s ORDER BY position", (name,))
    phones = await cur.fetchall()
    return user_of_row(row, (str(p["phone"]) for p in phones))


_HASH_COLUMNS = {"pin_hash", "password_hash", "digest_keys", "queues"}


async def _column(conn: AsyncConnection[dict[str, Any]], name: str, column: str) -> str | None:
    assert column in _HASH_COLUMNS
    cur = await conn.execute(f"SELECT {column} AS v FROM users WHERE name = %s", (name,))
    row = await cur.fetchone()
    return str(row["v"]) if row is not None and row["v"] is not None else None


class PgUserStore:
    """Users in PostgreSQL, on a shared :class:`PgDb`."""

    def __init__(self, db: PgDb) -> None:
        self.db = db

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
        from psycopg.errors import IntegrityError

        new = await new_user_row(name, display_name=display_name, phones=phones, pin=pin,
                                 password=password, roles=roles, queues=queues)
        name, numbers = new.name, new.phones
        row_values = (name, new.display_name, new.roles, new.pin_hash, new.password_hash,
                      time.time(), new.digest_keys, new.queues)
        try:
            async with self.db.transaction() as conn:
                cur = await conn.execute("SELECT 1 FROM users WHERE name = %s", (name,))
                if await cur.fetchone() is not None:
                    raise UserError(f"user {name!r} already exists")
                for phone in numbers:
                    cur = await conn.execute(
                        "SELECT user_name FROM user_phones WHERE phone = %s", (phone,))
                    row = await cur.fetchone()
                    if row is not None:
                        raise UserError(f"phone {phone} already belongs to {row['user_name']!r}")
                await conn.execute(
                    "INSERT INTO users (name, display_name, roles, pin_hash, password_hash, "
                    "created_at, digest_keys, queues) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    row_values)
                for i, phone in enumerate(numbers):
                    await conn.execute(
                        "INSERT INTO user_phones (phone, user_name, position) VALUES (%s, %s, %s)",
                        (phone, name, i))
                user = await _user(conn, name)
        except IntegrityError as exc:  # another writer (maybe another node) won the race
            raise UserError(f"user {name!r}: name or phone already taken") from exc
        assert user is not None
        return user

    async def get(self, name: str) -> User | None:
        if not isinstance(name, str):
            return None
        async with self.db.transaction() as conn:
            return await _user(conn, name)

    async def by_phone(self, phone: str) -> User | None:
        try:
            number = clean_phone(phone)
        except UserError:
            return None
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT user_name FROM user_phones WHERE phone = %s", (number,))
            row = await cur.fetchone()
            return await _user(conn, str(row["user_name"])) if row is not None else None

    async def list(self) -> builtins.list[User]:
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT name FROM users ORDER BY name")
            names = [str(r["name"]) for r in await cur.fetchall()]
            return [u for u in [await _user(conn, n) for n in names] if u is not None]

    async def count(self) -> int:
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM users")
            row = await cur.fetchone()
            return int(row["n"]) if row is not None else 0

    async def remove(self, name: str) -> bool:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM user_phones WHERE user_name = %s", (name,))
            await conn.execute("UPDATE tokens SET revoked = TRUE WHERE user_name = %s", (name,))
            cur = await conn.execute("DELETE FROM users WHERE name = %s", (name,))
            return cur.rowcount > 0

    async def _set(self, name: str, column: str, value: str | None) -> bool:
        assert column in _HASH_COLUMNS
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE users SET {column} = %s WHERE name = %s", (value, name))
            return cur.rowcount > 0

    async def set_password(self, name: str, password: str | None) -> bool:
        digest = await hash_in_thread(clean_password(password)) if password is not None else None
        async with self.db.transaction() as conn:
            user = await _user(conn, name)
            if user is None:
                return False
            keys = (digest_keys(name, password).encode() if password is not None
                    and wants_digest_keys(user.roles) else None)
            await conn.execute(
                "UPDATE users SET password_hash = %s, digest_keys = %s WHERE name = %s",
                (digest, keys, name))
            return True

    async def set_pin(self, name: str, pin: str | None) -> bool:
        digest = await hash_in_thread(clean_pin(pin)) if pin is not None else None
        return await self._set(name, "pin_hash", digest)

    async def set_queues(self, name: str, queues: Iterable[str]) -> bool:
        return await self._set(name, "queues", ",".join(clean_queues(queues)))

    async def set_roles(self, name: str, roles: Iterable[str]) -> bool:
        given = clean_roles(roles)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE users SET roles = %s, digest_keys = CASE WHEN %s THEN digest_keys "
                "ELSE NULL END WHERE name = %s",
                (",".join(sorted(given)), wants_digest_keys(given), name))
            return cur.rowcount > 0

    async def check_password(self, name: str, password: str) -> User | None:
        async with self.db.transaction() as conn:
            stored = await _column(conn, name, "password_hash")
        if not await verify_in_thread(password, stored):
            return None
        return await self.get(name)

    async def check_pin(self, name: str, pin: str) -> bool:
        async with self.db.transaction() as conn:
            stored = await _column(conn, name, "pin_hash")
        return await verify_in_thread(pin, stored)

    async def digest_keys(self, name: str) -> DigestKeys | None:
        if not isinstance(name, str):
            return None
        async with self.db.transaction() as conn:
            return DigestKeys.decode(await _column(conn, name, "digest_keys"))


class PgTokenStore:
    """Tokens in PostgreSQL, for the users of the ``PgUserStore`` on the same database."""

    def __init__(self, db: PgDb) -> None:
        self.db = db

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
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT 1 FROM users WHERE name = %s", (user,))
            if await cur.fetchone() is None:
                raise UserError(f"no user {user!r}")
            await conn.execute(
                "INSERT INTO tokens (id, digest, user_name, kind, label, created_at, expires_at, "
                "revoked) VALUES (%s, %s, %s, %s, %s, %s, %s, FALSE)",
                (info.id, token_digest(secret), user, kind, info.label, now, info.expires_at))
        return issued

    async def verify(self, secret: str, *, kinds: Iterable[TokenKind], now: float) -> User | None:
        wanted = clean_kinds(kinds)
        token_id = token_id_of(secret) if isinstance(secret, str) else None
        if token_id is None:
            return None
        digest = token_digest(secret)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT digest, user_name, kind, expires_at, revoked FROM tokens WHERE id = %s",
                (token_id,))
            row = await cur.fetchone()
            if row is None or not secrets.compare_digest(str(row["digest"]), digest):
                return None
            if row["revoked"] or row["kind"] not in wanted:
                return None
            if row["expires_at"] is not None and now >= float(row["expires_at"]):
                return None
            user = await _user(conn, str(row["user_name"]))
            if user is None:
                return None
            cur = await conn.execute(
                "UPDATE tokens SET last_used_at = %s, revoked = %s "
                "WHERE id = %s AND revoked = FALSE",
                (now, row["kind"] == "signin", token_id))
            return user if cur.rowcount == 1 else None

    async def revoke(self, token_id: str) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute("UPDATE tokens SET revoked = TRUE WHERE id = %s", (token_id,))
            return cur.rowcount > 0

    async def revoke_user(self, user: str, *, kinds: Iterable[TokenKind] = TOKEN_KINDS) -> int:
        wanted = sorted(clean_kinds(kinds))
        if not wanted:
            return 0
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE tokens SET revoked = TRUE "
                "WHERE user_name = %s AND revoked = FALSE AND kind = ANY(%s)", (user, wanted))
            return cur.rowcount

    async def list(self, *, user: str | None = None) -> builtins.list[TokenInfo]:
        cols = "id, user_name, kind, label, created_at, expires_at, last_used_at, revoked"
        async with self.db.transaction() as conn:
            if user is None:
                cur = await conn.execute(f"SELECT {cols} FROM tokens ORDER BY created_at, seq")
            else:
                cur = await conn.execute(
                    f"SELECT {cols} FROM tokens WHERE user_name = %s ORDER BY created_at, seq",
                    (user,))
            return [token_info_of_row(r, user_column="user_name")
                    for r in await cur.fetchall()]
