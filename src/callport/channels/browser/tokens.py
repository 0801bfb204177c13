"""Call tokens: short-lived, HMAC-SHA256 signed, bound to the page's origin and its session.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
``v2|<expiry unix seconds>|<nonce>|<session token id>|<user name>|<origin>``. A signed-in page
fetches one from the token endpoint (same origin, live session only) and presents it once when
it opens the WebSocket or posts a WebRTC offer; the channel checks that the request carries the
same live session and spends the nonce (``SpentNonces``), so a token starts at most one call.
Pure: the secret and ``now`` are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.store.live import SpentTokens

VERSION = "v2"
SESSION_COOKIE = "callport_session"  # the signed-in browser's cookie (a session token secret)


class TokenError(ValueError):
    """The presented token is malformed, forged, expired, spent or for another origin."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True, kw_only=True)
class CallToken:
    """What a verified token says: its nonce and expiry, and whose session it was issued to."""

    nonce: str
    expires: int
    session: str
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSigner:
    secret: bytes
    ttl_s: float

    @classmethod
    def from_setting(cls, *, secret: str, ttl_s: float) -> TokenSigner:
        """An empty secret means a random per-process one (tokens die with the process)."""
        key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        return cls(secret=key, ttl_s=ttl_s)

    def issue(self, *, origin: str, session: str, user: str, now: float,
              nonce: str | None = None) -> str:
        nonce = nonce if nonce is not None else secrets.token_hex(12)
        for name, value in (("nonce", nonce), ("session", session), ("user", user)):
            if not value or "|" in value:
                raise ValueError(f"token {name} must be non-empty and without '|'")
        fields = (VERSION, str(int(now + self.ttl_s)), nonce, session, user, origin)
        payload = "|".join(fields).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str, *, origin: str, now: float) -> CallToken:
        """The token's claims, or raise TokenError. Does not spend it (see ``SpentNonces``)."""
        if not token or len(token) > 1024 or token.count(".") != 1:
            raise TokenError("malformed token")
        body, sig = token.split(".")
        try:
            payload = _unb64(body)
            signature = _unb64(sig)
        except (ValueError, TypeError):
            raise TokenError("malformed token") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise TokenError("bad signature")
        try:
            version, rest = payload.decode("utf-8").split("|", 1)
        except ValueError:
            raise TokenError("malformed token") from None
        if version != VERSION:
            raise TokenError(f"unsupported token version {version!r}")
        try:
            expiry, nonce, session, user, bound = rest.split("|", 4)
            expires = int(expiry)
        except ValueError:
            raise TokenError("malformed token") from None
        if now >= expires:
            raise TokenError("token expired")
        if bound != origin:
            raise TokenError("token was issued to another origin")
        return CallToken(nonce=nonce, expires=expires, session=session, user=user)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()


@dataclass(slots=True, kw_only=True)
class SpentNonces:
    """The nonces of tokens already used, each kept until its token expires (then it could not
    be replayed anyway). Bounded: with ``max_size`` live nonces remembered, ``spend`` refuses
    further tokens until some expire, rather than forget one that could then be replayed."""

    max_size: int = 10_000
    _spent: dict[str, float] = field(default_factory=dict)

    def spend(self, token: CallToken, *, now: float) -> None:
        """Mark ``token`` used; raise TokenError if it already was (or memory is full)."""
        if token.nonce in self._spent:
            raise TokenError("token already used")
        if len(self._spent) >= self.max_size:
            self._purge(now)
            if len(self._spent) >= self.max_size:
                raise TokenError("too many live call tokens; try again shortly")
        self._spent[token.nonce] = float(token.expires)

    def _purge(self, now: float) -> None:
        self._spent = {n: exp for n, exp in self._spent.items() if exp > now}

    def __len__(self) -> int:
        return len(self._spent)


async def spend_once(spent: SpentTokens, token: CallToken, *, now: float) -> None:
    """Spend ``token`` in the shared ``SpentTokens`` (Redis across nodes); TokenError if it
    already was spent (on any node)."""
    if not await spent.spend(token.nonce, expires=float(token.expires), now=now):
        raise TokenError("token already used")


async def spend_for_session(spent: SpentTokens, claims: CallToken, *,
                            session: tuple[str, str] | None, now: float,
                            missing: str = "no live session") -> None:
    """Admit a verified call token for the live sign-in ``session`` ((token id, user name),
    None when there is none: TokenError ``missing``): it must have been issued to that very
    session and user, and it is spent once. The page's and the agent desk's one rule."""
    if session is None:
        raise TokenError(missing)
    if (claims.session, claims.user) != session:
        raise TokenError("token was issued to another session")
    await spend_once(spent, claims, now=now)


def origin_allowed(origin: str | None, *, host: str, secure: bool,
                   allowed: tuple[str, ...]) -> bool:
    """Is a request's ``Origin`` header acceptable?

    The page's own origin (the one the request was addressed to: scheme plus ``Host``) always
    passes, and so does any origin in ``allowed`` (``*`` in ``allowed`` accepts any origin).
    A missing Origin (not a browser) is refused: browsers always send one on WebSocket
    handshakes and on POSTs.
    """
    if not origin or origin == "null":
        return False
    origin = origin.rstrip("/").lower()
    own = f"{'https' if secure else 'http'}://{host.lower()}"
    if origin == own:
        return True
    return bool(allowed) and ("*" in allowed or origin in {a.rstrip("/").lower()
                                                           for a in allowed})
