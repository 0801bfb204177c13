"""``--agent relay:wss://app/ws``: a ConversationRelay app as the agent (the driver).

callport plays Twilio's (or Telnyx's) part: it opens one WebSocket per call to the app, sends
``setup``, a ``prompt`` per caller turn, ``dtmf`` per key, ``interrupt`` with the heard text
and milliseconds when the caller barges in; it speaks the app's ``text`` tokens clause by
clause as they stream (``relay_protocol.ClauseBuffer``), plays ``play`` sources (WAV), sends
``sendDigits`` to the far end, takes ``language`` for the next prompts' ``lang`` and ends on
``end``: a transfer to the target its ``handoffData`` names (``{"to": "tel:+1..."}``) or
``agent.handoff``, else a hang-up. What the app sends between turns (an ``end`` right after
a reply's last token, a greeting after ``setup``) is carried out once the call is listening.
The wire format (JSON in, typed events out) is ``relay_protocol``.

An app that cannot be reached, closes the socket or says nothing for ``agent.reply_timeout_s``
raises ``AgentUnavailable``: the caller hears an apology and ``server.fallback``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from callport.agents.adapters import relay_protocol as wire
from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable, Line
from callport.call.agent import (
    ActionRefused,
    AgentInput,
    AgentOutput,
    HangUpCall,
    Say,
    TransferCall,
    UserPressed,
    UserSaid,
)
from callport.call.controls import Refused
from callport.types import CallInfo

log = logging.getLogger(__name__)

DEFAULT_GREETING = "Hi, I'm an automated assistant. How can I help?"
_CLOSED = object()  # queued when the app's socket closes


class RelayAgent:
    """One call's ConversationRelay session (an ``Agent``; also ``HasGreeting``)."""

    def __init__(
        self, *, url: str, info: CallInfo, options: AdapterOptions, line: Line | None = None,
        agent_log: AgentLog | None = None, lang: str = "en-US",
    ) -> None:
        self.url = url
        self.info = info
        self._options = options
        self._line = line
        self._log = agent_log or AgentLog(name=f"relay:{url}", call_id=info.call_id)
        self._lang = lang
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._failure: str | None = None
        self._stale = False  # a reply was interrupted: its late tokens are dropped
        self._closed = False
        self._in_turn = False
        self._idle_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._connecting = asyncio.create_task(self._connect())
        if line is not None:
            self._tasks.append(asyncio.create_task(self._close_when_ended(line)))

    @property
    def greeting(self) -> str:
        return self._options.greeting or DEFAULT_GREETING

    # ---- connection ----------------------------------------------------------------------

    async def _connect(self) -> None:
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self._options.api_key}"} \
            if self._options.api_key else None
        try:
            self._ws = await asyncio.wait_for(
                connect(self.url, additional_headers=headers, open_timeout=None,
                        max_size=2**20),
                self._options.connect_timeout_s)
            await self._ws.send(wire.setup(self.info, session_id=f"VX{uuid.uuid4().hex}"))
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._failure = f"cannot connect to {self.url}: {type(exc).__name__}: {exc}"
            await self._log.failed(self._failure)
            return
        await self._log.connected((time.monotonic() - started) * 1000.0)
        self._tasks.append(asyncio.create_task(self._read(self._ws)))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                event = wire.parse_app(raw)
                if isinstance(event, wire.AppInvalid):
                    log.warning("call %s: relay app sent an invalid message: %s",
                                self.info.call_id, event.description)
                    with contextlib.suppress(WebSocketException):
                        await ws.send(wire.error(f"Invalid message: {event.description}"))
                    continue
                self._queue.put_nowait(event)
                if not self._in_turn:
                    self._kick_idle()
        except WebSocketException:
            pass
        finally:
            self._queue.put_nowait(_CLOSED)

    def _kick_idle(self) -> None:
        if self._line is not None and (self._idle_task is None or self._idle_task.done()):
            self._idle_task = asyncio.create_task(self._idle(self._line))
            self._tasks.append(self._idle_task)

    async def _idle(self, line: Line) -> None:
        """Messages that arrive between turns (an ``end`` after the reply's last token,
        digits, audio): carried out once the call is listening again. Text waits for the
        next turn."""
        await line.wait_listening()
        kept: list[object] = []
        while not self._in_turn and not self._queue.empty():
            item = self._queue.get_nowait()
            match item:
                case wire.AppText():
                    text = await self._unasked_text(item)
                    if text:
                        await line.say(text)
                case wire.AppEnd(handoff_data=data):
                    await line.end(await self._handoff(data))
                    return
                case wire.AppSendDigits(digits=digits) if self._ws is not None:
                    await self._send_digits(self._ws, digits)
                case wire.AppPlay() if self._ws is not None:
                    await self._play(self._ws, item)
                case wire.AppLanguage(tts_language=tts, transcription_language=stt):
                    self._lang = stt or tts or self._lang
                case _:
                    kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)

    async def _unasked_text(self, first: wire.AppText) -> str:
        """Tokens the app sent between turns (a greeting after ``setup``), up to ``last``."""
        parts = [first.token]
        last = first.last
        while not last:
            try:
                msg = await self._next(self._options.reply_timeout_s)
            except AgentUnavailable:
                break
            if not isinstance(msg, wire.AppText):
                if msg is not None:
                    self._queue.put_nowait(msg)
                break
            parts.append(msg.token)
            last = msg.last
        return "".join(parts).strip()

    async def _close_when_ended(self, line: Line) -> None:
        await line.wait_ended()
        await self.aclose()

    async def aclose(self) -> None:
        """Close the app's socket (the call ended) and log the agent's summary."""
        if self._closed:
            return
        self._closed = True
        self._connecting.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await self._log.event(f"ended, {self._log.summary()}")

    async def _socket(self) -> ClientConnection:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._connecting)
        if self._ws is None or self._failure is not None:
            raise AgentUnavailable(self._failure or f"{self.url}: not connected")
        return self._ws

    async def _next(self, timeout: float) -> wire.AppEvent | None:
        """The app's next message; None when it stays quiet for ``timeout``."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # every later turn sees it too
            self._failure = f"{self.url} closed the connection"
            await self._log.failed(self._failure)
            raise AgentUnavailable(self._failure)
        assert isinstance(item, wire.AppEvent)
        return item

    def _drop_stale(self) -> None:
        if not self._stale:
            return
        self._stale = False
        kept: list[object] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, wire.AppText):
                kept.append(item)
        for item in kept:
            self._queue.put_nowait(item)

    # ---- the Agent protocol --------------------------------------------------------------

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        self._in_turn = True
        try:
            async for out in self._respond(event):
                yield out
        finally:
            self._in_turn = False
        self._kick_idle()  # an `end` right after the last token is acted on when idle

    async def _respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        ws = await self._socket()
        self._drop_stale()
        wait = self._options.reply_timeout_s
        try:
            match event:
                case UserSaid(text=text):
                    await ws.send(wire.prompt(text, lang=self._lang, last=True))
                case UserPressed(digits=digits):
                    for digit in digits:
                        await ws.send(wire.dtmf(digit))
                    wait = min(wait, self._options.dtmf_wait_s)
                case ActionRefused(refused=refused):
                    await ws.send(wire.error(f"{refused.control.value} refused: "
                                             f"{refused.refusal.value} ({refused.detail})"))
                    wait = min(wait, self._options.dtmf_wait_s)
                case _:
                    return
        except WebSocketException as exc:
            self._failure = f"{self.url}: {exc}"
            await self._log.failed(self._failure)
            raise AgentUnavailable(self._failure) from exc
        async for out in self._reply(ws, wait, expect=isinstance(event, UserSaid)):
            yield out

    async def _reply(
        self, ws: ClientConnection, first_wait: float, *, expect: bool
    ) -> AsyncIterator[AgentOutput]:
        started = time.monotonic()
        clauses = wire.ClauseBuffer()
        first = True
        while True:
            msg = await self._next(first_wait if first else self._options.reply_timeout_s)
            if msg is None:
                if first and not expect:
                    return  # a key press the app did not answer
                why = f"{self.url}: no reply within {self._options.reply_timeout_s:g} s"
                await self._log.failed(why)
                raise AgentUnavailable(why)
            if first:
                first = False
                await self._log.turn((time.monotonic() - started) * 1000.0)
            match msg:
                case wire.AppText(token=token, last=last, lang=lang):
                    if lang:
                        log.debug("call %s: relay token lang %s", self.info.call_id, lang)
                    for clause in clauses.feed(token):
                        yield Say(clause)
                    if last:
                        for clause in clauses.flush():
                            yield Say(clause)
                        return
                case wire.AppPlay():
                    for clause in clauses.flush():
                        yield Say(clause)
                    await self._play(ws, msg)
                case wire.AppSendDigits(digits=digits):
                    await self._send_digits(ws, digits)
                case wire.AppLanguage(tts_language=tts, transcription_language=stt):
                    self._lang = stt or tts or self._lang
                    log.info("call %s: relay language tts=%s stt=%s (voice unchanged)",
                             self.info.call_id, tts, stt)
                case wire.AppEnd(handoff_data=data):
                    for clause in clauses.flush():
                        yield Say(clause)
                    target = await self._handoff(data)
                    yield TransferCall(target) if target else HangUpCall("agent-ended")
                    return

    async def _handoff(self, data: str) -> str:
        """Where an ``end`` goes ("" = hang up); a sip: target carries the caller's identity."""
        await self._log.event(f"end, handoffData={data!r}")
        target = wire.handoff_target(data) or self._options.handoff
        return wire.with_identity(target, self.info, wire.handoff_headers(data)) if target else ""

    async def _play(self, ws: ClientConnection, msg: wire.AppPlay) -> None:
        from callport.agents.adapters.fetch import fetch_wav

        if self._line is None:
            return
        try:
            pcm, rate = await fetch_wav(msg.source, timeout=self._options.connect_timeout_s)
        except ValueError as exc:
            with contextlib.suppress(WebSocketException):
                await ws.send(wire.error(f"play: {exc}"))
            return
        for _ in range(max(msg.loop, 1)):
            self._line.play(pcm, rate)

    async def _send_digits(self, ws: ClientConnection, digits: str) -> None:
        if self._line is None:
            return
        for i, group in enumerate(digits.lower().split("w")):
            if i:
                await asyncio.sleep(0.5)  # "w": half a second's pause
            if not group:
                continue
            result = await self._line.send_dtmf(group)
            if isinstance(result, Refused):
                with contextlib.suppress(WebSocketException):
                    await ws.send(wire.error(f"sendDigits refused: {result.refusal.value} "
                                             f"({result.detail})"))
                return

    def interrupted(self, heard: str) -> None:
        self._stale = True
        ws = self._ws
        if ws is None or self._closed:
            return
        ms = self._line.heard_ms() if self._line is not None else 0
        task = asyncio.create_task(self._send_quietly(ws, wire.interrupt(heard, ms)))
        self._tasks.append(task)

    async def _send_quietly(self, ws: ClientConnection, text: str) -> None:
        with contextlib.suppress(WebSocketException):
            await ws.send(text)
