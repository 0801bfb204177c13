"""Twilio Media Streams WebSocket protocol, sans-IO.

Inbound (Twilio -> us), all text JSON: ``connected``, ``start`` (streamSid, callSid,
customParameters, mediaFormat audio/x-mulaw 8000 Hz mono), ``media`` (base64 µ-law, string
``chunk``/``timestamp``), ``dtmf``, ``mark`` (echo of ours), ``stop``. ``sequenceNumber`` is a
string counting from 1 per message. Outbound: ``media`` (base64 µ-law, any size), ``mark``,
``clear`` (Twilio drops its buffer and echoes every pending mark).

Reference: Twilio "Media Streams - WebSocket Messages". Anything else becomes a
``StreamViolation``: Twilio's own answer to bad frames is a warning (31924 malformed, 31950
binary), not a dropped call, and so is ours.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from callport import safejson
from callport.channels.provider import (
    MULAW_8K,
    DtmfIn,
    MarkIn,
    MediaEvent,
    MediaIn,
    StreamConnected,
    StreamStart,
    StreamStop,
    StreamViolation,
    ViolationKind,
)

DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_FRAME_CHARS = 64 * 1024  # a 20 ms frame is ~300 characters; anything huge is garbage


def _int(value: Any) -> int | None:
    """Twilio sends counters as strings; accept ints too, reject the rest."""
    if type(value) is str:  # the usual case first: three of these per media frame
        if len(value) <= 18 and value.isdigit() and value.isascii():
            return int(value)  # isdigit alone passes "²" (int() refuses) and 5,000-digit strings
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _violation(kind: ViolationKind, detail: str, *, fatal: bool = False) -> list[MediaEvent]:
    return [StreamViolation(kind=kind, detail=detail, fatal=fatal)]


class TwilioMediaCore:
    """One Twilio media stream: ``receive_text`` frames in, outbound frames out."""

    def __init__(self) -> None:
        self._start: StreamStart | None = None
        self._sid_json = '""'
        self._last_seq = 0
        self.frames_in = 0

    @property
    def started(self) -> StreamStart | None:
        return self._start

    @property
    def stream_sid(self) -> str:
        return self._start.stream_id if self._start else ""

    # ---------------------------------------------------------------- inbound

    def receive_bytes(self, data: bytes) -> list[MediaEvent]:
        return _violation(ViolationKind.BINARY, f"binary frame of {len(data)} bytes (31950)")

    def receive_text(self, text: str) -> list[MediaEvent]:
        if len(text) > MAX_FRAME_CHARS:
            return _violation(ViolationKind.MALFORMED, f"frame of {len(text)} characters")
        try:
            msg = safejson.loads(text)
        except ValueError as exc:
            return _violation(ViolationKind.MALFORMED, f"not JSON: {exc}")
        if not isinstance(msg, dict):
            return _violation(ViolationKind.MALFORMED, "not a JSON object")
        event = msg.get("event")
        if event == "media":  # the hot path first
            return self._sequenced(msg, self._media(msg))
        match event:
            case "connected":
                return [StreamConnected()]
            case "start":
                return self._sequenced(msg, self._on_start(msg))
            case "dtmf":
                return self._sequenced(msg, self._dtmf(msg))
            case "mark":
                return self._sequenced(msg, self._mark(msg))
            case "stop":
                return self._sequenced(msg, [StreamStop()])
            case str():
                return _violation(ViolationKind.UNKNOWN, f"unknown event {event[:40]!r}")
            case _:
                return _violation(ViolationKind.MALFORMED, "no event field")

    def _sequenced(self, msg: dict[str, Any], events: list[MediaEvent]) -> list[MediaEvent]:
        seq = _int(msg.get("sequenceNumber"))
        if seq is None:
            return events
        expected = self._last_seq + 1
        self._last_seq = max(seq, self._last_seq)
        if seq != expected:
            gap = StreamViolation(
                kind=ViolationKind.OUT_OF_ORDER,
                detail=f"sequenceNumber {seq}, expected {expected}",
            )
            return [gap, *events]
        return events

    def _on_start(self, msg: dict[str, Any]) -> list[MediaEvent]:
        if self._start is not None:
            return _violation(ViolationKind.OUT_OF_ORDER, "second start on one stream")
        body = msg.get("start")
        if not isinstance(body, dict):
            return _violation(ViolationKind.MALFORMED, "start without a start object", fatal=True)
        sid = msg.get("streamSid") or body.get("streamSid")
        call_sid = body.get("callSid")
        if not isinstance(sid, str) or not sid or not isinstance(call_sid, str) or not call_sid:
            return _violation(ViolationKind.MALFORMED, "start without stream/call sid", fatal=True)
        raw_params = body.get("customParameters") or {}
        if not isinstance(raw_params, dict):
            return _violation(ViolationKind.MALFORMED, "customParameters not an object", fatal=True)
        params = {str(k): str(v) for k, v in raw_params.items() if isinstance(v, str | int)}
        fmt = body.get("mediaFormat") or {}
        if isinstance(fmt, dict) and (
            fmt.get("encoding", "audio/x-mulaw") != "audio/x-mulaw"
            or _int(fmt.get("sampleRate", 8000)) != 8000
            or _int(fmt.get("channels", 1)) != 1
        ):
            return _violation(ViolationKind.MALFORMED, f"unsupported mediaFormat {fmt}", fatal=True)
        self._start = StreamStart(
            stream_id=sid,
            provider_call_id=call_sid,
            custom_parameters=params,
            inbound=MULAW_8K,
            outbound=MULAW_8K,
        )
        self._sid_json = json.dumps(sid)
        return [self._start]

    def _media(self, msg: dict[str, Any]) -> list[MediaEvent]:
        if self._start is None:
            return _violation(ViolationKind.OUT_OF_ORDER, "media before start")
        media = msg.get("media")
        if not isinstance(media, dict):
            return _violation(ViolationKind.MALFORMED, "media without a media object")
        if media.get("track", "inbound") != "inbound":
            return []  # outbound-track echo is not caller audio
        payload = media.get("payload")
        if not isinstance(payload, str):
            return _violation(ViolationKind.MALFORMED, "media without a payload string")
        try:  # b64decode(validate=True) without its wrapper: one C call
            data = binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError):
            return _violation(ViolationKind.MALFORMED, "media payload is not base64")
        self.frames_in += 1
        return [MediaIn(payload=data, timestamp_ms=_int(media.get("timestamp")),
                        chunk=_int(media.get("chunk")))]

    def _dtmf(self, msg: dict[str, Any]) -> list[MediaEvent]:
        body = msg.get("dtmf")
        digit = body.get("digit") if isinstance(body, dict) else None
        if not isinstance(digit, str) or digit.upper() not in DTMF_DIGITS or len(digit) != 1:
            return _violation(ViolationKind.MALFORMED, f"bad dtmf {body!r:.60}")
        if self._start is None:
            return _violation(ViolationKind.OUT_OF_ORDER, "dtmf before start")
        return [DtmfIn(digit=digit.upper())]

    def _mark(self, msg: dict[str, Any]) -> list[MediaEvent]:
        body = msg.get("mark")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            return _violation(ViolationKind.MALFORMED, "mark without a name")
        return [MarkIn(name=name)]

    # ---------------------------------------------------------------- outbound

    def media(self, payload: bytes) -> str:
        b64 = binascii.b2a_base64(payload, newline=False).decode("ascii")
        return f'{{"event":"media","streamSid":{self._sid_json},"media":{{"payload":"{b64}"}}}}'

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def clear(self) -> str:
        return f'{{"event":"clear","streamSid":{self._sid_json}}}'
