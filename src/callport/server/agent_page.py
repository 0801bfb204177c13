"""Wiring people's devices into the queues: the ``AgentReach`` the queue service rings.

``agent_reach(channels)`` looks through the active channels for the ways agents take calls
and returns one ``AgentReach`` over them (``channels.agent_devices.DeviceReach``):

- the SIP channel with its registrar (``sip.registrar``): agents' registered phones,
  rung by ``channels.sip.agent_reach.SipAgentReach``;
- the agent desk channel (``channels.browser.agent_routes``, the ``/agent`` page): the
  agents' open pages, rung by its ``AgentDesk``.

None when there is neither (no SIP, no browser channel): the queue service then has nobody
to ring, and says so to callers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from callport.call.call import Call
from callport.call.controls import Refused
from callport.channels.agent_devices import DeviceReach
from callport.channels.base import Channel
from callport.channels.browser.agent_desk import AgentDesk, DeskControls
from callport.channels.browser.agent_routes import AgentDeskChannel
from callport.channels.sip.agent_reach import SipAgentReach
from callport.channels.sip.channel import SipChannel
from callport.queues.reach import AgentReach

log = logging.getLogger(__name__)

__all__ = ["DeskCalls", "agent_desk", "agent_reach", "connect_desk", "wire_agents"]


def agent_desk(channels: Sequence[Channel]) -> AgentDesk | None:
    desk = next((c for c in channels if isinstance(c, AgentDeskChannel)), None)
    return desk.desk if desk is not None else None


def agent_reach(channels: Sequence[Channel]) -> AgentReach | None:
    reaches: list[AgentReach] = []
    for channel in channels:
        if isinstance(channel, SipChannel):
            reaches.append(SipAgentReach(host=channel, metrics=channel.metrics))
    desk = agent_desk(channels)
    if desk is not None:
        reaches.append(desk)
    if not reaches:
        return None
    return reaches[0] if len(reaches) == 1 else DeviceReach(reaches=reaches)


def connect_desk(channels: Sequence[Channel], controls: DeskControls | None) -> None:
    """Give the agent page the queue service (away, and hold/transfer where it has them)."""
    desk = agent_desk(channels)
    if desk is not None:
        desk.controls = controls


class DeskCalls:
    """What the agent page's buttons do to the caller's call (``DeskControls``): away goes to
    the queue service; **Transfer** hands the caller to a number or ``sip:`` URI on the
    caller's own line (SIP REFER, the provider's transfer: ``Leg.transfer``), after which the
    caller's call leaves callport and the agent's side of the bridge is hung up; **Pause
    recording** pauses the caller's call recording until pressed again. A
    ``queue:NAME`` target is the queue service's (``QueueService.transfer``, when it has it);
    a line that cannot transfer says so, and nothing changes."""

    def __init__(self, *, service: Any, active: Mapping[str, Call]) -> None:
        self.service = service
        self.active = active

    def set_away(self, name: str, away: bool) -> None:
        self.service.set_away(name, away)

    async def transfer(self, agent: str, call_id: str, target: str) -> str:
        own = getattr(self.service, "transfer", None)
        if own is not None:
            return str(await own(agent, call_id, target) or "")
        if target.startswith("queue:"):
            return "moving a caller to another queue is not available here"
        uri = transfer_uri(target)
        if uri is None:
            return f"{target!r}: give a number (+15551234567) or a sip: address"
        call = self.active.get(call_id)
        if call is None or call.ended:
            return "the caller's call is not on this server any more"
        result = await call.session.leg.transfer(uri)
        if isinstance(result, Refused):
            why = result.detail or result.refusal.value
            return f"the caller's line cannot be transferred: {why}"
        log.info("agent %s transferred %s to %s", agent, call_id, uri)
        return ""

    async def pause_recording(self, agent: str, call_id: str, paused: bool) -> str:
        """**Pause recording** / **Resume recording**: the caller's call recording
        (``Call.pause_recording``: the span is silence or skipped, its words not kept)."""
        call = self.active.get(call_id)
        if call is None or call.ended:
            return "the caller's call is not on this server any more"
        if call.recording is None:
            return "this call is not being recorded"
        done = call.pause_recording() if paused else call.resume_recording()
        if not done:
            return "the recording is already paused" if paused else "the recording is on"
        log.info("agent %s %s the recording of %s", agent, "paused" if paused else "resumed",
                 call_id)
        return ""


def transfer_uri(target: str) -> str | None:
    """``+1 555 123`` -> ``tel:+1555123``; ``sip:``/``tel:`` URIs as given; else None."""
    text = target.strip()
    if text.startswith(("sip:", "sips:", "tel:")):
        return text if " " not in text and len(text) <= 200 else None
    digits = re.sub(r"[\s().-]", "", text)
    return f"tel:{digits}" if re.fullmatch(r"\+?[0-9]{3,15}", digits) else None


def wire_agents(runtime: Any, channels: Sequence[Channel]) -> AgentReach | None:
    """``runtime.queues`` rings agents on their phones and pages; the page's away switch and
    Transfer button act through ``DeskCalls``."""
    reach = agent_reach(channels)
    service = runtime.queues
    service.reach = reach
    connect_desk(channels, DeskCalls(service=service, active=runtime.active))
    return reach
