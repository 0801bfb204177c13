"""The sans-IO user agent's shared state and helpers (config, transactions, dialogs).

One :class:`UaCore` per user agent holds the dialog table, the client and server transaction
tables and the transmit helpers (respond, start a client transaction, BYE, NOTIFY, end a
dialog). The inbound (UAS), outbound (UAC) and registration parts in ``ua_inbound``,
``ua_outbound`` and ``ua_register`` are separate objects that each receive this core;
``useragent.UserAgent`` owns the core and the parts and routes to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import Dialog, DialogState, new_branch, new_tag
from callport.channels.sip.events import Addr, CallEnded, SipEvent, Transmit
from callport.channels.sip.message import SipRequest, SipResponse, make_response
from callport.channels.sip.transaction import (
    T1,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
)

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
    # Concurrent inbound calls from one source IP (``sip.max_calls_per_source``, >= 1; UDP
    # and TCP together once the user agents are ``link``ed); sources in allow_from are not
    # capped (a carrier sends every call from a few addresses). Over it: 503, no dialog.
    max_calls_per_source: int = 20
    # REFER targets we may follow (fnmatch over ``trust.refer_target``); empty: refuse all.
    refer_allow: tuple[str, ...] = ()
    # Timer B / F for an INVITE or REGISTER sent to a target: no answer at all this long and
    # the next RFC 3263 target is tried (or the request fails with 408).
    target_timeout: float = 64 * T1
    # RFC 4028 session timers (``session_timer``): our Session-Expires and Min-SE, seconds;
    # session_expires = 0 turns them off.
    session_expires: int = 1800
    min_se: int = 90


@dataclass(slots=True)
class ClientCtx:
    tx: ClientTx
    addr: Addr
    key: str | None  # dialog key, if the request belongs to a call
    method: str


class UaCore:
    """Dialogs, transaction tables and the helpers every part of the UA uses (shared, owned
    by ``UserAgent``; the parts hold a reference, never a copy)."""

    def __init__(self, *, config: UaConfig) -> None:
        self.config = config
        self.reliable = config.transport != "UDP"
        self.dialogs: dict[str, Dialog] = {}
        self.by_id: dict[tuple[str, str], str] = {}  # (call-id, local tag) -> key
        self.server: dict[tuple[str, str], tuple[ServerTx, Addr]] = {}
        self.client: dict[str, ClientCtx] = {}
        self.merged: dict[tuple[str, str, tuple[int, str]], str] = {}
        self.stats = {"malformed": 0, "rejected": 0, "refer_refused": 0, "auth_refused": 0,
                      "source_capped": 0}
        # The other transports' cores of the same channel (UDP and TCP): the per-source cap
        # counts their calls too.
        self.linked: list[UaCore] = []

    @property
    def contact(self) -> str:
        cfg = self.config
        transport = "" if cfg.transport == "UDP" else f";transport={cfg.transport.lower()}"
        return f"<sip:{cfg.user}@{rq.hostport(cfg.host, cfg.port)}{transport}>"

    def via(self) -> str:
        return rq.via(self.config.transport, self.config.host, self.config.port, new_branch())

    def active_calls(self) -> int:
        return len(self.dialogs)

    def calls_from(self, host: str) -> int:
        """Inbound calls (ringing or answered) from the source IP ``host``, on this core and
        the ones ``linked`` to it."""
        return sum(1 for core in (self, *self.linked) for d in core.dialogs.values()
                   if d.role == "uas" and d.peer[0] == host)

    def send(self, data: list[bytes], addr: Addr) -> list[SipEvent]:
        return [Transmit(d, addr) for d in data]

    def respond(self, tx: ServerTx, resp: SipResponse, addr: Addr, now: float) -> list[SipEvent]:
        return self.send(tx.respond(resp, now), addr)

    def stateless(self, req: SipRequest, status: int, addr: Addr,
                   extra: tuple[tuple[str, str], ...] = ()) -> list[SipEvent]:
        return [Transmit(bytes(make_response(req, status, to_tag=new_tag(), extra=extra)), addr)]

    def ok(self, req: SipRequest, dialog: Dialog, body: bytes) -> SipResponse:
        extra: tuple[tuple[str, str], ...] = (("Contact", self.contact), ("Allow", rq.ALLOW))
        if dialog.timer_plan is not None and req.method in ("INVITE", "UPDATE"):
            extra += dialog.timer_plan.response_headers()
        if body:
            extra += (("Content-Type", "application/sdp"),)
        return make_response(req, 200, to_tag=dialog.local_tag, extra=extra, body=body)

    def collect_garbage(self) -> None:
        """Forget transactions that reached Terminated without a timer firing."""
        for key in [k for k, (tx, _) in self.server.items() if tx.state is State.TERMINATED]:
            del self.server[key]

    def start_client(self, req: SipRequest, addr: Addr, key: str | None,
                     now: float, *, timeout: float = 64 * T1) -> list[SipEvent]:
        tx = ClientNonInviteTransaction(req, now, reliable=self.reliable, timeout=timeout)
        self.client[f"{req.top_via.branch}|{req.method}"] = ClientCtx(tx, addr, key, req.method)
        return [Transmit(tx.data, addr)]

    def end(self, dialog: Dialog, reason: str, status: int = 0,
            phrase: str = "") -> list[SipEvent]:
        already = dialog.state is DialogState.TERMINATED and dialog.key not in self.dialogs
        dialog.state = DialogState.TERMINATED
        self.dialogs.pop(dialog.key, None)
        self.by_id.pop((dialog.call_id, dialog.local_tag), None)
        return [] if already else [CallEnded(dialog.key, reason, status, phrase)]

    def bye(self, dialog: Dialog, now: float, *, reason: str) -> list[SipEvent]:
        req = dialog.request("BYE", via=self.via(), contact=self.contact)
        out = self.start_client(req, dialog.next_hop(), dialog.key, now)
        return out + self.end(dialog, reason)

    def notify(self, dialog: Dialog, frag: str, *, active: bool, now: float) -> list[SipEvent]:
        state = "active;expires=60" if active else "terminated;reason=noresource"
        req = dialog.request("NOTIFY", via=self.via(), contact=self.contact, extra=(
            ("Event", "refer"), ("Subscription-State", state),
            ("Content-Type", "message/sipfrag;version=2.0")), body=(frag + "\r\n").encode())
        return self.start_client(req, dialog.next_hop(), dialog.key, now)

    def merged_gc(self) -> None:
        if len(self.merged) > 4 * (len(self.server) + 16):
            live = {(tx.request.call_id, tx.request.from_tag, tx.request.cseq)
                    for tx, _ in self.server.values()}
            self.merged = {k: v for k, v in self.merged.items() if k in live}

    def pending_transactions(self) -> int:
        return len(self.server) + len(self.client)
