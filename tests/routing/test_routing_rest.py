"""Twilio and Telnyx REST stand-ins (httpx MockTransport) that fail: a 500 or a timeout on
the cheaper carrier sends the call out through the next one; a 400 (bad number) does not."""

from __future__ import annotations

import json
import time

import httpx

from callport.call.dial import DialCause, DialFailed, DialOptions, Placed
from callport.channels.telnyx.outbound import dialer as telnyx_dialer
from callport.channels.twilio.outbound import dialer as twilio_dialer
from callport.config import TelnyxSettings, TwilioSettings
from callport.routing.rank import Carrier
from callport.routing.rates import parse_rates_csv
from callport.routing.router import Router

TWILIO = TwilioSettings(account_sid="AC123", auth_token="secret", numbers=("+15550001",),
                        public_base_url="https://gw.example.com",
                        api_base_url="https://twilio.test")
TELNYX = TelnyxSettings(api_key="KEY", public_key="cHVibGlj", connection_id="conn",
                        numbers=("+15550002",), public_base_url="https://gw.example.com",
                        api_base_url="https://telnyx.test")


def carriers(cheap: str) -> list[Carrier]:
    low = parse_rates_csv("prefix,rate\n1,0.004\n")
    high = parse_rates_csv("prefix,rate\n1,0.009\n")
    return [Carrier(name=name, kind=name, rates=low if name == cheap else high)
            for name in ("twilio", "telnyx")]


def twilio_transport(status: int, seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"twilio {request.method} {request.url.path}")
        if status >= 400:
            return httpx.Response(status, json={"code": 20500, "message": "Internal error"})
        return httpx.Response(201, json={"sid": "CA1", "status": "queued"})
    return httpx.MockTransport(handle)


def telnyx_client(mode: str, seen: list[str]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"telnyx {request.method} {request.url.path}")
        if mode == "timeout":
            raise httpx.ReadTimeout("stand-in never answered", request=request)
        if mode == "400":
            return httpx.Response(422, json={"errors": [{"code": "10016",
                                                         "detail": "Invalid 'to'"}]})
        body = json.loads(request.content)
        assert body["connection_id"] == "conn"
        return httpx.Response(200, json={"data": {"call_control_id": "v3:abc"}})
    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_twilio_500_goes_out_through_telnyx() -> None:
    seen: list[str] = []
    twilio, client = twilio_dialer(TWILIO, transport=twilio_transport(500, seen))
    telnyx, control = telnyx_dialer(TELNYX, http=telnyx_client("ok", seen))
    router = Router(carriers=carriers("twilio"), dialers={"twilio": twilio, "telnyx": telnyx},
                    clock=time.monotonic)
    try:
        result = await router.dial("+13125550100", "", DialOptions(until="placed"))
    finally:
        await control.aclose()
        assert client is not None
        await client.aclose()
    assert isinstance(result, Placed) and result.carrier == "telnyx"
    assert result.provider_call_id == "v3:abc"
    assert seen == ["twilio POST /2010-04-01/Accounts/AC123/Calls.json", "telnyx POST /v2/calls"]
    assert router.last is not None
    assert [(a.carrier, a.outcome, a.cause) for a in router.last.attempts] == [
        ("twilio", "failed", "http 500 Twilio API 500: Internal error"),
        ("telnyx", "placed", "")]


async def test_telnyx_timeout_goes_out_through_twilio() -> None:
    seen: list[str] = []
    twilio, client = twilio_dialer(TWILIO, transport=twilio_transport(201, seen))
    telnyx, control = telnyx_dialer(TELNYX, http=telnyx_client("timeout", seen))
    router = Router(carriers=carriers("telnyx"), dialers={"twilio": twilio, "telnyx": telnyx},
                    clock=time.monotonic)
    try:
        result = await router.dial("+13125550100", "", DialOptions(until="placed"))
    finally:
        await control.aclose()
        assert client is not None
        await client.aclose()
    assert isinstance(result, Placed) and result.carrier == "twilio", result
    assert seen[0] == "telnyx POST /v2/calls" and seen[1].startswith("twilio POST")
    assert router.last is not None and router.last.attempts[0].failed_over
    assert router.health.of("telnyx").consecutive == 1


async def test_a_bad_number_is_not_retried_elsewhere() -> None:
    seen: list[str] = []
    twilio, client = twilio_dialer(TWILIO, transport=twilio_transport(201, seen))
    telnyx, control = telnyx_dialer(TELNYX, http=telnyx_client("400", seen))
    router = Router(carriers=carriers("telnyx"), dialers={"twilio": twilio, "telnyx": telnyx},
                    clock=time.monotonic)
    try:
        result = await router.dial("+13125550100", "", DialOptions(until="placed"))
    finally:
        await control.aclose()
        assert client is not None
        await client.aclose()
    assert isinstance(result, DialFailed) and result.cause is DialCause.BAD_TARGET
    assert seen == ["telnyx POST /v2/calls"]


async def test_provider_api_checks_feed_the_breakers() -> None:
    import asyncio
    from dataclasses import replace

    from callport.config import Settings
    from callport.config_routing import CarrierRoute, RoutingSettings
    from callport.routing.service import RoutingService
    from callport.server.routing import health_loop, provider_check

    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.host} {request.url.path}")
        if request.url.host == "twilio.test":
            return httpx.Response(200, json={"status": "active"})
        return httpx.Response(503, json={"errors": []})

    mock = httpx.MockTransport(handle)
    settings = replace(Settings(), twilio=TWILIO, telnyx=TELNYX, routing=RoutingSettings(
        breaker_failures=1, carriers=(CarrierRoute(name="twilio"), CarrierRoute(name="telnyx"))))
    assert await provider_check("twilio", settings, transport=mock) == (True,
                                                                       "API check: HTTP 200")
    assert await provider_check("telnyx", settings, transport=mock) == (False,
                                                                       "API check: HTTP 503")
    twilio, client = twilio_dialer(TWILIO, transport=twilio_transport(201, []))
    telnyx, control = telnyx_dialer(TELNYX, http=telnyx_client("ok", []))
    service = RoutingService.build(settings, dialers={"twilio": twilio, "telnyx": telnyx},
                                   calls=None, clock=time.monotonic)
    loop = asyncio.create_task(health_loop(service, settings, transport=mock))
    try:
        for _ in range(100):
            if len(asked) >= 4:
                break
            await asyncio.sleep(0.02)
    finally:
        loop.cancel()
        await control.aclose()
        assert client is not None
        await client.aclose()
    assert "twilio.test /2010-04-01/Accounts/AC123.json" in asked
    assert "telnyx.test /v2/balance" in asked
    now = time.monotonic()
    assert service.health.of("telnyx").current(now) == "open"
    assert service.health.of("twilio").current(now) == "closed"
    assert any("telnyx [telnyx]: open (API check: HTTP 503)" in line
               for line in service.health_lines())
