"""The SIP channel driver: UDP + TCP signalling and RTP sockets on the app's asyncio loop.

A short loop around the sans-IO ``UserAgent``: datagram in -> ``ua.receive`` -> act on the
events (transmit, answer with a fresh RTP port, start ``runtime.run_call`` on a SipLeg, end
legs) -> re-arm the one timer at ``ua.get_timer()``. A 1 s housekeeping tick ends calls whose
RTP stopped (media timeout -> BYE). TCP (RFC 3261 §18) listens on the same host:port with
its own ``UserAgent`` (transport TCP: Via/Contact say TCP, no retransmissions); its events go
back on the connection the request came in on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.routing import BaseRoute

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.sip.dialog import is_ip
from callport.channels.sip.dnsresolver import DnsResolver
from callport.channels.sip.events import (
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
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.message import SipUri
from callport.channels.sip.rtpsocket import RtpPortPool, RtpProtocol, open_rtcp
from callport.channels.sip.srv import Resolver, locate
from callport.channels.sip.tcp import SipTcpTransport
from callport.channels.sip.useragent import UaConfig, UserAgent
from callport.config import SipSettings

log = logging.getLogger(__name__)

Addr = tuple[str, int]
RTCP_INTERVAL_S = 5.0  # RFC 3550 §6.2 minimum; one media stream each way


class CallRunner(Protocol):
    """The part of ``Runtime`` the channel uses."""

    @property
    def settings(self) -> Any: ...

    def run_call(self, leg: Leg, info: CallInfo) -> Awaitable[Any]: ...


class CallFailed(RuntimeError):
    """An outbound call was not answered (``status`` is the SIP final response, 408 timeout)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"call failed: {status} {reason}")
        self.status = status


@dataclass(slots=True)
class _Call:
    key: str
    call_id: str
    leg: SipLeg
    info: CallInfo
    task: asyncio.Task[None] | None = None
    answered: asyncio.Future[None] | None = None
    stats: dict[str, int] = field(default_factory=dict)
    next_rtcp: float = 0.0


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, channel: SipChannel) -> None:
        self.channel = channel

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self.channel.on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)


