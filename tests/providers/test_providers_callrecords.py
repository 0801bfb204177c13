"""Both PSTN channels record their calls in the runtime's CallStore the same way: a record
when the call is offered, its provider id, status from callbacks, stream and hang-up events.

Each provider only supplies its dialect (signed webhooks, the stream's opening frames); the
assertions on the stored record are shared."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from callport.agents.base import CallInfo
from callport.call.events import HungUp
from callport.call.leg import Leg
from callport.channels.telnyx.channel import TelnyxChannel
from callport.channels.telnyx.media import encode_client_state
from callport.channels.telnyx.rest import TelnyxCallControl
from callport.channels.twilio.channel import TwilioChannel
from callport.config import Settings, TelnyxSettings, TwilioSettings
from callport.store.calls import CallEvent, CallRecord, MemoryCallStore

PUBLIC = "https://gw.example"
NOW = 1_760_000_000
CALLER, CALLEE = "+15550001111", "+15550002222"


@dataclass
class StoreRuntime:
    """The parts of ``Runtime`` a PSTN channel uses: settings, ``calls``, ``run_call``."""

    settings: Settings
    calls: MemoryCallStore = field(default_factory=MemoryCallStore)
    infos: list[CallInfo] = field(default_factory=list)

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        self.infos.append(info)
        while not isinstance(await leg.recv(), HungUp):
            pass


@dataclass
class Dialect:
    """One provider's way through a call; every step drives the real channel."""

    name: str
    provider_call_id: str
    runtime: StoreRuntime
    client: TestClient
    ring: Callable[[], dict[str, str]]  # -> stream parameters
    stream: Callable[[dict[str, str]], None]  # open the media socket, admitted, then close
    hang_up: Callable[[], None]  # the provider's "call ended" callback


