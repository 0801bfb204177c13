"""Outbound calls: CLI place_call, the JSON endpoint, stateless stream tokens, doctor checks."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio_sim import ACCOUNT_SID, AUTH_TOKEN, parse_twiml
from twilio_support import FakeRuntime, Server, twilio_settings

from callport.channels.provider import ProviderError
from callport.channels.twilio import tokens
from callport.channels.twilio.channel import TwilioChannel, dial_out
from callport.channels.twilio.cli import doctor_checks, place_call
from callport.channels.twilio.rest import TwilioClient
from callport.config import Settings
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore

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
    assert (info.channel, info.caller, info.callee, info.direction) == (
        "twilio", "+15550002222", "+15550009999", "outbound")
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


@dataclass
class Accounts:
    """A real in-memory user and token store with an admin and a plain user."""

    tokens: MemoryTokenStore
    admin: str  # bearer secrets
    user: str
    revoked: str


def accounts() -> Accounts:
    async def build() -> Accounts:
        users = MemoryUserStore()
        await users.add("ada", roles=("admin",))
        await users.add("bob", roles=("user",))
        store = MemoryTokenStore(users=users)
        admin = await store.create("ada", now=time.time())
        user = await store.create("bob", now=time.time())
        revoked = await store.create("ada", now=time.time())
        assert await store.revoke(revoked.info.id)
        return Accounts(store, admin.secret, user.secret, revoked.secret)

    return asyncio.run(build())


def calls_client(
    api: FakeTwilioApi, *, host: str = "127.0.0.1", tokens: object = None, **kw: object
) -> tuple[TwilioChannel, TestClient]:
    settings = outbound_settings(**kw)
    channel = TwilioChannel(
        runtime=FakeRuntime(settings=settings, tokens=tokens),
        control=TwilioClient.from_settings(settings.twilio, transport=httpx.MockTransport(api)),
    )
    return channel, TestClient(Starlette(routes=list(channel.routes())), client=(host, 5000))


def place(client: TestClient, auth: str = "") -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    return client.post("/twilio/calls", json={"to": "+15550009999"}, headers=headers)


def test_calls_endpoint_refuses_loopback_without_a_token() -> None:
    """No loopback trust: a local process (or a proxy) without a token places nothing."""
    api = FakeTwilioApi()
    for host in ("127.0.0.1", "::1"):
        _, client = calls_client(api, host=host, tokens=accounts().tokens)
        response = place(client)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    _, client = calls_client(api)  # a runtime without a token store: still 401
    assert place(client).status_code == 401
    assert place(client, "Basic YWRhOnB3").status_code == 401
    assert api.forms == []


def test_calls_endpoint_takes_only_a_live_admin_token() -> None:
    api = FakeTwilioApi()
    acc = accounts()
    channel, client = calls_client(api, tokens=acc.tokens)
    assert place(client, f"Bearer {acc.revoked}").status_code == 401  # revoked
    assert place(client, f"Bearer {acc.admin}x").status_code == 401  # forged
    refused = place(client, f"Bearer {acc.user}")  # a live token of a non-admin
    assert refused.status_code == 403 and "not an admin" in refused.json()["error"]
    assert api.forms == []
    response = place(client, f"Bearer {acc.admin}")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider_call_id"] == CA
    call = channel.book.get(body["call_id"])
    assert call is not None and (call.caller, call.callee) == ("+15550002222", "+15550009999")
    (form,) = api.forms
    assert form["To"] == ["+15550009999"]
    bad = client.post("/twilio/calls", content=b"nope", headers={"Authorization":
                                                                 f"Bearer {acc.admin}"})
    assert bad.status_code == 400


def test_calls_endpoint_static_token() -> None:
    api = FakeTwilioApi()
    _, client = calls_client(api, host="203.0.113.7", calls_api_token="s3cret")
    assert place(client).status_code == 401
    assert place(client, "Bearer wrong").status_code == 401
    assert place(client, "Bearer s3cret").status_code == 201
    assert len(api.forms) == 1


def test_calls_endpoint_without_credentials_is_503() -> None:
    settings = twilio_settings(calls_api_token="s3cret")
    channel = TwilioChannel(runtime=FakeRuntime(settings=settings))
    client = TestClient(Starlette(routes=list(channel.routes())), client=("::1", 5000))
    response = place(client, "Bearer s3cret")
    assert response.status_code == 503 and "account SID" in response.json()["error"]


async def test_outbound_calls_need_the_auth_token_that_signs_the_stream() -> None:
    """An API key alone can dial, but the stream token would be keyed by "": refused."""
    settings = outbound_settings(auth_token="", api_key_sid="SK" + "1" * 32,
                                 api_key_secret="secret")
    api = FakeTwilioApi()
    client = TwilioClient.from_settings(settings.twilio, transport=httpx.MockTransport(api))
    with pytest.raises(ProviderError, match="auth_token"):
        await dial_out(settings.twilio, client, "+15550009999", now=time.time())
    await client.aclose()
    assert api.forms == []


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
