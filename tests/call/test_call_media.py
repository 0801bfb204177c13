"""Session core, listen results, sources with marks, taps both ways, in simulated time."""

from __future__ import annotations

import asyncio
import itertools
import math

import numpy as np
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport.audio.tones import dtmf_tone
from callport.call.call import Call
from callport.call.events import PCM16, AudioIn, HungUp, LegEvent, Marked
from callport.call.inbox import EventInbox
from callport.call.leg import Capability
from callport.call.memory import MemoryLeg
from callport.call.results import Heard, Pressed, Timeout
from callport.call.results import HungUp as Ended
from callport.call.session import CallSession
from callport.call.sources import ClipSource, HoldMusic, LiveSource
from callport.call.taps import Direction, FrameCollector
from callport.call.turns import CallerBarged, DigitReady, PauseReady, SessionCore, TurnReady
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.base import VadScore
from callport.vad.turn import TurnDetector

RATE = 8000


class SimClock:
    """Session clock and sleep: sleeping advances the clock, never the wall."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class BufferLeg:
    """A leg with a remote playout buffer the test plays frame by frame (marks come back
    only as it plays), and caller audio the test speaks."""

    call_id = "buf"
    sample_rate = RATE
    frame_ms = 20
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, lead_ms: float = math.inf) -> None:
        self.inbox = EventInbox()
        self.buffer: list[PCM16 | str] = []
        self.sent: list[PCM16] = []
        self.cleared = 0
        self.media = 0.0
        self.lead_ms = lead_ms

    async def recv(self) -> LegEvent:
        return await self.inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        self.buffer.append(pcm)
        self.sent.append(pcm)

    async def mark(self, name: str) -> None:
        self.buffer.append(name)

    async def clear(self) -> None:
        self.cleared += 1
        for item in self.buffer:
            if isinstance(item, str):
                self.inbox.put(Marked(item, played=False))
        self.buffer.clear()

    async def hangup(self, reason: str = "normal") -> None:
        self.inbox.put(HungUp(reason))

    def play(self, frames: int) -> None:
        while self.buffer and (frames > 0 or isinstance(self.buffer[0], str)):
            item = self.buffer.pop(0)
            if isinstance(item, str):
                self.inbox.put(Marked(item, played=True))
            else:
                frames -= 1

    async def speak(self, pcm: PCM16) -> None:
        for i in range(0, len(pcm), 160):
            self.media += 0.02
            self.inbox.put(AudioIn(pcm[i : i + 160], at=self.media))
            await asyncio.sleep(0)


def make(leg: object, texts: list[str] | None = None, clock: SimClock | None = None) -> Call:
    clock = clock or SimClock()
    session = CallSession(
        leg=leg,  # type: ignore[arg-type]
        vad=EnergyVad(),  # type: ignore[arg-type]
        turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100),
        metrics=Metrics(), clock=clock, sleep=clock.sleep,
    )
    return Call(session=session, info=CallInfo(call_id="m1", channel="test"),
                stt=ScriptedSTT(texts or []), tts=ToneTTS(),
                agent_factory=lambda info: EchoTextAgent(), clock=clock)


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.002)


# ---- the pure core ---------------------------------------------------------------------


def test_core_turns_pauses_barge_in_and_inband_digits_in_media_time() -> None:
    core = SessionCore(sample_rate=RATE, frame_ms=20, inband_dtmf=True,
                       turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300, barge_in_ms=100))
    events = []
    at = 0.0
    # 0.4 s speech, 0.5 s quiet: one barge-in, a speculative pause at 0.25 s, one turn
    for i in range(45):
        at += 0.02
        loud = i < 20
        pcm = tone(0.02, RATE) if loud else np.zeros(160, np.int16)
        events += core.audio(pcm, at)
        events += core.scores([VadScore(1.0 if loud else 0.0, at)], wall=100.0 + at)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SpeechBegan", "CallerBarged", "PauseReady", "TurnReady"]
    barged, pause, turn = events[1], events[2], events[3]
    assert isinstance(barged, CallerBarged) and math.isclose(barged.at, 0.1)
    assert isinstance(pause, PauseReady) and isinstance(turn, TurnReady)
    utt = turn.utterance
    assert math.isclose(utt.started_at, 0.0) and math.isclose(utt.ended_at, 0.4)
    assert math.isclose(utt.endpoint_delay, 0.3) and utt.detected_wall == 100.0 + utt.detected_at
    assert len(utt.pcm) >= 0.4 * RATE and len(pause.utterance.pcm) == len(utt.pcm)
    # an in-band DTMF tone in the caller audio becomes a digit
    digits = []
    pcm = np.concatenate([dtmf_tone("7", sample_rate=RATE, duration_ms=100),
                          np.zeros(800, np.int16)])
    for i in range(0, len(pcm), 160):
        at += 0.02
        digits += [e for e in core.audio(pcm[i : i + 160], at) if isinstance(e, DigitReady)]
    assert [d.digit.digit for d in digits] == ["7"]


def test_early_cuts_off_means_no_pause_events() -> None:
    core = SessionCore(sample_rate=RATE, frame_ms=20, early_cuts=False,
                       turn=TurnDetector(min_speech_ms=60, end_of_turn_ms=300))
    events = []
    for i in range(45):
        at = 0.02 * (i + 1)
        events += core.scores([VadScore(1.0 if i < 20 else 0.0, at)], wall=0.0)
    assert [type(e).__name__ for e in events] == ["SpeechBegan", "CallerBarged", "TurnReady"]


# ---- listen: every outcome --------------------------------------------------------------


async def test_listen_returns_heard_pressed_timeout_and_hung_up() -> None:
    leg = MemoryLeg(call_id="l1", sample_rate=RATE)
    call = make(leg, ["buy milk"])
    call.session.start()
    task = asyncio.create_task(call.listen())
    await until(call.listening.is_set)
    await leg.speak(tone(0.4, RATE), RATE, trailing_silence_s=0.5)
    heard = await asyncio.wait_for(task, 5)
    assert isinstance(heard, Heard) and heard.text == "buy milk"
    assert math.isclose(heard.ended_at - heard.started_at, 0.4)
    leg.press("5")
    assert await asyncio.wait_for(call.listen(), 5) == Pressed("5")
    assert await asyncio.wait_for(call.listen(timeout=0.05), 5) == Timeout()
    leg.caller_hangup()
    assert await asyncio.wait_for(call.listen(), 5) == Ended("caller")
    assert await call.listen(timeout=1) == Ended("caller")  # and again: never None
    await call.session.close()


async def test_silent_transcript_is_skipped_not_returned_as_none() -> None:
    leg = MemoryLeg(call_id="l2", sample_rate=RATE)
    call = make(leg, ["", "second try"])
    call.session.start()
    task = asyncio.create_task(call.listen())
    await until(call.listening.is_set)
    await leg.speak(tone(0.3, RATE), RATE, trailing_silence_s=0.5)
    await leg.speak(tone(0.3, RATE), RATE, trailing_silence_s=0.5)
    result = await asyncio.wait_for(task, 5)
    assert isinstance(result, Heard) and result.text == "second try"
    assert call.turns_handled == 2
    await call.session.close()


# ---- sources, marks, barge-in -----------------------------------------------------------


async def test_raw_audio_carries_marks_and_reports_what_was_heard() -> None:
    leg = BufferLeg()
    call = make(leg)
    call.session.start()
    play = asyncio.create_task(call.play(tone(1.0, RATE), RATE))
    await until(lambda: len(leg.sent) == 50)
    assert sum(isinstance(i, str) for i in leg.buffer) == 6  # a mark per 10 frames, and the end
    leg.play(25)
    await until(lambda: call.session.heard()[0].played_frames == 20)
    assert not play.done()  # not yet all heard
    leg.play(25)
    assert await asyncio.wait_for(play, 5) is True
    [segment] = call.session.heard()
    assert (segment.label, segment.frames, segment.played_frames, segment.done) == \
        ("audio", 50, 50, True)
    await call.session.close()


async def test_barge_in_during_hold_music_stops_it_and_the_turn_is_heard() -> None:
    leg = BufferLeg()
    clock = SimClock()
    call = make(leg, ["agent please"], clock)
    call.session.start()
    call.hold()
    await until(lambda: len(leg.sent) >= 30)
    assert clock.now > 0.3  # endless audio is paced even on a leg with no pacing of its own
    leg.play(20)  # the caller has heard 0.4 s of music
    listen = asyncio.create_task(call.listen())
    await leg.speak(tone(0.4, RATE))
    await until(lambda: leg.cleared == 1)
    sent = len(leg.sent)
    await leg.speak(np.zeros(int(0.5 * RATE), np.int16))
    assert await asyncio.wait_for(listen, 5) == Heard("agent please", started_at=0.0,
                                                      ended_at=0.4)
    [music] = call.session.heard()
    assert music.label == "hold-music" and music.played_frames == 20 and not music.done
    assert call.session.interrupted and len(leg.sent) == sent  # the music stopped
    await call.session.close()


async def test_barge_in_during_bridged_audio_cuts_it_when_interruptible() -> None:
    leg = BufferLeg()
    call = make(leg, ["stop"])
    call.session.start()
    party = LiveSource(sample_rate=16000, label="party")
    playing = asyncio.create_task(call.play(party))
    for _ in range(30):  # the other party talks: 0.6 s at 16 kHz, resampled to 8 kHz
        party.push(tone(0.02, 16000, 500.0))
        await asyncio.sleep(0)
    await until(lambda: len(leg.sent) >= 25)
    leg.play(10)
    await leg.speak(tone(0.3, RATE))
    assert await asyncio.wait_for(playing, 5) is False  # interrupted
    [segment] = call.session.heard()
    assert segment.label == "party" and segment.played_frames == 10 and not segment.done
    assert leg.cleared == 1
    await call.session.close()


async def test_uninterruptible_source_survives_barge_in_and_say_does_not() -> None:
    leg = BufferLeg()
    call = make(leg)
    call.session.start()
    party = LiveSource(sample_rate=RATE, label="party")
    call.session.play(party, interruptible=False)
    party.push(tone(0.4, RATE, 500.0))
    await until(lambda: len(leg.sent) == 20)
    await leg.speak(tone(0.4, RATE))
    await asyncio.sleep(0.01)
    assert leg.cleared == 0 and call.session.stats.barge_ins == 0
    party.push(tone(0.2, RATE, 500.0))
    await until(lambda: len(leg.sent) == 30)  # still flowing
    await call.session.close()


# ---- taps --------------------------------------------------------------------------------


async def test_taps_see_caller_audio_and_what_was_sent_at_send_time() -> None:
    leg = BufferLeg(lead_ms=0.0)  # paced in (simulated) real time
    clock = SimClock()
    call = make(leg, [], clock)
    inbound, outbound = FrameCollector(), FrameCollector()
    call.session.add_tap(inbound, Direction.IN)
    call.session.add_tap(outbound, Direction.OUT)
    call.session.start()
    play = asyncio.create_task(call.play(ClipSource(pcm=tone(20.0, RATE), sample_rate=RATE,
                                                    label="clip")))
    await until(lambda: len(leg.sent) >= 20)
    leg.play(100)
    await leg.speak(tone(0.4, RATE))  # barge-in: the rest of the clip is never sent
    assert await asyncio.wait_for(play, 5) is False
    await asyncio.sleep(0.01)
    # outbound: exactly the frames the leg was given, in order, each stamped when it was sent
    assert len(outbound.frames) == len(leg.sent) < 1000
    assert all(f.pcm is s for f, s in zip(outbound.frames, leg.sent, strict=True))
    times = [f.at for f in outbound.frames]
    assert all(math.isclose(b - a, 0.02, abs_tol=1e-9) for a, b in itertools.pairwise(times))
    assert math.isclose(outbound.frames[-1].media_at, 0.02 * len(leg.sent))
    assert {f.source for f in outbound.frames} == {"clip"}
    # inbound: every caller frame, with its media time
    assert [round(f.media_at, 2) for f in inbound.frames] == \
        [round(0.02 * (i + 1), 2) for i in range(20)]
    assert all(f.direction is Direction.IN for f in inbound.frames)
    call.session.remove_tap(outbound, Direction.OUT)
    await call.session.close()


async def test_hold_music_is_endless_and_unhold_stops_it() -> None:
    leg = MemoryLeg(call_id="h1", sample_rate=RATE)
    clock = SimClock()
    call = make(leg, [], clock)
    call.session.start()
    call.hold(HoldMusic(pcm=tone(0.1, RATE), sample_rate=RATE))
    await until(lambda: len(leg.sent) >= 60)  # a 0.1 s loop played for over a second
    await call.unhold()
    n = len(leg.sent)
    await asyncio.sleep(0.02)
    assert len(leg.sent) <= n + 1
    assert np.array_equal(leg.sent[0], leg.sent[5])  # the loop repeats
    await call.session.close()


# ---- bridge ------------------------------------------------------------------------------


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation of b against a (any lag)."""
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    full = np.correlate(b, a, mode="valid") if len(b) >= len(a) else np.correlate(a, b, "valid")
    short = a if len(b) >= len(a) else b
    long_ = b if len(b) >= len(a) else a
    win = np.sqrt(np.convolve(long_**2, np.ones(len(short)), "valid") * np.sum(short**2))
    return float(np.max(full / np.maximum(win, 1e-9)))


