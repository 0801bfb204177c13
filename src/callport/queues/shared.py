"""Queue state that spans nodes: who waits where (and on which node), which agent is in which
state (and on which node their device is), and the atomic offer/claim step.

Every node runs its own ``QueueEngine`` for the callers whose media it holds (the engine stays
the decider: strategies, priorities, ring timeouts). What the nodes share is this state
(``QueueState``), which each engine reads before it offers and writes as it acts:

- **waiting callers** (``WaitingCaller``): queue, priority, ``joined_at``, the owning node,
  the agents ringing for them and the agents already tried; a caller's position counts the
  callers ahead of them on every live node;
- **agents** (``SharedAgent``): ``available`` / ``ringing`` / ``busy`` / ``wrap-up`` /
  ``away`` / ``offline`` and the node their device is on. Presence is a heartbeat with a TTL
  (``agent_seen``): an agent whose node stopped beating, or who was not seen within the TTL,
  is ``offline``;
- **claim** (``claim(call_id, agent, node)``): one step, atomic, that lets ``agent`` ring for
  ``call_id`` only when the agent is online and available and the caller still waits on a
  live node, and when no older caller of the same queue on *another* live node waits unrung
  without having been offered to this agent yet (order across nodes; within one node the
  engine keeps its own order). Two nodes matching the same agent at once: one claim wins, the
  other is refused ``busy``. ``answer`` is the second atomic step: the first agent to answer
  takes the caller (the others' rings are released), later answers are refused;
- **losing a node**: ``sweep(now)`` drops the callers of nodes that stopped beating (their
  media was there) and frees the agents those nodes had rung or bridged.

Times are arguments (``now``, unix seconds): liveness is computed from the nodes' clocks
(keep them in step, NTP). ``MemoryQueueState`` here is the one-process implementation and the
reference; ``callport.queues.shared_redis.RedisQueueState`` the shared one (Lua scripts). One
contract suite runs on both (tests/scale/test_queue_shared.py).
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

__all__ = [
    "Claim", "MemoryQueueState", "QueueState", "SharedAgent", "SharedStatus", "WaitingCaller",
    "order_key",
]


class SharedStatus(enum.Enum):
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap-up"
    AWAY = "away"
    OFFLINE = "offline"


class Claim(enum.Enum):
    """What ``claim`` answered."""

    OK = "ok"
    GONE = "gone"  # the caller left, or their node is gone
    OFFLINE = "offline"  # the agent's device is not online (or their node is gone)
    AWAY = "away"
    BUSY = "busy"  # ringing, on a call or in wrap-up (another node may have just won)
    AHEAD = "ahead"  # an older caller on another node waits for this agent first


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingCaller:
    call_id: str
    queue: str
    node: str
    priority: int = 0
    joined_at: float = 0.0
    caller: str = ""
    ringing: tuple[str, ...] = ()  # agents ringing for them now


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedAgent:
    name: str
    status: SharedStatus
    node: str  # the node their device is on ("" when never seen)
    call_id: str = ""  # ringing for or talking to
    by: str = ""  # the node that rang or bridged them


def order_key(priority: int, joined_at: float) -> float:
    """The queue order as one number (lower first): higher priority, then earlier arrival.
    Redis sorts its waiting set by it; priorities are small integers, arrival unix seconds."""
    return -priority * 1e10 + joined_at


class QueueState(Protocol):
    """Shared queue state (see the module docstring)."""

    async def heartbeat(self, node: str, *, url: str, ttl_s: float, now: float) -> None:
        """``node`` is alive until ``now + ttl_s``; ``url`` is where other nodes reach it."""
        ...

    async def node_gone(self, node: str) -> None:
        """``node`` stops (drained, shut down): not alive from now on."""
        ...

    async def node_url(self, node: str, *, now: float) -> str | None:
        """Where a live ``node`` is reached; None when it is not alive."""
        ...

    async def join(self, caller: WaitingCaller) -> None: ...

    async def leave(self, call_id: str) -> None:
        """The caller left (hung up, answered elsewhere, timed out); agents ringing for them
        are free again."""
        ...

    async def callers(self, queue: str, *, now: float) -> builtins.list[WaitingCaller]:
        """The queue's callers on live nodes, in order."""
        ...

    async def position(self, call_id: str, *, now: float) -> int | None:
        """1 = next, counting every live node's callers; None when not waiting."""
        ...

    async def positions(self, call_ids: Iterable[str], *, now: float) -> dict[str, int]:
        """``position`` of each of ``call_ids`` still waiting (right after a ``sweep``)."""
        ...

    async def agent_seen(self, name: str, node: str, *, away: bool, ttl_s: float,
                         now: float) -> None:
        """``name``'s device is online on ``node`` until ``now + ttl_s``; ``away``: they
        stepped away."""
        ...

    async def agents_seen(self, seen: Mapping[str, bool], node: str, *, ttl_s: float,
                          now: float) -> None:
        """``agent_seen`` for every agent of ``seen`` (name -> away) at once (one beat)."""
        ...

    async def agent_unseen(self, name: str, node: str) -> None:
        """``name``'s device on ``node`` went (page closed, phone unregistered)."""
        ...

    async def agents(self, *, now: float) -> builtins.list[SharedAgent]:
        """Every agent ever seen, by name, with their state now."""
        ...

    async def claim(self, call_id: str, agent: str, node: str, *, now: float) -> Claim:
        """Let ``agent`` ring for ``call_id`` on behalf of ``node`` (atomic)."""
        ...

    async def release(self, call_id: str, agent: str) -> None:
        """``agent``'s ring for ``call_id`` ended unanswered: available again."""
        ...

    async def answer(self, call_id: str, agent: str, node: str, *, now: float) -> bool:
        """``agent`` answered ``call_id``: True for the first answer (busy, the caller leaves
        the queue, the other rings are released), False when too late."""
        ...

    async def ended(self, agent: str, *, wrap_up_s: float, now: float) -> None:
        """``agent``'s call is over: wrap-up until ``now + wrap_up_s``, then available."""
        ...

    async def sweep(self, *, now: float) -> builtins.list[str]:
        """Drop the callers of nodes that are no longer alive (their ids, sorted) and free
        the agents such nodes had rung or bridged. Cheap while every known node is alive:
        the callers are only looked at once a node's beat has lapsed (or it left), and that
        node is forgotten afterwards."""
        ...


