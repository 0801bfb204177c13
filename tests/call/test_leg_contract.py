"""The Leg contract, run over every leg callport has.

Each leg is driven from its far end by what really feeds it: the in-memory caller of
``MemoryLeg``; the Twilio and Telnyx sans-IO media cores (provider JSON in, ``MediaEvent``s to
``MediaStreamLeg.feed``); RTP and RFC 4733 packets into ``SipLeg.on_rtp`` from a peer
``MediaStream``; the browser page's control messages through the WebSocket driver's dispatch
and through the WebRTC call's data-channel dispatch and agent track. No sockets.

The rules (``callport.call.leg``, ``callport.call.marks``): marks are answered in order; ``clear``
answers every pending mark ``played=False`` at once; a hang-up (ours or theirs) is reported once,
``hangup()`` is idempotent and nothing follows ``HungUp``; DTMF comes in as ``Dtmf`` and goes
out, or is refused; ``transfer``/``hold``/``resume``/``send_dtmf`` answer ``Accepted`` or a typed
``Refused`` and never raise; and a control is accepted exactly when ``capabilities`` names it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import (
    AudioIn,
    Dtmf,
    HoldChanged,
    HungUp,
    LegEvent,
    Marked,
    TransferStarted,
)
from callport.call.leg import Leg
from callport.call.marks import MarkBook
from callport.call.memory import MemoryLeg
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.rtc import RtcCall
from callport.channels.browser.ws import WebSocketCall
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.provider import MediaCore, ProviderError, StreamStart
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.media import MediaStream
from callport.channels.sip.sdp import MediaPlan, restrict
from callport.channels.telnyx.media import TelnyxMediaCore, encode_client_state
from callport.channels.twilio.media import TwilioMediaCore

QUIET_S = 0.05  # how long "nothing more arrives" is watched for (a bound, not a timing claim)


class Far(Protocol):
    """The far end of one leg: what the test can make the caller / provider / page do."""

    leg: Leg
    buffered: bool  # marks wait for the far end to play the audio before them

    async def play_all(self) -> None:
        """The far end played every frame sent so far (and reports every mark)."""

    async def speak(self) -> None:
        """One frame of caller audio arrives."""

    async def press(self, digit: str) -> None: ...

    async def hang_up(self) -> None: ...

    def digits_out(self) -> int:
        """How much evidence of outgoing DTMF the far end saw (packets, frames, commands)."""

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- memory


class MemoryFar:
    buffered = False

    def __init__(self) -> None:
        self.mem = MemoryLeg(call_id="mem-1", sample_rate=8000, codec="ulaw")
        self.leg: Leg = self.mem

    async def play_all(self) -> None:
        return None

    async def speak(self) -> None:
        await self.mem.speak(np.full(160, 1000, np.int16), 8000)

    async def press(self, digit: str) -> None:
        self.mem.press(digit)

    async def hang_up(self) -> None:
        self.mem.caller_hangup()

    def digits_out(self) -> int:
        return len(self.mem.digits_sent)

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------- media streams


class Control:
    """A carrier's REST call control: records what the leg asked; ``refuse`` makes it say no."""

    def __init__(self, *, sends_dtmf: bool) -> None:
        self.sends_dtmf = sends_dtmf
        self.log: list[str] = []
        self.refuse = False

    async def hangup(self, sid: str) -> None:
        self.log.append(f"hangup {sid}")

    async def transfer(self, sid: str, target: str) -> None:
        if self.refuse:
            raise ProviderError("the carrier said no (403)")
        self.log.append(f"transfer {sid} {target}")

    async def send_dtmf(self, sid: str, digits: str) -> None:
        self.log.append(f"dtmf {sid} {digits}")


TWILIO_START = {
    "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
    "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1", "tracks": ["inbound"],
              "customParameters": {},
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
}


