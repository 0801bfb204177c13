"""A stand-in OpenAI Realtime server (GA WebSocket protocol), written from the API reference's
client and server events: ``session.created`` on connect, ``session.update`` ->
``session.updated`` (formats checked), ``input_audio_buffer.append`` into a server VAD
(``speech_started`` / ``speech_stopped`` / ``committed``, then a response, and a response in
progress cancelled on speech), ``response.create``, ``conversation.item.truncate`` (refused,
like the service, past the item's audio), ``conversation.item.create`` (function outputs and
messages). Each response plays the next scripted step: audio (a tone, streamed as
``response.output_audio.delta`` faster than real time, like the service) or a function call
(``response.function_call_arguments.done``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callport.audio.g711 import ulaw_decode, ulaw_encode


@dataclass(frozen=True)
class Speak:
    seconds: float
    freq: float = 520.0


@dataclass(frozen=True)
class CallTool:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Step = Speak | CallTool


class RealtimeServer:
    def __init__(self, script: list[Step], *, pace_s: float = 0.005, late: int = 0) -> None:
        self.script = list(script)
        self.pace_s = pace_s  # between 100 ms deltas (the service runs ahead of real time)
        self.late = late  # deltas still sent after speech_started, before the cancel lands
        self.late_sent = 0
        self.received: list[dict[str, Any]] = []
        self.session: dict[str, Any] = {}
        self.items: dict[str, int] = {}  # assistant item -> ms of audio
        self.truncations: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self.outputs: list[str] = []
        self.headers: dict[str, str] = {}
        self.path = ""
        self.on_truncate: Callable[[str, int], None] = lambda item, ms: None
        self._serial = 0
        self._cancel_in = 0  # deltas until a pending cancel takes effect
        self._streaming: asyncio.Task[None] | None = None
        self.url = ""

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_{self._serial:04d}"

    async def _send(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        msg.setdefault("event_id", self._id("event"))
        await ws.send(json.dumps(msg))

    @property
    def _pcmu(self) -> bool:
        fmt = self.session.get("audio", {}).get("input", {}).get("format", {})
        return bool(fmt.get("type") == "audio/pcmu")

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.path = ws.request.path
        self.headers = {k.lower(): v for k, v in ws.request.headers.raw_items()}
        await self._send(ws, {"type": "session.created", "session": {"type": "realtime"}})
        loud = quiet = 0
        speaking = False
        heard_ms = 0
        async for raw in ws:
            msg = json.loads(raw)
            self.received.append(msg)
            kind = msg["type"]
            if kind == "session.update":
                session = msg["session"]
                assert session["type"] == "realtime"
                for side in ("input", "output"):
                    fmt = session["audio"][side]["format"]
                    assert fmt in ({"type": "audio/pcmu"}, {"type": "audio/pcm", "rate": 24000})
                self.session = session
                await self._send(ws, {"type": "session.updated", "session": session})
            elif kind == "input_audio_buffer.append":
                data = base64.b64decode(msg["audio"])
                pcm = (ulaw_decode(data) if self._pcmu
                       else np.frombuffer(data, dtype="<i2"))
                rate = 8000 if self._pcmu else 24000
                step = rate // 50
                for i in range(0, len(pcm) - step + 1, step):
                    heard_ms += 20
                    level = float(np.sqrt(np.mean(pcm[i:i + step].astype(np.float64) ** 2)))
                    if level > 1500:
                        loud, quiet = loud + 1, 0
                    else:
                        quiet, loud = quiet + 1, 0
                    if not speaking and loud >= 3:
                        speaking = True
                        await self._send(ws, {"type": "input_audio_buffer.speech_started",
                                              "audio_start_ms": heard_ms - 60,
                                              "item_id": self._id("item")})
                        if self._streaming is not None and not self._streaming.done():
                            self._cancel_in = self.late + 1
                    elif speaking and quiet >= 15:
                        speaking = False
                        item = self._id("item")
                        await self._send(ws, {"type": "input_audio_buffer.speech_stopped",
                                              "audio_end_ms": heard_ms - 300, "item_id": item})
                        await self._send(ws, {"type": "input_audio_buffer.committed",
                                              "item_id": item})
                        self._respond(ws)
            elif kind == "response.create":
                self._respond(ws)
            elif kind == "conversation.item.truncate":
                item, end = msg["item_id"], msg["audio_end_ms"]
                assert msg["content_index"] == 0
                if item not in self.items:
                    self.errors.append(f"no item {item}")
                    await self._send(ws, {"type": "error", "error": {
                        "type": "invalid_request_error", "code": "item_not_found",
                        "message": f"Item {item} not found"}})
                elif end > self.items[item]:
                    self.errors.append(f"{end} > {self.items[item]}")
                    await self._send(ws, {"type": "error", "error": {
                        "type": "invalid_request_error", "code": "invalid_value",
                        "message": f"Audio content of {self.items[item]}ms is already "
                                   f"shorter than {end}ms"}})
                else:
                    self.truncations.append((item, end))
                    self.on_truncate(item, end)
                    await self._send(ws, {"type": "conversation.item.truncated",
                                          "item_id": item, "content_index": 0,
                                          "audio_end_ms": end})
            elif kind == "conversation.item.create":
                item = msg["item"]
                if item["type"] == "function_call_output":
                    self.outputs.append(item["output"])
                await self._send(ws, {"type": "conversation.item.created",
                                      "item": {**item, "id": self._id("item")}})

    def _respond(self, ws: ServerConnection) -> None:
        if not self.script:
            return
        step = self.script.pop(0)
        self._streaming = asyncio.create_task(self._response(ws, step))

    async def _response(self, ws: ServerConnection, step: Step) -> None:
        response = self._id("resp")
        await self._send(ws, {"type": "response.created",
                              "response": {"id": response, "status": "in_progress"}})
        with contextlib.suppress(ConnectionClosed):
            await self._stream(ws, step, response)

    async def _stream(self, ws: ServerConnection, step: Step, response: str) -> None:
        status = "completed"
        try:
            if isinstance(step, CallTool):
                item = self._id("item")
                await self._send(ws, {"type": "response.function_call_arguments.done",
                                      "response_id": response, "item_id": item,
                                      "output_index": 0, "call_id": self._id("call"),
                                      "name": step.name,
                                      "arguments": json.dumps(step.arguments)})
            else:
                item = self._id("item")
                pcmu = bool(self.session["audio"]["output"]["format"]["type"] == "audio/pcmu")
                rate = 8000 if pcmu else 24000
                t = np.arange(int(rate * step.seconds)) / rate
                pcm = (9000 * np.sin(2 * np.pi * step.freq * t)).astype(np.int16)
                self.items[item] = int(step.seconds * 1000)
                chunk = rate // 10
                self._cancel_in = 0
                for i in range(0, len(pcm), chunk):
                    if self._cancel_in:
                        self._cancel_in -= 1
                        if not self._cancel_in:
                            raise asyncio.CancelledError
                        self.late_sent += 1
                    part = pcm[i:i + chunk]
                    data = ulaw_encode(part) if pcmu else part.astype("<i2").tobytes()
                    await self._send(ws, {"type": "response.output_audio.delta",
                                          "response_id": response, "item_id": item,
                                          "output_index": 0, "content_index": 0,
                                          "delta": base64.b64encode(data).decode()})
                    await asyncio.sleep(self.pace_s)
                await self._send(ws, {"type": "response.output_audio.done",
                                      "response_id": response, "item_id": item,
                                      "output_index": 0, "content_index": 0})
        except asyncio.CancelledError:
            status = "cancelled"
        await self._send(ws, {"type": "response.done",
                              "response": {"id": response, "status": status}})


@asynccontextmanager
async def realtime_server(script: list[Step], **options: Any) -> AsyncIterator[RealtimeServer]:
    server = RealtimeServer(script, **options)
    async with serve(server.handle, "127.0.0.1", 0, max_size=2**24) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/v1/realtime"
        yield server
