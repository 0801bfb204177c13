"""Inbound side of the user agent: requests we receive (INVITE, ACK, CANCEL, BYE, REFER,
NOTIFY, re-INVITE) and the UAS controls ``answer``, ``ringing``, ``reject``, ``notify_refer``.

An :class:`InboundCalls` works on the shared :class:`~callport.channels.sip.ua_core.UaCore`
it is given; it routes server transactions, answers out-of-dialog requests and every
in-dialog one. Whether a new INVITE may start a call (allowlist, digest, caps, SDP) is
decided in ``ua_admission``.
"""

from __future__ import annotations

import logging

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import Dialog, DialogState, new_tag
from callport.channels.sip.dtmf4733 import info_digit
from callport.channels.sip.events import (
    Addr,
    AttendedTransferRequested,
    CallConfirmed,
    DtmfInfo,
    SipEvent,
    TransferRequested,
    TransferResult,
)
from callport.channels.sip.message import SipRequest, make_response
from callport.channels.sip.registrar import Registrar
from callport.channels.sip.replaces import (
    DialogIds,
    Replaces,
    ReplacesError,
    match_dialog,
    refer_replaces,
)
from callport.channels.sip.sdp import (
    MediaPlan,
    SdpError,
    build_answer,
    build_offer,
    negotiate,
    parse_sdp,
)
from callport.channels.sip.session_timer import SessionTimer
from callport.channels.sip.transaction import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
)
from callport.channels.sip.trust import Networks, refer_allowed, refer_target
from callport.channels.sip.ua_admission import InviteAdmission
from callport.channels.sip.ua_core import ServerTx, UaCore
from callport.channels.sip.ua_hold import answer_reinvite
from callport.logs import LogBudget, safe

log = logging.getLogger(__name__)


