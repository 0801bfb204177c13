"""Matching waiting callers with free agents: pure functions over the engine's records.

``dispatch`` walks each queue's callers in order (higher ``priority`` first, then arrival,
``in_order``) and offers every waiting one to the queue's free members (available and
online, ``free_members``) that were not yet tried for them this round; ``queues.strategies``
picks which of them ring. A caller whose agents ring is skipped (later callers may take the
others); a booked call-back that reaches the front becomes ``DialBack`` and holds one free
agent back while callport dials, as does one being dialled. When every free member was tried
and none took the call, the next round starts ``RETRY_S`` later. Nothing here keeps state of
its own or reads a clock: ``queues.engine.QueueEngine`` owns the records and calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from callport.queues.model import Action, AgentStatus, CallerState, DialBack, Ring
from callport.queues.records import AgentRecord, CallerRecord, QueueRecord
from callport.queues.strategies import choose

RETRY_S = 5.0  # after every free member was tried for a caller, the next round starts after

Online = Callable[[str], bool]


def in_order(callers: Iterable[CallerRecord], queue: str) -> list[CallerRecord]:
    """``queue``'s callers, first served first."""
    return sorted((e for e in callers if e.queue == queue), key=lambda e: (-e.priority, e.seq))


def ahead(other: CallerRecord, entry: CallerRecord) -> bool:
    """True when ``other`` is served before ``entry`` (same queue)."""
    return (-other.priority, other.seq) < (-entry.priority, entry.seq)


def free_members(agents: Iterable[AgentRecord], queue: str, online: Online) -> list[AgentRecord]:
    """``queue``'s members that may be rung now, in name order."""
    return sorted((a for a in agents if queue in a.queues
                   and a.status is AgentStatus.AVAILABLE and online(a.name)),
                  key=lambda a: a.name)


def dispatch(queues: Mapping[str, QueueRecord], callers: Mapping[str, CallerRecord],
             agents: Mapping[str, AgentRecord], now: float, online: Online) -> list[Action]:
    """Offer waiting callers to free agents in every queue (changes the records)."""
    out: list[Action] = []
    for name in sorted(queues):
        held_back = 0  # free agents kept for call-backs being dialled ahead
        for entry in in_order(callers.values(), name):
            free = free_members(agents.values(), name, online)
            if len(free) <= held_back:
                break
            match entry.state:
                case CallerState.RINGING:
                    continue  # its agents ring; later callers may take the others
                case CallerState.DIALLING:
                    held_back += 1
                case CallerState.CALLBACK:
                    entry.state = CallerState.DIALLING
                    held_back += 1
                    out.append(DialBack(entry.call_id, entry.number))
                case CallerState.WAITING:
                    if entry.not_before > now:
                        continue
                    out.extend(offer(queues[entry.queue], entry, free, now))
    return out


def offer(q: QueueRecord, entry: CallerRecord, free: list[AgentRecord],
          now: float) -> list[Action]:
    """Ring the members the strategy picks among ``free`` not yet tried for ``entry``."""
    untried = [a for a in free if a.name not in entry.tried]
    if not untried:
        if entry.tried:  # a round went by with nobody taking it: start again, later
            entry.tried.clear()
            entry.not_before = now + RETRY_S
        return []
    chosen = choose(q.rules.strategy, untried, q.last_rung)
    out: list[Action] = []
    for agent in chosen:
        agent.status = AgentStatus.RINGING
        agent.call_id = entry.call_id
        agent.answered_at = now  # when the ring started, until it is answered
        entry.ringing.add(agent.name)
        entry.tried.add(agent.name)
        q.last_rung = agent.name
        out.append(Ring(agent.name, entry.call_id, q.rules.ring_timeout_s,
                        now + q.rules.ring_timeout_s))
    entry.state = CallerState.RINGING
    entry.not_before = 0.0
    return out
