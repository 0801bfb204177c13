"""The PSTN provider interface: what Twilio, Telnyx (and any next provider) supply.

A phone provider reaches callport three ways, and each is a small Protocol here so shared
code (``callport.channels.media_leg``, routing, failover) never branches on the provider:

1. **Webhooks** (``ProviderWebhooks``): the provider POSTs call progress to us. ``verify``
   checks the request's signature (HMAC, Ed25519, ...) and raises ``WebhookRejected`` (answer
   403, start nothing); ``parse`` turns the body into typed ``CallEvent``s.
2. **The media stream** (``MediaCore``): a sans-IO core for the provider's WebSocket JSON.
   ``receive_text``/``receive_bytes`` turn one frame into ``MediaEvent``s (unknown or malformed
   input becomes ``StreamViolation``, never an exception); ``media``/``mark``/``clear`` make
   outbound frames. The wire format (codec, rate, frame size) is a ``WireFormat`` reported by
   ``StreamStart``. No asyncio, sockets or clocks: the driver owns I/O.
3. **Call control** (``CallControl``): async REST over httpx against a configurable API base
   URL (regional edges, local stand-ins in tests): answer, hangup (idempotent: "already
   ended" is success), transfer, dial, send_dtmf.

What a third provider module (Plivo, Vonage, SignalWire, Exotel) has to supply:

- a ``MediaCore`` for its stream framing (Plivo ``playAudio``/``clearAudio``/``checkpoint``;
  Vonage binary L16 frames plus ``{"action": "clear"}``/``notify``), with ``WireFormat``
  saying codec (``PCMU``/``PCMA``/``L16``), byte order, rate and frame size;
- a ``ProviderWebhooks`` mapping its signature scheme and callbacks onto ``CallEvent``s
  (ending reasons in the shared vocabulary: completed, busy, no-answer, failed, canceled);
- a ``CallControl`` over its REST API, treating its "call already gone" answer as success;
- a ``tokens`` module: ``mint`` a stream token bound to our call id, an expiry and (when
  known) the provider's call id, keyed by a configured secret (never derived from an empty
  one), and ``check`` what a stream presents into a
  ``callport.channels.callbook.StreamGrant`` (``token_id`` is spent once, ``expires_at`` is
  required: the book refuses the grant after it and remembers the spent token until then).
  Twilio signs the stream parameters; Telnyx signs call id, expiry and call_control_id;
- no credentials, no calls: without the secret that verifies its webhooks the channel
  refuses every webhook (403) and closes every media socket before accepting it, and says
  at ``start`` what to set; a call-placing endpoint checks
  ``callport.channels.api_auth.check_admin_bearer`` first;
- a channel module (routes: the answer webhook or REST ``answer`` carrying the token, the
  status webhook, the media WebSocket). It keeps its calls in a
  ``callport.channels.callbook.CallBook(provider=name)`` wrapped by
  ``callport.channels.callrecords.CallRecords`` (the runtime's ``CallStore`` mirror): it
  ``enter``s offered and placed calls, passes every ``CallEvent`` to ``apply``, and runs the
  socket with ``callport.channels.media_stream.run_websocket_stream`` whose ``admit`` checks
  the token and returns ``CallRecords.admit(grant, ...)``. Our URLs come from
  ``public_base``/``stream_url`` below.

Everything else is shared and provider-blind: the call book (one stream per call, none
after the call ended, prune), call records, the ``MediaStreamLeg`` and all below it (turns,
barge-in, marks).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

# --------------------------------------------------------------------------- wire format

Codec = Literal["PCMU", "PCMA", "L16"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WireFormat:
    """How audio travels in one direction of a media stream."""

    codec: Codec = "PCMU"
    sample_rate: int = 8000
    frame_ms: int = 20
    big_endian: bool = False  # L16 only: RFC 2586 network order (Telnyx), else little-endian

    @property
    def frame_samples(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * (2 if self.codec == "L16" else 1)


MULAW_8K = WireFormat()

# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """One provider HTTP callback as received: the public URL it was sent to, raw body."""

    url: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    content_type: str = ""


class WebhookRejected(Exception):
    """The peer sent a request we must not act on (bad signature, stale, unparsable)."""

    def __init__(self, reason: str, *, status_hint: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    """Base of call-progress events. ``call_id`` is ours ("" when the provider cannot say)."""

    provider_call_id: str
    call_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRinging(CallEvent):
    """A call is being offered (inbound) or placed (outbound) and not yet answered."""

    caller: str = ""
    callee: str = ""
    direction: Literal["inbound", "outbound"] = "inbound"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnswered(CallEvent):
    caller: str = ""
    callee: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(CallEvent):
    """The provider says the call is over: the only truth for "call ended"."""

    reason: str = "completed"  # completed, busy, no-answer, failed, canceled, ...
    duration_s: float | None = None
    # Diagnostics for dial results (not compared): the provider's own word (Telnyx
    # hangup_cause) and the far end's SIP final response when the provider reports one.
    cause: str = field(default="", compare=False)
    sip_status: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStarted(CallEvent):
    stream_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStopped(CallEvent):
    """The media stream ended. Not a hang-up: the call may go on (transfer, action URL)."""

    stream_id: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(CallEvent):
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MachineDetected(CallEvent):
    """Answering-machine detection result: human, machine_start, machine_end_beep, fax, ..."""

    answered_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherCallback(CallEvent):
    """A callback we verified but do not act on; ``kind`` names it for the call's log."""

    kind: str


