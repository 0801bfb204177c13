"""One call-flow suite, run against every PSTN provider through the shared interface.

Each provider supplies only its wire dialect (how its frames, signed webhooks and REST
"already ended" answers look); the assertions are the same for all: audio through the
shared MediaStreamLeg in both directions, DTMF, marks (played, and unplayed after clear),
stop ends the leg, a forged webhook is refused, hang-up of an ended call is success.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

from callport.agents.base import CallInfo
from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.call.events import AudioIn, Dtmf, HungUp, Marked
from callport.call.leg import Leg
from callport.channels.media_stream import Admission, run_media_stream
from callport.channels.provider import (
    CallControl,
    MediaCore,
    ProviderWebhooks,
    WebhookRejected,
    WebhookRequest,
)
from callport.channels.telnyx.media import TelnyxMediaCore, encode_client_state
from callport.channels.telnyx.rest import TelnyxCallControl
from callport.channels.telnyx.webhook import TelnyxWebhooks
from callport.channels.twilio.media import TwilioMediaCore
from callport.channels.twilio.rest import TwilioClient
from callport.channels.twilio.webhooks import TwilioWebhooks

NOW = 1_760_000_000.0
URL = "https://gw.example/hook"


@dataclass
class Provider:
    name: str
    core: Callable[[], MediaCore]
    opening: Callable[[], list[str]]  # connected + start frames
    media: Callable[[int, bytes], str]
    dtmf: Callable[[str], str]
    mark: Callable[[str], str]
    stop: Callable[[], str]
    webhooks: ProviderWebhooks
    signed: Callable[[bytes], WebhookRequest]
    control: Callable[[httpx.MockTransport], CallControl]
    gone: httpx.Response  # the provider's "call already ended" answer to a hang-up


def _twilio() -> Provider:
    token = "f" * 32
    seq = iter(range(1, 10_000))
    sid = {"streamSid": "MZ1"}

    def frame(event: str, **body: object) -> str:
        return json.dumps({"event": event, "sequenceNumber": str(next(seq)), **sid, **body})

    def signed(body: bytes) -> WebhookRequest:
        params = dict(pair.split("=") for pair in body.decode().split("&"))
        sig = RequestValidator(token).compute_signature(URL, params)
        return WebhookRequest(url=URL, headers={"x-twilio-signature": sig}, body=body)

    return Provider(
        name="twilio",
        core=TwilioMediaCore,
        opening=lambda: [
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            frame("start", start={"streamSid": "MZ1", "callSid": "CA1", "accountSid": "AC1",
                                  "tracks": ["inbound"], "customParameters": {"call_id": "c1"},
                                  "mediaFormat": {"encoding": "audio/x-mulaw",
                                                  "sampleRate": 8000, "channels": 1}}),
        ],
        media=lambda k, p: frame("media", media={"track": "inbound", "chunk": str(k),
                                                 "timestamp": str(20 * (k - 1)),
                                                 "payload": base64.b64encode(p).decode()}),
        dtmf=lambda d: frame("dtmf", dtmf={"track": "inbound_track", "digit": d}),
        mark=lambda n: frame("mark", mark={"name": n}),
        stop=lambda: frame("stop", stop={"accountSid": "AC1", "callSid": "CA1"}),
        webhooks=TwilioWebhooks(auth_token=token),
        signed=signed,
        control=lambda t: TwilioClient(account_sid="AC1", username="AC1", password=token,
                                       api_base_url="http://api.local", transport=t),
        gone=httpx.Response(404, json={"code": 20404, "message": "not found"}),
    )


def _telnyx() -> Provider:
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    seq = iter(range(1, 10_000))

    def frame(event: str, **body: object) -> str:
        return json.dumps({"event": event, "sequence_number": str(next(seq)), "stream_id": "s1",
                           **body})

    def signed(body: bytes) -> WebhookRequest:
        ts = str(int(NOW))
        sig = base64.b64encode(key.sign(ts.encode() + b"|" + body)).decode()
        return WebhookRequest(url=URL, body=body, headers={"telnyx-signature-ed25519": sig,
                                                           "telnyx-timestamp": ts})

    return Provider(
        name="telnyx",
        core=TelnyxMediaCore,
        opening=lambda: [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            frame("start", start={"call_control_id": "v3:1", "client_state":
                                  encode_client_state("c1"),
                                  "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                                   "channels": 1}}),
        ],
        media=lambda k, p: frame("media", media={"track": "inbound", "chunk": str(k),
                                                 "timestamp": str(20 * (k - 1)),
                                                 "payload": base64.b64encode(p).decode()}),
        dtmf=lambda d: frame("dtmf", dtmf={"digit": d}),
        mark=lambda n: frame("mark", mark={"name": n}),
        stop=lambda: frame("stop", stop={"call_control_id": "v3:1"}),
        webhooks=TelnyxWebhooks(public_key=public.decode()),
        signed=signed,
        control=lambda t: TelnyxCallControl(api_key="k", base_url="http://api.local",
                                            http=httpx.AsyncClient(transport=t)),
        gone=httpx.Response(422, json={"errors": [{"code": "90018",
                                                   "title": "Call has already ended"}]}),
    )


@pytest.fixture(params=["twilio", "telnyx"])
def provider(request: pytest.FixtureRequest) -> Provider:
    return _twilio() if request.param == "twilio" else _telnyx()


class Wire:
    """The provider's side of the socket: frames we feed, frames the leg sends back."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[dict[str, object]] = []
        self.closed: list[int] = []

    async def receive(self) -> str | None:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close_socket(self, code: int) -> None:
        self.closed.append(code)

    def payloads(self) -> list[bytes]:
        return [base64.b64decode(str(m["media"]["payload"]))  # type: ignore[index]
                for m in self.sent if m["event"] == "media"]

    def marks(self) -> list[str]:
        return [str(m["mark"]["name"]) for m in self.sent if m["event"] == "mark"]  # type: ignore[index]


