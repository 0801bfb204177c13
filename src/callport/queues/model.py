"""The queue engine's vocabulary: agent and caller states, the actions it asks the driver to
carry out, the snapshots ``queues status`` shows, and the expected-wait formula. Pure."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = [
    "Action", "AgentSnapshot", "AgentStatus", "Announce", "CallerSnapshot", "CallerState",
    "CancelRing", "DialBack", "QueueSnapshot", "Ring", "WaitOver", "expected_wait", "status_json",
]

class AgentStatus(enum.Enum):
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap-up"
    AWAY = "away"


class CallerState(enum.Enum):
    WAITING = "waiting"  # on hold music, nobody ringing for them
    RINGING = "ringing"  # one agent (or several: ring-all) is being rung for them
    CALLBACK = "callback"  # booked a call back: no live call, keeps the place
    DIALLING = "dialling"  # callport is calling a call-back caller


# ---- actions the driver carries out -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Base of what the engine asks the driver to do."""


@dataclass(frozen=True, slots=True)
class Ring(Action):
    """Offer ``call_id`` to ``agent`` for ``timeout_s`` (until ``deadline``)."""

    agent: str
    call_id: str
    timeout_s: float
    deadline: float


@dataclass(frozen=True, slots=True)
class CancelRing(Action):
    """Stop ringing ``agent`` for ``call_id`` (someone else answered, the time ran out)."""

    agent: str
    call_id: str


@dataclass(frozen=True, slots=True)
class Announce(Action):
    """Tell ``call_id`` its ``position`` (1 = next) and ``expected_s`` (None: unknown)."""

    call_id: str
    position: int
    expected_s: float | None


@dataclass(frozen=True, slots=True)
class WaitOver(Action):
    """``call_id`` has waited ``max_wait_s``: the queue's ``on_max_wait`` applies."""

    call_id: str


@dataclass(frozen=True, slots=True)
class DialBack(Action):
    """Call the call-back caller ``call_id`` at ``number`` now; an agent is kept for them."""

    call_id: str
    number: str


# ---- snapshots (queues status) ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerSnapshot:
    position: int
    call_id: str
    caller: str
    waited_s: float
    state: str
    priority: int
    ringing: tuple[str, ...]
    node: str = ""  # the node holding the call, when queues span nodes ("": this one)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSnapshot:
    name: str
    state: str
    online: bool
    calls_taken: int
    current_call: str
    last_call_end: float | None
    idle_s: float | None = None  # since their last call ended (None: no call yet)
    node: str = ""  # the node their device is on, when queues span nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSnapshot:
    name: str
    strategy: str
    waiting: tuple[CallerSnapshot, ...]
    agents: tuple[AgentSnapshot, ...]
    expected_handle_s: float


def status_json(queues: tuple[QueueSnapshot, ...]) -> dict[str, object]:
    """``queues status --json`` and ``GET /api/queues``: every queue, its callers in order
    and its agents."""
    return {"queues": [{
        "name": q.name, "strategy": q.strategy, "expected_handle_s": round(q.expected_handle_s, 1),
        "waiting": [{"position": w.position, "call_id": w.call_id, "caller": w.caller,
                     "waited_s": round(w.waited_s, 1), "state": w.state, "priority": w.priority,
                     "ringing": list(w.ringing), **({"node": w.node} if w.node else {})}
                    for w in q.waiting],
        "agents": [{"name": a.name, "state": a.state, "online": a.online,
                    "calls_taken": a.calls_taken, "current_call": a.current_call,
                    "idle_s": None if a.idle_s is None else round(a.idle_s, 1),
                    **({"node": a.node} if a.node else {})}
                   for a in q.agents],
    } for q in queues]}


def expected_wait(position: int, staffed: int, handle_s: float) -> float | None:
    """``ceil(position / staffed) * handle_s``; None with nobody staffed."""
    if staffed <= 0 or position <= 0:
        return None
    return math.ceil(position / staffed) * handle_s


