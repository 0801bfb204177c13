"""``callport call sip:...`` / ``tel:...`` over the native SIP channel.

``place_call`` dials from a SIP channel (the running one if given, else a temporary one on a
free port with the configured trunk), runs the answered call through ``runtime.run_call``
like any inbound call, and returns the SIP Call-ID once the call has ended.
"""

from __future__ import annotations

from dataclasses import replace

from callport.channels.sip.channel import CallRunner, SipChannel

__all__ = ["place_call"]


async def place_call(runtime: CallRunner, uri: str, *, channel: SipChannel | None = None,
                     answer_timeout: float = 30.0) -> str:
    own = channel is None
    if channel is None:
        channel = SipChannel(runtime, settings=replace(runtime.settings.sip, enabled=True, port=0))
        await channel.start()
    try:
        leg = await channel.dial(uri, timeout=answer_timeout)
        await channel.start_call(leg)
        return leg.call_id
    finally:
        if own:
            await channel.stop()
