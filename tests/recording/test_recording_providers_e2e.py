"""End to end per channel, the PSTN providers: a spoken call with consent over the Twilio
simulator (signed webhook, TwiML <Stream>, media WebSocket) and the Telnyx simulator (signed
``call.initiated``, answer command, media WebSocket) -> a recording whose left channel
transcribes (Whisper) to the caller's words and right to the agent's; over Twilio, a decline
-> no recording and the decision on the call record. See ``recording_e2e_support``."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from providers_support import serve
from recording_e2e_support import check_declined, check_recorded, converse, runtime, settings

sys.path.insert(0, str(Path(__file__).parents[1] / "twilio"))
sys.path.insert(0, str(Path(__file__).parents[1] / "telnyx"))
from telnyx_sim import Signer, event_body
from telnyx_support import TelnyxApi, TelnyxStream
from twilio_sim import AUTH_TOKEN, StreamSim, call_params, parse_twiml, signed_form

from callport.config import TelnyxSettings, TwilioSettings

pytestmark = pytest.mark.slow

_sids = itertools.count(0x7EC)


@pytest.mark.parametrize("answer", ["Yes I agree", "No I do not"])
async def test_twilio_call_recorded_with_consent_or_not(tmp_path: Path, answer: str) -> None:
    from callport.channels.twilio.channel import TwilioChannel

    base = settings(tmp_path, twilio=TwilioSettings(auth_token=AUTH_TOKEN))
    rt, tts = runtime(base, answer)
    uv, task, url = await serve(TwilioChannel(runtime=rt))
    try:
        async with httpx.AsyncClient() as http:
            sid = f"CA{next(_sids):032x}"
            body, headers = signed_form(url + "/twilio/voice",
                                        call_params(sid, From="+15550003333"))
            reply = await http.post(url + "/twilio/voice", content=body, headers=headers)
            assert reply.status_code == 200, reply.text
            twiml = parse_twiml(reply.text)
            sim = StreamSim(await websockets.connect(twiml.url), call_sid=sid,
                            stream_sid="MZ" + sid[2:], parameters=twiml.parameters)
            await sim.start()
            try:
                await converse(rt, tts, sim.say, 8000, answer=answer)
                await sim.stop()
            finally:
                await sim.close()
            while rt.active:
                await asyncio.sleep(0.05)
            body, headers = signed_form(url + "/twilio/status",  # Twilio's, after the call
                                        call_params(sid, status="completed", CallDuration="9"))
            done = await http.post(url + "/twilio/status", content=body, headers=headers)
            assert done.status_code == 204
    finally:
        uv.should_exit = True
        await task
    if answer.startswith("Yes"):
        check_recorded(base, "twilio")
    else:
        await check_declined(rt, base)


@pytest.mark.parametrize(("codec", "rate"), [("PCMU", 8000)])
async def test_telnyx_call_recorded_with_consent(tmp_path: Path, codec: str, rate: int) -> None:


    from callport.channels.telnyx.channel import TelnyxChannel
    from callport.channels.telnyx.rest import TelnyxCallControl

    signer = Signer()
    base = dataclasses.replace(settings(tmp_path), telnyx=TelnyxSettings(
        api_key="KEY", public_key=signer.public_b64, api_base_url="http://telnyx.local",
        codec=codec))
    rt, tts = runtime(base)
    api = TelnyxApi("KEY")
    control = TelnyxCallControl(api_key="KEY", base_url="http://telnyx.local", codec=codec,
                                http=httpx.AsyncClient(transport=httpx.MockTransport(api)))
    channel = TelnyxChannel(runner=rt, control=control)
    uv, task, url = await serve(channel)
    ccid = "v3:rec-call-1"
    try:
        async with httpx.AsyncClient() as http:
            body = event_body("call.initiated", ccid, direction="incoming",
                              **{"from": "+15550001111", "to": "+15550002222"})
            r = await http.post(url + "/telnyx/webhook", content=body,
                                headers=signer.headers(body, timestamp=int(time.time())))
            assert r.status_code == 200, r.text
            answer = api.answer_for(ccid)
            call_id = base64.b64decode(str(answer["client_state"])).decode()
            sim = await TelnyxStream.open(str(answer["stream_url"]),
                                          token=str(answer["stream_auth_token"]), ccid=ccid,
                                          call_id=call_id, codec=codec, rate=rate)
            try:
                await converse(rt, tts, sim.say, rate)
                hangup = event_body("call.hangup", ccid, client_state=call_id,
                                    hangup_cause="normal_clearing", hangup_source="caller")
                r = await http.post(url + "/telnyx/webhook", content=hangup,
                                    headers=signer.headers(hangup, timestamp=int(time.time())))
                assert r.status_code == 200
                async with asyncio.timeout(20):
                    while rt.active:
                        await asyncio.sleep(0.05)
            finally:
                await sim.close()
    finally:
        uv.should_exit = True
        await task
        await channel.stop()
    check_recorded(base, "telnyx")
