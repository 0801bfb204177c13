"""Channels: each a protocol core (sans-IO) plus a thin asyncio driver that yields Legs.

A channel module ``callport.channels.<name>`` exposes ``create(runtime) -> Channel``
(see ``callport.channels.base``) and is listed in ``CHANNEL_MODULES``; the server mounts
its routes and runs its ``start``/``stop`` in the app's lifespan.
"""

from __future__ import annotations

CHANNEL_MODULES: tuple[str, ...] = (
    "callport.channels.twilio",
    "callport.channels.telnyx",
    "callport.channels.sip",
    "callport.channels.browser.agent_routes",  # the /agent page (agents' desk)
    "callport.channels.browser",  # last: it serves the page at "/"
)
