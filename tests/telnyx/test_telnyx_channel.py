"""The Telnyx channel end to end against a simulated Telnyx: signed webhooks, REST stand-in
(httpx.MockTransport asserting exact requests), media WebSocket with an echo call flow."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect
from telnyx_channel_sim import CCID, NOW, Sim, make_sim
from telnyx_sim import Signer, connected_frame, event_body, media_frame, start_frame

from callport.agents.base import CallInfo
from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.call.events import AudioIn, Dtmf, HungUp, Marked
from callport.channels.telnyx import tokens


@pytest.fixture
def sim() -> Sim:
    return make_sim()


def test_wrong_signature_gets_403_and_starts_nothing(sim: Sim) -> None:
    body = event_body("call.initiated", CCID, direction="incoming")
    r = sim.post(body, signer=Signer())
    assert r.status_code == 403
    headers = sim.signer.headers(body, timestamp=NOW)
    r = sim.client.post("/telnyx/webhook", content=body.replace(b"incoming", b"outgoing"),
                        headers=headers)
    assert r.status_code == 403
    assert sim.api.requests == [] and len(sim.channel.book) == 0


def test_stale_timestamp_gets_403(sim: Sim) -> None:
    r = sim.post(event_body("call.initiated", CCID, direction="incoming"), timestamp=NOW - 301)
    assert r.status_code == 403
    assert sim.api.requests == []


def test_signed_garbage_gets_400(sim: Sim) -> None:
    assert sim.post(b'{"data": {}}').status_code == 400
    assert sim.api.requests == []


def test_answer_carries_stream_settings_and_our_call_id(sim: Sim) -> None:
    answer = sim.ring()
    assert answer["stream_url"] == "wss://gw.example/telnyx/media"
    assert answer["stream_bidirectional_mode"] == "rtp"
    assert answer["stream_codec"] == "PCMU"
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    assert call_id.startswith("tx-")
    assert answer["stream_auth_token"] == sim.channel.stream_token(call_id, CCID)
    grant = tokens.check(tokens.stream_secret(sim.runner.settings.telnyx), call_id=call_id,
                         token=str(answer["stream_auth_token"]), provider_call_id=CCID, now=NOW)
    assert grant is not None and grant.expires_at == NOW + 120  # telnyx.token_ttl_s
    # a retried webhook for the same call does not answer twice
    sim.post(event_body("call.initiated", CCID, direction="incoming"))
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/answer"]


def tone(n: int, rate: int, k: int) -> np.ndarray:
    t = np.arange(n) + k * n
    return (np.sin(2 * np.pi * 440 * t / rate) * 6000).astype(np.int16)


def collect_media(ws: object, count: int) -> list[bytes]:
    out: list[bytes] = []
    marks: list[str] = []
    while len(out) < count:
        msg = json.loads(ws.receive_text())  # type: ignore[attr-defined]
        if msg["event"] == "media":
            out.append(base64.b64decode(msg["media"]["payload"]))
        elif msg["event"] == "mark":
            marks.append(msg["mark"]["name"])
    return out


@pytest.mark.parametrize(("codec", "rate"), [("PCMU", 8000), ("L16", 16000)])
def test_call_end_to_end_with_out_of_order_frames(codec: str, rate: int) -> None:
    sim = make_sim(codec)
    answer = sim.ring()
    assert answer["stream_codec"] == codec
    assert answer["stream_bidirectional_sampling_rate"] == rate
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    token = str(answer["stream_auth_token"])
    n = rate // 50
    pcm = [tone(n, rate, k) for k in range(10)]
    wire = [ulaw_encode(p) if codec == "PCMU" else p.astype(">i2").tobytes() for p in pcm]
    order = [0, 2, 1, 3, 4, 6, 5, 7, 9, 8]  # swapped pairs, as Telnyx may deliver them
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(token))
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding=codec, rate=rate))
        for k in order:
            ws.send_text(media_frame(k + 1, wire[k]))
        echoed = collect_media(ws, 8)  # the last two stay held until stop or more frames
        ws.send_text(json.dumps({"event": "stop", "sequence_number": "20", "stream_id": "st-1"}))
        echoed += collect_media(ws, 2)
    # the caller's audio came back in the original order, through the codec both ways
    for k, payload in enumerate(echoed):
        back = ulaw_decode(payload) if codec == "PCMU" else np.frombuffer(payload, ">i2")
        src = ulaw_decode(wire[k]) if codec == "PCMU" else pcm[k]
        np.testing.assert_array_equal(back, src)
    assert sim.runner.infos == [CallInfo(call_id=call_id, channel="telnyx",
                                         caller="+15550001111", callee="+15550002222",
                                         direction="inbound")]
    audio = [e for e in sim.runner.events if isinstance(e, AudioIn)]
    assert [round(e.at, 3) for e in audio] == [round(0.02 * (k + 1), 3) for k in range(10)]
    assert isinstance(sim.runner.events[-1], HungUp)
    # stream stopped, Telnyx never said the call ended: we hung up (once)
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/answer",
                             f"/v2/calls/{CCID}/actions/hangup"]


def test_hangup_after_the_caller_left_is_success(sim: Sim) -> None:
    answer = sim.ring()
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    sim.api.hangup_status = 422  # Telnyx: 90018 "Call has already ended"
    with sim.client.websocket_connect(
        "/telnyx/media", headers={"x-telnyx-streaming-auth-token": str(answer["stream_auth_token"])}
    ) as ws:
        ws.send_text(connected_frame())
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU", rate=8000))
        ws.send_text(media_frame(1, b"\xff" * 160))
        collect_media(ws, 1)
    # the socket dropped (caller gone); our hang-up got 422/90018 and counts as success
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/answer",
                             f"/v2/calls/{CCID}/actions/hangup"]
    call = sim.channel.book.get(call_id)
    assert call is not None and call.ended_at is not None


def test_call_hangup_webhook_ends_the_leg_without_a_rest_hangup(sim: Sim) -> None:
    answer = sim.ring()
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(str(answer["stream_auth_token"])))
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU", rate=8000))
        ws.send_text(media_frame(1, b"\xff" * 160))
        collect_media(ws, 1)
        r = sim.post(event_body("call.hangup", CCID, client_state=call_id,
                                hangup_cause="normal_clearing", hangup_source="caller"))
        assert r.status_code == 200
        with pytest.raises(WebSocketDisconnect):
            while True:
                ws.receive_text()
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/answer"]
    assert isinstance(sim.runner.events[-1], HungUp)


def test_agent_hangup_and_dtmf_and_marks(sim: Sim) -> None:
    answer = sim.ring()
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(str(answer["stream_auth_token"])))
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU", rate=8000))
        for k in range(5):
            ws.send_text(media_frame(k + 1, b"\xff" * 160))
        sent = [json.loads(ws.receive_text()) for _ in range(6)]
        assert [m["event"] for m in sent] == ["media"] * 5 + ["mark"]
        ws.send_text(json.dumps({"event": "mark", "sequence_number": "9", "stream_id": "st-1",
                                 "mark": {"name": sent[-1]["mark"]["name"]}}))
        ws.send_text(json.dumps({"event": "dtmf", "sequence_number": "10", "stream_id": "st-1",
                                 "dtmf": {"digit": "#"}}))
        with pytest.raises(WebSocketDisconnect):
            while True:
                ws.receive_text()
    assert Marked("echo-5", played=True) in sim.runner.events
    assert Dtmf("#", at=0.1) in sim.runner.events
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/answer",
                             f"/v2/calls/{CCID}/actions/hangup"]


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_stream_with_a_bad_token_is_refused(sim: Sim, token: str) -> None:
    answer = sim.ring()
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(token))
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU", rate=8000))
        with pytest.raises(WebSocketDisconnect) as err:
            ws.receive_text()
        assert err.value.code == 1008
    assert sim.runner.infos == []


def test_a_token_admits_one_stream_only(sim: Sim) -> None:
    answer = sim.ring()
    call_id = base64.b64decode(str(answer["client_state"])).decode()
    token = str(answer["stream_auth_token"])
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(token))
        ws.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU", rate=8000))
        with sim.client.websocket_connect("/telnyx/media") as ws2:
            ws2.send_text(connected_frame(token))
            ws2.send_text(start_frame(ccid=CCID, client_state=call_id, encoding="PCMU",
                                      rate=8000))
            with pytest.raises(WebSocketDisconnect) as err:
                ws2.receive_text()
            assert err.value.code == 1008
    assert len(sim.runner.infos) == 1


def test_texml_setup_returns_connect_stream(sim: Sim) -> None:
    form = b"CallSid=v3%3Atexml-1&From=%2B15550001111&To=%2B15550002222&AccountSid=acc"
    headers = sim.signer.headers(form, timestamp=NOW)
    headers["content-type"] = "application/x-www-form-urlencoded"
    r = sim.client.post("/telnyx/texml", content=form, headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    xml = r.text
    assert "<Connect><Stream " in xml and 'url="wss://gw.example/telnyx/media"' in xml
    assert 'bidirectionalMode="rtp"' in xml and 'codec="PCMU"' in xml
    call = sim.channel.book.by_provider_id("v3:texml-1")
    assert call is not None
    assert f'<Parameter name="call_id" value="{call.call_id}"/>' in xml
    token = sim.channel.stream_token(call.call_id, "v3:texml-1")
    assert f'<Parameter name="token" value="{token}"/>' in xml
    bad = sim.client.post("/telnyx/texml", content=form, headers=Signer().headers(form,
                                                                                  timestamp=NOW))
    assert bad.status_code == 403
