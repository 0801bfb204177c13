"""A ConversationRelay app on 127.0.0.1, written from Twilio's message reference
(twilio.com/docs/voice/conversationrelay/websocket-messages): it takes what a provider sends
(setup, prompt, dtmf, interrupt, error) and answers with text tokens, play, sendDigits,
language and end. What it answers is the test's script (``reply``); it records every message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

Send = Callable[[dict[str, Any]], Awaitable[None]]
Script = Callable[[dict[str, Any], Send], Awaitable[None]]


def tokens(text: str, *, lang: str = "") -> list[dict[str, Any]]:
    """``text`` as streamed tokens (word by word with their spaces), the last one last."""
    words = text.split(" ")
    out: list[dict[str, Any]] = []
    for i, word in enumerate(words):
        msg: dict[str, Any] = {"type": "text", "token": word + (" " if i < len(words) - 1 else ""),
                               "last": i == len(words) - 1}
        if lang:
            msg["lang"] = lang
        out.append(msg)
    return out


class RelayApp:
    """One WebSocket endpoint ``/ws``; every connection's messages land in ``sessions``."""

    def __init__(self, script: Script, *, token_delay_s: float = 0.0) -> None:
        self.script = script
        self.token_delay_s = token_delay_s
        self.sessions: list[list[dict[str, Any]]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.closed = asyncio.Event()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def __aenter__(self) -> RelayApp:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def messages(self, kind: str) -> list[dict[str, Any]]:
        return [m for s in self.sessions for m in s if m.get("type") == kind]

    async def _handle(self, ws: ServerConnection) -> None:
        got: list[dict[str, Any]] = []
        self.sessions.append(got)
        assert ws.request is not None
        self.paths.append(ws.request.path)
        self.headers.append(dict(ws.request.headers))

        async def send(msg: dict[str, Any]) -> None:
            if msg.get("type") == "text" and self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            await ws.send(json.dumps(msg))

        try:
            async for raw in ws:
                msg = json.loads(raw)
                got.append(msg)
                await self.script(msg, send)
        finally:
            self.closed.set()