async def _run(provider: Provider, script: Callable[[Wire, list[object]], object]) -> list[object]:
    wire = Wire()
    events: list[object] = []
    done = asyncio.Event()

    async def flow(leg: Leg, info: CallInfo) -> None:
        n = 0
        while True:
            ev = await leg.recv()
            events.append(ev)
            match ev:
                case AudioIn(pcm=pcm):
                    await leg.send_audio(pcm)
                    n += 1
                    if n == 3:
                        await leg.mark("after-3")
                case Dtmf(digit="9"):
                    await leg.mark("doomed")
                    await leg.clear()
                case HungUp():
                    done.set()
                    return

    for text in provider.opening():
        wire.inbox.put_nowait(text)
    driver = asyncio.create_task(run_media_stream(
        receive=wire.receive, send_text=wire.send_text, close_socket=wire.close_socket,
        core=provider.core(), admit=lambda start, _c: Admission(
            info=CallInfo(call_id="c1", channel=provider.name)),
        run_call=flow))
    await script(wire, events)  # type: ignore[misc]
    await asyncio.wait_for(done.wait(), 5)
    wire.inbox.put_nowait(None)
    await asyncio.wait_for(driver, 5)
    return events


async def until(cond: Callable[[], bool]) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_echo_audio_dtmf_and_marks(provider: Provider) -> None:
    pcm = [(np.sin(np.arange(160) * (k + 1) / 9) * 7000).astype(np.int16) for k in range(4)]

    async def script(wire: Wire, events: list[object]) -> None:
        for k, p in enumerate(pcm, start=1):
            wire.inbox.put_nowait(provider.media(k, ulaw_encode(p)))
        await until(lambda: len(wire.marks()) == 1 and len(wire.payloads()) >= 3)
        wire.inbox.put_nowait(provider.mark(wire.marks()[0]))  # played
        wire.inbox.put_nowait(provider.dtmf("5"))
        wire.inbox.put_nowait(provider.dtmf("9"))  # flow marks then clears
        await until(lambda: len(wire.marks()) == 2)
        wire.inbox.put_nowait(provider.mark(wire.marks()[1]))  # echoed by the clear
        wire.inbox.put_nowait(provider.stop())

    events = await _run(provider, script)
    audio = [e for e in events if isinstance(e, AudioIn)]
    assert [round(e.at, 3) for e in audio] == [0.02, 0.04, 0.06, 0.08]
    for e, p in zip(audio, pcm, strict=True):
        np.testing.assert_array_equal(e.pcm, ulaw_decode(ulaw_encode(p)))
    assert Marked("after-3", played=True) in events
    assert Marked("doomed", played=False) in events
    assert [e for e in events if isinstance(e, Dtmf)] == [Dtmf("5", at=0.08), Dtmf("9", at=0.08)]
    assert isinstance(events[-1], HungUp)


async def test_garbage_frames_do_not_end_the_call(provider: Provider) -> None:
    async def script(wire: Wire, events: list[object]) -> None:
        for junk in ("not json", "[]", '{"event": "nonsense"}', '{"event": "media"}'):
            wire.inbox.put_nowait(junk)
        wire.inbox.put_nowait(provider.media(1, b"\xff" * 160))
        await until(lambda: len(wire.payloads()) == 1)
        wire.inbox.put_nowait(provider.stop())

    events = await _run(provider, script)
    assert sum(isinstance(e, AudioIn) for e in events) == 1


def test_forged_webhook_is_refused(provider: Provider) -> None:
    body = urlencode({"CallSid": "CA1", "CallStatus": "ringing"}).encode()
    if provider.name == "telnyx":
        body = json.dumps({"data": {"event_type": "call.initiated", "id": "e",
                                    "payload": {"call_control_id": "v3:1"}}}).encode()
    good = provider.signed(body)
    provider.webhooks.verify(good, now=NOW)
    assert provider.webhooks.parse(good)
    forged = WebhookRequest(url=good.url, headers=good.headers, body=body + b"x")
    with pytest.raises(WebhookRejected) as err:
        provider.webhooks.verify(forged, now=NOW)
    assert err.value.status_hint == 403


async def test_hangup_of_an_ended_call_is_success(provider: Provider) -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return provider.gone

    control = provider.control(httpx.MockTransport(api))
    await control.hangup("CA1" if provider.name == "twilio" else "v3:1")
    assert len(seen) == 1 and seen[0].method == "POST"
    await control.aclose()
