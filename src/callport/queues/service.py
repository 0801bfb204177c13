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
   hangs up, and when it is their turn the service dials them (``dial_back``) and they wait
   again, first in line, for the agent kept free for them.

While bridged, the agent may hold / resume the caller and transfer them (a number, a SIP URI,
``queue:NAME``): ``hold`` and ``transfer`` here, carried out by ``queues.connected``.

Everything that decides is in the engine; this module only waits, plays, rings and bridges.
One ``step()`` runs the engine's due timers and matching and arms one timer for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from callport.call.call import Call
from callport.call.dial import DialCause
from callport.call.queueing import (
    AgentAnswered,
    CallbackBooked,
    CallerHungUp,
    LeftMessage,
    QueueOutcome,
    QueueUnavailable,
    TimedOut,
)
from callport.call.results import HungUp
from callport.call.session import CallerDigit, CallSession
from callport.config_queues import QueueSettings, QueuesSettings
from callport.queues import prompts
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
from callport.queues.reach import AgentReach, NotReached, Offer, Reached
from callport.types import PCM16

log = logging.getLogger(__name__)

TakeMessage = Callable[[Call, str], Awaitable[int | None]]
"""Record a message from ``call`` for queue ``queue``; its id, None if they hung up first."""
DialBackFn = Callable[[str, str], Awaitable[Call | None]]
"""Call ``number`` back for queue ``queue``: the answered, started ``Call``, or None."""
CallEvents = Callable[[str, str, str], Awaitable[object]]
"""``add_event(call_id, kind, detail)`` of the call store."""
OnAnswered = Callable[[str, str, str, float], Awaitable[object]]
"""``(call_id, queue, agent, wait_s)`` once an agent is bridged: the call record's outcome."""


@dataclass(frozen=True, slots=True)
class _Signal:
    """What wakes a waiting caller."""


@dataclass(frozen=True, slots=True)
class _Digit(_Signal):
    digit: str


@dataclass(frozen=True, slots=True)
class _Gone(_Signal):
    reason: str


@dataclass(frozen=True, slots=True)
class _Connect(_Signal):
    agent: str
    session: CallSession


@dataclass(frozen=True, slots=True)
class _Say(_Signal):
    text: str


@dataclass(frozen=True, slots=True)
class _WaitOver(_Signal):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class _Requeue(AgentAnswered):
    """The agent transferred the caller to queue ``to``: ``enqueue`` puts them there."""

    to: str


