"""The sans-IO SIP user agent: transactions + dialogs + offer/answer, bytes in, events out.

``receive(data, addr, now)`` and the call controls (``answer``, ``reject``, ``hangup``,
``invite``, ``refer``, ``notify_refer``, ``reoffer`` (hold/resume), ``register``) return
``SipEvent`` lists, ``Transmit`` included; ``get_timer()`` / ``handle_timer(now)`` drive
retransmissions and timeouts (RFC 3261 §17). Garbage never raises: it is answered 4xx when
a response can be formed, else dropped.

Composition, not inheritance: a ``UserAgent`` owns one shared ``UaCore`` (config, dialogs,
transaction tables, stats, transmit helpers) and three parts that each receive that core:
``InboundCalls`` (UAS), ``OutboundCalls`` (UAC), ``Reoffers`` (our hold/resume re-INVITEs)
and ``Registrations`` (REGISTER client).
This class routes datagrams, client responses, timers and controls to the right part.
"""

from __future__ import annotations

import logging

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import Dialog, DialogState, new_tag
from callport.channels.sip.events import Addr, SipEvent, TransferResult, Transmit
from callport.channels.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from callport.channels.sip.registrar import Registrar
from callport.channels.sip.registration import Registration
from callport.channels.sip.transaction import State
from callport.channels.sip.ua_core import ClientCtx, UaConfig, UaCore
from callport.channels.sip.ua_hold import REINVITE, Reoffers
from callport.channels.sip.ua_inbound import InboundCalls
from callport.channels.sip.ua_outbound import OutboundCalls
from callport.channels.sip.ua_refresh import REFRESH, SessionRefresh
from callport.channels.sip.ua_register import Registrations

log = logging.getLogger(__name__)

__all__ = ["UaConfig", "UserAgent"]


