"""The spoken Task Manager over a simulated Telnyx call, through the real Runtime (slow).

A signed ``call.initiated`` webhook -> our ``answer`` command (REST stand-in) -> the media
WebSocket opened with the stream token -> Piper speech streamed in real time as PCMU/8000
or big-endian L16/16000 frames -> Silero VAD, Whisper, Task Manager, Piper in the server ->
reply frames played by the simulated Telnyx -> the played audio transcribed with Whisper.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from telnyx_sim import Signer, event_body
from telnyx_support import TelnyxApi, TelnyxStream, serve

from callport.audio.resample import resample
from callport.config import IdentitySettings, ServerSettings, Settings, TelnyxSettings

pytestmark = pytest.mark.slow

CCID = "v3:tm-call-1"
CASE_LIMIT_S = 60.0


@pytest.mark.parametrize(("codec", "rate"), [("PCMU", 8000), ("L16", 16000)])
async def test_spoken_task_manager_call_over_telnyx(tmp_path: Path, codec: str, rate: int) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from callport.agents.base import CallInfo, UserSaid
    from callport.channels.telnyx.channel import TelnyxChannel
    from callport.channels.telnyx.rest import TelnyxCallControl
    from callport.server.runtime import build_runtime
    from callport.speech.piper import PiperTTS
    from callport.speech.whisper import WhisperSTT

    signer = Signer()
    settings = dataclasses.replace(
        Settings(server=ServerSettings(db=str(tmp_path / "tasks.db")),
                 identity=IdentitySettings(unknown="owner")),  # a personal line: the owner's list
        telnyx=TelnyxSettings(
            api_key="KEY",
            public_key=signer.public_b64,
            api_base_url="http://telnyx.local",
            codec=codec,
        ),
    )
    tts, stt = PiperTTS(deterministic=True), WhisperSTT()  # repeatable audio both ways
    runtime = build_runtime(settings, stt=stt, tts=tts)
    await runtime.warmup()
    agent = runtime.agent_factory(CallInfo(call_id="warmup", channel="test"))
    async for _ in agent.respond(UserSaid("what is on my list")):
        pass  # load the intent model before the call
    caller = [c async for c in tts.synthesize("Add a task to buy milk tomorrow.")]
    speech = resample(np.concatenate([c.pcm for c in caller]), caller[0].sample_rate, rate)

    api = TelnyxApi("KEY")
    control = TelnyxCallControl(
        api_key="KEY",
        base_url="http://telnyx.local",
        codec=codec,
        http=httpx.AsyncClient(transport=httpx.MockTransport(api)),
    )
    channel = TelnyxChannel(runner=runtime, control=control)
    uv, task, base = await serve(channel)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient() as http, asyncio.timeout(CASE_LIMIT_S):
            body = event_body(
                "call.initiated",
                CCID,
                direction="incoming",
                **{"from": "+15550001111", "to": "+15550002222"},
            )
            r = await http.post(
                base + "/telnyx/webhook",
                content=body,
                headers=signer.headers(body, timestamp=int(time.time())),
            )
            assert r.status_code == 200, r.text
            answer = api.answer_for(CCID)
            assert answer["stream_codec"] == codec
            assert answer["stream_bidirectional_sampling_rate"] == rate
            assert answer["stream_url"] == "ws" + base.removeprefix("http") + "/telnyx/media"
            call_id = base64.b64decode(str(answer["client_state"])).decode()

            sim = await TelnyxStream.open(
                str(answer["stream_url"]),
                token=str(answer["stream_auth_token"]),
                ccid=CCID,
                call_id=call_id,
                codec=codec,
                rate=rate,
            )
            greeting_frames = await sim.quiet_for(1.0, timeout=20)
            greeting_end = len(sim.played)
            sim.say(speech)
            await sim.quiet_for(1.5, timeout=30, after=greeting_frames)
            tasks = await runtime.store.list(include_done=True)
            hangup = event_body(
                "call.hangup",
                CCID,
                client_state=call_id,
                hangup_cause="normal_clearing",
                hangup_source="caller",
            )
            r = await http.post(
                base + "/telnyx/webhook",
                content=hangup,
                headers=signer.headers(hangup, timestamp=int(time.time())),
            )
            assert r.status_code == 200
            while runtime.active:  # the webhook ended the leg; the session winds down
                await asyncio.sleep(0.05)
            await sim.close()
    finally:
        uv.should_exit = True
        await task
        await channel.stop()
    elapsed = time.monotonic() - started

    heard = sim.heard()
    split = greeting_end // (1 if codec == "PCMU" else 2)
    greeting = await stt.transcribe(resample(heard[:split], rate, 16000), 16000)
    reply = await stt.transcribe(resample(heard[split:], rate, 16000), 16000)
    assert any(w in greeting.text.lower() for w in ("task manager", "automated")), greeting.text
    print(f"{codec}: greeting {greeting.text!r}, reply {reply.text!r}, {elapsed:.1f} s")
    assert "milk" in reply.text.lower(), reply.text
    assert any("milk" in t.title.lower() for t in tasks), tasks  # "buy" may be heard as "by"
    assert sim.marks_echoed, "the session marked its speech; the simulator echoed the marks"
    # the caller hung up (webhook): we never sent a REST hang-up of our own
    assert [p for p, _ in api.requests] == [f"/v2/calls/{CCID}/actions/answer"]
