"""What a channel module supplies to the server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from callport.server.runtime import Runtime


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
    def __call__(self, runtime: Runtime) -> Channel: ...
