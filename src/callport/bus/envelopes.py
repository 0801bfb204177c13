"""The bus's messages as typed dataclasses, encoded as JSON and validated when decoded.

Everything read from Redis is outside input: :func:`decode` returns a typed envelope or
raises :class:`BadMessage` (the bus drops and counts it), never anything half-checked.

- :class:`EventMessage`: a live event from ``node`` (``event``: the event's JSON object,
  ``callport.server.events.event_json``; the server decodes it further).
- :class:`Command`: ``action`` on ``call_id`` for the node that owns it, ``args`` (short
  strings), answered on ``reply_to``'s channel with the same ``id``.
- :class:`Reply`: ``ok``, else ``status`` (an HTTP status: 404 no such call, 409 refused) and
  ``error``; ``data``: short strings the action returns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from callport.safejson import JsonRejected, loads_object

__all__ = ["ACTIONS", "MAX_BYTES", "BadMessage", "Command", "Envelope", "EventMessage",
           "Reply", "decode", "encode"]

ACTIONS = ("hangup", "transfer", "hold", "resume")  # what a node does for another's console
MAX_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a node id (config_server.valid_node_id)
_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_MAX_CALL_ID = 256
_MAX_ARGS = 8
_MAX_TEXT = 2048


class BadMessage(ValueError):
    """A bus message that is not one of ours (malformed, too big, wrong types)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMessage:
    node: str
    event: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    id: str
    node: str  # the sender, who waits for the reply
    call_id: str
    action: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    id: str
    node: str  # the node that carried the command out
    ok: bool
    status: int = 200
    error: str = ""
    data: dict[str, str] = field(default_factory=dict)


Envelope = EventMessage | Command | Reply


def encode(message: Envelope) -> str:
    if isinstance(message, EventMessage):
        body: dict[str, Any] = {"kind": "event", "node": message.node, "event": message.event}
    elif isinstance(message, Command):
        body = {"kind": "command", "id": message.id, "node": message.node,
                "call_id": message.call_id, "action": message.action, "args": message.args}
    else:
        body = {"kind": "reply", "id": message.id, "node": message.node, "ok": message.ok,
                "status": message.status, "error": message.error, "data": message.data}
    return json.dumps(body, separators=(",", ":"))


def decode(raw: str | bytes) -> Envelope:
    """The envelope ``raw`` carries; :class:`BadMessage` for anything else."""
    if len(raw) > MAX_BYTES:
        raise BadMessage(f"message of {len(raw)} bytes (at most {MAX_BYTES})")
    try:
        body = loads_object(raw)
    except (JsonRejected, ValueError) as exc:
        raise BadMessage(f"not a JSON object: {exc}") from None
    kind = body.get("kind")
    node = _name(body.get("node"), "node")
    if kind == "event":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("call_id"), str):
            raise BadMessage("event: an object with a call_id")
        return EventMessage(node=node, event=event)
    if kind == "command":
        action = body.get("action")
        if action not in ACTIONS:
            raise BadMessage(f"command: unknown action {action!r}")
        return Command(id=_id(body.get("id")), node=node, call_id=_call_id(body.get("call_id")),
                       action=str(action), args=_strings(body.get("args", {}), "args"))
    if kind == "reply":
        ok, status, error = body.get("ok"), body.get("status", 200), body.get("error", "")
        if not isinstance(ok, bool) or type(status) is not int or not 100 <= status <= 599:
            raise BadMessage("reply: ok (true/false) and an HTTP status")
        if not isinstance(error, str) or len(error) > _MAX_TEXT:
            raise BadMessage("reply: error must be a short string")
        return Reply(id=_id(body.get("id")), node=node, ok=ok, status=status, error=error,
                     data=_strings(body.get("data", {}), "data"))
    raise BadMessage(f"unknown kind {kind!r}")


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise BadMessage(f"{what}: not a node id")
    return value


def _id(value: object) -> str:
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise BadMessage("id: 8-64 letters, digits, '_' or '-'")
    return value


def _call_id(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_CALL_ID:
        raise BadMessage("call_id: a non-empty string")
    return value


def _strings(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > _MAX_ARGS:
        raise BadMessage(f"{what}: an object of at most {_MAX_ARGS} strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str) or len(k) > 64 or len(v) > _MAX_TEXT:
            raise BadMessage(f"{what}: short string values only")
        out[k] = v
    return out
