"""Media Streams as the provider speaks it, towards a bot: Twilio's and Telnyx's message sets.

Pure (sans-IO). callport plays the provider's part towards a bot built for Twilio Media Streams
(a Pipecat bot with ``TwilioFrameSerializer``, any other) or for Telnyx media streaming
(``TelnyxFrameSerializer``):

- ``MediaStream`` makes what the provider sends: ``connected``, ``start`` (stream and call ids,
  the caller's identity in ``customParameters`` / ``custom_parameters``, ``mediaFormat``
  µ-law 8000 Hz mono), ``media`` (base64 µ-law, ``sequenceNumber``/``chunk``/``timestamp`` as
  strings, 20 ms per message), ``dtmf``, the echo of a played ``mark``, ``stop``;
- ``parse_bot`` turns what the bot sends into typed events: ``BotMedia`` (µ-law bytes),
  ``BotMark``, ``BotClear``, ``BotOther`` (well-formed, not ours), ``BotInvalid``;
- ``rest_request`` answers the REST hang-up the serializers call: Twilio's
  ``POST {base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with
  ``Status=completed`` (HTTP Basic: the account sid and the auth token handed to the bot;
  a 20404 body when the call is gone) and Telnyx's
  ``POST {base}/v2/calls/{call_control_id}/actions/hangup`` (Bearer; 90018 when gone).

Field names follow Twilio's "Media Streams - WebSocket Messages" page and Telnyx's media
streaming AsyncAPI (snake_case: ``stream_id``, ``sequence_number``, ``media_format``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

__all__ = [
    "BotClear", "BotEvent", "BotInvalid", "BotMark", "BotMedia", "BotOther", "Dialect",
    "MediaStream", "RestAnswer", "RestHangup", "parse_bot", "rest_request",
]

Dialect = Literal["twilio", "telnyx"]
FRAME_MS = 20


@dataclass(frozen=True, slots=True)
class BotEvent:
    """Base of what a bot sends."""


@dataclass(frozen=True, slots=True)
class BotMedia(BotEvent):
    payload: bytes  # µ-law 8 kHz


@dataclass(frozen=True, slots=True)
class BotMark(BotEvent):
    name: str


@dataclass(frozen=True, slots=True)
class BotClear(BotEvent):
    pass


@dataclass(frozen=True, slots=True)
class BotOther(BotEvent):
    event: str  # a well-formed message callport does not act on


@dataclass(frozen=True, slots=True)
class BotInvalid(BotEvent):
    description: str


class MediaStream:
    """One stream's outbound messages, numbered like the provider numbers them."""

    def __init__(self, *, dialect: Dialect, stream_id: str, call_id: str, account_sid: str,
                 caller: str, callee: str, custom: Mapping[str, str]) -> None:
        self.dialect = dialect
        self.stream_id = stream_id
        self.call_id = call_id
        self.account_sid = account_sid
        self._caller = caller
        self._callee = callee
        self._custom = dict(custom)
        self._seq = 0
        self._chunk = 0

    def _next(self) -> str:
        self._seq += 1
        return str(self._seq)

    def _head(self, event: str) -> dict[str, Any]:
        if self.dialect == "twilio":
            return {"event": event, "sequenceNumber": self._next(), "streamSid": self.stream_id}
        return {"event": event, "sequence_number": self._next(), "stream_id": self.stream_id}

    def connected(self) -> str:
        if self.dialect == "twilio":
            return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        return json.dumps({"event": "connected", "version": "1.0.0"})

    def start(self) -> str:
        msg = self._head("start")
        if self.dialect == "twilio":
            msg["start"] = {
                "accountSid": self.account_sid, "streamSid": self.stream_id,
                "callSid": self.call_id, "tracks": ["inbound"],
                "customParameters": self._custom,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
        else:
            msg["start"] = {
                "user_id": self.account_sid, "call_control_id": self.call_id,
                "call_session_id": self.call_id, "from": self._caller, "to": self._callee,
                "custom_parameters": self._custom,
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
            }
        return json.dumps(msg)

    def media(self, mulaw: bytes) -> str:
        """One message of caller audio (µ-law); ``timestamp`` is its ms since the start."""
        msg = self._head("media")
        stamp = self._chunk * FRAME_MS
        self._chunk += 1
        msg["media"] = {"track": "inbound", "chunk": str(self._chunk),
                        "timestamp": str(stamp), "payload": base64.b64encode(mulaw).decode()}
        return json.dumps(msg)

    def dtmf(self, digit: str) -> str:
        msg = self._head("dtmf")
        msg["dtmf"] = ({"track": "inbound_track", "digit": digit} if self.dialect == "twilio"
                       else {"digit": digit})
        return json.dumps(msg)

    def mark(self, name: str) -> str:
        """The echo of the bot's mark ``name``: its audio was played (or cleared)."""
        msg = self._head("mark")
        msg["mark"] = {"name": name}
        return json.dumps(msg)

    def stop(self) -> str:
        msg = self._head("stop")
        msg["stop"] = ({"accountSid": self.account_sid, "callSid": self.call_id}
                       if self.dialect == "twilio"
                       else {"user_id": self.account_sid, "call_control_id": self.call_id})
        return json.dumps(msg)


def parse_bot(raw: str | bytes) -> BotEvent:
    """What the bot sent, as an event; garbage becomes ``BotInvalid`` (never an exception)."""
    if isinstance(raw, bytes):
        return BotInvalid("binary frame (Media Streams messages are JSON text)")
    try:
        msg = json.loads(raw)
    except ValueError:
        return BotInvalid("not JSON")
    if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
        return BotInvalid("no event")
    event = msg["event"]
    if event == "media":
        media = msg.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            return BotInvalid("media without a payload")
        try:
            return BotMedia(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            return BotInvalid("media payload is not base64")
    if event == "mark":
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str) or not name:
            return BotInvalid("mark without a name")
        return BotMark(name)
    if event == "clear":
        return BotClear()
    return BotOther(event)


# ---- the REST hang-up -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestHangup:
    """An authenticated hang-up of call ``call_id`` (the adapter checks it is live)."""

    dialect: Dialect
    call_id: str


@dataclass(frozen=True, slots=True)
class RestAnswer:
    status: int
    body: dict[str, Any]


_TWILIO = re.compile(r"^/2010-04-01/Accounts/(?P<ac>[^/]+)/Calls/(?P<ca>[^/]+)\.json$")
_TELNYX = re.compile(r"^/v2/calls/(?P<id>[^/]+)/actions/hangup$")

# Credentials: account sid (Twilio) or call control id (Telnyx) -> the secret handed out.
Secrets = Callable[[str], "str | None"]


def _basic(headers: Mapping[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


def _same(a: str, b: str | None) -> bool:
    return b is not None and hmac.compare_digest(a.encode(), b.encode())


def twilio_gone(call_sid: str) -> RestAnswer:
    return RestAnswer(404, {"code": 20404, "status": 404, "more_info":
                            "https://www.twilio.com/docs/errors/20404",
                            "message": f"The requested resource /Calls/{call_sid}.json "
                                       "was not found"})


def twilio_done(account_sid: str, call_sid: str) -> RestAnswer:
    return RestAnswer(200, {"sid": call_sid, "account_sid": account_sid,
                            "status": "completed", "api_version": "2010-04-01"})


def telnyx_gone() -> RestAnswer:
    return RestAnswer(422, {"errors": [{"code": "90018", "title": "Call has already ended",
                                        "detail": "This call is no longer active and can't "
                                                  "receive commands."}]})


def telnyx_done() -> RestAnswer:
    return RestAnswer(200, {"data": {"result": "ok"}})


def rest_request(method: str, path: str, headers: Mapping[str, str], body: bytes, *,
                 prefix: str, twilio_secret: Secrets,
                 telnyx_secret: Secrets) -> RestHangup | RestAnswer:
    """Route one request under ``prefix``; ``headers`` keys lower-case. A ``RestHangup`` only
    for a request with the right credentials (a 401 otherwise, like the providers)."""
    prefix = prefix.rstrip("/")
    if not path.startswith(prefix + "/"):
        return RestAnswer(404, {"message": "not found"})
    path = path[len(prefix):]
    if (m := _TWILIO.match(path)) is not None:
        if method != "POST":
            return RestAnswer(405, {"code": 20004, "message": "Method not allowed"})
        account, call_sid = m["ac"], m["ca"]
        creds = _basic(headers)
        if creds is None or creds[0] != account or not _same(creds[1], twilio_secret(account)):
            return RestAnswer(401, {"code": 20003, "status": 401, "message": "Authenticate"})
        form = parse_qs(body.decode("utf-8", "replace"))
        status = form.get("Status", [""])[0]
        if status not in ("completed", "canceled"):
            return RestAnswer(400, {"code": 21218, "status": 400,
                                    "message": f"Invalid Status {status!r}: callport serves "
                                               "only Status=completed (hang up)"})
        return RestHangup("twilio", call_sid)
    if (m := _TELNYX.match(path)) is not None:
        if method != "POST":
            return RestAnswer(405, {"errors": [{"code": "10015", "title": "Bad method"}]})
        call_id = m["id"]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _same(token, telnyx_secret(call_id)):
            return RestAnswer(401, {"errors": [{"code": "10009",
                                                "title": "Authentication failed"}]})
        return RestHangup("telnyx", call_id)
    return RestAnswer(404, {"message": "not found"})
