"""Fixtures for Telnyx calls over real sockets: a uvicorn server with the channel
(``providers_support.serve``), a Call Control API stand-in, and ``TelnyxStream``, Telnyx's end
of a media WebSocket in real time (caller audio out every 20 ms, our audio played at 1x by the
shared ``providers_support.Playout``, marks echoed once played)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import numpy as np
import websockets
from numpy.typing import NDArray
from providers_support import FarEnd, serve
from telnyx_sim import connected_frame, media_frame, start_frame

from callport.audio.g711 import ulaw_decode, ulaw_encode

__all__ = ["TelnyxApi", "TelnyxStream", "serve"]


class TelnyxApi:
    """Call Control REST stand-in for ``httpx.MockTransport``: records every command."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {self.api_key}"
        self.requests.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def answer_for(self, ccid: str) -> dict[str, Any]:
        for path, body in self.requests:
            if path == f"/v2/calls/{ccid}/actions/answer":
                return body
        raise AssertionError(f"no answer for {ccid}: {self.requests}")


class TelnyxStream:
    """Telnyx's side of one bidirectional ``rtp`` media stream (PCMU/8000 or L16/16000)."""

    def __init__(self, ws: Any, *, codec: str, rate: int) -> None:
        self.ws = ws
        self.codec = codec
        self.rate = rate
        self.frame_samples = rate // 50
        self.frame_bytes = self.frame_samples * (1 if codec == "PCMU" else 2)
        self.silence = (b"\xff" if codec == "PCMU" else b"\x00\x00") * self.frame_samples
        self._chunk = 0
        self._seq = 1  # the start frame was 1
        self.far = FarEnd(ws, frame_bytes=self.frame_bytes, silence=self.silence,
                          decode=self.decode, send_media=self._media, send_mark=self._mark)
        self.playout = self.far.playout
        self.ccid = self.call_id = ""

    @classmethod
    async def open(
        cls, url: str, *, token: str, ccid: str, call_id: str, codec: str, rate: int
    ) -> TelnyxStream:
        ws = await websockets.connect(url)
        await ws.send(connected_frame(token))
        await ws.send(start_frame(ccid=ccid, client_state=call_id, encoding=codec, rate=rate))
        stream = cls(ws, codec=codec, rate=rate)
        stream.ccid, stream.call_id = ccid, call_id  # whose stream (for its call.hangup)
        stream.far.start()
        return stream

    def encode(self, pcm: NDArray[np.int16]) -> bytes:
        return ulaw_encode(pcm) if self.codec == "PCMU" else pcm.astype(">i2").tobytes()

    def decode(self, data: bytes) -> NDArray[np.int16]:
        if self.codec == "PCMU":
            return ulaw_decode(data)
        return np.frombuffer(data[: len(data) & ~1], ">i2").astype(np.int16)

    def say(self, pcm: NDArray[np.int16]) -> None:
        """Queue caller audio (PCM16 at the stream rate), sent as 20 ms frames."""
        self.far.caller.say(self.encode(pcm))

    @property
    def caller_pending(self) -> int:
        return self.far.caller.pending

    @property
    def played(self) -> bytearray:
        """Our audio as the caller heard it, in the wire codec."""
        return self.playout.audio

    @property
    def marks_echoed(self) -> list[str]:
        return self.playout.marks_echoed

    def heard(self) -> NDArray[np.int16]:
        return self.playout.pcm()

    def loud_frames(self, threshold: float = 300.0) -> int:
        """Index (in 20 ms frames) just past the last loud frame the caller heard."""
        pcm = self.heard()
        n = self.frame_samples
        frames = pcm[: pcm.size // n * n].reshape(-1, n).astype(np.float64)
        loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > threshold)
        return int(loud[-1]) + 1 if loud.size else 0

    async def quiet_for(self, seconds: float, *, timeout: float, after: int = 0) -> int:
        """Wait for agent audio past frame ``after``, then ``seconds`` of quiet; returns the
        frame index past the last loud frame."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last, since = -1, loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            level = self.loud_frames()
            if level != last:
                last, since = level, loop.time()
            elif last > after and loop.time() - since >= seconds:
                return last
        raise AssertionError(f"agent never went quiet (heard {last} loud frames)")

    async def stop(self) -> None:
        self._seq += 1
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(
                json.dumps(
                    {"event": "stop", "sequence_number": str(self._seq), "stream_id": "st-1"}
                )
            )
        await self.close()

    async def close(self) -> None:
        await self.far.close()

    async def _send(self, msg: dict[str, Any]) -> None:
        self._seq += 1
        await self.ws.send(
            json.dumps({**msg, "sequence_number": str(self._seq), "stream_id": "st-1"})
        )

    async def _media(self, frame: bytes) -> None:
        self._chunk += 1
        self._seq += 1
        await self.ws.send(media_frame(self._chunk, frame))

    async def _mark(self, name: str) -> None:
        await self._send({"event": "mark", "mark": {"name": name}})
