"""HTTP digest for SIP (RFC 3261 §22, RFC 2617 / RFC 7616 MD5 and SHA-256, qop=auth).

Client: ``authorization(challenge_header, ...)`` answers a 401/407 challenge.
Server: ``DigestServer`` issues nonces bound to time (an argument) and verifies answers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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
    ok: bool
    username: str = ""
    stale: bool = False


class DigestServer:
    """Stateless nonces: ``time-hex:hmac(secret, time)``, valid for ``lifetime`` seconds."""

    def __init__(self, *, realm: str, users: dict[str, str], secret: bytes | None = None,
                 lifetime: float = 30.0) -> None:
        self.realm = realm
        self.users = users
        self._secret = secret or secrets.token_bytes(16)
        self.lifetime = lifetime

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def challenge(self, now: float, *, stale: bool = False) -> str:
        stamp = f"{int(now * 1000):x}"
        nonce = f"{stamp}.{self._sign(stamp)}"
        text = f'Digest realm="{self.realm}", nonce="{nonce}", qop="auth", algorithm=MD5'
        return text + (", stale=true" if stale else "")

    def verify(self, header: str, *, method: str, now: float) -> AuthResult:
        params = parse_digest(header)
        user = params.get("username", "")
        nonce = params.get("nonce", "")
        stamp, _, sig = nonce.partition(".")
        if not user or user not in self.users or params.get("realm") != self.realm:
            return AuthResult(False)
        if not hmac.compare_digest(sig, self._sign(stamp)):
            return AuthResult(False)
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return AuthResult(False)
        alg = params.get("algorithm", "MD5").upper()
        if alg not in _ALGS:
            return AuthResult(False)
        qop = params.get("qop") or None
        expected = digest_response(
            alg=alg, username=user, realm=self.realm, password=self.users[user], method=method,
            uri=params.get("uri", ""), nonce=nonce, qop=qop, nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""))
        if not hmac.compare_digest(expected, params.get("response", "")):
            return AuthResult(False)
        if now - issued > self.lifetime or now < issued - 1:
            return AuthResult(False, user, stale=True)
        return AuthResult(True, user)
