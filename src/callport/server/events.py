"""The live event hub: what is happening on the calls this process runs, for the console.

The runtime publishes typed events (a call started or ended, a caller's words heard, the
agent's words said, a state change, a finished turn's timing) and the console's SSE stream
(``server.console``) subscribes. ``EventHub`` is a Protocol: ``MemoryHub`` is the embedded
in-process default; ``server.events_redis.RedisHub`` (``server.redis``) satisfies the same two
methods and carries every node's events to every node's subscribers.

``publish`` never blocks and never raises: a slow subscriber's queue is bounded
(``MemoryHub(queue_size=...)``) and loses its oldest events, with ``Subscription.dropped``
counting them, so a stalled browser tab cannot hold a call up or grow memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

__all__ = ["CallEnded", "CallStarted", "EventHub", "LiveEvent", "MemoryHub", "StateChanged",
           "Subscription", "TurnHeard", "TurnSaid", "TurnTimed", "event_json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveEvent:
    """Base: which call, when (unix seconds), and on which node ("" on a single node; the
    node's id once an event crosses the bus, ``server.events_redis``)."""

    call_id: str
    at: float = field(default_factory=time.time)
    node: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStarted(LiveEvent):
    channel: str
    caller: str = ""
    callee: str = ""
    direction: str = "inbound"
    user: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(LiveEvent):
    cause: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnHeard(LiveEvent):
    """The caller's words: final, or ``partial`` (the words so far)."""

    text: str
    partial: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSaid(LiveEvent):
    """A line the agent (or flow) spoke."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(LiveEvent):
    """The call's state: listening, thinking, speaking, ivr, queue, bridged, hold; ``user``
    once the caller is identified; ``detail`` (the queue and wait, the menu)."""

    state: str
    detail: str = ""
    user: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnTimed(LiveEvent):
    """One finished turn's latency breakdown (milliseconds; first audio may be unknown)."""

    index: int
    endpoint_ms: float
    stt_ms: float
    agent_ms: float
    tts_ms: float
    first_audio_ms: float | None
    interrupted: bool = False


def event_json(event: LiveEvent) -> dict[str, object]:
    """``{"type": "CallStarted", "call_id": ..., ...}``: the SSE wire form."""
    return {"type": type(event).__name__, **asdict(event)}


class Subscription(Protocol):
    dropped: int

    async def next(self, timeout: float | None = None) -> LiveEvent | None:
        """The next event; None after ``timeout`` seconds without one."""
        ...

    def close(self) -> None: ...


class EventHub(Protocol):
    def publish(self, event: LiveEvent) -> None: ...

    def subscribe(self, accept: Callable[[LiveEvent], bool] | None = None) -> Subscription:
        """Events from now on (``accept``: only those it passes)."""
        ...


class _MemorySubscription:
    def __init__(self, *, hub: MemoryHub, size: int,
                 accept: Callable[[LiveEvent], bool] | None) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=size)
        self._accept = accept
        self.dropped = 0

    def offer(self, event: LiveEvent) -> None:
        if self._accept is not None and not self._accept(event):
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def next(self, timeout: float | None = None) -> LiveEvent | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self._hub.remove(self)


class MemoryHub:
    """The in-process hub: every subscriber gets its own bounded queue."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._size = queue_size
        self._subs: list[_MemorySubscription] = []

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, event: LiveEvent) -> None:
        for sub in list(self._subs):
            sub.offer(event)

    def subscribe(self, accept: Callable[[LiveEvent], bool] | None = None) -> Subscription:
        sub = _MemorySubscription(hub=self, size=self._size, accept=accept)
        self._subs.append(sub)
        return sub

    def remove(self, sub: _MemorySubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
