"""A Twilio simulator: signed webhooks and the Media Streams protocol, as Twilio speaks them.

- ``signed_form``: form bodies signed with ``RequestValidator.compute_signature`` (the official
  algorithm) over the URL Twilio would request;
- ``parse_twiml``: the ``<Connect action><Stream url><Parameter>`` we answered with;
- ``StreamSim``: one bidirectional stream over a real WebSocket. It sends ``connected``, then
  ``start`` (sequenceNumber "1"), then 20 ms / 160-byte µ-law ``media`` frames with string
  ``sequenceNumber``/``chunk``/``timestamp`` counters in real time, ``dtmf`` and ``stop``. Audio
  we send back is queued and played 20 ms per tick; a ``mark`` is echoed when the audio queued
  before it has played (at once if nothing is queued); ``clear`` drops the queue and echoes
  every pending mark at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import numpy as np
import websockets
from numpy.typing import NDArray
from twilio.request_validator import RequestValidator

from callport.audio.g711 import ulaw_decode, ulaw_encode

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "f" * 32
FRAME_BYTES = 160  # 20 ms of 8 kHz µ-law
SILENCE = bytes([0xFF]) * FRAME_BYTES


def signed_form(
    url: str, params: dict[str, str], token: str = AUTH_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Twilio webhook POST to ``url``."""
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return urlencode(params).encode(), headers


def call_params(call_sid: str, *, status: str = "ringing", **extra: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": "inbound",
        "From": "+15550001111",
        "To": "+15550002222",
    }
    params.update(extra)
    return params


@dataclass(frozen=True, slots=True)
class StreamTwiml:
    url: str
    parameters: dict[str, str]
    action: str
    status_callback: str


def parse_twiml(xml: str) -> StreamTwiml:
    root = ET.fromstring(xml)
    connect = root.find("Connect")
    assert connect is not None, xml
    stream = connect.find("Stream")
    assert stream is not None, xml
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return StreamTwiml(
        url=stream.attrib["url"],
        parameters=params,
        action=connect.attrib.get("action", ""),
        status_callback=stream.attrib.get("statusCallback", ""),
    )


@dataclass(slots=True)
class Played:
    """What the simulated caller heard, and what Twilio saw."""

    audio: bytearray = field(default_factory=bytearray)  # µ-law actually played
    received_media: int = 0
    marks_echoed: list[str] = field(default_factory=list)
    marks_echoed_after_clear: list[str] = field(default_factory=list)
    clears: int = 0
    max_queued_bytes: int = 0
    other: list[dict[str, Any]] = field(default_factory=list)

    def pcm(self) -> NDArray[np.int16]:
        return ulaw_decode(bytes(self.audio))


class StreamSim:
    """Twilio's end of one media stream over ``ws`` (a ``websockets`` client connection)."""

    def __init__(
        self,
        ws: Any,
        *,
        call_sid: str,
        stream_sid: str,
        parameters: dict[str, str],
        realtime: bool = True,
    ) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.parameters = parameters
        self.realtime = realtime
        self.heard = Played()
        self._seq = 0
        self._chunk = 0
        self._queue: deque[bytes | str] = deque()  # outbound audio and mark names, in order
        self._queued_bytes = 0
        self._caller: deque[bytes] = deque()
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---------------------------------------------------------------- Twilio -> us

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def send_json(self, msg: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(msg))

    async def start(self) -> None:
        await self.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send_json(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": ACCOUNT_SID,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        self._tasks = [
            asyncio.create_task(self._reader()),
            asyncio.create_task(self._clock()),
        ]

    def say(self, pcm: NDArray[np.int16]) -> None:
        """Queue caller audio (8 kHz PCM16); sent as 20 ms frames, silence in between."""
        data = ulaw_encode(pcm)
        pad = (-len(data)) % FRAME_BYTES
        data += bytes([0xFF]) * pad
        for i in range(0, len(data), FRAME_BYTES):
            self._caller.append(data[i : i + FRAME_BYTES])

    @property
    def caller_pending(self) -> int:
        return len(self._caller)

    async def media(self, payload: bytes) -> None:
        self._chunk += 1
        await self.send_json(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str((self._chunk - 1) * 20),
                    "payload": base64.b64encode(payload).decode(),
                },
            }
        )

    async def dtmf(self, digit: str) -> None:
        await self.send_json(
            {
                "event": "dtmf",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.send_json(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid},
                }
            )
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()
        self._closed.set()

    async def wait_closed_by_server(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._closed.wait(), timeout)

    # ---------------------------------------------------------------- us -> Twilio

    async def _reader(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                match msg.get("event"):
                    case "media":
                        assert msg["streamSid"] == self.stream_sid
                        data = base64.b64decode(msg["media"]["payload"], validate=True)
                        self.heard.received_media += 1
                        self._queue.append(data)
                        self._queued_bytes += len(data)
                        self.heard.max_queued_bytes = max(
                            self.heard.max_queued_bytes, self._queued_bytes
                        )
                    case "mark":
                        assert msg["streamSid"] == self.stream_sid
                        name = msg["mark"]["name"]
                        if self._queued_bytes == 0:
                            await self._echo(name)
                        else:
                            self._queue.append(name)
                    case "clear":
                        assert msg["streamSid"] == self.stream_sid
                        self.heard.clears += 1
                        pending = [item for item in self._queue if isinstance(item, str)]
                        self._queue.clear()
                        self._queued_bytes = 0
                        for name in pending:
                            self.heard.marks_echoed_after_clear.append(name)
                            await self._echo(name)
                    case _:
                        self.heard.other.append(msg)
        except Exception:  # the server closed the socket
            pass
        finally:
            self._closed.set()

    async def _echo(self, name: str) -> None:
        self.heard.marks_echoed.append(name)
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def _play_tick(self) -> None:
        """Play 20 ms of queued audio, then echo the marks it reached."""
        need = FRAME_BYTES
        while need and self._queue and isinstance(self._queue[0], bytes):
            head = self._queue.popleft()
            assert isinstance(head, bytes)
            take, rest = head[:need], head[need:]
            self.heard.audio += take
            self._queued_bytes -= len(take)
            need -= len(take)
            if rest:
                self._queue.appendleft(rest)
        while self._queue and isinstance(self._queue[0], str):
            name = self._queue.popleft()
            assert isinstance(name, str)
            await self._echo(name)

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not self._closed.is_set():
            frame = self._caller.popleft() if self._caller else SILENCE
            try:
                await self.media(frame)
                await self._play_tick()
            except websockets.ConnectionClosed:
                return
            next_tick += 0.02
            if self.realtime:
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
            else:
                await asyncio.sleep(0)
