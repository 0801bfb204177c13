"""gemini-live: the wire format, and a whole spoken call against a stand-in Live server with a
tool call, an interruption and a resumed connection after goAway with no gap either way."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import Awaitable, Callable

import numpy as np
from adapter_support import line, tone, until
from gemini_server import CallTool, Speak, gemini_server

from callport.agents.adapters import gemini_live_protocol as gl
from callport.agents.adapters.call_tools import CALL_TOOLS
from callport.call.memory import MemoryLeg


def test_setup_asks_for_audio_with_tools_and_resumption() -> None:
    msg = json.loads(gl.setup(model="gemini-x", instructions="be brief", voice="Puck",
                              tools=CALL_TOOLS, handle=""))
    setup = msg["setup"]
    assert list(msg) == ["setup"] and setup["model"] == "models/gemini-x"
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"] == {
        "voiceName": "Puck"}
    assert setup["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert setup["sessionResumption"] == {}
    names = {d["name"] for d in setup["tools"][0]["functionDeclarations"]}
    assert {"add_task", "end_call", "send_dtmf"} <= names
    resumed = json.loads(gl.setup(model="models/g", instructions="", voice="", tools=[],
                                  handle="h7"))
    assert resumed["setup"]["sessionResumption"] == {"handle": "h7"}
    audio = json.loads(gl.audio(b"\x01\x00"))["realtimeInput"]["audio"]
    assert audio == {"data": "AQA=", "mimeType": "audio/pcm;rate=16000"}
    assert json.loads(gl.tool_response([("fc1", "add_task", "Added.")])) == {"toolResponse": {
        "functionResponses": [{"id": "fc1", "name": "add_task",
                               "response": {"result": "Added."}}]}}


def test_server_messages_parse_to_every_event_they_carry() -> None:
    data = base64.b64encode(b"\x00\x01" * 4).decode()
    both = json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
        "mimeType": "audio/pcm;rate=24000", "data": data}}]}, "turnComplete": True}})
    assert gl.parse_server(both.encode()) == [gl.GlAudio(b"\x00\x01" * 4, 24000),
                                              gl.GlTurnComplete()]
    assert gl.parse_server('{"serverContent":{"interrupted":true}}') == [gl.GlInterrupted()]
    assert gl.parse_server('{"setupComplete":{}}') == [gl.GlSetupComplete()]
    assert gl.parse_server('{"goAway":{"timeLeft":"50s"}}') == [gl.GlGoAway(50.0)]
    assert gl.parse_server('{"sessionResumptionUpdate":{"newHandle":"h","resumable":true}}') == \
        [gl.GlResumption("h", True)]
    [call] = gl.parse_server('{"toolCall":{"functionCalls":[{"id":"1","name":"end_call",'
                             '"args":{}}]}}')
    assert call == gl.GlToolCall((("1", "end_call", "{}"),))
    assert gl.parse_server('{"usageMetadata":{}}') == [gl.GlOther(("usageMetadata",))]
    assert isinstance(gl.parse_server("nope")[0], gl.GlInvalid)


class Caller:
    """The caller's side in real time: silence, or what the test asks it to say."""

    def __init__(self, leg: MemoryLeg) -> None:
        self._leg = leg
        self._say: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._leg.ended:  # the call is up (either side may end it)
            await asyncio.sleep(0)
            if not self._say.empty():
                await self._leg.speak(self._say.get_nowait(), 8000)
            else:
                await self._leg.silence(0.1)

    def say(self, pcm: np.ndarray) -> None:
        self._say.put_nowait(pcm)


def _gaps(leg: MemoryLeg) -> list[float]:
    """Gaps (caller media seconds) between consecutive agent frames."""
    at = leg.sent_at_media
    return [b - a for a, b in itertools.pairwise(at)]


async def test_a_spoken_call_with_a_tool_an_interruption_and_a_seamless_resumption() -> None:
    script = [Speak(0.8, 440.0),  # greeting
              CallTool("add_task", {"title": "buy bread", "due": "tomorrow"}),
              Speak(2.5, 600.0),  # during this the connection is replaced
              Speak(3.0, 660.0),  # the caller interrupts this one
              CallTool("end_call"), Speak(0.5, 700.0)]
    async with gemini_server(script) as server:
        ln = line("gemini-live", [], realtime=True, base_url=server.url, api_key="g-key")
        ln.start()
        caller = Caller(ln.leg)
        wait: Callable[[Callable[[], object]], Awaitable[None]] = until
        await wait(lambda: len(ln.leg.sent) >= 40)  # the greeting
        assert server.path.endswith("?key=g-key") and server.texts
        caller.say(tone(0.5, 8000, amp=9000))
        await wait(lambda: server.tool_responses)
        assert "buy bread" in server.tool_responses[0]["response"]["result"].lower()
        await until(lambda: server._talking)  # the 2.5 s reply is streaming
        start = len(ln.leg.sent)
        await until(lambda: len(ln.leg.sent) - start >= 20)  # 0.4 s of it played
        await server.go_away()
        await until(lambda: len(server.connections) == 2, timeout=5)
        assert server.connections[1].setup["sessionResumption"] == {"handle": "h1"}
        await until(lambda: len(ln.leg.sent) - start >= 120, timeout=8)  # the reply played on
        gaps = _gaps(ln.leg)[start:start + 119]
        assert max(gaps) <= 0.1, max(gaps)  # no audible gap across the switch
        sent_before = server.connections[1].audio_samples
        caller.say(tone(0.5, 8000, amp=9000))  # the caller talks on the new connection
        await until(lambda: server._talking, timeout=8)  # the 3 s reply
        mark = len(ln.leg.sent)
        await until(lambda: len(ln.leg.sent) - mark >= 25)
        cleared = ln.leg.cleared
        caller.say(tone(0.4, 8000, amp=9000))
        await until(lambda: ln.leg.cleared > cleared, timeout=8)  # interrupted: playout cut
        try:
            call = await asyncio.wait_for(ln.task, 15) if ln.task else None
        finally:
            caller.task.cancel()
    assert call is not None and call.session.hangup_reason == "goodbye"
    assert server.connections[1].audio_samples > sent_before
    total = sum(c.audio_samples for c in server.connections)
    delivered = len(ln.leg.sent_at_media) and round(ln.leg.sent_at_media[-1] * 16000)
    assert total >= delivered - 16000 * 0.2  # the caller's audio went on across the switch
    assert server.refused == []
    tasks = await ln.tasks.of("alice").list()
    assert [t.title for t in tasks] == ["buy bread"]
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("session resumed on a new connection" in d for d in events), events


async def test_a_resumption_the_service_refuses_gives_the_apology() -> None:
    async with gemini_server([Speak(0.3)]) as server:
        ln = line("gemini-live", [], realtime=True, base_url=server.url)
        ln.start()
        await until(lambda: server.connections and len(ln.leg.sent) >= 10)
        server.handles.clear()  # the service forgot the session: its handle is refused
        await server.connections[0].ws.close(1011)
        call = await ln.ended()
    assert server.refused == ["h1"]
    assert "Sorry" in ln.spoken() and call.session.hangup_reason == "agent-error"
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("resuming failed" in d for d in events), events


async def test_a_dropped_connection_is_resumed_with_the_handle() -> None:
    async with gemini_server([Speak(0.3), Speak(0.5, 600.0)]) as server:
        ln = line("gemini-live", [], realtime=True, base_url=server.url)
        ln.start()
        await until(lambda: server.connections and len(ln.leg.sent) >= 10)
        await server.connections[0].ws.close(1011)  # "Deadline expired", mid-call
        await until(lambda: len(server.connections) == 2, timeout=5)
        assert server.connections[1].setup["sessionResumption"] == {"handle": "h1"}
        await ln.leg.speak(tone(0.5, 8000, amp=9000), 8000, trailing_silence_s=0.5)
        await until(lambda: any(_peak_is_600(f) for f in ln.leg.sent), timeout=8)  # answered
        ln.leg.caller_hangup()
        call = await ln.ended()
    assert call.session.hangup_reason == "caller" and "Sorry" not in ln.spoken()


def _peak_is_600(frame: np.ndarray) -> bool:
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64)))
    return bool(np.abs(frame).max()) and int(np.argmax(spectrum)) * 8000 // len(frame) == 600
