"""Admission of a new INVITE (one outside any dialog) on the UAS side, sans-IO.

:class:`InviteAdmission` decides, in this order, whether a call may start: the source is in
``sip.allow_from`` (else 403), the digest credentials check out when ``auth_users`` are set
(else 401 with a fresh challenge; refusals counted as ``auth_refused``, logged within a
budget), every ``Require`` option is one we support (else 420), the RFC 4028 session interval
is acceptable (else 422 with our Min-SE), the source and the user agent are under their call
caps (else 503 Retry-After), and the body, if any, is an SDP offer we can answer (else
415/488). An admitted INVITE becomes an EARLY :class:`~callport.channels.sip.dialog.Dialog`
in the shared :class:`~callport.channels.sip.ua_core.UaCore` and an
:class:`~callport.channels.sip.events.IncomingCall`; in-dialog requests stay in
``ua_inbound``.
"""

from __future__ import annotations

import logging
import secrets

from callport.channels.sip.auth import DigestServer
from callport.channels.sip.dialog import Dialog, new_tag
from callport.channels.sip.events import Addr, IncomingCall, SipEvent
from callport.channels.sip.ids import call_ref
from callport.channels.sip.message import NameAddr, SipRequest, make_response
from callport.channels.sip.sdp import MediaPlan, SdpError, SessionDescription, negotiate, parse_sdp
from callport.channels.sip.session_timer import TimerPolicy, TooSmall, negotiate_uas
from callport.channels.sip.transaction import ServerInviteTransaction
from callport.channels.sip.trust import Networks, caller_identity
from callport.channels.sip.ua_core import UaCore
from callport.logs import LogBudget, safe

log = logging.getLogger(__name__)


class InviteAdmission:
    """The checks a new INVITE passes before it rings (RFC 3261 §8.2, §22; RFC 4028 §9)."""

    def __init__(self, *, core: UaCore, networks: Networks, log_budget: LogBudget) -> None:
        self.core = core
        config = core.config
        self._networks = networks
        self._digest = (DigestServer(realm=config.auth_realm, users=dict(config.auth_users))
                        if config.auth_users else None)
        self._log_budget = log_budget  # shared with ua_inbound: one budget of peer lines
        self._timers = TimerPolicy(session_expires=config.session_expires, min_se=config.min_se)

    def admit(self, req: SipRequest, tx: ServerInviteTransaction, addr: Addr,
              now: float) -> list[SipEvent]:
        """Answer ``req`` with the first refusal that applies, or start its dialog (100 Trying
        and ``IncomingCall``)."""
        if not self._networks.admits(addr):
            self.core.stats["rejected"] += 1
            return self.core.respond(tx, make_response(req, 403, to_tag=new_tag()), addr, now)
        authenticated = ""
        if self._digest is not None:
            header = req.get("Authorization")
            result = (self._digest.verify(header, method="INVITE", now=now)
                      if header else None)
            if result is None or not result.ok:
                if result is not None:
                    self.core.stats["auth_refused"] += 1  # a guesser: few lines, all counted
                    if self._log_budget.allow(now):
                        log.info("SIP digest from %s:%d refused: %s (%d more not logged)",
                                 *addr, safe(result.reason), self._log_budget.take_suppressed())
                stale = result is not None and result.stale
                challenge = self._digest.challenge(now, stale=stale)
                return self.core.respond(tx, make_response(
                    req, 401, to_tag=new_tag(), extra=(("WWW-Authenticate", challenge),)),
                    addr, now)
            authenticated = result.username
        unsupported = [opt for opt in _tokens(req.get_all("Require")) if opt not in {"timer"}]
        if unsupported:
            return self.core.respond(tx, make_response(
                req, 420, to_tag=new_tag(), extra=(("Unsupported", ", ".join(unsupported)),)),
                addr, now)
        timer = negotiate_uas(session_expires=req.get("Session-Expires"),
                              min_se=req.get("Min-SE"), supported=_tokens(req.get_all("Supported")),
                              policy=self._timers)
        if isinstance(timer, TooSmall):  # RFC 4028 §9
            return self.core.respond(tx, make_response(
                req, 422, to_tag=new_tag(), extra=(("Min-SE", str(timer.min_se)),)), addr, now)
        capped = (self.core.calls_from(addr[0]) >= self.core.config.max_calls_per_source
                  and not self._networks.contains(addr))
        if capped:
            self.core.stats["source_capped"] += 1  # callport_sip_source_capped_total
        if capped or len(self.core.dialogs) >= self.core.config.max_calls:
            return self.core.respond(tx, make_response(req, 503, to_tag=new_tag(),
                                                   extra=(("Retry-After", "5"),)), addr, now)
        offer: SessionDescription | None = None
        plan: MediaPlan | None = None
        if req.body:
            ctype = (req.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/sdp":
                return self.core.respond(tx, make_response(
                    req, 415, to_tag=new_tag(), extra=(("Accept", "application/sdp"),)),
                    addr, now)
            try:
                offer = parse_sdp(req.body)
                plan = negotiate(offer)
            except SdpError:
                return self.core.respond(tx, make_response(req, 488, to_tag=new_tag()), addr, now)
        contact = req.get("Contact")
        remote_target = NameAddr.parse(contact).uri if contact else req.uri
        tag = new_tag()
        key = f"{call_ref(req.call_id)}|{tag}"  # bounded, printable: logs and records use it
        dialog = Dialog(
            key=key, role="uas", call_id=req.call_id, local_tag=tag,
            local=req.get("To") or "", remote=req.get("From") or "",
            remote_target=remote_target, peer=addr,
            route_set=req.get_all("Record-Route"), remote_cseq=req.cseq[0], invite=req,
            server_tx=tx, offer=offer, plan=plan, sdp_session=secrets.randbelow(2**31),
            trusted=self._networks.contains(addr), authenticated=authenticated,
            timer_plan=timer,
            peer_allows_update="update" in _tokens(",".join(req.get_all("Allow")).split(",")),
        )
        self.core.dialogs[key] = dialog
        self.core.by_id[(req.call_id, tag)] = key
        out = self.core.respond(tx, make_response(req, 100), addr, now)
        caller = caller_identity(from_header=req.get("From"),
                                 asserted=req.get_all("P-Asserted-Identity"),
                                 trusted=dialog.trusted)
        callee = NameAddr.parse(req.get("To") or "").uri
        out.append(IncomingCall(key=key, caller=caller, callee=callee, plan=plan, source=addr,
                                trusted=dialog.trusted, authenticated=authenticated))
        return out


def _tokens(values: list[str]) -> list[str]:
    return [v.strip().lower() for v in values if v.strip()]
