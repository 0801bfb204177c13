"""Queues across nodes: ``QueueCluster`` keeps this node's part of the shared ``QueueState``
and ``ClusterReach`` rings agents wherever their device is.

- Every ``beat_s`` the cluster beats for this node (its relay URL, a TTL of ``ttl_s``), says
  which of its agents are online here (a registered phone, an open agent page, away or not),
  reads every agent's shared state into a cache (what ``online`` answers from, synchronously,
  for the engine), sweeps the callers of nodes that stopped beating, and lets the service
  match again (``step``) so an agent who came free on another node is offered at once.
- The service tells it when a caller joins and leaves (``joined`` / ``left``), so positions
  count every node's callers (``position``).
- ``ClusterReach.ring`` is where the engine's choice meets the other nodes: it first
  **claims** the agent for the caller (one atomic step: refused ``busy`` when another node got
  there first, ``ahead`` when an older caller elsewhere waits for them), then rings them on
  this node's devices, or on their node through the relay (``queues.relay`` over an
  authenticated WebSocket), then **answers** (the first answer takes the caller) or releases
  the claim. When the bridged call is over the agent goes to wrap-up in the shared state.

``serve_ring`` is the other end of the relay: node B rings its own agent for node A's caller
and bridges the answer to the relay link (``server.queue_relay`` is its HTTP door).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from callport.call.bridge import Bridge
from callport.call.dial import DialCause
from callport.config_queues import QueuesSettings
from callport.queues.engine import QueueEngine
from callport.queues.model import CallerSnapshot, QueueSnapshot
from callport.queues.reach import (
    OFFLINE,
    AgentReach,
    NotReached,
    Offer,
    ReachCause,
    Reached,
    answered_session,
)
from callport.queues.relay import (
    RING_PATH,
    Link,
    RelayError,
    RelayLeg,
    control,
    decode_offer,
    encode_offer,
    sign,
)
from callport.queues.shared import Claim, QueueState, SharedAgent, SharedStatus, WaitingCaller

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from callport.queues.service import QueueService

__all__ = [
    "ClusterReach", "OpenLink", "QueueCluster", "WebSocketLink", "cluster_status", "serve_ring",
]

log = logging.getLogger(__name__)

REFRESH_EVERY = 5  # beats between two reads of the agents from the user store
RELAY_RATE = 16000  # the relay's audio rate (each end resamples to its own leg's)
_CAUSES: dict[Claim, ReachCause] = {
    Claim.GONE: DialCause.NOT_CONFIGURED, Claim.OFFLINE: OFFLINE, Claim.AWAY: OFFLINE,
    Claim.BUSY: DialCause.BUSY, Claim.AHEAD: DialCause.BUSY}


@dataclass(slots=True)
class QueueCluster:
    """This node's membership of the shared queue state (see the module docstring)."""

    state: QueueState
    node: str
    url: str  # where other nodes open the relay (http://host:port of this node)
    secret: str
    settings: QueuesSettings
    ttl_s: float = 6.0
    beat_s: float = 2.0
    clock: Callable[[], float] = time.time
    agents: dict[str, SharedAgent] = field(default_factory=dict)  # the cache, by name
    positions: dict[str, int] = field(default_factory=dict)  # this node's callers
    _mine: set[str] = field(default_factory=set)

    async def joined(self, call_id: str, queue: str, *, priority: int, caller: str) -> None:
        """A caller of this node waits (the shared state failing is logged: they still wait
        here, offered to this node's agents)."""
        self._mine.add(call_id)
        try:
            await self.state.join(WaitingCaller(call_id=call_id, queue=queue, node=self.node,
                                                priority=priority, joined_at=self.clock(),
                                                caller=caller))
        except Exception:
            log.warning("queues: could not share %s's place", call_id, exc_info=True)

    async def left(self, call_id: str) -> None:
        self._mine.discard(call_id)
        self.positions.pop(call_id, None)
        try:
            await asyncio.shield(self.state.leave(call_id))
        except Exception:
            log.warning("queues: could not take %s out of the shared queue", call_id,
                        exc_info=True)

    def position(self, call_id: str, local: int) -> int:
        return self.positions.get(call_id, local)

    def available(self, agent: str) -> bool:
        seen = self.agents.get(agent)
        return seen is not None and seen.status is SharedStatus.AVAILABLE

    async def beat(self, local: dict[str, bool]) -> None:
        """One beat; ``local``: the agents online on this node -> away."""
        now = self.clock()
        await self.state.heartbeat(self.node, url=self.url, ttl_s=self.ttl_s, now=now)
        await self.state.agents_seen(local, self.node, ttl_s=self.ttl_s, now=now)
        for name, seen in self.agents.items():  # gone from this node since the last beat
            if seen.node == self.node and name not in local:
                await self.state.agent_unseen(name, self.node)
        lost = await self.state.sweep(now=now)
        if lost:
            log.warning("queues: callers of a lost node are gone: %s", ", ".join(lost))
        self.agents = {a.name: a for a in await self.state.agents(now=now)}
        self.positions = await self.state.positions(sorted(self._mine), now=now)

    async def ended(self, agent: str, queue: str) -> None:
        rules = self.settings.get(queue)
        await self.state.ended(agent, wrap_up_s=rules.wrap_up_s if rules else 0.0,
                               now=self.clock())

    async def run(self, service: _Service) -> None:
        """Beat until cancelled; then leave (the other nodes drop this node's callers)."""
        beats = 0
        try:
            while True:
                try:
                    if beats % REFRESH_EVERY == 0:  # agents added or removed in the user store
                        await service.refresh_agents()
                    beats += 1
                    await self.beat(local_agents(service))
                    service.step()
                except Exception:
                    log.warning("queues: shared state beat failed", exc_info=True)
                await asyncio.sleep(self.beat_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.state.node_gone(self.node))


    async def overlay(self, queues: tuple[QueueSnapshot, ...]) -> tuple[QueueSnapshot, ...]:
        """This node's ``queues status`` as the cluster sees it: every node's callers in the
        shared order (each with its node) and each agent's shared state and node."""
        now, out = self.clock(), []
        agents = {a.name: a for a in await self.state.agents(now=now)}
        for q in queues:
            mine = {w.call_id: w for w in q.waiting}
            waiting = tuple(
                replace(mine[c.call_id], position=i + 1, node=c.node) if c.call_id in mine
                else CallerSnapshot(position=i + 1, call_id=c.call_id, caller=c.caller,
                                    waited_s=max(0.0, now - c.joined_at),
                                    state="ringing" if c.ringing else "waiting",
                                    priority=c.priority, ringing=c.ringing, node=c.node)
                for i, c in enumerate(await self.state.callers(q.name, now=now)))
            shared = {x.call_id for x in waiting}
            waiting += tuple(replace(w, position=len(waiting) + k + 1) for k, w in enumerate(
                w for w in q.waiting if w.call_id not in shared))  # not shared (a call-back)
            shown = tuple(
                replace(a, state=agents[a.name].status.value,
                        online=agents[a.name].status is not SharedStatus.OFFLINE,
                        current_call=agents[a.name].call_id or a.current_call,
                        node=agents[a.name].node) if a.name in agents else a
                for a in q.agents)
            out.append(replace(q, waiting=waiting, agents=shown))
        return tuple(out)