class SipChannel:
    name = "sip"

    def __init__(self, runtime: CallRunner, *, settings: SipSettings | None = None,
                 resolver: Resolver | None = None) -> None:
        self.runtime = runtime
        self.resolver: Resolver = resolver or DnsResolver()
        self.settings: SipSettings = settings or runtime.settings.sip
        self.ua: UserAgent | None = None
        self.tcp_ua: UserAgent | None = None
        self.tcp: SipTcpTransport | None = None
        self.calls: dict[str, _Call] = {}
        self.finished: list[_Call] = []  # recent ended calls (tests, metrics); bounded
        self._transport: asyncio.DatagramTransport | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tick: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        s = self.settings
        self.pool = RtpPortPool(host=s.host, low=s.rtp_port_min, high=s.rtp_port_max)
        self.port = 0
        self.registration_state: dict[str, str] = {}

    # ---- Channel protocol ----------------------------------------------------------------
    def routes(self) -> Sequence[BaseRoute]:
        return ()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self), local_addr=(s.host, s.port))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        users = tuple(tuple(u.split(":", 1)) for u in s.auth_users)
        configs = {transport: UaConfig(
            host=s.public_host or s.host, port=self.port, user=s.user, transport=transport,
            allow_from=s.allow_from, auth_realm=s.auth_realm,
            auth_users=users,  # type: ignore[arg-type]
            max_calls=s.max_calls) for transport in ("UDP", "TCP")}
        self.ua = UserAgent(config=configs["UDP"])
        tcp = SipTcpTransport(on_message=self.on_stream_message)
        try:
            await tcp.start(s.host, self.port)
        except OSError as exc:
            log.warning("SIP TCP listener on %s:%d failed: %s", s.host, self.port, exc)
        else:
            self.tcp, self.tcp_ua = tcp, UserAgent(config=configs["TCP"])
        self._tick = asyncio.create_task(self._housekeeping(), name="sip-housekeeping")
        if s.register_aor:
            creds = (s.trunk_username, s.trunk_password) if s.trunk_username else None
            registrar = await self._resolve(*_split_addr(s.trunk_address))
            self._apply(self.ua.register(s.register_aor, registrar=registrar, now=self._now(),
                                         expires=s.register_expires_s, credentials=creds))
        log.info("SIP listening on udp%s:%s:%d", "+tcp" if self.tcp else "", s.host, self.port)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            self.hangup_call(call.key, "shutdown")
        if self.ua is not None:
            for aor in list(self.ua.registrations):
                self._apply(self.ua.unregister(aor, self._now()))
        tasks = [c.task for c in self.finished + list(self.calls.values()) if c.task]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._tick is not None:
            self._tick.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._transport is not None:
            self._transport.close()
        if self.tcp is not None:
            await self.tcp.stop()

    # ---- signalling ----------------------------------------------------------------------
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def on_datagram(self, data: bytes, addr: Addr) -> None:
        if self.ua is not None:
            self._receive(self.ua, data, addr)

    def on_stream_message(self, data: bytes, addr: Addr) -> None:
        """One framed message from a TCP connection."""
        if self.tcp_ua is not None:
            self._receive(self.tcp_ua, data, addr)

    def _receive(self, ua: UserAgent, data: bytes, addr: Addr) -> None:
        try:
            events = ua.receive(data, addr, self._now())
        except Exception:  # the core answers garbage itself; this is a bug guard
            log.exception("SIP core failed on a message from %s", addr)
            return
        self._apply(events, ua)

    def _apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None:
        ua = ua or self._ua()
        for event in events:
            match event:
                case Transmit(data=data, addr=addr):
                    if ua is self.tcp_ua and self.tcp is not None:
                        self.tcp.send(data, addr)
                    elif self._transport is not None:
                        self._transport.sendto(data, addr)
                case IncomingCall():
                    self._spawn(self._accept(event, ua))
                case CallConfirmed(key=key, plan=plan):
                    call = self.calls.get(key)
                    if call is not None and plan is not None:
                        call.leg.set_plan(plan)
                case CallAnswered(key=key, plan=plan):
                    call = self.calls.get(key)
                    if call is not None:
                        call.leg.set_plan(plan)
                        if call.answered is not None and not call.answered.done():
                            call.answered.set_result(None)
                case CallProgress(key=key, plan=plan):
                    call = self.calls.get(key)
                    if call is not None and plan is not None:
                        call.leg.set_plan(plan)  # early media (183)
                case MediaUpdated(key=key, plan=plan):
                    call = self.calls.get(key)
                    if call is not None:
                        call.leg.set_plan(plan)
                case CallEnded(key=key, reason=reason, status=status):
                    self._ended(key, reason, status)
                case TransferRequested(key=key, target=target):
                    # A gateway leg cannot follow a REFER itself: report it and decline.
                    log.info("SIP %s: peer asked us to transfer to %s (declined)", key, target)
                    self._apply(ua.notify_refer(key, 603, "Declined", self._now()), ua)
                case TransferResult(key=key, status=status):
                    log.info("SIP %s: transfer finished with %d", key, status)
                case RegistrationChanged(aor=aor, state=state, status=status, expires=exp):
                    self.registration_state[aor] = state
                    log.info("SIP REGISTER %s: %s (%d, expires %d)", aor, state, status, exp)
                case _:
                    log.debug("SIP event ignored: %s", event)
        self._rearm(ua)

    def _ua(self) -> UserAgent:
        assert self.ua is not None, "SipChannel.start() first"
        return self.ua

    def _ua_for(self, key: str) -> UserAgent:
        """The user agent (UDP or TCP) that holds the dialog ``key``."""
        if self.tcp_ua is not None and key in self.tcp_ua.dialogs:
            return self.tcp_ua
        return self._ua()

    def _rearm(self, ua: UserAgent) -> None:
        name = ua.config.transport
        deadline = ua.get_timer()
        timer = self._timers.get(name)
        if timer is not None:
            if deadline is not None and abs(timer.when() - deadline) < 1e-4:
                return
            timer.cancel()
            del self._timers[name]
        if deadline is not None:
            self._timers[name] = asyncio.get_running_loop().call_at(
                deadline, self._on_timer, ua)

    def _on_timer(self, ua: UserAgent) -> None:
        self._timers.pop(ua.config.transport, None)
        self._apply(ua.handle_timer(self._now()), ua)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- calls ---------------------------------------------------------------------------
    async def _accept(self, event: IncomingCall, ua: UserAgent) -> None:
        if self.settings.answer_delay_ms > 0:
            self._apply(ua.ringing(event.key, self._now()), ua)
            await asyncio.sleep(self.settings.answer_delay_ms / 1000)
            if event.key not in ua.dialogs:
                return
        try:
            transport, proto, port = await self.pool.open(lambda d, a: None)
            rtcp = await open_rtcp(self.settings.host, port + 1)
        except RuntimeError:
            log.warning("SIP %s: no RTP port free, rejecting", event.key)
            self._apply(ua.reject(event.key, 503, self._now()), ua)
            return
        if event.key not in ua.dialogs:  # CANCELled while we opened the socket
            transport.close()
            if rtcp is not None:
                rtcp[0].close()
            self.pool.release(port)
            return
        dialog = ua.dialogs[event.key]
        leg = SipLeg(key=event.key, call_id=dialog.call_id, control=self, transport=transport,
                     rtp_port=port, plan=event.plan, now=self._now())
        proto.on_packet = lambda data, addr: leg.on_rtp(data, addr, self._now())
        self._attach_rtcp(leg, rtcp)
        info = CallInfo(call_id=dialog.call_id, channel="sip", caller=event.caller,
                        callee=event.callee)
        call = _Call(key=event.key, call_id=dialog.call_id, leg=leg, info=info)
        self.calls[event.key] = call
        media_host = self.settings.public_host or self.settings.host
        self._apply(ua.answer(event.key, media_host=media_host, media_port=port,
                              now=self._now()), ua)
        call.task = asyncio.create_task(self._run(call), name=f"sip:{dialog.call_id}")

    def _attach_rtcp(self, leg: SipLeg,
                     rtcp: tuple[asyncio.DatagramTransport, RtpProtocol] | None) -> None:
        if rtcp is None:
            return
        transport, proto = rtcp

        def on_packet(data: bytes, addr: Addr) -> None:
            leg.on_rtcp(data, addr, self._now())

        proto.on_packet = on_packet
        leg.rtcp_transport = transport

    async def _run(self, call: _Call) -> None:
        try:
            await self.runtime.run_call(call.leg, call.info)
        except Exception:
            log.exception("SIP %s: call runner failed", call.key)
        finally:
            if call.key in self.calls:
                self.hangup_call(call.key, "flow-ended")

    def _ended(self, key: str, reason: str, status: int) -> None:
        call = self.calls.pop(key, None)
        if call is None:
            return
        call.leg.close(reason)
        self.pool.release(call.leg.rtp_port)
        if call.answered is not None and not call.answered.done():
            call.answered.set_exception(CallFailed(status, reason))
        self.finished.append(call)
        del self.finished[:-200]
        log.info("SIP %s: ended (%s)", key, reason)

    # CallControl (used by SipLeg)
    def hangup_call(self, key: str, reason: str) -> None:
        ua = self._ua_for(key)
        self._apply(ua.hangup(key, self._now(), reason=reason), ua)
        if key in self.calls:  # the core had already forgotten the dialog
            self._ended(key, reason, 0)

    def refer_call(self, key: str, target: str) -> bool:
        ua = self._ua_for(key)
        events = ua.refer(key, self.resolve_target(target), self._now())
        self._apply(events, ua)
        return bool(events)

    def resolve_target(self, target: str) -> str:
        """``tel:+1555`` or a user-only URI -> ``sip:+1555@trunk`` when a trunk is set."""
        uri = SipUri.parse(target)
        trunk = self.settings.trunk_address
        if uri.scheme == "tel" and trunk:
            return f"sip:{uri.user}@{trunk}"
        return target

    async def dial(self, target: str, *, timeout: float = 30.0) -> SipLeg:
        """Outbound call (UAC) to a sip:/tel: URI; returns the answered leg (CallFailed if not).

        The caller runs the leg (``runtime.run_call`` / ``start_call``).
        """
        ua = self._ua()
        s = self.settings
        resolved = self.resolve_target(target)
        uri = SipUri.parse(resolved)
        if uri.scheme == "tel":
            raise CallFailed(0, "tel: numbers need sip.trunk_address")
        peer: Addr | None = None
        if s.trunk_address and (not is_ip(uri.host) or uri.host == s.trunk_address):
            peer = await self._resolve(*_split_addr(s.trunk_address))
        if peer is None:
            peer = await self._resolve(uri.host, uri.port)
        transport, proto, port = await self.pool.open(lambda d, a: None)
        rtcp = await open_rtcp(s.host, port + 1)
        creds = (s.trunk_username, s.trunk_password) if s.trunk_username else None
        media_host = s.public_host or s.host
        key, events = ua.invite(resolved, media_host=media_host, media_port=port,
                                now=self._now(), peer=peer, caller=s.caller_id,
                                credentials=creds)
        dialog = ua.dialogs[key]
        leg = SipLeg(key=key, call_id=dialog.call_id, control=self, transport=transport,
                     rtp_port=port, plan=None, now=self._now())
        proto.on_packet = lambda data, addr: leg.on_rtp(data, addr, self._now())
        self._attach_rtcp(leg, rtcp)
        info = CallInfo(call_id=dialog.call_id, channel="sip", caller=dialog.local,
                        callee=resolved)
        call = _Call(key=key, call_id=dialog.call_id, leg=leg, info=info,
                     answered=asyncio.get_running_loop().create_future())
        self.calls[key] = call
        self._apply(events)
        assert call.answered is not None
        try:
            await asyncio.wait_for(asyncio.shield(call.answered), timeout)
        except TimeoutError:
            self.hangup_call(key, "no-answer")
            raise CallFailed(408, "no answer") from None
        return leg

    def start_call(self, leg: SipLeg) -> asyncio.Task[None]:
        """Run an answered outbound leg through the runtime (as inbound calls are)."""
        call = self.calls[leg.key]
        call.task = asyncio.create_task(self._run(call), name=f"sip:{call.call_id}")
        return call.task

    async def _resolve(self, host: str, port: int | None) -> Addr:
        """RFC 3263: SRV ``_sip._udp.<host>`` (no port given), else A/AAAA; first target."""
        targets = await locate(host, port, self.resolver, _pick)
        if not targets:
            raise CallFailed(0, f"cannot resolve {host}")
        return targets[0]

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self._now()
            limit = self.settings.media_timeout_s
            for call in list(self.calls.values()):
                leg = call.leg
                if now >= call.next_rtcp:
                    if call.next_rtcp:  # the first report waits one interval
                        leg.send_rtcp(now, time.time())
                    call.next_rtcp = now + RTCP_INTERVAL_S
                ringing = call.answered is not None and not call.answered.done()
                if ringing or not leg.expects_media():
                    continue
                last = leg.last_rx if leg.last_rx is not None else leg.started_at
                if now - last > limit:
                    log.info("SIP %s: no RTP for %.0f s, hanging up", call.key, now - last)
                    self.hangup_call(call.key, "media-timeout")


def _split_addr(text: str) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, None
    return host, int(port)


def _pick(total: int) -> int:
    return random.randint(0, total)