async def test_bridge_relays_audio_both_ways_taps_each_direction_and_digits() -> None:
    from callport.call.bridge import Bridge, PartyLeft

    leg_a = MemoryLeg(call_id="A", sample_rate=8000)
    leg_b = MemoryLeg(call_id="B", sample_rate=16000)
    a, b = make(leg_a), make(leg_b)
    a.session.start()
    b.session.start()
    ab, ba = FrameCollector(), FrameCollector()
    bridge = Bridge(a=a.session, b=b.session, taps_a_to_b=[ab], taps_b_to_a=[ba], max_delay_s=5)
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.01)
    chirp_a = (6000 * np.sin(2 * np.pi * np.cumsum(np.linspace(300, 3000, 8000)) / 8000)
               ).astype(np.int16)
    # B: a falling chirp inside the 8 kHz band (what survives A's narrower line)
    noise_b = (6000 * np.sin(2 * np.pi * np.cumsum(np.linspace(3200, 250, 16000)) / 16000)
               ).astype(np.int16)
    await leg_a.speak(chirp_a, 8000)
    await leg_b.speak(noise_b, 16000)
    # (the resamplers hold back a few milliseconds, so not quite all 50 frames yet)
    await until(lambda: len(leg_b.sent) >= 45 and len(leg_a.sent) >= 45)
    leg_a.press("5")
    await until(lambda: leg_b.digits_sent == ["5"])
    assert _corr(chirp_a, leg_b.output()[::2]) > 0.9  # A's chirp reached B (at 16 kHz)
    assert _corr(noise_b[::2], leg_a.output()) > 0.9  # B's chirp reached A (at 8 kHz)
    # each direction's tap holds what that side was sent, frame for frame
    assert [f.pcm is s for f, s in zip(ab.frames, leg_b.sent, strict=False)] == \
        [True] * len(ab.frames) and len(ab.frames) == len(leg_b.sent)
    assert len(ba.frames) == len(leg_a.sent) and ba.frames[0].sample_rate == 8000
    leg_a.caller_hangup()
    assert await asyncio.wait_for(run, 5) == PartyLeft("a", "caller")
    assert leg_b.hung_up_reason == "bridge-ended"
    for call in (a, b):
        await call.session.close()


