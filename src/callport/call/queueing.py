"""How a call waits in line: the outcome of ``await call.enqueue("support")``, and the seam
the queue service (``callport.queues``, one layer up) fills.

The call core only knows that something can put a call in a named queue and tell how it
left; the queue engine, its strategies, hold music and agent reach live in ``callport.queues``.
The runtime sets ``call.queues`` (an ``Enqueuer``); a flow writes::

    match await call.enqueue("support"):
        case AgentAnswered(agent=agent): ...       # talked to a person; usually over now
        case TimedOut() | QueueUnavailable(): ...  # still our call: say something, go on
        case CallerHungUp(): return

Pure definitions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from callport.call.call import Call

__all__ = [
    "AgentAnswered", "CallbackBooked", "CallerHungUp", "Enqueuer", "LeftMessage",
    "QueueOutcome", "QueueUnavailable", "TimedOut",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueOutcome:
    """Base of how a call left a queue. ``queue`` is its name, ``wait_s`` the seconds waited."""

    queue: str
    wait_s: float = 0.0

    @property
    def over(self) -> bool:
        """True when the call is over for the flow (nothing more to say to the caller)."""
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAnswered(QueueOutcome):
    """A person (``agent``, their user name) answered and was bridged to the caller; the
    outcome comes back once the bridge ended (``ended_by``: "caller" or "agent")."""

    agent: str
    ended_by: str = "caller"

    @property
    def over(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftMessage(QueueOutcome):
    """The caller chose to leave a message (voicemail ``message_id``) instead of waiting."""

    message_id: int = 0

    @property
    def over(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackBooked(QueueOutcome):
    """The caller asked to be called back at ``number``; they keep their place, and the queue
    dials them when an agent frees up."""

    number: str

    @property
    def over(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp(QueueOutcome):
    """The caller hung up while waiting (or ringing an agent)."""

    @property
    def over(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class TimedOut(QueueOutcome):
    """``max_wait_s`` passed (and the caller chose nothing): the call is the flow's again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueUnavailable(QueueOutcome):
    """Nothing to wait for: no such queue, no queue service, or no agent is a member of it.
    ``detail`` says which."""

    detail: str = ""


class Enqueuer(Protocol):
    """What ``call.enqueue`` hands the call to (``callport.queues.QueueService``)."""

    async def enqueue(self, call: Call, queue: str, *, priority: int = 0) -> QueueOutcome:
        """Wait in ``queue`` (higher ``priority`` first, then arrival) until a person answered
        and the bridge ended, the caller hung up or chose something, or the wait ran out."""
        ...
