"""OpenAI-compatible chat completions, streamed (``POST {base}/chat/completions``,
``"stream": true``): the request body and the Server-Sent Events answer. Sans-IO.

The answer is ``data: {chunk}`` lines ending with ``data: [DONE]``; each chunk's
``choices[0].delta`` carries ``content`` text and/or ``tool_calls`` fragments
(``index``, ``id``, ``function.name``, ``function.arguments`` in pieces), and
``finish_reason`` ends the message (``stop``, ``tool_calls``, ``length``). Ollama, vLLM and
llama.cpp's server speak this shape. Reference: platform.openai.com/docs/api-reference/chat
(create, streaming), and the chat-completions chunk object.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatStream", "Delta", "Finished", "StreamError", "ToolCall", "request_body"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it

    def as_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    reason: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamError:
    description: str


StreamEvent = Delta | Finished | StreamError


def request_body(
    *, model: str, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": list(messages), "stream": True}
    if model:
        body["model"] = model
    if tools:
        body["tools"] = list(tools)
        body["tool_choice"] = "auto"
    return body


@dataclass(slots=True)
class _Partial:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChatStream:
    """Feed the response's lines; get text deltas and, at the end, the tool calls."""

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}
        self._finish = ""
        self.done = False

    def feed(self, line: str) -> list[StreamEvent]:
        line = line.strip()
        if not line or line.startswith(":") or not line.startswith("data:"):
            return []  # blank separators, comments, event:/id: fields
        data = line[5:].strip()
        if data == "[DONE]":
            return self._end()
        try:
            chunk = json.loads(data)
        except ValueError:
            return [StreamError(f"not JSON: {data[:80]!r}")]
        if not isinstance(chunk, dict):
            return [StreamError("chunk is not an object")]
        if "error" in chunk:
            err = chunk["error"]
            return [StreamError(str(err.get("message", err) if isinstance(err, dict) else err))]
        out: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                out.append(Delta(text))
            for frag in delta.get("tool_calls") or []:
                self._tool_fragment(frag)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
        return out

    def _tool_fragment(self, frag: Any) -> None:
        if not isinstance(frag, dict):
            return
        part = self._calls.setdefault(int(frag.get("index", 0)), _Partial())
        if frag.get("id"):
            part.id = str(frag["id"])
        fn = frag.get("function") or {}
        if fn.get("name"):
            part.name += str(fn["name"])
        if fn.get("arguments"):
            part.arguments.append(str(fn["arguments"]))

    def _end(self) -> list[StreamEvent]:
        if self.done:
            return []
        self.done = True
        calls = tuple(
            ToolCall(id=p.id or f"call_{i}", name=p.name, arguments="".join(p.arguments) or "{}")
            for i, p in sorted(self._calls.items()) if p.name
        )
        return [Finished(self._finish or ("tool_calls" if calls else "stop"), calls)]

    def close(self) -> list[StreamEvent]:
        """The body ended (some servers omit ``[DONE]``)."""
        return self._end()
