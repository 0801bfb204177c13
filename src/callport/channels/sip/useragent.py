"""The sans-IO SIP user agent: transactions + dialogs + offer/answer, bytes in, events out.

``receive(data, addr, now)`` and the call controls (``answer``, ``reject``, ``hangup``,
``invite``, ``refer``, ``notify_refer``) return ``SipEvent`` lists, ``Transmit`` included;
``get_timer()`` / ``handle_timer(now)`` drive retransmissions and timeouts (RFC 3261 §17).
Garbage never raises: it is answered 4xx when a response can be formed, else dropped.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass

from callport.channels.sip import requests as rq
from callport.channels.sip.auth import DigestServer, authorization
from callport.channels.sip.dialog import Dialog, DialogState, new_branch, new_tag, target_addr
from callport.channels.sip.events import (
    Addr,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallProgress,
    IncomingCall,
    MediaUpdated,
    RegistrationChanged,
    SipEvent,
    TransferRequested,
    TransferResult,
    Transmit,
)
from callport.channels.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    Via,
    make_response,
    parse_message,
)
from callport.channels.sip.registration import Registration
from callport.channels.sip.sdp import (
    MediaPlan,
    SdpError,
    SessionDescription,
    build_answer,
    build_offer,
    negotiate,
    parse_sdp,
)
from callport.channels.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
)

log = logging.getLogger(__name__)

ServerTx = ServerInviteTransaction | ServerNonInviteTransaction
ClientTx = ClientInviteTransaction | ClientNonInviteTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class UaConfig:
    host: str  # advertised address (Via, Contact, SDP)
    port: int
    transport: str = "UDP"
    user: str = "callport"
    allow_from: tuple[str, ...] = ()  # IP/CIDR allowlist; empty = anyone
    auth_realm: str = "callport"
    auth_users: tuple[tuple[str, str], ...] = ()  # digest users; empty = no challenge
    max_calls: int = 1000


@dataclass(slots=True)
class _ClientCtx:
    tx: ClientTx
    addr: Addr
    key: str | None  # dialog key, if the request belongs to a call
    method: str


class UserAgent:
    def __init__(self, *, config: UaConfig) -> None:
        self.config = config
        self.reliable = config.transport != "UDP"
        self.dialogs: dict[str, Dialog] = {}
        self._by_id: dict[tuple[str, str], str] = {}  # (call-id, local tag) -> key
        self._server: dict[tuple[str, str], tuple[ServerTx, Addr]] = {}
        self._client: dict[str, _ClientCtx] = {}
        self._merged: dict[tuple[str, str, tuple[int, str]], str] = {}
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allow_from]
        self._digest = (DigestServer(realm=config.auth_realm, users=dict(config.auth_users))
                        if config.auth_users else None)
        self.stats = {"malformed": 0, "rejected": 0}
        self.registrations: dict[str, tuple[Registration, Addr]] = {}

    # ---- helpers -------------------------------------------------------------------------
    @property
    def contact(self) -> str:
        cfg = self.config
        transport = "" if cfg.transport == "UDP" else f";transport={cfg.transport.lower()}"
        return f"<sip:{cfg.user}@{rq.hostport(cfg.host, cfg.port)}{transport}>"

    def _via(self) -> str:
        return rq.via(self.config.transport, self.config.host, self.config.port, new_branch())

    def active_calls(self) -> int:
        return len(self.dialogs)

    def _send(self, data: list[bytes], addr: Addr) -> list[SipEvent]:
        return [Transmit(d, addr) for d in data]

    def _respond(self, tx: ServerTx, resp: SipResponse, addr: Addr, now: float) -> list[SipEvent]:
        return self._send(tx.respond(resp, now), addr)

    def _stateless(self, req: SipRequest, status: int, addr: Addr,
                   extra: tuple[tuple[str, str], ...] = ()) -> list[SipEvent]:
        return [Transmit(bytes(make_response(req, status, to_tag=new_tag(), extra=extra)), addr)]

    # ---- receive -------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Addr, now: float) -> list[SipEvent]:
        if not data.strip():
            return []  # keep-alive (RFC 5626 CRLF)
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.stats["malformed"] += 1
            log.debug("malformed SIP from %s: %s", addr, exc)
            return self._bad_request(data, exc, addr)
        try:
            if isinstance(msg, SipRequest):
                return self._on_request(rq.stamp_via(msg, addr), addr, now)
            return self._on_response(msg, now)
        except SipParseError as exc:  # a header we only parse on use (Contact, Refer-To ...)
            self.stats["malformed"] += 1
            log.debug("bad SIP from %s: %s", addr, exc)
            if isinstance(msg, SipRequest) and msg.method != "ACK":
                return self._stateless(msg, exc.status, addr)
            return []

    def collect_garbage(self) -> None:
        """Forget transactions that reached Terminated without a timer firing."""
        for key in [k for k, (tx, _) in self._server.items() if tx.state is State.TERMINATED]:
            del self._server[key]

    def _bad_request(self, data: bytes, exc: SipParseError, addr: Addr) -> list[SipEvent]:
        """Answer 400 when the head is good enough to route a response (§8.2.2.3 style)."""
        req = rq.salvage_request(data)
        if req is None or req.method == "ACK":
            return []
        return [Transmit(bytes(make_response(req, exc.status, to_tag=new_tag(),
                                             reason=None)), addr)]

    def _on_request(self, req: SipRequest, addr: Addr, now: float) -> list[SipEvent]:
        via = req.top_via
        method = "INVITE" if req.method == "ACK" else req.method
        tx_key = (via.branch + "|" + f"{via.host}:{via.port}", method)
        found = self._server.get(tx_key) if via.branch.startswith("z9hG4bK") else None
        if found is not None:
            old, old_addr = found
            if req.method == "ACK" and isinstance(old, ServerInviteTransaction):
                old.on_ack(now)
                self.collect_garbage()
                return []
            return self._send(old.on_request_retransmit(), old_addr)
        if req.method == "ACK":
            return self._on_ack(req, now)
        if req.method == "CANCEL":
            return self._on_cancel(req, addr, now)
        max_fwd = req.get("Max-Forwards")
        if max_fwd is not None and max_fwd.strip() == "0":
            return self._stateless(req, 483, addr)
        tx: ServerTx
        if req.method == "INVITE":
            tx = ServerInviteTransaction(req, reliable=self.reliable)
        else:
            tx = ServerNonInviteTransaction(req, reliable=self.reliable)
        self._server[tx_key] = (tx, addr)
        if req.to_tag:
            return self._in_dialog(req, tx, addr, now)
        return self._out_of_dialog(req, tx, addr, now)

    def _out_of_dialog(self, req: SipRequest, tx: ServerTx, addr: Addr,
                       now: float) -> list[SipEvent]:
        merged_key = (req.call_id, req.from_tag, req.cseq)
        branch = req.top_via.branch
        if self._merged.get(merged_key, branch) != branch:
            return self._respond(tx, make_response(req, 482, to_tag=new_tag()), addr, now)
        self._merged[merged_key] = branch
        if req.method == "OPTIONS":
            return self._respond(tx, make_response(req, 200, to_tag=new_tag(),
                                                   extra=rq.capabilities()), addr, now)
        if req.method in {"BYE", "REFER", "NOTIFY", "INFO", "UPDATE", "PRACK"}:
            return self._respond(tx, make_response(req, 481, to_tag=new_tag()), addr, now)
        if req.method != "INVITE":
            return self._respond(tx, make_response(req, 405, to_tag=new_tag(),
                                                   extra=(("Allow", rq.ALLOW),)), addr, now)
        assert isinstance(tx, ServerInviteTransaction)
        return self._new_invite(req, tx, addr, now)

    def _allowed(self, addr: Addr) -> bool:
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address(addr[0])
        except ValueError:
            return False
        return any(ip in net for net in self._networks)

    def _new_invite(self, req: SipRequest, tx: ServerInviteTransaction, addr: Addr,
                    now: float) -> list[SipEvent]:
        if not self._allowed(addr):
            self.stats["rejected"] += 1
            return self._respond(tx, make_response(req, 403, to_tag=new_tag()), addr, now)
        if self._digest is not None:
            header = req.get("Authorization")
            result = (self._digest.verify(header, method="INVITE", now=now)
                      if header else None)
            if result is None or not result.ok:
                stale = result is not None and result.stale
                challenge = self._digest.challenge(now, stale=stale)
                return self._respond(tx, make_response(
                    req, 401, to_tag=new_tag(), extra=(("WWW-Authenticate", challenge),)),
                    addr, now)
        unsupported = [opt for opt in _tokens(req.get_all("Require")) if opt not in {"timer"}]
        if unsupported:
            return self._respond(tx, make_response(
                req, 420, to_tag=new_tag(), extra=(("Unsupported", ", ".join(unsupported)),)),
                addr, now)
        if len(self.dialogs) >= self.config.max_calls:
            return self._respond(tx, make_response(req, 503, to_tag=new_tag(),
                                                   extra=(("Retry-After", "5"),)), addr, now)
        offer: SessionDescription | None = None
        plan: MediaPlan | None = None
        if req.body:
            ctype = (req.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/sdp":
                return self._respond(tx, make_response(
                    req, 415, to_tag=new_tag(), extra=(("Accept", "application/sdp"),)),
                    addr, now)
            try:
                offer = parse_sdp(req.body)
                plan = negotiate(offer)
            except SdpError:
                return self._respond(tx, make_response(req, 488, to_tag=new_tag()), addr, now)
        contact = req.get("Contact")
        remote_target = NameAddr.parse(contact).uri if contact else req.uri
        tag = new_tag()
        key = f"{req.call_id}|{tag}"
        dialog = Dialog(
            key=key, role="uas", call_id=req.call_id, local_tag=tag,
            local=req.get("To") or "", remote=req.get("From") or "",
            remote_target=remote_target, peer=addr,
            route_set=req.get_all("Record-Route"), remote_cseq=req.cseq[0], invite=req,
            server_tx=tx, offer=offer, plan=plan, sdp_session=secrets.randbelow(2**31),
        )
        self.dialogs[key] = dialog
        self._by_id[(req.call_id, tag)] = key
        out = self._respond(tx, make_response(req, 100), addr, now)
        caller = NameAddr.parse(req.get("From") or "").uri
        callee = NameAddr.parse(req.get("To") or "").uri
        out.append(IncomingCall(key=key, caller=caller, callee=callee, plan=plan, source=addr))
        return out

    def _dialog_for(self, req: SipRequest) -> Dialog | None:
        key = self._by_id.get((req.call_id, req.to_tag))
        return self.dialogs.get(key) if key else None

    def _in_dialog(self, req: SipRequest, tx: ServerTx, addr: Addr,
                   now: float) -> list[SipEvent]:
        dialog = self._dialog_for(req)
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return self._respond(tx, make_response(req, 481), addr, now)
        cseq = req.cseq[0]
        if cseq <= dialog.remote_cseq and dialog.remote_cseq:
            return self._respond(tx, make_response(req, 500, extra=(("Retry-After", "1"),)),
                                 addr, now)
        dialog.remote_cseq = cseq
        match req.method:
            case "BYE":
                out = self._respond(tx, make_response(req, 200), addr, now)
                return out + self._end(dialog, "remote-bye")
            case "INVITE":
                assert isinstance(tx, ServerInviteTransaction)
                return self._reinvite(dialog, req, tx, addr, now)
            case "REFER":
                refer_to = req.get("Refer-To")
                if not refer_to:
                    return self._respond(tx, make_response(req, 400), addr, now)
                out = self._respond(tx, make_response(req, 202, extra=(
                    ("Contact", self.contact),)), addr, now)
                out += self._notify(dialog, "SIP/2.0 100 Trying", active=True, now=now)
                return [*out, TransferRequested(dialog.key, NameAddr.parse(refer_to).uri)]
            case "NOTIFY":
                out = self._respond(tx, make_response(req, 200), addr, now)
                return out + self._on_notify(dialog, req, now)
            case "OPTIONS":
                return self._respond(tx, make_response(req, 200, extra=rq.capabilities()),
                                     addr, now)
            case "UPDATE" | "INFO":
                return self._respond(tx, make_response(req, 200), addr, now)
            case _:
                return self._respond(tx, make_response(req, 405, extra=(("Allow", rq.ALLOW),)),
                                     addr, now)

    def _reinvite(self, dialog: Dialog, req: SipRequest, tx: ServerInviteTransaction,
                  addr: Addr, now: float) -> list[SipEvent]:
        """RFC 3264 §8: new offer (hold, resume, new address) -> answer with our direction."""
        if not req.body:
            # Offer-less re-INVITE: offer our current media again (§14.2).
            dialog.sdp_version += 1
            body = build_offer(host=dialog.media_host, port=dialog.media_port,
                               session_id=dialog.sdp_session, version=dialog.sdp_version)
            return self._respond(tx, self._ok(req, dialog, body), addr, now)
        try:
            offer = parse_sdp(req.body)
            plan = negotiate(offer)
        except SdpError:
            return self._respond(tx, make_response(req, 488), addr, now)
        dialog.offer = offer
        dialog.plan = plan
        dialog.sdp_version += 1
        contact = req.get("Contact")
        if contact:
            dialog.remote_target = NameAddr.parse(contact).uri
        body = build_answer(offer, plan, host=dialog.media_host, port=dialog.media_port,
                            session_id=dialog.sdp_session, version=dialog.sdp_version)
        out = self._respond(tx, self._ok(req, dialog, body), addr, now)
        return [*out, MediaUpdated(dialog.key, plan)]

    def _ok(self, req: SipRequest, dialog: Dialog, body: bytes) -> SipResponse:
        extra: tuple[tuple[str, str], ...] = (("Contact", self.contact), ("Allow", rq.ALLOW))
        if body:
            extra += (("Content-Type", "application/sdp"),)
        return make_response(req, 200, to_tag=dialog.local_tag, extra=extra, body=body)

    def _on_ack(self, req: SipRequest, now: float) -> list[SipEvent]:
        """ACK for a 2xx: a new transaction of its own, matched to the dialog (§13.3.1.4)."""
        dialog = self._dialog_for(req)
        if dialog is None or dialog.server_tx is None:
            return []
        if req.cseq[0] != dialog.server_tx.request.cseq[0]:
            return []
        dialog.server_tx.on_ack(now)
        self.collect_garbage()
        if dialog.state is not DialogState.ANSWERED:
            return []
        dialog.state = DialogState.CONFIRMED
        plan: MediaPlan | None = None
        if dialog.offer is None and req.body:
            try:
                plan = negotiate(parse_sdp(req.body), remote_is_offerer=False)
                dialog.plan = plan
            except SdpError:
                return self._bye(dialog, now, reason="bad-answer")
        return [CallConfirmed(dialog.key, plan)]

    def _on_cancel(self, req: SipRequest, addr: Addr, now: float) -> list[SipEvent]:
        """§9.2: 200 to the CANCEL, 487 to the INVITE if it is still pending."""
        via = req.top_via
        found = self._server.get((via.branch + "|" + f"{via.host}:{via.port}", "INVITE"))
        if found is None or not isinstance(found[0], ServerInviteTransaction):
            return self._stateless(req, 481, addr)
        invite_tx, invite_addr = found
        cancel_tx = ServerNonInviteTransaction(req, reliable=self.reliable)
        self._server[(via.branch + "|" + f"{via.host}:{via.port}", "CANCEL")] = (cancel_tx, addr)
        out = self._respond(cancel_tx, make_response(req, 200, to_tag=new_tag()), addr, now)
        if invite_tx.state is not State.PROCEEDING:
            return out
        dialog = next((d for d in self.dialogs.values() if d.server_tx is invite_tx), None)
        tag = dialog.local_tag if dialog else new_tag()
        out += self._respond(invite_tx, make_response(invite_tx.request, 487, to_tag=tag),
                             invite_addr, now)
        if dialog is not None:
            out += self._end(dialog, "cancelled", status=487)
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
            out += self._bye(dialog, now, reason="transferred")
        return out

    # ---- responses -----------------------------------------------------------------------
    def _on_response(self, resp: SipResponse, now: float) -> list[SipEvent]:
        branch = f"{resp.top_via.branch}|{resp.cseq[1]}"
        ctx = self._client.get(branch)
        if ctx is None:
            return self._stray_response(resp)
        data, deliver = ctx.tx.on_response(resp, now)
        out = self._send(data, ctx.addr)
        if ctx.tx.state is State.TERMINATED:
            self._client.pop(branch, None)
        if deliver and ctx.key is not None and ctx.key.startswith("reg:"):
            return out + self._register_response(ctx.key[4:], resp, now)
        if not deliver or ctx.key is None:
            return out
        dialog = self.dialogs.get(ctx.key)
        if dialog is None:
            return out
        if ctx.method == "INVITE":
            return out + self._invite_response(dialog, resp, now)
        if ctx.method == "REFER" and resp.status >= 300:
            dialog.refer_pending = False
            return [*out, TransferResult(dialog.key, resp.status)]
        if ctx.method in {"BYE", "REFER"} and resp.status in (401, 407) and dialog.credentials:
            return out  # in-dialog auth retry: not needed by the peers we target
        return out

    def _stray_response(self, resp: SipResponse) -> list[SipEvent]:
        """A 2xx retransmission after the INVITE transaction ended: re-send our ACK."""
        _num, method = resp.cseq
        if method != "INVITE" or not 200 <= resp.status < 300:
            return []
        key = self._by_id.get((resp.call_id, resp.from_tag))
        dialog = self.dialogs.get(key) if key else None
        if dialog is None or dialog.ack is None:
            return []
        return [Transmit(dialog.ack, dialog.next_hop())]

    def _invite_response(self, dialog: Dialog, resp: SipResponse, now: float) -> list[SipEvent]:
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
        return self._end(dialog, "failed", status=status)

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
        self._by_id[(dialog.call_id, dialog.local_tag)] = dialog.key
        plan = self._answer_plan(resp)
        ack = dialog.request("ACK", via=self._via(), contact=self.contact,
                             cseq=resp.cseq[0])
        dialog.ack = bytes(ack)
        out: list[SipEvent] = [Transmit(dialog.ack, dialog.next_hop())]
        if dialog.state is not DialogState.EARLY:
            return out
        if plan is None:
            dialog.state = DialogState.CONFIRMED
            return out + self._bye(dialog, now, reason="no-answer-sdp")
        dialog.state = DialogState.CONFIRMED
        dialog.plan = plan
        return [*out, CallAnswered(dialog.key, plan)]

    # ---- controls ------------------------------------------------------------------------
    def answer(self, key: str, *, media_host: str, media_port: int,
               now: float) -> list[SipEvent]:
        dialog = self.dialogs.get(key)
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
        return self._respond(dialog.server_tx, self._ok(dialog.invite, dialog, body),
                             dialog.peer, now)

    def ringing(self, key: str, now: float) -> list[SipEvent]:
        dialog = self.dialogs.get(key)
        if dialog is None or dialog.server_tx is None or dialog.invite is None:
            return []
        return self._respond(dialog.server_tx, make_response(
            dialog.invite, 180, to_tag=dialog.local_tag, extra=(("Contact", self.contact),)),
            dialog.peer, now)

    def reject(self, key: str, status: int, now: float) -> list[SipEvent]:
        dialog = self.dialogs.get(key)
        if dialog is None or dialog.server_tx is None or dialog.invite is None:
            return []
        if dialog.state is not DialogState.EARLY:
            return []
        out = self._respond(dialog.server_tx, make_response(
            dialog.invite, status, to_tag=dialog.local_tag), dialog.peer, now)
        return out + self._end(dialog, "rejected", status=status)

    def hangup(self, key: str, now: float, reason: str = "local-hangup") -> list[SipEvent]:
        dialog = self.dialogs.get(key)
        if dialog is None:
            return []
        if dialog.state is DialogState.EARLY:
            if dialog.role == "uas":
                return self.reject(key, 480, now)
            return self._cancel(dialog, now)
        return self._bye(dialog, now, reason=reason)

    def _bye(self, dialog: Dialog, now: float, *, reason: str) -> list[SipEvent]:
        req = dialog.request("BYE", via=self._via(), contact=self.contact)
        out = self._start_client(req, dialog.next_hop(), dialog.key, now)
        return out + self._end(dialog, reason)

    def _cancel(self, dialog: Dialog, now: float) -> list[SipEvent]:
        """§9.1: CANCEL copies the INVITE's Request-URI, top Via, From, To, Call-ID, CSeq num."""
        invite = dialog.invite
        if invite is None:
            return self._end(dialog, "cancelled")
        headers = tuple((k, v) for k, v in invite.headers
                        if k.lower() in {"via", "from", "to", "call-id", "route",
                                         "max-forwards"})
        req = SipRequest(method="CANCEL", uri=invite.uri,
                         headers=(*headers, ("CSeq", f"{invite.cseq[0]} CANCEL")))
        tx = ClientNonInviteTransaction(req, now, reliable=self.reliable)
        branch = Via.parse(invite.get_all("Via")[0]).branch
        self._client[f"{branch}|CANCEL"] = _ClientCtx(tx, dialog.peer, None, "CANCEL")
        # The INVITE transaction stays and ACKs the 487 on its own (§17.1.1.3).
        return [Transmit(tx.data, dialog.peer), *self._end(dialog, "cancelled", 487)]

    def invite(self, target: str, *, media_host: str, media_port: int, now: float,
               peer: Addr | None = None, caller: str = "",
               credentials: tuple[str, str] | None = None) -> tuple[str, list[SipEvent]]:
        """Place a call to ``target`` (sip: URI); ``peer`` overrides where it is sent."""
        tag = new_tag()
        call_id = secrets.token_hex(12) + "@" + self.config.host
        key = f"{call_id}|{tag}"
        local_user = caller or self.config.user
        local = f"<sip:{local_user}@{rq.hostport(self.config.host, self.config.port)}>"
        dest = peer or target_addr(target, ("", 0))
        if not dest[0]:
            raise ValueError(f"cannot route to {target!r}: give an IP, a port or a trunk")
        dialog = Dialog(key=key, role="uac", call_id=call_id, local_tag=tag, local=local,
                        remote=f"<{target}>", remote_target=target, peer=dest,
                        local_cseq=0, media_host=media_host, media_port=media_port,
                        sdp_session=secrets.randbelow(2**31), credentials=credentials)
        self.dialogs[key] = dialog
        self._by_id[(call_id, tag)] = key
        return key, self._send_invite(dialog, now)

    def _send_invite(self, dialog: Dialog, now: float,
                     auth: tuple[str, str] | None = None) -> list[SipEvent]:
        body = build_offer(host=dialog.media_host, port=dialog.media_port,
                           session_id=dialog.sdp_session, version=dialog.sdp_version)
        extra: tuple[tuple[str, str], ...] = (("Allow", rq.ALLOW),
                                              ("Content-Type", "application/sdp"))
        if auth is not None:
            extra = (auth, *extra)
        req = dialog.request("INVITE", via=self._via(), contact=self.contact, extra=extra,
                             body=body)
        dialog.invite = req
        tx = ClientInviteTransaction(req, now, reliable=self.reliable)
        dialog.client_tx = tx
        self._client[f"{req.top_via.branch}|INVITE"] = _ClientCtx(tx, dialog.peer, dialog.key,
                                                                  "INVITE")
        return [Transmit(tx.data, dialog.peer)]

    def refer(self, key: str, target: str, now: float) -> list[SipEvent]:
        """Blind transfer (RFC 3515): REFER; the NOTIFY with a 2xx sipfrag makes us BYE."""
        dialog = self.dialogs.get(key)
        if dialog is None or dialog.state is not DialogState.CONFIRMED:
            return []
        dialog.refer_pending = True
        local_uri = NameAddr.parse(dialog.local).uri
        req = dialog.request("REFER", via=self._via(), contact=self.contact,
                             extra=(("Refer-To", f"<{target}>"),
                                    ("Referred-By", f"<{local_uri}>")))
        return self._start_client(req, dialog.next_hop(), key, now)

    def notify_refer(self, key: str, status: int, reason: str, now: float) -> list[SipEvent]:
        """Report the outcome of a REFER the peer sent us (final: subscription terminated)."""
        dialog = self.dialogs.get(key)
        if dialog is None or dialog.state is not DialogState.CONFIRMED:
            return []
        return self._notify(dialog, f"SIP/2.0 {status} {reason}", active=status < 200, now=now)

    def _notify(self, dialog: Dialog, frag: str, *, active: bool, now: float) -> list[SipEvent]:
        state = "active;expires=60" if active else "terminated;reason=noresource"
        req = dialog.request("NOTIFY", via=self._via(), contact=self.contact, extra=(
            ("Event", "refer"), ("Subscription-State", state),
            ("Content-Type", "message/sipfrag;version=2.0")), body=(frag + "\r\n").encode())
        return self._start_client(req, dialog.next_hop(), dialog.key, now)

    def _start_client(self, req: SipRequest, addr: Addr, key: str | None,
                      now: float) -> list[SipEvent]:
        tx = ClientNonInviteTransaction(req, now, reliable=self.reliable)
        self._client[f"{req.top_via.branch}|{req.method}"] = _ClientCtx(tx, addr, key, req.method)
        return [Transmit(tx.data, addr)]

    def _end(self, dialog: Dialog, reason: str, status: int = 0) -> list[SipEvent]:
        already = dialog.state is DialogState.TERMINATED and dialog.key not in self.dialogs
        dialog.state = DialogState.TERMINATED
        self.dialogs.pop(dialog.key, None)
        self._by_id.pop((dialog.call_id, dialog.local_tag), None)
        return [] if already else [CallEnded(dialog.key, reason, status)]

    # ---- timers --------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        deadlines = [tx.deadline for tx, _ in self._server.values()]
        deadlines += [ctx.tx.deadline for ctx in self._client.values()]
        deadlines += [reg.next_at for reg, _ in self.registrations.values()]
        live = [d for d in deadlines if d is not None]
        return min(live) if live else None

    def handle_timer(self, now: float) -> list[SipEvent]:
        out: list[SipEvent] = []
        for key, (stx, addr) in list(self._server.items()):
            deadline = stx.deadline
            if deadline is not None and deadline <= now:
                out += self._send(stx.on_timer(now), addr)
            if stx.state is State.TERMINATED:
                del self._server[key]
                out += self._server_done(stx, now)
        for branch, ctx in list(self._client.items()):
            deadline = ctx.tx.deadline
            if deadline is not None and deadline <= now:
                out += self._send(ctx.tx.on_timer(now), ctx.addr)
            if ctx.tx.state is State.TERMINATED:
                del self._client[branch]
                out += self._client_done(ctx, now)
        for aor, (reg, _addr) in list(self.registrations.items()):
            if reg.next_at is not None and reg.next_at <= now:
                out += self._send_register(aor, now)
        self._merged_gc()
        return out

    def _server_done(self, tx: ServerTx, now: float) -> list[SipEvent]:
        if not (isinstance(tx, ServerInviteTransaction) and tx.timed_out):
            return []
        dialog = next((d for d in self.dialogs.values() if d.server_tx is tx), None)
        if dialog is None or dialog.state is not DialogState.ANSWERED:
            return []
        return self._bye(dialog, now, reason="no-ack")  # §13.3.1.4

    def _client_done(self, ctx: _ClientCtx, now: float) -> list[SipEvent]:
        if not ctx.tx.timed_out or ctx.key is None:
            return []
        if ctx.key.startswith("reg:") and ctx.key[4:] in self.registrations:
            reg, _ = self.registrations[ctx.key[4:]]
            reg.fail(now)
            return [RegistrationChanged(reg.aor, reg.state, 408)]
        dialog = self.dialogs.get(ctx.key)
        if dialog is None:
            return []
        if ctx.method == "INVITE":
            return self._end(dialog, "timeout", status=408)
        if ctx.method == "REFER":
            dialog.refer_pending = False
            return [TransferResult(dialog.key, 408)]
        return []

    def _merged_gc(self) -> None:
        if len(self._merged) > 4 * (len(self._server) + 16):
            live = {(tx.request.call_id, tx.request.from_tag, tx.request.cseq)
                    for tx, _ in self._server.values()}
            self._merged = {k: v for k, v in self._merged.items() if k in live}

    # ---- registration (RFC 3261 §10) -------------------------------------------------------
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

    def pending_transactions(self) -> int:
        return len(self._server) + len(self._client)


def _tokens(values: list[str]) -> list[str]:
    return [v.strip().lower() for v in values if v.strip()]

