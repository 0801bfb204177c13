"""The seam between the queue and the people it hands calls to: ``AgentReach``.

The queue service decides *which* agent to offer a waiting caller to (``queues.engine``);
an ``AgentReach`` delivers that offer to a person, whatever they answer on: a SIP phone
registered to callport, the ``/agent`` page, a test fake. One call of ``ring`` is one offer
to one agent::

    result = await reach.ring("alice", offer, timeout_s=15.0)
    match result:
        case Reached(session=session): ...   # the service bridges it to the caller
        case NotReached(cause=cause): ...    # the service moves on to the next agent

Rules an implementation follows (``FakeReach`` below is the reference):

- ``ring`` returns ``Reached`` as soon as the person answered, with a **started**
  ``CallSession`` over their answered leg (``answered_session(leg)`` makes one: media only,
  no VAD). The queue service bridges it to the caller (``callport.call.bridge.Bridge``) and,
  when either party leaves, hangs the other one up. The reach keeps ownership of the
  session's tasks: once the session has ended it calls ``await session.close()``
  (``answered_session`` arranges that by itself).
- ``ring`` returns ``NotReached(cause)`` when nobody answered within ``timeout_s``
  (``DialCause.NO_ANSWER``), the phone said busy (``BUSY``), the person declined
  (``REJECTED``), the agent has no phone registered and no page open (``OFFLINE``) or it
  failed (``CARRIER_ERROR``, ``UNREACHABLE``, ...; ``detail`` says more). It never raises for
  what the person or their phone did.
- The service **cancels** the ``ring`` task when it no longer wants the answer (the caller
  hung up, another agent answered first under ring-all, the service stops). On
  ``asyncio.CancelledError`` stop ringing (SIP CANCEL, tell the page) and re-raise. If the
  person answered anyway and ``Reached`` arrives too late, the service hangs that session
  up with reason ``"answered-elsewhere"``.
- ``online(agent)`` says whether ``agent`` can be rung right now (a live registration or an
  open page). The service offers calls only to agents that are online and available; it
  asks again each time it looks for an agent, so going offline needs no notification.
- The ``Offer`` carries what the person should see before answering: who is calling
  (``caller``: number, identified user), which queue, the AI's ``summary`` and the
  ``transcript`` so far as ``(speaker, text)`` pairs, speaker ``"caller"`` or ``"agent"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from callport.call.dial import DialCause
from callport.call.leg import Leg
from callport.call.memory import MemoryLeg
from callport.call.session import CallSession
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.turn import TurnDetector

__all__ = [
    "OFFLINE", "AgentReach", "FakeAgent", "FakeReach", "NotReached", "Offer", "ReachCause",
    "Reached", "RingResult", "answered_session",
]

log = logging.getLogger(__name__)


class _Offline(enum.Enum):
    OFFLINE = "offline"


OFFLINE = _Offline.OFFLINE
"""The cause for an agent with no registered phone and no open page."""

ReachCause = DialCause | _Offline


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """One waiting caller offered to one agent.

    ``call_id`` is the caller's call (the call store's id), ``queue`` the queue's name,
    ``caller`` what is known of them, ``summary`` a short text (the AI's summary or the
    queue's name), ``transcript`` the call so far, oldest first, as ``(speaker, text)``.
    ``waited_s`` is how long they waited; ``callback`` is True when callport is calling a
    caller back who asked for it (the agent may want to know).
    """

    call_id: str
    queue: str
    caller: CallInfo
    summary: str = ""
    transcript: tuple[tuple[str, str], ...] = ()
    waited_s: float = 0.0
    callback: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RingResult:
    """Base of what ``AgentReach.ring`` returns."""

    agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reached(RingResult):
    """``agent`` answered: ``session`` is a started ``CallSession`` over their leg."""

    session: CallSession


@dataclass(frozen=True, slots=True, kw_only=True)
class NotReached(RingResult):
    """``agent`` did not take the call: ``cause`` (``DialCause.NO_ANSWER``, ``BUSY``,
    ``REJECTED`` for declined, ``OFFLINE``, or a failure cause) and a human ``detail``."""

    cause: ReachCause
    detail: str = ""


class AgentReach(Protocol):
    """Delivers offers to people (see the module docstring for the rules)."""

    def online(self, agent: str) -> bool:
        """True when ``agent`` can be rung now (a registered phone, an open agent page)."""
        ...

    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        """Offer ``offer`` to ``agent`` for at most ``timeout_s`` seconds."""
        ...


_CLOSERS: set[asyncio.Task[None]] = set()  # strong references to the self-closing tasks


def answered_session(
    leg: Leg, *, metrics: Metrics | None = None, on_closed: Callable[[], None] | None = None,
) -> CallSession:
    """A started, media-only ``CallSession`` over an agent's answered ``leg`` (no VAD: while
    bridged nobody listens for turns; digits still arrive). It closes itself once it ended."""
    session = CallSession(leg=leg, vad=None, turn=TurnDetector(),
                          metrics=metrics if metrics is not None else Metrics())
    session.start()

    async def close_when_ended() -> None:
        await session.wait_ended()
        await session.close()
        if on_closed is not None:
            on_closed()

    task = asyncio.get_running_loop().create_task(close_when_ended(),
                                                  name=f"agent-session:{leg.call_id}")
    _CLOSERS.add(task)
    task.add_done_callback(_CLOSERS.discard)
    return session


# ---- the fake: memory legs, scripted answers ------------------------------------------------

Answer = DialCause | _Offline | None
"""What a ``FakeAgent`` does with the next offer: None answers, a cause refuses."""


@dataclass(slots=True)
class FakeAgent:
    """One scripted person. ``answers`` are used in order (then ``default``); ``delay_s``
    is how long they let it ring before answering (longer than the timeout: no answer);
    ``legs`` are the answered legs (``MemoryLeg``: the person's ear and mouth), ``offers``
    every offer they saw."""

    name: str
    answers: list[Answer] = field(default_factory=list)
    default: Answer = None
    delay_s: float = 0.0
    online: bool = True
    legs: list[MemoryLeg] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    cancelled: int = 0


class FakeReach:
    """An ``AgentReach`` for tests and ``callport talk``: each answer is a ``MemoryLeg``.

    ``agent(name)`` returns (making it on first use) the ``FakeAgent`` to script; a ring waits
    ``delay_s`` with ``sleep`` (inject a fake clock's sleep for simulated time), then answers
    or refuses as scripted. ``answered`` is awaited by tests that wait for the next answer.
    """

    def __init__(
        self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sample_rate: int = 16000,
    ) -> None:
        self._sleep = sleep
        self._rate = sample_rate
        self.agents: dict[str, FakeAgent] = {}
        self.rings: list[tuple[str, str]] = []  # (agent, call_id) in the order rung
        self.answered: asyncio.Queue[tuple[FakeAgent, MemoryLeg, Offer]] = asyncio.Queue()

    def agent(self, name: str) -> FakeAgent:
        if name not in self.agents:
            self.agents[name] = FakeAgent(name=name)
        return self.agents[name]

    def online(self, agent: str) -> bool:
        return self.agent(agent).online

    async def ring(self, agent: str, offer: Offer, *, timeout_s: float) -> Reached | NotReached:
        person = self.agent(agent)
        person.offers.append(offer)
        self.rings.append((agent, offer.call_id))
        if not person.online:
            return NotReached(agent=agent, cause=OFFLINE, detail="not registered")
        answer = person.answers.pop(0) if person.answers else person.default
        try:
            if person.delay_s >= timeout_s:
                await self._sleep(timeout_s)
                return NotReached(agent=agent, cause=DialCause.NO_ANSWER, detail="rang out")
            if person.delay_s > 0:
                await self._sleep(person.delay_s)
        except asyncio.CancelledError:
            person.cancelled += 1
            raise
        if answer is not None:
            return NotReached(agent=agent, cause=answer, detail="scripted")
        leg = MemoryLeg(call_id=f"{offer.call_id}-{agent}-{len(person.legs) + 1}",
                        sample_rate=self._rate)
        person.legs.append(leg)
        session = answered_session(leg)
        with contextlib.suppress(asyncio.QueueFull):
            self.answered.put_nowait((person, leg, offer))
        return Reached(agent=agent, session=session)
