"""REGISTER client (RFC 3261 §10): binding refresh, digest, 423 Min-Expires, back-off.

Pure state: the UA builds and sends the requests this object describes and feeds back
final responses; ``next_at`` is when the next REGISTER is due (refresh or retry).
"""

from __future__ import annotations

import secrets

from callport.channels.sip.auth import authorization
from callport.channels.sip.message import NameAddr, SipRequest, SipResponse

MIN_BACKOFF = 30.0
MAX_BACKOFF = 600.0


class Registration:
    def __init__(self, *, aor: str, registrar: str, contact: str,
                 credentials: tuple[str, str] | None, expires: int = 300) -> None:
        self.aor = aor  # sip:user@domain
        self.registrar = registrar  # Request-URI, sip:domain
        self.contact = contact
        self.credentials = credentials
        self.expires = expires
        self.call_id = secrets.token_hex(12)
        self.tag = secrets.token_hex(5)
        self.cseq = 0
        self.state = "idle"  # registering, registered, failed, unregistered
        self.next_at: float | None = 0.0
        self.granted = 0
        self.backoff = MIN_BACKOFF
        self._auth: tuple[str, str] | None = None
        self._auth_tries = 0

    def request(self, via: str, *, unregister: bool = False) -> SipRequest:
        self.cseq += 1
        self.state = "registering"
        self.next_at = None
        expires = 0 if unregister else self.expires
        headers: list[tuple[str, str]] = [
            ("Via", via), ("Max-Forwards", "70"), ("From", f"<{self.aor}>;tag={self.tag}"),
            ("To", f"<{self.aor}>"), ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"), ("Contact", self.contact),
            ("Expires", str(expires)),
        ]
        if self._auth is not None:
            headers.append(self._auth)
        return SipRequest(method="REGISTER", uri=self.registrar, headers=tuple(headers))

    def on_response(self, resp: SipResponse, now: float) -> bool:
        """Feed a final response; True when a new REGISTER should go out right away."""
        status = resp.status
        if 200 <= status < 300:
            self.granted = self._granted(resp)
            self._auth_tries = 0
            self.backoff = MIN_BACKOFF
            if self.granted == 0:
                self.state = "unregistered"
                self.next_at = None
                return False
            self.state = "registered"
            self.next_at = now + max(self.granted / 2, 1.0)
            return False
        if status in (401, 407) and self.credentials and self._auth_tries < 2:
            header = resp.get("WWW-Authenticate" if status == 401 else "Proxy-Authenticate")
            user, password = self.credentials
            value = authorization(header or "", username=user, password=password,
                                  method="REGISTER", uri=self.registrar, nc=1)
            if value is not None:
                self._auth_tries += 1
                name = "Authorization" if status == 401 else "Proxy-Authorization"
                self._auth = (name, value)
                return True
        if status == 423:
            min_expires = resp.get("Min-Expires") or ""
            if min_expires.strip().isdigit() and int(min_expires) > self.expires:
                self.expires = int(min_expires)
                return True
        self.fail(now)
        return False

    def fail(self, now: float) -> None:
        self.state = "failed"
        self._auth = None
        self._auth_tries = 0
        self.next_at = now + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF)

    def _granted(self, resp: SipResponse) -> int:
        ours = NameAddr.parse(self.contact).uri
        for value in resp.get_all("Contact"):
            try:
                contact = NameAddr.parse(value)
            except ValueError:
                continue
            exp = contact.params.get("expires")
            if contact.uri == ours and exp and exp.isdigit():
                return int(exp)
        header = (resp.get("Expires") or "").strip()
        return int(header) if header.isdigit() else self.expires
