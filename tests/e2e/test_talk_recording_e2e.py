"""End to end: a spoken call through `callport talk` with `recording.mode=consent` (Piper
caller audio, Silero VAD, Whisper tiny.en, the Task Manager): the caller says yes, the
recording's left channel transcribes to the caller's words and the right to the agent's;
a caller who says no is served unrecorded and the decline is on the call's record."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from callport.audio.wav import write_wav

pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callport.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


async def _speak(texts: list[str], folder: Path) -> list[Path]:
    from callport.speech.piper import PiperTTS

    tts = PiperTTS(deterministic=True)
    paths = []
    for i, text in enumerate(texts):
        chunks = [c.pcm async for c in tts.synthesize(text)]
        paths.append(folder / f"say{i}.wav")
        write_wav(paths[-1], np.concatenate(chunks), tts.sample_rate)
    return paths


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "CALLPORT_DB": str(folder / "tasks.db"), "CALLPORT_CONFIG": "",
            "CALLPORT_SPEECH_PIPER_VARIATION": "false", "CALLPORT_RECORDING_MODE": "consent"}


def test_consent_then_both_sides_on_their_channel(tmp_path: Path) -> None:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    from callport.speech.whisper import WhisperSTT

    wavs = asyncio.run(_speak(["Yes, I agree.", "Add buy bananas to my list."], tmp_path))
    proc = _cli("talk", "--json", *map(str, wavs), env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    [meta_path] = (tmp_path / "recordings").glob("*.json")
    meta = json.loads(meta_path.read_text())
    assert (meta["consent"], meta["final"], meta["channels"]) == ("consent", True,
                                                                  ["caller", "agent"])
    listed = _cli("recordings", "list", "--json", env=_env(tmp_path))
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["consent"], row["user"]) == (meta["id"], "consent", "owner")
    out = tmp_path / "export.wav"
    exported = _cli("recordings", "export", row["id"], "--out", str(out), env=_env(tmp_path))
    assert exported.returncode == 0, exported.stderr
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    left, right = data[0::2].copy(), data[1::2].copy()
    stt = WhisperSTT()
    caller = stt.transcribe_sync(left, rate).text.lower()
    agent = stt.transcribe_sync(right, rate).text.lower()
    assert "banana" in caller and "agree" not in caller, caller  # consent came before
    assert "banana" in agent, agent  # the agent's reply names the task
    assert "banana" not in meta_path.read_text().lower()  # the transcript is encrypted
    from callport.config import load_settings
    from callport.recording.crypt import load_key
    from callport.recording.run import open_recording

    settings = load_settings(env=_env(tmp_path))
    _wav, transcript = open_recording(meta, tmp_path / "recordings", load_key(settings))
    callers = [t["text"].lower() for t in transcript if t["who"] == "caller"]
    assert any("banana" in t for t in callers), transcript


def test_decline_no_recording_and_audit(tmp_path: Path) -> None:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    wavs = asyncio.run(_speak(["No, I do not.", "Add buy bananas to my list."], tmp_path))
    env = _env(tmp_path)
    proc = _cli("talk", "--json", *map(str, wavs), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "recordings").exists() or not any((tmp_path / "recordings").iterdir())
    listed = _cli("tasks", "list", "--all", "--json", env=env)
    assert "banana" in listed.stdout.lower()  # still served
    with sqlite3.connect(tmp_path / "tasks.db") as db:  # the call's record, as stored
        rows = db.execute("SELECT detail FROM call_events WHERE kind = 'recording-consent'")
        [decision] = [json.loads(r[0]) for r in rows]
    assert (decision["outcome"], decision["record"]) == ("decline", False)
    assert "automated assistant" in decision["words"]
