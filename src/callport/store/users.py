"""Users and their credentials: the ``UserStore`` and ``TokenStore`` protocols and their rules.

A user has a name (the login and the owner key of their tasks and calls), a display name,
E.164 phone numbers their calls are recognised by, an optional keypad PIN, an optional
password and roles (``admin``, ``agent``, ``user``). Passwords and PINs are stored as scrypt
hashes (``hash_secret``), never in plain text; a phone number belongs to at most one user.

Tokens are random secrets handed out once (``cp_<id>_<secret>``) and stored as SHA-256
hashes (they carry 256 bits of entropy, so a slow hash adds nothing). Kinds:

- ``api``: a bearer token for ``/api/*``, ``/metrics`` and call-placing endpoints
  (``callport tokens create NAME``), until revoked or expired;
- ``session``: a signed-in browser's cookie value, expiring;
- ``signin``: a one-time sign-in link (the first-run owner link), consumed on first use.

A user with the ``agent`` role and a password also gets ``DigestKeys``: H(A1) of
``name:callport:password`` (MD5 and SHA-256, RFC 7616 §3.4.2), what callport's SIP registrar
checks a desk phone's digest answer against (a digest server cannot work from an scrypt hash).
They are password-equivalent for the ``callport`` realm only, so nobody else gets them.

Every implementation passes the contract suite in ``tests/store/test_store_users.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from callport.types import ROLES, User

TokenKind = Literal["api", "session", "signin"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("api", "session", "signin")

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PIN = re.compile(r"^[0-9]{4,12}$")
MAX_DISPLAY_NAME = 100
MAX_PASSWORD = 1024
MIN_PASSWORD = 8

DIGEST_REALM = "callport"  # the SIP digest realm agents' phones register in (DigestKeys)

# scrypt at n=2**14, r=8, p=1: ~16 MiB and tens of milliseconds per check (OWASP's floor).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class UserError(ValueError):
    """A user request is invalid (bad name, phone, PIN or role; name or phone taken)."""


# -- validation -----------------------------------------------------------------------------


def clean_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise UserError(
            f"user name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def clean_phone(phone: str) -> str:
    """An E.164 number (``+`` then 7-15 digits); spaces, dashes, dots and brackets are dropped."""
    text = re.sub(r"[\s().-]", "", str(phone))
    if not E164.match(text):
        raise UserError(f"phone {phone!r}: use E.164, e.g. +15551234567")
    return text


def clean_pin(pin: str) -> str:
    if not isinstance(pin, str) or not PIN.match(pin):
        raise UserError("PIN: use 4-12 digits")
    return pin


def clean_roles(roles: Iterable[str]) -> frozenset[str]:
    out = frozenset(roles) or frozenset({"user"})
    unknown = sorted(out - set(ROLES))
    if unknown:
        raise UserError(f"role {unknown[0]!r}: use {', '.join(ROLES)}")
    return out


def clean_queues(queues: Iterable[str]) -> tuple[str, ...]:
    """Queue names (an agent's memberships): letters, digits, - and _; duplicates dropped."""
    out = []
    for queue in queues:
        name = str(queue).strip()
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise UserError(f"queue {queue!r}: use letters, digits, - and _")
        out.append(name)
    return tuple(dict.fromkeys(out))


def clean_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"password: use {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def clean_display_name(display_name: str) -> str:
    text = " ".join(str(display_name).split())
    if len(text) > MAX_DISPLAY_NAME:
        raise UserError(f"display name is longer than {MAX_DISPLAY_NAME} characters")
    return text


# -- secrets --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` for a password or PIN (salted; base64 fields)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Does ``secret`` match a ``hash_secret`` value? A malformed stored value never matches."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(secret.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True, slots=True)
class DigestKeys:
    """H(A1) = H(user:realm:password) in hex for MD5 and SHA-256 (RFC 7616 §3.4.2)."""

    md5: str
    sha256: str

    def for_algorithm(self, algorithm: str) -> str | None:
        return {"MD5": self.md5, "SHA-256": self.sha256}.get(algorithm.upper())

    def encode(self) -> str:
        return f"{self.md5}:{self.sha256}"

    @classmethod
    def decode(cls, text: str | None) -> DigestKeys | None:
        md5, _, sha256 = (text or "").partition(":")
        return cls(md5, sha256) if len(md5) == 32 and len(sha256) == 64 else None


def digest_keys(name: str, password: str, realm: str = DIGEST_REALM) -> DigestKeys:
    a1 = f"{name}:{realm}:{password}".encode()
    return DigestKeys(hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest())


def wants_digest_keys(roles: Iterable[str]) -> bool:
    """Only agents sign in from SIP phones, so only they get ``DigestKeys``."""
    return "agent" in set(roles)


def new_token_secret(token_id: str) -> str:
    """The secret handed out once: ``cp_<id>_<43 url-safe characters>``."""
    return f"cp_{token_id}_{secrets.token_urlsafe(32)}"


def token_id_of(secret: str) -> str | None:
    """The id part of a presented token, or None when it is not shaped like one of ours."""
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != "cp" or not parts[1] or len(secret) > 200:
        return None
    return parts[1]


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- records and protocols ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """A token as listed (never the secret): who it is for, what kind, when it ends."""

    id: str
    user: str
    kind: TokenKind
    label: str
    created_at: float  # unix seconds
    expires_at: float | None  # None: until revoked
    last_used_at: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What ``TokenStore.create`` returns: the secret (shown once) and its listing."""

    secret: str
    info: TokenInfo


class UserStore(Protocol):
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
        """Create a user; raises ``UserError`` (invalid field, name taken, phone taken).
        ``queues``: the queues an agent takes calls from (``User.queues``)."""
        ...

    async def get(self, name: str) -> User | None: ...

    async def by_phone(self, phone: str) -> User | None:
        """The user with this number (any formatting ``clean_phone`` accepts), or None."""
        ...

    async def list(self) -> list[User]:
        """Every user, by name."""
        ...

    async def count(self) -> int: ...

    async def remove(self, name: str) -> bool:
        """Delete a user and revoke their tokens; False if there was none."""
        ...

    async def set_password(self, name: str, password: str | None) -> bool: ...

    async def set_pin(self, name: str, pin: str | None) -> bool: ...

    async def set_queues(self, name: str, queues: Iterable[str]) -> bool:
        """Replace the user's queue memberships; False if there is no such user."""
        ...

    async def set_roles(self, name: str, roles: Iterable[str]) -> bool:
        """Replace the user's roles (``clean_roles``: none means ``user``; an unknown one is a
        ``UserError``); False if there is no such user. Losing ``agent`` drops the SIP digest
        keys; gaining it makes none (they come from the password: set it again)."""
        ...

    async def check_password(self, name: str, password: str) -> User | None:
        """The user if the password matches (False for users without one), else None."""
        ...

    async def check_pin(self, name: str, pin: str) -> bool:
        """Does the PIN match? False for users without one."""
        ...

    async def digest_keys(self, name: str) -> DigestKeys | None:
        """An agent's SIP digest keys (set with their password), else None."""
        ...


class TokenStore(Protocol):
    async def create(
        self,
        user: str,
        *,
        kind: TokenKind = "api",
        ttl_s: float | None = None,
        label: str = "",
        now: float,
    ) -> IssuedToken:
        """Mint a token for an existing user (``UserError`` otherwise)."""
        ...

    async def verify(self, secret: str, *, kinds: Iterable[TokenKind], now: float) -> User | None:
        """The user a live, unrevoked token of one of ``kinds`` belongs to, else None.

        A ``signin`` token is consumed: it verifies once. ``last_used_at`` is updated.
        """
        ...

    async def revoke(self, token_id: str) -> bool:
        """Revoke by id (the ``cp_<id>_`` part, as ``list`` shows it); False if unknown."""
        ...

    async def revoke_user(self, user: str, *, kinds: Iterable[TokenKind] = TOKEN_KINDS) -> int:
        ...

    async def list(self, *, user: str | None = None) -> list[TokenInfo]:
        """Tokens by creation time, revoked and expired ones included."""
        ...
