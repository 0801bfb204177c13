"""What the server sends the page: one builder per control message (JSON text) and the
agent audio's binary encoding. The message vocabulary is described in
``callport.channels.browser.protocol``, which re-exports these. Pure, no I/O.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np

from callport.types import PCM16

SAMPLE_RATE = 16_000
FRAME_MS = 20

Role = Literal["caller", "agent"]


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ready_message(*, call_id: str) -> str:
    return _dump({"type": "ready", "call_id": call_id, "sample_rate": SAMPLE_RATE,
                  "frame_ms": FRAME_MS})


def transcript_message(*, role: Role, text: str, reply: int | None = None) -> str:
    msg: dict[str, Any] = {"type": "transcript", "role": role, "text": text}
    if reply is not None:
        msg["reply"] = reply
    return _dump(msg)


def partial_message(*, text: str) -> str:
    return _dump({"type": "partial", "text": text})


def speaking_message(*, speaking: bool) -> str:
    return _dump({"type": "speaking", "speaking": speaking})


def heard_message(*, reply: int, text: str, interrupted: bool) -> str:
    return _dump({"type": "heard", "reply": reply, "text": text, "interrupted": interrupted})


def state_message(*, state: str) -> str:
    return _dump({"type": "state", "state": state})


def latency_message(*, ms: float) -> str:
    return _dump({"type": "latency", "ms": round(ms, 1)})


ErrorKind = Literal["protocol", "call"]


def error_message(*, message: str, kind: ErrorKind = "protocol") -> str:
    """``kind`` "protocol": the page sent something unusable (the call goes on); "call": the
    call itself failed (the agent or flow raised), which the page shows as an error."""
    return _dump({"type": "error", "kind": kind, "message": message})


def hold_message(*, held: bool) -> str:
    """The caller was put on hold (or taken off it): the page shows it; audio keeps flowing."""
    return _dump({"type": "hold", "held": held})


def bye_message(*, reason: str) -> str:
    return _dump({"type": "bye", "reason": reason})


def encode_pcm(pcm: PCM16) -> bytes:
    return np.ascontiguousarray(pcm, dtype="<i2").tobytes()
