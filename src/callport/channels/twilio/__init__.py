"""Twilio Programmable Voice: inbound and outbound calls over Media Streams.

``create(runtime)`` is the channel factory the server calls (see ``callport.channels``).
Modules: ``media`` (sans-IO stream protocol), ``webhooks`` (signatures, callbacks), ``twiml``,
``rest`` (async call control), ``book`` (call records, stream tokens), ``channel`` (routes and
driver), ``cli`` (``callport call --via twilio``, doctor checks).
"""

from __future__ import annotations

from callport.channels.twilio.channel import CallRunner, TwilioChannel


def create(runtime: CallRunner) -> TwilioChannel:
    return TwilioChannel(runtime=runtime)


__all__ = ["TwilioChannel", "create"]
