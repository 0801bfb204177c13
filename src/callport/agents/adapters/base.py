"""What every adapter shares: its options, its failure, the line it talks on, its call-record log.

- ``AgentUnavailable`` is raised out of ``respond`` when the agent cannot be reached, stops
  answering (``agent.reply_timeout_s``) or hangs up on us; the call then apologises and applies
  ``server.fallback`` (goodbye, or a transfer to an operator or voicemail), never silence.
- ``Line`` is the little of the call an adapter needs beyond the Agent protocol: DTMF out,
  raw audio out (a relay ``play``), how long the caller heard the interrupted reply, the end
  of the call (to close the connection), and ending it between turns (a relay ``end`` that
  arrives after the reply's last token). ``CallLine`` wraps a live ``Call``.
- ``AgentLog`` names the agent in the call's record (``agent`` events: connected, per-turn
  latency to the first words, a summary at the end) through the ``CallStore``.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from callport.call.controls import ControlResult, Refused
from callport.config import AgentSettings
from callport.types import PCM16

if TYPE_CHECKING:
    from callport.call.call import Call
    from callport.store.calls import CallStore

log = logging.getLogger(__name__)

__all__ = ["AdapterOptions", "AgentLog", "AgentUnavailable", "CallLine", "Line"]


class AgentUnavailable(RuntimeError):
    """The external agent cannot be reached or stopped answering (the message says which)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdapterOptions:
    api_key: str = ""
    model: str = ""
    system_prompt: str = ""
    greeting: str = ""
    connect_timeout_s: float = 5.0
    reply_timeout_s: float = 15.0
    handoff: str = ""
    dtmf_wait_s: float = 2.0  # after a key press, how long to wait for the agent to answer
    api_base_url: str = "http://127.0.0.1:0"  # twilio-ws/telnyx-ws: the REST hang-up we serve
    account_sid: str = ""  # twilio-ws: handed to the bot (empty: one per call)
    base_url: str = ""  # openai-realtime / gemini-live: the service (empty: the vendor's)
    voice: str = ""

    @classmethod
    def from_settings(cls, s: AgentSettings) -> AdapterOptions:
        return cls(api_key=s.api_key, model=s.model, system_prompt=s.system_prompt,
                   greeting=s.greeting, connect_timeout_s=s.connect_timeout_s,
                   reply_timeout_s=s.reply_timeout_s, handoff=s.handoff,
                   api_base_url=s.api_base_url, account_sid=s.account_sid,
                   base_url=s.base_url, voice=s.voice)


class Line(Protocol):
    async def wait_ended(self) -> None: ...

    async def send_dtmf(self, digits: str) -> ControlResult: ...

    def play(self, pcm: PCM16, sample_rate: int) -> None: ...

    def heard_ms(self) -> int: ...

    async def wait_listening(self) -> None: ...

    async def end(self, target: str) -> None: ...

    async def say(self, text: str) -> None: ...


class CallLine:
    """``Line`` over a live ``Call`` (its session and leg)."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._session = call.session

    async def wait_ended(self) -> None:
        await self._session.wait_ended()

    async def send_dtmf(self, digits: str) -> ControlResult:
        return await self._session.leg.send_dtmf(digits)

    def play(self, pcm: PCM16, sample_rate: int) -> None:
        self._session.enqueue_audio(pcm, sample_rate)

    async def wait_listening(self) -> None:
        """Until the call waits for the caller (the agent's turn, audio included, is over)."""
        await self._call.listening.wait()

    async def end(self, target: str) -> None:
        """The agent ended the call between turns: transfer to ``target`` (or hang up)."""
        if target:
            result = await self._call.transfer(target)
            if not isinstance(result, Refused):
                return
        if not self._call.ended:
            await self._call.hangup("agent-ended")

    async def say(self, text: str) -> None:
        """Speak ``text`` between turns (an app talking without being asked)."""
        if not self._call.ended:
            await self._call.say(text)

    def heard_ms(self) -> int:
        """Milliseconds of the current reply the caller heard, from the marks the leg
        answered (the playout ledger's played frames, up to the first segment cut short)."""
        segments = self._session.heard()
        frames = 0
        for seg in segments:
            frames += seg.frames if seg.done else seg.played_frames
            if not seg.done:
                break
        return int(frames * self._session.leg.frame_ms)


@dataclass(slots=True)
class AgentLog:
    """The agent's entries in the call record, and its latencies (ms to first words)."""

    name: str
    call_id: str
    calls: CallStore | None = None
    first_words_ms: list[float] = field(default_factory=list)
    connect_ms: float | None = None
    failures: int = 0

    async def event(self, detail: str) -> None:
        log.info("call %s: agent %s: %s", self.call_id, self.name, detail)
        if self.calls is None:
            return
        try:
            await self.calls.add_event(self.call_id, "agent", f"{self.name}: {detail}")
        except Exception:  # the record is bookkeeping: it must not end the call
            log.warning("call %s: could not record agent event", self.call_id, exc_info=True)

    async def connected(self, ms: float) -> None:
        self.connect_ms = ms
        await self.event(f"connected in {ms:.0f} ms")

    async def turn(self, ms: float) -> None:
        self.first_words_ms.append(ms)
        await self.event(f"first words in {ms:.0f} ms")

    async def failed(self, why: str) -> None:
        self.failures += 1
        await self.event(f"failed: {why}")

    def summary(self) -> str:
        lat = self.first_words_ms
        if not lat:
            return f"{len(lat)} turns"
        return (f"{len(lat)} turns, first words median {statistics.median(lat):.0f} ms, "
                f"max {max(lat):.0f} ms")
