"""The browser channel: a web page talks to the agent over WebSocket or WebRTC.

Modules: ``protocol`` (sans-IO control messages and audio framing), ``tokens`` (signed call
tokens), ``leg`` (the ``BrowserLeg``), ``ws`` / ``rtc`` (the WebSocket and aiortc drivers),
``echo`` (echo mode) and ``channel`` (routes, page, lifespan). This package face imports
nothing: importing ``protocol`` must not load asyncio or Starlette, so ``create`` imports
``channel`` only when the server calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callport.channels.browser.channel import BrowserChannel, BrowserRuntime

__all__ = ["create"]


def create(runtime: BrowserRuntime) -> BrowserChannel:
    from callport.channels.browser.channel import create as create_channel  # loaded on demand

    return create_channel(runtime)