def twilio() -> Dialect:
    token = "f" * 32
    sid = "CA" + "b" * 32
    settings = replace(Settings(), twilio=TwilioSettings(auth_token=token,
                                                         public_base_url=PUBLIC))
    runtime = StoreRuntime(settings=settings)
    channel = TwilioChannel(runtime=runtime, now=lambda: float(NOW))
    client = TestClient(Starlette(routes=list(channel.routes())), base_url=PUBLIC)

    def post(path: str, status: str) -> httpx.Response:
        params = {"CallSid": sid, "CallStatus": status, "From": CALLER, "To": CALLEE,
                  "Direction": "inbound"}
        signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
        return client.post(path, content=urlencode(params).encode(), headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"})

    def ring() -> dict[str, str]:
        response = post("/twilio/voice", "ringing")
        assert response.status_code == 200
        return {p.split('"')[1]: p.split('"')[3]
                for p in response.text.split("<Parameter ")[1:]}

    def stream(params: dict[str, str]) -> None:
        with client.websocket_connect("/twilio/media") as ws:
            ws.send_text(json.dumps({"event": "connected", "protocol": "Call"}))
            ws.send_text(json.dumps({
                "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
                "start": {"streamSid": "MZ1", "callSid": sid, "customParameters": params,
                          "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                          "channels": 1}}}))
            ws.send_text(json.dumps({"event": "stop", "sequenceNumber": "2",
                                     "streamSid": "MZ1"}))

    def hang_up() -> None:
        assert post("/twilio/status", "completed").status_code == 204

    return Dialect("twilio", sid, runtime, client, ring, stream, hang_up)


def telnyx() -> Dialect:
    ccid = "v3:records-1"
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    settings = replace(Settings(), telnyx=TelnyxSettings(
        api_key="KEY", public_key=public.decode(), public_base_url=PUBLIC,
        api_base_url="http://telnyx.local"))
    runtime = StoreRuntime(settings=settings)
    answers: list[dict[str, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/answer"):
            answers.append(json.loads(request.content))
        return httpx.Response(200, json={"data": {"result": "ok"}})

    control = TelnyxCallControl(api_key="KEY", base_url="http://telnyx.local",
                                http=httpx.AsyncClient(transport=httpx.MockTransport(api)))
    channel = TelnyxChannel(runner=runtime, control=control, clock=lambda: float(NOW))
    client = TestClient(Starlette(routes=list(channel.routes())), base_url=PUBLIC)

    def post(event_type: str, **payload: str) -> None:
        body = json.dumps({"data": {"event_type": event_type, "payload": {
            "call_control_id": ccid, **payload}}}).encode()
        sig = key.sign(str(NOW).encode() + b"|" + body)
        response = client.post("/telnyx/webhook", content=body, headers={
            "telnyx-signature-ed25519": base64.b64encode(sig).decode(),
            "telnyx-timestamp": str(NOW), "content-type": "application/json"})
        assert response.status_code == 200

    def ring() -> dict[str, str]:
        post("call.initiated", direction="incoming", **{"from": CALLER, "to": CALLEE})
        (answer,) = answers
        call_id = base64.b64decode(answer["client_state"]).decode()
        return {"call_id": call_id, "token": answer["stream_auth_token"]}

    def stream(params: dict[str, str]) -> None:
        with client.websocket_connect("/telnyx/media") as ws:
            ws.send_text(json.dumps({"event": "connected", "version": "1.0.0",
                                     "x-telnyx-streaming-auth-token": params["token"]}))
            ws.send_text(json.dumps({
                "event": "start", "sequence_number": "1", "stream_id": "st-1",
                "start": {"call_control_id": ccid,
                          "client_state": encode_client_state(params["call_id"]),
                          "from": CALLER, "to": CALLEE,
                          "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                           "channels": 1}}}))
            post("call.hangup", client_state=params["call_id"], hangup_cause="normal_clearing")

    def hang_up() -> None:  # Telnyx said so during the stream; a retry changes nothing
        post("call.hangup", hangup_cause="normal_clearing")

    return Dialect("telnyx", ccid, runtime, client, ring, stream, hang_up)


def stored(runtime: StoreRuntime, call_id: str) -> tuple[CallRecord | None, list[CallEvent]]:
    async def read() -> tuple[CallRecord | None, list[CallEvent]]:
        return await runtime.calls.get(call_id), await runtime.calls.events(call_id)

    return asyncio.run(read())


@pytest.mark.parametrize("make", [twilio, telnyx], ids=["twilio", "telnyx"])
def test_a_call_is_recorded_in_the_call_store(make: Callable[[], Dialect]) -> None:
    d = make()
    with d.client:
        params = d.ring()
        call_id = params["call_id"]
        record, events = stored(d.runtime, call_id)
        assert record is not None
        assert (record.channel, record.direction, record.caller, record.callee) == (
            d.name, "inbound", CALLER, CALLEE)
        assert record.provider_call_id == d.provider_call_id
        assert record.status == "ringing" and record.ended_at is None
        d.stream(params)
        if d.name == "twilio":  # the stream ran the call: in progress until Twilio ends it
            record, _ = stored(d.runtime, call_id)
            assert record is not None and record.status == "in-progress"
        d.hang_up()
    assert [info.call_id for info in d.runtime.infos] == [call_id]
    record, events = stored(d.runtime, call_id)
    assert record is not None and record.status == "completed"
    assert record.ended_at is not None
    assert ("CallRinging", "CallRinging") in [(e.kind, e.detail) for e in events]
    assert ("CallEnded", "ended: completed") in [(e.kind, e.detail) for e in events]


@pytest.mark.parametrize("make", [twilio, telnyx], ids=["twilio", "telnyx"])
def test_a_store_failure_never_fails_the_webhook(make: Callable[[], Dialect]) -> None:
    d = make()

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("database is locked")

    d.runtime.calls.create = broken  # type: ignore[method-assign]
    with d.client:
        params = d.ring()  # the call is still offered and answered
    assert params["call_id"] and params["token"]
    assert stored(d.runtime, params["call_id"])[0] is None


@pytest.mark.parametrize(("make", "cause"), [(twilio, "completed"), (telnyx, "normal_clearing")],
                         ids=["twilio", "telnyx"])
def test_a_call_that_ends_before_its_stream_closes_with_the_providers_cause(
        make: Callable[[], Dialect], cause: str) -> None:
    """Hung up while ringing: no stream ran it (so no session reason); the record ends with
    the provider's cause (it had none, a regression)."""
    d = make()
    with d.client:
        call_id = d.ring()["call_id"]
        d.hang_up()
    assert d.runtime.infos == []
    record, _ = stored(d.runtime, call_id)
    assert record is not None and record.status == "completed" and record.ended_at is not None
    assert record.hangup_cause == cause
