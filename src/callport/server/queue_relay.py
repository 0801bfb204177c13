"""The HTTP door of the node-to-node queue relay (``callport.queues.relay``): the WebSocket
``/internal/queues/ring`` where another node offers its waiting caller to an agent whose device
is on this node, and ``start_cluster``, which joins this node to the shared queue state.

The door is shut unless the node has a node secret (``server.node_secret``,
``CALLPORT_NODE_SECRET``, the same on every node): a request without a valid HMAC signature of
the calling node, within the time window and with a fresh nonce, is refused before the
WebSocket is accepted (HTTP 403), and logged. Queues span nodes only with ``server.redis`` and
a node secret; without them each node keeps its queues to itself, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from callport.queues.cluster import ClusterReach, QueueCluster, serve_ring
from callport.queues.reach import AgentReach
from callport.queues.relay import RING_PATH, RelayError, verify

__all__ = [
    "StarletteLink", "node_url", "relay_door", "relay_routes", "start_cluster",
]

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008


class StarletteLink:
    """A relay ``Link`` over an accepted Starlette WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send(self, message: str | bytes) -> None:
        if self._ws.application_state is not WebSocketState.CONNECTED:
            return
        with contextlib.suppress(Exception):
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            else:
                await self._ws.send_text(message)

    async def receive(self) -> str | bytes | None:
        try:
            got = await self._ws.receive()
        except Exception:
            return None
        if got.get("type") != "websocket.receive":
            return None
        data = got.get("bytes")
        return data if data is not None else got.get("text")

    async def close(self) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self._ws.close()


def relay_routes(*, secret: str, reach: Callable[[], AgentReach | None],
                 clock: Callable[[], float] = time.time) -> list[BaseRoute]:
    """The relay door; ``reach()`` is this node's own devices (phones, agent pages)."""
    nonces: dict[str, float] = {}  # nonce -> when (relay.verify keeps the window's)

    async def ring(websocket: WebSocket) -> None:
        now = clock()
        try:
            node = verify(secret, dict(websocket.headers), path=RING_PATH, now=now,
                          seen=nonces)
        except RelayError as exc:
            log.warning("queues: refused a relay request from %s: %s", websocket.client, exc)
            await websocket.close(code=CLOSE_POLICY)
            return
        await websocket.accept()
        link = StarletteLink(websocket)
        try:
            here = reach()
            local = here.local if isinstance(here, ClusterReach) else here
            await serve_ring(link, reach=local, caller_node=node)
        finally:
            await link.close()

    return [WebSocketRoute(RING_PATH, ring)]


def start_cluster(runtime: Any, *, url: str, client: Any = None) -> asyncio.Task[None] | None:
    """With ``server.redis`` and a node secret: share ``runtime.queues`` with the other nodes
    (``QueueCluster`` over ``RedisQueueState``, rings through ``ClusterReach``) and start its
    beat. ``url`` is this node's address as the other nodes reach it. None (and nothing
    changes) without Redis or a secret."""
    secret = runtime.settings.server.node_secret
    redis_url = runtime.settings.server.redis
    if not redis_url or not secret:
        if redis_url:
            log.warning("queues: server.redis is set but server.node_secret "
                        "(CALLPORT_NODE_SECRET) is not: queues stay on this node")
        return None
    from callport.queues.shared_redis import RedisQueueState
    from callport.store.live_redis import connect

    service = runtime.queues
    cluster = QueueCluster(state=RedisQueueState(client or connect(redis_url)),
                           node=runtime.node_id, url=url, secret=secret,
                           settings=service.settings)
    service.cluster = cluster
    service.reach = ClusterReach(cluster=cluster, local=service.reach)
    return asyncio.get_running_loop().create_task(cluster.run(service),
                                                  name="queue-cluster")


def node_url(settings: Any) -> str:
    """Where the other nodes reach this one's HTTP port (``server.node_url``, else
    ``http://server.host:server.port``, the host name when bound to every address)."""
    explicit = str(settings.server.node_url).strip()
    if explicit:
        return explicit.rstrip("/")
    import socket

    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{settings.server.port}"


def relay_door(runtime: Any) -> list[BaseRoute]:
    """``/internal/queues/ring`` for ``create_app``: shut (403) without a node secret."""
    return relay_routes(secret=runtime.settings.server.node_secret,
                        reach=lambda: runtime.queues.reach)
