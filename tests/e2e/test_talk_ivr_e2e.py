"""End to end: examples/ivr/acme.toml through `callport talk --ivr` with the real embedded
stack (Silero VAD, Whisper, MiniLM, Piper caller audio): a spoken "repeat" then in-band DTMF
tones for 1 over the 8 kHz mu-law line (transfer to sales), and, out of hours (`--at` on a
holiday), a spoken voicemail that `callport voicemail list --json` shows with its transcript."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callport.audio.tones import dtmf_sequence
from callport.audio.wav import write_wav

pytestmark = pytest.mark.slow

ACME = str(Path(__file__).parents[2] / "examples" / "ivr" / "acme.toml")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callport.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


async def _speak(text: str, path: Path) -> Path:
    from callport.speech.piper import PiperTTS

    tts = PiperTTS(deterministic=True)
    chunks = [c.pcm async for c in tts.synthesize(text)]
    write_wav(path, np.concatenate(chunks), tts.sample_rate)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    return tmp_path_factory.mktemp("ivr")


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "CALLPORT_DB": str(folder / "ivr.db"), "CALLPORT_CONFIG": "",
            "CALLPORT_SPEECH_PIPER_VARIATION": "false"}


def test_spoken_repeat_then_inband_tone_transfers_to_sales(folder: Path) -> None:
    repeat = asyncio.run(_speak("Could you repeat that, please?", folder / "repeat.wav"))
    tones = folder / "one.wav"
    write_wav(tones, dtmf_sequence("1", sample_rate=8000, duration_ms=120.0), 8000)
    proc = _cli("talk", "--ivr", ACME, "--phone", "--json", "--at", "2026-12-02T10:00",
                str(repeat), str(tones), env=_env(folder))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["outcome"] == "transfer:sip:sales@example.com", out
    assert "repeat" in out["turns"][0]["transcript"].lower(), out["turns"]  # heard, repeated
    [step] = out["ivr"]  # "repeat" is no decision: the same question is asked again
    assert step == {"menu": "main", "heard": None, "digits": "1", "choice": "sales",
                    "by": "dtmf", "confidence": 1.0}


def test_out_of_hours_voicemail_is_listed(folder: Path) -> None:
    text = "Hi, this is Dana, please call me back about my invoice."
    message = asyncio.run(_speak(text, folder / "message.wav"))
    env = _env(folder)
    proc = _cli("talk", "--ivr", ACME, "--json", "--at", "2026-12-25T10:00", str(message),
                env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert (out["outcome"], out["ivr"]) == ("voicemail", []), out
    listed = _cli("voicemail", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [vm] = json.loads(listed.stdout)
    assert (vm["menu"], vm["for"]) == ("closed", "owner") and vm["seconds"] > 1.0
    assert {"call", "back", "invoice"} <= set(vm["transcript"].lower().replace(",", " ")
                                              .replace(".", " ").split()), vm
