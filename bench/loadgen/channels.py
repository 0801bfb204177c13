"""One small adapter per channel: connect, send a 20 ms µ-law frame, frames back, hang up.

- ``twilio``: the signed voice webhook (``X-Twilio-Signature`` over the form, as
  tests/twilio/twilio_sim.py signs it), the TwiML's ``<Stream url>``, then the Media Streams
  WebSocket: ``connected``, ``start`` (with the TwiML's parameters), ``media`` frames with
  string counters, ``mark`` echoes, ``stop``;
- ``telnyx``: the signed (Ed25519) TeXML voice request, the ``<Connect><Stream>`` answer,
  then the Telnyx media WebSocket: ``connected``, ``start`` (``call_control_id`` and the
  answer's parameters), snake_case ``media`` frames, ``mark`` echoes, ``stop``, and the signed
  ``call.hangup`` webhook that ends a Telnyx call;
- ``browser``: the page's protocol (tests/browser): sign in (``POST /login``), a one-time
  call token (``POST /browser/token``, same origin), the ``/browser/ws`` WebSocket with
  ``start`` (16 kHz, not gated), binary PCM16 frames both ways, ``played`` for every ``mark``,
  ``cleared`` for every ``clear``, ``hangup``;
- ``sip`` (``loadgen.sip``): INVITE with an SDP offer (PCMU/8000, ptime 20) over UDP, ACK,
  RTP from the port the offer named, BYE.

Every frame received is handed to ``on_frame(payload, monotonic_time)``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / p) for p in ("twilio", "telnyx", "providers")]

OnFrame = Callable[[bytes, float], None]


class CallAdapter(Protocol):
    async def connect(self) -> None: ...

    async def send(self, payload: bytes) -> None: ...

    async def hangup(self) -> None: ...


# ----------------------------------------------------------------------------- providers


_B64: dict[bytes, str] = {}  # frame -> its base64 (the caller's frames repeat in a loop)
_B64_BYTES: dict[str, bytes] = {}


def _b64(payload: bytes) -> str:
    text = _B64.get(payload)
    if text is None:
        text = _B64[payload] = base64.b64encode(payload).decode()
        _B64_BYTES[text] = payload
    return text


class _ProviderStream:
    """What Twilio's and Telnyx's media WebSockets share: counters, ``media`` frames out,
    ``media`` in, every ``mark`` echoed at once (played); the field names differ."""

    SEQ = "sequenceNumber"
    STREAM = "streamSid"

    def __init__(self, on_frame: OnFrame, stream_id: str) -> None:
        self.on_frame = on_frame
        self.stream_id = stream_id
        self.ws: Any = None
        self._seq = 0  # the first frame with a counter (start) carries "1"
        self._chunk = 0
        self._reader: asyncio.Task[None] | None = None

    def _ids(self) -> dict[str, str]:
        self._seq += 1
        return {self.SEQ: str(self._seq), self.STREAM: self.stream_id}

    async def send(self, payload: bytes) -> None:
        # The same JSON json.dumps would write, built from a template: the generator's own
        # cost per frame stays small next to the server's (base64 computed once per frame).
        self._chunk += 1
        self._seq += 1
        await self.ws.send(
            f'{{"event":"media","{self.SEQ}":"{self._seq}","{self.STREAM}":"{self.stream_id}",'
            f'"media":{{"track":"inbound","chunk":"{self._chunk}",'
            f'"timestamp":"{(self._chunk - 1) * 20}","payload":"{_b64(payload)}"}}}}')

    async def _read(self) -> None:
        import websockets

        try:
            async for text in self.ws:
                now = time.monotonic()
                at = text.find('"payload":"') if '"event":"media"' in text else -1
                if at >= 0:  # a media frame: its payload without a full JSON parse
                    start = at + len('"payload":"')
                    b64 = text[start:text.index('"', start)]
                    self.on_frame(_B64_BYTES.get(b64) or base64.b64decode(b64), now)
                    continue
                msg = json.loads(text)
                if msg.get("event") == "mark":  # played at once: the provider echoes it back
                    await self.ws.send(json.dumps({"event": "mark", **self._ids(),
                                                   "mark": msg["mark"]}))
        except websockets.ConnectionClosed:
            return

    async def _stop(self, extra: dict[str, Any]) -> None:
        import websockets

        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps({"event": "stop", **self._ids(), **extra}))
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


# ----------------------------------------------------------------------------- Twilio


class TwilioCall(_ProviderStream):
    def __init__(self, base: str, http: Any, on_frame: OnFrame) -> None:
        super().__init__(on_frame, "MZ" + uuid.uuid4().hex)
        self.base, self.http = base, http
        self.sid = "CA" + uuid.uuid4().hex

    async def connect(self) -> None:
        import websockets
        from twilio_sim import (  # type: ignore[import-not-found]
            AUTH_TOKEN,
            call_params,
            parse_twiml,
            signed_form,
        )

        url = self.base + "/twilio/voice"
        body, headers = signed_form(url, call_params(self.sid), AUTH_TOKEN)
        response = await self.http.post(url, content=body, headers=headers)
        twiml = parse_twiml(response.text)
        self.ws = await websockets.connect(twiml.url.replace("wss://", "ws://"),
                                           compression=None, max_queue=None)
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call",
                                       "version": "1.0.0"}))
        await self.ws.send(json.dumps({
            "event": "start", **self._ids(),
            "start": {"accountSid": "AC" + "0" * 32, "streamSid": self.stream_id,
                      "callSid": self.sid, "tracks": ["inbound"],
                      "customParameters": twiml.parameters,
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1}}}))
        self._reader = asyncio.create_task(self._read())

    async def hangup(self) -> None:
        await self._stop({"stop": {"accountSid": "AC" + "0" * 32, "callSid": self.sid}})


# ----------------------------------------------------------------------------- Telnyx


class TelnyxCall(_ProviderStream):
    SEQ = "sequence_number"
    STREAM = "stream_id"

    def __init__(self, base: str, http: Any, private_key: bytes, on_frame: OnFrame) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.ccid = "v3:" + uuid.uuid4().hex
        super().__init__(on_frame, "st-" + self.ccid)
        self.base, self.http = base, http
        self.key = Ed25519PrivateKey.from_private_bytes(private_key)

    def _headers(self, body: bytes, kind: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = self.key.sign(stamp.encode() + b"|" + body)
        return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(),
                "telnyx-timestamp": stamp, "content-type": kind}

    async def connect(self) -> None:
        import xml.etree.ElementTree as ET
        from urllib.parse import urlencode

        import websockets

        form = urlencode({"CallSid": self.ccid, "From": "+15550001111", "To": "+15550002222",
                          "AccountSid": "acc"}).encode()
        response = await self.http.post(
            self.base + "/telnyx/texml", content=form,
            headers=self._headers(form, "application/x-www-form-urlencoded"))
        response.raise_for_status()
        stream = ET.fromstring(response.text).find("Connect/Stream")
        assert stream is not None, response.text
        params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
        self.ws = await websockets.connect(stream.attrib["url"].replace("wss://", "ws://"),
                                           compression=None, max_queue=None)
        await self.ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
        await self.ws.send(json.dumps({
            "event": "start", **self._ids(),
            "start": {"user_id": "u-1", "call_control_id": self.ccid, "from": "+15550001111",
                      "to": "+15550002222", "tags": [], "custom_parameters": params,
                      "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                       "channels": 1}}}))
        self._reader = asyncio.create_task(self._read())

    async def hangup(self) -> None:
        await self._stop({})
        body = json.dumps({"data": {
            "record_type": "event", "event_type": "call.hangup", "id": uuid.uuid4().hex,
            "occurred_at": "2026-12-02T00:00:00Z",
            "payload": {"call_control_id": self.ccid, "call_leg_id": "leg", "call_session_id":
                        "sess", "connection_id": "conn", "hangup_cause": "normal_clearing"}},
            "meta": {"attempt": 1}}).encode()
        with contextlib.suppress(Exception):
            await self.http.post(self.base + "/telnyx/webhook", content=body,
                                 headers=self._headers(body, "application/json"))


# ----------------------------------------------------------------------------- browser

BROWSER_USER = "load"
BROWSER_PASSWORD = "load-bench-password-1"


async def browser_sign_in(http: Any, base: str) -> None:
    """One sign-in per generator process; the session cookie stays on ``http``."""
    response = await http.post(base + "/login", json={"name": BROWSER_USER,
                                                      "password": BROWSER_PASSWORD},
                               headers={"origin": base})
    response.raise_for_status()


class BrowserCall:
    def __init__(self, base: str, http: Any, on_frame: OnFrame) -> None:
        self.base, self.http, self.on_frame = base, http, on_frame
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        import websockets
        from websockets.typing import Origin

        response = await self.http.post(self.base + "/browser/token",
                                        headers={"origin": self.base})
        response.raise_for_status()
        token = response.json()["token"]
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        self.ws = await websockets.connect(
            self.base.replace("http://", "ws://") + f"/browser/ws?token={token}",
            origin=Origin(self.base), additional_headers={"Cookie": cookie}, compression=None,
            max_queue=None)
        await self.ws.send(json.dumps({"type": "start", "sample_rate": 16000, "gated": False}))
        ready = json.loads(await self.ws.recv())
        if ready.get("type") != "ready":
            raise RuntimeError(f"browser call not ready: {ready}")
        self._reader = asyncio.create_task(self._read())

    async def send(self, payload: bytes) -> None:
        await self.ws.send(payload)

    async def _read(self) -> None:
        import websockets

        try:
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.on_frame(message, now)
                    continue
                msg = json.loads(message)
                if msg.get("type") == "mark":  # played at once
                    await self.ws.send(json.dumps({"type": "played", "name": msg["name"]}))
                elif msg.get("type") == "clear":
                    await self.ws.send(json.dumps({"type": "cleared", "id": msg.get("id")}))
        except websockets.ConnectionClosed:
            return

    async def hangup(self) -> None:
        import websockets

        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps({"type": "hangup"}))
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
