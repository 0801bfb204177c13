"""A stand-in Gemini Live server (``BidiGenerateContent`` over WebSocket), written from the Live
API reference: ``setup`` first (``setupComplete``, then ``sessionResumptionUpdate`` handles;
a ``sessionResumption.handle`` it never issued is refused), ``realtimeInput`` audio into a
server VAD (speech over the model's audio: ``serverContent.interrupted``; the end of speech: a
response), ``clientContent`` and ``toolResponse`` (a response). Responses play the next scripted
step: audio (``serverContent.modelTurn.parts[].inlineData``, 24 kHz PCM, faster than real
time, then ``turnComplete``) or a ``toolCall``. ``go_away()`` sends ``goAway`` on the live
connection and closes it a moment later, like the service at its connection limit. The script
(the session) carries over to a resumed connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@dataclass(frozen=True)
class Speak:
    seconds: float
    freq: float = 520.0


@dataclass(frozen=True)
class CallTool:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Connection:
    ws: ServerConnection
    setup: dict[str, Any]
    audio_samples: int = 0


class GeminiServer:
    def __init__(self, script: list[Speak | CallTool]) -> None:
        self.script = list(script)
        self.connections: list[Connection] = []
        self.handles: list[str] = []
        self.tool_responses: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.refused: list[str] = []
        self.path = ""
        self.url = ""
        self._streaming: asyncio.Task[None] | None = None
        self._talking_until = 0.0  # the model's turn lasts as long as its audio, in real time

    @property
    def _talking(self) -> bool:
        return asyncio.get_running_loop().time() < self._talking_until

    async def _send(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        await ws.send(json.dumps(msg).encode())  # the service sends JSON in binary frames

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.path = ws.request.path
        first = json.loads(await ws.recv())
        setup = first["setup"]
        assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
        handle = setup.get("sessionResumption", {}).get("handle", "")
        if handle and handle not in self.handles:
            self.refused.append(handle)
            await ws.close(1007, "invalid resumption handle")
            return
        conn = Connection(ws, setup)
        self.connections.append(conn)
        await self._send(ws, {"setupComplete": {}})
        self.handles.append(f"h{len(self.handles) + 1}")
        await self._send(ws, {"sessionResumptionUpdate": {"newHandle": self.handles[-1],
                                                          "resumable": True}})
        loud = quiet = 0
        speaking = False
        async for raw in ws:
            msg = json.loads(raw)
            if "realtimeInput" in msg:
                media = msg["realtimeInput"]["audio"]
                assert media["mimeType"] == "audio/pcm;rate=16000"
                pcm = np.frombuffer(base64.b64decode(media["data"]), dtype="<i2")
                conn.audio_samples += len(pcm)
                for i in range(0, len(pcm) - 319, 320):
                    level = float(np.sqrt(np.mean(pcm[i:i + 320].astype(np.float64) ** 2)))
                    loud, quiet = (loud + 1, 0) if level > 1500 else (0, quiet + 1)
                    if not speaking and loud >= 3:
                        speaking = True
                        if self._talking and self._streaming is not None:
                            self._streaming.cancel()
                            self._talking_until = 0.0
                            await self._send(ws, {"serverContent": {"interrupted": True}})
                    elif speaking and quiet >= 15:
                        speaking = False
                        self._respond(ws)
            elif "clientContent" in msg:
                for turn in msg["clientContent"]["turns"]:
                    self.texts += [p["text"] for p in turn["parts"]]
                self._respond(ws)
            elif "toolResponse" in msg:
                self.tool_responses += msg["toolResponse"]["functionResponses"]
                self._respond(ws)

    def _respond(self, ws: ServerConnection) -> None:
        if self.script:
            self._streaming = asyncio.create_task(self._response(ws, self.script.pop(0)))

    async def _response(self, ws: ServerConnection, step: Speak | CallTool) -> None:
        with contextlib.suppress(ConnectionClosed):  # the client went away mid-answer
            await self._answer(ws, step)

    async def _answer(self, ws: ServerConnection, step: Speak | CallTool) -> None:
        if isinstance(step, CallTool):
            await self._send(ws, {"toolCall": {"functionCalls": [
                {"id": f"fc{len(self.tool_responses) + 1}", "name": step.name,
                 "args": step.arguments}]}})
            return
        self._talking_until = asyncio.get_running_loop().time() + step.seconds
        t = np.arange(int(24000 * step.seconds)) / 24000
        pcm = (9000 * np.sin(2 * np.pi * step.freq * t)).astype("<i2")
        for i in range(0, len(pcm), 2400):
            data = base64.b64encode(pcm[i:i + 2400].tobytes()).decode()
            await self._send(ws, {"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                "mimeType": "audio/pcm;rate=24000", "data": data}}]}}})
            await asyncio.sleep(0.005)
        await self._send(ws, {"serverContent": {"turnComplete": True}})

    async def go_away(self, close_after_s: float = 0.5) -> None:
        ws = self.connections[-1].ws
        await self._send(ws, {"goAway": {"timeLeft": "1s"}})
        await asyncio.sleep(close_after_s)
        await ws.close(1000)


@asynccontextmanager
async def gemini_server(script: list[Speak | CallTool]) -> AsyncIterator[GeminiServer]:
    server = GeminiServer(script)
    async with serve(server.handle, "127.0.0.1", 0, max_size=2**24) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/ws/BidiGenerateContent"
        yield server
