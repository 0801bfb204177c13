"""The Telnyx channel: Call Control v2 (or TeXML) set-up and bidirectional media streaming.

Modules: ``media`` (sans-IO WebSocket core), ``webhook`` (Ed25519 verification, event
parsing), ``rest`` (Call Control commands over httpx), ``texml`` (TeXML set-up), ``tokens``
(HMAC stream tokens), ``channel`` (the asyncio routes), ``cli`` (``callport call --via
telnyx`` and doctor checks). Calls are kept in the shared ``callport.channels.callbook`` and
recorded by ``callport.channels.callrecords``; the leg is the shared
``callport.channels.media_leg.MediaStreamLeg``: nothing below it knows about Telnyx.

This package face imports nothing: importing the pure ``media`` core must not load asyncio,
Starlette or httpx, so ``create`` imports ``channel`` only when the server calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.channels.callrecords import CallRunner
    from callport.channels.telnyx.channel import TelnyxChannel

__all__ = ["create"]


def create(runtime: CallRunner) -> TelnyxChannel:
    from callport.channels.telnyx.channel import TelnyxChannel  # the driver, loaded on demand

    return TelnyxChannel(runner=runtime)
