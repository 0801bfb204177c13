"""An OpenAI-compatible chat-completions server on 127.0.0.1, written from the API reference
(platform.openai.com/docs/api-reference/chat/create, streaming chunk objects): ``POST
/v1/chat/completions`` with ``"stream": true`` answers Server-Sent Events (``data: {chunk}``
... ``data: [DONE]``); content comes as deltas, tool calls as ``tool_calls`` fragments whose
``function.arguments`` arrive in pieces, ``finish_reason`` ``tool_calls`` or ``stop``.

What the "model" says is the test's script: ``Reply(text=...)`` or ``Reply(tools=[...])``,
chosen from the request (the last message); every request body and its headers are kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    text: str = ""
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200


Script = Callable[[dict[str, Any]], Reply]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
            "model": "stand-in", "choices": [{"index": 0, "delta": delta,
                                               "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def sse(reply: Reply) -> bytes:
    out = [_chunk({"role": "assistant", "content": ""})]
    words = reply.text.split(" ") if reply.text else []
    for i, word in enumerate(words):
        out.append(_chunk({"content": word + (" " if i < len(words) - 1 else "")}))
    for n, (name, args) in enumerate(reply.tools):
        text = json.dumps(args)
        half = len(text) // 2
        out.append(_chunk({"tool_calls": [{"index": n, "id": f"call_{n}", "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}))
        for piece in (text[:half], text[half:]):
            out.append(_chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    out.append(_chunk({}, "tool_calls" if reply.tools else "stop"))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


class ChatServer:
    def __init__(self, script: Script, *, delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aenter__(self) -> ChatServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = {k.lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if (method, path) != ("POST", "/v1/chat/completions"):
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            request = json.loads(body)
            self.requests.append(request)
            self.headers.append(headers)
            reply = self.script(request)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if reply.status != 200:
                err = json.dumps({"error": {"message": "model overloaded"}}).encode()
                writer.write(f"HTTP/1.1 {reply.status} Error\r\nContent-Type: application/json"
                             f"\r\nContent-Length: {len(err)}\r\n\r\n".encode() + err)
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
            writer.write(sse(reply))
        finally:
            await writer.drain()
            writer.close()
