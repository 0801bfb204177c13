"""A Twilio simulator: signed webhooks and the Media Streams protocol, as Twilio speaks them.

- ``signed_form``: form bodies signed with ``RequestValidator.compute_signature`` (the official
  algorithm) over the URL Twilio would request;
- ``parse_twiml``: the ``<Connect action><Stream url><Parameter>`` we answered with;
- ``StreamSim``: one bidirectional stream over a real WebSocket. It sends ``connected``, then
  ``start`` (sequenceNumber "1"), then 20 ms / 160-byte µ-law ``media`` frames with string
  ``sequenceNumber``/``chunk``/``timestamp`` counters in real time, ``dtmf`` and ``stop``. Audio
  we send back goes through the shared ``providers_support.Playout`` (played 20 ms per tick,
  marks echoed once reached, ``clear`` echoes every pending mark at once);
- ``call_completed``: the call-status callback Twilio sends once a call is over
  (``CallStatus=completed`` with ``CallDuration``, to the number's or the dial's
  ``StatusCallback``); a test that ends a call sends it, as Twilio would;
- ``connect_action``: the request Twilio makes to ``<Connect action>`` once the stream ended
  (``CallStatus=in-progress``); returns the TwiML it is answered with.
"""

from __future__ import annotations

import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import websockets
from numpy.typing import NDArray
from providers_support import FarEnd
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


async def call_completed(http: Any, status_url: str, call_sid: str, *,
                         duration_s: int = 1, **extra: str) -> None:
    """Twilio reports the call over (the caller or we hung up): a signed status callback."""
    params = call_params(call_sid, status="completed", CallDuration=str(duration_s),
                         CallbackSource="call-progress-events", **extra)
    body, headers = signed_form(status_url, params)
    response = await http.post(status_url, content=body, headers=headers)
    assert response.status_code == 204, response.text


async def connect_action(http: Any, action_url: str, call_sid: str) -> str:
    """The stream ended: Twilio asks ``<Connect action>`` what to do next (signed)."""
    body, headers = signed_form(action_url, call_params(call_sid, status="in-progress"))
    response = await http.post(action_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.text)


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
        self._seq = 0
        self._chunk = 0
        self.far = FarEnd(
            ws,
            frame_bytes=FRAME_BYTES,
            silence=SILENCE,
            decode=ulaw_decode,
            send_media=self.media,
            send_mark=self._echo,
            accept=lambda msg: msg.get("streamSid") == self.stream_sid,
            realtime=realtime,
        )
        self.heard = self.far.playout  # what Twilio played of our audio

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
        self.far.start()

    def say(self, pcm: NDArray[np.int16]) -> None:
        """Queue caller audio (8 kHz PCM16); sent as 20 ms frames, silence in between."""
        self.far.caller.say(ulaw_encode(pcm))

    @property
    def caller_pending(self) -> int:
        return self.far.caller.pending

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
        await self.far.close()

    async def wait_closed_by_server(self, timeout: float = 10.0) -> None:
        await self.far.wait_closed(timeout)

    async def _echo(self, name: str) -> None:
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )
