"""The sans-IO SIP user agent: transactions + dialogs + offer/answer, bytes in, events out.

``receive(data, addr, now)`` and the call controls (``answer``, ``reject``, ``hangup``,
``invite``, ``refer``, ``notify_refer``) return ``SipEvent`` lists, ``Transmit`` included;
``get_timer()`` / ``handle_timer(now)`` drive retransmissions and timeouts (RFC 3261 §17).
Garbage never raises: it is answered 4xx when a response can be formed, else dropped.

The parts live by concept in ``ua_core``, ``ua_inbound``, ``ua_outbound`` and ``ua_register``;
this class joins them and routes datagrams, client responses and timers.
"""

from __future__ import annotations

import logging

from callport.channels.sip import requests as rq
from callport.channels.sip.dialog import DialogState, new_tag
from callport.channels.sip.events import (
    Addr,
    RegistrationChanged,
    SipEvent,
    TransferResult,
    Transmit,
)
from callport.channels.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from callport.channels.sip.transaction import State
from callport.channels.sip.ua_core import ClientCtx, UaConfig
from callport.channels.sip.ua_inbound import InboundCalls
from callport.channels.sip.ua_outbound import OutboundCalls
from callport.channels.sip.ua_register import Registrations

log = logging.getLogger(__name__)

__all__ = ["UaConfig", "UserAgent"]


class UserAgent(InboundCalls, OutboundCalls, Registrations):
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

    def _bad_request(self, data: bytes, exc: SipParseError, addr: Addr) -> list[SipEvent]:
        """Answer 400 when the head is good enough to route a response (§8.2.2.3 style)."""
        req = rq.salvage_request(data)
        if req is None or req.method == "ACK":
            return []
        return [Transmit(bytes(make_response(req, exc.status, to_tag=new_tag(),
                                             reason=None)), addr)]

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

    def hangup(self, key: str, now: float, reason: str = "local-hangup") -> list[SipEvent]:
        dialog = self.dialogs.get(key)
        if dialog is None:
            return []
        if dialog.state is DialogState.EARLY:
            if dialog.role == "uas":
                return self.reject(key, 480, now)
            return self._cancel(dialog, now)
        return self._bye(dialog, now, reason=reason)

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

    def _client_done(self, ctx: ClientCtx, now: float) -> list[SipEvent]:
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
