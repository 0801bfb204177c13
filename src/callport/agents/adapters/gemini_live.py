"""``--agent gemini-live``: Google's Gemini Live API as the agent, speech to speech.

One ``BidiGenerateContent`` WebSocket (``agent.base_url``, default Google's; ``?key=``
``agent.api_key``) with ``setup`` (``agent.model``, ``agent.voice``, the instructions, the
Task Manager's tools, session resumption on). The caller's audio goes up as 16 kHz PCM16
(resampled from the leg), the model's 24 kHz audio comes down through the call's pacer
(``AudioLink``). ``serverContent.interrupted`` (the model heard the caller over itself) clears
the caller's playout at once; Gemini has no truncate, it knows where it stopped. Tool calls
run like OpenAI's (``call_tools``) and are answered with ``toolResponse``.

A connection lives about ten minutes. On ``goAway``, or a socket that drops once a resumption
handle is known, a second connection is opened with ``sessionResumption.handle`` while the
first one still talks; the caller's audio is held meanwhile and sent on the new one, and the
model's queued audio keeps playing from the pacer, so the caller hears no gap. No handle, or a
resumption refused, raises ``AgentUnavailable`` (the apology and ``server.fallback``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from callport.agents.adapters import gemini_live_protocol as gl
from callport.agents.adapters.audio_link import AudioLink, Digit
from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable
from callport.agents.adapters.call_tools import CALL_TOOLS, CallTools
from callport.call.agent import AgentInput, AgentOutput
from callport.store.tasks import TaskStore
from callport.types import PCM16, CallInfo

if TYPE_CHECKING:
    from callport.call.call import Call

log = logging.getLogger(__name__)

__all__ = ["GeminiAgent"]

DEFAULT_MODEL = "gemini-3.1-flash-live-preview"
INSTRUCTIONS = ("You are a phone assistant that manages the caller's task list with the tools. "
                "Start by saying plainly that you are an automated assistant. Keep answers "
                "short: this is a phone call.")
LAST_WORDS_S = 10.0
MAX_HELD_S = 10.0  # caller audio held while reconnecting


class GeminiAgent:
    """One call's Live session, across as many connections as it takes (an ``AudioAgent``)."""

    def __init__(self, *, info: CallInfo, options: AdapterOptions, store: TaskStore,
                 agent_log: AgentLog | None = None) -> None:
        self.info = info
        self._options = options
        self._store = store
        self._log = agent_log or AgentLog(name="gemini-live", call_id=info.call_id)
        self._ws: ClientConnection | None = None
        self._handle = ""
        self._held: list[PCM16] | None = None  # caller audio held during a reconnect
        self._events: asyncio.Queue[tuple[ClientConnection, gl.GlEvent | str]] = asyncio.Queue()
        self.connections = 0
        self._resuming: asyncio.Task[None] | None = None
        self.reconnects: list[float] = []  # ms from the decision to the new session's setup
        self.interruptions = 0
        self._first_audio: float | None = None

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        raise AgentUnavailable("gemini-live talks audio, not turns")
        yield  # pragma: no cover

    def interrupted(self, heard: str) -> None:
        return None

    def _url(self) -> str:
        base = self._options.base_url or gl.DEFAULT_URL
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}key={self._options.api_key}" if self._options.api_key else base

    async def _open(self) -> ClientConnection:
        """A connection with its setup done (resuming when a handle is known)."""
        ws = await asyncio.wait_for(connect(self._url(), open_timeout=None, max_size=2**24),
                                    self._options.connect_timeout_s)
        await ws.send(gl.setup(model=self._options.model or DEFAULT_MODEL,
                               instructions=self._options.system_prompt or INSTRUCTIONS,
                               voice=self._options.voice, tools=CALL_TOOLS,
                               handle=self._handle))
        async with asyncio.timeout(self._options.connect_timeout_s):
            while True:
                events = gl.parse_server(await ws.recv())
                if any(isinstance(e, gl.GlSetupComplete) for e in events):
                    break
        self.connections += 1
        asyncio.get_running_loop().create_task(self._read(ws))
        return ws

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                for event in gl.parse_server(raw):
                    self._events.put_nowait((ws, event))
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1006
            self._events.put_nowait((ws, f"closed {code}"))
            return
        self._events.put_nowait((ws, "closed 1000"))

    async def converse(self, call: Call) -> None:
        link = AudioLink(call=call, in_rate=gl.IN_RATE, label="agent")
        tools = CallTools(call=call, store=self._store)
        started = time.monotonic()
        try:
            self._ws = await self._open()
        except (OSError, TimeoutError, WebSocketException) as exc:
            why = f"cannot open a Live session at {self._options.base_url or 'Google'}: " \
                  f"{type(exc).__name__}: {exc}"
            await self._log.failed(why)
            raise AgentUnavailable(why) from exc
        self._connected = time.monotonic()
        await self._log.connected((self._connected - started) * 1000.0)
        await self._ws.send(gl.user_text("(The call has started: greet the caller.)"))
        link.open()
        tasks = [asyncio.create_task(self._up(link)), asyncio.create_task(self._keys(link))]
        events = asyncio.create_task(self._on_events(link, tools))
        try:
            await asyncio.wait({events, tasks[1]}, return_when=asyncio.FIRST_COMPLETED)
            if events.done() and (broke := events.result()) is not None:
                await self._log.failed(broke)
                raise AgentUnavailable(broke)
        finally:
            extra = [self._resuming] if self._resuming is not None else []
            for task in (*tasks, events, *extra):
                task.cancel()
            await asyncio.gather(*tasks, events, *extra, return_exceptions=True)
            if self._ws is not None:
                with contextlib.suppress(WebSocketException):
                    await self._ws.close()
            link.close()
            gaps = ", ".join(f"{ms:.0f}" for ms in self.reconnects)
            await self._log.event(
                f"{link.frames_to_agent * 20 / 1000:.1f} s of the caller sent, "
                f"{link.frames_from_agent * link.frame_ms / 1000:.1f} s of the model played, "
                f"{self.connections} connections (resumed in {gaps or '-'} ms), "
                f"{self.interruptions} interruptions, {len(tools.calls)} tool calls")

    async def _up(self, link: AudioLink) -> None:
        while True:
            frame = await link.caller()
            if self._held is not None:
                if len(self._held) * 0.02 < MAX_HELD_S:
                    self._held.append(frame)
                continue
            if self._ws is not None:
                with contextlib.suppress(WebSocketException):
                    await self._ws.send(gl.audio(frame.astype("<i2").tobytes()))

    async def _keys(self, link: AudioLink) -> None:
        while isinstance(event := await link.next_event(), Digit):
            if self._ws is not None:
                await self._ws.send(gl.user_text(f"(The caller pressed the key {event.digit}.)"))

    def _start_resume(self, why: str) -> None:
        """Resume in the background: the old connection's audio keeps flowing meanwhile."""
        if self._resuming is not None and not self._resuming.done():
            return
        self._resuming = asyncio.create_task(self._resume_or_fail(why))

    async def _resume_or_fail(self, why: str) -> None:
        broke = await self._resume(why)
        if broke is not None and self._ws is not None:
            self._events.put_nowait((self._ws, f"failed: {broke}"))

    async def _resume(self, why: str) -> str | None:
        """Move the session to a new connection; None when done, else why it failed."""
        if not self._handle:
            return f"{why}, and the session has no resumption handle"
        began = time.monotonic()
        self._held = []
        old = self._ws
        try:
            new = await self._open()
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._held = None
            return f"{why}; resuming failed: {type(exc).__name__}: {exc}"
        held, self._held = self._held or [], None
        self._ws = new
        for frame in held:  # what the caller said meanwhile, on the new connection
            await new.send(gl.audio(frame.astype("<i2").tobytes()))
        ms = (time.monotonic() - began) * 1000.0
        self.reconnects.append(ms)
        await self._log.event(f"session resumed on a new connection in {ms:.0f} ms ({why}; "
                              f"{len(held)} caller frames held)")
        if old is not None:
            with contextlib.suppress(WebSocketException):
                await old.close()
        return None

    async def _on_events(self, link: AudioLink, tools: CallTools) -> str | None:
        pending_hangup = False
        while True:
            ws, event = await self._events.get()
            if ws is not self._ws:
                if isinstance(event, gl.GlAudio):  # the old connection's last words
                    link.play(np.frombuffer(event.pcm, dtype="<i2").astype(np.int16), event.rate)
                continue
            match event:
                case gl.GlAudio(pcm=pcm, rate=rate):
                    if self._first_audio is None:
                        self._first_audio = time.monotonic()
                        ms = (self._first_audio - self._connected) * 1000
                        await self._log.event(f"first audio in {ms:.0f} ms")
                    link.play(np.frombuffer(pcm, dtype="<i2").astype(np.int16), rate)
                case gl.GlInterrupted():
                    self.interruptions += 1
                    await link.clear()
                case gl.GlTurnComplete():
                    link.flush()
                    if pending_hangup:
                        with contextlib.suppress(TimeoutError):
                            await link.wait_heard(LAST_WORDS_S)
                        if await tools.finish():
                            return None
                        pending_hangup = False
                case gl.GlToolCall(calls=calls):
                    results = []
                    for cid, name, arguments in calls:
                        results.append((cid, name, await tools.run(name, arguments)))
                        await self._log.event(f"tool {name}")
                    pending_hangup = tools.pending is not None
                    await ws.send(gl.tool_response(results))
                case gl.GlResumption(handle=handle, resumable=resumable):
                    if resumable and handle:
                        self._handle = handle
                case gl.GlGoAway(time_left_s=left):
                    self._start_resume(f"goAway, {left:.0f} s left")
                case str() as text if text.startswith("failed: "):
                    return text.removeprefix("failed: ")
                case str() as closed:
                    if link.ended:
                        return None
                    self._start_resume(f"the connection {closed}")
                case gl.GlInvalid(description=why):
                    log.warning("call %s: gemini sent garbage: %s", self.info.call_id, why)
                case _:
                    pass
