"""The queue engine: pure, sans-IO queue logic in simulated time (Asterisk app_queue's model).

One ``QueueEngine`` holds every queue and every agent (an agent in two queues has one state).
The driver (``queues.service``) tells it what happened (``join``, ``leave``, ``ring_answered``,
``ring_failed``, ``call_ended``, ``book_callback``, ``dialled``) and calls
``tick(now, online)``, which fires due timers and matches waiting callers with free agents;
both give back ``Action``s to carry out (``Ring``, ``CancelRing``, ``Announce``, ``WaitOver``,
``DialBack``). ``next_deadline()`` is when ``tick`` wants to run again. Time is an argument;
nothing here sleeps or reads a clock.

Rules:

- **Order**: higher ``priority`` first, then arrival (``seq``). A caller's position counts
  everyone ahead of them, booked call-backs included (they keep their place).
- **Matching** (``queues.matching``) offers callers in that order; **strategies**
  (``queues.strategies``) choose among the queue's members that are available
  (not ringing, busy, in wrap-up or away), online, and not yet tried for this caller in this
  round.
- **Move-on**: a ring that is declined, busy, offline or not answered within
  ``ring_timeout_s`` puts the agent back to available and the caller goes on to the next
  member. When every free member was tried the round starts again after ``RETRY_S``.
- **Wrap-up**: after a call the agent is in wrap-up for ``wrap_up_s``, then available.
- **Expected wait** of position ``p`` with ``n`` staffed agents (members not away, online):
  ``ceil(p / n) * H``; ``H`` is the mean handle time (talk + ``wrap_up_s``) of the queue's
  last ``HISTORY`` calls, ``expected_handle_s`` until there are any. ``None`` when nobody is
  staffed.
- **Callbacks** keep the caller's place without a live call. When a call-back reaches the
  front of those still to be served and an agent is free, ``DialBack`` is emitted and one
  free agent is held back for it while callport dials; ``dialled(answered=True)`` turns it
  into a waiting caller in the same place, ``dialled(answered=False)`` drops it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from callport.config_queues import QueueDefaults
from callport.queues.matching import RETRY_S, Online, ahead, dispatch, in_order
from callport.queues.model import (
    Action,
    AgentSnapshot,
    AgentStatus,
    Announce,
    CallerSnapshot,
    CallerState,
    CancelRing,
    DialBack,
    QueueSnapshot,
    Ring,
    WaitOver,
    expected_wait,
)
from callport.queues.records import HISTORY, AgentRecord, CallerRecord, QueueRecord

__all__ = [
    "HISTORY", "RETRY_S", "Action", "AgentSnapshot", "AgentStatus", "Announce", "CallerSnapshot",
    "CallerState", "CancelRing", "DialBack", "QueueEngine", "QueueSnapshot", "Ring", "WaitOver",
    "expected_wait",
]


def _always(_agent: str) -> bool:
    return True


class QueueEngine:
    """Every queue's callers and every agent's state (see the module docstring)."""

    def __init__(self, *, queues: Mapping[str, QueueDefaults]) -> None:
        self._queues = {name: QueueRecord(rules=rules) for name, rules in queues.items()}
        self._agents: dict[str, AgentRecord] = {}
        self._callers: dict[str, CallerRecord] = {}
        self._seq = 0

    # ---- agents ----------------------------------------------------------------------

    def add_agent(self, name: str, queues: Iterable[str], now: float) -> None:
        """Add (or update the memberships of) ``name``; a new agent is available from now."""
        member = {q for q in queues if q in self._queues}
        if name in self._agents:
            self._agents[name].queues = member
        else:
            self._agents[name] = AgentRecord(name=name, queues=member, idle_since=now)

    def remove_agent(self, name: str) -> list[Action]:
        agent = self._agents.get(name)
        if agent is None:
            return []
        out = self._cancel_agent_ring(agent)
        del self._agents[name]
        return out

    def set_away(self, name: str, away: bool, now: float) -> list[Action]:
        """``away``: no offers (a ring in progress is cancelled); back: available now."""
        agent = self._agents[name]
        if away:
            out = self._cancel_agent_ring(agent)
            if agent.status is AgentStatus.BUSY:
                agent.away_after = True
            else:
                agent.status = AgentStatus.AWAY
            return out
        agent.away_after = False
        if agent.status is AgentStatus.AWAY:
            agent.status = AgentStatus.AVAILABLE
            agent.idle_since = now
        return []

    def agent_status(self, name: str) -> AgentStatus:
        return self._agents[name].status

    def calls_taken(self, name: str) -> int:
        return self._agents[name].calls_taken

    def agents(self) -> list[str]:
        return sorted(self._agents)

    def members(self, queue: str) -> list[str]:
        return sorted(a.name for a in self._agents.values() if queue in a.queues)

    # ---- callers ---------------------------------------------------------------------

    def has_queue(self, queue: str) -> bool:
        return queue in self._queues

    def join(self, call_id: str, queue: str, now: float, *, priority: int = 0,
             caller: str = "") -> int:
        """``call_id`` starts waiting in ``queue``; returns its position."""
        rules = self._queues[queue].rules
        self._seq += 1
        entry = CallerRecord(call_id=call_id, queue=queue, priority=priority, seq=self._seq,
                        joined=now, caller=caller)
        if rules.announce_every_s > 0:
            entry.next_announce = now + rules.announce_every_s
        if rules.max_wait_s > 0:
            entry.wait_over_at = now + rules.max_wait_s
        self._callers[call_id] = entry
        return self.position(call_id)

    def leave(self, call_id: str) -> list[Action]:
        """``call_id`` leaves its queue (hung up, chose something, timed out)."""
        entry = self._callers.pop(call_id, None)
        if entry is None:
            return []
        out: list[Action] = []
        for name in sorted(entry.ringing):
            agent = self._agents.get(name)
            if agent is not None and agent.call_id == call_id:
                self._free(agent, agent.idle_since)
            out.append(CancelRing(name, call_id))
        return out

    def waiting(self, call_id: str) -> bool:
        return call_id in self._callers

    def state(self, call_id: str) -> CallerState:
        return self._callers[call_id].state

    def position(self, call_id: str) -> int:
        entry = self._callers[call_id]
        return 1 + sum(1 for other in in_order(self._callers.values(), entry.queue)
                       if ahead(other, entry))

    def queue_of(self, call_id: str) -> str:
        return self._callers[call_id].queue

    def joined_at(self, call_id: str) -> float:
        return self._callers[call_id].joined

    def staffed(self, queue: str, online: Online = _always) -> int:
        return sum(1 for a in self._agents.values() if queue in a.queues
                   and a.status is not AgentStatus.AWAY and online(a.name))

    def handle_s(self, queue: str) -> float:
        q = self._queues[queue]
        if not q.handle_times:
            return q.rules.expected_handle_s
        return sum(q.handle_times) / len(q.handle_times)

    def expected_wait(self, call_id: str, online: Online = _always) -> float | None:
        queue = self._callers[call_id].queue
        return expected_wait(self.position(call_id), self.staffed(queue, online),
                             self.handle_s(queue))

    # ---- ring outcomes ---------------------------------------------------------------

    def ring_answered(self, agent_name: str, call_id: str, now: float) -> list[Action]:
        """``agent_name`` answered the offer of ``call_id``: the caller leaves the queue for
        the bridge, the agent is busy; other rings for that caller are cancelled. An answer
        that comes too late (the caller left, another agent won) returns ``[]`` and
        ``won(agent, call)`` is False: the driver hangs that answer up."""
        agent = self._agents.get(agent_name)
        entry = self._callers.get(call_id)
        if agent is None or entry is None or agent_name not in entry.ringing:
            return []
        out: list[Action] = []
        for other in sorted(entry.ringing - {agent_name}):
            peer = self._agents.get(other)
            if peer is not None and peer.call_id == call_id:
                self._free(peer, peer.idle_since)
            out.append(CancelRing(other, call_id))
        del self._callers[call_id]
        agent.status = AgentStatus.BUSY
        agent.call_id = call_id
        agent.answered_at = now
        agent.queue = entry.queue
        return out

    def won(self, agent_name: str, call_id: str) -> bool:
        """True when ``agent_name`` is busy with ``call_id`` (their answer counted)."""
        agent = self._agents.get(agent_name)
        return agent is not None and agent.status is AgentStatus.BUSY and agent.call_id == call_id

    def ring_failed(self, agent_name: str, call_id: str, now: float) -> list[Action]:
        """The offer was not taken (declined, busy, offline, no answer): move on."""
        entry = self._callers.get(call_id)
        agent = self._agents.get(agent_name)
        if agent is not None and agent.call_id == call_id and agent.status is AgentStatus.RINGING:
            self._free(agent, agent.idle_since)
        if entry is not None and agent_name in entry.ringing:
            entry.ringing.discard(agent_name)
            if not entry.ringing:
                entry.state = CallerState.WAITING
        return []

    def call_ended(self, agent_name: str, now: float) -> None:
        """The agent's call (bridge) is over: wrap-up, then available; the handle time counts."""
        agent = self._agents.get(agent_name)
        if agent is None or agent.status is not AgentStatus.BUSY:
            return
        rules = self._queues[agent.queue].rules if agent.queue in self._queues else None
        wrap = rules.wrap_up_s if rules is not None else 0.0
        if agent.queue in self._queues:
            self._queues[agent.queue].handle_times.append(now - agent.answered_at + wrap)
        agent.calls_taken += 1
        agent.last_call_end = now
        agent.call_id = ""
        if agent.away_after:
            agent.status, agent.away_after = AgentStatus.AWAY, False
        elif wrap > 0:
            agent.status = AgentStatus.WRAP_UP
            agent.wrap_until = now + wrap
        else:
            self._free(agent, now)

    # ---- call-backs ------------------------------------------------------------------

    def book_callback(self, call_id: str, number: str) -> list[Action]:
        """``call_id`` hangs up but keeps its place: callport calls ``number`` later."""
        entry = self._callers[call_id]
        out: list[Action] = [CancelRing(name, call_id) for name in sorted(entry.ringing)]
        for name in entry.ringing:
            agent = self._agents.get(name)
            if agent is not None and agent.call_id == call_id:
                self._free(agent, agent.idle_since)
        entry.ringing.clear()
        entry.state = CallerState.CALLBACK
        entry.number = number
        entry.next_announce = entry.wait_over_at = math.inf
        return out

    def dialled(self, call_id: str, *, answered: bool, now: float) -> None:
        """The call back reached the caller (they wait again, in their place) or did not."""
        entry = self._callers.get(call_id)
        if entry is None:
            return
        if not answered:
            del self._callers[call_id]
            return
        entry.state = CallerState.WAITING
        entry.tried.clear()
        rules = self._queues[entry.queue].rules
        if rules.announce_every_s > 0:
            entry.next_announce = now + rules.announce_every_s

    # ---- the clock -------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [a.wrap_until for a in self._agents.values() if a.status is AgentStatus.WRAP_UP]
        for entry in self._callers.values():
            times += [entry.next_announce, entry.wait_over_at]
            if entry.state is CallerState.WAITING and entry.not_before > 0:
                times.append(entry.not_before)
        for agent in self._agents.values():
            if agent.status is AgentStatus.RINGING:
                times.append(self._ring_deadline(agent))
        finite = [t for t in times if t < math.inf]
        return min(finite) if finite else None

    def tick(self, now: float, online: Online = _always) -> list[Action]:
        """Fire what is due at ``now`` (wrap-ups, ring timeouts, announcements, max waits),
        then offer waiting callers to free agents."""
        out: list[Action] = []
        for agent in self._agents.values():
            if agent.status is AgentStatus.WRAP_UP and agent.wrap_until <= now:
                self._free(agent, now)
            elif agent.status is AgentStatus.RINGING and self._ring_deadline(agent) <= now:
                call_id = agent.call_id
                out.append(CancelRing(agent.name, call_id))
                self.ring_failed(agent.name, call_id, now)
        for entry in sorted(self._callers.values(), key=lambda e: e.seq):
            rules = self._queues[entry.queue].rules
            if 0 < entry.not_before <= now:  # the retry pause is over (a past deadline
                entry.not_before = 0.0  # would wake the driver again at once, for ever)
            if entry.next_announce <= now:
                entry.next_announce = now + rules.announce_every_s
                out.append(Announce(entry.call_id, self.position(entry.call_id),
                                    self.expected_wait(entry.call_id, online)))
            if entry.wait_over_at <= now:
                entry.wait_over_at = math.inf
                out.append(WaitOver(entry.call_id))
        out.extend(dispatch(self._queues, self._callers, self._agents, now, online))
        return out

    def _ring_deadline(self, agent: AgentRecord) -> float:
        entry = self._callers.get(agent.call_id)
        rules = self._queues[entry.queue].rules if entry is not None else None
        return agent.answered_at + (rules.ring_timeout_s if rules is not None else 0.0)

    def _free(self, agent: AgentRecord, idle_since: float) -> None:
        agent.status = AgentStatus.AVAILABLE
        agent.call_id = ""
        agent.idle_since = idle_since

    def _cancel_agent_ring(self, agent: AgentRecord) -> list[Action]:
        if agent.status is not AgentStatus.RINGING:
            return []
        call_id = agent.call_id
        self.ring_failed(agent.name, call_id, 0.0)
        entry = self._callers.get(call_id)
        if entry is not None:  # not the agent's answer: they may be rung again when back
            entry.tried.discard(agent.name)
        return [CancelRing(agent.name, call_id)]

    # ---- status ----------------------------------------------------------------------

    def snapshot(self, now: float, online: Online = _always) -> tuple[QueueSnapshot, ...]:
        out = []
        for name in sorted(self._queues):
            entries = in_order(self._callers.values(), name)
            waiting = tuple(
                CallerSnapshot(position=i + 1, call_id=e.call_id, caller=e.caller,
                               waited_s=max(0.0, now - e.joined), state=e.state.value,
                               priority=e.priority, ringing=tuple(sorted(e.ringing)))
                for i, e in enumerate(entries))
            agents = tuple(
                AgentSnapshot(name=a.name, state=a.status.value, online=online(a.name),
                              calls_taken=a.calls_taken, current_call=a.call_id,
                              last_call_end=a.last_call_end,
                              idle_s=None if a.last_call_end is None else now - a.last_call_end)
                for a in sorted(self._agents.values(), key=lambda a: a.name) if name in a.queues)
            out.append(QueueSnapshot(name=name, strategy=self._queues[name].rules.strategy,
                                     waiting=waiting, agents=agents,
                                     expected_handle_s=self.handle_s(name)))
        return tuple(out)

