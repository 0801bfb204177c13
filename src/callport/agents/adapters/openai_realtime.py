"""``--agent openai-realtime``: OpenAI's Realtime API (GA WebSocket) as the agent, speech to speech.

One WebSocket per call to ``agent.base_url`` (default ``wss://api.openai.com/v1/realtime``)
``?model=`` ``agent.model`` (default ``gpt-realtime``), ``Authorization: Bearer agent.api_key``.
On an 8 kHz phone leg audio goes both ways as ``audio/pcmu``: the caller's G.711 is re-encoded
bit-exactly and sent as it came, no resampling; elsewhere as 24 kHz PCM16. The model's audio
goes to the caller through the call's pacer (``AudioLink``). Barge-in is the server's VAD:
on ``input_audio_buffer.speech_started`` callport clears the caller's playout at once and
truncates the item that was playing at what the caller heard (``conversation.item.truncate``
with ``audio_end_ms`` from the leg's marks). The model's function calls run the Task Manager's
actions on the caller's list, send DTMF, and hang up or transfer once its words are heard
(``call_tools``). A key the caller presses reaches the model as a short user message.

A service that cannot be reached, refuses the session or drops the socket raises
``AgentUnavailable``: the caller hears an apology and ``server.fallback``.
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

from callport.agents.adapters import openai_realtime_protocol as rt
from callport.agents.adapters.audio_link import AudioLink, Digit
from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable
from callport.agents.adapters.call_tools import CALL_TOOLS, CallTools
from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.call.agent import AgentInput, AgentOutput
from callport.store.tasks import TaskStore
from callport.types import CallInfo

if TYPE_CHECKING:
    from callport.call.call import Call

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_URL", "RealtimeAgent"]

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
DEFAULT_MODEL = "gpt-realtime"
INSTRUCTIONS = ("You are a phone assistant that manages the caller's task list with the tools. "
                "Start by saying plainly that you are an automated assistant. Keep answers "
                "short: this is a phone call.")
LAST_WORDS_S = 10.0


class RealtimeAgent:
    """One call's Realtime session (an ``AudioAgent``)."""

    def __init__(self, *, info: CallInfo, options: AdapterOptions, store: TaskStore,
                 agent_log: AgentLog | None = None) -> None:
        self.info = info
        self._options = options
        self._store = store
        self._log = agent_log or AgentLog(name="openai-realtime", call_id=info.call_id)
        self._item = ""  # the assistant item whose audio is playing
        self._item_start = 0  # its first frame on the link's position scale
        self.truncations: list[tuple[str, int]] = []
        self._cut: set[str] = set()  # truncated items: their late deltas are dropped
        self._done = 0  # response.done events so far
        self._finish_after = 0  # a hang-up/transfer waits for this many (the reply after it)
        self._first_audio_s: float | None = None

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        raise AgentUnavailable("openai-realtime talks audio, not turns")
        yield  # pragma: no cover

    def interrupted(self, heard: str) -> None:
        return None

    def _url(self) -> str:
        base = (self._options.base_url or DEFAULT_URL).rstrip("/")
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}model={self._options.model or DEFAULT_MODEL}"

    async def converse(self, call: Call) -> None:
        pcmu = call.session.leg.sample_rate == 8000
        link = AudioLink(call=call, in_rate=8000 if pcmu else 24000, label="agent")
        tools = CallTools(call=call, store=self._store)
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self._options.api_key}"}
        try:
            ws = await asyncio.wait_for(
                connect(self._url(), additional_headers=headers, open_timeout=None,
                        max_size=2**24), self._options.connect_timeout_s)
            await ws.send(rt.session_update(
                instructions=self._options.system_prompt or INSTRUCTIONS,
                voice=self._options.voice, pcmu=pcmu, tools=rt.realtime_tools(CALL_TOOLS)))
            await ws.send(rt.response_create())  # the model greets the caller
        except (OSError, TimeoutError, WebSocketException) as exc:
            why = f"cannot connect to {self._url()}: {type(exc).__name__}: {exc}"
            await self._log.failed(why)
            raise AgentUnavailable(why) from exc
        self._connected = time.monotonic()
        await self._log.connected((self._connected - started) * 1000.0)
        link.open()
        tasks: list[asyncio.Task[object]] = []
        try:
            up = asyncio.create_task(self._up(ws, link, pcmu))
            down = asyncio.create_task(self._down(ws, link, tools, pcmu))
            keys = asyncio.create_task(self._keys(ws, link))
            tasks = [up, down, keys]
            await asyncio.wait({down, keys}, return_when=asyncio.FIRST_COMPLETED)
            if down.done() and (broke := down.result()) is not None:
                await self._log.failed(broke)
                raise AgentUnavailable(broke)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(WebSocketException):
                await ws.close()
            link.close()
            await self._log.event(
                f"{link.frames_to_agent * 20 / 1000:.1f} s of the caller sent, "
                f"{link.frames_from_agent * link.frame_ms / 1000:.1f} s of the model played, "
                f"{len(self.truncations)} truncations, {len(tools.calls)} tool calls")

    async def _up(self, ws: ClientConnection, link: AudioLink, pcmu: bool) -> None:
        while True:
            frame = await link.caller()
            await ws.send(rt.append(ulaw_encode(frame) if pcmu
                                    else frame.astype("<i2").tobytes()))

    async def _keys(self, ws: ClientConnection, link: AudioLink) -> None:
        while isinstance(event := await link.next_event(), Digit):
            await ws.send(rt.user_text(f"(The caller pressed the key {event.digit}.)"))
            await ws.send(rt.response_create())

    async def _barge_in(self, ws: ClientConnection, link: AudioLink) -> None:
        """The caller spoke: clear the playout, truncate the playing item at what was heard."""
        if not self._item:
            return
        queued = (link.position - self._item_start) * link.frame_ms
        heard = min(link.heard_ms(self._item_start), queued)
        if heard >= queued:  # all of it was heard: nothing to cut
            self._item = ""
            return
        await link.clear()
        self.truncations.append((self._item, heard))
        self._cut.add(self._item)
        await self._log.event(f"barge-in: {self._item} truncated at {heard} ms")
        await ws.send(rt.truncate(self._item, heard))
        self._item = ""

    async def _down(self, ws: ClientConnection, link: AudioLink, tools: CallTools,
                    pcmu: bool) -> str | None:
        """The server's events until the socket closes: what broke, or None for a clean end."""
        try:
            async for raw in ws:
                match rt.parse_server(raw):
                    case rt.RtAudio(item_id=item_id) if item_id in self._cut:
                        pass  # sent before the server heard the barge-in: never played
                    case rt.RtAudio(item_id=item_id, audio=audio):
                        if item_id != self._item:
                            link.flush()
                            self._item, self._item_start = item_id, link.position
                        if self._first_audio_s is None:
                            self._first_audio_s = time.monotonic()
                            ms = (self._first_audio_s - self._connected) * 1000
                            await self._log.event(f"first audio in {ms:.0f} ms")
                        if pcmu:
                            link.play(ulaw_decode(audio), 8000)
                        else:
                            link.play(np.frombuffer(audio, dtype="<i2").astype(np.int16), 24000)
                    case rt.RtAudioDone():
                        link.flush()
                    case rt.RtSpeechStarted():
                        await self._barge_in(ws, link)
                    case rt.RtFunctionCall(call_id=call_id, name=name, arguments=arguments):
                        result = await tools.run(name, arguments)
                        await self._log.event(f"tool {name}")
                        self._finish_after = self._done + 2  # this response, then the reply
                        await ws.send(rt.function_output(call_id, result))
                        await ws.send(rt.response_create())
                    case rt.RtResponseDone():
                        self._done += 1
                        if tools.pending is not None and self._done >= self._finish_after:
                            link.flush()  # the goodbye is heard first
                            with contextlib.suppress(TimeoutError):
                                await link.wait_heard(LAST_WORDS_S)
                            if await tools.finish():
                                return None
                    case rt.RtError(message=message, code=code):
                        log.warning("call %s: realtime error %s: %s", self.info.call_id, code,
                                    message)
                        await self._log.event(f"error {code}: {message}")
                    case rt.RtInvalid(description=why):
                        log.warning("call %s: realtime sent garbage: %s", self.info.call_id, why)
                    case _:
                        pass
        except ConnectionClosed as exc:
            if link.ended:
                return None
            return f"the realtime socket closed ({exc.rcvd.code if exc.rcvd else 'no close'})"
        return None if link.ended else "the realtime socket closed"
