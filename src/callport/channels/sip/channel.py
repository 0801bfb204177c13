"""The SIP channel driver: UDP + TCP signalling and RTP sockets on the app's asyncio loop.

A short loop around the sans-IO ``UserAgent``: message in -> ``ua.receive`` -> act on the
events (transmit, answer in ``answering``: a fresh RTP port, ``runtime.run_call`` on a SipLeg;
end legs) -> re-arm the one timer at ``ua.get_timer()``. A 1 s housekeeping tick sends RTCP and
ends calls whose RTP stopped (media timeout -> BYE). The sockets live in ``transports``
(UDP and TCP on one host:port); each transport has its own ``UserAgent`` (Via/Contact say
its name, TCP never retransmits) and its events go back out the same way. Where outbound
calls and REGISTERs go (trunk, transport, RFC 3263 targets to fail over along) is decided
in ``targets``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from callport.channels.sip.answering import Answerer
from callport.channels.sip.calls import CallFailed, CallRunner, SipCall
from callport.channels.sip.dialer import Dialer, SipOutbound
from callport.channels.sip.dnsresolver import DnsResolver
from callport.channels.sip.events import (
    AttendedTransferRequested,
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallProgress,
    DtmfInfo,
    IncomingCall,
    MediaUpdated,
    PeerHold,
    RegistrationChanged,
    ReofferDone,
    SipEvent,
    TargetFailed,
    TransferRequested,
    TransferResult,
    Transmit,
)
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.legsockets import LegSockets
from callport.channels.sip.mediawatch import MediaWatch
from callport.channels.sip.ratelimit import SourceLimiter
from callport.channels.sip.registrar_service import AgentRegistrar
from callport.channels.sip.rtcp import RtcpEvent
from callport.channels.sip.rtpsocket import RtpPortPool
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.srv import Resolver
from callport.channels.sip.targets import TargetLocator
from callport.channels.sip.tcp import SipTcpTransport
from callport.channels.sip.transferee import ReferFollower
from callport.channels.sip.transports import SipTransports
from callport.channels.sip.trust import Networks, check_exposure
from callport.channels.sip.useragent import UaConfig, UserAgent
from callport.config import SipSettings
from callport.metrics import Metrics

log = logging.getLogger(__name__)

__all__ = ["CallFailed", "CallRunner", "SipChannel"]

Addr = tuple[str, int]
REFER_WAIT_S = 45.0  # how long a REFER's outcome is waited for (a target rings ~30 s)


class SipChannel:
    name = "sip"

    def __init__(self, runtime: CallRunner, *, settings: SipSettings | None = None,
                 resolver: Resolver | None = None, metrics: Metrics | None = None) -> None:
        self.runtime = runtime
        self.settings: SipSettings = settings or runtime.settings.sip
        check_exposure(self.settings)  # ConfigError: a public bind with nothing guarding it
        # The runtime's metrics when it has them (the app's /metrics), else our own.
        self.metrics = metrics or getattr(runtime, "metrics", None) or Metrics()
        self.media = MediaWatch(metrics=self.metrics,
                                media_timeout_s=self.settings.media_timeout_s,
                                held_timeout_s=self.settings.held_timeout_s)
        s = self.settings
        self.limiter = SourceLimiter(rate=s.rate_per_s, burst=s.rate_burst,
                                     max_sources=s.rate_sources)  # per source IP
        self._trusted = Networks(s.allow_from)  # trunks in allow_from are not rate-limited
        self.targets = TargetLocator(settings=self.settings, resolver=resolver or DnsResolver())
        self.answerer = Answerer(host=self)  # IncomingCall -> answered leg, or 503
        self.dialer = Dialer(host=self)
        self.outbound = SipOutbound(host=self)  # the neutral Dialer (callport.call.dial)
        self.transfers = ReferFollower(host=self, dialer=self.dialer)
        self.transports = SipTransports(on_message=self.on_message,
                                        on_unreachable=self.on_unreachable)
        self.ua: UserAgent | None = None
        self.tcp_ua: UserAgent | None = None
        self.calls: dict[str, SipCall] = {}
        self.finished: list[SipCall] = []  # recent ended calls (tests, metrics); bounded
        self._timers: dict[str, tuple[asyncio.Handle, float]] = {}  # handle, deadline
        self._tick: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        s = self.settings
        self.pool = RtpPortPool(host=s.host, low=s.rtp_port_min, high=s.rtp_port_max)
        self.port = 0
        self.registration_state: dict[str, str] = {}
        self.agents: AgentRegistrar | None = None  # registrar for agents' phones (sip.registrar)

    # ---- Channel protocol ----------------------------------------------------------------
    def routes(self) -> Sequence[BaseRoute]:
        return ()

    @property
    def tcp(self) -> SipTcpTransport | None:
        return self.transports.tcp

    async def start(self) -> None:
        s = self.settings
        self.port = await self.transports.start(s.host, s.port)
        users = tuple(tuple(u.split(":", 1)) for u in s.auth_users)
        configs = {transport: UaConfig(
            host=s.public_host or s.host, port=self.port, user=s.user, transport=transport,
            allow_from=s.allow_from, auth_realm=s.auth_realm,
            auth_users=users,  # type: ignore[arg-type]
            max_calls=s.max_calls, max_calls_per_source=s.max_calls_per_source,
            target_timeout=s.target_timeout_s,
            refer_allow=s.refer_allow, session_expires=s.session_expires_s,
            min_se=s.min_se_s)
            for transport in ("UDP", "TCP")}
        user_store = getattr(self.runtime, "users", None)
        if s.registrar and user_store is not None:
            self.agents = AgentRegistrar.from_settings(s, users=user_store, clock=self.now)
            await self.agents.start()
        registrar = self.agents.registrar if self.agents is not None else None
        self.ua = UserAgent(config=configs["UDP"], registrar=registrar)
        if self.tcp is not None:
            self.tcp_ua = UserAgent(config=configs["TCP"], registrar=registrar)
            self.tcp_ua.link(self.ua)  # one per-source call cap over UDP and TCP
        self._tick = asyncio.create_task(self._housekeeping(), name="sip-housekeeping")
        if s.register_aor:
            await self.dialer.register(s.register_aor)
        log.info("SIP listening on udp%s:%s:%d", "+tcp" if self.tcp else "", s.host, self.port)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            self.hangup_call(call.key, "shutdown")
        for ua in self._uas():
            for aor in list(ua.registrations):
                self.apply(ua.unregister(aor, self.now()), ua)
        tasks = [c.task for c in self.finished + list(self.calls.values()) if c.task]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self.agents is not None:
            await self.agents.stop()
        if self._tick is not None:
            self._tick.cancel()
        for handle, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await self.transports.stop()

    # ---- signalling ----------------------------------------------------------------------
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def on_message(self, transport: str, data: bytes, addr: Addr) -> None:
        """One datagram, or one framed message from a TCP connection."""
        ua = self.tcp_ua if transport == "TCP" else self.ua
        if ua is None:
            return
        if not self.limiter.allow(addr[0], self.now()) and not self._trusted.contains(addr):
            self.metrics.sip_dropped_messages.inc()  # over sip.rate_per_s: unanswered
            return
        try:
            events = ua.receive(data, addr, self.now())
        except Exception:  # the core answers garbage itself; this is a bug guard
            log.exception("SIP core failed on a message from %s", addr)
            return
        self.apply(events, ua)

    def apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None:
        ua = ua or self._ua()
        for event in events:
            match event:
                case Transmit(data=data, addr=addr):
                    self.transports.send(ua.config.transport, data, addr)
                case IncomingCall():
                    self._spawn(self.answerer.accept(event, ua))
                case CallAnswered(key=key, plan=answer):
                    self._answered(key, answer)
                case (CallConfirmed(key=key, plan=plan) | CallProgress(key=key, plan=plan)
                      | MediaUpdated(key=key, plan=plan)):
                    call = self.calls.get(key)  # CallProgress: early media (183)
                    if call is not None and plan is not None:
                        call.leg.set_plan(plan)
                case CallEnded(key=key, reason=reason, status=status, phrase=phrase):
                    if not self.transfers.ended(key, reason, status):
                        self._ended(key, f"{reason}: {phrase}" if phrase else reason, status)
                case ReofferDone(key=key, status=status, plan=plan):  # our hold/resume
                    if (call := self.calls.get(key)) is not None:
                        call.leg.reoffer_done(status, plan)
                case PeerHold(key=key, held=held):  # the peer's hold re-INVITE
                    if (call := self.calls.get(key)) is not None:
                        call.leg.peer_hold(held)
                case DtmfInfo(key=key, digit=digit):  # a key press sent as SIP INFO
                    if (call := self.calls.get(key)) is not None:
                        call.leg.info_digit(digit)
                case TransferRequested(key=key, target=target):
                    self._spawn(self.transfers.follow(key, target))
                case AttendedTransferRequested(key=key, replaced=replaced):
                    self._attended(key, replaced)
                case TargetFailed(key=key, addr=addr, status=status, next_addr=nxt):
                    log.warning("SIP %s: %s:%d failed (%d), failing over to %s:%d",
                                key, *addr, status, *nxt)
                case TransferResult(key=key, status=status):
                    log.info("SIP %s: transfer finished with %d", key, status)
                    if (referring := self.calls.get(key)) is not None:
                        referring.leg.refer_done(status)
                case RegistrationChanged(aor=aor, state=state, status=status, expires=exp):
                    self.registration_state[aor] = state
                    log.info("SIP REGISTER %s: %s (%d, expires %d)", aor, state, status, exp)
                case _:
                    log.debug("SIP event ignored: %s", event)
        self._rearm(ua)

    def _ua(self) -> UserAgent:
        assert self.ua is not None, "SipChannel.start() first"
        return self.ua

    def _uas(self) -> list[UserAgent]:
        return [ua for ua in (self.ua, self.tcp_ua) if ua is not None]

    def ua_for(self, key: str) -> UserAgent:
        """The user agent (UDP or TCP) that holds the dialog ``key``."""
        if self.tcp_ua is not None and key in self.tcp_ua.dialogs:
            return self.tcp_ua
        return self._ua()

    def ua_by_transport(self, transport: str) -> UserAgent:
        if transport == "TCP":
            if self.tcp_ua is None:
                raise CallFailed(0, "SIP over TCP is not available (no TCP listener)")
            return self.tcp_ua
        return self._ua()

    def on_unreachable(self, addr: Addr) -> None:
        """A TCP connection to ``addr`` could not be opened: fail over now (RFC 3263 §4.3)."""
        if self.tcp_ua is not None:
            self.apply(self.tcp_ua.transport_failed(addr, self.now()), self.tcp_ua)

    def _rearm(self, ua: UserAgent) -> None:
        """One loop timer per transport at ``ua.get_timer()``. The deadline it was armed for
        is kept here: ``call_at`` with a past deadline gives a plain ``Handle`` (no
        ``when()``) under uvloop, a ``TimerHandle`` under asyncio; both are only cancelled."""
        name = ua.config.transport
        deadline = ua.get_timer()
        armed = self._timers.get(name)
        if armed is not None:
            handle, when = armed
            if deadline is not None and abs(when - deadline) < 1e-4:
                return
            handle.cancel()
            del self._timers[name]
        if deadline is not None:
            handle = asyncio.get_running_loop().call_at(deadline, self._on_timer, ua)
            self._timers[name] = (handle, deadline)

    def _on_timer(self, ua: UserAgent) -> None:
        self._timers.pop(ua.config.transport, None)
        self.apply(ua.handle_timer(self.now()), ua)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- calls ---------------------------------------------------------------------------
    def make_leg(self, sockets: LegSockets, key: str, call_id: str,
                  plan: MediaPlan | None, *, rtp_source: str | None = None,
                  rtp_peer: str | None = None) -> SipLeg:
        leg = sockets.make_leg(key=key, call_id=call_id, control=self, plan=plan,
                               clock=self.now, on_rtcp=self._on_rtcp,
                               rtp_latch=self.settings.rtp_latch, rtp_source=rtp_source,
                               rtp_peer=rtp_peer)
        leg.refer_wait_s = REFER_WAIT_S  # transfer() answers with the REFER's outcome
        return leg

    def _on_rtcp(self, leg: SipLeg, events: list[RtcpEvent]) -> None:
        self.media.observe_received(leg, events, time.time())

    async def _run(self, call: SipCall) -> None:
        try:
            await self.runtime.run_call(call.leg, call.info)
        except Exception:
            log.exception("SIP %s: call runner failed", call.key)
        finally:
            if call.key in self.calls:
                self.hangup_call(call.key, "flow-ended")

    def _answered(self, key: str, plan: MediaPlan) -> None:
        call = self.calls.get(key)
        if call is None:
            self.transfers.answered(key, plan)  # a REFER's follow-up INVITE
            return
        call.leg.set_plan(plan)
        if call.answered is not None and not call.answered.done():
            call.answered.set_result(None)

    def _ended(self, key: str, reason: str, status: int) -> None:
        call = self.calls.pop(key, None)
        if call is None:
            return
        call.leg.close(reason)
        self.media.forget(key)
        self.pool.release(call.leg.rtp_port)
        if call.answered is not None and not call.answered.done():
            call.answered.set_exception(CallFailed(status, reason))
        self.finished.append(call)
        del self.finished[:-200]
        log.info("SIP %s: ended (%s)", key, reason)

    def _attended(self, key: str, replaced: str) -> None:
        """A phone's attended transfer (REFER with Replaces): join the parties bridged to
        its two dialogs (``flows.transfer.join_attended``), NOTIFY the outcome, end both."""
        from callport.flows.transfer import join_attended

        first, second = self.calls.get(key), self.calls.get(replaced)
        joined = (first is not None and second is not None
                  and join_attended(first.leg.call_id, second.leg.call_id))
        ua = self.ua_for(key)
        self.apply(ua.notify_refer(key, 200 if joined else 603, "OK" if joined else "Decline",
                                   self.now()), ua)
        log.info("SIP %s: attended transfer replacing %s %s", key, replaced,
                 "done" if joined else "declined (a dialog is in no bridge)")
        if joined:
            self.hangup_call(key, "transferred")
            self.hangup_call(replaced, "replaced")

    # CallControl (used by SipLeg)
    def hangup_call(self, key: str, reason: str) -> None:
        ua = self.ua_for(key)
        self.apply(ua.hangup(key, self.now(), reason=reason), ua)
        if key in self.calls:  # the core had already forgotten the dialog
            self._ended(key, reason, 0)

    def reoffer_call(self, key: str, direction: str) -> bool:
        ua = self.ua_for(key)
        events = ua.reoffer(key, direction, self.now())
        self.apply(events, ua)
        return bool(events)

    def refer_call(self, key: str, target: str) -> bool:
        ua = self.ua_for(key)
        events = ua.refer(key, self.targets.request_uri(target), self.now())
        self.apply(events, ua)
        return bool(events)

    async def dial(self, target: str, *, timeout: float = 30.0) -> SipLeg:
        """Outbound call (UAC) to a sip:/tel: URI; returns the answered leg (CallFailed if not).

        The caller runs the leg (``runtime.run_call`` / ``start_call``)."""
        return await self.dialer.dial(target, timeout=timeout)

    def start_call(self, leg: SipLeg) -> asyncio.Task[None]:
        """Run an answered outbound leg through the runtime (as inbound calls are)."""
        call = self.calls[leg.key]
        call.task = asyncio.create_task(self._run(call), name=f"sip:{call.call_id}")
        return call.task

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now, wallclock = self.now(), time.time()
            # Junk costs a DEBUG line at most; it is counted here (UDP and TCP, parse + frame).
            junk = sum(ua.stats["malformed"] for ua in self._uas())
            self.metrics.sip_malformed.value = junk + (self.tcp.stats["bad_frames"]
                                                       if self.tcp is not None else 0)
            self.metrics.sip_source_capped.value = sum(ua.stats["source_capped"]
                                                       for ua in self._uas())
            for call in list(self.calls.values()):
                if self.media.tick(call.leg, ringing=call.ringing, now=now,
                                   wallclock=wallclock):
                    self.hangup_call(call.key, "media-timeout")
