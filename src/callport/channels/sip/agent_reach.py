"""``SipAgentReach``: ringing a human agent on the SIP phone(s) they registered to callport.

The queue service (``callport.queues``) asks ``ring(agent, offer, timeout_s=...)``; this
dials every live binding of the agent in the registrar's location service at once (a forked
call, RFC 3261 §16.7 style), the INVITE going to where the phone's REGISTER came from (so a
phone behind NAT is reached). The caller's identity is in the From header: the user part is
the caller's number (or ``caller``), the display name ``"<who> · <queue>"``, which is what a
desk phone shows while it rings. Never the trunk's credentials: a phone that challenges our
INVITE gets no answer from us (it is callport's own registered device).

Outcomes (``callport.queues.reach`` rules): the first phone to answer wins, the others are
CANCELled, and ``Reached`` carries a started media-only ``CallSession`` over its ``SipLeg``
(in a ``HoldingLeg``: when the agent holds on the phone, the caller hears hold music).
No binding: ``NotReached(OFFLINE)``. 486/600 busy -> ``BUSY``; 603 declined -> ``REJECTED``
(a decline on one phone ends the whole ring: the person said no); the ring timeout -> the
INVITEs are CANCELled and ``NO_ANSWER``; 480 -> ``NO_ANSWER``; anything else -> the cause of
that status (``call.dial.cause_of_sip``). A cancelled ``ring`` CANCELs every INVITE and
re-raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Protocol

from callport.agents.base import CallInfo
from callport.call.dial import DialCause, cause_of_sip
from callport.channels.agent_hold import HoldingLeg
from callport.channels.sip.calls import CallFailed, SipCall
from callport.channels.sip.events import SipEvent
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.legsockets import LegSockets
from callport.channels.sip.registrar_bindings import Binding
from callport.channels.sip.registrar_service import AgentRegistrar
from callport.channels.sip.rtpsocket import RtpPortPool
from callport.channels.sip.sdp import MediaPlan
from callport.channels.sip.useragent import UserAgent
from callport.config import SipSettings
from callport.metrics import Metrics
from callport.queues.reach import OFFLINE, NotReached, Offer, Reached, answered_session

log = logging.getLogger(__name__)

__all__ = ["SipAgentReach", "caller_display", "caller_user"]

# The order in which outcomes of separate phones are reported when none answered.
_RANK = (DialCause.REJECTED, DialCause.BUSY, DialCause.NO_ANSWER)


class ReachHost(Protocol):
    """What the reach needs of the SIP channel driver (``SipChannel``)."""

    settings: SipSettings
    calls: dict[str, SipCall]
    pool: RtpPortPool
    agents: AgentRegistrar | None

    def now(self) -> float: ...

    def apply(self, events: list[SipEvent], ua: UserAgent | None = None) -> None: ...

    def ua_by_transport(self, transport: str) -> UserAgent: ...

    def make_leg(self, sockets: LegSockets, key: str, call_id: str,
                 plan: MediaPlan | None, *, rtp_source: str | None = None,
                 rtp_peer: str | None = None) -> SipLeg: ...

    def hangup_call(self, key: str, reason: str) -> None: ...


def caller_user(info: CallInfo) -> str:
    """The From user part: the caller's number (``+`` and digits), else ``anonymous``."""
    text = re.sub(r"[^0-9+]", "", info.caller or "")
    return text if len(text) >= 3 else "anonymous"


def caller_display(offer: Offer) -> str:
    """``"Alice Smith · support"``: who is calling (identified user, else number), and the
    queue; quotes, backslashes and control characters removed, at most 60 characters."""
    info = offer.caller
    who = (info.user.spoken_name if info.user is not None and not info.user.guest
           else info.caller) or "unknown caller"
    text = f"{who} · {offer.queue}" if offer.queue else who
    return re.sub(r'["\\\x00-\x1f\x7f]', "", text)[:60]