class InboundCalls:
    """Server transactions and UAS dialogs (RFC 3261 §8.2, §12, §13.3, §9.2; RFC 3515)."""

    def __init__(self, *, core: UaCore) -> None:
        self.core = core
        config = core.config
        self._networks = Networks(config.allow_from)
        self.registrar: Registrar | None = None  # agents' phones (shared by UDP and TCP)
        self._log_budget = LogBudget(per_s=1.0, burst=20)  # peer-triggered lines
        self._admission = InviteAdmission(core=core, networks=self._networks,
                                          log_budget=self._log_budget)

    def on_request(self, req: SipRequest, addr: Addr, now: float) -> list[SipEvent]:
        via = req.top_via
        method = "INVITE" if req.method == "ACK" else req.method
        tx_key = (via.branch + "|" + f"{via.host}:{via.port}", method)
        found = self.core.server.get(tx_key) if via.branch.startswith("z9hG4bK") else None
        if found is not None:
            old, old_addr = found
            if req.method == "ACK" and isinstance(old, ServerInviteTransaction):
                old.on_ack(now)
                self.core.collect_garbage()
                return []
            return self.core.send(old.on_request_retransmit(), old_addr)
        if req.method == "ACK":
            return self._on_ack(req, now)
        if req.method == "CANCEL":
            return self._on_cancel(req, addr, now)
        max_fwd = req.get("Max-Forwards")
        if max_fwd is not None and max_fwd.strip() == "0":
            return self.core.stateless(req, 483, addr)
        tx: ServerTx
        if req.method == "INVITE":
            tx = ServerInviteTransaction(req, reliable=self.core.reliable)
        else:
            tx = ServerNonInviteTransaction(req, reliable=self.core.reliable)
        self.core.server[tx_key] = (tx, addr)
        if req.to_tag:
            return self._in_dialog(req, tx, addr, now)
        return self._out_of_dialog(req, tx, addr, now)

    def _out_of_dialog(self, req: SipRequest, tx: ServerTx, addr: Addr,
                       now: float) -> list[SipEvent]:
        merged_key = (req.call_id, req.from_tag, req.cseq)
        branch = req.top_via.branch
        if self.core.merged.get(merged_key, branch) != branch:
            return self.core.respond(tx, make_response(req, 482, to_tag=new_tag()), addr, now)
        self.core.merged[merged_key] = branch
        if req.method == "OPTIONS":
            return self.core.respond(tx, make_response(req, 200, to_tag=new_tag(),
                                                   extra=rq.capabilities()), addr, now)
        if req.method in {"BYE", "REFER", "NOTIFY", "INFO", "UPDATE", "PRACK"}:
            return self.core.respond(tx, make_response(req, 481, to_tag=new_tag()), addr, now)
        if req.method == "REGISTER" and self.registrar is not None:  # RFC 3261 §10.3
            result = self.registrar.handle(req, source=addr, now=now,
                                                transport=self.core.config.transport)
            return self.core.respond(tx, result.response, addr, now)
        if req.method != "INVITE":
            return self.core.respond(tx, make_response(req, 405, to_tag=new_tag(),
                                                   extra=(("Allow", rq.ALLOW),)), addr, now)
        assert isinstance(tx, ServerInviteTransaction)
        return self._admission.admit(req, tx, addr, now)


    def _dialog_for(self, req: SipRequest) -> Dialog | None:
        key = self.core.by_id.get((req.call_id, req.to_tag))
        return self.core.dialogs.get(key) if key else None

    def _in_dialog(self, req: SipRequest, tx: ServerTx, addr: Addr,
                   now: float) -> list[SipEvent]:
        dialog = self._dialog_for(req)
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return self.core.respond(tx, make_response(req, 481), addr, now)
        cseq = req.cseq[0]
        if cseq <= dialog.remote_cseq and dialog.remote_cseq:
            return self.core.respond(tx, make_response(req, 500, extra=(("Retry-After", "1"),)),
                                 addr, now)
        dialog.remote_cseq = cseq
        match req.method:
            case "BYE":
                out = self.core.respond(tx, make_response(req, 200), addr, now)
                return out + self.core.end(dialog, "remote-bye")
            case "INVITE":
                assert isinstance(tx, ServerInviteTransaction)
                return self._reinvite(dialog, req, tx, addr, now)
            case "REFER":
                return self._on_refer(dialog, req, tx, addr, now)
            case "NOTIFY":
                out = self.core.respond(tx, make_response(req, 200), addr, now)
                return out + self._on_notify(dialog, req, now)
            case "OPTIONS":
                return self.core.respond(tx, make_response(req, 200, extra=rq.capabilities()),
                                     addr, now)
            case "UPDATE":  # RFC 3311 without an offer: a session refresh (RFC 4028 §7.4)
                self._refreshed(dialog, req, now)
                return self.core.respond(tx, make_response(
                    req, 200, extra=dialog.timer_plan.response_headers()
                    if dialog.timer_plan else ()), addr, now)
            case "INFO":  # RFC 6086; a key press as application/dtmf-relay or /dtmf
                out = self.core.respond(tx, make_response(req, 200), addr, now)
                digit = info_digit(req.get("Content-Type") or "", req.body)
                return [*out, DtmfInfo(key=dialog.key, digit=digit)] if digit else out
            case _:
                return self.core.respond(tx, make_response(req, 405, extra=(("Allow", rq.ALLOW),)),
                                     addr, now)

    def _on_refer(self, dialog: Dialog, req: SipRequest, tx: ServerTx, addr: Addr,
                  now: float) -> list[SipEvent]:
        """RFC 3515 §2.4.2: accept (202, NOTIFY 100) only a REFER we may follow: from a
        trusted peer (source in allow_from, or a digest-authenticated dialog) and to a
        target matching ``refer_allow``; anything else is declined (603) and nothing is
        dialled (a REFER is the peer asking us to place a call on our trunk)."""
        refer_to = req.get("Refer-To")
        if not refer_to:
            return self.core.respond(tx, make_response(req, 400), addr, now)
        try:
            replaces = refer_replaces(refer_to)
        except ReplacesError:
            return self.core.respond(tx, make_response(req, 400), addr, now)
        if replaces is not None:
            return self._attended(dialog, replaces, req, tx, addr, now)
        target = refer_target(refer_to)
        why = self._refer_refusal(dialog, target, addr)
        if why:
            self.core.stats["refer_refused"] += 1
            if self._log_budget.allow(now):
                log.warning("SIP %s: REFER to %s from %s:%d declined: %s",
                            dialog.key, safe(refer_to), *addr, why)
            return self.core.respond(tx, make_response(req, 603), addr, now)
        assert target is not None
        out = self.core.respond(tx, make_response(req, 202, extra=(
            ("Contact", self.core.contact),)), addr, now)
        out += self.core.notify(dialog, "SIP/2.0 100 Trying", active=True, now=now)
        return [*out, TransferRequested(dialog.key, target)]

    def _attended(self, dialog: Dialog, replaces: Replaces, req: SipRequest, tx: ServerTx,
                  addr: Addr, now: float) -> list[SipEvent]:
        """RFC 5589 §7: the phone transfers attended. The dialog Replaces names must be
        another confirmed one of ours with the same peer (its host, or the same digest user);
        nothing is dialled: the driver joins the parties (``AttendedTransferRequested``)."""
        ids = [DialogIds(key=d.key, call_id=d.call_id, local_tag=d.local_tag,
                         remote_tag=d.remote_tag, confirmed=d.state is DialogState.CONFIRMED)
               for d in self.core.dialogs.values() if d is not dialog]
        found = match_dialog(replaces, ids)
        other = self.core.dialogs.get(found) if found is not None else None
        same_peer = other is not None and (other.peer[0] == dialog.peer[0] or bool(
            dialog.authenticated and dialog.authenticated == other.authenticated))
        if other is None or not same_peer:
            self.core.stats["refer_refused"] += 1
            log.warning("SIP %s: attended REFER from %s:%d declined: %s", dialog.key, *addr,
                        "Replaces names no dialog of ours" if other is None
                        else "the replaced dialog is with another peer")
            return self.core.respond(tx, make_response(req, 481 if other is None else 603),
                                     addr, now)
        out = self.core.respond(tx, make_response(req, 202, extra=(
            ("Contact", self.core.contact),)), addr, now)
        out += self.core.notify(dialog, "SIP/2.0 100 Trying", active=True, now=now)
        return [*out, AttendedTransferRequested(dialog.key, other.key)]

    def _refer_refusal(self, dialog: Dialog, target: str | None, addr: Addr) -> str:
        """Why a REFER (to ``target``, from ``addr``) is not followed; "" when it is."""
        if not (self._networks.contains(addr) or dialog.authenticated):
            return "the peer is not trusted (not in sip.allow_from, not digest-authenticated)"
        if target is None:
            return "the target is not a plain sip:/tel: URI"
        if not refer_allowed(target, self.core.config.refer_allow):
            return "the target matches no sip.refer_allow pattern"
        return ""

    def _refreshed(self, dialog: Dialog, req: SipRequest, now: float) -> None:
        """A re-INVITE or UPDATE from the peer refreshes the session (RFC 4028 §10)."""
        if dialog.session_timer is not None:
            dialog.session_timer.refreshed(now)

    def _reinvite(self, dialog: Dialog, req: SipRequest, tx: ServerInviteTransaction,
                  addr: Addr, now: float) -> list[SipEvent]:
        """RFC 3264 §8: the peer's new offer (hold, resume, new address), answered in
        ``ua_hold.answer_reinvite`` (491 while ours is in flight)."""
        if not dialog.reoffer_pending:
            self._refreshed(dialog, req, now)
        return answer_reinvite(self.core, dialog, req, tx, addr, now)

    def _on_ack(self, req: SipRequest, now: float) -> list[SipEvent]:
        """ACK for a 2xx: a new transaction of its own, matched to the dialog (§13.3.1.4)."""
        dialog = self._dialog_for(req)
        if dialog is None:
            return []
        reinvite = dialog.peer_reinvite
        if reinvite is not None and req.cseq[0] == reinvite.request.cseq[0]:
            reinvite.on_ack(now)  # the 2xx to the peer's re-INVITE stops being re-sent
            dialog.peer_reinvite = None
            self.core.collect_garbage()
            return []
        if dialog.server_tx is None:
            return []
        if req.cseq[0] != dialog.server_tx.request.cseq[0]:
            return []
        dialog.server_tx.on_ack(now)
        self.core.collect_garbage()
        if dialog.state is not DialogState.ANSWERED:
            return []
        dialog.state = DialogState.CONFIRMED
        plan: MediaPlan | None = None
        if dialog.offer is None and req.body:
            try:
                plan = negotiate(parse_sdp(req.body), remote_is_offerer=False)
                dialog.plan = plan
            except SdpError:
                return self.core.bye(dialog, now, reason="bad-answer")
        return [CallConfirmed(dialog.key, plan)]

    def _on_cancel(self, req: SipRequest, addr: Addr, now: float) -> list[SipEvent]:
        """§9.2: 200 to the CANCEL, 487 to the INVITE if it is still pending."""
        via = req.top_via
        tx_id = via.branch + "|" + f"{via.host}:{via.port}"
        found = self.core.server.get((tx_id, "INVITE"))
        if found is None or not isinstance(found[0], ServerInviteTransaction):
            return self.core.stateless(req, 481, addr)
        invite_tx, invite_addr = found
        cancel_tx = ServerNonInviteTransaction(req, reliable=self.core.reliable)
        self.core.server[(tx_id, "CANCEL")] = (cancel_tx, addr)
        out = self.core.respond(cancel_tx, make_response(req, 200, to_tag=new_tag()), addr, now)
        if invite_tx.state is not State.PROCEEDING:
            return out
        dialog = next((d for d in self.core.dialogs.values() if d.server_tx is invite_tx), None)
        tag = dialog.local_tag if dialog else new_tag()
        out += self.core.respond(invite_tx, make_response(invite_tx.request, 487, to_tag=tag),
                             invite_addr, now)
        if dialog is not None:
            out += self.core.end(dialog, "cancelled", status=487)
        return out

    def _on_notify(self, dialog: Dialog, req: SipRequest, now: float) -> list[SipEvent]:
        """RFC 3515 §2.4.5: sipfrag progress of our REFER; BYE once it says 2xx."""
        if not dialog.refer_pending:
            return []
        status = rq.sipfrag_status(req.body)
        if status is None or status < 200:
            return []
        dialog.refer_pending = False
        out: list[SipEvent] = [TransferResult(dialog.key, status)]
        if status < 300:
            out += self.core.bye(dialog, now, reason="transferred")
        return out

    def answer(self, key: str, *, media_host: str, media_port: int,
               now: float) -> list[SipEvent]:
        dialog = self.core.dialogs.get(key)
        if dialog is None or dialog.server_tx is None or dialog.invite is None:
            return []
        if dialog.state is not DialogState.EARLY:
            return []
        dialog.media_host, dialog.media_port = media_host, media_port
        if dialog.offer is not None and dialog.plan is not None:
            body = build_answer(dialog.offer, dialog.plan, host=media_host, port=media_port,
                                session_id=dialog.sdp_session, version=dialog.sdp_version)
        else:
            body = build_offer(host=media_host, port=media_port, session_id=dialog.sdp_session,
                               version=dialog.sdp_version)
        dialog.state = DialogState.ANSWERED
        if dialog.timer_plan is not None:  # RFC 4028: the timer runs from the 2xx
            dialog.session_timer = SessionTimer(interval=dialog.timer_plan.interval,
                                                we_refresh=dialog.timer_plan.refresher == "uas",
                                                now=now)
        return self.core.respond(dialog.server_tx, self.core.ok(dialog.invite, dialog, body),
                             dialog.peer, now)

    def ringing(self, key: str, now: float) -> list[SipEvent]:
        dialog = self.core.dialogs.get(key)
        if dialog is None or dialog.server_tx is None or dialog.invite is None:
            return []
        return self.core.respond(dialog.server_tx, make_response(
            dialog.invite, 180, to_tag=dialog.local_tag, extra=(("Contact", self.core.contact),)),
            dialog.peer, now)

    def reject(self, key: str, status: int, now: float, *,
               retry_after: int = 0) -> list[SipEvent]:
        """A final error answer to a ringing INVITE (``Retry-After`` when given: 503/486)."""
        dialog = self.core.dialogs.get(key)
        if dialog is None or dialog.server_tx is None or dialog.invite is None:
            return []
        if dialog.state is not DialogState.EARLY:
            return []
        extra = (("Retry-After", str(retry_after)),) if retry_after > 0 else ()
        out = self.core.respond(dialog.server_tx, make_response(
            dialog.invite, status, to_tag=dialog.local_tag, extra=extra), dialog.peer, now)
        return out + self.core.end(dialog, "rejected", status=status)

    def notify_refer(self, key: str, status: int, reason: str, now: float) -> list[SipEvent]:
        """Report the outcome of a REFER the peer sent us (final: subscription terminated)."""
        dialog = self.core.dialogs.get(key)
        if dialog is None or dialog.state is not DialogState.CONFIRMED:
            return []
        return self.core.notify(dialog, f"SIP/2.0 {status} {reason}", active=status < 200, now=now)

    def server_done(self, tx: ServerTx, now: float) -> list[SipEvent]:
        for held in self.core.dialogs.values():
            if held.peer_reinvite is tx:  # its ACK never came (Timer L): no longer pending
                held.peer_reinvite = None
        if not (isinstance(tx, ServerInviteTransaction) and tx.timed_out):
            return []
        dialog = next((d for d in self.core.dialogs.values() if d.server_tx is tx), None)
        if dialog is None or dialog.state is not DialogState.ANSWERED:
            return []
        return self.core.bye(dialog, now, reason="no-ack")  # §13.3.1.4
