"""The bus on Redis pub/sub (``server.redis``): live events to every node, commands to one.

Channels (``prefix`` first, ``callport:`` by default):

- ``bus:events``: every node publishes its calls' live events here and hears the others';
- ``bus:node:{node}``: commands for ``node`` and replies to it.

:meth:`RedisBus.request` sends a command to the node that owns a call and waits for its reply
(``PUBLISH`` says how many nodes listen: none means the node is gone, answered at once as
:class:`NodeUnreachable`; no reply within the timeout is :class:`NodeUnreachable` too).
A message that does not decode (:func:`callport.bus.envelopes.decode`) is dropped and counted
in :attr:`RedisBus.dropped`; a handler that raises is logged; neither stops the reader.

Pub/sub is at-most-once: a node that is not subscribed when an event goes out never hears
it (the console's view of other nodes' calls starts when the node joins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from callport.bus.envelopes import BadMessage, Command, EventMessage, Reply, decode, encode

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["NodeUnreachable", "RedisBus"]

log = logging.getLogger(__name__)

EventHandler = Callable[[EventMessage], None]
CommandHandler = Callable[[Command], Awaitable[Reply]]


class NodeUnreachable(Exception):
    """The node a command was for does not listen, or did not answer in time."""


class RedisBus:
    def __init__(self, client: Redis, *, node: str, prefix: str = "callport:",
                 timeout_s: float = 5.0) -> None:
        self.client, self.node, self.prefix, self.timeout_s = client, node, prefix, timeout_s
        self.events_channel = f"{prefix}bus:events"
        self.dropped = 0  # messages that did not decode, or were not for us
        self.handler_errors = 0
        self._on_event: EventHandler | None = None
        self._on_command: CommandHandler | None = None
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def node_channel(self, node: str) -> str:
        return f"{self.prefix}bus:node:{node}"

    async def start(self, *, on_event: EventHandler, on_command: CommandHandler) -> None:
        """Subscribe (the events channel and this node's) and read until :meth:`close`."""
        self._on_event, self._on_command = on_event, on_command
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.events_channel, self.node_channel(self.node))
        self._reader = asyncio.create_task(self._read(pubsub), name=f"bus:{self.node}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for task in list(self._tasks):
            task.cancel()
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(NodeUnreachable("this node's bus closed"))

    async def publish_event(self, event: dict[str, Any]) -> None:
        await self.client.publish(self.events_channel,
                                  encode(EventMessage(node=self.node, event=event)))

    async def request(self, node: str, call_id: str, action: str,
                      args: dict[str, str] | None = None) -> Reply:
        """Ask ``node`` to do ``action`` on ``call_id``; its :class:`Reply`."""
        command = Command(id=uuid.uuid4().hex, node=self.node, call_id=call_id,
                          action=action, args=dict(args or {}))
        waiting: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[command.id] = waiting
        try:
            heard = await self.client.publish(self.node_channel(node), encode(command))
            if int(heard) == 0:
                raise NodeUnreachable(f"node {node} is not on the bus")
            try:
                return await asyncio.wait_for(waiting, self.timeout_s)
            except TimeoutError:
                raise NodeUnreachable(f"node {node} did not answer within "
                                      f"{self.timeout_s:.0f} s") from None
        finally:
            self._waiting.pop(command.id, None)

    async def _read(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                self.handle(message.get("data"), channel=str(message.get("channel")))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def handle(self, data: object, *, channel: str) -> None:
        """One message off a channel (public for the tests of bad input)."""
        try:
            if not isinstance(data, str | bytes):
                raise BadMessage("not text")
            message = decode(data)
        except BadMessage as exc:
            self.dropped += 1
            log.debug("bus: dropped a message on %s: %s", channel, exc)
            return
        if isinstance(message, EventMessage):
            if channel != self.events_channel:
                self.dropped += 1  # an event on a node's command channel
            elif message.node != self.node:  # not our own, back from Redis
                self._call_event(message)
        elif channel != self.node_channel(self.node):
            self.dropped += 1  # a command or reply on the wrong channel
        elif isinstance(message, Reply):
            waiting = self._waiting.get(message.id)
            if waiting is None or waiting.done():
                self.dropped += 1  # late (timed out) or never ours
            else:
                waiting.set_result(message)
        else:
            task = asyncio.create_task(self._carry_out(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _call_event(self, message: EventMessage) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(message)
        except Exception:
            self.handler_errors += 1
            log.exception("bus: event handler failed")

    async def _carry_out(self, command: Command) -> None:
        if self._on_command is None:
            return
        try:
            reply = await self._on_command(command)
        except Exception as exc:
            self.handler_errors += 1
            log.exception("bus: command %s on %s failed", command.action, command.call_id)
            reply = Reply(id=command.id, node=self.node, ok=False, status=500,
                          error=f"{type(exc).__name__} on node {self.node}")
        try:
            await self.client.publish(self.node_channel(command.node), encode(reply))
        except Exception:
            log.exception("bus: could not send the reply to node %s", command.node)