async def cluster_status(service: QueueService) -> tuple[QueueSnapshot, ...]:
    """``service.status()``, seen across the nodes when it has a cluster."""
    local = service.status()
    return local if service.cluster is None else await service.cluster.overlay(local)


class _Service(Protocol):  # what QueueCluster.run needs of the QueueService
    reach: AgentReach | None
    engine: QueueEngine

    @property
    def away(self) -> frozenset[str]: ...

    def step(self) -> None: ...

    async def refresh_agents(self) -> None: ...


def local_agents(service: _Service) -> dict[str, bool]:
    """The service's agents with a device online on this node -> away."""
    reach = service.reach
    local = reach.local if isinstance(reach, ClusterReach) else reach
    if local is None:
        return {}
    away = service.away
    return {name: name in away for name in service.engine.agents() if local.online(name)}


OpenLink = Callable[[str, dict[str, str]], Awaitable[Link]]
"""Open the relay at ``url`` with these headers (a WebSocket by default)."""


class ClusterReach:
    """An ``AgentReach`` over every node: claim, ring here or through the relay, answer."""

    def __init__(self, *, cluster: QueueCluster, local: AgentReach | None,
                 open_link: OpenLink | None = None) -> None:
        self.cluster, self.local = cluster, local
        self._open = open_link if open_link is not None else _open_websocket

    def online(self, agent: str) -> bool:
        here = self.local is not None and self.local.online(agent)
        seen = self.cluster.agents.get(agent)
        if here:  # a device here; not ringing or talking on behalf of another node
            return seen is None or seen.status in (SharedStatus.AVAILABLE, SharedStatus.OFFLINE)
        return self.cluster.available(agent)

    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        c = self.cluster
        if self.local is not None and self.local.online(agent):  # be seen before claiming
            await c.state.agent_seen(agent, c.node, away=False, ttl_s=c.ttl_s, now=c.clock())
        claim = await c.state.claim(offer.call_id, agent, c.node, now=c.clock())
        if claim is not Claim.OK:
            return NotReached(agent=agent, cause=_CAUSES[claim], detail=f"claim: {claim.value}")
        result: Reached | NotReached = NotReached(agent=agent, cause=DialCause.CARRIER_ERROR)
        try:
            result = await self._ring(agent, offer, timeout_s)
            if isinstance(result, Reached):
                if not await c.state.answer(offer.call_id, agent, c.node, now=c.clock()):
                    await result.session.hangup("answered-elsewhere")
                    result = NotReached(agent=agent, cause=DialCause.NOT_CONFIGURED,
                                        detail="the caller was taken")
                    return result
                task = asyncio.get_running_loop().create_task(
                    self._wrap_up(agent, offer.queue, result))
                _KEEP.add(task)
                task.add_done_callback(_KEEP.discard)
            return result
        finally:
            if not isinstance(result, Reached):
                with contextlib.suppress(Exception):
                    await asyncio.shield(c.state.release(offer.call_id, agent))

    async def _wrap_up(self, agent: str, queue: str, reached: Reached) -> None:
        await reached.session.wait_ended()
        try:
            await self.cluster.ended(agent, queue)
        except Exception:
            log.warning("queues: could not end %s's call in the shared state", agent,
                        exc_info=True)

    async def _ring(self, agent: str, offer: Offer, timeout_s: float) -> Reached | NotReached:
        if self.local is not None and self.local.online(agent):
            return await self.local.ring(agent, offer, timeout_s=timeout_s)
        c = self.cluster
        seen = c.agents.get(agent)
        if seen is None:  # not in the cache yet (the beat comes later)
            seen = next((a for a in await c.state.agents(now=c.clock()) if a.name == agent),
                        None)
        url = await c.state.node_url(seen.node, now=c.clock()) if seen else None
        if seen is None or url is None:
            return NotReached(agent=agent, cause=OFFLINE, detail="no live node")
        try:
            headers = sign(c.secret, path=RING_PATH, node=c.node, now=c.clock())
            link = await self._open(url.rstrip("/") + RING_PATH, headers)
        except Exception as exc:  # unreachable, a refused handshake (the door said no), a bad URL
            return NotReached(agent=agent, cause=DialCause.UNREACHABLE, detail=str(exc)[:200])
        return await _offer_over(link, agent, offer, timeout_s)


