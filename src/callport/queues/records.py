"""The queue engine's state: one record per agent, waiting caller and queue.

Plain mutable records that ``queues.engine.QueueEngine`` keeps and changes; nothing here
decides. ``AgentRecord.idle_since`` is what ``longest-idle`` orders by, ``calls_taken`` what
``fewest-calls`` does (``queues.strategies``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from callport.config_queues import QueueDefaults
from callport.queues.model import AgentStatus, CallerState

HISTORY = 20  # handle times kept per queue for the expected wait


@dataclass(slots=True)
class AgentRecord:
    name: str
    queues: set[str]
    status: AgentStatus = AgentStatus.AVAILABLE
    idle_since: float = 0.0
    calls_taken: int = 0
    last_call_end: float | None = None
    wrap_until: float = 0.0
    call_id: str = ""  # ringing for or talking to
    answered_at: float = 0.0
    queue: str = ""  # the queue of that call
    away_after: bool = False  # asked for away while busy: away once the call is over


@dataclass(slots=True)
class CallerRecord:
    call_id: str
    queue: str
    priority: int
    seq: int
    joined: float
    caller: str
    state: CallerState = CallerState.WAITING
    ringing: set[str] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)
    not_before: float = 0.0  # the next round of rings waits until then
    next_announce: float = math.inf
    wait_over_at: float = math.inf
    number: str = ""  # call-back number


@dataclass(slots=True)
class QueueRecord:
    rules: QueueDefaults
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_rung: str = ""  # round-robin memory
