"""The Telnyx channel: Call Control v2 (or TeXML) set-up and bidirectional media streaming.

Modules: ``media`` (sans-IO WebSocket core), ``webhook`` (Ed25519 verification, event
parsing), ``rest`` (Call Control commands over httpx), ``texml`` (TeXML set-up), ``tokens``
(HMAC stream tokens), ``channel`` (the asyncio routes), ``cli`` (``callport call --via
telnyx`` and doctor checks). Calls are kept in the shared ``callport.channels.callbook`` and
recorded by ``callport.channels.callrecords``; the leg is the shared
``callport.channels.media_leg.MediaStreamLeg``: nothing below it knows about Telnyx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callport.channels.telnyx.channel import TelnyxChannel

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

__all__ = ["TelnyxChannel", "create"]


def create(runtime: Runtime) -> TelnyxChannel:
    return TelnyxChannel(runner=runtime)
