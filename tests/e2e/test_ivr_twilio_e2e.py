"""End to end: examples/ivr/acme.toml on the Twilio channel (signed voice webhook, TwiML
<Stream>, the media-stream WebSocket) with the caller's keys sent as Twilio ``dtmf`` events.
Key 9 leaves a voicemail (spoken audio after the tone, ``#`` ends it) that is in the SQLite
database for the owner with its transcript; key 3 connects the call's agent
(``agent:taskmanager``), which then hears the caller."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from ivr_support import ivr_runtime, ivr_settings, journal, until
from providers_support import serve

sys.path.insert(0, str(Path(__file__).parents[1] / "twilio"))
from twilio_sim import (
    AUTH_TOKEN,
    StreamSim,
    call_params,
    connect_action,
    parse_twiml,
    signed_form,
)

from callport.agents.base import AgentInput, AgentOutput, Say, UserSaid
from callport.call.call import Call
from callport.config import Settings, TwilioSettings
from callport.server.runtime import Runtime
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_calls import SqliteCallStore
from callport.store.voicemail import SqliteVoicemailStore

pytestmark = pytest.mark.slow

_sids = itertools.count(0x1F2)
CALLER = "+15550003333"


def settings(tmp_path: Path) -> Settings:
    base = dataclasses.replace(Settings(), twilio=TwilioSettings(auth_token=AUTH_TOKEN))
    return ivr_settings(base, tmp_path / "ivr.db")


@asynccontextmanager
async def twilio(runtime: Runtime) -> AsyncIterator[StreamSim]:
    """A Twilio call from ``CALLER`` into the IVR: yields the stream simulator."""
    from callport.channels.twilio.channel import TwilioChannel

    uv, task, base = await serve(TwilioChannel(runtime=runtime))
    try:
        async with httpx.AsyncClient() as http:
            sid = f"CA{next(_sids):032x}"
            url = base + "/twilio/voice"
            body, headers = signed_form(url, call_params(sid, From=CALLER))
            response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 200, response.text
            twiml = parse_twiml(response.text)
            ws = await websockets.connect(twiml.url)
            sim = StreamSim(ws, call_sid=sid, stream_sid="MZ" + sid[2:],
                            parameters=twiml.parameters)
            await sim.start()
            try:
                yield sim
            finally:
                await sim.close()
                # the stream is over: Twilio asks the <Connect action> and hangs up as told
                # (a number with no status callback: our <Hangup/> ends the record)
                assert "<Hangup" in await connect_action(http, twiml.action, sid)
    finally:
        uv.should_exit = True
        await task


def the_call(runtime: Runtime) -> Call:
    [call] = runtime.active.values()
    return call


def speech(seconds: float, freq: float = 420.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return (8000 * np.sin(2 * math.pi * freq * t)).astype(np.int16)


async def test_dtmf_9_leaves_a_voicemail_for_the_owner(tmp_path: Path) -> None:
    runtime, flow, tts = ivr_runtime(settings(tmp_path), heard="please call me back today")
    async with twilio(runtime) as sim:
        await until(lambda: runtime.active and the_call(runtime).listening.is_set()
                    and tts.spoken, "the menu prompt")
        await sim.dtmf("9")
        await until(lambda: any("after the tone" in s for s in tts.spoken)
                    and runtime.active and the_call(runtime).listening.is_set(), "the tone")
        call = the_call(runtime)
        sim.say(speech(0.8))
        await until(lambda: any(t.transcript for t in call.turns), "the message to be heard")
        await sim.dtmf("#")
        await until(lambda: not runtime.active, "the call to end after 'saved'")
    call_id, entry = journal(flow)
    assert entry.outcome == "voicemail"
    assert entry.steps == [{"menu": "main", "heard": None, "digits": "9",
                            "choice": "leave a message", "by": "dtmf", "confidence": 1.0}]
    assert any("has been saved" in s for s in tts.spoken)
    db = SqliteDb(tmp_path / "ivr.db")  # a fresh look into the server's database
    try:
        [message] = await SqliteVoicemailStore(db).list(for_user="owner")
        record = await SqliteCallStore(db).get(call_id)
    finally:
        db.close()
    assert record is not None and (record.channel, record.caller) == ("twilio", CALLER)
    assert record.status == "ended" and record.ended_at is not None and record.hangup_cause
    assert (message.call_id, message.caller, message.menu) == (call_id, CALLER, "main")
    assert message.transcript == "please call me back today"
    assert message.sample_rate == 8000 and message.seconds >= 0.5


class Desk:
    """Stands in for the Task Manager behind option 3: answers what it hears."""

    def __init__(self, heard: list[str]) -> None:
        self.heard = heard

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        if isinstance(event, UserSaid):
            self.heard.append(event.text)
            yield Say("You have two tasks.")

    def interrupted(self, heard: str) -> None:
        pass


async def test_dtmf_3_connects_the_agent(tmp_path: Path) -> None:
    heard: list[str] = []
    runtime, flow, tts = ivr_runtime(settings(tmp_path), heard="what is on my list",
                                     agent_factory=lambda info: Desk(heard))
    async with twilio(runtime) as sim:
        await until(lambda: runtime.active and the_call(runtime).listening.is_set()
                    and tts.spoken, "the menu prompt")
        await sim.dtmf("3")
        await until(lambda: flow.journals and journal(flow)[1].outcome, "a decision")
        await until(lambda: the_call(runtime).listening.is_set(), "the agent to listen")
        sim.say(speech(0.6))
        await until(lambda: "You have two tasks" in tts.spoken, "the agent's answer")
        await sim.stop()
        await until(lambda: not runtime.active, "the call to end")
        await asyncio.sleep(0)
    _, entry = journal(flow)
    assert entry.outcome == "agent:taskmanager"
    assert (entry.steps[0]["choice"], entry.steps[0]["by"]) == ("my tasks", "dtmf")
    assert heard == ["what is on my list"]