async def test_bridge_stop_leaves_both_calls_up_and_turns_resume() -> None:
    from callport.call.bridge import Bridge, Stopped

    leg_a, leg_b = MemoryLeg(call_id="A", sample_rate=8000), MemoryLeg(call_id="B")
    a, b = make(leg_a, ["back with the bot"]), make(leg_b)
    a.session.start()
    b.session.start()
    bridge = Bridge(a=a.session, b=b.session)
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.01)
    await leg_a.speak(tone(0.5, 8000), 8000, trailing_silence_s=0.5)  # no turn while bridged
    await until(lambda: len(leg_b.sent) >= 40)
    assert a.session.turns_produced == 0 and a.session.stats.barge_ins == 0
    bridge.stop()
    assert await asyncio.wait_for(run, 5) == Stopped()
    assert not a.ended and not b.ended
    listen = asyncio.create_task(a.listen())
    await until(a.listening.is_set)
    await leg_a.speak(tone(0.4, 8000), 8000, trailing_silence_s=0.5)
    heard = await asyncio.wait_for(listen, 5)
    assert isinstance(heard, Heard) and heard.text == "back with the bot"
    for call in (a, b):
        await call.session.close()


async def test_say_and_a_bridge_stop_hold_music_first() -> None:
    from callport.call.bridge import Bridge, Stopped

    leg_a, leg_b = MemoryLeg(call_id="A", sample_rate=RATE), MemoryLeg(call_id="B")
    clock = SimClock()
    a, b = make(leg_a, [], clock), make(leg_b)
    a.session.start()
    b.session.start()
    a.hold()
    await until(lambda: len(leg_a.sent) >= 10)
    said = await asyncio.wait_for(a.say("You are next."), 5)  # would wait forever behind it
    assert not said.interrupted and said.heard == "You are next."
    assert not a.session.holding and leg_a.cleared == 1
    a.hold()
    await until(lambda: a.session.holding)
    bridge = Bridge(a=a.session, b=b.session)
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.01)
    sent = len(leg_a.sent)
    await leg_b.speak(tone(0.4, 16000, 500.0), 16000)
    await until(lambda: len(leg_a.sent) >= sent + 15)  # B's voice, not the music
    assert not a.session.holding
    bridge.stop()
    assert await asyncio.wait_for(run, 5) == Stopped()
    for call in (a, b):
        await call.session.close()


