"""``callport call sip:...`` / ``tel:...`` over the native SIP channel.

``place_call`` dials through the SIP channel's neutral ``Dialer`` (``channel.outbound``, a
``callport.channels.sip.dialer.SipOutbound``) from the running channel if given, else a
temporary one on a free port with the configured trunk; the answered call runs through
``runtime.run_call`` like any inbound call, and the SIP Call-ID is returned once it ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import cast

from callport.call.dial import Answered, Dialer, DialFailed, DialOptions
from callport.channels.sip.channel import CallFailed, CallRunner, SipChannel
from callport.config import Settings

__all__ = ["open_dialer", "place_call"]


async def place_call(runtime: CallRunner, uri: str, *, channel: SipChannel | None = None,
                     answer_timeout: float = 30.0) -> str:
    """Call ``uri``; ``CallFailed`` (with the SIP status) when it is not answered."""
    own = channel is None
    if channel is None:
        channel = SipChannel(runtime, settings=replace(runtime.settings.sip, enabled=True, port=0))
        await channel.start()
    try:
        result = await channel.outbound.dial(uri, options=DialOptions(timeout_s=answer_timeout))
        if isinstance(result, DialFailed):
            raise CallFailed(result.sip_status, result.detail)
        await channel.outbound.finished(result.call_id)
        return result.call_id
    finally:
        if own:
            await channel.stop()


@contextlib.asynccontextmanager
async def open_dialer(
    settings: Settings, *, runtime: Callable[[], object]
) -> AsyncIterator[tuple[Dialer, Callable[[Answered], Awaitable[None]]]]:
    """``callport.channels.carriers.open_dialer`` for SIP: a temporary channel on a free port
    with the configured trunk; ``wait`` returns once an answered call ended."""
    channel = SipChannel(cast(CallRunner, runtime()),
                         settings=replace(settings.sip, enabled=True, port=0))
    await channel.start()
    try:
        yield channel.outbound, lambda answered: channel.outbound.finished(answered.call_id)
    finally:
        await channel.stop()