# ---- one process --------------------------------------------------------------------------


@dataclass(slots=True)
class _Agent:
    node: str = ""
    seen_until: float = 0.0
    away: bool = False
    status: SharedStatus = SharedStatus.AVAILABLE
    call_id: str = ""
    by: str = ""
    until: float = 0.0


@dataclass(slots=True)
class _Caller:
    entry: WaitingCaller
    ringing: set[str] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)


def effective(agent: _Agent, node_alive: bool, now: float) -> SharedStatus:
    """An agent's status now: presence first (offline), then ringing/busy, wrap-up's end,
    away. Both implementations read it the same way (Redis in Lua, see ``shared_redis``)."""
    if not agent.node or not node_alive or agent.seen_until <= now:
        return SharedStatus.OFFLINE
    status = agent.status
    if status is SharedStatus.WRAP_UP and agent.until <= now:
        status = SharedStatus.AVAILABLE
    if agent.away and status is SharedStatus.AVAILABLE:
        return SharedStatus.AWAY
    return status


class MemoryQueueState:
    """``QueueState`` in this process (one node; the contract suite's reference)."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[float, str]] = {}  # node -> (alive until, url)
        self._callers: dict[str, _Caller] = {}
        self._agents: dict[str, _Agent] = {}

    def _alive(self, node: str, now: float) -> bool:
        beat = self._nodes.get(node)
        return beat is not None and beat[0] > now

    async def heartbeat(self, node: str, *, url: str, ttl_s: float, now: float) -> None:
        self._nodes[node] = (now + ttl_s, url)

    async def node_gone(self, node: str) -> None:
        if node in self._nodes:  # kept, lapsed, until a sweep has dropped its callers
            self._nodes[node] = (0.0, self._nodes[node][1])

    async def node_url(self, node: str, *, now: float) -> str | None:
        return self._nodes[node][1] if self._alive(node, now) else None

    async def join(self, caller: WaitingCaller) -> None:
        self._callers[caller.call_id] = _Caller(entry=replace(caller, ringing=()))

    def _free_ringing(self, call_id: str, names: set[str], keep: str = "") -> None:
        for name in names - {keep}:
            agent = self._agents.get(name)
            if agent is not None and agent.status is SharedStatus.RINGING \
                    and agent.call_id == call_id:
                agent.status, agent.call_id, agent.by = SharedStatus.AVAILABLE, "", ""

    async def leave(self, call_id: str) -> None:
        entry = self._callers.pop(call_id, None)
        if entry is not None:
            self._free_ringing(call_id, entry.ringing)

    def _ordered(self, queue: str, now: float) -> list[_Caller]:
        return sorted((c for c in self._callers.values()
                       if c.entry.queue == queue and self._alive(c.entry.node, now)),
                      key=lambda c: (order_key(c.entry.priority, c.entry.joined_at),
                                     c.entry.call_id))

    async def callers(self, queue: str, *, now: float) -> builtins.list[WaitingCaller]:
        return [replace(c.entry, ringing=tuple(sorted(c.ringing)))
                for c in self._ordered(queue, now)]

    async def position(self, call_id: str, *, now: float) -> int | None:
        entry = self._callers.get(call_id)
        if entry is None or not self._alive(entry.entry.node, now):
            return None
        ids = [c.entry.call_id for c in self._ordered(entry.entry.queue, now)]
        return ids.index(call_id) + 1

    async def positions(self, call_ids: Iterable[str], *, now: float) -> dict[str, int]:
        out = {}
        for call_id in call_ids:
            got = await self.position(call_id, now=now)
            if got is not None:
                out[call_id] = got
        return out

    async def agent_seen(self, name: str, node: str, *, away: bool, ttl_s: float,
                         now: float) -> None:
        agent = self._agents.setdefault(name, _Agent())
        agent.node, agent.seen_until, agent.away = node, now + ttl_s, away

    async def agents_seen(self, seen: Mapping[str, bool], node: str, *, ttl_s: float,
                          now: float) -> None:
        for name, away in seen.items():
            await self.agent_seen(name, node, away=away, ttl_s=ttl_s, now=now)

    async def agent_unseen(self, name: str, node: str) -> None:
        agent = self._agents.get(name)
        if agent is not None and agent.node == node:
            agent.seen_until = 0.0

    async def agents(self, *, now: float) -> builtins.list[SharedAgent]:
        return [SharedAgent(name=name, status=effective(a, self._alive(a.node, now), now),
                            node=a.node, call_id=a.call_id, by=a.by)
                for name, a in sorted(self._agents.items())]

    async def claim(self, call_id: str, agent: str, node: str, *, now: float) -> Claim:
        entry = self._callers.get(call_id)
        if entry is None or not self._alive(entry.entry.node, now):
            return Claim.GONE
        person = self._agents.get(agent)
        if person is None:
            return Claim.OFFLINE
        status = effective(person, self._alive(person.node, now), now)
        if status is not SharedStatus.AVAILABLE:
            return {SharedStatus.OFFLINE: Claim.OFFLINE,
                    SharedStatus.AWAY: Claim.AWAY}.get(status, Claim.BUSY)
        mine = order_key(entry.entry.priority, entry.entry.joined_at)
        for other in self._ordered(entry.entry.queue, now):
            if order_key(other.entry.priority, other.entry.joined_at) >= mine:
                break
            if other.entry.node != node and not other.ringing and agent not in other.tried:
                return Claim.AHEAD
        person.status, person.call_id, person.by = SharedStatus.RINGING, call_id, node
        entry.ringing.add(agent)
        entry.tried.add(agent)
        return Claim.OK

    async def release(self, call_id: str, agent: str) -> None:
        entry = self._callers.get(call_id)
        if entry is not None:
            entry.ringing.discard(agent)
        self._free_ringing(call_id, {agent})

    async def answer(self, call_id: str, agent: str, node: str, *, now: float) -> bool:
        entry = self._callers.get(call_id)
        person = self._agents.get(agent)
        if entry is None or person is None or agent not in entry.ringing:
            return False
        del self._callers[call_id]
        self._free_ringing(call_id, entry.ringing, keep=agent)
        person.status, person.call_id, person.by = SharedStatus.BUSY, call_id, node
        return True

    async def ended(self, agent: str, *, wrap_up_s: float, now: float) -> None:
        person = self._agents.get(agent)
        if person is None or person.status is not SharedStatus.BUSY:
            return
        person.call_id, person.by = "", ""
        if wrap_up_s > 0:
            person.status, person.until = SharedStatus.WRAP_UP, now + wrap_up_s
        else:
            person.status = SharedStatus.AVAILABLE

    async def sweep(self, *, now: float) -> builtins.list[str]:
        lapsed = [n for n, (until, _url) in self._nodes.items() if until <= now]
        if not lapsed:
            return []
        lost = sorted(c.entry.call_id for c in self._callers.values()
                      if not self._alive(c.entry.node, now))
        for call_id in lost:
            await self.leave(call_id)
        for person in self._agents.values():
            if person.status in (SharedStatus.RINGING, SharedStatus.BUSY) \
                    and not self._alive(person.by, now):
                person.status, person.call_id, person.by = SharedStatus.AVAILABLE, "", ""
        for node in lapsed:
            del self._nodes[node]
        return lost
