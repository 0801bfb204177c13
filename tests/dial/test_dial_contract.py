"""One contract for ``callport.call.dial.Dialer`` over Twilio, Telnyx and SIP.

Each carrier is driven the way it really reports outcomes: Twilio and Telnyx through their
REST API (an httpx MockTransport standing in for it) plus signed status callbacks posted to
the channel's own routes; SIP against a sipp UAS on loopback. Every outcome must come back as
the same typed result whatever the carrier: answered, busy, no answer, carrier error, auth
error, with the carrier's own status kept for routing and logs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sip_support import RecordingRuntime, finish, needs_sipp, rtp_range, start_sipp_uas
from starlette.applications import Starlette
from telnyx_channel_sim import EchoRunner
from telnyx_sim import Signer, event_body
from twilio_sim import ACCOUNT_SID, call_params, signed_form
from twilio_support import FakeRuntime, twilio_settings

from callport.call.dial import Answered, DialCause, DialFailed, DialOptions, DialResult
from callport.channels.sip.channel import SipChannel
from callport.channels.telnyx.channel import TelnyxChannel
from callport.channels.telnyx.rest import TelnyxCallControl
from callport.channels.twilio.channel import TwilioChannel
from callport.channels.twilio.rest import TwilioClient
from callport.config import Settings, SipSettings, TelnyxSettings

CA = "CA" + "c" * 32
CCID = "v3:out-42"
TWILIO_BASE = "https://gw.example.com"
SIP_SCENARIOS = Path(__file__).resolve().parent.parent / "sip" / "scenarios"
SCENARIOS = Path(__file__).parent / "scenarios"
OUTCOMES = ("answered", "busy", "no-answer", "carrier-error", "auth-error")


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


class RestApi:
    """A carrier REST API: the call create answers ``create``; anything else (hang-up) 200."""

    def __init__(self, create: tuple[int, dict[str, Any]], create_path: str) -> None:
        self.create = create
        self.create_path = create_path
        self.seen: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        if request.url.path == self.create_path:
            status, body = self.create
            return httpx.Response(status, json=body)
        return httpx.Response(200, json={"data": {"result": "ok"}, "status": "completed"})


# ------------------------------------------------------------------------------ Twilio

TWILIO_CREATE = {
    "carrier-error": (500, {"code": 20500, "message": "Internal Server Error"}),
    "auth-error": (401, {"code": 20003, "message": "Authenticate"}),
}
TWILIO_CALLBACKS = {
    "answered": ["ringing", "in-progress"],
    "busy": ["busy"],
    "no-answer": ["ringing", "no-answer"],
}


async def twilio_dial(outcome: str, _: Path) -> DialResult:
    settings = twilio_settings(account_sid=ACCOUNT_SID, public_base_url=TWILIO_BASE,
                               numbers=("+15550002222",))
    api = RestApi(TWILIO_CREATE.get(outcome, (201, {"sid": CA, "status": "queued"})),
                  f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    channel = TwilioChannel(runtime=FakeRuntime(settings=settings), control=TwilioClient
                            .from_settings(settings.twilio, transport=httpx.MockTransport(api)))
    app = Starlette(routes=list(channel.routes()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        task = asyncio.create_task(channel.outbound.dial("tel:+15550009999", "",
                                                         DialOptions(timeout_s=5)))
        callbacks = TWILIO_CALLBACKS.get(outcome, [])
        if callbacks:
            await until(lambda: channel.book.by_provider_id(CA) is not None)
        for status in callbacks:  # Twilio reports progress to our status URL, signed
            params = call_params(CA, status=status, Direction="outbound-api",
                                 From="+15550002222", To="+15550009999")
            body, headers = signed_form(TWILIO_BASE + "/twilio/status", params)
            response = await http.post("/twilio/status", content=body, headers=headers)
            assert response.status_code == 204, response.text
        result = await asyncio.wait_for(task, 10)
    await channel.stop()
    if isinstance(result, Answered):
        call = channel.book.get(result.call_id)
        assert call is not None and call.provider_call_id == CA and call.status == "in-progress"
    return result


# ------------------------------------------------------------------------------ Telnyx

TELNYX_CREATE = {
    "carrier-error": (500, {"errors": [{"code": "10001", "title": "Internal error"}]}),
    "auth-error": (401, {"errors": [{"code": "10009", "title": "Authentication failed"}]}),
}
TELNYX_EVENTS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "answered": [("call.initiated", {"direction": "outgoing"}), ("call.answered", {})],
    "busy": [("call.hangup", {"hangup_cause": "user_busy", "sip_hangup_cause": "486"})],
    "no-answer": [("call.initiated", {"direction": "outgoing"}),
                  ("call.hangup", {"hangup_cause": "timeout"})],
}


async def telnyx_dial(outcome: str, _: Path) -> DialResult:
    signer = Signer()
    settings = Settings(telnyx=TelnyxSettings(
        api_key="KEY", public_key=signer.public_b64, public_base_url="https://gw.example",
        api_base_url="http://telnyx.local", connection_id="conn-1", numbers=("+15550002222",)))
    api = RestApi(TELNYX_CREATE.get(outcome, (200, {"data": {"call_control_id": CCID}})),
                  "/v2/calls")
    control = TelnyxCallControl(api_key="KEY", base_url="http://telnyx.local",
                                connection_id="conn-1",
                                http=httpx.AsyncClient(transport=httpx.MockTransport(api)))
    channel = TelnyxChannel(runner=EchoRunner(settings), control=control)
    app = Starlette(routes=list(channel.routes()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        task = asyncio.create_task(channel.outbound.dial("+15550009999", "",
                                                         DialOptions(timeout_s=5)))
        events = TELNYX_EVENTS.get(outcome, [])
        if events:
            await until(lambda: channel.book.by_provider_id(CCID) is not None)
        call = channel.book.by_provider_id(CCID)
        for kind, payload in events:  # Telnyx reports progress to our webhook, signed
            assert call is not None
            body = event_body(kind, CCID, client_state=call.call_id, **payload)
            response = await http.post("/telnyx/webhook", content=body,
                                       headers=signer.headers(body, timestamp=int(time.time())))
            assert response.status_code == 200, response.text
        result = await asyncio.wait_for(task, 10)
    await channel.stop()
    return result


# ------------------------------------------------------------------------------ SIP


def final_scenario(tmp_path: Path, status: str) -> str:
    """``uas_final.xml`` answering 180 Ringing, then ``status`` (e.g. "486 Busy Here")."""
    code, reason = status.split(" ", 1)
    text = (SCENARIOS / "uas_final.xml").read_text()
    path = tmp_path / f"uas_{code}.xml"
    path.write_text(text.replace("STATUS REASON", f"{code} {reason}"))
    return str(path)


def sipp_args(outcome: str, tmp_path: Path) -> tuple[str, ...]:
    match outcome:
        case "answered":
            return ("-sn", "uas")
        case "busy":
            return ("-sf", final_scenario(tmp_path, "486 Busy Here"))
        case "no-answer":
            return ("-sf", str(SCENARIOS / "uas_ring_forever.xml"))
        case "carrier-error":
            return ("-sf", final_scenario(tmp_path, "503 Service Unavailable"))
        case _:
            return ("-sf", str(SIP_SCENARIOS / "uas_auth.xml"))


async def sip_dial(outcome: str, tmp_path: Path) -> DialResult:
    low, high = rtp_range()
    runtime = RecordingRuntime()
    channel = SipChannel(runtime, settings=SipSettings(  # type: ignore[arg-type]
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        trunk_username="trunkuser" if outcome == "auth-error" else "",
        trunk_password="wrong"))
    await channel.start()
    try:
        proc, port = await start_sipp_uas(tmp_path, *sipp_args(outcome, tmp_path))
        ring = 1.0 if outcome == "no-answer" else 5.0
        result = await channel.outbound.dial(f"sip:bob@127.0.0.1:{port}",
                                             options=DialOptions(timeout_s=ring))
        if isinstance(result, Answered):  # the flow runs through the runtime on the leg
            assert result.leg is not None
            await until(lambda: len(runtime.calls) == 1)
            await result.leg.hangup()
            await asyncio.wait_for(channel.outbound.finished(result.call_id), 5)
        assert await finish(proc) == 0  # sipp saw the exchange it expected
        assert channel.calls == {} and channel.pool.in_use == set()
    finally:
        await channel.stop()
    return result


# ------------------------------------------------------------------------------ the contract

DIALS = {"twilio": twilio_dial, "telnyx": telnyx_dial, "sip": sip_dial}
SIP_MARKS = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
CASES = [
    pytest.param(carrier, outcome, id=f"{carrier}-{outcome}",
                 marks=SIP_MARKS if carrier == "sip" else [])
    for carrier in DIALS for outcome in OUTCOMES
]
EXPECTED = {
    "busy": DialCause.BUSY,
    "no-answer": DialCause.NO_ANSWER,
    "carrier-error": DialCause.CARRIER_ERROR,
    "auth-error": DialCause.AUTH_ERROR,
}
# what each carrier itself said, kept on the failure
CARRIER_SAID: dict[tuple[str, str], dict[str, object]] = {
    ("twilio", "carrier-error"): {"http_status": 500, "provider_code": "20500"},
    ("twilio", "auth-error"): {"http_status": 401, "provider_code": "20003"},
    ("telnyx", "busy"): {"sip_status": 486, "provider_code": "user_busy"},
    ("telnyx", "no-answer"): {"provider_code": "timeout", "early_media": True},
    ("telnyx", "carrier-error"): {"http_status": 500, "provider_code": "10001"},
    ("telnyx", "auth-error"): {"http_status": 401, "provider_code": "10009"},
    ("sip", "busy"): {"sip_status": 486},
    ("sip", "no-answer"): {"sip_status": 480},
    ("sip", "carrier-error"): {"sip_status": 503},
    ("sip", "auth-error"): {"sip_status": 403},
    ("twilio", "no-answer"): {"early_media": True},
}


@pytest.mark.parametrize(("carrier", "outcome"), CASES)
async def test_dial_outcome_is_typed(carrier: str, outcome: str, tmp_path: Path) -> None:
    result = await DIALS[carrier](outcome, tmp_path)
    assert result.carrier == carrier
    if outcome == "answered":
        assert isinstance(result, Answered), result
        assert result.call_id and result.provider_call_id
        assert (result.leg is not None) == (carrier == "sip")  # PSTN media goes to the server
        return
    assert isinstance(result, DialFailed), result
    assert result.cause is EXPECTED[outcome], result.describe()
    for name, value in CARRIER_SAID.get((carrier, outcome), {}).items():
        assert getattr(result, name) == value, (name, result)
    # what failover reads: the carrier's trouble may go elsewhere, the callee's "no" not
    if outcome in ("carrier-error", "auth-error"):
        assert result.carrier_trouble and result.may_fail_over and not result.callee_said_no
    else:
        assert result.callee_said_no and not result.may_fail_over