class ProviderWebhooks(Protocol):
    def verify(self, request: WebhookRequest, *, now: float) -> None:
        """Raise ``WebhookRejected`` unless the request is authentic (and fresh)."""
        ...

    def parse(self, request: WebhookRequest) -> list[CallEvent]:
        """Typed events in a verified request; ``WebhookRejected(status_hint=400)`` if garbage."""
        ...


# --------------------------------------------------------------------------- media stream


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """Base of what a media core reports. Do not subclass outside provider modules."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConnected(MediaEvent):
    """The socket's first message; ``auth_token`` when the provider sends one (Telnyx)."""

    auth_token: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStart(MediaEvent):
    stream_id: str
    provider_call_id: str
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    inbound: WireFormat = MULAW_8K
    outbound: WireFormat = MULAW_8K
    caller: str = ""
    callee: str = ""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class MediaIn(MediaEvent):
    """One inbound audio payload, still encoded in ``StreamStart.inbound``'s codec."""

    payload: bytes
    timestamp_ms: int | None = None  # provider presentation time since stream start
    chunk: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfIn(MediaEvent):
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkIn(MediaEvent):
    """The provider echoed a mark: played, or dropped by ``clear`` (the leg knows which)."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStop(MediaEvent):
    """The provider closed the stream. Not a hang-up (see ``StreamStopped``)."""

    reason: str = "stop"


class ViolationKind(enum.Enum):
    MALFORMED = "malformed"  # not JSON, wrong shape, bad base64
    UNKNOWN = "unknown"  # well-formed but an event we do not know
    OUT_OF_ORDER = "out_of_order"  # e.g. media before start, gap in sequence numbers
    BINARY = "binary"  # a binary frame where text is expected


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamViolation(MediaEvent):
    """The peer sent something we ignore; ``fatal`` asks the driver to close the socket."""

    kind: ViolationKind
    detail: str
    fatal: bool = False


class MediaCore(Protocol):
    """Sans-IO media-stream protocol for one WebSocket."""

    @property
    def started(self) -> StreamStart | None:
        """The ``StreamStart`` seen so far, if any."""
        ...

    def receive_text(self, text: str) -> list[MediaEvent]: ...

    def receive_bytes(self, data: bytes) -> list[MediaEvent]: ...

    def media(self, payload: bytes) -> str:
        """An outbound frame carrying ``payload`` (already in ``outbound`` codec)."""
        ...

    def mark(self, name: str) -> str: ...

    def clear(self) -> str: ...


# --------------------------------------------------------------------------- call control


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamTarget:
    """Where the provider should stream a call: our WebSocket URL plus custom parameters."""

    url: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    status_url: str = ""
    action_url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialRequest:
    to: str
    from_: str
    stream: StreamTarget
    status_url: str = ""
    machine_detection: bool = True  # asynchronous AMD: the stream starts at once
    machine_detection_url: str = ""
    timeout_s: int = 30


class ProviderError(RuntimeError):
    """The provider's API refused a request (not "already ended", which is success)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class CallControl(Protocol):
    """Async REST control of live calls. Every method is safe to call after the call ended."""

    @property
    def sends_dtmf(self) -> bool:
        """True when ``send_dtmf`` works mid-stream; else the leg plays in-band tones."""
        ...

    async def answer(self, provider_call_id: str, stream: StreamTarget) -> None: ...

    async def hangup(self, provider_call_id: str) -> None:
        """End the call; a call that already ended is success."""
        ...

    async def transfer(self, provider_call_id: str, target: str) -> None:
        """Blind transfer to ``tel:+1...``/``+1...`` or ``sip:...`` without ending the call."""
        ...

    async def dial(self, request: DialRequest) -> str:
        """Place an outbound call; returns the provider's call id."""
        ...

    async def send_dtmf(self, provider_call_id: str, digits: str) -> None: ...

    async def aclose(self) -> None: ...


def split_target(target: str) -> tuple[Literal["tel", "sip"], str]:
    """``tel:+1555`` / ``+1555`` -> ("tel", "+1555"); ``sip:a@b`` -> ("sip", "sip:a@b")."""
    target = target.strip()
    lower = target.lower()
    if lower.startswith(("sip:", "sips:")):
        return "sip", target
    if lower.startswith("tel:"):
        target = target[4:]
    number = target.replace(" ", "").replace("-", "")
    if not number or not all(c.isdigit() or c in "+*#" for c in number):
        raise ValueError(f"transfer target {target!r}: use tel:+<digits>, +<digits> or sip:...")
    return "tel", number


def public_base(configured: str, request_url: str = "") -> str:
    """This server's public ``scheme://host[/prefix]``: the configured base URL, else the
    origin of the request that reached us ("" when neither says)."""
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(request_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def stream_url(base: str, path: str) -> str:
    """The WebSocket URL of our route ``path`` under ``base`` (https -> wss, http -> ws)."""
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme, "wss")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"
