"""Queue strategies: which of a queue's free, untried members ring for a caller.

``choose(strategy, untried, last_rung)`` gets the members that are available (not ringing,
busy, in wrap-up or away), online and not yet tried for this caller in this round, in name
order, and returns the ones to ring (the names are ``config_queues.STRATEGIES``):

- ``longest-idle`` (the default): earliest ``idle_since`` (the end of their last call, or
  when they became available);
- ``round-robin``: the next member after the last one rung, in name order, wrapping round;
- ``fewest-calls``: fewest calls taken, then longest idle;
- ``ring-all``: all of them at once; the first to answer takes the call, the engine cancels
  the others' rings.
"""

from __future__ import annotations

from callport.queues.records import AgentRecord


def choose(strategy: str, untried: list[AgentRecord], last_rung: str) -> list[AgentRecord]:
    """The members to ring now (``untried`` is not empty)."""
    if strategy == "ring-all":
        return list(untried)
    if strategy == "round-robin":
        later = [a for a in untried if a.name > last_rung]
        return [later[0] if later else untried[0]]
    if strategy == "fewest-calls":
        return [min(untried, key=lambda a: (a.calls_taken, a.idle_since, a.name))]
    return [min(untried, key=lambda a: (a.idle_since, a.name))]  # longest-idle
