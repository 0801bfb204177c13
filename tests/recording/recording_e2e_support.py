"""Shared by the per-channel recording tests: the real Runtime (``build_runtime``, SQLite
database, the recording wrapper) with ``recording.mode=consent``, espeak as the agent's voice
(real words on the right channel), espeak speech as the caller's audio (real words on the
left), scripted STT and an energy VAD in the call (the transcript of the call is not the
point: the recording's is). After the call the recording is opened (decrypted) and each
channel transcribed with Whisper, loaded once per process."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import re
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from call_fakes import EnergyVad, ScriptedSTT

from callport.agents.base import AgentInput, AgentOutput, Say, UserSaid
from callport.audio.resample import resample
from callport.call.call import Call
from callport.config import IdentitySettings, RecordingSettings, ServerSettings, Settings
from callport.recording.crypt import load_key
from callport.recording.run import open_recording
from callport.server.runtime import Runtime, build_runtime
from callport.speech.base import SpeechChunk

KEY = base64.b64encode(bytes(range(32))).decode()
LIMIT_S = 40.0
YES, WORDS, REPLY = "Yes I agree", "Add milk to my list.", "Done. Bananas are on your list."


@functools.cache
def piper() -> Any:
    """Piper (deterministic), loaded once per process."""
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    from callport.speech.piper import PiperTTS

    return PiperTTS(deterministic=True)


class SpyTTS:
    """Piper, remembering what it was asked to say."""

    def __init__(self) -> None:
        self.inner = piper()
        self.spoken: list[str] = []

    @property
    def sample_rate(self) -> int:
        return self.inner.sample_rate

    async def warmup(self) -> None:
        await self.inner.warmup()

    async def synthesize(self, text: str) -> AsyncIterator[SpeechChunk]:
        self.spoken.append(text)
        async for chunk in self.inner.synthesize(text):
            yield chunk

    def said(self, words: str) -> bool:
        return any(words in s for s in self.spoken)


class Desk:
    """The call's agent: one answer naming the task."""

    async def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]:
        if isinstance(event, UserSaid):
            yield Say(REPLY)

    def interrupted(self, heard: str) -> None:
        pass


async def greet(call: Call) -> None:
    await call.say("Hello.")
    await call.connect(call.new_agent())


def settings(tmp_path: Path, **sections: Any) -> Settings:
    return Settings(server=ServerSettings(db=str(tmp_path / "callport.db")),
                    identity=IdentitySettings(unknown="owner"),
                    recording=RecordingSettings(mode="consent", notice="Recorded.",
                                                question="Yes or no?", answer_s=20.0, key=KEY),
                    **sections)


def runtime(base: Settings, answer: str = YES, flow: Any = greet) -> tuple[Runtime, SpyTTS]:
    tts = SpyTTS()
    rt = build_runtime(base, flow=flow, stt=ScriptedSTT([answer, WORDS.lower()]),  # type: ignore[arg-type]
                       tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                       agent_factory=lambda info: Desk())  # type: ignore[arg-type,return-value]
    return rt, tts


async def said(text: str, rate: int) -> np.ndarray:
    tts = piper()
    pcm = np.concatenate([c.pcm async for c in tts.synthesize(text)])
    return resample(pcm, tts.sample_rate, rate)


async def until(check: Callable[[], object], what: str) -> None:
    try:
        async with asyncio.timeout(LIMIT_S):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def the_call(rt: Runtime) -> Call | None:
    return next(iter(rt.active.values()), None)


async def converse(rt: Runtime, tts: SpyTTS, send: Callable[[np.ndarray], Awaitable[None] | None],
                   rate: int, *, answer: str = YES) -> None:
    """The caller hears the question, answers, says ``WORDS`` and hears ``REPLY``."""
    def listening() -> bool:
        call = the_call(rt)
        return call is not None and call.listening.is_set()

    await until(lambda: listening() and tts.said("Yes or no"), "the consent question")
    await _send(send, await said(answer, rate))
    await until(lambda: listening() and tts.said("Hello"), "the greeting after the answer")
    await _send(send, await said(WORDS, rate))
    await until(lambda: listening() and tts.said(REPLY), "the agent's reply")
    await asyncio.sleep(0.6)  # the reply's last frames reach the recorder


async def _send(send: Callable[[np.ndarray], Awaitable[None] | None], pcm: np.ndarray) -> None:
    out = send(pcm)
    if out is not None:
        await out


@functools.cache
def _whisper() -> Any:
    pytest.importorskip("faster_whisper")
    from callport.speech.whisper import WhisperSTT

    return WhisperSTT()


def recordings(base: Settings) -> list[dict[str, Any]]:
    directory = Path(base.server.db).parent / "recordings"
    return [json.loads(p.read_text()) for p in sorted(directory.glob("rec-*.json"))] \
        if directory.is_dir() else []


def stereo(base: Settings, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    directory = Path(base.server.db).parent / "recordings"
    wav, transcript = open_recording(meta, directory, load_key(base))
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 16000)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data[0::2].copy(), data[1::2].copy(), transcript


def heard(said: str, transcript: str) -> float:
    """The share of the words of ``said`` that are in ``transcript`` (case and punctuation
    aside)."""
    words = re.findall(r"[a-z']+", said.lower())
    got = set(re.findall(r"[a-z']+", transcript.lower()))
    return sum(w in got for w in words) / len(words)


def check_recorded(base: Settings, channel: str) -> tuple[str, str]:
    """The one recording: consent, the caller's words left, the agent's right (Whisper)."""
    [meta] = recordings(base)
    assert (meta["consent"], meta["final"], meta["channel"]) == ("consent", True, channel)
    left, right, transcript = stereo(base, meta)
    stt = _whisper()
    caller = stt.transcribe_sync(left, 16000).text.lower()
    agent = stt.transcribe_sync(right, 16000).text.lower()
    assert "milk" in caller and "agree" not in caller, caller  # recorded after the yes
    assert "banana" not in caller, caller  # not the agent's words
    # the agent's words (most of them: Whisper may split a word, as "bananas" heard as "the
    # nannas" where the pause after "Done." came out shorter under load) ...
    assert heard(REPLY, agent) >= 0.6, agent
    assert "milk" not in agent, agent  # ... not the caller's
    assert [t["who"] for t in transcript if t["text"] == WORDS.lower()] == ["caller"]
    assert any(t["who"] == "agent" and t["text"] == REPLY for t in transcript), transcript
    return caller, agent


async def check_declined(rt: Runtime, base: Settings) -> None:
    """No recording; the decision is on the call's record."""
    assert recordings(base) == []
    [record] = await rt.calls.list_recent(5)
    events = [json.loads(e.detail) for e in await rt.calls.events(record.call_id)
              if e.kind == "recording-consent"]
    assert [(e["outcome"], e["record"]) for e in events] == [("decline", False)]

