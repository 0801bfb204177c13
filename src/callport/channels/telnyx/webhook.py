"""Telnyx webhooks: Ed25519 verification and Call Control v2 event parsing (pure).

Verification (Telnyx "Webhook signing"; telnyx-python ``lib/webhook_verification``): the
``telnyx-signature-ed25519`` header is a base64 Ed25519 signature over the bytes
``f"{telnyx-timestamp}|"`` + the raw request body, made with the account's key; the public
key (``CALLPORT_TELNYX_PUBLIC_KEY``, base64 of the 32 raw bytes) verifies it. A timestamp
more than 300 s away from ``now`` is refused, so a captured webhook cannot be replayed
later. ``now`` is an argument: no clock here. TeXML callbacks are signed the same way.

Parsing turns the JSON envelope ``{"data": {"event_type", "id", "payload": {...}}}`` into
the shared ``CallEvent``s; ``client_state`` (base64 of our call id) becomes ``call_id``.
Event types callport does not act on become ``OtherCallback``; a body we cannot read
raises ``WebhookRejected(status_hint=400)``, never anything else.

``TelnyxWebhooks`` implements ``callport.channels.provider.ProviderWebhooks``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callport import safejson
from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRinging,
    DtmfReceived,
    MachineDetected,
    OtherCallback,
    StreamStarted,
    StreamStopped,
    WebhookRejected,
    WebhookRequest,
)
from callport.channels.telnyx.media import decode_client_state

__all__ = ["TelnyxWebhooks", "load_public_key", "parse_event", "verify_signature"]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_S = 300.0

# Telnyx hangup_cause -> the shared CallEnded.reason vocabulary (Twilio's CallStatus words).
_END_REASONS = {
    "normal_clearing": "completed",
    "user_busy": "busy",
    "no_answer": "no-answer",
    "timeout": "no-answer",
    "originator_cancel": "canceled",
    "call_rejected": "failed",
    "unallocated_number": "failed",
    "time_limit": "completed",
}


def load_public_key(text: str) -> Ed25519PublicKey:
    """The portal's public key: base64 of the 32 raw key bytes. Raises ValueError."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("the Telnyx public key is not base64") from exc
    if len(raw) != 32:
        raise ValueError(f"the Telnyx public key must be 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(
    *,
    key: Ed25519PublicKey,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Raise ``WebhookRejected`` unless ``signature`` signs ``f"{timestamp}|"`` + ``body``."""
    if not signature or not timestamp:
        raise WebhookRejected("missing telnyx-signature-ed25519 or telnyx-timestamp header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("telnyx-timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance_s:
        raise WebhookRejected(f"telnyx-timestamp is more than {tolerance_s:g} s from now")
    try:
        sig = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise WebhookRejected("signature is not base64") from None
    try:
        key.verify(sig, timestamp.encode("ascii") + b"|" + body)
    except (InvalidSignature, ValueError):
        raise WebhookRejected("signature does not verify") from None


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value)


def parse_event(body: bytes) -> CallEvent:
    """One Call Control v2 webhook body as a shared ``CallEvent``."""
    try:
        doc = safejson.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON", status_hint=400) from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise WebhookRejected("no data object", status_hint=400)
    event_type = data.get("event_type")
    payload = data.get("payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise WebhookRejected("data needs event_type and a payload object", status_hint=400)
    ccid = _text(payload, "call_control_id")
    if not ccid:
        raise WebhookRejected(f"{event_type[:40]} without call_control_id", status_hint=400)
    ids: dict[str, Any] = {
        "provider_call_id": ccid,
        "call_id": decode_client_state(payload.get("client_state")),
    }
    match event_type:
        case "call.initiated":
            outgoing = _text(payload, "direction") == "outgoing"
            return CallRinging(
                **ids,
                caller=_text(payload, "from"),
                callee=_text(payload, "to"),
                direction="outbound" if outgoing else "inbound",
            )
        case "call.answered":
            return CallAnswered(**ids, caller=_text(payload, "from"), callee=_text(payload, "to"))
        case "call.hangup":
            cause = _text(payload, "hangup_cause") or "normal_clearing"
            sip = _text(payload, "sip_hangup_cause")
            return CallEnded(**ids, reason=_END_REASONS.get(cause, cause[:40]), cause=cause[:40],
                             sip_status=int(sip) if sip.isdigit() and len(sip) == 3 else 0)
        case "call.dtmf.received":
            return DtmfReceived(**ids, digit=_text(payload, "digit")[:1])
        case "streaming.started":
            return StreamStarted(**ids, stream_id=_text(payload, "stream_id"))
        case "streaming.stopped":
            return StreamStopped(**ids, stream_id=_text(payload, "stream_id"))
        case "streaming.failed":
            reason = _text(payload, "failure_reason") or "unknown"
            return StreamStopped(**ids, stream_id=_text(payload, "stream_id"), error=reason[:80])
        case "call.machine.detection.ended" | "call.machine.premium.detection.ended":
            return MachineDetected(**ids, answered_by=_text(payload, "result") or "unknown")
        case _:
            return OtherCallback(**ids, kind=event_type[:80])


class TelnyxWebhooks:
    """Ed25519-verified Call Control webhooks (``provider.ProviderWebhooks``)."""

    def __init__(self, *, public_key: str) -> None:
        # An unset or broken key rejects every webhook (doctor reports why); never crashes.
        self._key: Ed25519PublicKey | None
        try:
            self._key = load_public_key(public_key) if public_key else None
        except ValueError:
            self._key = None

    @property
    def configured(self) -> bool:
        return self._key is not None

    def verify(self, request: WebhookRequest, *, now: float) -> None:
        if self._key is None:
            raise WebhookRejected("CALLPORT_TELNYX_PUBLIC_KEY is not set or not a valid key")
        verify_signature(
            key=self._key,
            body=request.body,
            signature=request.headers.get(SIGNATURE_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            now=now,
        )

    def parse(self, request: WebhookRequest) -> list[CallEvent]:
        return [parse_event(request.body)]
