"""Native SIP channel: callport as a SIP user agent (UAS and UAC) with RTP G.711 media.

Sans-IO cores: ``message`` (parser/serializer), ``transaction`` (RFC 3261 §17), ``dialog``,
``auth`` (digest), ``trust`` (allowlist, REFER policy, caller ID, the public-bind guard),
``sdp`` (offer/answer), ``rtp`` / ``rtcp`` / ``dtmf4733`` / ``media``,
``srv`` (RFC 3263 ordering), and the user agent: ``useragent`` owns a shared ``ua_core`` and
the ``ua_inbound`` (with ``ua_admission``: may a new INVITE ring?) / ``ua_outbound`` /
``ua_register`` parts. The asyncio driver is ``channel`` with ``transports`` (UDP + ``tcp``),
``targets`` (trunk, transport, RFC 3263 addresses), ``answering`` (an admitted INVITE:
503 when busy, else RTP ports, the leg, the 200), ``dialer`` (outbound INVITE/REGISTER),
``transferee`` (following a REFER), ``legsockets`` / ``rtpsocket`` (RTP/RTCP ports) and
``mediawatch`` (RTCP tick, media timeout, RTCP metrics); ``leg`` makes each call a ``Leg``.

This package face imports nothing: importing a core (``callport.channels.sip.message``) must
not load the asyncio driver, so ``create`` imports ``channel`` only when the server calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.channels.sip.calls import CallRunner
    from callport.channels.sip.channel import SipChannel
    from callport.config import Settings


def enabled(settings: Settings) -> bool:
    """SIP listens only when asked to (``--sip-port`` or ``sip.enabled``)."""
    return settings.sip.enabled


def create(runtime: CallRunner) -> SipChannel:
    from callport.channels.sip.channel import SipChannel  # the driver, loaded on demand

    return SipChannel(runtime)


__all__ = ["create", "enabled"]
