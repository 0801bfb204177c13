#!/usr/bin/env python3
"""Validate a recorded media-stream conversation: Twilio Media Streams, Telnyx media streaming
or ConversationRelay (Twilio's; Telnyx's speaks the same messages), offline, stdlib only.

Input is JSON Lines, one message per line, each saying who sent it::

    {"from": "provider", "message": {"event": "connected", "protocol": "Call", "version": "1.0.0"}}
    {"from": "app", "message": {"event": "mark", "streamSid": "MZ...", "mark": {"name": "m1"}}}

It checks each message's fields and types against the documented schema (references/
twilio-media-streams.md, telnyx-media-streaming.md, twilio-conversationrelay.md) and the
conversation's order: ``connected`` then ``start`` first (``setup`` for ConversationRelay),
sequence numbers counting up by one, one ``streamSid``, nothing from the provider after
``stop``, no WAV header inside outbound ``payload``, mark echoes only for marks the app sent.
It also reports what the caller heard: a mark echoed after a ``clear`` was NOT played.

``--protocol`` defaults to a guess from the first provider message. Exit status: 0 valid,
1 errors found (listed), 2 unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[Any], bool]


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_digits(v: Any) -> bool:
    return isinstance(v, str) and v.isdigit()  # Twilio/Telnyx send counters as strings


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_obj(v: Any) -> bool:
    return isinstance(v, dict)


def is_b64(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def one_of(*values: Any) -> Check:
    return lambda v: v in values


def is_digit_key(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 1 and v in "0123456789*#ABCD"


def is_interruptible(v: Any) -> bool:
    return isinstance(v, bool) or v in ("none", "dtmf", "speech", "any")


# (protocol, sender, event) -> {dotted field: check}; a field ending in "?" is optional.
T, X, R = "twilio", "telnyx", "relay"
SCHEMAS: dict[tuple[str, str, str], dict[str, Check]] = {
    (T, "provider", "connected"): {"protocol": one_of("Call"), "version": is_str},
    (T, "provider", "start"): {
        "sequenceNumber": is_digits, "streamSid": is_str, "start": is_obj,
        "start.accountSid": is_str, "start.streamSid": is_str, "start.callSid": is_str,
        "start.tracks": lambda v: isinstance(v, list) and set(v) <= {"inbound", "outbound"},
        "start.customParameters": is_obj, "start.mediaFormat.encoding": one_of("audio/x-mulaw"),
        "start.mediaFormat.sampleRate": one_of(8000), "start.mediaFormat.channels": one_of(1)},
    (T, "provider", "media"): {
        "sequenceNumber": is_digits, "streamSid": is_str,
        "media.track": one_of("inbound", "outbound"), "media.chunk": is_digits,
        "media.timestamp": is_digits, "media.payload": is_b64},
    (T, "provider", "dtmf"): {"sequenceNumber": is_digits, "streamSid": is_str,
                              "dtmf.track": is_str, "dtmf.digit": is_digit_key},
    (T, "provider", "mark"): {"sequenceNumber": is_digits, "streamSid": is_str,
                              "mark.name": is_str},
    (T, "provider", "stop"): {"sequenceNumber": is_digits, "streamSid": is_str,
                              "stop.accountSid": is_str, "stop.callSid": is_str},
    (T, "app", "media"): {"streamSid": is_str, "media.payload": is_b64},
    (T, "app", "mark"): {"streamSid": is_str, "mark.name": is_str},
    (T, "app", "clear"): {"streamSid": is_str},
    (X, "provider", "connected"): {"version": is_str},
    (X, "provider", "start"): {
        "sequence_number": is_digits, "stream_id": is_str, "start.call_control_id": is_str,
        "start.media_format.encoding": is_str, "start.media_format.sample_rate": is_int,
        "start.media_format.channels": is_int},
    (X, "provider", "media"): {
        "sequence_number": is_digits, "stream_id": is_str, "media.track?": is_str,
        "media.chunk": is_digits, "media.timestamp": is_digits, "media.payload": is_b64},
    (X, "provider", "dtmf"): {"stream_id": is_str, "dtmf.digit": is_digit_key},
    (X, "provider", "mark"): {"stream_id": is_str, "mark.name": is_str},
    (X, "provider", "error"): {"stream_id?": is_str},
    (X, "provider", "stop"): {"stream_id": is_str},
    (X, "app", "media"): {"media.payload": is_b64},
    (X, "app", "mark"): {"mark.name": is_str},
    (X, "app", "clear"): {},
    (R, "provider", "setup"): {"sessionId": is_str, "callSid": is_str, "from": is_str,
                               "to": is_str, "customParameters?": is_obj},
    (R, "provider", "prompt"): {"voicePrompt": is_str, "lang?": is_str, "last": is_bool},
    (R, "provider", "dtmf"): {"digit": is_digit_key},
    (R, "provider", "interrupt"): {"utteranceUntilInterrupt": is_str,
                                   "durationUntilInterruptMs": is_int},
    (R, "provider", "error"): {"description": is_str},
    (R, "app", "text"): {"token": is_str, "last": is_bool, "lang?": is_str,
                         "interruptible?": is_interruptible, "preemptible?": is_bool},
    (R, "app", "play"): {"source": is_str, "loop?": is_int, "interruptible?": is_interruptible,
                         "preemptible?": is_bool},
    (R, "app", "sendDigits"): {"digits": lambda v: isinstance(v, str) and bool(v)},
    (R, "app", "language"): {"ttsLanguage?": is_str, "transcriptionLanguage?": is_str},
    (R, "app", "end"): {"handoffData?": is_str},
}


def lookup(msg: dict[str, Any], path: str) -> tuple[bool, Any]:
    cur: Any = msg
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


@dataclass
class Report:
    protocol: str
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    marks_played: list[str] = field(default_factory=list)
    marks_cleared: list[str] = field(default_factory=list)


def guess_protocol(first: dict[str, Any]) -> str:
    if "type" in first and "event" not in first:
        return R
    if first.get("event") == "connected" and first.get("protocol") == "Call":
        return T
    if "stream_id" in first or first.get("event") == "connected":
        return X
    return T if "streamSid" in first else X


def validate(lines: list[tuple[str, dict[str, Any]]], protocol: str = "") -> Report:
    provider_msgs = [m for who, m in lines if who == "provider"]
    protocol = protocol or (guess_protocol(provider_msgs[0]) if provider_msgs else T)
    rep = Report(protocol)
    kind_key = "type" if protocol == R else "event"
    seq_key = "sequenceNumber" if protocol == T else "sequence_number"
    sid_key = "streamSid" if protocol == T else "stream_id"
    last_seq = 0
    sid: str | None = None
    started = stopped = False
    pending: dict[str, bool] = {}  # mark name -> cleared before its echo
    for n, (who, msg) in enumerate(lines, 1):
        kind = msg.get(kind_key)
        where = f"line {n} ({who} {kind or '?'})"
        rep.counts[f"{who}:{kind}"] = rep.counts.get(f"{who}:{kind}", 0) + 1
        schema = SCHEMAS.get((protocol, who, str(kind)))
        if schema is None:
            rep.errors.append(f"{where}: not a {protocol} message the {who} sends")
            continue
        for path, ok in schema.items():
            optional = path.endswith("?")
            present, value = lookup(msg, path.rstrip("?"))
            if not present:
                if not optional:
                    rep.errors.append(f"{where}: missing {path}")
            elif not ok(value):
                rep.errors.append(f"{where}: bad {path.rstrip('?')}: {value!r}")
        if protocol == R:
            if n == 1 and kind != "setup":
                rep.errors.append(f"{where}: the first message must be setup")
            continue
        if who == "provider":
            if stopped:
                rep.errors.append(f"{where}: the provider sent this after stop")
            if kind == "connected":
                if started:
                    rep.errors.append(f"{where}: connected after start")
                continue
            if not started and kind != "start":
                rep.errors.append(f"{where}: sent before start")
            if kind == "start":
                started = True
                sid = msg.get(sid_key)
                inner = msg.get("start", {}).get("streamSid")
                if protocol == T and inner is not None and inner != sid:
                    rep.errors.append(f"{where}: start.streamSid differs from streamSid")
            elif msg.get(sid_key) is not None and msg.get(sid_key) != sid:
                rep.errors.append(f"{where}: {sid_key} {msg.get(sid_key)!r} is not the start's")
            seq = msg.get(seq_key)
            if isinstance(seq, str) and seq.isdigit():
                if last_seq and int(seq) != last_seq + 1:
                    rep.errors.append(f"{where}: {seq_key} {seq} after {last_seq} (lost or "
                                      "reordered messages)")
                last_seq = int(seq)
            if kind == "mark":
                name = msg.get("mark", {}).get("name")
                if name not in pending:
                    rep.errors.append(f"{where}: echo of mark {name!r} the app never sent")
                else:
                    (rep.marks_cleared if pending.pop(name) else rep.marks_played).append(name)
            if kind == "stop":
                stopped = True
        else:
            if not started:
                rep.errors.append(f"{where}: sent before the provider's start")
            if protocol == T and msg.get(sid_key) != sid:
                rep.errors.append(f"{where}: streamSid {msg.get(sid_key)!r} is not the start's")
            if kind == "media":
                payload = msg.get("media", {}).get("payload", "")
                if is_b64(payload) and base64.b64decode(payload)[:4] in (b"RIFF", b".snd"):
                    rep.errors.append(f"{where}: payload has a WAV/AU header; send raw audio")
            elif kind == "mark":
                name = msg.get("mark", {}).get("name")
                if name in pending:
                    rep.errors.append(f"{where}: mark name {name!r} reused while pending")
                pending[str(name)] = False
            elif kind == "clear":
                pending = dict.fromkeys(pending, True)
    return rep


def read_jsonl(path: str, default_from: str) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if isinstance(item, dict) and "message" in item:
                who, msg = item.get("from", default_from), item["message"]
            else:
                who, msg = default_from, item
            if who not in ("provider", "app") or not isinstance(msg, dict):
                raise ValueError(f"line {n}: need {{'from': 'provider'|'app', 'message': {{...}}}}")
            out.append((who, msg))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="validate a recorded media-stream conversation")
    p.add_argument("jsonl", help="one message per line")
    p.add_argument("--protocol", choices=[T, X, R], default="")
    p.add_argument("--from", dest="default_from", choices=["provider", "app"],
                   default="provider", help="sender of lines that do not say")
    args = p.parse_args(argv)
    try:
        lines = read_jsonl(args.jsonl, args.default_from)
    except (OSError, ValueError) as exc:
        print(f"validate_stream_messages: {exc}", file=sys.stderr)
        return 2
    rep = validate(lines, args.protocol)
    print(json.dumps({"protocol": rep.protocol, "ok": not rep.errors, "errors": rep.errors,
                      "counts": rep.counts, "marks_played": rep.marks_played,
                      "marks_cleared_not_played": rep.marks_cleared}, indent=2))
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main())
