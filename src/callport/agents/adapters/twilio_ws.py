"""``--agent twilio-ws:wss://bot/ws`` and ``telnyx-ws:``: a media-stream bot as the agent.

callport plays Twilio's (or Telnyx's) part towards a bot written for Media Streams, such as a
Pipecat bot with ``TwilioFrameSerializer``: it opens the bot's WebSocket, sends ``connected``
and ``start`` (stream and call ids, the caller's identity and the REST credentials in the
custom parameters), then the caller's audio as ``media`` every 20 ms (µ-law 8 kHz) and
``dtmf`` per key. The bot's ``media`` goes to the caller through the call's pacer
(``AudioLink``: marks, taps and recording see it); its ``mark`` is echoed once the caller has
heard the audio before it, or at once when nothing is queued; ``clear`` drops its queued audio
here and in the leg's buffer and echoes every pending mark, like Twilio. At the end of the call
the bot gets ``stop``. The bot ends the call with the REST hang-up (``bot_api``) or by closing
its socket; either waits for its last words to be heard first.

A bot that cannot be reached raises ``AgentUnavailable`` (an apology and ``server.fallback``);
so does one whose socket breaks mid-call. callport's own STT, TTS and turns are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from callport.agents.adapters import media_bot_protocol as wire
from callport.agents.adapters.audio_link import AudioLink, Digit
from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable
from callport.agents.adapters.bot_api import bot_api
from callport.audio.g711 import ulaw_decode, ulaw_encode
from callport.call.agent import AgentInput, AgentOutput
from callport.types import CallInfo

if TYPE_CHECKING:
    from callport.call.call import Call

log = logging.getLogger(__name__)

__all__ = ["MediaBotAgent"]

LAST_WORDS_S = 10.0  # the bot ended the call: at most this long for its last audio to play
MARK_POLL_S = 0.02


class MediaBotAgent:
    """One call with a media-stream bot (an ``AudioAgent``)."""

    def __init__(self, *, url: str, dialect: wire.Dialect, info: CallInfo,
                 options: AdapterOptions, agent_log: AgentLog | None = None) -> None:
        self.url = url
        self.dialect = dialect
        self.info = info
        self._options = options
        self._log = agent_log or AgentLog(name=f"{dialect}-ws:{url}", call_id=info.call_id)
        self._hung_up = asyncio.Event()
        self._marks: list[tuple[str, int]] = []  # (bot's mark name, audio position it follows)
        self.marks_echoed: list[str] = []
        self.clears = 0
        self._first_audio: float | None = None
        self._connected_at = 0.0

    # The Agent protocol: never used (``Call.connect`` hands an AudioAgent the call).
    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        raise AgentUnavailable(f"{self.dialect}-ws bots talk audio, not turns")
        yield  # pragma: no cover

    def interrupted(self, heard: str) -> None:
        return None

    # ---- the call ------------------------------------------------------------------------

    def _ids(self) -> tuple[str, str, str, str]:
        """(stream id, call id, account, secret) for this call."""
        token = secrets.token_hex(16)
        secret = self._options.api_key or secrets.token_urlsafe(24)
        if self.dialect == "twilio":
            call_id = self.info.call_id if self.info.call_id.startswith("CA") \
                else f"CA{token}"
            account = self._options.account_sid or f"AC{secrets.token_hex(16)}"
            return f"MZ{token}", call_id, account, secret
        account = self._options.account_sid or secrets.token_hex(16)
        return token, f"v3:{secrets.token_urlsafe(24)}", account, secret

    async def converse(self, call: Call) -> None:
        link = AudioLink(call=call, in_rate=8000, label="agent")
        api = bot_api(self._options.api_base_url)
        base = await api.start()
        stream_id, call_id, account, secret = self._ids()
        user = self.info.user
        custom = {
            "from": self.info.caller, "to": self.info.callee,
            "from_number": self.info.caller, "to_number": self.info.callee,
            "caller_name": user.display_name if user is not None else "",
            "user": user.name if user is not None else "",
            "channel": self.info.channel, "call_id": self.info.call_id,
            "callport_api_base": base, "callport_account_sid": account,
            "callport_auth_token": secret,
        }
        stream = wire.MediaStream(dialect=self.dialect, stream_id=stream_id, call_id=call_id,
                                  account_sid=account, caller=self.info.caller,
                                  callee=self.info.callee, custom=custom)
        started = time.monotonic()
        try:
            ws = await asyncio.wait_for(connect(self.url, open_timeout=None, max_size=2**20),
                                        self._options.connect_timeout_s)
        except (OSError, TimeoutError, WebSocketException) as exc:
            why = f"cannot connect to {self.url}: {type(exc).__name__}: {exc}"
            await self._log.failed(why)
            raise AgentUnavailable(why) from exc
        self._connected_at = time.monotonic()
        await self._log.connected((self._connected_at - started) * 1000.0)
        api.register(call_id, dialect=self.dialect, account=account, secret=secret,
                     hang_up=self._hung_up.set)
        link.open()
        tasks: list[asyncio.Task[object]] = []
        try:
            await ws.send(stream.connected())
            await ws.send(stream.start())
            tasks = [asyncio.create_task(self._up(ws, link, stream)),
                     asyncio.create_task(self._marks_loop(ws, link, stream))]
            down = asyncio.create_task(self._down(ws, link, stream))
            keys = asyncio.create_task(self._keys(ws, link, stream))
            hung = asyncio.create_task(self._hung_up.wait())
            tasks += [down, keys, hung]
            await asyncio.wait({down, keys, hung}, return_when=asyncio.FIRST_COMPLETED)
            if hung.done() or down.done():
                broken = down.done() and not hung.done() and down.result() is not None
                if broken:
                    why = f"the bot's socket broke: {down.result()}"
                    await self._log.failed(why)
                    raise AgentUnavailable(why)
                await self._log.event("the bot ended the call" + (
                    " (REST hang-up)" if hung.done() else " (closed its socket)"))
                with contextlib.suppress(TimeoutError):
                    await link.wait_heard(LAST_WORDS_S)
                await link.hangup("agent-ended")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(WebSocketException):
                await ws.send(stream.stop())
            with contextlib.suppress(WebSocketException):
                await ws.close()
            api.ended(call_id)
            link.close()
            await self._log.event(
                f"{link.frames_to_agent * 20 / 1000:.1f} s of the caller sent, "
                f"{link.frames_from_agent * link.frame_ms / 1000:.1f} s of the bot played, "
                f"{len(self.marks_echoed)} marks, {self.clears} clears")

    async def _up(self, ws: ClientConnection, link: AudioLink, stream: wire.MediaStream) -> None:
        while True:
            frame = await link.caller()
            await ws.send(stream.media(ulaw_encode(frame)))

    async def _keys(self, ws: ClientConnection, link: AudioLink,
                    stream: wire.MediaStream) -> None:
        while isinstance(event := await link.next_event(), Digit):
            await ws.send(stream.dtmf(event.digit))

    async def _down(self, ws: ClientConnection, link: AudioLink,
                    stream: wire.MediaStream) -> str | None:
        """The bot's messages until it closes: None for a clean close, else what broke."""
        try:
            async for raw in ws:
                match wire.parse_bot(raw):
                    case wire.BotMedia(payload=payload):
                        if self._first_audio is None:
                            self._first_audio = time.monotonic()
                            ms = (self._first_audio - self._connected_at) * 1000
                            await self._log.event(f"first audio in {ms:.0f} ms")
                        link.play(ulaw_decode(payload), 8000)
                    case wire.BotMark(name=name):
                        link.flush()
                        self._marks.append((name, link.position))
                        await self._echo_played(ws, link, stream)
                    case wire.BotClear():
                        self.clears += 1
                        await link.clear()
                        pending, self._marks = self._marks, []
                        for name, _ in pending:  # Twilio echoes every pending mark on clear
                            await self._echo(ws, stream, name)
                    case wire.BotInvalid(description=why):
                        log.warning("call %s: the bot sent an invalid message: %s",
                                    self.info.call_id, why)
                    case _:
                        pass
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in (1000, 1001):
                return None
            return f"closed with {exc.rcvd.code if exc.rcvd else 'no close frame'}"
        return None

    async def _echo(self, ws: ClientConnection, stream: wire.MediaStream, name: str) -> None:
        self.marks_echoed.append(name)
        await ws.send(stream.mark(name))

    async def _echo_played(self, ws: ClientConnection, link: AudioLink,
                           stream: wire.MediaStream) -> None:
        if not self._marks:
            return
        heard = link.heard_position()
        while self._marks and self._marks[0][1] <= heard:
            name, _ = self._marks.pop(0)
            await self._echo(ws, stream, name)

    async def _marks_loop(self, ws: ClientConnection, link: AudioLink,
                          stream: wire.MediaStream) -> None:
        while True:
            await asyncio.sleep(MARK_POLL_S)
            await self._echo_played(ws, link, stream)
