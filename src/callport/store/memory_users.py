"""In-memory ``UserStore`` and ``TokenStore``: for tests and for ``callport talk`` without a DB.

They follow the same rules as the SQLite stores (``callport.store.users``): passwords and PINs
are kept only as scrypt hashes, tokens only as SHA-256 digests, a phone number belongs to at
most one user, and removing a user revokes their tokens.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from callport.store.users import (
    TOKEN_KINDS,
    DigestKeys,
    IssuedToken,
    TokenInfo,
    TokenKind,
    UserError,
    UserStore,
    clean_display_name,
    clean_name,
    clean_password,
    clean_phone,
    clean_pin,
    clean_queues,
    clean_roles,
    digest_keys,
    hash_secret,
    new_token_secret,
    token_digest,
    token_id_of,
    verify_secret,
    wants_digest_keys,
)
from callport.types import User

# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_secret(secrets.token_urlsafe(16))


async def hash_in_thread(secret: str) -> str:
    """``hash_secret`` off the event loop (scrypt takes tens of milliseconds)."""
    return await asyncio.to_thread(hash_secret, secret)


async def verify_in_thread(secret: str, stored: str | None) -> bool:
    """``verify_secret`` off the event loop; a missing hash costs a dummy check, then fails."""
    ok = await asyncio.to_thread(verify_secret, secret, stored or _DUMMY_HASH)
    return ok and stored is not None


@dataclass(frozen=True, slots=True)
class NewUserRow:
    """A new user's validated fields as the SQL stores write them (one ``users`` row and
    its ``user_phones``): roles and queues comma-joined, secrets hashed."""

    name: str
    display_name: str
    phones: tuple[str, ...]
    roles: str
    queues: str
    pin_hash: str | None
    password_hash: str | None
    digest_keys: str | None  # DigestKeys.encode()


async def new_user_row(name: str, *, display_name: str, phones: Iterable[str], pin: str | None,
                       password: str | None, roles: Iterable[str],
                       queues: Iterable[str]) -> NewUserRow:
    """Validate ``UserStore.add``'s arguments (``UserError`` on a bad one) and hash the
    secrets off the event loop; the SQLite and PostgreSQL stores share this step."""
    name = clean_name(name)
    queue_text = ",".join(clean_queues(queues))
    shown = clean_display_name(display_name)
    numbers = tuple(dict.fromkeys(clean_phone(p) for p in phones))
    role_text = ",".join(sorted(clean_roles(roles)))
    pin_hash = await hash_in_thread(clean_pin(pin)) if pin is not None else None
    pw_hash = await hash_in_thread(clean_password(password)) if password is not None else None
    keys = (digest_keys(name, password).encode() if password is not None
            and wants_digest_keys(role_text.split(",")) else None)
    return NewUserRow(name=name, display_name=shown, phones=numbers, roles=role_text,
                      queues=queue_text, pin_hash=pin_hash, password_hash=pw_hash,
                      digest_keys=keys)


def clean_kinds(kinds: Iterable[TokenKind]) -> frozenset[TokenKind]:
    out = frozenset(kinds)
    bad = sorted(k for k in out if k not in TOKEN_KINDS)
    if bad:
        raise UserError(f"token kind {bad[0]!r}: use {', '.join(TOKEN_KINDS)}")
    return out


def new_token_id() -> str:
    """A short random id (no ``_``, so ``token_id_of`` can split it back out)."""
    return secrets.token_hex(6)


def new_token(user: str, *, kind: TokenKind, ttl_s: float | None, label: str,
              now: float) -> IssuedToken:
    """A fresh token for ``user`` (kind and lifetime checked, a new id and secret); every
    token store keeps its digest and ``info``."""
    clean_kinds([kind])
    if ttl_s is not None and not ttl_s > 0:
        raise UserError("token lifetime must be positive")
    token_id = new_token_id()
    info = TokenInfo(id=token_id, user=user, kind=kind, label=clean_display_name(label),
                     created_at=now, expires_at=None if ttl_s is None else now + ttl_s,
                     last_used_at=None, revoked=False)  # fmt: skip
    return IssuedToken(new_token_secret(token_id), info)


class Row(Protocol):
    """A database row read by column name (``sqlite3.Row``, a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def token_info_of_row(row: Row, *, user_column: str = "user") -> TokenInfo:
    """The ``TokenInfo`` of a SQL ``tokens`` row (the user's column name differs by backend)."""
    kind = str(row["kind"])
    assert kind in TOKEN_KINDS
    return TokenInfo(
        id=str(row["id"]),
        user=str(row[user_column]),
        kind=kind,  # checked above (and by the table's CHECK)
        label=str(row["label"]),
        created_at=float(row["created_at"]),
        expires_at=None if row["expires_at"] is None else float(row["expires_at"]),
        last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
        revoked=bool(row["revoked"]),
    )


def user_of_row(row: Row, phones: Iterable[str]) -> User:
    """The ``User`` of a SQL ``users`` row (roles and queues comma-joined) and its phones."""
    return User(
        name=str(row["name"]),
        display_name=str(row["display_name"]),
        phones=tuple(phones),
        roles=frozenset(r for r in str(row["roles"]).split(",") if r),
        has_pin=row["pin_hash"] is not None,
        has_password=row["password_hash"] is not None,
        queues=tuple(q for q in str(row["queues"]).split(",") if q),
    )


@dataclass(slots=True)
class _Record:
    user: User
    pin_hash: str | None
    password_hash: str | None
    digest: DigestKeys | None = None  # agents only (``users.DigestKeys``)


class MemoryUserStore:
    """Users in a dict."""

    def __init__(self) -> None:
        self._users: dict[str, _Record] = {}
        self._removed_hooks: list[Callable[[str], None]] = []

    def on_remove(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(name)`` when a user is removed (the memory token store revokes)."""
        self._removed_hooks.append(hook)

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
        name = clean_name(name)
        numbers = tuple(dict.fromkeys(clean_phone(p) for p in phones))
        user = User(name=name, display_name=clean_display_name(display_name), phones=numbers,
                    roles=clean_roles(roles), has_pin=pin is not None,
                    has_password=password is not None, queues=clean_queues(queues))  # fmt: skip
        pin_hash = await hash_in_thread(clean_pin(pin)) if pin is not None else None
        pw_hash = await hash_in_thread(clean_password(password)) if password is not None else None
        if name in self._users:
            raise UserError(f"user {name!r} already exists")
        for phone in numbers:
            owner = self._owner_of(phone)
            if owner is not None:
                raise UserError(f"phone {phone} already belongs to {owner!r}")
        keys = (digest_keys(name, password) if password is not None
                and wants_digest_keys(user.roles) else None)
        self._users[name] = _Record(user, pin_hash, pw_hash, keys)
        return user

    def _owner_of(self, phone: str) -> str | None:
        return next((r.user.name for r in self._users.values() if phone in r.user.phones), None)

    async def get(self, name: str) -> User | None:
        record = self._users.get(name) if isinstance(name, str) else None
        return record.user if record is not None else None

    async def by_phone(self, phone: str) -> User | None:
        try:
            number = clean_phone(phone)
        except UserError:
            return None
        owner = self._owner_of(number)
        return self._users[owner].user if owner is not None else None

    async def list(self) -> builtins.list[User]:
        return [self._users[n].user for n in sorted(self._users)]

    async def count(self) -> int:
        return len(self._users)

    async def remove(self, name: str) -> bool:
        if self._users.pop(name, None) is None:
            return False
        for hook in self._removed_hooks:
            hook(name)
        return True

    async def set_password(self, name: str, password: str | None) -> bool:
        digest = await hash_in_thread(clean_password(password)) if password is not None else None
        record = self._users.get(name)
        if record is None:
            return False
        record.password_hash = digest
        record.digest = (digest_keys(name, password) if password is not None
                         and wants_digest_keys(record.user.roles) else None)
        record.user = replace(record.user, has_password=digest is not None)
        return True

    async def set_pin(self, name: str, pin: str | None) -> bool:
        digest = await hash_in_thread(clean_pin(pin)) if pin is not None else None
        record = self._users.get(name)
        if record is None:
            return False
        record.pin_hash = digest
        record.user = replace(record.user, has_pin=digest is not None)
        return True

    async def set_queues(self, name: str, queues: Iterable[str]) -> bool:
        member = clean_queues(queues)
        record = self._users.get(name)
        if record is None:
            return False
        record.user = replace(record.user, queues=member)
        return True

    async def set_roles(self, name: str, roles: Iterable[str]) -> bool:
        given = clean_roles(roles)
        record = self._users.get(name)
        if record is None:
            return False
        record.user = replace(record.user, roles=given)
        if not wants_digest_keys(given):
            record.digest = None
        return True

    async def check_password(self, name: str, password: str) -> User | None:
        record = self._users.get(name)
        ok = await verify_in_thread(password, record.password_hash if record else None)
        return record.user if ok and record is not None else None

    async def check_pin(self, name: str, pin: str) -> bool:
        record = self._users.get(name)
        return await verify_in_thread(pin, record.pin_hash if record else None)

    async def digest_keys(self, name: str) -> DigestKeys | None:
        record = self._users.get(name) if isinstance(name, str) else None
        return record.digest if record is not None else None


@dataclass(slots=True)
class _Token:
    digest: str
    info: TokenInfo


class MemoryTokenStore:
    """Tokens in a dict, for the users of ``users`` (a ``MemoryUserStore`` revokes on remove)."""

    def __init__(self, *, users: UserStore) -> None:
        self._users = users
        self._tokens: dict[str, _Token] = {}
        if isinstance(users, MemoryUserStore):
            users.on_remove(self._forget_user)

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
        if await self._users.get(user) is None:
            raise UserError(f"no user {user!r}")
        self._tokens[issued.info.id] = _Token(token_digest(issued.secret), issued.info)
        return issued

    async def verify(self, secret: str, *, kinds: Iterable[TokenKind], now: float) -> User | None:
        wanted = clean_kinds(kinds)
        token_id = token_id_of(secret) if isinstance(secret, str) else None
        token = self._tokens.get(token_id) if token_id is not None else None
        if token is None or not secrets.compare_digest(token.digest, token_digest(secret)):
            return None
        info = token.info
        if info.revoked or info.kind not in wanted:
            return None
        if info.expires_at is not None and now >= info.expires_at:
            return None
        user = await self._users.get(info.user)
        if user is None:
            return None
        token.info = replace(info, last_used_at=now, revoked=info.revoked or info.kind == "signin")
        return user

    async def revoke(self, token_id: str) -> bool:
        token = self._tokens.get(token_id)
        if token is None:
            return False
        token.info = replace(token.info, revoked=True)
        return True

    async def revoke_user(self, user: str, *, kinds: Iterable[TokenKind] = TOKEN_KINDS) -> int:
        return self._revoke_user_now(user, clean_kinds(kinds))

    def _forget_user(self, user: str) -> None:
        self._revoke_user_now(user)

    def _revoke_user_now(self, user: str, kinds: Iterable[TokenKind] = TOKEN_KINDS) -> int:
        wanted = frozenset(kinds)
        count = 0
        for token in self._tokens.values():
            info = token.info
            if info.user == user and info.kind in wanted and not info.revoked:
                token.info = replace(info, revoked=True)
                count += 1
        return count

    async def list(self, *, user: str | None = None) -> builtins.list[TokenInfo]:
        infos = [t.info for t in self._tokens.values() if user is None or t.info.user == user]
        return sorted(infos, key=lambda i: i.created_at)  # stable: equal times keep their order
