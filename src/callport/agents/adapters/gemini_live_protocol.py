"""The Gemini Live API (``BidiGenerateContent`` over WebSocket), as a client speaks it. Pure.

Every client message carries exactly one of ``setup``, ``clientContent``, ``realtimeInput``,
``toolResponse``. Made here: ``setup`` (``model``, ``generationConfig.responseModalities``
``["AUDIO"]`` and the voice, ``systemInstruction``, ``tools[].functionDeclarations``,
``sessionResumption`` with the handle to resume, empty for a new session), ``realtimeInput``
audio (raw PCM16 LE, ``audio/pcm;rate=16000``), ``clientContent`` (a user text turn: a key the
caller pressed) and ``toolResponse`` (``functionResponses`` with ``id``, ``name``,
``response``).

A server message may carry several things at once (``serverContent`` with audio parts and
``turnComplete``), so ``parse_server`` returns a list: ``GlSetupComplete``, ``GlAudio``
(``modelTurn.parts[].inlineData``, 24 kHz PCM), ``GlInterrupted``, ``GlTurnComplete``,
``GlToolCall``, ``GlGoAway`` (``timeLeft``), ``GlResumption`` (``newHandle``, ``resumable``),
``GlOther``, ``GlInvalid``. Field names follow the Live API reference (ai.google.dev/api/live).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_URL", "GlAudio", "GlEvent", "GlGoAway", "GlInterrupted", "GlInvalid", "GlOther",
    "GlResumption", "GlSetupComplete", "GlToolCall", "GlTurnComplete", "audio", "parse_server",
    "setup", "tool_response", "user_text",
]

DEFAULT_URL = ("wss://generativelanguage.googleapis.com/ws/"
               "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent")
IN_RATE = 16000
OUT_RATE = 24000


@dataclass(frozen=True, slots=True)
class GlEvent:
    """Base of what the Live API sends."""


@dataclass(frozen=True, slots=True)
class GlSetupComplete(GlEvent):
    pass


@dataclass(frozen=True, slots=True)
class GlAudio(GlEvent):
    pcm: bytes  # PCM16 LE
    rate: int


@dataclass(frozen=True, slots=True)
class GlInterrupted(GlEvent):
    pass


@dataclass(frozen=True, slots=True)
class GlTurnComplete(GlEvent):
    pass


@dataclass(frozen=True, slots=True)
class GlToolCall(GlEvent):
    calls: tuple[tuple[str, str, str], ...]  # (id, name, arguments as JSON)


@dataclass(frozen=True, slots=True)
class GlGoAway(GlEvent):
    time_left_s: float


@dataclass(frozen=True, slots=True)
class GlResumption(GlEvent):
    handle: str
    resumable: bool


@dataclass(frozen=True, slots=True)
class GlOther(GlEvent):
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GlInvalid(GlEvent):
    description: str


def setup(*, model: str, instructions: str, voice: str, tools: Sequence[dict[str, Any]],
          handle: str = "") -> str:
    """The first message of a connection; ``handle`` resumes a session."""
    generation: dict[str, Any] = {"responseModalities": ["AUDIO"]}
    if voice:
        generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {
            "voiceName": voice}}}
    declarations = []
    for tool in tools:
        fn = tool.get("function", tool)
        declarations.append({"name": fn["name"], "description": fn.get("description", ""),
                             "parameters": fn.get("parameters", {"type": "object"})})
    body: dict[str, Any] = {
        "model": model if model.startswith("models/") else f"models/{model}",
        "generationConfig": generation,
        "systemInstruction": {"parts": [{"text": instructions}]},
        "sessionResumption": {"handle": handle} if handle else {},
    }
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
    return json.dumps({"setup": body})


def audio(pcm16k: bytes) -> str:
    return json.dumps({"realtimeInput": {"audio": {
        "data": base64.b64encode(pcm16k).decode(), "mimeType": f"audio/pcm;rate={IN_RATE}"}}})


def user_text(text: str) -> str:
    return json.dumps({"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}],
                                         "turnComplete": True}})


def tool_response(results: Sequence[tuple[str, str, str]]) -> str:
    """``results``: (id, name, result text) per function call answered."""
    return json.dumps({"toolResponse": {"functionResponses": [
        {"id": cid, "name": name, "response": {"result": result}}
        for cid, name, result in results]}})


_RATE = re.compile(r"rate=(\d+)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _content(content: dict[str, Any]) -> list[GlEvent]:
    out: list[GlEvent] = []
    turn = content.get("modelTurn")
    parts = turn.get("parts") if isinstance(turn, dict) else None
    for part in parts if isinstance(parts, list) else []:
        inline = part.get("inlineData") if isinstance(part, dict) else None
        if not isinstance(inline, dict):
            continue
        mime = str(inline.get("mimeType", ""))
        if not mime.startswith("audio/pcm"):
            continue
        rate = _RATE.search(mime)
        try:
            pcm = base64.b64decode(str(inline.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            out.append(GlInvalid("inlineData is not base64"))
            continue
        out.append(GlAudio(pcm, int(rate.group(1)) if rate else OUT_RATE))
    if content.get("interrupted") is True:
        out.append(GlInterrupted())
    if content.get("turnComplete") is True:
        out.append(GlTurnComplete())
    return out


def parse_server(raw: str | bytes) -> list[GlEvent]:
    """The events in one server message (the service sends JSON, often as binary frames)."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return [GlInvalid("not JSON")]
    if not isinstance(msg, dict):
        return [GlInvalid("not an object")]
    out: list[GlEvent] = []
    if "setupComplete" in msg:
        out.append(GlSetupComplete())
    content = msg.get("serverContent")
    if isinstance(content, dict):
        out += _content(content)
    call = msg.get("toolCall")
    if isinstance(call, dict):
        calls = []
        for fn in call.get("functionCalls") or []:
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                calls.append((str(fn.get("id", "")), fn["name"], json.dumps(fn.get("args", {}))))
        out.append(GlToolCall(tuple(calls)))
    away = msg.get("goAway")
    if isinstance(away, dict):
        m = _DURATION.match(str(away.get("timeLeft", "0s")))
        out.append(GlGoAway(float(m.group(1)) if m else 0.0))
    update = msg.get("sessionResumptionUpdate")
    if isinstance(update, dict):
        out.append(GlResumption(str(update.get("newHandle") or ""),
                                update.get("resumable") is True))
    return out or [GlOther(tuple(msg))]
