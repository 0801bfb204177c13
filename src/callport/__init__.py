"""callport: make a voice agent reachable by phone and from the browser."""

from __future__ import annotations

__version__ = "0.1.0"
