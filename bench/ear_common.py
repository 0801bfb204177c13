"""Shared by bench/bench_ear.py and its channel drivers (ear_sip, ear_twilio, ear_browser):
the caller's requests, the caller's side of the conversation, what the caller heard (audio
stamped on the caller's own clock), the two figures measured from them, and what the
server's VAD makes of the same audio. The server child is in ear_serve.

The caller asks for its list of tasks (a long answer) in several phrasings, Piper and
espeak-ng voices in turn, each request trimmed to its speech (first to last 10 ms with
energy), so its onset and end on the caller's clock are the moments its first and last
samples go out. It waits until the agent has been heard for a second or two
(``BARGE_AFTER_S``, varied so the barge-ins land at different points) of its greeting, says
the first request over it, waits likewise into the answer, says the next request over that,
and so on: every request is both a barge-in and a turn to be answered (a request that lands
in a pause between the agent's sentences, or after a short answer, is no barge-in).

- **first reply**: end of request i -> the first non-silent 20 ms the caller hears after it;
- **barge-in**: onset of request i, while the agent is audible (heard in the ``BEFORE_S``
  before and the ``AT_ONSET_S`` after: not a pause between its sentences), -> the end of the
  last agent audio heard before a quiet of ``QUIET_S``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent

# What the caller asks: the list of tasks (a long answer, so the next request barges in on it).
REQUESTS = (
    "What are my tasks?",
    "What is on my list?",
    "Read me my tasks, please.",
    "What do I have to do?",
    "Can you read my task list?",
)
SPEECH_RMS = 300.0  # int16 RMS of 10 ms of the caller's synthesized request that is speech
HEARD_RMS = 100.0  # int16 RMS of 20 ms heard that is the agent's voice (its pauses are ~0)
QUIET_S = 0.6  # agent audio counts as stopped once this long passes without any
BEFORE_S = 0.15  # a barge-in: the agent was heard within this long before the caller's onset
AT_ONSET_S = 0.06  # ... and still heard this soon after it (no VAD could have stopped it yet)
BARGE_AFTER_S = (1.0, 1.4, 1.8, 2.2)  # the caller speaks this long into the agent's answer
# (request i: the i-th, cyclically; so that the barge-ins land at different points of it)
ENDED_S = 1.5  # quiet this long after the agent spoke: its answer is over
WAIT_S = 25.0  # the longest the caller waits for the agent to say something
Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Requests:
    """What the caller says, trimmed to the speech (first to last 10 ms with energy)."""

    pcm: list[NDArray[np.int16]]
    rate: int
    texts: list[str]
    voices: list[str]


def speech_bounds(pcm: NDArray[np.int16], rate: int) -> tuple[float, float]:
    """(onset, end) in seconds of the speech in ``pcm``: first and last 10 ms over SPEECH_RMS."""
    hop = rate // 100
    frames = pcm[: pcm.size // hop * hop].reshape(-1, hop).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > SPEECH_RMS)
    if not loud.size:
        raise ValueError("no speech in the synthesized request")
    return loud[0] * hop / rate, (loud[-1] + 1) * hop / rate


def resample_pcm(pcm: NDArray[np.int16], src: int, dst: int) -> NDArray[np.int16]:
    import soxr

    out: NDArray[np.float32] = soxr.resample(pcm.astype(np.float32) / 32768, src, dst)
    return np.clip(out * 32767, -32768, 32767).astype(np.int16)


def _piper(texts: Sequence[str]) -> list[tuple[NDArray[np.int16], int]]:
    from callport.config import SpeechSettings
    from callport.speech.factory import make_tts

    tts = make_tts(SpeechSettings(tts="piper", piper_variation=False))

    async def run(text: str) -> NDArray[np.int16]:
        return np.concatenate([c.pcm async for c in tts.synthesize(text)])

    return [(asyncio.run(run(t)), tts.sample_rate) for t in texts]


def _espeak(text: str) -> tuple[NDArray[np.int16], int]:
    import io
    import wave

    raw = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(raw)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return (pcm.astype(np.float32) * 0.9).astype(np.int16), rate


def build_requests(turns: int, rate: int) -> Requests:
    """``turns`` requests, Piper and espeak-ng voices alternating, at ``rate`` Hz.
    Synthesized outside any event loop (Piper's synthesis runs its own)."""
    texts = [REQUESTS[i % len(REQUESTS)] for i in range(turns)]
    voices = ["piper" if i % 2 == 0 else "espeak" for i in range(turns)]
    if shutil.which("espeak-ng") is None:
        voices = ["piper"] * turns
    piper = iter(_piper([t for t, v in zip(texts, voices, strict=True) if v == "piper"]))
    out: list[NDArray[np.int16]] = []
    for text, voice in zip(texts, voices, strict=True):
        pcm, src = next(piper) if voice == "piper" else _espeak(text)
        pcm = resample_pcm(pcm, src, rate)
        onset, end = speech_bounds(pcm, rate)
        out.append(pcm[int(onset * rate): int(end * rate)])
    return Requests(out, rate, texts, voices)


@dataclass(frozen=True, slots=True)
class VadLag:
    """What the server's VAD and turn detector (Silero, ``[turn]`` defaults) make of the same
    requests at the rate the channel delivers (run here, offline, on the clean audio): how
    long after the true end of speech the detector's pause starts (the server counts its
    end-of-turn silence, and its latency figures, from there), and how long after the true
    onset its barge-in fires (``barge_in_ms`` of speech, counted from its own onset)."""

    end_ms: list[float]
    barge_ms: list[float]


def vad_lag(requests: Requests, rate: int) -> VadLag:
    """The server's VAD and turn handling (``SessionCore``: Silero, the detector with the
    ``[turn]`` settings of this environment, ``CALLPORT_TURN_END_LOOKBACK_MS`` included)."""
    from callport.call.turns import CallerBarged, SessionCore, TurnReady
    from callport.config import load_settings
    from callport.vad.silero import SileroVad
    from callport.vad.turn import TurnDetector

    turn = load_settings(None).turn
    vad = SileroVad()
    lag = VadLag([], [])
    for pcm in requests.pcm:
        pcm = resample_pcm(pcm, requests.rate, rate) if rate != requests.rate else pcm
        lead = 0.5
        audio = np.concatenate([np.zeros(int(lead * rate), np.int16), pcm,
                                np.zeros(rate, np.int16)])
        stream = vad.new_stream(rate)
        detector = TurnDetector(start_threshold=turn.start_threshold,
                                stop_threshold=turn.stop_threshold,
                                min_speech_ms=turn.min_speech_ms,
                                end_of_turn_ms=turn.end_of_turn_ms, barge_in_ms=turn.barge_in_ms,
                                end_lookback_ms=turn.end_lookback_ms)
        core = SessionCore(sample_rate=rate, frame_ms=20, turn=detector, early_cuts=False)
        frame = rate // 50
        for i in range(0, len(audio) - frame + 1, frame):
            core.audio(audio[i: i + frame], (i + frame) / rate)
            for event in core.scores(vad.process(stream, audio[i: i + frame]), wall=0.0):
                if isinstance(event, CallerBarged):
                    lag.barge_ms.append((event.at - lead) * 1000.0)
                elif isinstance(event, TurnReady):
                    end = event.utterance.ended_at
                    lag.end_ms.append((end - lead - len(pcm) / rate) * 1000.0)
    return lag


async def converse(requests: Requests, say: Callable[[NDArray[np.int16]], Awaitable[Span]],
                   audible: Callable[[], Awaitable[bool]]) -> list[Span]:
    """The caller's side of the conversation: each request is said while the agent speaks,
    ``BARGE_AFTER_S`` into its greeting or its answer to the request before (a barge-in), or
    once that answer is over (``ENDED_S`` of quiet) or never came (``WAIT_S``); the last
    answer is listened to until it is over (a turn's record is complete only then). ``say``
    returns, once the speech has gone out, its (onset, end) on the caller's clock."""
    loop = asyncio.get_running_loop()
    spans: list[Span] = []
    for i, pcm in enumerate([*requests.pcm, None]):
        barge_after = BARGE_AFTER_S[i % len(BARGE_AFTER_S)]
        first = last = -1.0
        deadline = loop.time() + WAIT_S
        while (now := loop.time()) < deadline:
            if loud := await audible():
                first = now if first < 0 else first
                last = now
            if first >= 0:
                if pcm is not None and loud and now - first >= barge_after:
                    break  # barge in while the agent is speaking
                if now - last >= ENDED_S:
                    break  # the answer is over (before the caller could barge in)
            await asyncio.sleep(0.02)
        if pcm is not None:
            spans.append(await say(pcm))
    return spans


@dataclass(slots=True)
class Heard:
    """What the caller's end played of the agent, as 20 ms frames stamped on the caller's
    clock (the same clock the caller's audio was sent on); ``t0`` is when the caller's
    timeline started."""

    t0: float = 0.0
    times: list[float] = field(default_factory=list)  # start of each heard frame
    rms: list[float] = field(default_factory=list)
    last_loud: float = -1e9  # when the last frame with speech was heard
    run: int = 0  # how many frames in a row had speech, up to the last one

    def add(self, at: float, pcm: NDArray[np.int16]) -> None:
        rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if pcm.size else 0.0
        self.times.append(at)
        self.rms.append(rms)
        if rms > HEARD_RMS:
            self.last_loud = at
            self.run += 1
        else:
            self.run = 0

    def audible(self, now: float) -> bool:
        """The agent's voice is being heard: the last three frames (60 ms) and no gap since."""
        return now - self.last_loud < 0.04 and self.run >= 3

    def loud(self) -> NDArray[np.float64]:
        """Start times (seconds after ``t0``) of the frames with speech, in order."""
        t = np.asarray(self.times, dtype=np.float64) - self.t0
        r = np.asarray(self.rms)
        return np.sort(t[r > HEARD_RMS]) if t.size else t


class Track:
    """The caller's outgoing audio, one encoded frame per call of ``next_frame`` (silence when
    there is nothing to say); ``say`` resolves to the span of the speech on the sender's
    clock (its first frame's send time, plus its length)."""

    def __init__(self, silence: bytes, rate: int) -> None:
        self.silence = silence
        self.rate = rate
        self._frames: deque[bytes] = deque()
        self._starts: dict[int, tuple[asyncio.Future[Span], float]] = {}
        self.sent = 0

    def say(self, encoded: bytes, seconds: float) -> asyncio.Future[Span]:
        n = len(self.silence)
        encoded += self.silence[: (-len(encoded)) % n]
        fut: asyncio.Future[Span] = asyncio.get_running_loop().create_future()
        self._starts[self.sent + len(self._frames)] = (fut, seconds)
        self._frames.extend(encoded[i: i + n] for i in range(0, len(encoded), n))
        return fut

    async def said(self, encoded: bytes, seconds: float) -> Span:
        """``say``, returning once the speech has gone out."""
        span = await self.say(encoded, seconds)
        await asyncio.sleep(max(0.0, span[1] - asyncio.get_running_loop().time()))
        return span

    def next_frame(self, now: float) -> bytes:
        if (start := self._starts.pop(self.sent, None)) is not None:
            start[0].set_result((now, now + start[1]))
        self.sent += 1
        return self._frames.popleft() if self._frames else self.silence


@dataclass(slots=True)
class Figures:
    channel: str
    first_reply_ms: list[float] = field(default_factory=list)
    barge_in_ms: list[float] = field(default_factory=list)
    missed_replies: int = 0  # requests with no reply heard before the next one
    not_barged: int = 0  # requests spoken while the agent was quiet
    server: list[dict[str, object]] = field(default_factory=list)  # turn timing_ms records
    barge_ins_server: int = 0  # callport_barge_ins_total during the call
    vad_ms: float = 0.0  # mean VAD scoring time per batch during the call (/metrics)
    vad: VadLag = field(default_factory=lambda: VadLag([], []))


def measure(channel: str, spans: Sequence[Span], heard: Heard, *, frame_s: float = 0.02
            ) -> Figures:  # fmt: skip
    """Both figures of every request (``spans``, seconds after ``heard.t0``) from what was
    ``heard``."""
    fig = Figures(channel)
    loud = heard.loud()
    for i, (onset, end) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else end + 30.0
        after = loud[(loud >= end) & (loud < nxt)]
        if after.size:
            fig.first_reply_ms.append((after[0] - end) * 1000.0)
        else:
            fig.missed_replies += 1
        before = loud[(loud >= onset - BEFORE_S) & (loud < onset)]
        if not before.size or not np.any((loud >= onset) & (loud < onset + AT_ONSET_S)):
            fig.not_barged += 1  # the agent was quiet (or fell quiet by itself) at the onset
            continue
        stop = before[-1] + frame_s
        for t in loud[loud >= onset]:
            if t > stop + QUIET_S:
                break
            stop = t + frame_s
        fig.barge_in_ms.append(max(0.0, stop - onset) * 1000.0)
    return fig