class StreamFar:
    """A provider's media stream: provider JSON in through the real core, frames out."""

    buffered = True

    def __init__(self, provider: str, *, control: Control | None) -> None:
        self.provider = provider
        self.control = control
        self.sent: list[dict[str, Any]] = []
        self.closed: list[int] = []
        self.seq = 1
        self.chunk = 0
        self.core: MediaCore
        if provider == "twilio":
            self.core = TwilioMediaCore()
            self._in('{"event":"connected","protocol":"Call","version":"1.0.0"}')
            self._in(json.dumps(TWILIO_START))
        else:
            self.core = TelnyxMediaCore()
            self._in(json.dumps({"event": "connected", "version": "1.0.0"}))
            self._in(json.dumps({
                "event": "start", "sequence_number": "1", "stream_id": "S1",
                "start": {"call_control_id": "v3:abc", "client_state": encode_client_state("c"),
                          "from": "+15550001111", "to": "+15550002222",
                          "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                           "channels": 1}},
            }))
        start = self.core.started
        assert isinstance(start, StreamStart)
        self.stream = MediaStreamLeg(call_id=f"{provider}-1", start=start, core=self.core,
                                     send_text=self._out, close_socket=self._close,
                                     control=control)  # type: ignore[arg-type]
        self.leg: Leg = self.stream
        self.echoed = 0

    async def _out(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def _close(self, code: int) -> None:
        self.closed.append(code)

    def _in(self, text: str) -> None:
        self.seq += 1
        for event in self.core.receive_text(text):
            if getattr(self, "stream", None) is not None:
                self.stream.feed(event)

    def _frame(self, event: str, body: dict[str, Any]) -> str:
        if self.provider == "twilio":
            return json.dumps({"event": event, "sequenceNumber": str(self.seq), "streamSid": "MZ1",
                               event: body})
        return json.dumps({"event": event, "sequence_number": str(self.seq), "stream_id": "S1",
                           event: body})

    async def play_all(self) -> None:
        # The provider echoes a mark once the audio before it has played: every one sent.
        marks = [m for m in self.sent if m.get("event") == "mark"]
        for message in marks[self.echoed:]:
            self._in(self._frame("mark", {"name": message["mark"]["name"]}))
        self.echoed = len(marks)

    async def speak(self) -> None:
        self.chunk += 1
        payload = base64.b64encode(bytes([0x7F]) * 160).decode()
        body = {"track": "inbound", "chunk": str(self.chunk), "timestamp": str(self.chunk * 20),
                "payload": payload}
        self._in(self._frame("media", body))

    async def press(self, digit: str) -> None:
        body = {"track": "inbound_track", "digit": digit} if self.provider == "twilio" else {
            "digit": digit}
        self._in(self._frame("dtmf", body))

    async def hang_up(self) -> None:
        self._in(self._frame("stop", {}))

    def digits_out(self) -> int:
        if self.control is not None and self.control.sends_dtmf:
            return sum(line.startswith("dtmf ") for line in self.control.log)
        return sum(m.get("event") == "media" for m in self.sent)  # in-band tones

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------- SIP


PLAN = MediaPlan(codec="PCMU", payload_type=0, dtmf_payload_type=101, remote_host="127.0.0.1",
                 remote_port=40000, ptime=20, direction="sendrecv")
PEER = ("127.0.0.1", 40000)


class Datagrams:
    def __init__(self) -> None:
        self.packets: list[tuple[bytes, tuple[str, int]]] = []
        self.closed = False

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((data, addr))

    def close(self) -> None:
        self.closed = True


class SipFar:
    """The SIP peer: RTP from its own MediaStream; the dialog side as the channel does it."""

    buffered = False

    def __init__(self) -> None:
        self.transport = Datagrams()
        self.peer = MediaStream(plan=PLAN)
        self.refers: list[str] = []
        self.reoffers: list[str] = []
        self.answer_status = 200
        self.sip = SipLeg(key="k1", call_id="sip-1", control=self, transport=self.transport,  # type: ignore[arg-type]
                          rtp_port=30000, plan=PLAN, now=0.0)
        self.leg: Leg = self.sip
        self.now = 0.0

    # the channel's CallControl, as SipChannel does it: a BYE ends the leg
    def hangup_call(self, key: str, reason: str) -> None:
        self.sip.close(reason)

    def refer_call(self, key: str, target: str) -> bool:
        self.refers.append(target)
        return True

    def reoffer_call(self, key: str, direction: str) -> bool:
        """Our re-INVITE, answered as the peer's UA does (``ua_hold``): 200 with the plan
        narrowed to what we offered (``answer_status`` other than 200: the peer refused)."""
        self.reoffers.append(direction)
        if self.answer_status != 200:
            self.sip.reoffer_done(self.answer_status)
            return True
        self.sip.reoffer_done(200, restrict(PLAN, direction))
        return True

    async def play_all(self) -> None:
        return None

    def _rx(self, packets: list[bytes]) -> None:
        for packet in packets:
            self.now += 0.02
            self.sip.on_rtp(packet, PEER, self.now)

    async def speak(self) -> None:
        self._rx(self.peer.encode(np.full(160, 1000, np.int16)))

    async def press(self, digit: str) -> None:
        self._rx(self.peer.dtmf(digit))

    async def hang_up(self) -> None:
        self.sip.close("caller hung up")  # the channel got a BYE

    def digits_out(self) -> int:
        return sum(data[1] & 0x7F == 101 for data, _ in self.transport.packets)

    async def aclose(self) -> None:
        return None


# --------------------------------------------------------------------------- browser


class _Socket:
    """Stands in for the Starlette WebSocket; the driver's queue is what the page reads."""


class WsFar:
    """The page on the WebSocket transport: its JSON through the real driver's dispatch."""

    buffered = True

    def __init__(self) -> None:
        async def never(leg: BrowserLeg, info: object) -> None:
            return None

        self.call = WebSocketCall(websocket=_Socket(), run_call=never)  # type: ignore[arg-type]
        self.leg: Leg = self.call.leg
        self.out: list[str | bytes] = []
        self._page('{"type":"start","sample_rate":16000,"gated":false}')
        queue, put = self.call._out, self.call._out.put_nowait

        def put_and_act(item: str | bytes | None) -> None:  # the page acts on a clear at once
            put(item)
            if isinstance(item, str) and json.loads(item).get("type") == "clear":
                self.clear_now(item)

        queue.put_nowait = put_and_act  # type: ignore[method-assign]

    def clear_now(self, text: str) -> None:
        """The page got the server's ``clear``: its player drops its audio and confirms."""
        clear = json.loads(text)
        asyncio.get_running_loop().call_soon(
            self._page, json.dumps({"type": "cleared", "id": clear["id"]}))

    def _page(self, text: str) -> None:
        self.call._feed({"text": text})

    def _read(self) -> None:
        queue = self.call._out
        while not queue.empty():
            item = queue.get_nowait()
            if item is not None:
                self.out.append(item)

    async def play_all(self) -> None:
        self._read()
        for item in self.out:
            if isinstance(item, str) and json.loads(item).get("type") == "mark":
                self._page(json.dumps({"type": "played", "name": json.loads(item)["name"]}))
        self.out.clear()

    async def speak(self) -> None:
        self.call._feed({"bytes": bytes(640)})

    async def press(self, digit: str) -> None:
        self._page(json.dumps({"type": "dtmf", "digit": digit}))

    async def hang_up(self) -> None:
        self._page('{"type":"hangup"}')

    def digits_out(self) -> int:
        return 0

    async def aclose(self) -> None:
        return None


class Microphone:
    """The page's microphone track as aiortc hands it over: 48 kHz frames on demand."""

    kind = "audio"

    def __init__(self) -> None:
        self.frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue()
        self.pts = 0

    def talk(self) -> None:
        for _ in range(3):
            frame = av.AudioFrame.from_ndarray(np.full((1, 960), 1000, np.int16), format="s16",
                                               layout="mono")
            frame.sample_rate = 48000
            frame.pts = self.pts
            self.pts += 960
            self.frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        return await self.frames.get()


class RtcFar:
    """The page on WebRTC: control messages through the data-channel dispatch, marks played
    as the agent track hands frames to the peer connection, the microphone as a track."""

    buffered = True

    def __init__(self) -> None:
        async def never(leg: BrowserLeg, info: object) -> None:
            return None

        self.pc = RTCPeerConnection()
        self.call = RtcCall(pc=self.pc, run_call=never, lead_ms=200.0, caller="page")
        self.leg: Leg = self.call.leg
        self.mic = Microphone()
        self.call.on_track(self.mic)  # type: ignore[arg-type]

    def _page(self, text: str) -> None:
        self.call._dispatch(self.call._core.receive_text(text, 0.0))

    async def play_all(self) -> None:
        for _ in range(50):  # the track paces 20 ms frames; a bounded number of them
            if not self.call._inbox.pending_marks:
                return
            await self.call.track.recv()

    async def speak(self) -> None:
        self.mic.talk()
        for _ in range(10):
            await asyncio.sleep(0)

    async def press(self, digit: str) -> None:
        self._page(json.dumps({"type": "dtmf", "digit": digit}))

    async def hang_up(self) -> None:
        self._page('{"type":"hangup"}')

    def digits_out(self) -> int:
        return 0

    async def aclose(self) -> None:
        for task in self.call._tasks:
            task.cancel()
        await self.pc.close()


# --------------------------------------------------------------------------- the node relay


class RelayFar:
    """The other node of a queue relay (``callport.queues.relay``): its end of the link."""

    buffered = False

    def __init__(self) -> None:
        from callport.queues.relay import RelayLeg, memory_links

        ours, self.theirs = memory_links()
        self.leg: Leg = RelayLeg(ours, call_id="relay-1", sample_rate=8000)
        self.keys = 0

    async def play_all(self) -> None:
        return None

    async def speak(self) -> None:
        await self.theirs.send(np.full(160, 1000, np.int16).tobytes())

    async def press(self, digit: str) -> None:
        await self.theirs.send(json.dumps({"type": "dtmf", "digit": digit}))

    async def hang_up(self) -> None:
        await self.theirs.send(json.dumps({"type": "hangup", "reason": "normal"}))
        await self.theirs.close()

    def digits_out(self) -> int:
        while not self.theirs.inbox.empty():  # what our leg sent so far
            message = self.theirs.inbox.get_nowait()
            if isinstance(message, str) and json.loads(message)["type"] == "dtmf":
                self.keys += 1
        return self.keys

    async def aclose(self) -> None:
        await self.theirs.close()


FARS: dict[str, Callable[[], Far]] = {
    "memory": MemoryFar,
    "twilio": lambda: StreamFar("twilio", control=Control(sends_dtmf=False)),
    "twilio-no-credentials": lambda: StreamFar("twilio", control=None),
    "telnyx": lambda: StreamFar("telnyx", control=Control(sends_dtmf=True)),
    "sip": SipFar,
    "browser-ws": WsFar,
    "browser-rtc": RtcFar,
    "node-relay": RelayFar,
}


@pytest.fixture(params=sorted(FARS))
async def far(request: pytest.FixtureRequest) -> AsyncIterator[Far]:
    made = FARS[request.param]()
    try:
        yield made
    finally:
        await made.aclose()


async def events(leg: Leg) -> list[LegEvent]:
    """Everything the leg has to say now, up to and including a HungUp."""
    got: list[LegEvent] = []
    while True:
        try:
            event = await asyncio.wait_for(leg.recv(), QUIET_S)
        except TimeoutError:
            return got
        got.append(event)
        if isinstance(event, HungUp):
            return got


def marks(got: list[LegEvent]) -> list[Marked]:
    return [e for e in got if isinstance(e, Marked)]


def frame(leg: Leg) -> np.ndarray:
    return np.full(leg.sample_rate * leg.frame_ms // 1000, 500, np.int16)


# --------------------------------------------------------------------------- the contract


async def test_marks_are_answered_played_in_order(far: Far) -> None:
    leg = far.leg
    for name in ("a", "b", "a"):  # a repeated name is a second mark, not the first one again
        await leg.send_audio(frame(leg))
        await leg.mark(name)
    if far.buffered:
        assert marks(await events(leg)) == []  # nothing played yet
    await far.play_all()
    assert marks(await events(leg)) == [Marked("a", True), Marked("b", True), Marked("a", True)]


async def test_clear_answers_every_pending_mark_unplayed_at_once(far: Far) -> None:
    leg = far.leg
    await leg.send_audio(frame(leg))
    await leg.mark("first")
    await leg.send_audio(frame(leg))
    await leg.mark("second")
    await leg.clear()
    answered = marks(await events(leg))
    played = not far.buffered  # no remote buffer: reached means played, nothing to drop
    assert answered == [Marked("first", played), Marked("second", played)]
    await far.play_all()  # late echoes of cleared marks change nothing
    assert marks(await events(leg)) == []
    await leg.send_audio(frame(leg))
    await leg.mark("after")
    await far.play_all()
    assert marks(await events(leg)) == [Marked("after", True)]


async def test_our_hangup_ends_once_and_nothing_follows(far: Far) -> None:
    leg = far.leg
    await leg.send_audio(frame(leg))
    await leg.mark("pending")
    await leg.hangup("normal")
    await leg.hangup("again")  # idempotent: no raise, no second HungUp reason
    await leg.mark("too-late")  # placed after the end: answered unplayed, still before HungUp
    got = await events(leg)
    assert isinstance(got[-1], HungUp)
    assert [e for e in got if isinstance(e, HungUp)] == [got[-1]]
    assert marks(got) == [Marked("pending", not far.buffered), Marked("too-late", False)]
    reason = got[-1].reason
    # After HungUp: marks, audio, digits and the far end's doings yield nothing new.
    await leg.mark("late")
    await leg.send_audio(frame(leg))
    await far.speak()
    await far.press("1")
    assert await events(leg) == [HungUp(reason)]
    assert await leg.recv() == HungUp(reason)


async def test_far_end_hangup_is_reported_and_our_hangup_after_it_is_harmless(far: Far) -> None:
    leg = far.leg
    await leg.send_audio(frame(leg))
    await leg.mark("pending")
    await far.hang_up()
    got = await events(leg)
    assert isinstance(got[-1], HungUp)
    assert marks(got) == [Marked("pending", not far.buffered)]
    await leg.hangup("normal")
    assert await events(leg) == [got[-1]]


async def test_dtmf_in(far: Far) -> None:
    await far.press("5")
    await far.press("#")
    got = [e.digit for e in await events(far.leg) if isinstance(e, Dtmf)]
    assert got == ["5", "#"]


async def test_dtmf_out_or_typed_refusal(far: Far) -> None:
    leg = far.leg
    result = await leg.send_dtmf("12")
    if Capability.SEND_DTMF in leg.capabilities:
        assert result == Accepted()
        assert far.digits_out() > 0
    else:
        assert isinstance(result, Refused)
        assert (result.control, result.refusal) == (Capability.SEND_DTMF, Refusal.UNSUPPORTED)
    await leg.hangup()
    after = await leg.send_dtmf("3")
    assert isinstance(after, Refused)
    assert after.refusal in {Refusal.ENDED, Refusal.UNSUPPORTED}


async def test_transfer_is_accepted_or_refused_never_raised(far: Far) -> None:
    leg = far.leg
    bad = await leg.transfer("mailto:someone")
    assert isinstance(bad, Refused) and bad.control is Capability.TRANSFER
    assert bad.refusal in {Refusal.BAD_TARGET, Refusal.UNSUPPORTED}
    result = await leg.transfer("tel:+15550100")
    got = await events(leg)
    if Capability.TRANSFER in leg.capabilities:
        assert result == Accepted()
        assert TransferStarted("tel:+15550100") in got
    else:
        assert isinstance(result, Refused) and result.refusal is Refusal.UNSUPPORTED
        assert not any(isinstance(e, TransferStarted | HungUp) for e in got)
    await leg.hangup()
    await events(leg)
    ended = await leg.transfer("tel:+15550100")
    assert isinstance(ended, Refused)
    assert ended.refusal in {Refusal.ENDED, Refusal.UNSUPPORTED}


async def test_hold_and_resume_or_typed_refusal(far: Far) -> None:
    leg = far.leg
    await far.speak()
    assert any(isinstance(e, AudioIn) for e in await events(leg))
    held = await leg.hold()
    if Capability.HOLD not in leg.capabilities:
        assert isinstance(held, Refused) and held.refusal is Refusal.UNSUPPORTED
        resumed = await leg.resume()
        assert isinstance(resumed, Refused) and resumed.refusal is Refusal.UNSUPPORTED
        return
    assert held == Accepted()
    assert await leg.hold() == Accepted()  # holding a held call changes nothing
    await far.speak()
    got = await events(leg)
    assert [e for e in got if isinstance(e, HoldChanged)] == [HoldChanged(True)]
    assert not any(isinstance(e, AudioIn) for e in got)  # the caller does not reach us
    await far.press("7")  # digits still come through while held
    assert Dtmf in {type(e) for e in await events(leg)}
    assert await leg.resume() == Accepted()
    await far.speak()
    got = await events(leg)
    assert got[0] == HoldChanged(False)
    assert any(isinstance(e, AudioIn) for e in got)
    await leg.hangup()
    await events(leg)
    ended = await leg.hold()
    assert isinstance(ended, Refused) and ended.refusal is Refusal.ENDED


async def test_capabilities_match_behaviour(far: Far) -> None:
    """Every control not named in ``capabilities`` is refused UNSUPPORTED; every one named is
    accepted on a live call."""
    leg = far.leg
    asked: dict[Capability, Callable[[], Awaitable[ControlResult]]] = {
        Capability.SEND_DTMF: lambda: leg.send_dtmf("1"),
        Capability.HOLD: lambda: leg.hold(),
        Capability.TRANSFER: lambda: leg.transfer("sip:desk@example.com"),
    }
    for capability, ask in asked.items():
        result = await ask()
        if capability in leg.capabilities:
            assert result == Accepted(), (capability, result)
        else:
            assert isinstance(result, Refused), (capability, result)
            assert (result.control, result.refusal) == (capability, Refusal.UNSUPPORTED)


# --------------------------------------------------------------------------- carrier refusals


@pytest.mark.parametrize("provider", ["twilio", "telnyx"])
async def test_a_carrier_refused_transfer_sends_no_transfer_started(provider: str) -> None:
    """The carrier says no: ``Refused(FAILED)``, no ``TransferStarted``, the call goes on (the
    old leg announced the transfer first, so the session ended "transferred", no apology)."""
    control = Control(sends_dtmf=False)
    control.refuse = True
    far = StreamFar(provider, control=control)
    leg = far.stream
    result = await leg.transfer("tel:+15550100")
    assert isinstance(result, Refused) and result.refusal is Refusal.FAILED
    assert leg.handed_off_to is None and not leg.ended
    await far.speak()
    got = await events(leg)
    assert not any(isinstance(e, TransferStarted | HungUp) for e in got)
    assert any(isinstance(e, AudioIn) for e in got)
    await leg.hangup()
    assert control.log == ["hangup " + leg.provider_call_id]  # ours again: we hang it up


@pytest.mark.parametrize("provider", ["twilio", "telnyx"])
async def test_a_stop_during_an_accepted_transfer_ends_transferred(provider: str) -> None:
    control = Control(sends_dtmf=False)
    far = StreamFar(provider, control=control)
    leg = far.stream
    assert await leg.transfer("sip:desk@example.com") == Accepted()
    await far.hang_up()  # the carrier moves the call: the stream stops
    got = await events(leg)
    assert got[0] == TransferStarted("sip:desk@example.com")
    assert got[-1] == HungUp("transferred")
    await leg.hangup()
    assert control.log == [f"transfer {leg.provider_call_id} sip:desk@example.com"]  # no hang-up


# --------------------------------------------------------------------------- the book itself


def test_mark_book_answers_in_order_and_once() -> None:
    book = MarkBook()
    first, second, third = (book.place(n) for n in ("a", "b", "c"))
    assert (first, second, third) == ("m1", "m2", "m3")
    assert book.played("m2")  # the far end got past b: a was played before it
    assert book.take() == [Marked("a", True), Marked("b", True)]
    assert not book.played("m1") and not book.played("nope")  # answered / unknown: ignored
    assert book.clear() == ("m3",) and book.take() == [Marked("c", False)]
    book.place("d")
    book.close()
    assert book.place("e") is None and book.closed
    assert book.take() == [Marked("d", False), Marked("e", False)]
    assert book.pending == ()
