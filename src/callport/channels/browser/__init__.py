"""The browser channel: a web page talks to the agent over WebSocket or WebRTC."""

from __future__ import annotations

from callport.channels.browser.channel import BrowserChannel, create

__all__ = ["BrowserChannel", "create"]
