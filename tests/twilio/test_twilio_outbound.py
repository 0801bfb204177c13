"""Outbound calls: CLI place_call, the JSON endpoint, stateless stream tokens, doctor checks."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio_sim import ACCOUNT_SID, AUTH_TOKEN, parse_twiml
from twilio_support import FakeRuntime, Server, twilio_settings

from callport.channels.twilio import tokens
from callport.channels.twilio.channel import TwilioChannel
from callport.channels.twilio.cli import doctor_checks, place_call
from callport.channels.twilio.rest import TwilioClient
from callport.config import Settings

CA = "CA" + "b" * 32


class FakeTwilioApi:
    """httpx handler standing in for api.twilio.com: records call creates."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        self.forms.append(parse_qs(request.content.decode()))
        return httpx.Response(201, json={"sid": CA, "status": "queued"})


def outbound_settings(base: str = "https://gw.example.com", **kw: object) -> Settings:
    return twilio_settings(
        account_sid=ACCOUNT_SID, public_base_url=base, numbers=("+15550002222",), **kw
    )


async def test_cli_place_call_stream_is_admitted_by_the_server(server: Server) -> None:
    """``callport call`` runs in another process: the server admits its stream statelessly."""
    api = FakeTwilioApi()
    settings = outbound_settings(server.base)
    sid = await place_call(settings, "+15550009999", transport=httpx.MockTransport(api))
    assert sid == CA
    (form,) = api.forms
    assert form["To"] == ["+15550009999"] and form["From"] == ["+15550002222"]
    assert form["MachineDetection"] == ["Enable"] and form["AsyncAmd"] == ["true"]
    twiml = parse_twiml(form["Twiml"][0])
    assert twiml.url == server.ws_base + "/twilio/media"
    assert twiml.action == server.base + "/twilio/after"

    sim = await server.open_stream(CA, twiml.parameters)  # Twilio connects once answered
    await _until(lambda: len(server.runtime.started) == 1)
    _, info = server.runtime.started[0]
    assert (info.channel, info.caller, info.callee) == ("twilio", "+15550002222", "+15550009999")
    assert info.call_id == twiml.parameters["call_id"]
    record = server.channel.book.by_provider_id(CA)
    assert record is not None and record.direction == "outbound"
    await sim.stop()


async def _until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline
        await asyncio.sleep(0.01)


def test_calls_endpoint_needs_loopback_or_bearer_token() -> None:
    api = FakeTwilioApi()
    for token, client_host, auth, expected in (
        ("", "127.0.0.1", "", 201),  # no token configured: loopback peers only
        ("", "203.0.113.7", "", 403),
        ("s3cret", "127.0.0.1", "", 403),
        ("s3cret", "203.0.113.7", "Bearer s3cret", 201),
        ("s3cret", "127.0.0.1", "Bearer wrong", 403),
    ):
        settings = outbound_settings(calls_api_token=token)
        channel = TwilioChannel(
            runtime=FakeRuntime(settings=settings),
            control=TwilioClient.from_settings(settings.twilio, transport=httpx.MockTransport(api)),
        )
        client = TestClient(Starlette(routes=list(channel.routes())), client=(client_host, 5000))
        headers = {"Authorization": auth} if auth else {}
        response = client.post("/twilio/calls", json={"to": "+15550009999"}, headers=headers)
        assert response.status_code == expected, (token, auth, response.text)
        if expected == 201:
            body = response.json()
            assert body["provider_call_id"] == CA
            assert channel.book.get(body["call_id"]) is not None
    bad = client.post("/twilio/calls", content=b"nope", headers={"Authorization": "Bearer s3cret"})
    assert bad.status_code == 400


def test_calls_endpoint_without_credentials_is_503() -> None:
    channel = TwilioChannel(runtime=FakeRuntime(settings=twilio_settings()))
    client = TestClient(Starlette(routes=list(channel.routes())), client=("::1", 5000))
    response = client.post("/twilio/calls", json={"to": "+15550009999"})
    assert response.status_code == 503 and "account SID" in response.json()["error"]


def test_tokens_reject_tampering_expiry_and_wrong_call() -> None:
    key = tokens.derive_key(AUTH_TOKEN)
    params = tokens.mint(key, call_id="c1", direction="inbound", caller="+1", callee="+2",
                         provider_call_id=CA, expires_at=1000)
    grant = tokens.check(key, params, provider_call_id=CA, now=999)
    assert grant is not None and (grant.call_id, grant.caller, grant.callee) == ("c1", "+1", "+2")
    assert tokens.check(key, params, provider_call_id=CA, now=1001) is None  # expired
    assert tokens.check(key, params, provider_call_id="CA" + "c" * 32, now=999) is None
    assert tokens.check(key, {**params, "caller": "+9"}, provider_call_id=CA, now=999) is None
    assert tokens.check(key, {**params, "expires": "99999"}, provider_call_id=CA, now=999) is None
    assert tokens.check(tokens.derive_key("x" * 32), params, provider_call_id=CA, now=999) is None
    unbound = tokens.mint(key, call_id="c2", direction="outbound", caller="+1", callee="+2",
                          provider_call_id="", expires_at=1000)
    assert tokens.check(key, unbound, provider_call_id=CA, now=0) is not None


def test_doctor_checks() -> None:
    good = outbound_settings()
    checks = {name: ok for name, ok, _ in doctor_checks(good)}
    assert all(checks.values()), doctor_checks(good)
    empty = {name: (ok, detail) for name, ok, detail in doctor_checks(Settings())}
    assert not empty["twilio account SID"][0]
    assert "CALLPORT_TWILIO_AUTH_TOKEN" in empty["twilio auth token"][1]
    assert not empty["twilio public URL"][0]
    odd = dataclasses.replace(good, twilio=dataclasses.replace(good.twilio, numbers=("555",)))
    assert ("twilio numbers", False, "bad E.164: 555") in doctor_checks(odd)
