"""ConversationRelay's WebSocket text protocol (Twilio's and Telnyx's), callport playing the
provider's part. Sans-IO: JSON text in, typed events out; messages to send as text.

Provider -> app (what we send): ``setup`` (session and call identity, ``customParameters``),
``prompt`` (``voicePrompt``, ``lang``, ``last``), ``dtmf`` (``digit``), ``interrupt``
(``utteranceUntilInterrupt``, ``durationUntilInterruptMs``: what the caller heard, from our
marks), ``error`` (``description``).

App -> provider (what we parse): ``text`` (``token``, ``last``, ``lang``, ``interruptible``,
``preemptible``), ``play`` (``source``, ``loop``, ``interruptible``), ``sendDigits``
(``digits``; ``w`` is a half-second pause), ``language`` (``ttsLanguage``,
``transcriptionLanguage``), ``end`` (``handoffData``, a string). Anything else becomes
``AppInvalid`` with the reason, answered with an ``error`` message as the providers do.

References: twilio.com/docs/voice/conversationrelay/websocket-messages,
developers.telnyx.com/api-reference/websockets/conversationrelay-websocket-channel
(../shared/research/07-agents-and-anchors.md §1.2-1.3).

``ClauseBuffer`` turns streamed tokens into clauses to speak as soon as each is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from callport import safejson
from callport.speech.text import split_clauses
from callport.types import CallInfo

__all__ = [
    "AppEnd", "AppEvent", "AppInvalid", "AppLanguage", "AppPlay", "AppSendDigits", "AppText",
    "ClauseBuffer", "dtmf", "error", "handoff_headers", "handoff_target", "interrupt",
    "parse_app", "prompt", "setup", "with_identity",
]


@dataclass(frozen=True, slots=True)
class AppEvent:
    """Base of what the app sends."""


@dataclass(frozen=True, slots=True)
class AppText(AppEvent):
    token: str
    last: bool
    lang: str = ""
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class AppPlay(AppEvent):
    source: str
    loop: int = 1
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class AppSendDigits(AppEvent):
    digits: str


@dataclass(frozen=True, slots=True)
class AppLanguage(AppEvent):
    tts_language: str = ""
    transcription_language: str = ""


@dataclass(frozen=True, slots=True)
class AppEnd(AppEvent):
    handoff_data: str = ""


@dataclass(frozen=True, slots=True)
class AppInvalid(AppEvent):
    """The app sent something that is not a valid message (answered with ``error``)."""

    description: str


_DIGITS = frozenset("0123456789*#ABCDabcdwW")


def _bool(value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValueError("expected true or false")


def parse_app(text: str | bytes) -> AppEvent:
    """One WebSocket frame from the app as an event (never raises on bad input)."""
    try:
        msg = safejson.loads(text)
    except (ValueError, UnicodeDecodeError):
        return AppInvalid("message is not JSON")
    if not isinstance(msg, dict):
        return AppInvalid("message is not a JSON object")
    kind = msg.get("type")
    try:
        match kind:
            case "text":
                token = msg.get("token", "")
                if not isinstance(token, str):
                    return AppInvalid("text: token must be a string")
                lang = msg.get("lang") or ""
                return AppText(token=token, last=_bool(msg.get("last"), False),
                               lang=str(lang), interruptible=_bool(msg.get("interruptible"), True))
            case "play":
                source = msg.get("source")
                if not isinstance(source, str) or not source:
                    return AppInvalid("play: source must be a URL")
                loop = int(msg.get("loop", 1))
                return AppPlay(source=source, loop=max(loop, 0),
                               interruptible=_bool(msg.get("interruptible"), True))
            case "sendDigits":
                digits = msg.get("digits")
                if not isinstance(digits, str) or not digits or set(digits) - _DIGITS:
                    return AppInvalid("sendDigits: digits must be 0-9, *, #, A-D or w")
                return AppSendDigits(digits)
            case "language":
                return AppLanguage(tts_language=str(msg.get("ttsLanguage") or ""),
                                   transcription_language=str(msg.get("transcriptionLanguage")
                                                              or ""))
            case "end":
                data = msg.get("handoffData", "")
                if not isinstance(data, str):  # the docs say a string; accept an object too
                    data = json.dumps(data)
                return AppEnd(handoff_data=data)
    except (TypeError, ValueError) as exc:
        return AppInvalid(f"{kind}: {exc}")
    return AppInvalid(f"unknown message type {kind!r}")


def handoff_target(handoff_data: str) -> str:
    """The transfer target an ``end`` names in its handoffData (``to``, ``target`` or
    ``transferTo`` of a JSON object), or ``""``."""
    try:
        data = safejson.loads(handoff_data) if handoff_data else None
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("to", "target", "transferTo"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def handoff_headers(handoff_data: str) -> dict[str, str]:
    """``headers`` of a JSON handoffData object (``{"X-Caller-Number": "+1555..."}``)."""
    try:
        data = safejson.loads(handoff_data) if handoff_data else None
    except ValueError:
        return {}
    headers = data.get("headers") if isinstance(data, dict) else None
    if not isinstance(headers, dict):
        return {}
    return {str(k): str(v) for k, v in headers.items() if str(k).lower().startswith("x-")}


def with_identity(target: str, info: CallInfo, extra: dict[str, str] | None = None) -> str:
    """A ``sip:`` hand-off target carrying the caller's identity as URI headers (RFC 3261
    §19.1.1; the transferring PBX copies them into its INVITE, RFC 3515 §2.1), e.g. for a
    LiveKit SIP trunk, which shows them to the agent as ``sip.h.x-callport-caller``. Other
    targets (``tel:``) are returned as they are."""
    if not target.startswith(("sip:", "sips:")):
        return target
    headers = {"X-Callport-Caller": info.caller, "X-Callport-Call-Id": info.call_id}
    if info.user is not None and not info.user.guest:
        headers["X-Callport-User"] = info.user.name
    headers.update(extra or {})
    query = "&".join(f"{quote(k, safe='-')}={quote(v, safe='')}" for k, v in headers.items() if v)
    if not query:
        return target
    return f"{target}{'&' if '?' in target else '?'}{query}"


def _dump(msg: dict[str, object]) -> str:
    return json.dumps(msg, separators=(",", ":"))


def setup(
    info: CallInfo, *, session_id: str, custom: dict[str, str] | None = None
) -> str:
    """The first message: who is calling (Twilio's field names; ``callSid`` is our call id)."""
    return _dump({
        "type": "setup", "sessionId": session_id, "accountSid": "", "parentCallSid": "",
        "callSid": info.call_id, "from": info.caller, "to": info.callee, "forwardedFrom": "",
        "callerName": info.user.display_name if info.user and not info.user.guest else "",
        "direction": info.direction, "callType": _call_type(info.channel),
        "callStatus": "IN-PROGRESS", "customParameters": custom or {},
    })


def _call_type(channel: str) -> str:
    return {"sip": "SIP", "browser": "CLIENT", "talk": "CLIENT"}.get(channel, "PSTN")


def prompt(text: str, *, lang: str, last: bool = True) -> str:
    return _dump({"type": "prompt", "voicePrompt": text, "lang": lang, "last": last})


def dtmf(digit: str) -> str:
    return _dump({"type": "dtmf", "digit": digit})


def interrupt(heard: str, heard_ms: int) -> str:
    return _dump({"type": "interrupt", "utteranceUntilInterrupt": heard,
                  "durationUntilInterruptMs": heard_ms})


def error(description: str) -> str:
    return _dump({"type": "error", "description": description})


class ClauseBuffer:
    """Streamed tokens in, whole clauses out (``speech.text.split_clauses``): a clause is let
    go once text follows it, the rest when the app says ``last``."""

    def __init__(self) -> None:
        self._text = ""

    def feed(self, token: str) -> list[str]:
        self._text += token
        pieces = split_clauses(self._text)
        if len(pieces) <= 1:
            return []
        done = pieces[:-1]
        self._text = pieces[-1] + (" " if self._text[-1:].isspace() else "")
        return done

    def flush(self) -> list[str]:
        text, self._text = self._text.strip(), ""
        return split_clauses(text) if text else []
