"""``SqliteUserStore``: users in SQLite (the default); their tokens are ``sqlite_tokens``.

The tables (``users``, ``user_phones``, ``tokens``) are in ``sqlite_userdb``. A phone number
belongs to one user (``phone`` UNIQUE); removing a user deletes their phones and revokes their
tokens in one transaction.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterable

from callport.store.memory_users import hash_in_thread, new_user_row, verify_in_thread
from callport.store.sqlite_userdb import OnUsersDb, hash_of, read_user
from callport.store.users import (
    DigestKeys,
    UserError,
    clean_password,
    clean_phone,
    clean_pin,
    clean_queues,
    clean_roles,
    digest_keys,
    wants_digest_keys,
)
from callport.types import User


class SqliteUserStore(OnUsersDb):
    """Users in SQLite; pass a path or the shared :class:`SqliteDb`."""

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
            user = read_user(conn, name)
            assert user is not None
            return user

        try:
            return await self.db.transaction(run)
        except sqlite3.IntegrityError as exc:  # another writer won the race for name or phone
            raise UserError(f"user {name!r}: name or phone already taken") from exc

    async def get(self, name: str) -> User | None:
        if not isinstance(name, str):
            return None
        return await self.db.transaction(lambda conn: read_user(conn, name))

    async def by_phone(self, phone: str) -> User | None:
        try:
            number = clean_phone(phone)
        except UserError:
            return None

        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute("SELECT user FROM user_phones WHERE phone = ?", (number,)).fetchone()
            return read_user(conn, str(row["user"])) if row is not None else None

        return await self.db.transaction(run)

    async def list(self) -> builtins.list[User]:
        def run(conn: sqlite3.Connection) -> builtins.list[User]:
            names = [str(r["name"]) for r in conn.execute("SELECT name FROM users ORDER BY name")]
            return [u for u in (read_user(conn, n) for n in names) if u is not None]

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
            user = read_user(conn, name)
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
        stored = await self.db.transaction(lambda conn: hash_of(conn, name, "password_hash"))
        if not await verify_in_thread(password, stored):
            return None
        return await self.get(name)

    async def check_pin(self, name: str, pin: str) -> bool:
        stored = await self.db.transaction(lambda conn: hash_of(conn, name, "pin_hash"))
        return await verify_in_thread(pin, stored)

    async def digest_keys(self, name: str) -> DigestKeys | None:
        if not isinstance(name, str):
            return None
        text = await self.db.transaction(lambda conn: hash_of(conn, name, "digest_keys"))
        return DigestKeys.decode(text)
