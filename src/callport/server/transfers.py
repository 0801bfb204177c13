"""Wiring transfers (``callport.flows.transfer``) into the runtime: every call gets
``call.transfers``, and callport dials people for warm transfers (and for blind ones the leg
cannot do) through the SIP channel when it runs (``SipLegDialer``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from callport.call.dial import DialCause, DialFailed, cause_of_sip
from callport.call.leg import Leg
from callport.flows.transfer import Transfers
from callport.server.runtime import Runtime

__all__ = ["SipLegDialer", "wire_transfers"]

log = logging.getLogger(__name__)


class SipLegDialer:
    """The SIP channel's INVITE as a ``LegDialer``: the answered ``SipLeg`` (no flow runs on
    it), or the final status as a ``DialFailed`` (486 busy, 480 or the ring timer no answer)."""

    name = "sip"

    def __init__(self, channel: Any) -> None:  # SipChannel (channels.sip.channel)
        self.channel = channel

    async def dial_leg(self, target: str, *, timeout_s: float) -> Leg | DialFailed:
        from callport.channels.sip.calls import CallFailed

        try:
            leg: Leg = await self.channel.dial(target, timeout=timeout_s)
        except CallFailed as exc:
            cause = cause_of_sip(exc.status)
            return DialFailed(carrier=self.name, cause=cause, detail=str(exc),
                              sip_status=exc.status)
        except (ValueError, RuntimeError) as exc:  # a target no rule routes; no RTP port free
            return DialFailed(carrier=self.name, cause=DialCause.BAD_TARGET
                              if isinstance(exc, ValueError) else DialCause.CARRIER_ERROR,
                              detail=str(exc))
        return leg


def wire_transfers(runtime: Runtime, channels: Sequence[Any]) -> Transfers:
    sip = next((c for c in channels if getattr(c, "name", "") == "sip"), None)
    transfers = Transfers(new_call=runtime.new_call,
                          dialer=SipLegDialer(sip) if sip is not None else None,
                          events=runtime.calls.add_event)  # each step on the call's record
    runtime.transfers = transfers
    if sip is None:
        log.info("transfers: no SIP channel; warm transfers are refused, blind ones use the "
                 "leg's own transfer")
    return transfers
