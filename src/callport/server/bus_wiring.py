"""Several nodes on one Redis (``server.redis``): ``wire_redis`` gives the runtime the shared
live state (spent tokens, the sign-in throttle, the per-address rate limit, call ownership
acted on), the bus and the hub over it; the bus is
started before channels take calls (``start_bus``: the node hears other nodes' events and
commands for its calls) and closed after the last call ended (``stop_bus``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from callport.server.events_redis import RedisHub
from callport.store.live_redis import DEFAULT_PREFIX

if TYPE_CHECKING:
    from callport.bus.envelopes import Command, Reply
    from callport.server.runtime import Runtime

log = logging.getLogger(__name__)


def wire_redis(runtime: Runtime, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    from callport.bus.redis_bus import RedisBus
    from callport.server.events import CallEnded
    from callport.server.ownership import NODE_LOST, Ownership
    from callport.store.live_redis import RedisRateLimiter, RedisThrottle, redis_live

    live = redis_live(url, prefix=prefix)
    runtime.spent_tokens = live.spent
    limits = runtime.settings.limits
    runtime.login_throttle = RedisThrottle(live.client, prefix=prefix)
    runtime.rate_limiter = RedisRateLimiter(live.client, rate_per_s=limits.rate_per_s,
                                            burst=limits.rate_burst, prefix=prefix)
    runtime.bus = RedisBus(live.client, node=runtime.node_id, prefix=prefix)
    hub = RedisHub(runtime.bus, node=runtime.node_id)
    runtime.events = hub
    runtime.ownership = Ownership(
        node=runtime.node_id, owners=live.owners, calls=runtime.calls, shared=True,
        ttl_s=runtime.settings.server.node_ttl_s,
        # a lost node's call: every console drops it from its live list
        on_lost=lambda call_id, _node: hub.publish(CallEnded(call_id=call_id,
                                                             cause=NODE_LOST)))


async def start_bus(runtime: Runtime) -> None:
    bus = runtime.bus
    if bus is None:
        return
    hub = runtime.events
    if isinstance(hub, RedisHub):
        hub.start()

    async def command(message: Command) -> Reply:
        from callport.server.commands import on_command

        return await on_command(runtime, message)

    try:
        await bus.start(on_event=hub.on_bus_event if isinstance(hub, RedisHub)
                        else lambda message: None, on_command=command)
    except Exception:  # Redis down at start: this node serves alone until restarted
        log.exception("node %s: could not join the bus", runtime.node_id)


async def stop_bus(runtime: Runtime) -> None:
    if runtime.bus is None:
        return
    await runtime.bus.close()
    if isinstance(runtime.events, RedisHub):
        await runtime.events.close()


def bus_lines(runtime: Runtime) -> list[str]:
    """The bus's counters for ``/metrics`` (nothing without ``server.redis``)."""
    bus, hub = runtime.bus, runtime.events
    if bus is None:
        return []
    bad = hub.bad_events if isinstance(hub, RedisHub) else 0
    unsent = hub.unsent if isinstance(hub, RedisHub) else 0
    return ["# HELP callport_bus_dropped_total Bus messages dropped: malformed, or not ours.",
            "# TYPE callport_bus_dropped_total counter",
            f"callport_bus_dropped_total {bus.dropped + bad}",
            "# HELP callport_bus_unsent_total Live events this node could not send (Redis).",
            "# TYPE callport_bus_unsent_total counter", f"callport_bus_unsent_total {unsent}",
            "# HELP callport_nodes_lost_calls_total Lost nodes' call records this node closed.",
            "# TYPE callport_nodes_lost_calls_total counter",
            f"callport_nodes_lost_calls_total {runtime.ownership.closed_lost}"]
