"""What a channel module supplies to the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from starlette.routing import BaseRoute


class Channel(Protocol):
    name: str

    def routes(self) -> Sequence[BaseRoute]:
        """HTTP and WebSocket routes to mount on the ASGI app."""
        ...

    async def start(self) -> None:
        """Open sockets or background tasks (called in the app lifespan)."""
        ...

    async def stop(self) -> None: ...


class ChannelFactory(Protocol):
    """A channel module's ``create``. ``runtime`` is the server's ``Runtime``; each channel
    names the part it uses as its own Protocol (channels sit below the server and never import
    it, not even for types)."""

    def __call__(self, runtime: Any) -> Channel: ...
