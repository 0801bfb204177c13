"""QueueService: the thin asyncio driver over ``QueueEngine``.

``await service.enqueue(call, "support")`` (also reached as ``call.enqueue``, the IVR's
``queue:NAME`` through ``join``, and an agent's ``Enqueue``) puts the call in line:

1. the caller hears the queue's hold music (an endless, non-interruptible source: it never
   stops while they wait, speech does not barge it in), interrupted only by the position and
   expected-wait announcement every ``announce_every_s`` (with the keys on offer);
2. the engine rings agents through the ``AgentReach`` by the queue's strategy; an answer
   (``Reached``) is bridged to the caller (``callport.call.bridge.Bridge``) and the call
   record gets ``queue`` events (joined, answered with the agent and the wait);
3. the caller may press a key (``keys``: leave a message, be called back, leave); at
   ``max_wait_s`` ``on_max_wait`` applies. A call back keeps the caller's place: the caller
   hangs up, and when it is their turn the service dials them (``dial_back``,
   ``queues.callbacks``) and they wait again, first in line, for the agent kept free for them.

While bridged, the agent may hold / resume the caller and transfer them (a number, a SIP URI,
``queue:NAME``): ``hold`` and ``transfer`` here, carried out by ``queues.connected``.

Everything that decides is in the engine; this module only drives it, rings and bridges
(the waiting caller's side is ``queues.waiting``).
One ``step()`` runs the engine's due timers and matching and arms one timer for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callport.call.call import Call
from callport.call.dial import DialCause
from callport.call.queueing import (
    AgentAnswered,
    QueueOutcome,
    QueueUnavailable,
)
from callport.call.session import CallSession
from callport.config_queues import QueueSettings, QueuesSettings
from callport.queues import prompts
from callport.queues.callbacks import DialBackFn, call_back
from callport.queues.cluster import QueueCluster
from callport.queues.connected import Connected
from callport.queues.engine import QueueEngine
from callport.queues.model import (
    Action,
    AgentStatus,
    Announce,
    CallerState,
    CancelRing,
    DialBack,
    QueueSnapshot,
    Ring,
    WaitOver,
)
from callport.queues.reach import AgentReach, NotReached, Reached
from callport.queues.waiting import Connect, MaxWait, Say, TakeMessage, Waiter
from callport.types import PCM16

log = logging.getLogger(__name__)

CallEvents = Callable[[str, str, str], Awaitable[object]]
"""``add_event(call_id, kind, detail)`` of the call store."""
OnAnswered = Callable[[str, str, str, float], Awaitable[object]]
"""``(call_id, queue, agent, wait_s)`` once an agent is bridged: the call record's outcome."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Requeue(AgentAnswered):
    """The agent transferred the caller to queue ``to``: ``enqueue`` puts them there."""

    to: str


