"""Short-lived session tokens: HMAC-SHA256 signed, bound to the page's origin.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
``v1|<expiry unix seconds>|<nonce>|<origin>``. The page fetches one from the token endpoint
(same origin only) and presents it when it opens the WebSocket or posts a WebRTC offer.
Pure: the secret and ``now`` are arguments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

VERSION = "v1"


class TokenError(ValueError):
    """The presented token is malformed, forged, expired or for another origin."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSigner:
    secret: bytes
    ttl_s: float

    @classmethod
    def from_setting(cls, *, secret: str, ttl_s: float) -> TokenSigner:
        """An empty secret means a random per-process one (tokens die with the process)."""
        key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        return cls(secret=key, ttl_s=ttl_s)

    def issue(self, *, origin: str, now: float, nonce: str | None = None) -> str:
        nonce = nonce if nonce is not None else secrets.token_hex(8)
        payload = f"{VERSION}|{int(now + self.ttl_s)}|{nonce}|{origin}".encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str, *, origin: str, now: float) -> str:
        """Return the token's nonce, or raise TokenError."""
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
            version, expiry, nonce, bound = payload.decode("utf-8").split("|", 3)
            expires = int(expiry)
        except ValueError:
            raise TokenError("malformed token") from None
        if version != VERSION:
            raise TokenError(f"unsupported token version {version!r}")
        if now >= expires:
            raise TokenError("token expired")
        if bound != origin:
            raise TokenError("token was issued to another origin")
        return nonce

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()


def origin_allowed(origin: str | None, *, host: str, secure: bool,
                   allowed: tuple[str, ...]) -> bool:
    """Is a request's ``Origin`` header acceptable?

    With no configured ``allowed`` origins only the page's own origin passes (the origin the
    request was addressed to: scheme plus ``Host``). ``*`` in ``allowed`` accepts any origin.
    A missing Origin (not a browser) is refused: browsers always send one on WebSocket
    handshakes and on POSTs.
    """
    if not origin or origin == "null":
        return False
    origin = origin.rstrip("/").lower()
    if allowed:
        return "*" in allowed or origin in {a.rstrip("/").lower() for a in allowed}
    own = f"{'https' if secure else 'http'}://{host.lower()}"
    return origin == own
