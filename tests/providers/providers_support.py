"""What every simulated PSTN provider does alike, whatever its wire dialect.

- ``Playout``: the provider's buffer of the audio we send (pure: the simulator's clock calls
  ``tick`` every 20 ms). Audio plays ``frame_bytes`` per tick; a mark is echoed once the audio
  queued before it has played (at once when nothing is queued); ``clear`` drops the queued
  audio and echoes every pending mark at once. That is how Twilio and Telnyx both behave.
- ``CallerQueue``: the caller's side, encoded audio sent as whole frames, silence between.
- ``FarEnd``: runs both over one real WebSocket: every 20 ms (or as fast as it goes) the
  caller's next frame goes out and one frame of ours plays; our ``media``/``mark``/``clear``
  frames (the same JSON shape at Twilio and Telnyx) feed the ``Playout``. The provider's
  simulator only says how its frames are written (``send_media``, ``send_mark``).
- ``echo``: the call flow the channel tests run: caller audio straight back, marks, ``#``.
- ``serve``: a channel's routes on a real uvicorn server (127.0.0.1, a free port).

Importable from every test folder and bench script by module name (pyproject's pytest
``pythonpath`` names ``tests/providers``; bench scripts put it on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import numpy as np
import uvicorn
import websockets
from numpy.typing import NDArray
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from callport.call.events import AudioIn, Dtmf, HungUp, LegEvent
from callport.call.leg import Leg

Decode = Callable[[bytes], NDArray[np.int16]]


class Playout:
    """The far end's playout buffer of our audio, with mark and clear semantics."""

    def __init__(self, *, frame_bytes: int, decode: Decode) -> None:
        self.frame_bytes = frame_bytes
        self._decode = decode
        self.audio = bytearray()  # what the caller heard, in the wire codec
        self.received_media = 0
        self.marks_echoed: list[str] = []
        self.marks_echoed_after_clear: list[str] = []
        self.clears = 0
        self.max_queued_bytes = 0
        self._queue: deque[bytes | str] = deque()  # audio and mark names, in order
        self._queued_bytes = 0

    def pcm(self) -> NDArray[np.int16]:
        return self._decode(bytes(self.audio))

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def media(self, data: bytes) -> None:
        self.received_media += 1
        if not data:
            return
        self._queue.append(data)
        self._queued_bytes += len(data)
        self.max_queued_bytes = max(self.max_queued_bytes, self._queued_bytes)

    def mark(self, name: str) -> list[str]:
        """A mark arrived; returns the names to echo now."""
        if self._queued_bytes == 0:
            return self._echo([name])
        self._queue.append(name)
        return []

    def clear(self) -> list[str]:
        """Drop queued audio; returns the pending marks, all to be echoed now."""
        self.clears += 1
        pending = [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        self._queued_bytes = 0
        self.marks_echoed_after_clear += pending
        return self._echo(pending)

    def tick(self) -> list[str]:
        """Play one frame of queued audio; returns the marks it reached."""
        need = self.frame_bytes
        while need and self._queue and isinstance(self._queue[0], bytes):
            head = self._queue.popleft()
            assert isinstance(head, bytes)
            take, rest = head[:need], head[need:]
            self.audio += take
            self._queued_bytes -= len(take)
            need -= len(take)
            if rest:
                self._queue.appendleft(rest)
        reached: list[str] = []
        while self._queue and isinstance(self._queue[0], str):
            name = self._queue.popleft()
            assert isinstance(name, str)
            reached.append(name)
        return self._echo(reached)

    def _echo(self, names: list[str]) -> list[str]:
        self.marks_echoed += names
        return names


class CallerQueue:
    """The caller's audio, already encoded, sent one frame per tick (silence when idle)."""

    def __init__(self, *, silence: bytes) -> None:
        self.silence = silence  # one frame of encoded silence
        self._frames: deque[bytes] = deque()

    def say(self, encoded: bytes) -> None:
        n = len(self.silence)
        encoded += self.silence[: (-len(encoded)) % n]
        self._frames.extend(encoded[i : i + n] for i in range(0, len(encoded), n))

    @property
    def pending(self) -> int:
        return len(self._frames)

    def next_frame(self) -> bytes:
        return self._frames.popleft() if self._frames else self.silence


class FarEnd:
    """The provider's end of one media WebSocket ``ws`` (a ``websockets`` client), in time."""

    def __init__(
        self,
        ws: Any,
        *,
        frame_bytes: int,
        silence: bytes,
        decode: Decode,
        send_media: Callable[[bytes], Awaitable[None]],
        send_mark: Callable[[str], Awaitable[None]],
        accept: Callable[[dict[str, Any]], bool] = lambda _: True,
        realtime: bool = True,
    ) -> None:
        self.ws = ws
        self.playout = Playout(frame_bytes=frame_bytes, decode=decode)
        self.caller = CallerQueue(silence=silence)
        self.other: list[dict[str, Any]] = []  # frames from us that are none of the above
        self.realtime = realtime
        self._send_media = send_media
        self._send_mark = send_mark
        self._accept = accept  # e.g. the frame names this stream
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._clock())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()
        self._closed.set()

    async def wait_closed(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._closed.wait(), timeout)

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if not isinstance(msg, dict) or not self._accept(msg):
                    self.other.append({"unaccepted": msg})
                    continue
                match msg.get("event"):
                    case "media":
                        self.playout.media(base64.b64decode(msg["media"]["payload"],
                                                            validate=True))
                    case "mark":
                        await self._echo(self.playout.mark(msg["mark"]["name"]))
                    case "clear":
                        await self._echo(self.playout.clear())
                    case _:
                        self.other.append(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._closed.set()

    async def _echo(self, names: list[str]) -> None:
        for name in names:
            await self._send_mark(name)

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not self._closed.is_set():
            try:
                await self._send_media(self.caller.next_frame())
                await self._echo(self.playout.tick())
            except websockets.ConnectionClosed:
                return
            next_tick += 0.02
            await asyncio.sleep(max(0.0, next_tick - loop.time()) if self.realtime else 0)


async def echo(
    leg: Leg,
    record: Callable[[LegEvent], None],
    *,
    mark_every: int,
    hangup_reason: str = "caller-pressed-hash",
) -> None:
    """Send the caller's audio straight back with a mark ``echo-N`` every ``mark_every``
    frames, hang up on ``#``; ``record`` sees every leg event; returns once hung up."""
    sent = 0
    while True:
        event = await leg.recv()
        record(event)
        match event:
            case AudioIn(pcm=pcm):
                await leg.send_audio(pcm)
                sent += 1
                if sent % mark_every == 0:
                    await leg.mark(f"echo-{sent}")
            case Dtmf(digit="#"):
                await leg.hangup(hangup_reason)
            case HungUp():
                return
            case _:
                pass


class HasRoutes(Protocol):
    def routes(self) -> Sequence[BaseRoute]: ...


async def serve(channel: HasRoutes) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """The channel's routes on 127.0.0.1 (a free port); returns (server, task, base URL)."""
    app = Starlette(routes=list(channel.routes()))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"
