"""Forged, stolen, expired and replayed Twilio streams, and a channel with no auth token.

Each test plays the attacker against a real server (uvicorn on 127.0.0.1) or the real token
module: nothing may start a call flow unless Twilio, through a webhook signed with the
configured auth token (or our own dial), was handed the stream token.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import websockets
from providers_support import serve
from twilio_sim import AUTH_TOKEN, StreamSim, call_params, parse_twiml, signed_form
from twilio_support import FakeRuntime, twilio_settings

from callport.channels.twilio import channel as twilio_channel
from callport.channels.twilio import tokens
from callport.channels.twilio.channel import TwilioChannel

NOW = 1_760_000_000.0
_sids = itertools.count(1)


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    base: str
    channel: TwilioChannel
    runtime: FakeRuntime
    http: httpx.AsyncClient
    clock: Clock

    @property
    def ws(self) -> str:
        return "ws://" + self.base.removeprefix("http://") + "/twilio/media"

    async def ring(self, token: str = AUTH_TOKEN) -> tuple[str, httpx.Response]:
        sid = f"CA{next(_sids):032x}"
        url = self.base + "/twilio/voice"
        body, headers = signed_form(url, call_params(sid), token=token)
        return sid, await self.http.post(url, content=body, headers=headers)

    async def stream(self, call_sid: str, parameters: dict[str, str]) -> StreamSim:
        ws = await websockets.connect(self.ws)
        sim = StreamSim(ws, call_sid=call_sid, stream_sid="MZ" + call_sid[2:],
                        parameters=parameters, realtime=False)
        await sim.start()
        return sim

    async def refused(self, call_sid: str, parameters: dict[str, str]) -> None:
        sim = await self.stream(call_sid, parameters)
        await sim.wait_closed_by_server()
        assert sim.ws.close_code == 1008


async def site_with(auth_token: str) -> AsyncIterator[Site]:
    clock = Clock()
    runtime = FakeRuntime(settings=twilio_settings(auth_token=auth_token))
    channel = TwilioChannel(runtime=runtime, now=clock)
    uv, task, base = await serve(channel)
    async with httpx.AsyncClient() as http:
        yield Site(base, channel, runtime, http, clock)
    uv.should_exit = True
    await task


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async for s in site_with(AUTH_TOKEN):
        yield s


@pytest.fixture
async def open_site() -> AsyncIterator[Site]:
    """The default configuration: no auth token."""
    async for s in site_with(""):
        yield s


def empty_key_forgery(call_sid: str) -> dict[str, str]:
    """What an attacker mints when the key derives from an empty auth token (the old v1 key
    and layout, and today's layout under an empty-secret key): both must be refused."""
    values = {"call_id": "attacker", "direction": "inbound", "caller": "+15550009999",
              "callee": "+15550002222", "expires": str(int(NOW) + 100)}
    v1_key = hmac.new(b"", b"callport twilio stream token v1", "sha256").digest()
    message = "\n".join([call_sid, *(values[f] for f in tokens.FIELDS)])
    return {**values, "token": "s" + hmac.new(v1_key, message.encode(), hashlib.sha256).hexdigest()}


async def test_no_auth_token_refuses_every_stream_before_it_starts(open_site: Site) -> None:
    sid = "CA" + "e" * 32
    for params in (empty_key_forgery(sid), {"token": "anything"}, {}):
        with pytest.raises(websockets.exceptions.InvalidStatus) as err:
            await open_site.stream(sid, params)  # closed before the WebSocket was accepted
        assert err.value.response.status_code == 403
    assert open_site.runtime.started == [] and len(open_site.channel.book) == 0


async def test_no_auth_token_refuses_every_webhook(open_site: Site) -> None:
    for token in ("", AUTH_TOKEN):  # signed with an empty key, or with any key at all
        _, response = await open_site.ring(token)
        assert response.status_code == 403
    url = open_site.base + "/twilio/status"
    body, headers = signed_form(url, call_params("CA" + "1" * 32, status="completed"), token="")
    assert (await open_site.http.post(url, content=body, headers=headers)).status_code == 403
    assert len(open_site.channel.book) == 0 and open_site.channel.rejected_webhooks == 3


async def test_no_auth_token_logs_what_to_set(
    open_site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        await open_site.channel.start()
    message = twilio_channel.UNCONFIGURED
    assert [r.getMessage() for r in caplog.records].count(message) == 1
    assert "CALLPORT_TWILIO_AUTH_TOKEN" in message


def test_no_key_derives_from_an_empty_auth_token() -> None:
    with pytest.raises(ValueError, match="auth token"):
        tokens.derive_key("")


async def test_forged_token_is_refused(site: Site) -> None:
    sid, response = await site.ring()
    params = parse_twiml(response.text).parameters
    forged = dict(params, token=params["token"][:-4] + "0000")
    await site.refused(sid, forged)
    await site.refused(sid, empty_key_forgery(sid))
    other_key = tokens.mint(tokens.derive_key("x" * 32), call_id=params["call_id"],
                            direction="inbound", caller="+15550001111", callee="+15550002222",
                            provider_call_id=sid, expires_at=NOW + 60)
    await site.refused(sid, other_key)
    await site.refused(sid, dict(params, caller="+15559999999"))  # a signed field changed
    assert site.runtime.started == []


async def test_token_from_another_call_sid_is_refused(site: Site) -> None:
    _, a = await site.ring()
    sid_b, _ = await site.ring()
    await site.refused(sid_b, parse_twiml(a.text).parameters)
    assert site.runtime.started == []


async def test_expired_token_is_refused(site: Site) -> None:
    sid, response = await site.ring()
    params = parse_twiml(response.text).parameters
    site.clock.now += site.channel.settings.token_ttl_s + 1
    await site.refused(sid, params)
    assert site.runtime.started == []


async def test_token_replayed_after_use_is_refused(site: Site) -> None:
    sid, response = await site.ring()
    params = parse_twiml(response.text).parameters
    first = await site.stream(sid, params)
    await first.stop()
    url = site.base + "/twilio/status"
    body, headers = signed_form(url, call_params(sid, status="completed"))
    assert (await site.http.post(url, content=body, headers=headers)).status_code == 204
    await site.refused(sid, params)  # the same call, ended
    site.clock.now += 3600  # long after: the call is pruned, the token long expired
    site.channel.book.prune(site.clock.now)
    assert site.channel.book.by_provider_id(sid) is None
    await site.refused(sid, params)
    assert len(site.runtime.started) == 1 and site.channel.book.by_provider_id(sid) is None


def test_token_fields_cannot_be_shifted_between_parameters() -> None:
    """A caller id holding the old separator cannot move a signed value into another field."""
    key = tokens.derive_key(AUTH_TOKEN)
    sid = "CA" + "a" * 32
    params = tokens.mint(key, call_id="c1", direction="inbound", caller="+1555\n+1666",
                         callee="+1777", provider_call_id=sid, expires_at=NOW + 60)
    shifted = dict(params, caller="+1555", callee="+1666\n+1777")
    assert tokens.check(key, shifted, provider_call_id=sid, now=NOW) is None
    assert tokens.check(key, params, provider_call_id=sid, now=NOW) is not None


def test_absurd_expiry_is_refused_not_raised() -> None:
    key = tokens.derive_key(AUTH_TOKEN)
    params = tokens.mint(key, call_id="c1", direction="outbound", caller="+1", callee="+2",
                         provider_call_id="", expires_at=NOW + 60)
    assert tokens.check(key, dict(params, expires="9" * 5000), provider_call_id="CA1",
                        now=NOW) is None


async def test_call_info_names_the_caller_from_the_signed_webhook(site: Site) -> None:
    """Inbound: caller is Twilio's From, callee its To (what identity checks the user by)."""
    sid, response = await site.ring()
    params = parse_twiml(response.text).parameters
    sim = await site.stream(sid, params)
    await sim.wait_closed_by_server()
    ((_, info),) = site.runtime.started
    assert (info.channel, info.caller, info.callee, info.direction) == (
        "twilio", "+15550001111", "+15550002222", "inbound")
