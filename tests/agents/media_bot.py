"""A stand-in Media Streams bot (Twilio's or Telnyx's message set, as a bot sees it), driven by
the test: it records what callport sends and sends what the test tells it to."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection, serve

from callport.audio.g711 import ulaw_decode, ulaw_encode


class MediaBot:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self.ws: ServerConnection | None = None
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.url = ""

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("event") == name]

    def caller_audio(self) -> np.ndarray:
        parts = [ulaw_decode(base64.b64decode(m["media"]["payload"])) for m in self.events("media")]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.ws = ws
        self.connected.set()
        try:
            async for raw in ws:
                self.received.append(json.loads(raw))
        finally:
            self.closed.set()

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(msg))

    async def media(self, pcm: np.ndarray, chunk: int = 160) -> None:
        sid = self.stream_sid
        for i in range(0, len(pcm), chunk):
            payload = base64.b64encode(ulaw_encode(pcm[i:i + chunk])).decode()
            await self.send({"event": "media", "streamSid": sid, "media": {"payload": payload}})

    async def mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def clear(self) -> None:
        await self.send({"event": "clear", "streamSid": self.stream_sid})

    @property
    def start(self) -> dict[str, Any]:
        return self.events("start")[0]

    @property
    def stream_sid(self) -> str:
        start = self.start
        return str(start.get("streamSid") or start.get("stream_id"))

    async def close(self, code: int = 1000) -> None:
        assert self.ws is not None
        await self.ws.close(code)


@asynccontextmanager
async def media_bot() -> AsyncIterator[MediaBot]:
    bot = MediaBot()
    async with serve(bot._handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        bot.url = f"ws://127.0.0.1:{port}/ws"
        yield bot