class UserAgent:
    def __init__(self, *, config: UaConfig, registrar: Registrar | None = None) -> None:
        self.core = UaCore(config=config)
        self.inbound = InboundCalls(core=self.core)
        self.inbound.registrar = registrar  # agents' phones; None: REGISTER is answered 405
        self.outbound = OutboundCalls(core=self.core)
        self.registrar = Registrations(core=self.core)
        self.reoffers = Reoffers(core=self.core)
        self.refresh = SessionRefresh(core=self.core)  # RFC 4028 session timers

    def link(self, other: UserAgent) -> None:
        """``other`` serves the same channel on another transport: the per-source call cap
        (``UaConfig.max_calls_per_source``) counts the calls of both."""
        self.core.linked.append(other.core)
        other.core.linked.append(self.core)

    # ---- shared state, read-only views -----------------------------------------------------
    @property
    def config(self) -> UaConfig:
        return self.core.config

    @property
    def dialogs(self) -> dict[str, Dialog]:
        return self.core.dialogs

    @property
    def stats(self) -> dict[str, int]:
        return self.core.stats

    @property
    def contact(self) -> str:
        return self.core.contact

    @property
    def registrations(self) -> dict[str, tuple[Registration, Addr]]:
        return self.registrar.bindings

    def active_calls(self) -> int:
        return self.core.active_calls()

    def pending_transactions(self) -> int:
        return self.core.pending_transactions()

    # ---- input -------------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Addr, now: float) -> list[SipEvent]:
        if not data.strip():
            return []  # keep-alive (RFC 5626 CRLF)
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.core.stats["malformed"] += 1
            log.debug("malformed SIP from %s: %s", addr, exc)
            return self._bad_request(data, exc, addr)
        try:
            if isinstance(msg, SipRequest):
                return self.inbound.on_request(rq.stamp_via(msg, addr), addr, now)
            return self._on_response(msg, now)
        except SipParseError as exc:  # a header we only parse on use (Contact, Refer-To ...)
            self.core.stats["malformed"] += 1
            log.debug("bad SIP from %s: %s", addr, exc)
            if isinstance(msg, SipRequest) and msg.method != "ACK":
                return self.core.stateless(msg, exc.status, addr)
            return []

    def _bad_request(self, data: bytes, exc: SipParseError, addr: Addr) -> list[SipEvent]:
        """Answer 400 when the head is good enough to route a response (§8.2.2.3 style)."""
        req = rq.salvage_request(data)
        if req is None or req.method == "ACK":
            return []
        return [Transmit(bytes(make_response(req, exc.status, to_tag=new_tag(),
                                             reason=None)), addr)]

    def _on_response(self, resp: SipResponse, now: float) -> list[SipEvent]:
        core = self.core
        branch = f"{resp.top_via.branch}|{resp.cseq[1]}"
        ctx = core.client.get(branch)
        if ctx is None:
            return self.outbound.stray_response(resp)
        data, deliver = ctx.tx.on_response(resp, now)
        out = core.send(data, ctx.addr)
        if ctx.tx.state is State.TERMINATED:
            core.client.pop(branch, None)
        if deliver and ctx.key is not None and ctx.key.startswith("reg:"):
            return out + self.registrar.on_response(ctx.key[4:], resp, now)
        if not deliver or ctx.key is None:
            return out
        dialog = core.dialogs.get(ctx.key)
        if dialog is None:
            return out
        if ctx.method == REFRESH:
            return out + self.refresh.on_response(dialog, resp, now)
        if ctx.method == "INVITE":
            return out + self.outbound.invite_response(dialog, resp, now)
        if ctx.method == REINVITE:
            return out + self.reoffers.on_response(dialog, resp, now)
        if ctx.method == "REFER" and resp.status >= 300:
            dialog.refer_pending = False
            return [*out, TransferResult(dialog.key, resp.status)]
        return out  # BYE/NOTIFY/REFER 2xx; in-dialog 401/407 retries are not needed

    # ---- controls ---------------------------------------------------------------------------
    def answer(self, key: str, *, media_host: str, media_port: int,
               now: float) -> list[SipEvent]:
        return self.inbound.answer(key, media_host=media_host, media_port=media_port, now=now)

    def ringing(self, key: str, now: float) -> list[SipEvent]:
        return self.inbound.ringing(key, now)

    def reject(self, key: str, status: int, now: float, *,
               retry_after: int = 0) -> list[SipEvent]:
        return self.inbound.reject(key, status, now, retry_after=retry_after)

    def notify_refer(self, key: str, status: int, reason: str, now: float) -> list[SipEvent]:
        return self.inbound.notify_refer(key, status, reason, now)

    def invite(self, target: str, *, media_host: str, media_port: int, now: float,
               peer: Addr | None = None, caller: str = "",
               credentials: tuple[str, str] | None = None,
               fallbacks: tuple[Addr, ...] = (),
               display: str = "") -> tuple[str, list[SipEvent]]:
        return self.outbound.invite(target, media_host=media_host, media_port=media_port,
                                    now=now, peer=peer, caller=caller, credentials=credentials,
                                    fallbacks=fallbacks, display=display)

    def refer(self, key: str, target: str, now: float) -> list[SipEvent]:
        return self.outbound.refer(key, target, now)

    def reoffer(self, key: str, direction: str, now: float) -> list[SipEvent]:
        """Re-INVITE in the dialog ``key`` offering ``direction``: ``sendonly`` holds the
        peer, ``sendrecv`` resumes (``ua_hold``); ``ReofferDone`` reports the outcome."""
        return self.reoffers.reoffer(key, direction, now)

    def register(self, aor: str, *, registrar: Addr, now: float, expires: int = 300,
                 credentials: tuple[str, str] | None = None,
                 fallbacks: tuple[Addr, ...] = ()) -> list[SipEvent]:
        return self.registrar.register(aor, registrar=registrar, now=now, expires=expires,
                                       credentials=credentials, fallbacks=fallbacks)

    def unregister(self, aor: str, now: float) -> list[SipEvent]:
        return self.registrar.unregister(aor, now)

    def hangup(self, key: str, now: float, reason: str = "local-hangup") -> list[SipEvent]:
        dialog = self.core.dialogs.get(key)
        if dialog is None:
            return []
        if dialog.state is DialogState.EARLY:
            if dialog.role == "uas":
                return self.inbound.reject(key, 480, now)
            return self.outbound.cancel(dialog, now)
        return self.core.bye(dialog, now, reason=reason)

    # ---- timers -------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        core = self.core
        deadlines = [tx.deadline for tx, _ in core.server.values()]
        deadlines += [ctx.tx.deadline for ctx in core.client.values()]
        deadlines.append(self.registrar.deadline())
        deadlines.append(self.reoffers.deadline())
        deadlines.append(self.refresh.deadline())
        live = [d for d in deadlines if d is not None]
        return min(live) if live else None

    def handle_timer(self, now: float) -> list[SipEvent]:
        core = self.core
        out: list[SipEvent] = []
        for key, (stx, addr) in list(core.server.items()):
            deadline = stx.deadline
            if deadline is not None and deadline <= now:
                out += core.send(stx.on_timer(now), addr)
            if stx.state is State.TERMINATED:
                del core.server[key]
                out += self.inbound.server_done(stx, now)
        for branch, ctx in list(core.client.items()):
            deadline = ctx.tx.deadline
            if deadline is not None and deadline <= now:
                out += core.send(ctx.tx.on_timer(now), ctx.addr)
            if ctx.tx.state is State.TERMINATED:
                del core.client[branch]
                out += self._client_done(ctx, now)
        out += self.registrar.on_timer(now)
        out += self.refresh.on_timer(now)
        out += self.reoffers.on_timer(now)
        core.merged_gc()
        return out

    def transport_failed(self, addr: Addr, now: float) -> list[SipEvent]:
        """The transport cannot reach ``addr`` (TCP connect refused): requests still waiting
        for a first response there fail now, as a 503 would (RFC 3261 §8.1.3.1), and fail
        over to the next target if there is one (RFC 3263 §4.3)."""
        out: list[SipEvent] = []
        for branch, ctx in list(self.core.client.items()):
            if ctx.addr == addr and ctx.tx.state in (State.CALLING, State.TRYING):
                ctx.tx.abandon()
                del self.core.client[branch]
                out += self._client_done(ctx, now, status=503)
        return out

    def _client_done(self, ctx: ClientCtx, now: float, status: int = 408) -> list[SipEvent]:
        if not ctx.tx.timed_out or ctx.key is None:
            return []
        if ctx.key.startswith("reg:"):
            return self.registrar.timed_out(ctx.key[4:], now, status=status)
        dialog = self.core.dialogs.get(ctx.key)
        if dialog is None:
            return []
        if ctx.method == REFRESH:
            return self.refresh.timed_out(dialog, now)
        if ctx.method == "INVITE":
            return self.outbound.timed_out(dialog, now, status=status)
        if ctx.method == REINVITE:
            return self.reoffers.timed_out(dialog, now)
        if ctx.method == "REFER":
            dialog.refer_pending = False
            return [TransferResult(dialog.key, status)]
        return []
