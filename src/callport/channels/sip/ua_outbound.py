"""Outbound side of the user agent: ``invite`` (with digest retry), answers and ACK,
``CANCEL``, blind transfer with ``refer``.

Target failover (RFC 3263 §4.3): ``invite`` takes the ordered addresses a trunk host resolved
to; when the INVITE to one times out (Timer B, ``UaConfig.target_timeout``) or is answered
503, a new INVITE (new branch, next CSeq, same Call-ID and tags) goes to the next one and a
``TargetFailed`` event says so. Only when none is left does the call end (``CallEnded`` with
the last status).
"""

from __future__ import annotations

import logging
import secrets

from callport.channels.sip import requests as rq
from callport.channels.sip.auth import authorization
from callport.channels.sip.dialog import Dialog, DialogState, new_tag, target_addr
from callport.channels.sip.events import (
    Addr,
    CallAnswered,
    CallProgress,
    SipEvent,
    TargetFailed,
    Transmit,
)
from callport.channels.sip.message import NameAddr, SipRequest, SipResponse, Via
from callport.channels.sip.sdp import MediaPlan, SdpError, build_offer, negotiate, parse_sdp
from callport.channels.sip.session_timer import (
    MIN_SE_FLOOR,
    SessionTimer,
    parse_session_expires,
)
from callport.channels.sip.transaction import ClientInviteTransaction, ClientNonInviteTransaction
from callport.channels.sip.ua_core import ClientCtx, UaCore

log = logging.getLogger(__name__)


