"""Hostile JSON at every edge: nesting, huge integers, NaN. Never an exception past a parser,
never a dropped call for one bad frame, a 400 with a clear error over HTTP.

Before ``callport.safejson``: one 4 kB ``[[[[`` frame raised ``RecursionError`` out of the
Twilio core and dropped the live call; a 5,000-digit integer raised ``ValueError`` past the
``JSONDecodeError`` handlers (HTTP 500s at /login, /api/tasks, /browser/offer, /api/calls).
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from server_support import BASE, JSON_ORIGIN, add_user, api_token, client_of, runtime_at

from callport import safejson
from callport.agents.base import CallInfo
from callport.call.events import AudioIn
from callport.call.leg import Leg
from callport.channels.browser.protocol import BrowserProtocol, ProtocolError
from callport.channels.media_stream import Admission, run_media_stream
from callport.channels.provider import StreamViolation, WebhookRejected
from callport.channels.telnyx.media import TelnyxMediaCore
from callport.channels.telnyx.webhook import parse_event
from callport.channels.twilio.media import TwilioMediaCore

NESTED = "[" * 4000
NESTED_OBJ = '{"a":' * 600 + "1" + "}" * 600
HUGE_INT = '{"event": "media", "sequenceNumber": ' + "9" * 5000 + "}"  # past int()'s 4300
LONG_INT = '{"type": "ping", "n": ' + "9" * 4000 + "}"  # within the browser's 4096 characters
HOSTILE = [NESTED, NESTED_OBJ, HUGE_INT, '{"x": NaN}', '{"x": 1e999}', "[" * 40 + "]" * 40,
           '{"event": "start", "sequenceNumber": "\u00b2"}']

TWILIO_START = json.dumps({
    "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
    "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {},
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


def twilio_media(seq: int) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": "MZ1",
                       "media": {"track": "inbound", "chunk": str(seq), "timestamp": str(seq * 20),
                                 "payload": base64.b64encode(b"\xff" * 160).decode()}})


# ---- the loader ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE[:6])
def test_the_loader_refuses_with_one_error_type(text: str) -> None:
    with pytest.raises(safejson.JsonRejected) as caught:
        safejson.loads(text)
    assert text[:30] not in caught.value.reason or len(text) < 30  # never echoes the input


def test_the_loader_parses_ordinary_json_and_brackets_inside_strings() -> None:
    assert safejson.loads('{"a": [1, 2.5, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]}') == {
        "a": [1, 2.5, "[" * 40]}
    assert safejson.loads(b'{"n": -12345678901234567890}') == {"n": -12345678901234567890}
    with pytest.raises(safejson.JsonRejected):
        safejson.loads("x" * 100, max_length=10)
    with pytest.raises(safejson.JsonRejected, match="object"):
        safejson.loads_object("[1]")


# ---- WebSocket cores: a violation, never an exception ------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_twilio_frames_become_violations(text: str) -> None:
    core = TwilioMediaCore()
    core.receive_text(TWILIO_START)
    events = core.receive_text(text)
    assert all(isinstance(e, StreamViolation) and not e.fatal for e in events), events


@pytest.mark.parametrize("text", HOSTILE)
def test_telnyx_frames_become_violations(text: str) -> None:
    events = TelnyxMediaCore().receive_text(text)
    assert all(isinstance(e, StreamViolation) for e in events), events


@pytest.mark.parametrize("text", [NESTED, NESTED_OBJ, LONG_INT, *HOSTILE[3:]])
def test_browser_frames_are_protocol_errors_that_do_not_end_the_call(text: str) -> None:
    core = BrowserProtocol()
    core.receive_text('{"type": "start"}', 0.0)
    events = core.receive_text(text, 0.1)
    assert events and all(isinstance(e, ProtocolError) and not e.fatal for e in events), events


def test_a_telnyx_chunk_numbered_a_million_does_not_build_a_million_frame_gap() -> None:
    core = TelnyxMediaCore()
    core.receive_text(json.dumps({"event": "start", "sequence_number": "1", "stream_id": "s",
                                  "start": {"call_control_id": "c",
                                            "media_format": {"encoding": "PCMU",
                                                             "sample_rate": 8000}}}))
    payload = base64.b64encode(b"\xff" * 160).decode()
    out = []
    for chunk in (1, *range(10**6, 10**6 + 6)):
        out += core.receive_text(json.dumps({"event": "media", "sequence_number": str(chunk),
                                             "media": {"chunk": str(chunk), "payload": payload}}))
    out += core.receive_text(json.dumps({"event": "media", "media": {"chunk": str(2 * 10**6),
                                                                      "payload": payload}}))
    out += core.receive_text('{"event": "stop", "sequence_number": "99"}')
    assert len(out) < 200  # 1 s of concealment per gap at most, not 10**6 silent frames


def test_a_telnyx_webhook_with_hostile_json_is_a_400_rejection() -> None:
    for text in HOSTILE[:4]:
        with pytest.raises(WebhookRejected) as caught:
            parse_event(text.encode())
        assert caught.value.status_hint == 400


# ---- a live call survives one bad frame ----------------------------------------------------------


async def test_a_nested_frame_mid_call_does_not_drop_the_twilio_call() -> None:
    frames: asyncio.Queue[str | None] = asyncio.Queue()
    for frame in ('{"event": "connected"}', TWILIO_START, twilio_media(2), NESTED, HUGE_INT,
                  twilio_media(3)):
        frames.put_nowait(frame)
    heard: list[AudioIn] = []
    violations: list[StreamViolation] = []
    closed: list[int] = []

    async def run_call(leg: Leg, info: CallInfo) -> None:
        while len(heard) < 2:
            event = await leg.recv()
            if isinstance(event, AudioIn):
                heard.append(event)
        frames.put_nowait(None)  # the caller heard both frames: end the socket

    async def send_text(text: str) -> None:
        pass

    async def close_socket(code: int) -> None:
        closed.append(code)

    def admit(start: object, connected: object) -> Admission:
        return Admission(info=CallInfo(call_id="c1", channel="twilio"))

    leg = await asyncio.wait_for(run_media_stream(
        receive=frames.get, send_text=send_text, close_socket=close_socket,
        core=TwilioMediaCore(), admit=admit, run_call=run_call,  # type: ignore[arg-type]
        on_violation=violations.append), 10)
    assert leg is not None and len(heard) == 2  # audio after the junk still reached the call
    assert len(violations) >= 2 and not any(v.fatal for v in violations)
    assert 1002 not in closed


# ---- HTTP: 400 with a clear error, never a 500 ---------------------------------------------------


def test_http_endpoints_answer_hostile_json_with_400(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path, env={"CALLPORT_TWILIO_AUTH_TOKEN": "f" * 32,
                                        "CALLPORT_TWILIO_CALLS_API_TOKEN": "s" * 32})
    add_user(runtime, "root", password="correct horse battery", roles=("admin",))
    token = api_token(runtime, "root")
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    plain = {"Content-Type": "application/json", **JSON_ORIGIN}
    with client_of(runtime) as client:
        for body in (NESTED, NESTED_OBJ, '{"title": ' + "9" * 5000 + "}", '{"x": NaN}'):
            for path, headers in (("/api/tasks", bearer), ("/api/tasks/", bearer),
                                  ("/login", plain), ("/api/me/password", bearer),
                                  ("/browser/offer", plain), ("/api/calls", bearer),
                                  ("/twilio/calls", {**bearer,
                                                     "Authorization": "Bearer " + "s" * 32})):
                reply = client.post(BASE + path, content=body, headers=headers)
                assert reply.status_code == 400, (path, body[:20], reply.status_code,
                                                  reply.text[:200])
                assert "error" in reply.json()


def test_post_api_tasks_without_the_slash_is_served_not_redirected(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    add_user(runtime, "alice")
    headers = {"Authorization": f"Bearer {api_token(runtime, 'alice')}"}
    with client_of(runtime) as client:
        made = client.post("/api/tasks", json={"title": "buy milk"}, headers=headers,
                           follow_redirects=False)
        assert made.status_code == 201, (made.status_code, made.headers.get("location"))
        listed = client.get("/api/tasks", headers=headers, follow_redirects=False)
        assert listed.status_code == 200
        assert [t["title"] for t in listed.json()] == ["buy milk"]
        one = client.get(f"/api/tasks/{made.json()['id']}", headers=headers)
        assert one.status_code == 200


def test_bad_input_is_counted_always_and_logged_a_few_times_a_window() -> None:
    from callport.edgelog import EdgeLog

    edge = EdgeLog(per_key=3, window_s=60.0, max_keys=4)
    allowed = [edge.report("twilio", "malformed", now=float(i) / 100)[0] for i in range(1000)]
    assert allowed.count(True) == 3 and edge.counts[("twilio", "malformed")] == 1000
    again, suppressed = edge.report("twilio", "malformed", now=61.0)  # the next window
    assert again and suppressed == 997
    for i in range(50):  # a flood of kinds: bounded keys
        edge.report("twilio", f"kind-{i}", now=70.0)
    assert len(edge.counts) <= 5
    assert 'callport_edge_events_total{channel="twilio",kind="malformed"} 1001' in edge.render()
