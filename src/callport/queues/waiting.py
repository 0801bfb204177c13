"""One caller waiting in a queue: the music, the announcements, the keys, the max wait.

``Waiter.run(host)`` plays the queue's hold music (an endless, non-interruptible source: speech
does not barge it in, so it never stops while they wait) and then reacts to ``Signal``s: the
service's ``Say`` (the position / expected-wait announcement: spoken over the music's place,
then the music goes on where it stopped), ``MaxWait`` (``on_max_wait``), ``Connect`` (an agent
answered: the host bridges), and the caller's own ``Digit`` (the queue's ``keys``: a message,
a call back, leave) or ``Gone`` (hung up). The ``WaitHost`` (``QueueService``) does what
needs the engine or the outside world.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from callport.call.call import Call
from callport.call.queueing import (
    CallbackBooked,
    CallerHungUp,
    LeftMessage,
    QueueOutcome,
    TimedOut,
)
from callport.call.results import HungUp
from callport.call.session import CallerDigit, CallSession
from callport.config_queues import QueueSettings
from callport.queues import prompts
from callport.queues.reach import Offer
from callport.types import PCM16

log = logging.getLogger(__name__)

__all__ = [
    "Connect",
    "Digit",
    "Gone",
    "MaxWait",
    "Say",
    "Signal",
    "TakeMessage",
    "WaitHost",
    "Waiter",
]

TakeMessage = Callable[[Call, str], Awaitable[int | None]]
"""Record a message from ``call`` for queue ``queue``; its id, None if they hung up first."""


@dataclass(frozen=True, slots=True)
class Signal:
    """What wakes a waiting caller."""


@dataclass(frozen=True, slots=True)
class Digit(Signal):
    digit: str


@dataclass(frozen=True, slots=True)
class Gone(Signal):
    reason: str


@dataclass(frozen=True, slots=True)
class Connect(Signal):
    agent: str
    session: CallSession


@dataclass(frozen=True, slots=True)
class Say(Signal):
    text: str


@dataclass(frozen=True, slots=True)
class MaxWait(Signal):
    pass


class WaitHost(Protocol):
    """What a waiter needs of the queue service."""

    take_message: TakeMessage | None

    def now(self) -> float: ...

    def music(self, rules: QueueSettings) -> tuple[PCM16, int]: ...

    def can_call_back(self, number: str) -> bool: ...

    def started(self, waiter: Waiter) -> None:
        """The caller hears the music: the engine may offer them now."""
        ...

    def leave(self, key: str) -> None: ...

    def book_callback(self, key: str, number: str) -> None: ...

    async def event(self, call_id: str, kind: str, detail: str) -> None: ...

    async def bridge(self, waiter: Waiter, agent: str, session: CallSession) -> QueueOutcome:
        ...


@dataclass(slots=True)
class Waiter:
    call: Call
    queue: QueueSettings
    joined: float
    key: str  # the caller's id in the engine: the first call's id, also for its call back
    callback: bool = False
    signals: asyncio.Queue[Signal] = field(default_factory=asyncio.Queue)
    music: prompts.ResumingMusic | None = None

    def waited(self, host: WaitHost) -> float:
        return max(0.0, host.now() - self.joined)

    def offer(self, host: WaitHost) -> Offer:
        """What an agent rung for this caller sees: who, the queue, the transcript so far."""
        call = self.call
        transcript: list[tuple[str, str]] = []
        for turn in call.turns:
            if turn.transcript:
                transcript.append(("caller", turn.transcript))
            if turn.reply:
                transcript.append(("agent", turn.reply))
        user = call.info.user
        who = user.spoken_name if user is not None and not user.guest else call.info.caller
        asked = next((t for s, t in reversed(transcript) if s == "caller"), "")
        summary = f"{who or 'A caller'} waiting in {self.queue.name}"
        if asked:
            summary += f"; said: {asked}"
        return Offer(call_id=call.info.call_id, queue=self.queue.name, caller=call.info,
                     summary=summary, transcript=tuple(transcript),
                     waited_s=self.waited(host), callback=self.callback)

    def keys_text(self, host: WaitHost) -> str:
        return prompts.keys_prompt(self.queue, callback=host.can_call_back(self.call.info.caller),
                                   voicemail=host.take_message is not None)

    def music_on(self, host: WaitHost) -> None:
        """The caller's hold music (again, where it stopped), unless it is playing."""
        if self.music is None:
            pcm, rate = host.music(self.queue)
            self.music = prompts.ResumingMusic(pcm=pcm, sample_rate=rate,
                                               label=f"hold-music:{self.queue.name}")
        session = self.call.session
        if not self.call.ended and not session.holding:
            session.new_reply()
            session.play(self.music, interruptible=False)

    async def run(self, host: WaitHost) -> QueueOutcome:
        call, rules = self.call, self.queue
        session = call.session
        session.set_turns(False)  # digits only: no speech turns, no barge-in of the music
        reader = asyncio.create_task(_read_turns(session, self.signals))
        try:
            self.music_on(host)
            host.started(self)
            while True:
                signal = await self.signals.get()
                match signal:
                    case Gone():
                        return CallerHungUp(queue=rules.name, wait_s=self.waited(host))
                    case Connect(agent=agent, session=agent_session):
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
                        return await host.bridge(self, agent, agent_session)
                    case Say(text=text):
                        await self._say(host, text)
                    case Digit(digit=digit):
                        done = await self._key(host, digit)
                        if done is not None:
                            return done
                    case MaxWait():
                        done = await self._max_wait(host)
                        if done is not None:
                            return done
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            session.set_turns(True)
            if session.holding and not call.ended:
                await session.stop_audio()

    async def _say(self, host: WaitHost, text: str) -> None:
        """An announcement in the music's place, then the music again at once."""
        if self.call.ended:
            return
        await self.call.say(text, interruptible=False)
        self.music_on(host)

    async def _key(self, host: WaitHost, digit: str) -> QueueOutcome | None:
        match self.queue.key_actions().get(digit):
            case "voicemail":
                return await self._message(host)
            case "callback":
                return await self._callback(host)
            case "leave":
                return TimedOut(queue=self.queue.name, wait_s=self.waited(host))
        return None  # not a key of this queue: the music goes on

    async def _max_wait(self, host: WaitHost) -> QueueOutcome | None:
        rules = self.queue
        match rules.on_max_wait:
            case "voicemail":
                return await self._message(host)
            case "callback":
                return await self._callback(host)
            case "keys":
                text = self.keys_text(host)
                if text:
                    await self._say(host, text)
                    try:
                        async with asyncio.timeout(rules.choose_s):
                            while True:
                                signal = await self.signals.get()
                                if isinstance(signal, Digit):
                                    done = await self._key(host, signal.digit)
                                    if done is not None:
                                        return done
                                elif not isinstance(signal, Say):
                                    self.signals.put_nowait(signal)  # for run() to handle
                                    return None
                    except TimeoutError:
                        pass
        host.leave(self.key)
        return TimedOut(queue=rules.name, wait_s=self.waited(host))

    async def _message(self, host: WaitHost) -> QueueOutcome | None:
        if host.take_message is None:
            await self._say(host, prompts.NO_MESSAGES)
            return None
        call = self.call
        host.leave(self.key)
        wait = self.waited(host)
        await call.session.stop_audio()
        message = await host.take_message(call, self.queue.name)
        if message is None:
            return CallerHungUp(queue=self.queue.name, wait_s=wait)
        return LeftMessage(queue=self.queue.name, wait_s=wait, message_id=message)

    async def _callback(self, host: WaitHost) -> QueueOutcome | None:
        call = self.call
        number = call.info.caller
        if not host.can_call_back(number):
            await self._say(host, prompts.NO_CALLBACK)
            return None
        host.book_callback(self.key, number)
        await host.event(call.info.call_id, "queue", f"callback booked {self.queue.name}")
        await self._say(host, prompts.callback_booked(number))
        await call.session.stop_audio()
        if not call.ended:
            await call.hangup("callback")
        return CallbackBooked(queue=self.queue.name, wait_s=self.waited(host), number=number)


async def _read_turns(session: CallSession, signals: asyncio.Queue[Signal]) -> None:
    while True:
        turn = await session.next_turn()
        match turn:
            case CallerDigit(digit=digit):
                signals.put_nowait(Digit(digit))
            case HungUp(reason=reason):
                signals.put_nowait(Gone(reason))
                return
            case _:
                pass
