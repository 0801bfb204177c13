"""Queues: callers waiting for people (``[queues.NAME]``), as Asterisk's app_queue does it.

- ``engine``: the pure, sans-IO queue logic in simulated time (strategies, priorities, ring
  timeouts with move-on, wrap-up, position and expected wait, max wait, callbacks).
- ``reach``: ``AgentReach``, the seam that delivers an offered call to a person (SIP phone,
  ``/agent`` page), with ``Offer``, ``Reached``, ``NotReached`` and an in-memory fake.
- ``service``: the thin asyncio driver: ``QueueService.enqueue(call, queue)`` runs the
  engine's clock, rings agents through the reach and bridges; ``waiting`` is one waiting
  caller (hold music that never stops, announcements, keys, max wait, message, call back),
  ``connected`` one bridged call (hold, resume, transfer from the agent's side), ``prompts``
  the built-in music and the words.

The outcomes (``AgentAnswered``, ``TimedOut``, ...) live in ``callport.call.queueing`` so that
``call.enqueue`` can name them; they are re-exported here.
"""

from __future__ import annotations

from callport.call.queueing import (
    AgentAnswered,
    CallbackBooked,
    CallerHungUp,
    Enqueuer,
    LeftMessage,
    QueueOutcome,
    QueueUnavailable,
    TimedOut,
)

__all__ = [
    "AgentAnswered", "CallbackBooked", "CallerHungUp", "Enqueuer", "LeftMessage", "QueueOutcome",
    "QueueUnavailable", "TimedOut",
]
