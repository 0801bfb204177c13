"""Typed refusals: a control a leg cannot carry out is an answer, never a crash.

The headline case: an agent asks to transfer a browser call. The browser leg has no phone
network, so it returns ``Refused(TRANSFER, UNSUPPORTED)``; the caller hears an apology, the agent
is told (``ActionRefused``) and answers, and the conversation goes on until the caller says bye.
The leg is the real ``BrowserLeg``, wired to in-memory audio and control outputs instead of a
WebSocket (the page's side is what the test reads: JSON control messages and PCM frames).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import AsyncIterator

import numpy as np
from call_fakes import EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.agents.base import (
    ActionRefused,
    AgentInput,
    AgentOutput,
    CallInfo,
    HangUpCall,
    Say,
    TransferCall,
    UserSaid,
)
from callport.audio.frame import Reframer
from callport.audio.g711 import ulaw_encode
from callport.call.call import APOLOGIES, Call
from callport.call.controls import Accepted, Capability, Refusal, Refused
from callport.call.events import AudioIn
from callport.call.inbox import EventInbox
from callport.call.memory import MemoryLeg
from callport.call.session import CallSession
from callport.channels.browser.leg import BrowserLeg
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.provider import ProviderError
from callport.channels.twilio.media import TwilioMediaCore
from callport.metrics import Metrics
from callport.types import PCM16
from callport.vad.turn import TurnDetector

RATE = 16000  # the browser leg's rate
APOLOGY = APOLOGIES[(Capability.TRANSFER, Refusal.UNSUPPORTED)]


class Page:
    """The page's end of a browser leg: what it was sent, and the caller's microphone."""

    def __init__(self) -> None:
        self.inbox = EventInbox()
        self.frames: list[PCM16] = []
        self.messages: list[dict[str, object]] = []
        self.closed = False
        self._media = 0.0
        self._pending: list[str] = []

    # -- AudioOut (the page plays everything it is sent at once) --
    async def send(self, pcm: PCM16) -> None:
        self.frames.append(pcm)

    def mark(self, name: str) -> None:
        self.inbox.mark_played(name)  # the leg's mark token: played as soon as it is sent

    def clear(self) -> tuple[str, ...]:
        return ()

    def send_text(self, text: str) -> None:
        self.messages.append(json.loads(text))

    async def close(self) -> None:
        self.closed = True

    def agent_lines(self) -> list[str]:
        return [str(m["text"]) for m in self.messages
                if m.get("type") == "transcript" and m.get("role") == "agent"]

    async def speak(self, seconds: float) -> None:
        """Caller speech (a loud tone), then silence long enough to end the turn."""
        audio = np.concatenate([tone(seconds, RATE), np.zeros(int(0.6 * RATE), np.int16)])
        framer = Reframer(frame_samples=RATE // 50)
        for frame in [*framer.push(audio), *filter(None, [framer.flush(pad=True)])]:
            self._media += 0.02
            self.inbox.put(AudioIn(frame, at=self._media))
            await asyncio.sleep(0)


class TransferringAgent:
    """Asks to transfer on any request; told it cannot, offers something else."""

    def __init__(self) -> None:
        self.inputs: list[AgentInput] = []

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self.inputs.append(event)
        match event:
            case UserSaid(text=text) if "bye" in text:
                yield Say("Goodbye.")
                yield HangUpCall()
            case UserSaid():
                yield Say("Putting you through to sales.")
                yield TransferCall("tel:+15550100")
            case ActionRefused(action=TransferCall()):
                yield Say("I can take a message for sales instead.")
            case _:
                pass

    def interrupted(self, heard: str) -> None:
        return None


def make_call(leg: object, texts: list[str], agent: TransferringAgent, channel: str,
              tts: ToneTTS | None = None) -> Call:
    session = CallSession(
        leg=leg,  # type: ignore[arg-type]
        vad=EnergyVad(),  # type: ignore[arg-type]
        turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100),
        metrics=Metrics(),
    )
    return Call(session=session, info=CallInfo(call_id="c1", channel=channel),
                stt=ScriptedSTT(texts), tts=tts or ToneTTS(), agent_factory=lambda info: agent,
                clock=lambda: 0.0)


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_agent_transfer_on_a_browser_call_is_refused_gracefully() -> None:
    page = Page()
    leg = BrowserLeg(call_id="br-1", inbox=page.inbox, audio_out=page, send_text=page.send_text,
                     close=page.close, lead_ms=math.inf)
    agent, tts = TransferringAgent(), ToneTTS()
    call = make_call(leg, ["put me through to sales", "no thanks bye"], agent, "browser", tts)
    call.session.start()

    async def flow() -> None:
        await call.say("Hello. I am an automated assistant.")
        await call.connect(call.new_agent())

    task = asyncio.create_task(flow())
    await until(call.listening.is_set)
    await page.speak(0.5)
    await until(lambda: len(call.turns) == 1 and call.listening.is_set())
    frames_before_bye = len(page.frames)
    await page.speak(0.4)
    await asyncio.wait_for(task, 5)  # the flow ended normally: nothing raised

    # the caller heard the agent's words, the apology, then the agent's answer to the refusal
    assert page.agent_lines() == [
        "Hello. I am an automated assistant.", "Putting you through to sales.", APOLOGY,
        "I can take a message for sales instead.", "Goodbye.",
    ]
    # ... as audio: every sentence up to the answer was synthesized and sent to the page
    spoken = tts.spoken[: tts.spoken.index("I can take a message for sales instead") + 1]
    assert APOLOGY.rstrip(".") in spoken
    samples = sum(len(f) for f in page.frames[:frames_before_bye])
    assert samples >= sum(len(s.split()) for s in spoken) * 0.1 * RATE
    # the agent was told what was refused and why
    told = [e for e in agent.inputs if isinstance(e, ActionRefused)]
    assert told == [ActionRefused(
        action=TransferCall("tel:+15550100"),
        refused=Refused(Capability.TRANSFER, Refusal.UNSUPPORTED,
                        "a browser leg has no transfer"),
    )]
    turn = call.turns[0]
    assert turn.reply == f"Putting you through to sales. {APOLOGY} " \
                         "I can take a message for sales instead."
    # the call went on to a second turn and ended as the agent asked, not as "transferred"
    assert [t.transcript for t in call.turns] == ["put me through to sales", "no thanks bye"]
    assert call.session.hangup_reason == "agent" and call.session.transferred_to is None
    assert page.messages[-1] == {"type": "bye", "reason": "agent"} and page.closed
    await call.session.close()


async def test_the_browser_leg_itself_refuses_transfer_and_dtmf() -> None:
    page = Page()
    leg = BrowserLeg(call_id="br-2", inbox=page.inbox, audio_out=page, send_text=page.send_text,
                     close=page.close, lead_ms=0.0)
    assert leg.capabilities == frozenset({Capability.HOLD})  # a local hold, nothing else
    transfer = await leg.transfer("tel:+15550100")
    dtmf = await leg.send_dtmf("1")
    assert isinstance(transfer, Refused) and transfer.control is Capability.TRANSFER
    assert transfer.refusal is Refusal.UNSUPPORTED
    assert isinstance(dtmf, Refused) and dtmf.control is Capability.SEND_DTMF
    assert dtmf.refusal is Refusal.UNSUPPORTED


async def test_a_bad_target_is_refused_and_nothing_happens_on_a_capable_leg() -> None:
    leg = MemoryLeg(call_id="m1", sample_rate=8000)
    agent = TransferringAgent()
    call = make_call(leg, [], agent, "test")
    assert await call.transfer("sales") == Refused(
        Capability.TRANSFER, Refusal.BAD_TARGET,
        "transfer target must be tel: or sip:, got 'sales'")
    assert leg.transfers == [] and not call.ended  # nothing happened, the call goes on
    assert await call.transfer("tel:+15550100") == Accepted()
    assert leg.transfers == ["tel:+15550100"] and leg.hung_up_reason == "transferred"
    assert await leg.transfer("tel:+15550101") == Refused(
        Capability.TRANSFER, Refusal.ENDED, "the call has ended")
    ended = await leg.send_dtmf("12")  # the call was handed over: nothing to send on
    assert isinstance(ended, Refused) and ended.refusal is Refusal.ENDED and not leg.digits_sent


def twilio_leg(control: object | None) -> MediaStreamLeg:
    """A Twilio media-stream leg after ``connected`` + ``start`` (the socket is a list)."""
    core = TwilioMediaCore()
    core.receive_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    core.receive_text(json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                  "tracks": ["inbound"], "customParameters": {},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1}},
    }))
    assert core.started is not None
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def close_socket(code: int) -> None:
        return None

    return MediaStreamLeg(call_id="tw-1", start=core.started, core=core, send_text=send_text,
                          close_socket=close_socket, control=control)  # type: ignore[arg-type]


class RefusingControl:
    """Twilio's REST API saying no to the transfer."""

    sends_dtmf = False

    async def transfer(self, sid: str, target: str) -> None:
        raise ProviderError("twilio: 400 Invalid 'To' Phone Number")

    async def hangup(self, sid: str) -> None:
        return None