class QueueService:
    """Queues of callers waiting for people (see the module docstring)."""

    def __init__(
        self, *, settings: QueuesSettings, reach: AgentReach | None,
        agents: Callable[[], Awaitable[list[tuple[str, tuple[str, ...]]]]] | None = None,
        take_message: TakeMessage | None = None, dial_back: DialBackFn | None = None,
        events: CallEvents | None = None, on_answered: OnAnswered | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reach = reach
        self._agents_of = agents
        self.take_message = take_message
        self._dial_back = dial_back
        self._events = events
        self._on_answered = on_answered
        self._clock = clock
        self.engine = QueueEngine(queues={q.name: q for q in settings.named})
        self._music: dict[str, tuple[PCM16, int]] = {}  # decoded once per queue
        self._waiters: dict[str, Waiter] = {}
        self._rings: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._connected: dict[str, Connected] = {}  # by the caller's call id
        self._away: set[str] = set()  # agents who said they are away
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self.cluster: QueueCluster | None = None  # queues across nodes (queues.cluster)

    # ---- agents ----------------------------------------------------------------------

    def add_agent(self, name: str, queues: tuple[str, ...]) -> None:
        self._add(name, queues, self._clock())
        self.step()

    def _add(self, name: str, queues: tuple[str, ...], now: float) -> None:
        new = name not in self.engine.agents()
        self.engine.add_agent(name, queues, now)
        if new and name in self._away:
            self.engine.set_away(name, True, now)

    def set_away(self, name: str, away: bool) -> None:
        """An agent stepped away (no offers) or is back (``/agent`` page, phone); kept for
        an agent the queues do not know yet (their first call comes later)."""
        (self._away.add if away else self._away.discard)(name)
        if name in self.engine.agents():
            self._apply(self.engine.set_away(name, away, self._clock()))
            self.step()

    async def refresh_agents(self) -> None:
        """Take the agents (role ``agent``, their queues) from the user store again."""
        if self._agents_of is None:
            return
        now = self._clock()
        listed = await self._agents_of()
        for name, queues in listed:
            self._add(name, queues, now)
        names = {name for name, _ in listed}
        for name in self.engine.agents():  # no longer an agent (or in no queue)
            if name not in names and self.engine.agent_status(name) is not AgentStatus.BUSY:
                self._apply(self.engine.remove_agent(name))

    def set_dial_back(self, dial_back: DialBackFn | None) -> None:
        """How call-backs are placed (the server sets it when a channel can dial)."""
        self._dial_back = dial_back

    def online(self, agent: str) -> bool:
        return self.reach is not None and self.reach.online(agent)

    @property
    def away(self) -> frozenset[str]:
        return frozenset(self._away)

    # ---- entering a queue ------------------------------------------------------------

    async def join(self, call: Call, queue: str) -> None:
        """The IVR's ``queue:NAME`` (``flows.ivr.QueueJoiner``): wait; if nobody took the
        call, the caller hears so and the call ends."""
        outcome = await self.enqueue(call, queue)
        if not outcome.over and not call.ended:
            await call.say(prompts.NO_ONE, interruptible=False)
            await call.hangup("queue")

    async def enqueue(self, call: Call, queue: str, *, priority: int = 0) -> QueueOutcome:
        """Wait in ``queue`` until answered and bridged, or the caller left some other way."""
        rules = self.settings.get(queue)
        if rules is None:
            return QueueUnavailable(queue=queue, detail=f"no [queues.{queue}]")
        await self.refresh_agents()
        if not self.engine.members(queue):
            return QueueUnavailable(queue=queue, detail=f"nobody takes calls from {queue}")
        call_id = call.info.call_id
        if call_id in self._waiters:
            return QueueUnavailable(queue=queue, detail="this call is already waiting")
        waiter = Waiter(call=call, queue=rules, joined=self._clock(), key=call_id)
        self._waiters[call_id] = waiter
        self.engine.join(call_id, queue, waiter.joined, priority=priority, caller=call.info.caller)
        await self.event(call_id, "queue", f"joined {queue}")
        try:
            if self.cluster is not None:
                await self.cluster.joined(call_id, queue, priority=priority,
                                          caller=call.info.caller)
            outcome = await waiter.run(self)
        finally:
            self._waiters.pop(call_id, None)
            if self.cluster is not None:
                await self.cluster.left(call_id)
            if self.engine.waiting(call_id) and not self._is_callback(call_id):
                self._apply(self.engine.leave(call_id))
            self.step()
        if isinstance(outcome, _Requeue) and not call.ended:  # the agent sent them on
            await self.event(call_id, "queue", f"transferred by {outcome.agent} to "
                              f"{outcome.to}")
            return await self.enqueue(call, outcome.to, priority=priority)
        return outcome

    def _is_callback(self, call_id: str) -> bool:
        return self.engine.state(call_id) in (CallerState.CALLBACK, CallerState.DIALLING)

    # ---- what a waiter asks of us (waiting.WaitHost) -----------------------------

    def now(self) -> float:
        return self._clock()

    def music(self, rules: QueueSettings) -> tuple[PCM16, int]:
        """The queue's music, decoded once (the built-in loop if its file will not do)."""
        if rules.name not in self._music:
            try:
                self._music[rules.name] = prompts.music_of(rules)
            except Exception:  # never silence: the built-in loop rather than nothing
                log.exception("queue %s: cannot play %s; the built-in music instead",
                              rules.name, rules.hold_music)
                self._music[rules.name] = prompts.builtin_loop(), prompts.RATE
        return self._music[rules.name]

    def can_call_back(self, number: str) -> bool:
        return self._dial_back is not None and number.lstrip("+").isdigit()

    def started(self, waiter: Waiter) -> None:
        self.step()

    def leave(self, key: str) -> None:
        self._apply(self.engine.leave(key))

    def book_callback(self, key: str, number: str) -> None:
        self._apply(self.engine.book_callback(key, number))

    async def bridge(self, waiter: Waiter, agent: str, other: CallSession) -> QueueOutcome:
        return await self._bridge(waiter, agent, other)

    async def _bridge(self, waiter: Waiter, agent: str, other: CallSession) -> QueueOutcome:
        call = waiter.call
        wait = waiter.waited(self)
        call_id = call.info.call_id
        await self.event(call_id, "queue", f"answered {waiter.queue.name}: {agent} after "
                          f"{wait:.1f} s")
        if self._on_answered is not None:
            try:
                await self._on_answered(call_id, waiter.queue.name, agent, wait)
            except Exception:
                log.warning("queue: could not record the answer of %s", call_id, exc_info=True)
        connected = Connected(call=call, agent=agent, other=other,
                              music=lambda: waiter.music_on(self))
        self._connected[call_id] = connected
        try:
            ended = await connected.run()
        finally:
            self._connected.pop(call_id, None)
            self.engine.call_ended(agent, self._clock())
            if not other.ended:
                await other.hangup("bridge-ended")
            self.step()
        if ended.queue:
            return _Requeue(queue=waiter.queue.name, wait_s=wait, agent=agent,
                            ended_by="transfer", to=ended.queue)
        return AgentAnswered(queue=waiter.queue.name, wait_s=wait, agent=agent,
                             ended_by=ended.by)

    # ---- what an agent on a call asks for (the /agent page) --------------------------

    async def hold(self, agent: str, call_id: str, held: bool) -> str:
        """Hold (music for the caller) or resume ``agent``'s call ``call_id``; "" when done,
        else why not."""
        connected = self._connected.get(call_id)
        if connected is None or connected.agent != agent:
            return "not your call"
        return connected.hold(held)

    async def transfer(self, agent: str, call_id: str, target: str) -> str:
        """Send ``agent``'s caller to ``target`` (a number, a ``sip:`` URI, ``queue:NAME``);
        "" when it went through, else why not (the caller is back with the agent)."""
        connected = self._connected.get(call_id)
        if connected is None or connected.agent != agent:
            return "not your call"
        if target.startswith("queue:") and self.settings.get(target[6:]) is None:
            return f"no queue {target[6:]!r}"
        return await connected.transfer(target)

    # ---- the engine's clock and actions ----------------------------------------------

    def step(self) -> None:
        """Run what is due now and arm the timer for the engine's next deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._clock()
        self._apply(self.engine.tick(now, self.online))
        deadline = self.engine.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, deadline - now) + 0.001, self.step)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Ring():
                    self._spawn_ring(action)
                case CancelRing(agent=agent, call_id=call_id):
                    task = self._rings.pop((agent, call_id), None)
                    if task is not None and task is not asyncio.current_task():
                        task.cancel()
                case Announce(call_id=call_id, position=position, expected_s=expected):
                    waiter = self._waiters.get(call_id)
                    if waiter is not None:
                        if self.cluster is not None:  # counting every node's callers
                            position = self.cluster.position(call_id, position)
                        text = prompts.announcement(position, expected)
                        keys = waiter.keys_text(self)
                        waiter.signals.put_nowait(Say(f"{text} {keys}".strip()))
                case WaitOver(call_id=call_id):
                    waiter = self._waiters.get(call_id)
                    if waiter is not None:
                        waiter.signals.put_nowait(MaxWait())
                case DialBack(call_id=call_id, number=number):
                    self._spawn(call_back(self, self._dial_back, self._waiters, call_id, number))

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _spawn_ring(self, ring: Ring) -> None:
        key = (ring.agent, ring.call_id)
        self._rings[key] = self._spawn(self._ring(ring))

    async def _ring(self, ring: Ring) -> None:
        waiter = self._waiters.get(ring.call_id)
        result: Reached | NotReached
        if waiter is None or self.reach is None:
            result = NotReached(agent=ring.agent, cause=DialCause.NOT_CONFIGURED)
        else:
            try:
                result = await self.reach.ring(ring.agent, waiter.offer(self),
                                               timeout_s=ring.timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue: ringing %s failed", ring.agent)
                result = NotReached(agent=ring.agent, cause=DialCause.CARRIER_ERROR)
        if self._rings.get((ring.agent, ring.call_id)) is asyncio.current_task():
            del self._rings[(ring.agent, ring.call_id)]
        now = self._clock()
        if isinstance(result, Reached):
            self._apply(self.engine.ring_answered(ring.agent, ring.call_id, now))
            waiter = self._waiters.get(ring.call_id)
            if waiter is not None and self.engine.won(ring.agent, ring.call_id):
                waiter.signals.put_nowait(Connect(ring.agent, result.session))
            else:
                if self.engine.won(ring.agent, ring.call_id):  # the caller left meanwhile
                    self.engine.call_ended(ring.agent, now)
                await result.session.hangup("answered-elsewhere")
        else:
            log.info("queue: %s did not take %s (%s)", ring.agent, ring.call_id, result.cause)
            self.engine.ring_failed(ring.agent, ring.call_id, now)
        self.step()

    async def event(self, call_id: str, kind: str, detail: str) -> None:
        if self._events is None:
            return
        try:
            await self._events(call_id, kind, detail)
        except Exception:  # the call store is a record, not a reason to drop the caller
            log.warning("queue: could not record %s for %s", kind, call_id, exc_info=True)

    # ---- status ----------------------------------------------------------------------

    def status(self) -> tuple[QueueSnapshot, ...]:
        return self.engine.snapshot(self._clock(), self.online)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