async def test_a_wav_file_plays_as_a_source_resampled_with_marks(tmp_path: object) -> None:
    from pathlib import Path

    from callport.audio.wav import write_wav
    from callport.call.sources import wav_source

    path = Path(str(tmp_path)) / "prompt.wav"
    write_wav(path, tone(0.5, 16000, 400.0), 16000)  # 16 kHz file on an 8 kHz leg
    leg = MemoryLeg(call_id="w1", sample_rate=RATE)
    call = make(leg)
    call.session.start()
    assert await asyncio.wait_for(call.play(wav_source(path)), 5) is True
    [segment] = call.session.heard()
    assert segment.label == str(path) and segment.done and segment.frames == 25
    assert len(leg.sent) == 25 and all(len(f) == 160 for f in leg.sent)
    assert len(leg.marks) == 3  # frames 10, 20 and the end
    await call.session.close()


def test_a_live_source_drops_a_backlog_in_one_cut() -> None:
    source = LiveSource(sample_rate=RATE, max_s=1.0, window_s=10.0)  # the push bound alone
    source.open(RATE)
    for i in range(60):  # 1.2 s pushed, none read
        source.push(np.full(160, i, np.int16))
    # frame 50 made it over 1 s: cut once, down to 0.5 s (frames 26-50), then 51-59 came
    assert source.dropped_samples == 26 * 160 and source.queued_samples == 34 * 160
    out = [source.read(160) for _ in range(34)]
    assert [int(f[0]) for f in out if f is not None] == list(range(26, 60))  # one cut only
    empty = source.read(160)
    assert empty is not None and len(empty) == 0  # nothing more yet: an empty read, not the end
    source.close()
    assert source.read(160) is None