async def test_twilio_without_credentials_or_with_a_refusing_carrier_refuses() -> None:
    bare = twilio_leg(None)  # no auth token / REST client: no call control
    assert Capability.TRANSFER not in bare.capabilities
    assert await bare.transfer("tel:+15550100") == Refused(
        Capability.TRANSFER, Refusal.UNSUPPORTED,
        "this media stream has no call control (no credentials)")
    refusing = twilio_leg(RefusingControl())
    result = await refusing.transfer("tel:+15550100")
    assert isinstance(result, Refused) and result.refusal is Refusal.FAILED
    assert "Invalid 'To'" in result.detail and refusing.handed_off_to is None
    bad = await refusing.transfer("not a target")
    assert isinstance(bad, Refused) and bad.refusal is Refusal.BAD_TARGET


async def test_a_carrier_refused_twilio_transfer_is_apologised_for_and_the_call_goes_on() -> None:
    """The agent transfers a Twilio call and Twilio's REST API says no. The leg announces no
    ``TransferStarted`` (it used to, before asking the carrier: the session then ended as
    "transferred" and the caller heard nothing); the caller hears the apology, the agent is told
    and answers, and the call ends as the agent asks."""
    sent: list[dict[str, object]] = []
    core = TwilioMediaCore()
    core.receive_text('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    core.receive_text(json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                  "tracks": ["inbound"], "customParameters": {},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                  "channels": 1}},
    }))
    assert core.started is not None

    async def send_text(text: str) -> None:
        sent.append(json.loads(text))

    async def close_socket(code: int) -> None:
        return None

    leg = MediaStreamLeg(call_id="tw-2", start=core.started, core=core, send_text=send_text,
                         close_socket=close_socket, control=RefusingControl(),  # type: ignore[arg-type]
                         lead_ms=math.inf)
    seq = 1

    def provider(event: str, body: dict[str, object]) -> None:
        nonlocal seq
        seq += 1
        text = json.dumps({"event": event, "sequenceNumber": str(seq), "streamSid": "MZ1",
                           event: body})
        for parsed in core.receive_text(text):
            leg.feed(parsed)

    async def echo_marks() -> None:  # Twilio plays everything at once and echoes each mark
        echoed = 0
        while True:
            marks = [m for m in sent if m.get("event") == "mark"]
            for message in marks[echoed:]:
                provider("mark", {"name": message["mark"]["name"]})  # type: ignore[index]
            echoed = len(marks)
            await asyncio.sleep(0.005)

    async def speak(seconds: float) -> None:
        audio = np.concatenate([tone(seconds, 8000), np.zeros(4800, np.int16)])
        for start in range(0, len(audio) - 159, 160):
            chunk = start // 160 + 1
            payload = base64.b64encode(ulaw_encode(audio[start:start + 160])).decode()
            provider("media", {"track": "inbound", "chunk": str(chunk),
                               "timestamp": str(chunk * 20), "payload": payload})
            await asyncio.sleep(0)

    agent, tts = TransferringAgent(), ToneTTS()
    call = make_call(leg, ["put me through to sales", "no thanks bye"], agent, "twilio", tts)
    call.session.start()
    echo = asyncio.create_task(echo_marks())

    async def flow() -> None:
        await call.say("Hello. I am an automated assistant.")
        await call.connect(call.new_agent())

    task = asyncio.create_task(flow())
    try:
        await until(call.listening.is_set)
        await speak(0.5)
        await until(lambda: len(call.turns) == 1 and call.listening.is_set())
        await speak(0.4)
        await asyncio.wait_for(task, 5)
    finally:
        echo.cancel()
    sorry = APOLOGIES[(Capability.TRANSFER, Refusal.FAILED)]
    assert sorry.rstrip(".") in tts.spoken
    told = [e for e in agent.inputs if isinstance(e, ActionRefused)]
    assert len(told) == 1 and told[0].refused.refusal is Refusal.FAILED
    assert call.session.transferred_to is None and call.session.hangup_reason == "agent"
    assert leg.handed_off_to is None
