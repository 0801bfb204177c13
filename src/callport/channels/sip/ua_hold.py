"""Re-INVITEs inside a confirmed dialog, both ways: hold and resume (RFC 3264 §8.4, RFC 6337 §5).

``reoffer(key, direction, now)`` sends a new offer in a re-INVITE (next CSeq, same session
id, SDP version one higher, the agreed codec, ``a=sendonly`` to hold, ``a=sendrecv`` to
resume). The peer's answer:

- 2xx: we ACK it (a new transaction, §13.2.2.4; re-sent when the 2xx is retransmitted),
  the answer becomes the dialog's plan (narrowed to what we asked: a peer answering
  ``sendrecv`` to our ``sendonly`` does not make us expect its RTP) and ``ReofferDone(200)``.
- 491 Request Pending (glare, both sides re-INVITEd at once, §14.1): retried once the timer
  runs out: 2.1-4 s (10 ms steps) when we own the Call-ID (we placed the call), 0-2 s when the
  peer does, at most ``GLARE_RETRIES`` times, then ``ReofferDone(491)``.
- 408 or 481 (§12.2.1.2: the dialog is gone): ``ReofferDone`` and a BYE ends the call.
- Any other failure (488, 500, 503 ...): ``ReofferDone(status)``; the media stays as it was
  (§14.1: the session is unchanged when a re-INVITE fails).

The peer's re-INVITEs (``answer_reinvite``, called by ``ua_inbound``): the answer follows
RFC 3264 §6.1 (``recvonly`` to ``sendonly``, ``inactive`` to ``inactive`` or ``c=0.0.0.0``),
narrowed to our ``local_direction`` (``sendonly`` while we hold the peer); 491 while ours is in
flight (RFC 3261 §14.2); the 2xx is re-sent until its ACK (``dialog.peer_reinvite``); a change
of the peer's hold is reported as ``PeerHold`` after ``MediaUpdated``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import Dialog, DialogState
from callport.channels.sip.events import (
    Addr,
    MediaUpdated,
    PeerHold,
    ReofferDone,
    SipEvent,
    Transmit,
)
from callport.channels.sip.message import NameAddr, SipRequest, SipResponse, make_response
from callport.channels.sip.sdp import (
    SdpError,
    build_answer,
    build_offer,
    build_reoffer,
    negotiate,
    parse_sdp,
    restrict,
)
from callport.channels.sip.transaction import ClientInviteTransaction, ServerInviteTransaction
from callport.channels.sip.ua_core import ClientCtx, UaCore

log = logging.getLogger(__name__)

REINVITE = "reINVITE"  # ClientCtx.method of our re-INVITEs (the wire method is INVITE)
GLARE_RETRIES = 3


@dataclass(slots=True)
class _Retry:
    at: float
    direction: str
    tries: int


class Reoffers:
    """Our in-dialog re-INVITEs on the shared core (one in flight per dialog)."""

    def __init__(self, *, core: UaCore, rng: random.Random | None = None) -> None:
        self.core = core
        self._rng = rng or random.Random()
        self._direction: dict[str, str] = {}  # key -> direction of the re-INVITE in flight
        self._tries: dict[str, int] = {}  # key -> glare retries used so far
        self._retries: dict[str, _Retry] = {}  # key -> a re-INVITE waiting out a 491

    def reoffer(self, key: str, direction: str, now: float) -> list[SipEvent]:
        """Send a re-INVITE offering ``direction`` (``sendonly`` hold, ``sendrecv`` resume)."""
        dialog = self.core.dialogs.get(key)
        if (dialog is None or dialog.state is not DialogState.CONFIRMED or dialog.plan is None
                or not dialog.media_port):
            return [ReofferDone(key, direction, 0)]
        if dialog.reoffer_pending or key in self._retries:
            return [ReofferDone(key, direction, 491)]  # ours is still under way
        self._tries[key] = 0
        return self._send(dialog, direction, now)

    def _send(self, dialog: Dialog, direction: str, now: float) -> list[SipEvent]:
        assert dialog.plan is not None
        dialog.sdp_version += 1
        body = build_reoffer(dialog.plan, host=dialog.media_host, port=dialog.media_port,
                             session_id=dialog.sdp_session, version=dialog.sdp_version,
                             direction=direction)
        req = dialog.request("INVITE", via=self.core.via(), contact=self.core.contact,
                             extra=(("Allow", rq.ALLOW), ("Content-Type", "application/sdp")),
                             body=body)
        tx = ClientInviteTransaction(req, now, reliable=self.core.reliable)
        addr = dialog.next_hop()
        self.core.client[f"{req.top_via.branch}|INVITE"] = ClientCtx(tx, addr, dialog.key,
                                                                     REINVITE)
        dialog.reoffer_pending = True
        self._direction[dialog.key] = direction
        log.info("SIP %s: re-INVITE a=%s (CSeq %d)", dialog.key, direction, req.cseq[0])
        return [Transmit(tx.data, addr)]

    def on_response(self, dialog: Dialog, resp: SipResponse, now: float) -> list[SipEvent]:
        status = resp.status
        if status < 200:
            return []
        key = dialog.key
        direction = self._direction.pop(key, "sendrecv")
        dialog.reoffer_pending = False
        if status < 300:
            return self._accepted(dialog, resp, direction, now)
        if status == 491 and self._tries.get(key, 0) < GLARE_RETRIES:
            self._tries[key] = self._tries.get(key, 0) + 1
            self._retries[key] = _Retry(now + dialog.glare_wait(self._rng), direction,
                                        self._tries[key])
            return []
        self._tries.pop(key, None)
        log.info("SIP %s: re-INVITE a=%s refused with %d", key, direction, status)
        out: list[SipEvent] = [ReofferDone(key, direction, status)]
        if status in (408, 481):  # §12.2.1.2: the dialog is gone
            out += self.core.bye(dialog, now, reason=f"re-invite-{status}")
        return out

    def _accepted(self, dialog: Dialog, resp: SipResponse, direction: str,
                  now: float) -> list[SipEvent]:
        ack = dialog.request("ACK", via=self.core.via(), contact=self.core.contact,
                             cseq=resp.cseq[0])
        dialog.ack = bytes(ack)  # re-sent should the 2xx be retransmitted (stray_response)
        out: list[SipEvent] = [Transmit(dialog.ack, dialog.next_hop())]
        self._tries.pop(dialog.key, None)
        contact = resp.get("Contact")
        if contact:
            dialog.remote_target = NameAddr.parse(contact).uri
        try:
            plan = negotiate(parse_sdp(resp.body), remote_is_offerer=False)
        except SdpError:
            log.warning("SIP %s: re-INVITE answer without usable SDP; ending", dialog.key)
            return [*out, ReofferDone(dialog.key, direction, 488),
                    *self.core.bye(dialog, now, reason="bad-answer")]
        dialog.local_direction = direction
        dialog.plan = restrict(plan, direction)
        return [*out, ReofferDone(dialog.key, direction, 200, dialog.plan)]

    def timed_out(self, dialog: Dialog, now: float) -> list[SipEvent]:
        """Timer B: no answer at all; the dialog is given up (BYE), as for a 408."""
        direction = self._direction.pop(dialog.key, "sendrecv")
        dialog.reoffer_pending = False
        self._tries.pop(dialog.key, None)
        return [ReofferDone(dialog.key, direction, 408),
                *self.core.bye(dialog, now, reason="re-invite-timeout")]

    def deadline(self) -> float | None:
        return min((r.at for r in self._retries.values()), default=None)

    def on_timer(self, now: float) -> list[SipEvent]:
        out: list[SipEvent] = []
        for key, retry in list(self._retries.items()):
            if retry.at > now:
                continue
            del self._retries[key]
            dialog = self.core.dialogs.get(key)
            if dialog is None or dialog.state is not DialogState.CONFIRMED:
                out.append(ReofferDone(key, retry.direction, 0))
                continue
            if dialog.peer_reinvite is not None:  # the peer's re-INVITE won; wait once more
                self._retries[key] = _Retry(now + dialog.glare_wait(self._rng), retry.direction,
                                            retry.tries)
                continue
            out += self._send(dialog, retry.direction, now)
        return out

    def forget(self, key: str) -> None:
        self._direction.pop(key, None)
        self._tries.pop(key, None)
        self._retries.pop(key, None)


def answer_reinvite(core: UaCore, dialog: Dialog, req: SipRequest, tx: ServerInviteTransaction,
                    addr: Addr, now: float) -> list[SipEvent]:
    """Answer the peer's re-INVITE ``req`` in ``dialog`` (see the module docstring)."""
    if dialog.reoffer_pending:
        return core.respond(tx, make_response(req, 491), addr, now)
    dialog.peer_reinvite = tx  # its 2xx is retransmitted until the ACK (ua_inbound._on_ack)
    if not req.body:
        # Offer-less re-INVITE: offer our current media again (RFC 3261 §14.2).
        dialog.sdp_version += 1
        body = build_offer(host=dialog.media_host, port=dialog.media_port,
                           session_id=dialog.sdp_session, version=dialog.sdp_version,
                           direction=dialog.local_direction)
        return core.respond(tx, core.ok(req, dialog, body), addr, now)
    try:
        offer = parse_sdp(req.body)
        offered = negotiate(offer)
    except SdpError:
        dialog.peer_reinvite = None
        return core.respond(tx, make_response(req, 488), addr, now)
    plan = restrict(offered, dialog.local_direction)
    dialog.offer = offer
    dialog.plan = plan
    dialog.sdp_version += 1
    contact = req.get("Contact")
    if contact:
        dialog.remote_target = NameAddr.parse(contact).uri
    body = build_answer(offer, plan, host=dialog.media_host, port=dialog.media_port,
                        session_id=dialog.sdp_session, version=dialog.sdp_version)
    out = core.respond(tx, core.ok(req, dialog, body), addr, now)
    out.append(MediaUpdated(dialog.key, plan))
    held = not offered.can_send  # the peer offered sendonly/inactive: it holds us
    if held != dialog.peer_held:
        dialog.peer_held = held
        log.info("SIP %s: the peer %s", dialog.key, "held us" if held else "resumed")
        out.append(PeerHold(dialog.key, held))
    return out