_KEEP: set[asyncio.Task[None]] = set()


async def _offer_over(link: Link, agent: str, offer: Offer,
                      timeout_s: float) -> Reached | NotReached:
    """Node A's side of one relay offer."""
    answered = False
    try:
        await link.send(encode_offer(agent, offer, timeout_s=timeout_s, sample_rate=RELAY_RATE))
        async with asyncio.timeout(timeout_s + 5.0):
            reply = await link.receive()
        if not isinstance(reply, str):
            return NotReached(agent=agent, cause=DialCause.UNREACHABLE, detail="relay closed")
        body = control(reply)
        if body["type"] != "answered":
            cause_text = str(body.get("cause", ""))
            cause: ReachCause = OFFLINE if cause_text == "offline" else next(
                (c for c in DialCause if c.value == cause_text), DialCause.CARRIER_ERROR)
            return NotReached(agent=agent, cause=cause, detail=str(body.get("detail", ""))[:200])
        answered = True
        leg = RelayLeg(link, call_id=f"{offer.call_id}-{agent}", sample_rate=RELAY_RATE)
        return Reached(agent=agent, session=answered_session(leg))
    except (RelayError, TimeoutError) as exc:
        return NotReached(agent=agent, cause=DialCause.UNREACHABLE, detail=str(exc)[:200])
    finally:
        if not answered:
            with contextlib.suppress(Exception):
                await asyncio.shield(link.close())


