"""A blind transfer on a Twilio call, end to end on the simulator: simulated Twilio media
stream -> uvicorn -> TwilioChannel -> MediaStreamLeg -> a Call with callport's transfer
service -> the real TwilioClient against a mock of Twilio's REST API (the call update with
``<Dial>``). Accepted: HANDED_OFF, and the stream's stop ends the leg "transferred" with no
hang-up sent. Refused by Twilio (400, 21211): FAILED with the HTTP status, and the caller
hears the apology and stays on the stream."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import numpy as np
from twilio_support import Server

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EnergyVad, ScriptedSTT, ToneTTS

from callport.call.call import Call, SayResult
from callport.call.leg import Leg
from callport.call.session import CallSession
from callport.call.transfers import TransferOutcome, TransferResult
from callport.channels.twilio.rest import TwilioClient
from callport.config import TwilioSettings
from callport.flows.transfer import Transfers
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.turn import TurnDetector

AC = "AC" + "1" * 32
TARGET = "tel:+15557654321"


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class TwilioApi:
    """Twilio's REST API as an httpx.MockTransport: answers every request with ``status``."""

    def __init__(self, status: int, body: dict[str, object]) -> None:
        self.status = status
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    def forms(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.content.decode()) for r in self.requests]


def transferring_flow(results: list[TransferResult], tts: ToneTTS,  # type: ignore[no-untyped-def]
                      said: list[SayResult] | None = None):
    said = said if said is not None else []

    async def flow(leg: Leg, info: CallInfo) -> None:
        session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                              turn=TurnDetector(), metrics=Metrics(), clock=time.monotonic)
        call = Call(session=session, info=info, stt=ScriptedSTT([]), tts=tts,
                    agent_factory=lambda i: None, clock=time.monotonic)  # type: ignore[arg-type,return-value]
        call.transfers = Transfers(new_call=lambda leg, info: call)  # no dialer: leg or nothing
        session.start()
        try:
            result = await call.transfer_blind(TARGET)
            results.append(result)
            if not result.ok:
                said.append(await call.say(result.apology))
                await session.wait_ended()
        finally:
            await session.close()

    return flow


def with_api(server: Server, api: TwilioApi) -> None:
    settings = TwilioSettings(account_sid=AC, auth_token="secret",
                              api_base_url="https://api.example.test")
    server.channel.control = TwilioClient.from_settings(  # type: ignore[assignment]
        settings, transport=httpx.MockTransport(api))


async def test_blind_transfer_is_handed_to_twilio(server: Server) -> None:
    api = TwilioApi(200, {"sid": "CA" + "2" * 32})
    with_api(server, api)
    results: list[TransferResult] = []
    server.runtime.flow = transferring_flow(results, ToneTTS())
    sim = await server.call()
    await until(lambda: bool(results))
    [result] = results
    assert result.outcome is TransferOutcome.HANDED_OFF and result.how == "provider"
    [form] = api.forms()
    assert form["Twiml"] == ['<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
                             "<Number>+15557654321</Number></Dial></Response>"]
    await sim.stop()  # Twilio runs the new TwiML: our stream stops
    await until(lambda: len(server.runtime.finished) == 1)
    assert len(api.requests) == 1  # no hang-up after the hand-off
    [(_, info)] = server.runtime.started
    record = server.channel.book.get(info.call_id)
    assert record is not None and any("transfer to" in line for _, line in record.log)


async def test_blind_transfer_twilio_refuses_keeps_the_caller(server: Server) -> None:
    api = TwilioApi(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    with_api(server, api)
    results: list[TransferResult] = []
    said: list[SayResult] = []
    server.runtime.flow = transferring_flow(results, ToneTTS(), said)
    sim = await server.call()
    await until(lambda: bool(results))
    [result] = results
    assert result.outcome is TransferOutcome.FAILED and result.how == "provider"
    assert result.http_status == 400 and "Invalid 'To' Phone Number" in result.detail
    await until(lambda: bool(said))
    # played to the end: the simulator echoed the marks of every frame of it
    assert said == [SayResult(heard="Sorry, I couldn't put you through. I'm still here.",
                              interrupted=False)]
    heard = sim.heard.pcm().astype(np.float64)
    assert len(heard) >= 7200 and np.sqrt(np.mean(heard[-4000:] ** 2)) > 100  # 9 words, 0.9 s
    assert server.runtime.finished == []  # still on the line with us
    await sim.stop()
    await until(lambda: len(server.runtime.finished) == 1)
