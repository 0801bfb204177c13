"""Outbound requests of the SIP channel driver: ``dial`` (INVITE, wait for the answer),
``register`` (keep the configured AOR bound) and ``invite`` (one INVITE along a route, also
used to follow a REFER); and ``SipOutbound``, the SIP trunk as a neutral
``callport.call.dial.Dialer``.

Each resolves its target with ``targets.TargetLocator`` (trunk rules, transport, RFC 3263
addresses), hands the request to the ``UserAgent`` of that transport with every address,
so the core fails over along them, and answers the trunk's digest challenges.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from callport.agents.base import CallInfo
from callport.call.dial import (
    Answered,
    DialCause,
    DialFailed,
    DialOptions,
    DialResult,
    cause_of_sip,
)
from callport.channels.sip.calls import CallFailed, SipCall
from callport.channels.sip.events import SipEvent
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.legsockets import LegSockets
from callport.channels.sip.rtpsocket import RtpPortPool
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.targets import Route, TargetError, TargetLocator
from callport.channels.sip.useragent import UserAgent
from callport.config import SipSettings

log = logging.getLogger(__name__)


class DialHost(Protocol):
    """What the dialer needs of the channel driver."""

    settings: SipSettings
    targets: TargetLocator
    calls: dict[str, SipCall]
    pool: RtpPortPool

    def now(self) -> float: ...

    def apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None: ...

    def ua_by_transport(self, transport: str) -> UserAgent: ...

    def make_leg(self, sockets: LegSockets, key: str, call_id: str,
                 plan: MediaPlan | None, *, rtp_source: str | None = None,
                 rtp_peer: str | None = None) -> SipLeg: ...

    def hangup_call(self, key: str, reason: str) -> None: ...


class Dialer:
    def __init__(self, *, host: DialHost) -> None:
        self.host = host

    @property
    def credentials(self) -> tuple[str, str] | None:
        s = self.host.settings
        return (s.trunk_username, s.trunk_password) if s.trunk_username else None

    async def route(self, target: str) -> Route:
        try:
            return await self.host.targets.route(target)
        except TargetError as exc:
            raise CallFailed(0, str(exc)) from None

    def invite(self, route: Route, media_port: int) -> tuple[str, UserAgent, list[SipEvent]]:
        """Start an INVITE along ``route`` offering ``media_port``; returns (key, ua, events)."""
        s = self.host.settings
        ua = self.host.ua_by_transport(route.transport)
        key, events = ua.invite(route.uri, media_host=s.public_host or s.host,
                                media_port=media_port, now=self.host.now(), peer=route.peer,
                                fallbacks=route.fallbacks, caller=s.caller_id,
                                credentials=self.credentials)
        return key, ua, events

    async def dial(self, target: str, *, timeout: float) -> SipLeg:
        """Outbound call to a sip:/tel: URI: the answered leg, or ``CallFailed``."""
        host = self.host
        route = await self.route(target)
        sockets = await LegSockets.open(host.pool)
        try:
            key, ua, events = self.invite(route, sockets.port)
        except CallFailed:
            sockets.close()
            raise
        dialog = ua.dialogs[key]
        leg = host.make_leg(sockets, key, dialog.call_id, None, rtp_peer=dialog.peer[0])
        info = CallInfo(call_id=dialog.call_id, channel="sip", caller=dialog.local,
                        callee=route.uri, direction="outbound")  # the callee is identified
        call = SipCall(key=key, call_id=dialog.call_id, leg=leg, info=info,
                       answered=asyncio.get_running_loop().create_future())
        host.calls[key] = call
        host.apply(events, ua)
        assert call.answered is not None
        try:
            await asyncio.wait_for(asyncio.shield(call.answered), timeout)
        except TimeoutError:  # it rang (or not) for the whole ring time: 480, not Timer B's 408
            # the CANCEL's 487 still fails the future: retrieve it, nobody waits any more
            call.answered.add_done_callback(lambda f: f.cancelled() or f.exception())
            host.hangup_call(key, "no-answer")
            raise CallFailed(480, "no answer") from None
        except asyncio.CancelledError:  # nobody wants the answer now (the caller hung up)
            call.answered.add_done_callback(lambda f: f.cancelled() or f.exception())
            host.hangup_call(key, "canceled")  # CANCEL while it rings (RFC 3261 §9)
            raise
        return leg

    async def register(self, aor: str) -> None:
        """Bind ``aor`` at the trunk (``sip.trunk_address``) with the trunk credentials."""
        host, s = self.host, self.host.settings
        try:
            route = await host.targets.registrar()
        except TargetError as exc:
            log.warning("SIP REGISTER %s: %s", aor, exc)
            return
        ua = host.ua_by_transport(route.transport)
        host.apply(ua.register(aor, registrar=route.peer, fallbacks=route.fallbacks,
                               now=host.now(), expires=s.register_expires_s,
                               credentials=self.credentials), ua)


class OutboundHost(Protocol):
    """What ``SipOutbound`` needs of the SIP channel driver."""

    async def dial(self, target: str, *, timeout: float = 30.0) -> SipLeg: ...

    def start_call(self, leg: SipLeg) -> asyncio.Task[None]: ...


class SipOutbound:
    """The SIP channel as a ``Dialer``: INVITE, and on the answer the call runs its flow
    through the runtime (``start_call``); ``Answered.leg`` is the live ``SipLeg``.

    Every failure keeps the final SIP status (``CallFailed.status``): 486/600 busy, 480 or
    our ring timer no-answer, 603 rejected, 401/403/407 after our credentials auth error,
    5xx carrier error, 408 (Timer B: nobody answered the INVITE) timeout, 0 unreachable.
    The caller id is ``sip.caller_id`` (a per-call one is not offered by the trunk core).
    ``until="placed"`` waits for the answer too: an INVITE is accepted by being answered.
    """

    name = "sip"

    def __init__(self, *, host: OutboundHost) -> None:
        self.host = host
        self._running: dict[str, asyncio.Task[None]] = {}

    async def dial(
        self, target: str, caller_id: str = "", options: DialOptions | None = None
    ) -> DialResult:
        opts = options or DialOptions()
        try:
            leg = await self.host.dial(target, timeout=opts.timeout_s)
        except CallFailed as exc:
            cause = DialCause.AUTH_ERROR if exc.status == 403 else cause_of_sip(exc.status)
            return DialFailed(carrier=self.name, cause=cause, detail=str(exc),
                              sip_status=exc.status)
        task = self._running[leg.call_id] = self.host.start_call(leg)
        task.add_done_callback(lambda _: self._running.pop(leg.call_id, None))
        return Answered(carrier=self.name, call_id=leg.call_id, provider_call_id=leg.call_id,
                        leg=leg)

    async def finished(self, call_id: str) -> None:
        """Return once the answered call ``call_id`` (its flow) has ended."""
        task = self._running.get(call_id)
        if task is not None:
            await asyncio.shield(task)
