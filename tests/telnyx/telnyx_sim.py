"""Test helpers: a Telnyx stand-in that signs webhooks with a test Ed25519 key."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from callport.channels.telnyx.media import encode_client_state


class Signer:
    """Holds a fresh Ed25519 key pair; signs bodies the way Telnyx does."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()

    def headers(self, body: bytes, *, timestamp: int) -> dict[str, str]:
        sig = self.private.sign(str(timestamp).encode() + b"|" + body)
        return {
            "telnyx-signature-ed25519": base64.b64encode(sig).decode(),
            "telnyx-timestamp": str(timestamp),
            "content-type": "application/json",
        }


def event_body(event_type: str, ccid: str = "v3:call-1", **payload: Any) -> bytes:
    state = payload.pop("client_state", None)
    full = {"call_control_id": ccid, "call_leg_id": "leg-1", "call_session_id": "sess-1",
            "connection_id": "conn-1", **payload}
    if state is not None:
        full["client_state"] = encode_client_state(state)
    doc = {
        "data": {"record_type": "event", "event_type": event_type, "id": "ev-1",
                 "occurred_at": "2026-01-01T00:00:00Z", "payload": full},
        "meta": {"attempt": 1, "delivered_to": "http://testserver/telnyx/webhook"},
    }
    return json.dumps(doc).encode()


def media_frame(chunk: int, payload: bytes) -> str:
    return json.dumps({
        "event": "media", "sequence_number": str(chunk + 1), "stream_id": "st-1",
        "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(20 * (chunk - 1)),
                  "payload": base64.b64encode(payload).decode()},
    })


def start_frame(*, ccid: str, client_state: str, encoding: str, rate: int) -> str:
    return json.dumps({
        "event": "start", "sequence_number": "1", "stream_id": "st-1",
        "start": {"user_id": "u-1", "call_control_id": ccid,
                  "client_state": encode_client_state(client_state),
                  "from": "+15550001111", "to": "+15550002222", "tags": [],
                  "custom_parameters": {},
                  "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1}},
    })


def connected_frame(token: str = "") -> str:
    doc: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
    if token:
        doc["x-telnyx-streaming-auth-token"] = token
    return json.dumps(doc)
