"""callport as the registrar for human agents' SIP phones (RFC 3261 §10.3), sans-IO.

A desk phone or softphone REGISTERs with the agent's user name and password; ``Registrar``
answers each REGISTER with one response and keeps the bindings in a ``Location``:

1. Digest authentication (RFC 3261 §22, RFC 7616 / RFC 8760 algorithms, ``qop=auth``, nonce
   counts, expiring nonces): no ``Authorization`` -> 401 with a challenge; an answer for an
   expired nonce -> 401 ``stale=true`` (the phone answers again without asking anyone); a
   wrong password, an unknown user or a user who is not an agent -> 403 (the same response
   for all three, so a scanner learns nothing). The keys are the agents' ``DigestKeys``
   (``callport.store.users``), handed in with ``set_agents``: only users with the ``agent``
   role and a password have any.
2. The address of record (the To URI) must be the authenticated agent's own (``sip:alice@...``
   for ``alice``), else 403: an agent cannot register someone else's phone.
3. Contacts (§10.3 steps 6-8): ``expires`` per contact, else the ``Expires`` header, else
   ``default_expires``; below ``min_expires`` -> 423 with ``Min-Expires`` (nothing changes);
   above ``max_expires`` it is shortened; 0 removes that binding; ``Contact: *`` with
   ``Expires: 0`` removes them all. A REGISTER with the same Call-ID as a binding and a CSeq
   not higher than the binding's is out of order -> 500 (step 7). No Contact: a query.
4. The 200 lists every live binding of the AOR with its remaining ``expires``.

Bindings expire on their own (``expire(now)``, driven by the UA's timer), and an agent taken
out of ``set_agents`` (removed, no longer an agent) loses every binding at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callport.channels.sip.auth import DigestServer, parse_digest
from callport.channels.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    make_response,
)
from callport.channels.sip.registrar_bindings import Binding, Location
from callport.store.users import DIGEST_REALM, DigestKeys

log = logging.getLogger(__name__)

Addr = tuple[str, int]

__all__ = ["RegisterResult", "Registrar", "RegistrarPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarPolicy:
    realm: str = DIGEST_REALM  # the agents' DigestKeys are made for this realm
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    algorithms: tuple[str, ...] = ("MD5",)  # challenged in this order (RFC 8760 §2.4)
    nonce_lifetime_s: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterResult:
    """The response to send, and what happened: ``agent`` is the authenticated agent ("" when
    refused), ``refused`` says why it was refused (for the log; never sent), ``bindings`` how
    many live bindings the agent has now."""

    response: SipResponse
    agent: str = ""
    refused: str = ""
    bindings: int = 0


class Registrar:
    def __init__(self, *, policy: RegistrarPolicy | None = None,
                 location: Location | None = None, secret: bytes | None = None) -> None:
        self.policy = policy or RegistrarPolicy()
        self.location = location or Location()
        self._keys: dict[str, DigestKeys] = {}
        self._digest = DigestServer(realm=self.policy.realm, keys=self._ha1, secret=secret,
                                    lifetime=self.policy.nonce_lifetime_s)
        self.stats = {"registered": 0, "refused": 0, "challenged": 0}
        # Told the name in a REGISTER from a user it has no keys for (the driver reloads).
        self.on_unknown: Callable[[str], None] | None = None

    # ---- agents ------------------------------------------------------------------------------
    def set_agents(self, keys: Mapping[str, DigestKeys]) -> list[str]:
        """The agents who may register now (name -> keys). Agents no longer listed lose their
        bindings; returns their names."""
        self._keys = dict(keys)
        gone = [a for a in self.location.agents(float("-inf")) if a not in self._keys]
        for agent in gone:
            self.location.remove_agent(agent)
        return gone

    def _ha1(self, user: str, algorithm: str) -> str | None:
        keys = self._keys.get(user)
        return keys.for_algorithm(algorithm) if keys is not None else None

    def knows(self, agent: str) -> bool:
        return agent in self._keys

    def contacts(self, agent: str, now: float) -> list[Binding]:
        return self.location.bindings(agent, now)

    def online(self, agent: str, now: float) -> bool:
        return bool(self.location.bindings(agent, now))

    def expire(self, now: float) -> list[Binding]:
        gone = self.location.expire(now)
        for b in gone:
            log.info("SIP registrar: %s's binding %s expired", b.agent, b.contact)
        return gone

    def deadline(self) -> float | None:
        return self.location.next_expiry()

    # ---- REGISTER ----------------------------------------------------------------------------
    def handle(self, req: SipRequest, *, source: Addr, transport: str,
               now: float) -> RegisterResult:
        header = req.get("Authorization")
        if not header:
            return self._challenge(req, now, stale=False)
        result = self._digest.verify(header, method="REGISTER", now=now)
        if not result.ok:
            if result.stale:
                return self._challenge(req, now, stale=True)
            user = parse_digest(header).get("username", "")
            if user and not self.knows(user) and self.on_unknown is not None:
                self.on_unknown(user[:64])
            return self._refuse(req, 403, f"digest refused: {result.reason}")
        agent = result.username
        try:
            aor = SipUri.parse(NameAddr.parse(req.get("To") or "").uri)
        except SipParseError:
            return self._refuse(req, 400, "unreadable To")
        if aor.scheme not in ("sip", "sips") or aor.user != agent:
            return self._refuse(req, 403, f"{agent} may not register {aor}")
        return self._bind(req, agent, source=source, transport=transport, now=now)

    def _challenge(self, req: SipRequest, now: float, *, stale: bool) -> RegisterResult:
        self.stats["challenged"] += 1
        extra = tuple(("WWW-Authenticate", self._digest.challenge(now, stale=stale, algorithm=a))
                      for a in self.policy.algorithms)
        return RegisterResult(response=make_response(req, 401, to_tag=_tag(req), extra=extra),
                              refused="no credentials yet" if not stale else "stale nonce")

    def _refuse(self, req: SipRequest, status: int, why: str,
                extra: tuple[tuple[str, str], ...] = ()) -> RegisterResult:
        self.stats["refused"] += 1
        log.info("SIP registrar: REGISTER %s refused (%d): %s", req.get("To"), status, why)
        return RegisterResult(response=make_response(req, status, to_tag=_tag(req), extra=extra),
                              refused=why)

    def _bind(self, req: SipRequest, agent: str, *, source: Addr, transport: str,
              now: float) -> RegisterResult:
        p = self.policy
        header = (req.get("Expires") or "").strip()
        if header and not header.isdigit():
            return self._refuse(req, 400, f"bad Expires {header!r}")
        default = min(int(header), 2**31) if header else p.default_expires
        contacts = [c.strip() for c in req.get_all("Contact") if c.strip()]
        if "*" in contacts:
            if len(contacts) != 1 or default != 0:
                return self._refuse(req, 400, "Contact: * needs Expires: 0 and no other Contact")
            removed = self.location.remove_agent(agent)
            log.info("SIP registrar: %s un-registered every contact (%d)", agent, removed)
            return self._ok(req, agent, now)
        wanted: list[tuple[str, int]] = []
        for text in contacts:
            try:
                contact = NameAddr.parse(text)
                SipUri.parse(contact.uri)
            except SipParseError:
                return self._refuse(req, 400, f"bad Contact {text[:80]!r}")
            value = contact.params.get("expires")
            if value is not None and not value.strip().isdigit():
                return self._refuse(req, 400, f"bad expires in Contact {text[:80]!r}")
            expires = int(value) if value is not None else default
            if 0 < expires < p.min_expires:
                return self._refuse(req, 423, f"expires {expires} < {p.min_expires}",
                                    extra=(("Min-Expires", str(p.min_expires)),))
            wanted.append((contact.uri, min(expires, p.max_expires)))
        call_id, cseq = req.call_id, req.cseq[0]
        for uri, _ in wanted:  # §10.3 step 7: all or nothing
            old = self.location.find(agent, uri)
            if old is not None and old.call_id == call_id and cseq <= old.cseq:
                return self._refuse(req, 500, f"out-of-order CSeq {cseq} (have {old.cseq})")
        for uri, expires in wanted:
            old = self.location.find(agent, uri)
            if expires == 0:
                if self.location.remove(agent, uri):
                    log.info("SIP registrar: %s un-registered %s", agent, uri)
                continue
            self.location.put(Binding(
                agent=agent, contact=uri, source=source, transport=transport,
                expires_at=now + expires, call_id=call_id, cseq=cseq, registered_at=now,
                user_agent=(req.get("User-Agent") or "")[:100]))
            if old is None:
                log.info("SIP registrar: %s registered %s from %s:%d/%s for %d s",
                         agent, uri, *source, transport, expires)
        if wanted:
            self.stats["registered"] += 1
        return self._ok(req, agent, now)

    def _ok(self, req: SipRequest, agent: str, now: float) -> RegisterResult:
        live = self.location.bindings(agent, now)
        extra = tuple(("Contact", f"<{b.contact}>;expires={b.remaining(now)}") for b in live)
        return RegisterResult(response=make_response(req, 200, to_tag=_tag(req), extra=extra),
                              agent=agent, bindings=len(live))


def _tag(req: SipRequest) -> str:
    """A To tag derived from the request, so a retransmitted REGISTER's answer is identical."""
    return hashlib.sha256(f"{req.call_id}|{req.cseq[0]}".encode()).hexdigest()[:10]
