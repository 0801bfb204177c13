"""The OpenAI Realtime WebSocket protocol (GA), as a client speaks it. Pure (sans-IO).

Client events made here: ``session.update`` (``session.type: realtime``; ``audio.input.format``
and ``audio.output.format`` ``{"type": "audio/pcmu"}`` on 8 kHz phone legs, so G.711 passes
through without resampling, else ``{"type": "audio/pcm", "rate": 24000}``; server VAD;
``audio.output.voice``; the tools, flattened to Realtime's ``{"type": "function", "name",
"description", "parameters"}``), ``input_audio_buffer.append``, ``conversation.item.truncate``
(``item_id``, ``content_index`` 0, ``audio_end_ms``: what the caller heard),
``conversation.item.create`` (a ``function_call_output``, or a user text message),
``response.create``.

Server events parsed into typed events: ``session.created`` / ``session.updated``,
``input_audio_buffer.speech_started``, ``response.output_audio.delta`` (and the beta name
``response.audio.delta``), ``response.output_audio.done`` (``response.audio.done``),
``response.function_call_arguments.done``, ``response.done``, ``error``; anything else is
``RtOther``. Names and fields follow the Realtime API reference (client and server events).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RtAudio", "RtAudioDone", "RtError", "RtEvent", "RtFunctionCall", "RtInvalid", "RtOther",
    "RtResponseDone", "RtSession", "RtSpeechStarted", "append", "function_output",
    "parse_server", "realtime_tools", "response_create", "session_update", "truncate",
    "user_text",
]


@dataclass(frozen=True, slots=True)
class RtEvent:
    """Base of what the Realtime server sends."""


@dataclass(frozen=True, slots=True)
class RtSession(RtEvent):
    updated: bool  # False: session.created


@dataclass(frozen=True, slots=True)
class RtSpeechStarted(RtEvent):
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class RtAudio(RtEvent):
    item_id: str
    response_id: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class RtAudioDone(RtEvent):
    item_id: str


@dataclass(frozen=True, slots=True)
class RtFunctionCall(RtEvent):
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class RtResponseDone(RtEvent):
    response_id: str
    status: str


@dataclass(frozen=True, slots=True)
class RtError(RtEvent):
    message: str
    code: str


@dataclass(frozen=True, slots=True)
class RtOther(RtEvent):
    type: str


@dataclass(frozen=True, slots=True)
class RtInvalid(RtEvent):
    description: str


def realtime_tools(chat_tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat-completions tool schemas (``{"type": "function", "function": {...}}``) in
    Realtime's flat shape."""
    out = []
    for tool in chat_tools:
        fn = tool.get("function", tool)
        out.append({"type": "function", "name": fn["name"],
                    "description": fn.get("description", ""),
                    "parameters": fn.get("parameters", {"type": "object", "properties": {}})})
    return out


def _format(pcmu: bool) -> dict[str, Any]:
    return {"type": "audio/pcmu"} if pcmu else {"type": "audio/pcm", "rate": 24000}


def session_update(*, instructions: str, voice: str, pcmu: bool,
                   tools: Sequence[dict[str, Any]], model: str = "") -> str:
    output: dict[str, Any] = {"format": _format(pcmu)}
    if voice:
        output["voice"] = voice
    session: dict[str, Any] = {
        "type": "realtime", "instructions": instructions, "output_modalities": ["audio"],
        "audio": {"input": {"format": _format(pcmu),
                            "turn_detection": {"type": "server_vad", "create_response": True,
                                               "interrupt_response": True}},
                  "output": output},
        "tools": list(tools), "tool_choice": "auto",
    }
    if model:
        session["model"] = model
    return json.dumps({"type": "session.update", "session": session})


def append(audio: bytes) -> str:
    return json.dumps({"type": "input_audio_buffer.append",
                       "audio": base64.b64encode(audio).decode()})


def truncate(item_id: str, audio_end_ms: int) -> str:
    return json.dumps({"type": "conversation.item.truncate", "item_id": item_id,
                       "content_index": 0, "audio_end_ms": audio_end_ms})


def function_output(call_id: str, output: str) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call_id, "output": output}})


def user_text(text: str) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


def response_create() -> str:
    return json.dumps({"type": "response.create"})


def _str(msg: dict[str, Any], key: str) -> str:
    value = msg.get(key)
    return value if isinstance(value, str) else ""


def parse_server(raw: str | bytes) -> RtEvent:
    """One server event; garbage is ``RtInvalid`` (never an exception)."""
    try:
        msg = json.loads(raw)
    except ValueError:
        return RtInvalid("not JSON")
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return RtInvalid("no type")
    kind = msg["type"]
    match kind:
        case "session.created" | "session.updated":
            return RtSession(updated=kind == "session.updated")
        case "input_audio_buffer.speech_started":
            start = msg.get("audio_start_ms")
            return RtSpeechStarted(_str(msg, "item_id"), start if isinstance(start, int) else 0)
        case "response.output_audio.delta" | "response.audio.delta":
            try:
                audio = base64.b64decode(_str(msg, "delta"), validate=True)
            except (binascii.Error, ValueError):
                return RtInvalid(f"{kind}: delta is not base64")
            return RtAudio(_str(msg, "item_id"), _str(msg, "response_id"), audio)
        case "response.output_audio.done" | "response.audio.done":
            return RtAudioDone(_str(msg, "item_id"))
        case "response.function_call_arguments.done":
            if not _str(msg, "call_id") or not _str(msg, "name"):
                return RtInvalid(f"{kind} without call_id or name")
            return RtFunctionCall(_str(msg, "call_id"), _str(msg, "name"),
                                  _str(msg, "arguments"))
        case "response.done":
            response = msg.get("response")
            response = response if isinstance(response, dict) else {}
            return RtResponseDone(_str(response, "id"), _str(response, "status"))
        case "error":
            error = msg.get("error")
            error = error if isinstance(error, dict) else {}
            return RtError(_str(error, "message"), _str(error, "code"))
    return RtOther(kind)
