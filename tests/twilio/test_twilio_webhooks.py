"""Voice, status and action webhooks: signatures, TwiML, recorded status, public URLs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import xml.etree.ElementTree as ET

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator
from twilio_sim import AUTH_TOKEN, call_params, parse_twiml, signed_form
from twilio_support import FakeRuntime, twilio_settings

from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallRinging,
    MachineDetected,
    OtherCallback,
    StreamStarted,
    StreamStopped,
    WebhookRejected,
    WebhookRequest,
)
from callport.channels.twilio.channel import TwilioChannel
from callport.channels.twilio.webhooks import TwilioWebhooks, parse_fields, public_url
from callport.store.calls import MemoryCallStore

CA = "CA" + "a" * 32
PUBLIC = "https://gw.example.com"


def make(**settings: object) -> tuple[TwilioChannel, TestClient]:
    channel = TwilioChannel(runtime=FakeRuntime(settings=twilio_settings(**settings)))
    return channel, TestClient(Starlette(routes=list(channel.routes())), base_url=PUBLIC)


def post(client: TestClient, path: str, params: dict[str, str], *, signed_url: str = "",
         token: str = AUTH_TOKEN, headers: dict[str, str] | None = None) -> object:
    body, signed = signed_form(signed_url or PUBLIC + path, params, token)
    return client.post(path, content=body, headers={**signed, **(headers or {})})


def test_voice_webhook_answers_connect_stream_with_single_use_token() -> None:
    channel, client = make()
    response = post(client, "/twilio/voice", call_params(CA))
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    twiml = parse_twiml(response.text)  # type: ignore[attr-defined]
    assert twiml.url == "wss://gw.example.com/twilio/media"  # no query string
    assert twiml.action == "https://gw.example.com/twilio/after"
    assert twiml.status_callback == "https://gw.example.com/twilio/status"
    params = twiml.parameters
    assert set(params) == {"token", "call_id", "direction", "caller", "callee", "expires"}
    assert len(params["token"]) >= 32
    call = channel.book.by_provider_id(CA)
    assert call is not None and (call.caller, call.callee) == ("+15550001111", "+15550002222")
    assert params["call_id"] == call.call_id and params["caller"] == "+15550001111"
    again = parse_twiml(post(client, "/twilio/voice", call_params(CA)).text)  # type: ignore[attr-defined]
    assert again.parameters["call_id"] == call.call_id  # a repeated webhook is the same call


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong-token", "changed-param", "wrong-url"],
)
def test_bad_signature_gets_403_and_starts_nothing(tamper: str) -> None:
    channel, client = make()
    params = call_params(CA)
    url = PUBLIC + "/twilio/voice"
    body, headers = signed_form(url, params, "0" * 32 if tamper == "wrong-token" else AUTH_TOKEN)
    if tamper == "missing":
        del headers["X-Twilio-Signature"]
    if tamper == "changed-param":
        body = body.replace(b"%2B15550001111", b"%2B19990001111")
    if tamper == "wrong-url":
        body, headers = signed_form("https://evil.example.com/twilio/voice", params)
    response = client.post("/twilio/voice", content=body, headers=headers)
    assert response.status_code == 403
    assert "Connect" not in response.text
    assert len(channel.book) == 0 and channel.rejected_webhooks == 1


def test_no_auth_token_refuses_every_webhook() -> None:
    channel = TwilioChannel(runtime=FakeRuntime(settings=twilio_settings(auth_token="")))
    client = TestClient(Starlette(routes=list(channel.routes())), base_url=PUBLIC)
    assert post(client, "/twilio/voice", call_params(CA)).status_code == 403  # type: ignore[attr-defined]


def test_public_base_url_is_what_gets_verified() -> None:
    """Behind a TLS proxy the app sees http://internal; the signature is over the public URL."""
    channel, _ = make(public_base_url="https://voice.example.org")
    client = TestClient(Starlette(routes=list(channel.routes())), base_url="http://10.0.0.5:8080")
    ok = post(client, "/twilio/voice", call_params(CA),
              signed_url="https://voice.example.org/twilio/voice")
    assert ok.status_code == 200  # type: ignore[attr-defined]
    assert parse_twiml(ok.text).url == "wss://voice.example.org/twilio/media"  # type: ignore[attr-defined]
    internal = post(client, "/twilio/voice", call_params(CA),
                    signed_url="http://10.0.0.5:8080/twilio/voice")
    assert internal.status_code == 403  # type: ignore[attr-defined]


def test_forwarded_headers_only_when_trusted() -> None:
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "edge.example.net"}
    signed_url = "https://edge.example.net/twilio/voice"
    for trusted, expected in ((True, 200), (False, 403)):
        channel, _ = make(trust_forwarded=trusted)
        client = TestClient(Starlette(routes=list(channel.routes())), base_url="http://app:8000")
        response = post(client, "/twilio/voice", call_params(CA), signed_url=signed_url,
                        headers=fwd)
        assert response.status_code == expected  # type: ignore[attr-defined]


def test_public_url_rebuilds_path_and_query() -> None:
    assert public_url(url="http://10.0.0.5/twilio/status?x=1", headers={},
                      public_base_url="https://gw.example.com/") == (
        "https://gw.example.com/twilio/status?x=1"
    )
    assert public_url(url="http://a/b", headers={}) == "http://a/b"


