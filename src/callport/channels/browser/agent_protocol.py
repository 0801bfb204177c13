"""The agent page's control messages (``/agent/ws``), sans-IO: parse what the page sends into
typed events, format what the server sends.

One JSON object per WebSocket text message, with a ``type``.

Page -> server: ``away`` (``{"away": bool}``: the agent steps away or is back), ``answer`` /
``decline`` (``{"id"}``: the offer shown), ``hold`` (``{"held": bool}``: put the caller on hold,
they hear music, or take them off), ``transfer`` (``{"target"}``: a number, a ``sip:`` URI or
``queue:NAME``), ``ping``. Anything else, or a malformed message, is a ``PageMistake``: the
server answers ``error`` and the page stays connected.

Server -> page: ``hello`` (who is signed in, their queues), ``state`` (``available``,
``away``, ``ringing``, ``busy``, ``wrap-up``; ``until`` for wrap-up, in seconds), ``offer``
(the caller's identity, the queue, the AI's summary, the transcript so far, how long they
waited, how long it rings), ``offer-gone`` (``{"id", "reason"}``: answered on another page,
rang out, the caller left), ``connected`` / ``ended`` (the call's media), ``result``
(``{"action", "ok", "detail"}`` for hold and transfer), ``pong``, ``error``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: this core loads no asyncio
    from callport.queues.reach import Offer

MAX_TEXT = 2048
MAX_TARGET = 200


@dataclass(frozen=True, slots=True)
class PageEvent:
    """Base of what the agent page asks for."""


@dataclass(frozen=True, slots=True)
class SetAway(PageEvent):
    away: bool


@dataclass(frozen=True, slots=True)
class AnswerOffer(PageEvent):
    offer_id: str


@dataclass(frozen=True, slots=True)
class DeclineOffer(PageEvent):
    offer_id: str


@dataclass(frozen=True, slots=True)
class HoldCaller(PageEvent):
    held: bool


@dataclass(frozen=True, slots=True)
class PauseRecording(PageEvent):
    """Pause (or resume) the caller's call recording (``callport.recording``)."""

    paused: bool


@dataclass(frozen=True, slots=True)
class TransferCaller(PageEvent):
    target: str


@dataclass(frozen=True, slots=True)
class Ping(PageEvent):
    pass


@dataclass(frozen=True, slots=True)
class PageMistake(PageEvent):
    reason: str


def parse(text: str) -> PageEvent:
    """One message from the page; never raises."""
    if len(text) > MAX_TEXT:
        return PageMistake("message too long")
    try:
        msg = json.loads(text)
    except ValueError:
        return PageMistake("not JSON")
    if not isinstance(msg, dict):
        return PageMistake("not a JSON object")
    kind = msg.get("type")
    match kind:
        case "away" if isinstance(msg.get("away"), bool):
            return SetAway(msg["away"])
        case "answer" | "decline" if _is_id(msg.get("id")):
            return AnswerOffer(msg["id"]) if kind == "answer" else DeclineOffer(msg["id"])
        case "hold" if isinstance(msg.get("held"), bool):
            return HoldCaller(msg["held"])
        case "recording" if isinstance(msg.get("paused"), bool):
            return PauseRecording(msg["paused"])
        case "transfer":
            target = msg.get("target")
            if isinstance(target, str) and 0 < len(target.strip()) <= MAX_TARGET:
                return TransferCaller(target.strip())
            return PageMistake("transfer needs a target (number, sip: URI or queue:NAME)")
        case "ping":
            return Ping()
        case _:
            return PageMistake(f"unknown or incomplete message {str(kind)[:40]!r}")


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isalnum()


def _dump(msg: dict[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False)


def hello(*, name: str, display_name: str, queues: tuple[str, ...], sip_realm: str) -> str:
    return _dump({"type": "hello", "agent": {"name": name, "display_name": display_name},
                  "queues": list(queues), "sip_realm": sip_realm})


def state(state_name: str, *, until_s: float = 0.0, call: str = "") -> str:
    msg: dict[str, Any] = {"type": "state", "state": state_name}
    if until_s > 0:
        msg["until_s"] = round(until_s, 1)
    if call:
        msg["call"] = call
    return _dump(msg)


def offer(offer_id: str, o: Offer, *, ring_s: float) -> str:
    info = o.caller
    user = info.user if info.user is not None and not info.user.guest else None
    return _dump({
        "type": "offer", "id": offer_id, "call_id": o.call_id, "queue": o.queue,
        "caller": {"number": info.caller, "channel": info.channel,
                   "name": user.spoken_name if user else "", "user": user.name if user else ""},
        "summary": o.summary, "transcript": [[who, text] for who, text in o.transcript],
        "waited_s": round(o.waited_s, 1), "callback": o.callback, "ring_s": ring_s,
    })


def offer_gone(offer_id: str, reason: str) -> str:
    return _dump({"type": "offer-gone", "id": offer_id, "reason": reason})


def connected(offer_id: str) -> str:
    return _dump({"type": "connected", "id": offer_id})


def ended(offer_id: str, reason: str) -> str:
    return _dump({"type": "ended", "id": offer_id, "reason": reason})


def result(action: str, *, ok: bool, detail: str = "") -> str:
    return _dump({"type": "result", "action": action, "ok": ok, "detail": detail})


def pong() -> str:
    return _dump({"type": "pong"})


def error(message: str) -> str:
    return _dump({"type": "error", "message": message})
