"""Registration part of the user agent: keep AORs bound at a registrar (RFC 3261 §10)."""

from __future__ import annotations

from callport.channels.sip.events import Addr, RegistrationChanged, SipEvent
from callport.channels.sip.message import SipResponse
from callport.channels.sip.registration import Registration
from callport.channels.sip.ua_core import UaCore


class Registrations(UaCore):
    """REGISTER client transactions driven by :class:`Registration` state machines."""

    def register(self, aor: str, *, registrar: Addr, now: float, expires: int = 300,
                 credentials: tuple[str, str] | None = None) -> list[SipEvent]:
        """Keep ``aor`` (sip:user@domain) bound to our Contact at ``registrar``."""
        domain = aor.split("@", 1)[-1]
        reg = Registration(aor=aor, registrar=f"sip:{domain}", contact=self.contact,
                           credentials=credentials, expires=expires)
        self.registrations[aor] = (reg, registrar)
        return self._send_register(aor, now)

    def unregister(self, aor: str, now: float) -> list[SipEvent]:
        if aor not in self.registrations:
            return []
        reg, addr = self.registrations[aor]
        req = reg.request(self._via(), unregister=True)
        return self._start_client(req, addr, f"reg:{aor}", now)

    def _send_register(self, aor: str, now: float) -> list[SipEvent]:
        reg, addr = self.registrations[aor]
        return self._start_client(reg.request(self._via()), addr, f"reg:{aor}", now)

    def _register_response(self, aor: str, resp: SipResponse, now: float) -> list[SipEvent]:
        if aor not in self.registrations or resp.status < 200:
            return []
        reg, _ = self.registrations[aor]
        if reg.on_response(resp, now):
            return self._send_register(aor, now)
        return [RegistrationChanged(aor, reg.state, resp.status, reg.granted)]