class OutboundCalls:
    """UAC dialogs (RFC 3261 §13.2, §9.1; RFC 3515 REFER) on the shared core."""

    def __init__(self, *, core: UaCore) -> None:
        self.core = core

    def stray_response(self, resp: SipResponse) -> list[SipEvent]:
        """A 2xx retransmission after the INVITE transaction ended: re-send our ACK."""
        _num, method = resp.cseq
        if method != "INVITE" or not 200 <= resp.status < 300:
            return []
        key = self.core.by_id.get((resp.call_id, resp.from_tag))
        dialog = self.core.dialogs.get(key) if key else None
        if dialog is None or dialog.ack is None:
            return []
        return [Transmit(dialog.ack, dialog.next_hop())]

    def invite_response(self, dialog: Dialog, resp: SipResponse, now: float) -> list[SipEvent]:
        status = resp.status
        if status < 200:
            plan = self._answer_plan(resp)
            return [CallProgress(dialog.key, status, plan)] if status > 100 else []
        if status < 300:
            return self._answered(dialog, resp, now)
        if status in (401, 407) and dialog.credentials and dialog.auth_tries < 2:
            header = resp.get("WWW-Authenticate" if status == 401 else "Proxy-Authenticate")
            user, password = dialog.credentials
            assert dialog.invite is not None
            value = authorization(header or "", username=user, password=password,
                                  method="INVITE", uri=dialog.invite.uri)
            if value is not None:
                dialog.auth_tries += 1
                name = "Authorization" if status == 401 else "Proxy-Authorization"
                return self._send_invite(dialog, now, auth=(name, value))
        if status == 503 and dialog.fallbacks:
            return self._next_target(dialog, status, now)
        return self.core.end(dialog, "failed", status=status, phrase=resp.reason)

    def timed_out(self, dialog: Dialog, now: float, *, status: int = 408) -> list[SipEvent]:
        """Timer B fired on our INVITE (408), or the transport failed (503): the next target,
        else the call fails with that status."""
        if dialog.fallbacks and dialog.state is DialogState.EARLY:
            return self._next_target(dialog, status, now)
        return self.core.end(dialog, "timeout" if status == 408 else "unreachable",
                             status=status)

    def _next_target(self, dialog: Dialog, status: int, now: float) -> list[SipEvent]:
        failed, dialog.peer = dialog.peer, dialog.fallbacks.pop(0)
        dialog.auth_tries = 0
        log.info("SIP %s: target %s:%d %s; trying %s:%d (RFC 3263 failover, %d more left)",
                 dialog.key, *failed, "timed out" if status == 408 else f"failed with {status}",
                 *dialog.peer, len(dialog.fallbacks))
        return [TargetFailed(dialog.key, failed, status, dialog.peer),
                *self._send_invite(dialog, now)]

    def _answer_plan(self, resp: SipResponse) -> MediaPlan | None:
        if not resp.body:
            return None
        try:
            return negotiate(parse_sdp(resp.body), remote_is_offerer=False)
        except SdpError:
            return None

    def _answered(self, dialog: Dialog, resp: SipResponse, now: float) -> list[SipEvent]:
        dialog.remote = resp.get("To") or dialog.remote
        contact = resp.get("Contact")
        if contact:
            dialog.remote_target = NameAddr.parse(contact).uri
        dialog.route_set = list(reversed(resp.get_all("Record-Route")))
        self.core.by_id[(dialog.call_id, dialog.local_tag)] = dialog.key
        plan = self._answer_plan(resp)
        ack = dialog.request("ACK", via=self.core.via(), contact=self.core.contact,
                             cseq=resp.cseq[0])
        dialog.ack = bytes(ack)
        out: list[SipEvent] = [Transmit(dialog.ack, dialog.next_hop())]
        if dialog.state is not DialogState.EARLY:
            return out
        if plan is None:
            dialog.state = DialogState.CONFIRMED
            return out + self.core.bye(dialog, now, reason="no-answer-sdp")
        dialog.state = DialogState.CONFIRMED
        dialog.plan = plan
        self._session_timer(dialog, resp, now)
        return [*out, CallAnswered(dialog.key, plan)]

    def _session_timer(self, dialog: Dialog, resp: SipResponse, now: float) -> None:
        """RFC 4028 §7.2: the 2xx's Session-Expires (none: no timer) and who refreshes
        (refresher=uac: us; else the UAS, and we only watch for its refreshes)."""
        asked = parse_session_expires(resp.get("Session-Expires"))
        if asked is None or not self.core.config.session_expires:
            return
        interval, refresher = asked
        interval = max(interval, MIN_SE_FLOOR)
        dialog.peer_allows_update = "UPDATE" in (",".join(resp.get_all("Allow"))).upper()
        dialog.session_timer = SessionTimer(interval=interval, we_refresh=refresher == "uac",
                                            now=now)

    def cancel(self, dialog: Dialog, now: float) -> list[SipEvent]:
        """§9.1: CANCEL copies the INVITE's Request-URI, top Via, From, To, Call-ID, CSeq num."""
        invite = dialog.invite
        if invite is None:
            return self.core.end(dialog, "cancelled")
        headers = tuple((k, v) for k, v in invite.headers
                        if k.lower() in {"via", "from", "to", "call-id", "route",
                                         "max-forwards"})
        req = SipRequest(method="CANCEL", uri=invite.uri,
                         headers=(*headers, ("CSeq", f"{invite.cseq[0]} CANCEL")))
        tx = ClientNonInviteTransaction(req, now, reliable=self.core.reliable)
        branch = Via.parse(invite.get_all("Via")[0]).branch
        self.core.client[f"{branch}|CANCEL"] = ClientCtx(tx, dialog.peer, None, "CANCEL")
        # The INVITE transaction stays and ACKs the 487 on its own (§17.1.1.3).
        return [Transmit(tx.data, dialog.peer), *self.core.end(dialog, "cancelled", 487)]

    def invite(self, target: str, *, media_host: str, media_port: int, now: float,
               peer: Addr | None = None, caller: str = "",
               credentials: tuple[str, str] | None = None,
               fallbacks: tuple[Addr, ...] = (),
               display: str = "") -> tuple[str, list[SipEvent]]:
        """Place a call to ``target`` (sip: URI); ``peer`` overrides where it is sent and
        ``fallbacks`` are the next targets, in order, should it time out or answer 503.
        ``caller`` is the From user part, ``display`` its display name (a phone shows it)."""
        tag = new_tag()
        call_id = secrets.token_hex(12) + "@" + self.core.config.host
        key = f"{call_id}|{tag}"
        local_user = caller or self.core.config.user
        local = f"<sip:{local_user}@{rq.hostport(self.core.config.host, self.core.config.port)}>"
        if display:
            local = f'"{display}" {local}'
        dest = peer or target_addr(target, ("", 0))
        if not dest[0]:
            raise ValueError(f"cannot route to {target!r}: give an IP, a port or a trunk")
        dialog = Dialog(key=key, role="uac", call_id=call_id, local_tag=tag, local=local,
                        remote=f"<{target}>", remote_target=target, peer=dest,
                        fallbacks=list(fallbacks),
                        local_cseq=0, media_host=media_host, media_port=media_port,
                        sdp_session=secrets.randbelow(2**31), credentials=credentials)
        self.core.dialogs[key] = dialog
        self.core.by_id[(call_id, tag)] = key
        return key, self._send_invite(dialog, now)

    def _send_invite(self, dialog: Dialog, now: float,
                     auth: tuple[str, str] | None = None) -> list[SipEvent]:
        body = build_offer(host=dialog.media_host, port=dialog.media_port,
                           session_id=dialog.sdp_session, version=dialog.sdp_version)
        extra: tuple[tuple[str, str], ...] = (("Allow", rq.ALLOW),
                                              ("Content-Type", "application/sdp"))
        if self.core.config.session_expires:  # RFC 4028 §7.1: we support timers, say so
            extra += (("Supported", "timer"),
                      ("Session-Expires", str(self.core.config.session_expires)))
        if auth is not None:
            extra = (auth, *extra)
        req = dialog.request("INVITE", via=self.core.via(), contact=self.core.contact, extra=extra,
                             body=body)
        dialog.invite = req
        tx = ClientInviteTransaction(req, now, reliable=self.core.reliable,
                                     timeout=self.core.config.target_timeout)
        dialog.client_tx = tx
        self.core.client[f"{req.top_via.branch}|INVITE"] = ClientCtx(tx, dialog.peer, dialog.key,
                                                                  "INVITE")
        return [Transmit(tx.data, dialog.peer)]

    def refer(self, key: str, target: str, now: float) -> list[SipEvent]:
        """Blind transfer (RFC 3515): REFER; the NOTIFY with a 2xx sipfrag makes us BYE."""
        dialog = self.core.dialogs.get(key)
        if dialog is None or dialog.state is not DialogState.CONFIRMED:
            return []
        dialog.refer_pending = True
        local_uri = NameAddr.parse(dialog.local).uri
        req = dialog.request("REFER", via=self.core.via(), contact=self.core.contact,
                             extra=(("Refer-To", f"<{target}>"),
                                    ("Referred-By", f"<{local_uri}>")))
        return self.core.start_client(req, dialog.next_hop(), key, now)
