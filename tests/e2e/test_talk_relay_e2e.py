"""End to end: `callport talk --agent relay:ws://127.0.0.1:N/ws` with real speech (Silero VAD,
Whisper tiny.en, Piper) against a local ConversationRelay app: the app gets the caller's words
as a `prompt`, its streamed tokens are what the caller hears, and its `end` ends the call."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callport.audio.wav import read_wav, write_wav

sys.path.insert(0, str(Path(__file__).parents[1] / "agents"))
from relay_app import RelayApp, Send, tokens

pytestmark = pytest.mark.slow


async def _synthesize(texts: list[str], folder: Path) -> list[Path]:
    from callport.speech.piper import PiperTTS

    tts = PiperTTS(deterministic=True)
    paths = []
    for i, text in enumerate(texts):
        pcm = np.concatenate([c.pcm async for c in tts.synthesize(text)])
        path = folder / f"turn{i}.wav"
        write_wav(path, pcm, tts.sample_rate)
        paths.append(path)
    return paths


async def bakery(msg: dict[str, Any], send: Send) -> None:
    if msg.get("type") != "prompt":
        return
    if "bye" in msg["voicePrompt"].lower():
        for t in tokens("Thanks for calling. Goodbye."):
            await send(t)
        await send({"type": "end", "handoffData": '{"reasonCode":"caller-done"}'})
        return
    for t in tokens("We open at nine in the morning. Fresh bread is ready by ten."):
        await send(t)


async def test_a_spoken_call_through_talk_reaches_the_relay_app(tmp_path: Path) -> None:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    wavs = await _synthesize(["What time do you open tomorrow?", "Okay, goodbye."], tmp_path)
    out = tmp_path / "agent.wav"
    async with RelayApp(bakery) as app:
        env = {**os.environ, "CALLPORT_DB": str(tmp_path / "c.db"), "CALLPORT_CONFIG": "",
               "CALLPORT_SPEECH_PIPER_VARIATION": "false",
               "CALLPORT_AGENT_GREETING": "Hi, this is the bakery's automated assistant."}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callport.cli", "talk", "--agent", f"relay:{app.url}",
            "--json", "--out", str(out), *map(str, wavs), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    result = json.loads(stdout)
    prompts = app.messages("prompt")
    assert app.messages("setup") and len(prompts) == 2
    assert "open" in prompts[0]["voicePrompt"].lower()
    turns = result["turns"]
    assert turns[0]["reply"] == "We open at nine in the morning. Fresh bread is ready by ten."
    assert "Goodbye" in turns[1]["reply"]
    pcm, rate = read_wav(out)
    assert len(pcm) / rate > 3.0  # the greeting and both replies were spoken
