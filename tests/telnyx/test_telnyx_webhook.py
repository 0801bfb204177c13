"""Ed25519 webhook verification and Call Control v2 event parsing."""

from __future__ import annotations

import base64

import pytest
from telnyx_sim import Signer, event_body

from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallRinging,
    DtmfReceived,
    OtherCallback,
    ProviderWebhooks,
    StreamStarted,
    StreamStopped,
    WebhookRejected,
    WebhookRequest,
)
from callport.channels.telnyx.webhook import TelnyxWebhooks, load_public_key, parse_event

NOW = 1_760_000_000


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(url="https://gw.example/telnyx/webhook", headers=headers, body=body)


@pytest.fixture
def signer() -> Signer:
    return Signer()


def test_good_signature_verifies(signer: Signer) -> None:
    hooks: ProviderWebhooks = TelnyxWebhooks(public_key=signer.public_b64)
    body = event_body("call.initiated", direction="incoming")
    hooks.verify(request(body, signer.headers(body, timestamp=NOW)), now=NOW + 10.0)


def test_tampered_body_is_rejected(signer: Signer) -> None:
    hooks = TelnyxWebhooks(public_key=signer.public_b64)
    body = event_body("call.initiated")
    headers = signer.headers(body, timestamp=NOW)
    with pytest.raises(WebhookRejected) as err:
        hooks.verify(request(body.replace(b"call-1", b"call-2"), headers), now=NOW)
    assert err.value.status_hint == 403


def test_signature_from_another_key_is_rejected(signer: Signer) -> None:
    hooks = TelnyxWebhooks(public_key=Signer().public_b64)
    body = event_body("call.initiated")
    with pytest.raises(WebhookRejected):
        hooks.verify(request(body, signer.headers(body, timestamp=NOW)), now=NOW)


def test_signature_over_another_timestamp_is_rejected(signer: Signer) -> None:
    hooks = TelnyxWebhooks(public_key=signer.public_b64)
    body = event_body("call.initiated")
    headers = signer.headers(body, timestamp=NOW)
    headers["telnyx-timestamp"] = str(NOW + 1)
    with pytest.raises(WebhookRejected):
        hooks.verify(request(body, headers), now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_stale_or_future_timestamp_is_rejected(signer: Signer, skew: int) -> None:
    hooks = TelnyxWebhooks(public_key=signer.public_b64)
    body = event_body("call.initiated")
    with pytest.raises(WebhookRejected, match="300 s"):
        hooks.verify(request(body, signer.headers(body, timestamp=NOW)), now=NOW + skew)


def test_timestamp_at_the_edge_is_accepted(signer: Signer) -> None:
    hooks = TelnyxWebhooks(public_key=signer.public_b64)
    body = event_body("call.initiated")
    hooks.verify(request(body, signer.headers(body, timestamp=NOW)), now=NOW + 300)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"telnyx-timestamp": str(NOW)},
        {"telnyx-timestamp": "soon", "telnyx-signature-ed25519": "AAAA"},
        {"telnyx-timestamp": str(NOW), "telnyx-signature-ed25519": "not base64!"},
        {"telnyx-timestamp": str(NOW), "telnyx-signature-ed25519": "AAAA"},
    ],
)
def test_missing_or_malformed_headers_are_rejected(signer: Signer, headers: dict[str, str]) -> None:
    hooks = TelnyxWebhooks(public_key=signer.public_b64)
    with pytest.raises(WebhookRejected):
        hooks.verify(request(b"{}", headers), now=NOW)


def test_unconfigured_key_rejects_everything(signer: Signer) -> None:
    body = event_body("call.initiated")
    for key in ("", "not-base64!", base64.b64encode(b"short").decode()):
        hooks = TelnyxWebhooks(public_key=key)
        assert not hooks.configured
        with pytest.raises(WebhookRejected):
            hooks.verify(request(body, signer.headers(body, timestamp=NOW)), now=NOW)
    with pytest.raises(ValueError):
        load_public_key(base64.b64encode(b"x" * 31).decode())


def test_parse_call_events() -> None:
    ringing = parse_event(event_body("call.initiated", direction="incoming",
                                     **{"from": "+15550001111", "to": "+15550002222"}))
    assert ringing == CallRinging(provider_call_id="v3:call-1", caller="+15550001111",
                                  callee="+15550002222", direction="inbound")
    out = parse_event(event_body("call.initiated", direction="outgoing", client_state="tx-9"))
    assert isinstance(out, CallRinging) and out.direction == "outbound" and out.call_id == "tx-9"
    assert isinstance(parse_event(event_body("call.answered", client_state="tx-9")), CallAnswered)
    ended = parse_event(event_body("call.hangup", client_state="tx-9",
                                   hangup_cause="normal_clearing", hangup_source="caller"))
    assert ended == CallEnded(provider_call_id="v3:call-1", call_id="tx-9", reason="completed")
    busy = parse_event(event_body("call.hangup", hangup_cause="user_busy"))
    assert isinstance(busy, CallEnded) and busy.reason == "busy"
    assert parse_event(event_body("call.dtmf.received", digit="5")) == DtmfReceived(
        provider_call_id="v3:call-1", digit="5")
    assert parse_event(event_body("streaming.started", stream_id="s1")) == StreamStarted(
        provider_call_id="v3:call-1", stream_id="s1")
    stopped = parse_event(event_body("streaming.stopped", stream_id="s1"))
    assert stopped == StreamStopped(provider_call_id="v3:call-1", stream_id="s1")
    failed = parse_event(event_body("streaming.failed", stream_id="s1",
                                    failure_reason="connection_failed"))
    assert failed == StreamStopped(provider_call_id="v3:call-1", stream_id="s1",
                                   error="connection_failed")
    other = parse_event(event_body("call.bridged"))
    assert other == OtherCallback(provider_call_id="v3:call-1", kind="call.bridged")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"data": 1}', b'{"data": {"event_type": "call.hangup"}}',
     b'{"data": {"event_type": "call.hangup", "payload": {}}}'],
)
def test_unreadable_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as err:
        parse_event(body)
    assert err.value.status_hint == 400


def test_undecodable_client_state_is_empty() -> None:
    doc = event_body("call.answered").replace(b'"connection_id"', b'"client_state": "%%%", "x"')
    ev = parse_event(doc)
    assert ev.call_id == ""
