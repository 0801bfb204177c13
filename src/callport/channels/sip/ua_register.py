"""Registration part of the user agent: keep AORs bound at a registrar (RFC 3261 §10).

A registrar host may resolve to several addresses (RFC 3263); a REGISTER that times out
(Timer F, ``UaConfig.target_timeout``) or is answered 503 goes to the next one at once
(``TargetFailed``). When every address failed, the binding backs off and the next attempt
starts again from the best address.
"""

from __future__ import annotations

import logging

from callport.channels.sip.events import Addr, RegistrationChanged, SipEvent, TargetFailed
from callport.channels.sip.message import SipResponse
from callport.channels.sip.registration import Registration
from callport.channels.sip.ua_core import UaCore

log = logging.getLogger(__name__)


class Registrations:
    """REGISTER client transactions driven by :class:`Registration` state machines."""

    def __init__(self, *, core: UaCore) -> None:
        self.core = core
        self.bindings: dict[str, tuple[Registration, Addr]] = {}  # aor -> (state, in use)
        self._targets: dict[str, tuple[Addr, ...]] = {}  # aor -> every address, best first

    def register(self, aor: str, *, registrar: Addr, now: float, expires: int = 300,
                 credentials: tuple[str, str] | None = None,
                 fallbacks: tuple[Addr, ...] = ()) -> list[SipEvent]:
        """Keep ``aor`` (sip:user@domain) bound to our Contact at ``registrar`` (or, should
        it fail, at the ``fallbacks`` in order)."""
        domain = aor.split("@", 1)[-1]
        reg = Registration(aor=aor, registrar=f"sip:{domain}", contact=self.core.contact,
                           credentials=credentials, expires=expires)
        self.bindings[aor] = (reg, registrar)
        self._targets[aor] = (registrar, *fallbacks)
        return self.refresh(aor, now)

    def unregister(self, aor: str, now: float) -> list[SipEvent]:
        if aor not in self.bindings:
            return []
        reg, addr = self.bindings[aor]
        req = reg.request(self.core.via(), unregister=True)
        return self.core.start_client(req, addr, f"reg:{aor}", now)

    def refresh(self, aor: str, now: float) -> list[SipEvent]:
        reg, addr = self.bindings[aor]
        return self.core.start_client(reg.request(self.core.via()), addr, f"reg:{aor}", now,
                                      timeout=self.core.config.target_timeout)

    def _next_target(self, aor: str, status: int, now: float) -> list[SipEvent] | None:
        """Move to the address after the one that failed; None when it was the last."""
        reg, failed = self.bindings[aor]
        targets = self._targets.get(aor, ())
        index = targets.index(failed) + 1 if failed in targets else len(targets)
        if index >= len(targets):
            if targets:  # all failed: the retry after the back-off starts from the best
                self.bindings[aor] = (reg, targets[0])
            return None
        self.bindings[aor] = (reg, targets[index])
        log.info("SIP REGISTER %s: registrar %s:%d %s; trying %s:%d (RFC 3263 failover)",
                 aor, *failed, "timed out" if status == 408 else f"failed with {status}",
                 *targets[index])
        return [TargetFailed(f"reg:{aor}", failed, status, targets[index]),
                *self.refresh(aor, now)]

    def on_response(self, aor: str, resp: SipResponse, now: float) -> list[SipEvent]:
        if aor not in self.bindings or resp.status < 200:
            return []
        reg, _ = self.bindings[aor]
        if resp.status == 503:
            moved = self._next_target(aor, 503, now)
            if moved is not None:
                return moved
        if reg.on_response(resp, now):
            return self.refresh(aor, now)
        return [RegistrationChanged(aor, reg.state, resp.status, reg.granted)]

    def deadline(self) -> float | None:
        due = [reg.next_at for reg, _ in self.bindings.values() if reg.next_at is not None]
        return min(due) if due else None

    def on_timer(self, now: float) -> list[SipEvent]:
        """REGISTERs that are due (refresh before expiry, or retry after a failure)."""
        out: list[SipEvent] = []
        for aor, (reg, _addr) in list(self.bindings.items()):
            if reg.next_at is not None and reg.next_at <= now:
                out += self.refresh(aor, now)
        return out

    def timed_out(self, aor: str, now: float, *, status: int = 408) -> list[SipEvent]:
        """Timer F fired on a REGISTER (408) or the transport failed (503): the next
        registrar address, else back off and report it."""
        if aor not in self.bindings:
            return []
        moved = self._next_target(aor, status, now)
        if moved is not None:
            return moved
        reg, _ = self.bindings[aor]
        reg.fail(now)
        return [RegistrationChanged(reg.aor, reg.state, status)]
