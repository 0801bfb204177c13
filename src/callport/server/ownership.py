"""Call ownership acted on: every call this node runs is claimed in ``runtime.call_owners``
(``callport.store.live.CallOwners``; Redis with ``server.redis``), and the records of a node
that stopped beating are closed by the others.

- ``claim`` / ``release``: ``callrun.run_call`` claims the call before it runs and releases it
  after its record is ended. Store or Redis trouble is logged, never raised: a failing Redis
  must not drop a live call.
- ``start`` (the app's start-up, before channels take calls): the node beats (alive until
  ``now + server.node_ttl_s``), then reconciles its own orphans: calls still claimed under its
  name belong to its previous life (kill -9, power loss); their records are ended with cause
  ``crash`` and the claims released, so the node rejoins cleanly.
- ``beat_loop``: beats every third of the TTL and, each time, closes the calls of the nodes
  whose beat expired (``lost_calls`` decides from one read of the owners): for each,
  ``release(call, dead_owner)`` is one atomic compare-and-delete, so exactly one surviving
  node wins it and ends its record (cause ``node-lost``), however many sweep at once. The
  calls other live nodes own (``elsewhere``) are kept from the stale-record sweep.
- ``stop`` (after the drain): the node ends the records of the calls still claimed under its
  name (cause ``shutdown``), releases them and leaves (no longer alive).

With several nodes (``server.redis``), start-up and shutdown close only this node's calls;
on one node (no Redis) they close every open record, as before (``lifecycle``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from callport.server.lifecycle import CRASH, SHUTDOWN, close_crashed_calls, close_left_open
from callport.store.calls import TERMINAL
from callport.store.tasks import local_now

if TYPE_CHECKING:
    from callport.store.calls import CallStore
    from callport.store.live import CallOwners

__all__ = ["NODE_LOST", "Ownership", "close_record", "lost_calls"]

log = logging.getLogger(__name__)

NODE_LOST = "node-lost"  # the hang-up cause of a call whose node stopped beating


def lost_calls(owners: Mapping[str, str], alive: Collection[str], me: str
               ) -> list[tuple[str, str]]:
    """``(call, owner)`` for each call whose owner is not ``alive`` (the decision a sweep
    acts on; pure). ``me``'s own calls are never in it: a node closes those itself, at start
    and at stop."""
    live = set(alive)
    return sorted((c, n) for c, n in owners.items() if n != me and n not in live)


async def close_record(calls: CallStore, call_id: str, cause: str) -> bool:
    """End one record still open (status ``ended``, ``hangup_cause`` = cause unless one was
    recorded, an ``ended`` event); False when it was already finished or is unknown."""
    record = await calls.get(call_id)
    if record is None or record.status in TERMINAL:
        return False
    at = local_now()
    await calls.update_status(call_id, "ended", at=at)
    if not record.hangup_cause:
        await calls.amend(call_id, hangup_cause=cause)
    await calls.add_event(call_id, "ended", cause, at=at)
    return True


class Ownership:
    """One node's side of call ownership (``runtime.ownership``)."""

    def __init__(self, *, node: str, owners: CallOwners, calls: CallStore, shared: bool,
                 ttl_s: float = 15.0, clock: Callable[[], float] = time.time,
                 on_lost: Callable[[str, str], None] | None = None) -> None:
        self.node, self.owners, self.calls = node, owners, calls
        self.on_lost = on_lost  # (call, lost node): e.g. tell the consoles the call ended
        self.shared = shared  # several nodes (Redis): start/stop close only our own calls
        self.ttl_s, self.clock = ttl_s, clock
        self.closed_lost = 0  # records of lost nodes this node closed
        # Calls live nodes other than this one own (as of the last sweep): the stale-record
        # sweep leaves them alone (they are live, just not here).
        self.elsewhere: frozenset[str] = frozenset()
        self.errors = 0  # Redis or store failures (logged)

    async def claim(self, call_id: str) -> None:
        try:
            if not await self.owners.claim(call_id, self.node):
                log.warning("call %s: owned by node %s, not %s", call_id,
                            await self.owners.owner(call_id), self.node)
        except Exception:
            self.errors += 1
            log.exception("call %s: could not claim it for node %s", call_id, self.node)

    async def release(self, call_id: str) -> None:
        try:
            await self.owners.release(call_id, self.node)
        except Exception:
            self.errors += 1
            log.exception("call %s: could not release node %s's claim", call_id, self.node)

    async def beat(self) -> None:
        await self.owners.heartbeat(self.node, ttl_s=self.ttl_s, now=self.clock())

    async def start(self) -> None:
        """Beat, then end what this node's previous life left open."""
        if not self.shared:
            await close_crashed_calls(self.calls)
            return
        try:
            await self.beat()
            closed = await self._close_own(CRASH)
        except Exception:
            self.errors += 1
            log.exception("node %s: could not reconcile its calls at start", self.node)
            return
        if closed:
            log.warning("node %s: closed %d call(s) its previous process left live (crash)",
                        self.node, closed)

    async def stop(self) -> None:
        """After the drain: end this node's calls still open, release them, leave."""
        if not self.shared:
            await close_left_open(self.calls)
            return
        try:
            closed = await self._close_own(SHUTDOWN)
            await self.owners.leave(self.node)
        except Exception:
            self.errors += 1
            log.exception("node %s: could not close its calls at shutdown", self.node)
            return
        if closed:
            log.info("node %s: closed %d call record(s) still open at shutdown", self.node,
                     closed)

    async def _close_own(self, cause: str) -> int:
        closed = 0
        for call_id in await self.owners.calls_of(self.node):
            if await self.owners.release(call_id, self.node):
                closed += await close_record(self.calls, call_id, cause)
        return closed

    async def sweep(self) -> int:
        """Close the calls of nodes whose beat expired (each by exactly one survivor)."""
        owners = await self.owners.owners()
        alive = set(await self.owners.alive(now=self.clock()))
        self.elsewhere = frozenset(c for c, n in owners.items() if n != self.node and n in alive)
        closed = 0
        for call_id, owner in lost_calls(owners, alive, self.node):
            if not await self.owners.release(call_id, owner):
                continue  # another survivor won it (or the call ended meanwhile)
            try:
                if await close_record(self.calls, call_id, NODE_LOST):
                    closed += 1
                    log.warning("call %s: node %s was lost; its record is closed (%s)",
                                call_id, owner, NODE_LOST)
                if self.on_lost is not None:
                    self.on_lost(call_id, owner)
            except Exception:
                self.errors += 1
                log.exception("call %s: could not close lost node %s's record", call_id, owner)
        self.closed_lost += closed
        return closed

    async def beat_loop(self) -> None:
        """Beat every third of the TTL and sweep the lost nodes' calls; never raises."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.beat()
                await self.sweep()
            except Exception:
                self.errors += 1
                log.exception("node %s: heartbeat or sweep failed", self.node)
