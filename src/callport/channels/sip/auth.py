"""HTTP digest for SIP (RFC 3261 §22, RFC 2617 / RFC 7616 MD5 and SHA-256, qop=auth).

Client: ``authorization(challenge_header, ...)`` answers a 401/407 challenge.
Server: ``DigestServer`` issues nonces bound to time (an argument) and verifies answers
(qop=auth required, nonce counts tracked against replay, expiring nonces, bounded memory).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from callport.channels.sip.message import split_list

_ALGS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_digest(header: str) -> dict[str, str]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> {realm: x, nonce: y, qop: auth}."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    out: dict[str, str] = {}
    for part in split_list(rest):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out[name.strip().lower()] = value
    return out


def _h(alg: str, text: str) -> str:
    return _ALGS[alg](text.encode()).hexdigest()


def digest_response(*, alg: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, qop: str | None, nc: str, cnonce: str) -> str:
    ha1 = _h(alg, f"{username}:{realm}:{password}")
    return response_from_ha1(alg=alg, ha1=ha1, method=method, uri=uri, nonce=nonce, qop=qop,
                             nc=nc, cnonce=cnonce)


def response_from_ha1(*, alg: str, ha1: str, method: str, uri: str, nonce: str,
                      qop: str | None, nc: str, cnonce: str) -> str:
    """The digest ``response`` from H(A1) (a server that keeps H(A1), not the password)."""
    ha2 = _h(alg, f"{method}:{uri}")
    if qop:
        return _h(alg, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(alg, f"{ha1}:{nonce}:{ha2}")


def authorization(challenge: str, *, username: str, password: str, method: str, uri: str,
                  cnonce: str | None = None, nc: int = 1) -> str | None:
    """The Authorization / Proxy-Authorization value answering ``challenge`` (None: can't)."""
    params = parse_digest(challenge)
    alg = params.get("algorithm", "MD5").upper()
    if alg not in _ALGS or "nonce" not in params:
        return None
    realm = params.get("realm", "")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in qops else None
    if qops and qop is None:
        return None  # auth-int only
    cnonce = cnonce or secrets.token_hex(8)
    ncs = f"{nc:08x}"
    resp = digest_response(alg=alg, username=username, realm=realm, password=password,
                           method=method, uri=uri, nonce=params["nonce"], qop=qop, nc=ncs,
                           cnonce=cnonce)
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{params["nonce"]}"',
             f'uri="{uri}"', f'response="{resp}"', f"algorithm={alg}"]
    if qop:
        parts += [f"qop={qop}", f"nc={ncs}", f'cnonce="{cnonce}"']
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """``ok``: accepted. Otherwise ``stale`` means the answer was right for a nonce that has
    expired (challenge again with ``stale=true``: the client retries without asking for a
    password); ``reason`` says why it was refused (logs and tests)."""

    ok: bool
    username: str = ""
    stale: bool = False
    reason: str = ""


@dataclass(slots=True)
class _Nonce:
    issued: float
    nc: int = 0  # highest nonce-count accepted so far (0: none yet)


class DigestServer:
    """Digest challenges and verification with replay protection (RFC 7616 §3.3-§3.4, §5.9).

    Every challenge offers ``qop="auth"`` and every answer must use it: a response without
    ``qop``, ``nc`` and ``cnonce`` is refused. A nonce is ``stamp.random.hmac`` (forgeries
    are refused) and lives ``lifetime`` seconds; the highest ``nc`` accepted per nonce is
    kept, so an answer whose ``nc`` is not higher (a replayed request) is refused. At most
    ``max_nonces`` nonces are remembered; the oldest is forgotten first, and an answer for a
    forgotten or expired nonce gets ``stale`` (a fresh challenge, ``stale=true``).

    ``users`` maps names to passwords; ``keys`` (instead, or as well) looks up H(A1) for
    ``(name, algorithm)`` (None: no such user), for a server that never sees passwords.
    """

    def __init__(self, *, realm: str, users: dict[str, str] | None = None,
                 keys: Callable[[str, str], str | None] | None = None,
                 secret: bytes | None = None, lifetime: float = 30.0,
                 max_nonces: int = 1024) -> None:
        self.realm = realm
        self.users = users or {}
        self._keys = keys
        self._secret = secret or secrets.token_bytes(16)
        self.lifetime = lifetime
        self.max_nonces = max_nonces
        self._nonces: dict[str, _Nonce] = {}  # insertion order = issue order

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def nonces(self) -> int:
        """How many nonces are remembered now (bounded by ``max_nonces``)."""
        return len(self._nonces)

    def _ha1(self, user: str, alg: str) -> str | None:
        if user in self.users:
            return _h(alg, f"{user}:{self.realm}:{self.users[user]}")
        return self._keys(user, alg) if self._keys is not None else None

    def challenge(self, now: float, *, stale: bool = False, algorithm: str = "MD5") -> str:
        self._forget_expired(now)
        stamp = f"{int(now * 1000):x}.{secrets.token_hex(6)}"
        nonce = f"{stamp}.{self._sign(stamp)}"
        self._nonces[nonce] = _Nonce(issued=now)
        while len(self._nonces) > self.max_nonces:
            del self._nonces[next(iter(self._nonces))]
        text = (f'Digest realm="{self.realm}", nonce="{nonce}", qop="auth", '
                f"algorithm={algorithm}")
        return text + (", stale=true" if stale else "")

    def _forget_expired(self, now: float) -> None:
        while self._nonces:
            nonce, state = next(iter(self._nonces.items()))
            if now - state.issued <= self.lifetime:
                return
            del self._nonces[nonce]

    def verify(self, header: str, *, method: str, now: float) -> AuthResult:
        params = parse_digest(header)
        user = params.get("username", "")
        nonce = params.get("nonce", "")
        stamp, _, sig = nonce.rpartition(".")
        alg = params.get("algorithm", "MD5").upper()
        ha1 = self._ha1(user, alg) if user and alg in _ALGS else None
        if ha1 is None or params.get("realm") != self.realm:
            return AuthResult(False, reason="unknown user or realm")
        if not stamp or not hmac.compare_digest(sig, self._sign(stamp)):
            return AuthResult(False, reason="not our nonce")
        qop, nc_text, cnonce = params.get("qop", ""), params.get("nc", ""), params.get("cnonce")
        if qop.lower() != "auth" or not cnonce or not _is_nc(nc_text):
            return AuthResult(False, user, reason="qop=auth with nc and cnonce required")
        expected = response_from_ha1(
            alg=alg, ha1=ha1, method=method, uri=params.get("uri", ""), nonce=nonce, qop=qop,
            nc=nc_text, cnonce=cnonce)
        if not hmac.compare_digest(expected, params.get("response", "")):
            return AuthResult(False, user, reason="wrong response")
        state = self._nonces.get(nonce)
        if state is None or now - state.issued > self.lifetime or now < state.issued:
            self._nonces.pop(nonce, None)
            return AuthResult(False, user, stale=True, reason="nonce expired")
        nc = int(nc_text, 16)
        if nc <= state.nc:
            return AuthResult(False, user, reason=f"nonce count {nc} replayed (seen {state.nc})")
        state.nc = nc
        return AuthResult(True, user)


def _is_nc(text: str) -> bool:
    """RFC 7616: ``nc`` is exactly 8 hex digits, counting from 1."""
    return (len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text)
            and int(text, 16) > 0)
