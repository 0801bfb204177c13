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

from collections.abc import Sequence
from typing import Any

from callport.channels.agent_devices import DeviceReach
from callport.channels.base import Channel
from callport.channels.browser.agent_desk import AgentDesk, DeskControls
from callport.channels.browser.agent_routes import AgentDeskChannel
from callport.channels.sip.agent_reach import SipAgentReach
from callport.channels.sip.channel import SipChannel
from callport.queues.reach import AgentReach

__all__ = ["agent_desk", "agent_reach", "connect_desk", "wire_agents"]


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


def wire_agents(runtime: Any, channels: Sequence[Channel]) -> AgentReach | None:
    """``runtime.queues`` rings agents on their phones and pages; the page's away switch (and
    hold/transfer, where the service offers them) go to that service."""
    reach = agent_reach(channels)
    service = runtime.queues
    service.reach = reach
    connect_desk(channels, service)
    return reach
