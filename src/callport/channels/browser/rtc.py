"""WebRTC transport driver (aiortc): HTTP POST offer/answer, Opus both ways, a control channel.

The page posts a complete (non-trickle) offer with one audio transceiver (sendrecv) and an
``RTCDataChannel`` labelled ``control`` that carries the same JSON control messages as the
WebSocket transport (``callport.channels.browser.protocol``). Agent audio leaves as 48 kHz
*stereo* frames: aiortc's Opus path turns mono frames into stereo 3 dB quieter.

Pitfalls handled here: aiortc uses Google's STUN server unless ``iceServers`` is set, so it
always gets an explicit list (empty by default); aiortc's receive jitter buffer adds a
fixed >= 80 ms, so marks are reported when the frame leaves, not when it is heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from callport.agents.base import CallInfo
from callport.call.events import PCM16, AudioIn, Dtmf
from callport.call.inbox import EventInbox
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.protocol import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    BrowserEvent,
    BrowserProtocol,
    DigitPressed,
    HangupRequested,
    Interrupted,
    PingReceived,
    ProtocolError,
    error_message,
    ready_message,
)
from callport.config import BrowserSettings
from callport.edgelog import EDGE
from callport.types import User

log = logging.getLogger(__name__)

RTC_RATE = 48_000
CONNECT_S = 15.0  # limits.rtc_connect_s: an answered offer must connect by then
RTC_FRAME = RTC_RATE * 20 // 1000  # 960 samples per channel
RunCall = Callable[[BrowserLeg, CallInfo], Awaitable[object]]
Track = Callable[[Awaitable[None]], Awaitable[None]]


class AgentTrack(MediaStreamTrack):
    """Outgoing audio: a queue of 48 kHz samples with marks, paced in 20 ms stereo frames."""

    kind = "audio"

    def __init__(self, *, on_mark: Callable[[str], object]) -> None:
        super().__init__()
        self._on_mark = on_mark
        self._up = av.AudioResampler(format="s16", layout="mono", rate=RTC_RATE)
        self._buf = np.zeros(0, np.int16)
        self._written = 0  # samples queued since start (48 kHz)
        self._read = 0
        self._marks: list[tuple[int, str]] = []
        self._start: float | None = None
        self._pts = 0

    def push(self, pcm: PCM16) -> None:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1).astype(np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = SAMPLE_RATE
        parts = [f.to_ndarray().reshape(-1) for f in self._up.resample(frame)]
        if parts:
            out = np.concatenate(parts).astype(np.int16)
            self._buf = np.concatenate([self._buf, out])
            self._written += len(out)

    def mark(self, name: str) -> None:
        self._marks.append((self._written, name))
        self._fire()

    def clear(self) -> tuple[str, ...]:
        dropped = tuple(name for _, name in self._marks)
        self._marks.clear()
        self._buf = np.zeros(0, np.int16)
        self._written = self._read
        self._up = av.AudioResampler(format="s16", layout="mono", rate=RTC_RATE)
        return dropped

    def _fire(self) -> None:
        while self._marks and self._marks[0][0] <= self._read:
            _, name = self._marks.pop(0)
            self._on_mark(name)

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / RTC_RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        take = self._buf[:RTC_FRAME]
        self._buf = self._buf[len(take):]
        self._read += len(take)
        if self._read > self._written:  # keep counters consistent after a clear
            self._read = self._written
        mono = np.zeros(RTC_FRAME, np.int16)
        mono[: len(take)] = take
        stereo = np.repeat(mono, 2).reshape(1, -1)  # interleaved L R: full level in Opus
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = RTC_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RTC_RATE)
        self._pts += RTC_FRAME
        self._fire()
        return frame


class _RtcAudioOut:
    def __init__(self, track: AgentTrack) -> None:
        self._track = track

    async def send(self, pcm: PCM16) -> None:
        self._track.push(pcm)

    def mark(self, name: str) -> None:
        self._track.mark(name)

    def clear(self) -> tuple[str, ...]:
        return self._track.clear()


class RtcCall:
    """One peer connection carrying one call."""

    def __init__(self, *, pc: RTCPeerConnection, run_call: RunCall, lead_ms: float,
                 caller: str, user: User | None = None,
                 connect_s: float = CONNECT_S) -> None:
        self.pc = pc
        self._connect_s = connect_s
        self.call_id = "rtc-" + uuid.uuid4().hex[:12]
        self._run_call = run_call
        self._caller = caller
        self._user = user
        self.user_name = user.name if user is not None else ""
        self._inbox = EventInbox()
        self._core = BrowserProtocol(require_start=False)
        self._channel: Any = None
        self._pending_text: list[str] = []
        self.track = AgentTrack(on_mark=self._inbox.mark_played)
        self.leg = BrowserLeg(call_id=self.call_id, inbox=self._inbox,
                              audio_out=_RtcAudioOut(self.track), send_text=self._send_text,
                              close=self._close, lead_ms=lead_ms)
        self._tasks: list[asyncio.Task[None]] = []

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label != "control" or self._channel is not None:
                return
            self._channel = channel

            @channel.on("message")  # type: ignore[untyped-decorator]
            def on_message(message: str | bytes) -> None:
                if isinstance(message, str):
                    self._dispatch(self._core.receive_text(message,
                                                           asyncio.get_running_loop().time()))

            if channel.readyState == "open":
                self._flush()
            else:
                channel.on("open", self._flush)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in {"failed", "closed"}:
                self._inbox.close("connection lost")

    async def _connect_deadline(self) -> None:
        """An answered offer whose peer never connects (no ICE, a page gone) ends the call at
        ``limits.rtc_connect_s``: it must not hold a live call, its ports and its flow."""
        await asyncio.sleep(self._connect_s)
        if self.pc.connectionState != "connected" and not self._inbox.closed:
            allowed, _ = EDGE.report("browser", "rtc-connect-timeout",
                                     now=asyncio.get_running_loop().time())
            if allowed:
                log.info("call %s: WebRTC not connected within %g s; ending it",
                         self.call_id, self._connect_s)
            self._inbox.close("connection lost")

    def on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def run(self) -> None:
        self._send_text(ready_message(call_id=self.call_id))
        self._tasks.append(asyncio.ensure_future(self._connect_deadline()))
        info = CallInfo(call_id=self.call_id, channel="browser", caller=self._caller,
                        user=self._user)
        try:
            await self._run_call(self.leg, info)
        except Exception:
            log.exception("call %s failed", self.call_id)
        finally:
            await self.leg.hangup("ended")
            for task in self._tasks:
                task.cancel()
            await self.pc.close()

    async def _consume(self, track: MediaStreamTrack) -> None:
        down = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = np.zeros(0, np.int16)
        samples = 0
        try:
            while not self._inbox.closed:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                data = frame.to_ndarray().reshape(-1)
                channels = len(frame.layout.channels)
                left = data[::channels] if channels > 1 else data  # first channel, full level
                mono = av.AudioFrame.from_ndarray(left.reshape(1, -1).astype(np.int16),
                                                  format="s16", layout="mono")
                mono.sample_rate = frame.sample_rate
                for out in down.resample(mono):
                    pending = np.concatenate([pending, out.to_ndarray().reshape(-1)])
                while len(pending) >= FRAME_SAMPLES:
                    chunk, pending = pending[:FRAME_SAMPLES].copy(), pending[FRAME_SAMPLES:]
                    samples += FRAME_SAMPLES
                    self._inbox.put(AudioIn(chunk.astype(np.int16), samples / SAMPLE_RATE))
        except MediaStreamError:
            self._inbox.close("caller hung up")

    def _dispatch(self, events: list[BrowserEvent]) -> None:
        for event in events:
            match event:
                case Interrupted():
                    # The page stopped playing: drop what we still hold for it.
                    self.track.clear()
                    self._inbox.clear_marks()
                case PingReceived(reply=reply):
                    self._send_text(reply)
                case DigitPressed(digit=digit):
                    self._inbox.put(Dtmf(digit))
                case HangupRequested():
                    self._inbox.close("caller hung up")
                case ProtocolError(reason=reason):
                    self._send_text(error_message(message=reason))
                case _:
                    pass

    def _send_text(self, text: str) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            with contextlib.suppress(Exception):
                channel.send(text)
        elif len(self._pending_text) < 100:
            self._pending_text.append(text)

    def _flush(self) -> None:
        pending, self._pending_text = self._pending_text, []
        for text in pending:
            self._send_text(text)

    async def _close(self) -> None:
        self._inbox.close("hangup")
        await asyncio.sleep(0.05)  # let the bye go out on the data channel
        await self.pc.close()


class RtcCalls:
    """Answers offers and keeps the live peer connections."""

    def __init__(self, *, settings: BrowserSettings, run_call: RunCall, track: Track,
                 connect_s: float = CONNECT_S) -> None:
        self._settings = settings
        self._connect_s = connect_s
        self._run_call = run_call
        self._track = track
        self._calls: set[RtcCall] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(urls=url, username=self._settings.turn_username or None,
                                credential=self._settings.turn_credential or None)
                   if url.startswith("turn") else RTCIceServer(urls=url)
                   for url in self._settings.ice_servers]
        return RTCConfiguration(iceServers=servers)  # never None: that means Google STUN

    async def answer(self, sdp: str, *, caller: str, user: User | None = None
                     ) -> dict[str, str]:
        """Answer an offer; the call runs as ``user`` (the signed-in browser's)."""
        pc = RTCPeerConnection(self._configuration())
        call = RtcCall(pc=pc, run_call=self._run_call, lead_ms=float(self._settings.lead_ms),
                       caller=caller, user=user, connect_s=self._connect_s)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            call.on_track(track)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
            if not audio:
                raise ValueError("the offer has no audio")
            pc.addTrack(call.track)  # reuses the offered transceiver, making it sendrecv
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await pc.close()
            raise ValueError(str(exc) or type(exc).__name__) from None
        self._calls.add(call)
        task = asyncio.ensure_future(self._track(call.run()))
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self._calls.discard(call)

        task.add_done_callback(done)
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    def calls_of(self, user_name: str) -> int:
        """Answered calls of the signed-in user ``user_name`` not ended yet."""
        return sum(1 for call in self._calls if call.user_name == user_name)

    async def close_all(self) -> None:
        for call in list(self._calls):
            await call.pc.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
