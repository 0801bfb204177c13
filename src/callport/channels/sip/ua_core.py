"""The sans-IO user agent's shared state and helpers (config, transactions, dialogs).

The inbound (UAS), outbound (UAC) and registration parts in ``ua_inbound``, ``ua_outbound``
and ``ua_register`` build on :class:`UaCore`; ``useragent.UserAgent`` joins them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from callport.channels.sip import requests as rq
from callport.channels.sip.auth import DigestServer
from callport.channels.sip.dialog import Dialog, DialogState, new_branch, new_tag
from callport.channels.sip.events import Addr, CallEnded, SipEvent, Transmit
from callport.channels.sip.message import SipRequest, SipResponse, make_response
from callport.channels.sip.registration import Registration
from callport.channels.sip.transaction import (
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


@dataclass(slots=True)
class ClientCtx:
    tx: ClientTx
    addr: Addr
    key: str | None  # dialog key, if the request belongs to a call
    method: str


class UaCore:
    """Dialogs, transaction tables and the helpers every part of the UA uses."""

    def __init__(self, *, config: UaConfig) -> None:
        self.config = config
        self.reliable = config.transport != "UDP"
        self.dialogs: dict[str, Dialog] = {}
        self._by_id: dict[tuple[str, str], str] = {}  # (call-id, local tag) -> key
        self._server: dict[tuple[str, str], tuple[ServerTx, Addr]] = {}
        self._client: dict[str, ClientCtx] = {}
        self._merged: dict[tuple[str, str, tuple[int, str]], str] = {}
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allow_from]
        self._digest = (DigestServer(realm=config.auth_realm, users=dict(config.auth_users))
                        if config.auth_users else None)
        self.stats = {"malformed": 0, "rejected": 0}
        self.registrations: dict[str, tuple[Registration, Addr]] = {}

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

    def _ok(self, req: SipRequest, dialog: Dialog, body: bytes) -> SipResponse:
        extra: tuple[tuple[str, str], ...] = (("Contact", self.contact), ("Allow", rq.ALLOW))
        if body:
            extra += (("Content-Type", "application/sdp"),)
        return make_response(req, 200, to_tag=dialog.local_tag, extra=extra, body=body)

    def collect_garbage(self) -> None:
        """Forget transactions that reached Terminated without a timer firing."""
        for key in [k for k, (tx, _) in self._server.items() if tx.state is State.TERMINATED]:
            del self._server[key]

    def _start_client(self, req: SipRequest, addr: Addr, key: str | None,
                      now: float) -> list[SipEvent]:
        tx = ClientNonInviteTransaction(req, now, reliable=self.reliable)
        self._client[f"{req.top_via.branch}|{req.method}"] = ClientCtx(tx, addr, key, req.method)
        return [Transmit(tx.data, addr)]

    def _end(self, dialog: Dialog, reason: str, status: int = 0) -> list[SipEvent]:
        already = dialog.state is DialogState.TERMINATED and dialog.key not in self.dialogs
        dialog.state = DialogState.TERMINATED
        self.dialogs.pop(dialog.key, None)
        self._by_id.pop((dialog.call_id, dialog.local_tag), None)
        return [] if already else [CallEnded(dialog.key, reason, status)]

    def _bye(self, dialog: Dialog, now: float, *, reason: str) -> list[SipEvent]:
        req = dialog.request("BYE", via=self._via(), contact=self.contact)
        out = self._start_client(req, dialog.next_hop(), dialog.key, now)
        return out + self._end(dialog, reason)

    def _notify(self, dialog: Dialog, frag: str, *, active: bool, now: float) -> list[SipEvent]:
        state = "active;expires=60" if active else "terminated;reason=noresource"
        req = dialog.request("NOTIFY", via=self._via(), contact=self.contact, extra=(
            ("Event", "refer"), ("Subscription-State", state),
            ("Content-Type", "message/sipfrag;version=2.0")), body=(frag + "\r\n").encode())
        return self._start_client(req, dialog.next_hop(), dialog.key, now)

    def _merged_gc(self) -> None:
        if len(self._merged) > 4 * (len(self._server) + 16):
            live = {(tx.request.call_id, tx.request.from_tag, tx.request.cseq)
                    for tx, _ in self._server.values()}
            self._merged = {k: v for k, v in self._merged.items() if k in live}

    def pending_transactions(self) -> int:
        return len(self._server) + len(self._client)
