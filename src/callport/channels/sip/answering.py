"""Answering an admitted incoming SIP call: the driver's side of ``IncomingCall``.

The user agent (``ua_admission``) already decided that the INVITE may ring. Here the
driver decides whether it is answered: a draining server or one past capacity answers 503
(``Retry-After`` from the runtime's refusal), ``sip.answer_delay_ms`` rings first (180), an
exhausted RTP port range answers 503. An answered call gets its RTP sockets, a ``SipLeg``
(media only to the INVITE's source IP until a peer neither trusted nor authenticated has sent
some), a :class:`~callport.channels.sip.calls.SipCall` under a unique call id, the 200 with
our SDP, and its run through the runtime.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from callport.agents.base import CallInfo
from callport.channels.busy import refusal_of
from callport.channels.sip.calls import CallRunner, SipCall
from callport.channels.sip.events import IncomingCall, SipEvent
from callport.channels.sip.ids import call_ref
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.legsockets import LegSockets
from callport.channels.sip.rtpsocket import RtpPortPool
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.useragent import UserAgent
from callport.config import SipSettings
from callport.logs import safe

log = logging.getLogger(__name__)


class AnswerHost(Protocol):
    """What answering needs of the channel driver."""

    runtime: CallRunner
    settings: SipSettings
    pool: RtpPortPool
    calls: dict[str, SipCall]

    def now(self) -> float: ...

    def apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None: ...

    def make_leg(self, sockets: LegSockets, key: str, call_id: str,
                 plan: MediaPlan | None, *, rtp_source: str | None = None,
                 rtp_peer: str | None = None) -> SipLeg: ...

    def start_call(self, leg: SipLeg) -> asyncio.Task[None]: ...


class Answerer:
    """Answers (or refuses) each ``IncomingCall`` the user agents report."""

    def __init__(self, *, host: AnswerHost) -> None:
        self.host = host

    async def accept(self, event: IncomingCall, ua: UserAgent) -> None:
        host = self.host
        if getattr(host.runtime, "draining", False):  # shutting down: admit no new call
            host.apply(ua.reject(event.key, 503, host.now()), ua)
            return
        busy = refusal_of(host.runtime)  # past capacity: 503 + Retry-After, never answered
        if busy is not None:
            log.warning("SIP %s: at capacity (%s), answering 503", event.key, busy.reason)
            host.apply(ua.reject(event.key, 503, host.now(),
                                 retry_after=busy.retry_after_s), ua)
            return
        if host.settings.answer_delay_ms > 0:
            host.apply(ua.ringing(event.key, host.now()), ua)
            await asyncio.sleep(host.settings.answer_delay_ms / 1000)
            if event.key not in ua.dialogs:
                return
        try:
            sockets = await LegSockets.open(host.pool)
        except RuntimeError:
            log.warning("SIP %s: no RTP port free, rejecting", event.key)
            host.apply(ua.reject(event.key, 503, host.now()), ua)
            return
        dialog = ua.dialogs.get(event.key)
        if dialog is None:  # CANCELled while we opened the socket
            sockets.close()
            return
        ref = self.call_ref(event.key, dialog.call_id)
        # A peer neither trusted nor authenticated gets RTP only once it sent some, from the
        # IP its INVITE came from (MediaStream.source_host): never to a host its SDP names.
        admitted = event.trusted or bool(event.authenticated)
        leg = host.make_leg(sockets, event.key, ref, event.plan,
                            rtp_source=None if admitted else event.source[0],
                            rtp_peer=event.source[0] if admitted else None)
        # From/To are the peer's text: escaped and bounded before records, logs and lookups.
        info = CallInfo(call_id=ref, channel="sip", caller=safe(event.caller, 64),
                        callee=safe(event.callee, 128))
        host.calls[event.key] = SipCall(key=event.key, call_id=ref, leg=leg, info=info)
        media_host = host.settings.public_host or host.settings.host
        host.apply(ua.answer(event.key, media_host=media_host, media_port=leg.rtp_port,
                             now=host.now()), ua)
        host.start_call(leg)

    def call_ref(self, key: str, call_id: str) -> str:
        """The call's id for the runtime, logs and its record: the Call-ID when it is safe
        (``ids.call_ref``) and no live call has it, else made unique with our tag (two
        dialogs may share a Call-ID: forking, or a peer reusing one; each is its own call,
        with its own record and its own place in /healthz and /metrics)."""
        ref = call_ref(call_id)
        if any(c.call_id == ref for c in self.host.calls.values()):
            ref = f"{ref}-{key.rsplit('|', 1)[-1]}"
        return ref
