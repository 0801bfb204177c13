"""Whole calls: simulated Twilio -> uvicorn -> TwilioChannel -> MediaStreamLeg -> a flow."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import websockets
from providers_support import echo
from twilio_sim import call_params
from twilio_support import Server

from callport.agents.base import CallInfo
from callport.call.events import AudioIn, Dtmf, HungUp, LegEvent, Marked, TransferStarted
from callport.call.leg import Leg


def tone(freq: float, seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


class Recorder:
    """A flow that echoes caller audio (a mark per 10 frames) and records every leg event."""

    def __init__(self) -> None:
        self.events: dict[str, list[LegEvent]] = {}
        self.legs: dict[str, Leg] = {}

    async def __call__(self, leg: Leg, info: CallInfo) -> None:
        self.legs[info.call_id] = leg
        await echo(leg, self.events.setdefault(info.call_id, []).append, mark_every=10)


async def test_echo_call_round_trips_audio_and_stop_ends_leg(server: Server) -> None:
    flow = Recorder()
    server.runtime.flow = flow
    sim = await server.call()
    sim.say(tone(440, 0.6))
    await until(lambda: sim.caller_pending == 0 and len(sim.heard.audio) >= 8000)
    await sim.stop()
    await until(lambda: len(server.runtime.finished) == 1)

    (call_id,) = flow.events
    events = flow.events[call_id]
    assert isinstance(events[-1], HungUp) and events[-1].reason == "stream-stopped"
    audio = [e for e in events if isinstance(e, AudioIn)]
    assert all(e.pcm.size == 160 for e in audio)
    assert audio[0].at == 0.02 and audio[9].at == 0.2  # media time from sample counts
    # the tone came back: 440 Hz dominates what the caller heard
    heard = sim.heard.pcm().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(heard))
    peak_hz = np.argmax(spectrum) * 8000 / heard.size
    assert abs(peak_hz - 440) < 5
    played = [e for e in events if isinstance(e, Marked)]
    assert played and all(m.played for m in played)
    # the call was never hung up over REST (no credentials), the record says stream admitted
    record = server.channel.book.get(call_id)
    assert record is not None and any("stream admitted" in line for _, line in record.log)


async def test_dtmf_reaches_the_flow_and_hangup_closes_the_socket(server: Server) -> None:
    flow = Recorder()
    server.runtime.flow = flow
    sim = await server.call()
    await sim.dtmf("5")
    await sim.dtmf("#")
    await sim.wait_closed_by_server()
    await until(lambda: len(server.runtime.finished) == 1)
    (events,) = flow.events.values()
    digits = [e.digit for e in events if isinstance(e, Dtmf)]
    assert digits == ["5", "#"]
    assert events[-1] == HungUp("caller-pressed-hash")


async def test_barge_in_clear_reports_later_marks_unplayed(server: Server) -> None:
    heard: list[Marked] = []
    ready = asyncio.Event()

    async def talker(leg: Leg, info: CallInfo) -> None:
        # 2 s of agent speech queued at once, a mark after every 100 ms, then a clear
        speech = tone(300, 2.0)
        for i in range(0, speech.size, 800):
            await leg.send_audio(speech[i : i + 800])
            await leg.mark(f"m{i // 800}")
        ready.set()
        await asyncio.sleep(0.25)  # ~0.25 s plays, then the caller barges in
        await leg.clear()
        while not isinstance(event := await leg.recv(), HungUp):
            if isinstance(event, Marked):
                heard.append(event)

    server.runtime.flow = talker
    sim = await server.call()
    await ready.wait()
    await until(lambda: sim.heard.clears == 1 and len(heard) == 20)
    await sim.stop()
    await until(lambda: len(server.runtime.finished) == 1)

    played = [m.name for m in heard if m.played]
    unplayed = [m.name for m in heard if not m.played]
    assert [m.name for m in heard] == [f"m{i}" for i in range(20)]  # each mark once, in order
    assert 1 <= len(played) <= 6  # ~250 ms played (timing slack)
    assert played == [f"m{i}" for i in range(len(played))]
    assert len(sim.heard.marks_echoed_after_clear) == len(unplayed)
    assert len(sim.heard.audio) < 8000  # far less than the 2 s queued


async def test_stream_with_bad_or_reused_token_is_refused(server: Server) -> None:
    server.runtime.flow = Recorder()
    sid, params = await server.dial_in()
    sim = await server.open_stream(sid, {"token": "forged"})
    await sim.wait_closed_by_server()
    assert sim.ws.close_code == 1008
    first = await server.open_stream(sid, params)  # the genuine token works once...
    await until(lambda: len(server.runtime.started) == 1)
    second = await server.open_stream(sid, params)  # ...and only once
    await second.wait_closed_by_server()
    assert second.ws.close_code == 1008
    _, other_params = await server.dial_in()
    stolen = await server.open_stream(sid, other_params)  # a token is bound to its CallSid
    await stolen.wait_closed_by_server()
    assert len(server.runtime.started) == 1
    await first.stop()
    await until(lambda: len(server.runtime.finished) == 1)


async def test_garbage_on_one_call_does_not_disturb_another(server: Server) -> None:
    flow = Recorder()
    server.runtime.flow = flow
    good = await server.call()
    bad = await server.call()
    good.say(tone(600, 0.5))
    for junk in ("not json", "[1,2]", '{"event":"bogus"}', '{"event":"media","media":{}}',
                 '{"event":"media","media":{"payload":"@@@"}}', '{"event":"dtmf","dtmf":{}}',
                 '{"nothing": 1}', json.dumps({"event": "start"})):
        await bad.ws.send(junk)
    await bad.ws.send(b"\x00\x01binary")
    await bad.dtmf("7")  # still served after the junk
    await until(lambda: good.caller_pending == 0 and len(good.heard.audio) >= 4000)
    await until(lambda: server.channel.violations >= 9)
    await good.stop()
    await bad.stop()
    await until(lambda: len(server.runtime.finished) == 2)
    by_digit = {
        cid: [e.digit for e in events if isinstance(e, Dtmf)] for cid, events in flow.events.items()
    }
    assert sorted(by_digit.values()) == [[], ["7"]]
    heard = good.heard.pcm().astype(np.float64)
    peak_hz = np.argmax(np.abs(np.fft.rfft(heard))) * 8000 / heard.size
    assert abs(peak_hz - 600) < 5


async def test_transfer_survives_stop_and_action_dials_target(server: Server) -> None:
    class Control:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        sends_dtmf = False

        async def transfer(self, sid: str, target: str) -> None:
            self.calls.append(("transfer", sid + " " + target))

        async def hangup(self, sid: str) -> None:
            self.calls.append(("hangup", sid))

        async def aclose(self) -> None:
            return None

    control = Control()
    server.channel.control = control  # type: ignore[assignment]
    seen: list[LegEvent] = []

    async def transferring(leg: Leg, info: CallInfo) -> None:
        await leg.transfer("tel:+15557654321")
        while not isinstance(event := await leg.recv(), HungUp):
            seen.append(event)
        seen.append(event)
        await leg.hangup()  # after a handoff this must not end the call

    server.runtime.flow = transferring
    sim = await server.call()
    await until(lambda: control.calls != [])
    await sim.stop()  # Twilio stops the stream once the new TwiML runs
    await until(lambda: len(server.runtime.finished) == 1)
    assert control.calls == [("transfer", f"{sim.call_sid} tel:+15557654321")]
    assert TransferStarted("tel:+15557654321") in seen
    assert seen[-1] == HungUp("transferred")
    # had the stream ended without new TwiML, the <Connect action> dials the target
    after = call_params(sim.call_sid, status="in-progress")
    response = await server.post_signed("/twilio/after", after)
    assert "<Dial><Number>+15557654321</Number></Dial>" in response.text


async def test_flow_end_hangs_up_and_closes_the_socket(server: Server) -> None:
    async def brief(leg: Leg, info: CallInfo) -> None:
        await leg.send_audio(tone(500, 0.1))

    server.runtime.flow = brief
    sim = await server.call()
    await sim.wait_closed_by_server()
    assert sim.ws.close_code == 1000
    await until(lambda: len(server.runtime.finished) == 1)


async def test_websocket_without_start_starts_nothing(server: Server) -> None:
    ws = await websockets.connect(server.ws_base + "/twilio/media")
    await ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    await ws.close()
    await asyncio.sleep(0.1)
    assert server.runtime.started == []
