"""WebSocket transport driver: a page's WebSocket -> BrowserProtocol -> BrowserLeg -> run_call.

A short loop around the sans-IO core: one reader (socket -> core -> inbox), one writer (the
only task that writes to the socket), one timer (silence fill while the page's VAD gates its
audio), and the call itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from callport.agents.base import CallInfo
from callport.call.events import PCM16, AudioIn, Dtmf
from callport.call.inbox import EventInbox
from callport.channels.browser.leg import BrowserLeg
from callport.channels.browser.protocol import (
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    BrowserEvent,
    BrowserProtocol,
    CallerAudio,
    ClearDone,
    DigitPressed,
    HangupRequested,
    Interrupted,
    MarkPlayed,
    PingReceived,
    ProtocolError,
    SpeakingChanged,
    Started,
    encode_pcm,
    error_message,
    ready_message,
)
from callport.channels.media_stream import asgi_channel
from callport.edgelog import EDGE
from callport.types import User

log = logging.getLogger(__name__)

RunCall = Callable[[BrowserLeg, CallInfo], Awaitable[object]]
START_TIMEOUT_S = 10.0
MAX_ERROR_REPLIES = 10  # error messages answered per socket; later junk is only counted
OUT_QUEUE_FRAMES = 500  # 10 s of audio: a page that stops reading gets cut off, not buffered


class _WsAudioOut:
    """Agent audio as binary frames; marks and clears as control messages to the page."""

    def __init__(self, core: BrowserProtocol, out: asyncio.Queue[str | bytes | None]) -> None:
        self._core = core
        self._out = out

    async def send(self, pcm: PCM16) -> None:
        try:
            self._out.put_nowait(encode_pcm(pcm))
        except asyncio.QueueFull:  # the page stopped reading; its audio is lost, not buffered
            log.warning("browser: page not reading, dropping agent audio")

    def mark(self, name: str) -> None:
        self._out.put_nowait(self._core.mark(name))

    def clear(self) -> tuple[str, ...]:
        """Tell the page to drop its audio; its marks are answered when it confirms
        (``ClearDone``), so none is dropped here unless the connection is gone."""
        if not self._core.active:
            return self._core.close()
        self._out.put_nowait(self._core.clear(asyncio.get_running_loop().time()))
        return ()


class WebSocketCall:
    """One accepted page WebSocket carrying one call."""

    def __init__(self, *, websocket: WebSocket, run_call: RunCall, lead_ms: float = 200.0,
                 caller: str = "", user: User | None = None) -> None:
        self._ws = websocket
        self._run_call = run_call
        self._core = BrowserProtocol()
        self._inbox = EventInbox()
        self._out: asyncio.Queue[str | bytes | None] = asyncio.Queue(OUT_QUEUE_FRAMES)
        self._loop = asyncio.get_running_loop()
        self.call_id = "br-" + uuid.uuid4().hex[:12]
        self._caller = caller
        self._user = user
        self._close_code = CLOSE_NORMAL
        self._bad_frames = 0
        self.leg = BrowserLeg(call_id=self.call_id, inbox=self._inbox,
                              audio_out=_WsAudioOut(self._core, self._out),
                              send_text=self._send_text, close=self._close, lead_ms=lead_ms)

    async def run(self) -> None:
        """Serve the call until either side ends it. Never raises for peer misbehaviour."""
        writer = asyncio.create_task(self._writer())
        try:
            if not await self._handshake():
                return
            reader = asyncio.create_task(self._reader())
            timer = asyncio.create_task(self._timer())
            info = CallInfo(call_id=self.call_id, channel="browser", caller=self._caller,
                            user=self._user)
            try:
                await self._run_call(self.leg, info)
            except Exception:
                log.exception("call %s failed", self.call_id)
            finally:
                await self.leg.hangup("ended")
                for task in (reader, timer):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            self._inbox.close("closed")
            self._core.close()
            with contextlib.suppress(asyncio.QueueFull):
                self._out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
            writer.cancel()
            if self._ws.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await self._ws.close(self._close_code)

    # -- tasks

    async def _handshake(self) -> bool:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    message = await self._ws.receive()
                    if message["type"] == "websocket.disconnect":
                        return False
                    events = self._feed(message)
                    if any(isinstance(e, Started) for e in events):
                        self._send_text(ready_message(call_id=self.call_id))
                        return True
                    if not self._core.active and any(isinstance(e, ProtocolError)
                                                     for e in events):
                        return False
        except TimeoutError:
            self._send_text(error_message(message="no 'start' message"))
            self._close_code = CLOSE_PROTOCOL_ERROR
            return False

    async def _reader(self) -> None:
        reason = "caller hung up"
        receive, _ = asgi_channel(self._ws)  # after the start: no wrapper per frame
        try:
            while not self._inbox.closed:
                message = await receive()
                if message["type"] != "websocket.receive":  # websocket.disconnect
                    break
                self._feed(message)
        except (WebSocketDisconnect, RuntimeError, OSError):
            reason = "connection lost"
        self._inbox.close(reason)

    async def _timer(self) -> None:
        while not self._inbox.closed:
            deadline = self._core.get_timer()
            now = self._loop.time()
            delay = 0.05 if deadline is None else max(0.0, deadline - now)
            await asyncio.sleep(min(delay, 0.05))
            self._dispatch(self._core.handle_timer(self._loop.time()))

    async def _writer(self) -> None:
        _, send = asgi_channel(self._ws)  # the socket is accepted: no wrapper per frame
        while True:
            item = await self._out.get()
            if item is None:
                return
            try:
                if isinstance(item, bytes):
                    await send({"type": "websocket.send", "bytes": item})
                else:
                    await send({"type": "websocket.send", "text": item})
            except Exception:  # the page went away mid-send: the reader reports it
                self._inbox.close("connection lost")
                return

    # -- glue

    def _feed(self, message: Mapping[str, Any]) -> list[BrowserEvent]:
        now = self._loop.time()
        data, text = message.get("bytes"), message.get("text")
        if isinstance(data, bytes):
            events = self._core.receive_bytes(data, now)
        elif isinstance(text, str):
            events = self._core.receive_text(text, now)
        else:
            events = []
        self._dispatch(events)
        return events

    def _dispatch(self, events: list[BrowserEvent]) -> None:
        for event in events:
            match event:
                case CallerAudio(pcm=pcm, at=at):
                    self._inbox.put(AudioIn(pcm, at))
                case MarkPlayed(name=token):
                    self._inbox.mark_played(token)
                case Interrupted():  # the page dropped its audio: pending marks unplayed
                    self._inbox.clear_marks()
                case ClearDone(dropped=dropped):  # our clear, confirmed (or timed out)
                    self._inbox.drop_marks(dropped)
                case PingReceived(reply=reply):
                    self._send_text(reply)
                case DigitPressed(digit=digit):
                    self._inbox.put(Dtmf(digit))
                case HangupRequested():
                    self._inbox.close("caller hung up")
                case ProtocolError(reason=reason, close_code=code, fatal=fatal):
                    self._bad_frames += 1
                    allowed, _ = EDGE.report("browser", "protocol-error", now=self._loop.time())
                    if allowed:  # counted always; logged a few times a minute at most
                        log.info("browser %s: %s", self.call_id, reason[:200])
                    if self._bad_frames <= MAX_ERROR_REPLIES:  # no reply per junk frame
                        self._send_text(error_message(message=reason))
                    if fatal:
                        self._close_code = code
                        self._inbox.close("protocol error")
                case SpeakingChanged() | Started():
                    pass

    def _send_text(self, text: str) -> None:
        try:
            self._out.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("browser %s: page not reading; dropping control message", self.call_id)

    async def _close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._out.put_nowait(None)
