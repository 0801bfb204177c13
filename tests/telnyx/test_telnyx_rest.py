"""Call Control REST commands: exact requests against httpx.MockTransport."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from callport.channels.provider import CallControl, DialRequest, ProviderError, StreamTarget
from callport.channels.telnyx.rest import TelnyxCallControl

BASE = "http://telnyx.local"
TARGET = StreamTarget(url="wss://gw.example/telnyx/media",
                      parameters={"call_id": "tx-1", "token": "tok-1"})


class Recorder:
    def __init__(self, responses: list[httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = responses or []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.responses:
            return self.responses.pop(0)
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def body(self, i: int = -1) -> dict[str, object]:
        doc = json.loads(self.requests[i].content)
        assert isinstance(doc, dict)
        return doc


def control(rec: Recorder, codec: str = "PCMU") -> TelnyxCallControl:
    http = httpx.AsyncClient(transport=httpx.MockTransport(rec))
    return TelnyxCallControl(api_key="KEY123", base_url=BASE + "/", connection_id="conn-7",
                             codec=codec, http=http)


async def test_answer_starts_bidirectional_rtp_stream_pcmu() -> None:
    rec = Recorder()
    cc: CallControl = control(rec)
    await cc.answer("v3:ab/c", TARGET)
    (req,) = rec.requests
    assert req.method == "POST"
    assert str(req.url) == BASE + "/v2/calls/v3%3Aab%2Fc/actions/answer"
    assert req.headers["authorization"] == "Bearer KEY123"
    body = rec.body()
    assert isinstance(body.pop("command_id"), str)
    assert body == {
        "stream_url": "wss://gw.example/telnyx/media",
        "stream_track": "inbound_track",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_sampling_rate": 8000,
        "stream_bidirectional_target_legs": "self",
        "stream_auth_token": "tok-1",
        "client_state": base64.b64encode(b"tx-1").decode(),
    }


async def test_answer_l16_asks_for_16k() -> None:
    rec = Recorder()
    await control(rec, codec="L16").answer("v3:x", TARGET)
    body = rec.body()
    assert body["stream_codec"] == body["stream_bidirectional_codec"] == "L16"
    assert body["stream_bidirectional_sampling_rate"] == 16000


async def test_hangup_after_the_caller_left_is_success() -> None:
    gone = httpx.Response(422, json={"errors": [
        {"code": "90018", "title": "Call has already ended",
         "detail": "This call is no longer active and can't receive commands."}]})
    rec = Recorder([gone])
    await control(rec).hangup("v3:x")
    (req,) = rec.requests
    assert str(req.url) == BASE + "/v2/calls/v3%3Ax/actions/hangup"
    assert set(rec.body()) == {"command_id"}


async def test_other_errors_raise_provider_error() -> None:
    rec = Recorder([
        httpx.Response(422, json={"errors": [{"code": "90015", "title": "Invalid state"}]}),
        httpx.Response(401, json={"errors": [{"code": "10009", "title": "Authentication failed"}]}),
        httpx.Response(500, text="<html>oops</html>"),
    ])
    cc = control(rec)
    with pytest.raises(ProviderError) as err:
        await cc.hangup("v3:x")
    assert (err.value.status, err.value.code) == (422, "90015")
    with pytest.raises(ProviderError) as err:
        await cc.send_dtmf("v3:x", "1")
    assert (err.value.status, err.value.code) == (401, "10009")
    with pytest.raises(ProviderError) as err:
        await cc.transfer("v3:x", "+15550003333")
    assert err.value.status == 500


async def test_unreachable_api_is_provider_error() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(boom))
    cc = TelnyxCallControl(api_key="k", base_url=BASE, http=http)
    with pytest.raises(ProviderError):
        await cc.hangup("v3:x")


async def test_transfer_and_send_dtmf() -> None:
    rec = Recorder()
    cc = control(rec)
    await cc.transfer("v3:x", "tel:+15550003333")
    await cc.transfer("v3:x", "sip:agent@pbx.example")
    await cc.send_dtmf("v3:x", "12#")
    urls = [str(r.url) for r in rec.requests]
    assert urls == [BASE + "/v2/calls/v3%3Ax/actions/transfer"] * 2 + [
        BASE + "/v2/calls/v3%3Ax/actions/send_dtmf"]
    assert rec.body(0)["to"] == "+15550003333"
    assert rec.body(1)["to"] == "sip:agent@pbx.example"
    assert rec.body(2)["digits"] == "12#"
    with pytest.raises(ValueError):
        await cc.transfer("v3:x", "nonsense target")


async def test_dial_with_streaming_returns_call_control_id() -> None:
    rec = Recorder([httpx.Response(200, json={"data": {"call_control_id": "v3:out-1",
                                                      "call_leg_id": "l", "is_alive": False}})])
    ccid = await control(rec).dial(DialRequest(
        to="tel:+15550004444", from_="+15550005555", stream=TARGET,
        status_url="https://gw.example/telnyx/webhook"))
    assert ccid == "v3:out-1"
    (req,) = rec.requests
    assert str(req.url) == BASE + "/v2/calls"
    body = rec.body()
    assert body["connection_id"] == "conn-7"
    assert body["to"] == "+15550004444" and body["from"] == "+15550005555"
    assert body["stream_url"] == TARGET.url and body["stream_bidirectional_mode"] == "rtp"
    assert body["client_state"] == base64.b64encode(b"tx-1").decode()
    assert body["webhook_url"] == "https://gw.example/telnyx/webhook"
    assert body["answering_machine_detection"] == "detect"


async def test_dial_without_connection_or_id_fails_clearly() -> None:
    rec = Recorder([httpx.Response(200, json={"data": {}})])
    http = httpx.AsyncClient(transport=httpx.MockTransport(rec))
    no_conn = TelnyxCallControl(api_key="k", base_url=BASE, http=http)
    req = DialRequest(to="+1555", from_="+1666", stream=TARGET)
    with pytest.raises(ProviderError, match="CONNECTION_ID"):
        await no_conn.dial(req)
    with pytest.raises(ProviderError, match="call_control_id"):
        await control(rec).dial(req)