@dataclass(slots=True)
class _Waiter:
    call: Call
    queue: QueueSettings
    joined: float
    key: str  # the caller's id in the engine: the first call's id, also for its call back
    callback: bool = False
    signals: asyncio.Queue[_Signal] = field(default_factory=asyncio.Queue)
    music: prompts.ResumingMusic | None = None


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
        self._take_message = take_message
        self._dial_back = dial_back
        self._events = events
        self._on_answered = on_answered
        self._clock = clock
        self.engine = QueueEngine(queues={q.name: q for q in settings.named})
        self._music: dict[str, tuple[PCM16, int]] = {}  # decoded once per queue
        self._waiters: dict[str, _Waiter] = {}
        self._rings: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._connected: dict[str, Connected] = {}  # by the caller's call id
        self._away: set[str] = set()  # agents who said they are away
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

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
        waiter = _Waiter(call=call, queue=rules, joined=self._clock(), key=call_id)
        self._waiters[call_id] = waiter
        self.engine.join(call_id, queue, waiter.joined, priority=priority, caller=call.info.caller)
        await self._event(call_id, "queue", f"joined {queue}")
        try:
            outcome = await self._wait(waiter)
        finally:
            self._waiters.pop(call_id, None)
            if self.engine.waiting(call_id) and not self._is_callback(call_id):
                self._apply(self.engine.leave(call_id))
            self.step()
        if isinstance(outcome, _Requeue) and not call.ended:  # the agent sent them on
            await self._event(call_id, "queue", f"transferred by {outcome.agent} to "
                              f"{outcome.to}")
            return await self.enqueue(call, outcome.to, priority=priority)
        return outcome

    def _is_callback(self, call_id: str) -> bool:
        return self.engine.state(call_id) in (CallerState.CALLBACK, CallerState.DIALLING)

    # ---- waiting ---------------------------------------------------------------------

    async def _wait(self, waiter: _Waiter) -> QueueOutcome:
        call, rules = waiter.call, waiter.queue
        session = call.session
        session.set_turns(False)  # digits only: no speech turns, no barge-in of the music
        reader = asyncio.create_task(self._read_turns(session, waiter.signals))
        try:
            self._music_on(waiter)
            self.step()
            while True:
                signal = await waiter.signals.get()
                match signal:
                    case _Gone():
                        return CallerHungUp(queue=rules.name, wait_s=self._waited(waiter))
                    case _Connect(agent=agent, session=agent_session):
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
                        return await self._bridge(waiter, agent, agent_session)
                    case _Say(text=text):
                        await self._say(waiter, text)
                    case _Digit(digit=digit):
                        done = await self._key(waiter, digit)
                        if done is not None:
                            return done
                    case _WaitOver():
                        done = await self._max_wait(waiter)
                        if done is not None:
                            return done
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            session.set_turns(True)
            if session.holding and not call.ended:
                await session.stop_audio()

    async def _read_turns(self, session: CallSession, signals: asyncio.Queue[_Signal]) -> None:
        while True:
            turn = await session.next_turn()
            match turn:
                case CallerDigit(digit=digit):
                    signals.put_nowait(_Digit(digit))
                case HungUp(reason=reason):
                    signals.put_nowait(_Gone(reason))
                    return
                case _:
                    pass

    def _music_on(self, waiter: _Waiter) -> None:
        name = waiter.queue.name
        if waiter.music is None:
            if name not in self._music:
                try:
                    self._music[name] = prompts.music_of(waiter.queue)
                except Exception:  # never silence: the built-in loop rather than nothing
                    log.exception("queue %s: cannot play %s; the built-in music instead",
                                  name, waiter.queue.hold_music)
                    self._music[name] = prompts.builtin_loop(), prompts.RATE
            pcm, rate = self._music[name]
            waiter.music = prompts.ResumingMusic(pcm=pcm, sample_rate=rate,
                                                 label=f"hold-music:{name}")
        session = waiter.call.session
        if not waiter.call.ended and not session.holding:
            session.new_reply()
            session.play(waiter.music, interruptible=False)

    async def _say(self, waiter: _Waiter, text: str) -> None:
        """An announcement over (instead of) the music, then the music again at once."""
        if waiter.call.ended:
            return
        await waiter.call.say(text, interruptible=False)
        self._music_on(waiter)

    def _waited(self, waiter: _Waiter) -> float:
        return max(0.0, self._clock() - waiter.joined)

    def _keys_text(self, waiter: _Waiter) -> str:
        return prompts.keys_prompt(waiter.queue, callback=self._can_call_back(waiter),
                                   voicemail=self._take_message is not None)

    def _can_call_back(self, waiter: _Waiter) -> bool:
        number = waiter.call.info.caller
        return self._dial_back is not None and number.lstrip("+").isdigit()

    async def _key(self, waiter: _Waiter, digit: str) -> QueueOutcome | None:
        action = waiter.queue.key_actions().get(digit)
        match action:
            case "voicemail":
                return await self._message(waiter)
            case "callback":
                return await self._callback(waiter)
            case "leave":
                return TimedOut(queue=waiter.queue.name, wait_s=self._waited(waiter))
        return None  # not a key of this queue: the music goes on

    async def _max_wait(self, waiter: _Waiter) -> QueueOutcome | None:
        rules = waiter.queue
        match rules.on_max_wait:
            case "voicemail":
                return await self._message(waiter)
            case "callback":
                return await self._callback(waiter)
            case "keys":
                text = self._keys_text(waiter)
                if text:
                    await self._say(waiter, text)
                    try:
                        async with asyncio.timeout(rules.choose_s):
                            while True:
                                signal = await waiter.signals.get()
                                if isinstance(signal, _Digit):
                                    done = await self._key(waiter, signal.digit)
                                    if done is not None:
                                        return done
                                elif not isinstance(signal, _Say):
                                    waiter.signals.put_nowait(signal)  # handled by _wait
                                    return None
                    except TimeoutError:
                        pass
        self._apply(self.engine.leave(waiter.key))
        return TimedOut(queue=rules.name, wait_s=self._waited(waiter))

    async def _message(self, waiter: _Waiter) -> QueueOutcome | None:
        if self._take_message is None:
            await self._say(waiter, prompts.NO_MESSAGES)
            return None
        call = waiter.call
        self._apply(self.engine.leave(waiter.key))
        wait = self._waited(waiter)
        await call.session.stop_audio()
        message = await self._take_message(call, waiter.queue.name)
        if message is None:
            return CallerHungUp(queue=waiter.queue.name, wait_s=wait)
        return LeftMessage(queue=waiter.queue.name, wait_s=wait, message_id=message)

    async def _callback(self, waiter: _Waiter) -> QueueOutcome | None:
        if not self._can_call_back(waiter):
            await self._say(waiter, prompts.NO_CALLBACK)
            return None
        call = waiter.call
        number = call.info.caller
        self._apply(self.engine.book_callback(waiter.key, number))
        await self._event(call.info.call_id, "queue", f"callback booked {waiter.queue.name}")
        await self._say(waiter, prompts.callback_booked(number))
        await call.session.stop_audio()
        if not call.ended:
            await call.hangup("callback")
        return CallbackBooked(queue=waiter.queue.name, wait_s=self._waited(waiter),
                              number=number)

    async def _bridge(self, waiter: _Waiter, agent: str, other: CallSession) -> QueueOutcome:
        call = waiter.call
        wait = self._waited(waiter)
        call_id = call.info.call_id
        await self._event(call_id, "queue", f"answered {waiter.queue.name}: {agent} after "
                          f"{wait:.1f} s")
        if self._on_answered is not None:
            try:
                await self._on_answered(call_id, waiter.queue.name, agent, wait)
            except Exception:
                log.warning("queue: could not record the answer of %s", call_id, exc_info=True)
        connected = Connected(call=call, agent=agent, other=other,
                              music=lambda: self._music_on(waiter))
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
                        text = prompts.announcement(position, expected)
                        keys = self._keys_text(waiter)
                        waiter.signals.put_nowait(_Say(f"{text} {keys}".strip()))
                case WaitOver(call_id=call_id):
                    waiter = self._waiters.get(call_id)
                    if waiter is not None:
                        waiter.signals.put_nowait(_WaitOver())
                case DialBack(call_id=call_id, number=number):
                    self._spawn(self._call_back(call_id, number))

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
                result = await self.reach.ring(ring.agent, self._offer(waiter),
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
                waiter.signals.put_nowait(_Connect(ring.agent, result.session))
            else:
                if self.engine.won(ring.agent, ring.call_id):  # the caller left meanwhile
                    self.engine.call_ended(ring.agent, now)
                await result.session.hangup("answered-elsewhere")
        else:
            log.info("queue: %s did not take %s (%s)", ring.agent, ring.call_id, result.cause)
            self.engine.ring_failed(ring.agent, ring.call_id, now)
        self.step()

    def _offer(self, waiter: _Waiter) -> Offer:
        call = waiter.call
        transcript: list[tuple[str, str]] = []
        for turn in call.turns:
            if turn.transcript:
                transcript.append(("caller", turn.transcript))
            if turn.reply:
                transcript.append(("agent", turn.reply))
        who = call.info.user.spoken_name if call.info.user is not None else call.info.caller
        asked = next((t for s, t in reversed(transcript) if s == "caller"), "")
        summary = f"{who or 'A caller'} waiting in {waiter.queue.name}"
        if asked:
            summary += f"; said: {asked}"
        return Offer(call_id=call.info.call_id, queue=waiter.queue.name, caller=call.info,
                     summary=summary, transcript=tuple(transcript),
                     waited_s=self._waited(waiter), callback=waiter.callback)

    async def _call_back(self, call_id: str, number: str) -> None:
        queue = self.engine.queue_of(call_id)
        call = None
        if self._dial_back is not None:
            try:
                call = await self._dial_back(number, queue)
            except Exception:
                log.exception("queue: calling %s back failed", number)
        if call is None or call.ended:
            self.engine.dialled(call_id, answered=False, now=self._clock())
            await self._event(call_id, "queue", f"callback to {number} not answered")
            self.step()
            return
        self.engine.dialled(call_id, answered=True, now=self._clock())
        rules = self.settings.get(queue)
        assert rules is not None
        waiter = _Waiter(call=call, queue=rules, joined=self._clock(), key=call_id,
                         callback=True)
        self._waiters[call_id] = waiter
        try:
            outcome = await self._wait(waiter)
            log.info("queue: call back %s: %r", call_id, outcome)
        finally:
            self._waiters.pop(call_id, None)
            if self.engine.waiting(call_id):
                self._apply(self.engine.leave(call_id))
            if not call.ended:
                await call.hangup("queue")
            self.step()

    async def _event(self, call_id: str, kind: str, detail: str) -> None:
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