class SipAgentReach:
    """Rings agents on their registered SIP phones (see the module docstring)."""

    def __init__(self, *, host: ReachHost, metrics: Metrics | None = None) -> None:
        self.host = host
        self.metrics = metrics

    def bindings(self, agent: str) -> list[Binding]:
        agents = self.host.agents
        return agents.contacts(agent) if agents is not None else []

    def online(self, agent: str) -> bool:
        return bool(self.bindings(agent))

    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        bindings = self.bindings(agent)
        if not bindings:
            return NotReached(agent=agent, cause=OFFLINE, detail="no SIP phone registered")
        tasks = [asyncio.create_task(self._dial(b, offer, timeout_s),
                                     name=f"ring:{agent}:{b.contact}") for b in bindings]
        failures: list[tuple[DialCause, str]] = []
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result = task.result()
                    if isinstance(result, SipLeg):
                        await _cancel_all(pending)
                        log.info("SIP agent %s answered %s on %s", agent, offer.call_id,
                                 result.call_id)
                        return Reached(agent=agent, session=answered_session(
                            HoldingLeg(leg=result), metrics=self.metrics))
                    failures.append(result)
                    if result[0] is DialCause.REJECTED:  # a 6xx: the person said no
                        await _cancel_all(pending)
                        pending = set()
        except asyncio.CancelledError:
            await _cancel_all(tasks)
            raise
        cause, detail = min(failures, key=lambda f: _RANK.index(f[0]) if f[0] in _RANK
                            else len(_RANK))
        return NotReached(agent=agent, cause=cause, detail=detail)

    async def _dial(self, binding: Binding, offer: Offer,
                    timeout_s: float) -> SipLeg | tuple[DialCause, str]:
        """One INVITE to one binding: the answered leg, or (cause, detail)."""
        host, s = self.host, self.host.settings
        try:
            sockets = await LegSockets.open(host.pool)
        except RuntimeError:
            return DialCause.CARRIER_ERROR, "no RTP port free"
        try:
            ua = host.ua_by_transport(binding.transport)
            key, events = ua.invite(
                binding.contact, media_host=s.public_host or s.host, media_port=sockets.port,
                now=host.now(), peer=binding.source, caller=caller_user(offer.caller),
                display=caller_display(offer))
        except (CallFailed, ValueError) as exc:
            sockets.close()
            return DialCause.UNREACHABLE, str(exc)
        dialog = ua.dialogs[key]
        # RTP is admitted from the phone's own host too (a phone names its LAN address in
        # the SDP and sends from the address its REGISTER came from)
        leg = host.make_leg(sockets, key, dialog.call_id, None, rtp_peer=binding.source[0])
        info = CallInfo(call_id=dialog.call_id, channel="sip", caller=offer.caller.caller,
                        callee=binding.contact, direction="outbound")
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        host.calls[key] = SipCall(key=key, call_id=dialog.call_id, leg=leg, info=info,
                                  answered=answered)
        host.apply(events, ua)
        try:
            await asyncio.wait_for(asyncio.shield(answered), timeout_s)
        except TimeoutError:
            _forget(answered)
            host.hangup_call(key, "no-answer")  # CANCEL
            return DialCause.NO_ANSWER, f"{binding.contact} rang {timeout_s:g} s"
        except CallFailed as exc:
            return cause_of_sip(exc.status), f"{binding.contact}: {exc}"
        except asyncio.CancelledError:
            _forget(answered)
            host.hangup_call(key, "canceled")  # CANCEL (or BYE, if it had just answered)
            raise
        return leg


def _forget(future: asyncio.Future[None]) -> None:
    """Nobody waits for ``future`` any more; its late 487 must not be logged as unretrieved."""
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _cancel_all(tasks: set[asyncio.Task[SipLeg | tuple[DialCause, str]]]
                      | list[asyncio.Task[SipLeg | tuple[DialCause, str]]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            result = await task
            if isinstance(result, SipLeg):  # answered at the same moment: not wanted
                await result.hangup("answered-elsewhere")
