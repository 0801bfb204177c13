"""Latency the adapters add on our side: the caller's transcript to the first clause for TTS.

For each adapter, one agent talks to a local stand-in (``tests/agents``: a ConversationRelay app
over WebSocket, an OpenAI-compatible chat server streaming SSE) that waits ``--delay-ms`` before
its first token and then streams a two-sentence reply word by word. Per turn the bench times
``respond(UserSaid(...))`` to its first ``Say`` (what the call hands TTS) and subtracts the
stand-in's own delay; what is left is ours: JSON framing, the socket or HTTP round trip on
loopback, SSE parsing and the clause buffer. A Python agent that yields at once is the baseline.
The llm turns include one tool round (``add_task`` then the spoken reply), as a Task Manager
turn would. Both stand-ins run in this process, so their own CPU is in the figure too.

The audio adapters (``twilio-ws:``, ``openai-realtime``, ``gemini-live``) have no turns: each
call runs through the real Runtime on a real-time memory leg against an echo stand-in of its
protocol (Media Streams, Realtime, Live) that sends every audio message straight back. A 20 ms
click every 0.4 s; the time from the click entering the call to its echo being handed to the
leg is our side both ways (tap, resampling, G.711, JSON/base64, the socket on loopback, the
pacer) plus the in-process stand-in's echo. CPU per call-second: ``--calls`` such calls at once
for ``--seconds``, process CPU over call-seconds (the stand-ins' CPU included).

    python bench/bench_adapters.py [--turns 50] [--delay-ms 50] [--calls 4] [--seconds 6]

Prints, per adapter: median and p95 added milliseconds, and turns per second of CPU (text
adapters) or CPU milliseconds per call-second (audio adapters).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / p) for p in ("src", "tests/agents", "tests/call", "bench")]

from chat_server import ChatServer, Reply  # noqa: E402
from relay_app import RelayApp, Send, tokens  # noqa: E402

from callport.agents.adapters.base import AdapterOptions  # noqa: E402
from callport.agents.adapters.llm import LlmAgent  # noqa: E402
from callport.agents.adapters.relay import RelayAgent  # noqa: E402
from callport.call.agent import AgentInput, AgentOutput, Say, UserSaid  # noqa: E402
from callport.store.tasks import MemoryTaskStore  # noqa: E402
from callport.types import CallInfo  # noqa: E402

REPLY = "Sure, I added that for you. Anything else I can do today?"


class Baseline:
    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        yield Say("Sure, I added that for you.")

    def interrupted(self, heard: str) -> None:
        pass


async def measure(agent: Any, turns: int, delay_s: float) -> tuple[list[float], float]:
    """Per turn: ms from ``respond`` to the first ``Say``, less the stand-in's delay (after
    three warm-up turns: lazy imports, the first connection)."""
    for i in range(3):
        async for _ in agent.respond(UserSaid(f"warm up {i}")):
            pass
    added: list[float] = []
    cpu = time.process_time()
    for i in range(turns):
        started = time.perf_counter()
        first: float | None = None
        async for out in agent.respond(UserSaid(f"add task number {i}")):
            if isinstance(out, Say) and first is None:
                first = time.perf_counter()
        assert first is not None
        added.append((first - started - delay_s) * 1000.0)
    return added, time.process_time() - cpu


def report(name: str, added: list[float], cpu_s: float) -> None:
    p95 = statistics.quantiles(added, n=20)[-1] if len(added) >= 20 else max(added)
    print(f"{name:10s} added median {statistics.median(added):6.2f} ms  p95 {p95:6.2f} ms  "
          f"({len(added) / cpu_s:7.0f} turns per CPU-second)")


async def main(turns: int, delay_ms: float, calls: int, seconds: float) -> None:
    delay = delay_ms / 1000.0
    info = CallInfo(call_id="bench", channel="bench")
    print(f"{turns} turns per adapter, stand-in delay {delay_ms:g} ms before its first token "
          "(subtracted)")
    added, cpu = await measure(Baseline(), turns, 0.0)
    report("python", added, cpu)

    async def relay_script(msg: dict[str, Any], send: Send) -> None:
        if msg.get("type") == "prompt":
            await asyncio.sleep(delay)
            for t in tokens(REPLY):
                await send(t)

    async with RelayApp(relay_script) as app:
        relay = RelayAgent(url=app.url, info=info, options=AdapterOptions())
        added, cpu = await measure(relay, turns, delay)
        await relay.aclose()
    report("relay", added, cpu)

    def model(request: dict[str, Any]) -> Reply:
        if request["messages"][-1]["role"] == "tool":
            return Reply(text=REPLY)
        return Reply(tools=[("add_task", {"title": "call the bank"})])

    async with ChatServer(model, delay_s=delay / 2) as server:  # two requests per turn
        llm = LlmAgent(base_url=server.base_url, info=info, options=AdapterOptions(),
                       store=MemoryTaskStore())
        added, cpu = await measure(llm, turns, delay)
        llm.messages[1:] = []
    report("llm", added, cpu)
    print("(llm: one add_task round trip and the spoken reply, two HTTP requests per turn)")
    from bench_audio_adapters import audio_adapters

    await audio_adapters(calls, seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.delay_ms, args.calls, args.seconds))
