"""The event hub across nodes (``server.redis``): ``RedisHub`` is an ``EventHub`` whose
subscribers hear every node's live events, and ``RemoteCalls`` the other nodes' live calls
the console lists beside this node's own.

- ``publish`` gives the event (stamped with this node's id) to this node's subscribers at
  once and queues it for the bus (``callport.bus.redis_bus``, channel ``bus:events``); one
  sender sends them in order. The queue is bounded: when Redis is slow the oldest unsent
  events are dropped and counted (``unsent``), never blocking a call.
- An event from another node (``on_bus_event``) is decoded (``decode_event``: a known type,
  every field of the right type; anything else is dropped and counted in ``bad_events``),
  applied to ``remote`` and given to this node's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callport.server.events import (
    CallEnded,
    CallStarted,
    LiveEvent,
    MemoryHub,
    StateChanged,
    Subscription,
    TurnHeard,
    TurnSaid,
    TurnTimed,
    event_json,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from callport.bus.envelopes import EventMessage
    from callport.bus.redis_bus import RedisBus

__all__ = ["RedisHub", "RemoteCall", "RemoteCalls", "decode_event"]

log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, type[LiveEvent]] = {cls.__name__: cls for cls in (
    CallStarted, CallEnded, TurnHeard, TurnSaid, StateChanged, TurnTimed)}
_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "float": (int, float), "int": (int,),
                                       "bool": (bool,), "float | None": (int, float, type(None))}
MAX_TEXT = 4096


def decode_event(data: dict[str, Any], *, node: str) -> LiveEvent | None:
    """The typed event ``data`` (``event_json``'s form) carries, from ``node``; None when it
    is not one (unknown type, a missing or mistyped field, a text too long)."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        return None
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "node":
            continue
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                return None
            continue
        value, kinds = data[f.name], _KINDS.get(str(f.type))
        if kinds is None or not isinstance(value, kinds):
            return None
        if isinstance(value, bool) and bool not in kinds:
            return None  # JSON true is not a number here
        if isinstance(value, str) and len(value) > MAX_TEXT:
            return None
        values[f.name] = value
    return cls(**values, node=node)


@dataclass(slots=True)
class RemoteCall:
    """A live call on another node, as its events told it."""

    call_id: str
    node: str
    channel: str
    caller: str
    callee: str
    direction: str
    user: str
    started_at: float  # unix seconds
    state: str = "agent"
    detail: str = ""
    transcript: list[dict[str, str]] = field(default_factory=list)

    def as_json(self, now: float) -> dict[str, object]:
        return {"call_id": self.call_id, "channel": self.channel, "caller": self.caller,
                "callee": self.callee, "direction": self.direction, "user": self.user,
                "agent": "", "state": self.state, "detail": self.detail,
                "duration_s": round(max(now - self.started_at, 0.0), 1),
                "transcript": list(self.transcript), "node": self.node}


class RemoteCalls:
    """The other nodes' live calls (at most ``max_calls``; the oldest forgotten first)."""

    def __init__(self, *, max_calls: int = 10_000, max_turns: int = 50) -> None:
        self.max_calls, self.max_turns = max_calls, max_turns
        self._calls: OrderedDict[str, RemoteCall] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def calls(self) -> list[RemoteCall]:
        return list(self._calls.values())

    def apply(self, event: LiveEvent) -> None:
        if isinstance(event, CallEnded):
            self._calls.pop(event.call_id, None)
            return
        if isinstance(event, CallStarted):
            self._calls[event.call_id] = RemoteCall(
                call_id=event.call_id, node=event.node, channel=event.channel,
                caller=event.caller, callee=event.callee, direction=event.direction,
                user=event.user, started_at=event.at)
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
            return
        call = self._calls.get(event.call_id)
        if call is None:
            return  # started before this node joined the bus
        if isinstance(event, StateChanged):
            call.state, call.detail = event.state, event.detail
            call.user = event.user or call.user
        elif isinstance(event, TurnHeard) and not event.partial:
            call.transcript.append({"who": "caller", "text": event.text, "reply": ""})
        elif isinstance(event, TurnSaid):
            if call.transcript and not call.transcript[-1]["reply"]:
                call.transcript[-1]["reply"] = event.text
            else:
                call.transcript.append({"who": "agent", "text": "", "reply": event.text})
        del call.transcript[:-self.max_turns]


class RedisHub:
    """An ``EventHub`` over the bus: local subscribers hear every node's events."""

    def __init__(self, bus: RedisBus, *, node: str, queue_size: int = 1000,
                 send_queue: int = 10_000) -> None:
        self.bus, self.node = bus, node
        self.local = MemoryHub(queue_size=queue_size)
        self.remote = RemoteCalls()
        self.bad_events = 0  # events off the bus that did not decode
        self.unsent = 0  # events dropped before they reached Redis (slow or down)
        self._outbox: asyncio.Queue[LiveEvent] | None = None
        self._send_queue = send_queue
        self._sender: asyncio.Task[None] | None = None

    def publish(self, event: LiveEvent) -> None:
        stamped = event if event.node else dataclasses.replace(event, node=self.node)
        self.local.publish(stamped)
        outbox = self._outbox
        if outbox is None:
            return  # not started (no running loop yet): this node's subscribers only
        if outbox.full():
            outbox.get_nowait()
            self.unsent += 1
        outbox.put_nowait(stamped)

    def subscribe(self, accept: Callable[[LiveEvent], bool] | None = None) -> Subscription:
        return self.local.subscribe(accept)

    def on_bus_event(self, message: EventMessage) -> None:
        event = decode_event(message.event, node=message.node)
        if event is None:
            self.bad_events += 1
            return
        self.remote.apply(event)
        self.local.publish(event)

    def start(self) -> None:
        """Start sending (in the running loop)."""
        self._outbox = asyncio.Queue(maxsize=self._send_queue)
        self._sender = asyncio.create_task(self._send(self._outbox), name="bus-events")

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        self._outbox = self._sender = None

    async def _send(self, outbox: asyncio.Queue[LiveEvent]) -> None:
        failing_since = 0.0
        while True:
            event = await outbox.get()
            try:
                await self.bus.publish_event(event_json(event))
                failing_since = 0.0
            except Exception:
                self.unsent += 1
                now = time.monotonic()
                if not failing_since or now - failing_since > 60:
                    failing_since = now
                    log.exception("bus: could not publish a live event (Redis)")
