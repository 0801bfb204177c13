"""Session refreshes (RFC 4028) on the shared user-agent core: the timers of every dialog,
the refresh we send when we are the refresher, and the BYE when a session expires.

``deadline()`` is folded into ``UserAgent.get_timer()``; ``on_timer(now)`` acts on what is
due: ``Expired`` -> BYE (reason ``session-expired``, §10), ``RefreshDue`` -> an UPDATE without
a body when the peer's Allow lists UPDATE (RFC 3311; cheapest, no offer/answer), else a
re-INVITE offering our current SDP unchanged (same o= version, §7.4). The answer to a refresh
comes back through ``on_response``: 2xx restarts the timer (and a re-INVITE is ACKed), 408/481
or no answer at all end the call (§10: BYE), 405/501 to an UPDATE falls back to re-INVITE,
491 (the peer's own re-INVITE or UPDATE crossed ours) sends it again after RFC 3261 §14.1's
random wait (2.1-4 s when we placed the call, 0-2 s otherwise; ``SessionTimer.retry``);
anything else leaves the timer to expire.
"""

from __future__ import annotations

import logging
import random

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import Dialog, DialogState
from callport.channels.sip.events import SipEvent, Transmit
from callport.channels.sip.message import SipResponse
from callport.channels.sip.sdp import build_offer
from callport.channels.sip.session_timer import Expired, RefreshDue
from callport.channels.sip.transaction import ClientInviteTransaction, ClientNonInviteTransaction
from callport.channels.sip.ua_core import ClientCtx, UaCore

log = logging.getLogger(__name__)

REFRESH = "refresh"  # ClientCtx.method of a refresh request (routed here, not to the UAC)
_LIVE = (DialogState.ANSWERED, DialogState.CONFIRMED)


class SessionRefresh:
    def __init__(self, *, core: UaCore, rng: random.Random | None = None) -> None:
        self.core = core
        self._rng = rng or random.Random()

    def deadline(self) -> float | None:
        live = [d.session_timer.deadline() for d in self.core.dialogs.values()
                if d.session_timer is not None and d.state in _LIVE]
        return min(live) if live else None

    def on_timer(self, now: float) -> list[SipEvent]:
        out: list[SipEvent] = []
        for dialog in list(self.core.dialogs.values()):
            timer = dialog.session_timer
            if timer is None or dialog.state not in _LIVE:
                continue
            match timer.due(now):
                case Expired():
                    log.info("SIP %s: session expired (no refresh in %d s), BYE",
                             dialog.key, timer.interval)
                    out += self.core.bye(dialog, now, reason="session-expired")
                case RefreshDue():
                    out += self._send(dialog, now)
                case None:
                    pass
        return out

    def _send(self, dialog: Dialog, now: float) -> list[SipEvent]:
        assert dialog.session_timer is not None
        extra: tuple[tuple[str, str], ...] = (
            ("Session-Expires", f"{dialog.session_timer.interval};refresher="
                                f"{'uas' if dialog.role == 'uas' else 'uac'}"),
            ("Supported", "timer"), ("Allow", rq.ALLOW))
        core = self.core
        if dialog.peer_allows_update:
            req = dialog.request("UPDATE", via=core.via(), contact=core.contact, extra=extra)
            tx: ClientNonInviteTransaction | ClientInviteTransaction = ClientNonInviteTransaction(
                req, now, reliable=core.reliable)
        else:
            body = build_offer(host=dialog.media_host, port=dialog.media_port,
                               session_id=dialog.sdp_session, version=dialog.sdp_version,
                               direction=dialog.local_direction)  # a held call stays held
            req = dialog.request("INVITE", via=core.via(), contact=core.contact,
                                 extra=(*extra, ("Content-Type", "application/sdp")), body=body)
            tx = ClientInviteTransaction(req, now, reliable=core.reliable)
        addr = dialog.next_hop()
        core.client[f"{req.top_via.branch}|{req.method}"] = ClientCtx(tx, addr, dialog.key,
                                                                       REFRESH)
        return [Transmit(tx.data, addr)]

    def on_response(self, dialog: Dialog, resp: SipResponse, now: float) -> list[SipEvent]:
        timer = dialog.session_timer
        status, method = resp.status, resp.cseq[1]
        if timer is None or status < 200:
            return []
        if status < 300:
            timer.refreshed(now)
            if method != "INVITE":
                return []
            ack = dialog.request("ACK", via=self.core.via(), contact=self.core.contact,
                                 cseq=resp.cseq[0])
            return [Transmit(bytes(ack), dialog.next_hop())]
        if status in (408, 481):
            return self.core.bye(dialog, now, reason="refresh-failed")
        if status == 491:
            wait = dialog.glare_wait(self._rng)
            if timer.retry(now + wait):
                log.info("SIP %s: refresh %s got 491, again in %.2f s", dialog.key, method, wait)
            return []
        if method == "UPDATE" and status in (405, 501):
            dialog.peer_allows_update = False
            timer.pending = False  # due again at once: re-sent as a re-INVITE
        return []

    def timed_out(self, dialog: Dialog, now: float) -> list[SipEvent]:
        return self.core.bye(dialog, now, reason="refresh-failed")