def test_status_callbacks_are_recorded_on_the_call() -> None:
    channel, client = make()
    post(client, "/twilio/voice", call_params(CA))
    for params in (
        call_params(CA, status="in-progress"),
        {"AccountSid": "AC1", "CallSid": CA, "StreamSid": "MZ1", "StreamEvent": "stream-started"},
        call_params(CA, status="in-progress", AnsweredBy="machine_end_beep"),
        call_params(CA, status="completed", CallDuration="42"),
    ):
        assert post(client, "/twilio/status", params).status_code == 204  # type: ignore[attr-defined]
    call = channel.book.by_provider_id(CA)
    assert call is not None
    assert call.status == "completed" and call.ended_at is not None
    assert call.answered_by == "machine_end_beep"
    lines = [line for _, line in call.log]
    assert "CallAnswered" in lines and "StreamStarted" in lines
    assert "answered by machine_end_beep" in lines and "ended: completed after 42 s" in lines


def test_after_hangs_up_without_handoff() -> None:
    _, client = make()
    post(client, "/twilio/voice", call_params(CA))
    response = post(client, "/twilio/after", call_params(CA, status="in-progress"))
    assert ET.fromstring(response.text).find("Hangup") is not None  # type: ignore[attr-defined]
    unsigned = client.post("/twilio/after", data=call_params(CA))
    assert unsigned.status_code == 403


def test_after_hangup_ends_the_record_without_a_status_callback() -> None:
    """A number whose status callback is not set never sends ``completed``: the <Hangup/> we
    answer the <Connect action> with ends the call on our record (a regression: it stayed
    ringing until the stale sweep)."""
    runtime = FakeRuntime(settings=twilio_settings())
    runtime.calls = MemoryCallStore()  # type: ignore[attr-defined]
    channel = TwilioChannel(runtime=runtime)
    client = TestClient(Starlette(routes=list(channel.routes())), base_url=PUBLIC)
    post(client, "/twilio/voice", call_params(CA))
    call = channel.book.by_provider_id(CA)
    assert call is not None and not call.ended
    response = post(client, "/twilio/after", call_params(CA, status="in-progress"))
    assert ET.fromstring(response.text).find("Hangup") is not None  # type: ignore[attr-defined]
    record = asyncio.run(runtime.calls.get(call.call_id))  # type: ignore[attr-defined]
    assert record is not None and record.status == "ended" and record.ended_at is not None
    assert call.ended and call.log[-1][1] == "ended: hangup"
    # Twilio's completed callback (when the number has one) changes nothing any more
    post(client, "/twilio/status", call_params(CA, status="completed", CallDuration="9"))
    again = asyncio.run(runtime.calls.get(call.call_id))  # type: ignore[attr-defined]
    assert again is not None and again.ended_at == record.ended_at


def test_after_with_a_pending_handoff_dials_and_leaves_the_call_open() -> None:
    channel, client = make()
    post(client, "/twilio/voice", call_params(CA))
    call = channel.book.by_provider_id(CA)
    assert call is not None
    call.handoff = "tel:+15557654321"
    response = post(client, "/twilio/after", call_params(CA, status="in-progress"))
    assert "<Dial><Number>+15557654321</Number></Dial>" in response.text  # type: ignore[attr-defined]
    assert not call.ended  # the transferred call goes on: its end comes from Twilio


def test_parse_fields_maps_every_callback() -> None:
    assert parse_fields(call_params(CA, status="ringing")) == [
        CallRinging(provider_call_id=CA, caller="+15550001111", callee="+15550002222")
    ]
    assert parse_fields(call_params(CA, status="in-progress"))[0] == CallAnswered(
        provider_call_id=CA, caller="+15550001111", callee="+15550002222"
    )
    assert parse_fields(call_params(CA, status="busy")) == [
        CallEnded(provider_call_id=CA, reason="busy")
    ]
    assert parse_fields({"CallSid": CA, "StreamSid": "MZ", "StreamEvent": "stream-error",
                         "StreamError": "31920"}) == [
        StreamStopped(provider_call_id=CA, stream_id="MZ", error="31920")
    ]
    assert parse_fields({"CallSid": CA, "StreamSid": "MZ", "StreamEvent": "stream-started"}) == [
        StreamStarted(provider_call_id=CA, stream_id="MZ")
    ]
    assert parse_fields({"CallSid": CA, "AnsweredBy": "human"}) == [
        MachineDetected(provider_call_id=CA, answered_by="human")
    ]
    assert parse_fields({"CallSid": CA}) == [OtherCallback(provider_call_id=CA, kind="unknown")]
    with pytest.raises(WebhookRejected) as info:
        parse_fields({"From": "+1"})
    assert info.value.status_hint == 400


def test_repeated_fields_and_json_body_signatures() -> None:
    hooks = TwilioWebhooks(auth_token=AUTH_TOKEN)
    url = PUBLIC + "/twilio/status"
    class Multi(dict[str, list[str]]):  # how Django/Flask hand repeated fields to the validator
        def getlist(self, name: str) -> list[str]:
            return self[name]

    params = Multi({"CallSid": [CA], "Event": ["b", "a"]})
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    body = b"CallSid=" + CA.encode() + b"&Event=b&Event=a"
    hooks.verify(WebhookRequest(url=url, headers={"x-twilio-signature": signature}, body=body))
    raw = json.dumps({"CallSid": CA})
    json_url = f"{url}?bodySHA256={hashlib.sha256(raw.encode()).hexdigest()}"
    sig = RequestValidator(AUTH_TOKEN).compute_signature(json_url, {})
    hooks.verify(WebhookRequest(url=json_url, headers={"x-twilio-signature": sig},
                                body=raw.encode()))
    with pytest.raises(WebhookRejected):
        hooks.verify(WebhookRequest(url=json_url, headers={"x-twilio-signature": sig},
                                    body=raw.encode() + b" "))
