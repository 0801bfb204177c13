"""Telnyx media-streaming WebSocket protocol: a sans-IO ``MediaCore``.

Telnyx opens the WebSocket given as ``stream_url`` and sends snake_case JSON text frames
(AsyncAPI "Stream call media over WebSocket"):

- ``connected`` (carries ``x-telnyx-streaming-auth-token`` when ``stream_auth_token`` was set),
- ``start`` (``stream_id``, ``start.call_control_id``, ``start.client_state``,
  ``start.media_format.{encoding, sample_rate, channels}``, ``start.custom_parameters``),
- ``media`` (``media.payload``: base64 RTP payload without the RTP header; ``media.chunk``
  counts media frames, ``sequence_number`` counts every message),
- ``dtmf`` (``dtmf.digit``), ``mark`` (``mark.name``, echoed once the audio before it has
  played, at once if nothing is queued, and for every queued mark after a ``clear``),
- ``error`` (``payload.code``/``title``/``detail``) and ``stop``.

In bidirectional ``rtp`` mode we send ``media`` (20 ms .. 30 s of the negotiated codec),
``mark`` and ``clear``; L16 is big-endian on the wire both ways (RFC 2586).

Telnyx warns that media frame order is not guaranteed, so inbound audio goes through a
small reorder window keyed by ``media.chunk`` (``sequence_number`` when ``chunk`` is
absent). A frame that has not come once ``window`` later frames are held is concealed
with one frame of encoded silence, so media time stays true; a frame arriving after
that is dropped and counted in ``late_frames``.

The decoded ``client_state`` (callport puts its call id there) is reported in
``StreamStart.custom_parameters["client_state"]`` next to Telnyx's own custom parameters.
Peer input never raises: garbage becomes ``StreamViolation``. No I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from callport import safejson
from callport.channels.provider import (
    DtmfIn,
    MarkIn,
    MediaEvent,
    MediaIn,
    StreamConnected,
    StreamStart,
    StreamStop,
    StreamViolation,
    ViolationKind,
    WireFormat,
)

__all__ = [
    "AUTH_TOKEN_FIELD",
    "TelnyxMediaCore",
    "decode_client_state",
    "encode_client_state",
    "wire_format",
]

AUTH_TOKEN_FIELD = "x-telnyx-streaming-auth-token"
DTMF_DIGITS = frozenset("0123456789*#ABCD")

PCMU_8K = WireFormat(codec="PCMU", sample_rate=8000)
L16_16K = WireFormat(codec="L16", sample_rate=16000, big_endian=True)
_FORMATS = {("PCMU", 8000): PCMU_8K, ("L16", 16000): L16_16K}


def wire_format(codec: str) -> WireFormat:
    """The stream format for a configured codec name (``PCMU`` or ``L16``)."""
    return PCMU_8K if codec.upper() == "PCMU" else L16_16K


def _silence(fmt: WireFormat) -> bytes:
    return (b"\xff" if fmt.codec == "PCMU" else b"\x00\x00") * fmt.frame_samples


MAX_CONCEAL = 50  # frames of silence (1 s) for one gap in the numbering, however wide


class _Reorder:
    """Releases media payloads in ``chunk`` order, holding at most ``window`` frames for a gap."""

    __slots__ = ("_held", "_next", "concealed", "late", "window")

    def __init__(self, *, window: int) -> None:
        self.window = window
        self._next: int | None = None
        self._held: dict[int, bytes] = {}
        self.late = 0  # duplicates, or frames that came after their gap was concealed
        self.concealed = 0  # frames that never came, replaced by silence

    def push(self, index: int, payload: bytes) -> list[bytes | None]:
        """Payloads now ready, in order; None stands for a concealed (missing) frame."""
        if self._next is None:
            # Chunks count from 1; a stream whose first frames swap places still starts at 1.
            self._next = 1 if index <= self.window + 1 else index
        if index < self._next or index in self._held:
            self.late += 1
            return []
        self._held[index] = payload
        out: list[bytes | None] = []
        while self._held:
            if self._next in self._held:
                out.append(self._held.pop(self._next))
            elif len(self._held) > self.window:
                out.extend(self._conceal(min(self._held)))
                continue
            else:
                break
            self._next += 1
        return out

    def _conceal(self, upto: int) -> list[bytes | None]:
        """Skip to ``upto``: silence for the gap, at most ``MAX_CONCEAL`` frames of it (a peer
        numbering a frame 10**9 must not make us build a billion-frame gap)."""
        assert self._next is not None
        gap = upto - self._next
        self.concealed += gap
        self._next = upto
        return [None] * min(gap, MAX_CONCEAL)

    def drain(self) -> list[bytes | None]:
        """At the end of the stream: everything held, in order, gaps concealed."""
        out: list[bytes | None] = []
        while self._held and self._next is not None:
            payload = self._held.pop(self._next, None)
            if payload is None:
                out.extend(self._conceal(min(self._held)))
                continue
            out.append(payload)
            self._next += 1
        return out


class TelnyxMediaCore:
    """One Telnyx media stream, both directions (implements ``provider.MediaCore``)."""

    def __init__(self, *, reorder_window: int = 5) -> None:
        self._reorder = _Reorder(window=reorder_window)
        self._start: StreamStart | None = None
        self._stopped = False

    @property
    def started(self) -> StreamStart | None:
        return self._start

    @property
    def late_frames(self) -> int:
        return self._reorder.late

    @property
    def concealed_frames(self) -> int:
        return self._reorder.concealed

    # ---- inbound ---------------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> list[MediaEvent]:
        return [_violation(ViolationKind.BINARY, "binary frame: Telnyx sends JSON text")]

    def receive_text(self, text: str) -> list[MediaEvent]:
        """Feed one WebSocket text message; returns what it means (possibly nothing)."""
        if self._stopped:
            return []
        try:
            msg = safejson.loads(text)
        except ValueError:
            return [_violation(ViolationKind.MALFORMED, "malformed JSON")]
        if not isinstance(msg, dict):
            return [_violation(ViolationKind.MALFORMED, "message is not a JSON object")]
        event = msg.get("event")
        match event:
            case "connected":
                token = msg.get(AUTH_TOKEN_FIELD)
                return [StreamConnected(auth_token=token if isinstance(token, str) else "")]
            case "start":
                return self._on_start(msg)
            case "media" | "dtmf" | "mark" if self._start is None:
                return [_violation(ViolationKind.OUT_OF_ORDER, f"{event} before start")]
            case "media":
                return self._on_media(msg)
            case "dtmf":
                return self._on_dtmf(msg)
            case "mark":
                mark = msg.get("mark")
                name = mark.get("name") if isinstance(mark, dict) else None
                if not isinstance(name, str) or not name:
                    return [_violation(ViolationKind.MALFORMED, "mark without a name")]
                return [MarkIn(name=name)]
            case "error":
                detail = json.dumps(msg.get("payload"))[:200]
                return [_violation(ViolationKind.UNKNOWN, f"telnyx reported an error: {detail}")]
            case "stop":
                self._stopped = True
                return [*self._release(self._reorder.drain()), StreamStop(reason="stop")]
            case _:
                return [_violation(ViolationKind.UNKNOWN, f"unknown event {str(event)[:40]!r}")]

    def _on_start(self, msg: dict[str, Any]) -> list[MediaEvent]:
        if self._start is not None:
            return [_violation(ViolationKind.OUT_OF_ORDER, "second start frame")]
        start = msg.get("start")
        if not isinstance(start, dict):
            return [_violation(ViolationKind.MALFORMED, "start without start object", fatal=True)]
        fmt = start.get("media_format")
        fmt = fmt if isinstance(fmt, dict) else {}
        encoding = str(fmt.get("encoding", "PCMU")).upper()
        try:
            rate = int(fmt.get("sample_rate", 8000))
        except (TypeError, ValueError):
            rate = 0
        wire = _FORMATS.get((encoding, rate))
        if wire is None:
            detail = f"unsupported media format {encoding[:16]}/{rate}"
            return [_violation(ViolationKind.MALFORMED, detail, fatal=True)]
        params = start.get("custom_parameters")
        custom = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
        custom["client_state"] = decode_client_state(start.get("client_state"))
        self._start = StreamStart(
            stream_id=str(msg.get("stream_id", "")),
            provider_call_id=str(start.get("call_control_id", "")),
            custom_parameters=custom,
            inbound=wire,
            outbound=wire,  # we always ask for the same codec both ways
            caller=str(start.get("from", "")),
            callee=str(start.get("to", "")),
        )
        return [self._start]

    def _on_media(self, msg: dict[str, Any]) -> list[MediaEvent]:
        media = msg.get("media")
        if not isinstance(media, dict):
            return [_violation(ViolationKind.MALFORMED, "media frame without media object")]
        if media.get("track", "inbound") != "inbound":
            return []  # we ask for inbound_track only; anything else is not the caller
        try:
            # b64decode(validate=True) without its wrapper: one C call per frame
            payload = binascii.a2b_base64(str(media.get("payload", "")), strict_mode=True)
            index = int(str(media.get("chunk") or msg.get("sequence_number")))
        except (binascii.Error, ValueError):
            return [_violation(ViolationKind.MALFORMED, "media with bad payload or numbering")]
        return self._release(self._reorder.push(index, payload))

    def _release(self, payloads: list[bytes | None]) -> list[MediaEvent]:
        if self._start is None:
            return []
        silence = _silence(self._start.inbound)
        return [MediaIn(payload=silence if p is None else p) for p in payloads]

    def _on_dtmf(self, msg: dict[str, Any]) -> list[MediaEvent]:
        dtmf = msg.get("dtmf")
        digit = str(dtmf.get("digit", "")).upper() if isinstance(dtmf, dict) else ""
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            return [_violation(ViolationKind.MALFORMED, f"bad dtmf digit {digit[:8]!r}")]
        return [DtmfIn(digit=digit)]

    # ---- outbound --------------------------------------------------------------------

    def media(self, payload: bytes) -> str:
        """A ``media`` frame; ``payload`` is already in the stream's codec."""
        b64 = binascii.b2a_base64(payload, newline=False).decode("ascii")
        return '{"event":"media","media":{"payload":"' + b64 + '"}}'

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "mark": {"name": name}}, separators=(",", ":"))

    def clear(self) -> str:
        """``clear``: Telnyx drops queued audio and echoes every queued mark."""
        return '{"event":"clear"}'


def _violation(kind: ViolationKind, detail: str, *, fatal: bool = False) -> StreamViolation:
    return StreamViolation(kind=kind, detail=detail, fatal=fatal)


def decode_client_state(raw: object) -> str:
    """``client_state`` is base64 text we chose; anything else decodes to ""."""
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def encode_client_state(state: str) -> str:
    return base64.b64encode(state.encode("utf-8")).decode("ascii")