async def serve_ring(link: Link, *, reach: AgentReach | None, caller_node: str) -> None:
    """Node B's side of one relay offer (the door already verified ``caller_node``): ring the
    agent on this node's devices; on an answer bridge their session to the link until either
    side ends."""
    first = await link.receive()
    try:
        if not isinstance(first, str):
            raise RelayError("expected an offer")
        agent, offer, timeout_s, rate = decode_offer(first)
    except RelayError as exc:
        await link.send(_not_reached("carrier-error", str(exc)))
        await link.close()
        return
    if reach is None or not reach.online(agent):
        await link.send(_not_reached("offline", "not on this node"))
        await link.close()
        return
    log.info("queues: relay offer of %s (node %s) to %s", offer.call_id, caller_node, agent)
    ring = asyncio.ensure_future(reach.ring(agent, offer, timeout_s=timeout_s))
    gone = asyncio.ensure_future(link.receive())  # A withdrawing the offer closes the link
    done, _ = await asyncio.wait({ring, gone}, return_when=asyncio.FIRST_COMPLETED)
    if ring not in done:
        ring.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await ring
        await link.close()
        return
    result = ring.result()
    if isinstance(result, NotReached):
        gone.cancel()
        await link.send(_not_reached(str(getattr(result.cause, "value", result.cause)),
                                     result.detail))
        await link.close()
        return
    if gone.done():  # withdrawn just as they answered
        await result.session.hangup("answered-elsewhere")
        return
    gone.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    await link.send('{"type": "answered"}')
    leg = RelayLeg(link, call_id=offer.call_id, sample_rate=rate)
    caller = answered_session(leg)
    try:
        await Bridge(a=caller, b=result.session).run()
    finally:
        for side in (caller, result.session):
            if not side.ended:
                await side.hangup("bridge-ended")


def _not_reached(cause: str, detail: str) -> str:
    return json.dumps({"type": "not-reached", "cause": cause, "detail": detail[:200]})


class WebSocketLink:
    """A relay ``Link`` over a websockets client connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, message: str | bytes) -> None:
        with contextlib.suppress(Exception):
            await self._ws.send(message)

    async def receive(self) -> str | bytes | None:
        try:
            got = await self._ws.recv()
        except Exception:
            return None
        return got if isinstance(got, str | bytes) else None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()


async def _open_websocket(url: str, headers: dict[str, str]) -> Link:
    from websockets.asyncio.client import connect

    ws_url = "ws" + url[4:] if url.startswith("http") else url
    ws = await connect(ws_url, additional_headers=headers, open_timeout=5, proxy=None,
                       compression=None, max_size=1 << 16)
    return WebSocketLink(ws)
