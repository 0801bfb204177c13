"""Twilio Programmable Voice: inbound and outbound calls over Media Streams.

``create(runtime)`` is the channel factory the server calls (see ``callport.channels``).
Modules: ``media`` (sans-IO stream protocol), ``webhooks`` (signatures, callbacks), ``twiml``,
``rest`` (async call control), ``tokens`` (signed, expiring stream tokens), ``channel`` (routes
and driver), ``cli`` (``callport call --via twilio``, doctor checks). Calls are kept in the
shared ``callport.channels.callbook`` and recorded by ``callport.channels.callrecords``.

This package face imports nothing: importing the pure ``media`` core must not load asyncio,
Starlette or httpx, so ``create`` imports ``channel`` only when the server calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.channels.callrecords import CallRunner
    from callport.channels.twilio.channel import TwilioChannel


def create(runtime: CallRunner) -> TwilioChannel:
    from callport.channels.twilio.channel import TwilioChannel  # the driver, loaded on demand

    return TwilioChannel(runtime=runtime)


__all__ = ["create"]
