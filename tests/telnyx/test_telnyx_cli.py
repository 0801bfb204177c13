"""``callport call --via telnyx`` (dial with streaming) and doctor checks."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from telnyx_sim import Signer

from callport.channels.callbook import CallBook
from callport.channels.telnyx import tokens
from callport.channels.telnyx.cli import doctor_checks, place_call
from callport.config import Settings, TelnyxSettings


def settings(**kw: object) -> Settings:
    base: dict[str, object] = dict(api_key="KEY", connection_id="conn-1",
                                   public_key=Signer().public_b64,
                                   public_base_url="https://gw.example",
                                   api_base_url="http://telnyx.local", numbers=("+15550009999",))
    base.update(kw)
    return Settings(telnyx=TelnyxSettings(**base))  # type: ignore[arg-type]


async def test_place_call_dials_with_a_token_the_server_accepts() -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"call_control_id": "v3:out-1"}})

    s = settings()
    http = httpx.AsyncClient(transport=httpx.MockTransport(api))
    before = time.time()
    call_id = await place_call(s, "+15550004444", "", http=http)
    (req,) = seen
    assert str(req.url) == "http://telnyx.local/v2/calls"
    body = json.loads(req.content)
    assert body["from"] == "+15550009999" and body["to"] == "+15550004444"
    assert body["stream_url"] == "wss://gw.example/telnyx/media"
    assert body["webhook_url"] == "https://gw.example/telnyx/webhook"
    assert base64.b64decode(body["client_state"]).decode() == call_id
    # a server process with the same settings admits the stream (no shared state)
    now = time.time()
    grant = tokens.check(tokens.stream_secret(s.telnyx), call_id=call_id,
                         token=body["stream_auth_token"], provider_call_id="v3:out-1", now=now)
    assert grant is not None
    assert before + 119 <= grant.expires_at <= now + 120  # telnyx.token_ttl_s
    admitted = CallBook(provider="telnyx").admit(grant, provider_call_id="v3:out-1", now=now)
    assert admitted is not None and admitted.direction == "outbound"
    late = grant.expires_at + 1
    assert tokens.check(tokens.stream_secret(s.telnyx), call_id=call_id,
                        token=body["stream_auth_token"], provider_call_id="v3:out-1",
                        now=late) is None


async def test_place_call_needs_credentials() -> None:
    with pytest.raises(ValueError, match="API_KEY"):
        await place_call(settings(api_key=""), "+1555", "+1666")
    with pytest.raises(ValueError, match="caller id"):
        await place_call(settings(numbers=()), "+1555", "")
    with pytest.raises(ValueError, match="PUBLIC_KEY"):
        await place_call(settings(public_key=""), "+1555", "+1666")


def test_doctor_reports_each_setting() -> None:
    bad = dict((name, (ok, detail)) for name, ok, detail in doctor_checks(Settings()))
    assert not bad["telnyx api key"][0] and not bad["telnyx public key"][0]
    assert "403" in bad["telnyx public key"][1]
    good = {name: ok for name, ok, _ in doctor_checks(settings(public_key=Signer().public_b64))}
    assert all(good.values()), good
