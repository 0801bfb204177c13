"""End to end on loopback: ``callport call sip:... --amd leave-message`` to a baresip that
answers with a recorded greeting (espeak-ng) and a beep. callport decides ``machine``, waits
for the beep, speaks the message after it and hangs up; the call record has ``amd=machine``
and the callee's recording shows the message starting after the beep."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
from sip_support import BARESIP, free_udp_port, write_baresip_config

from callport.cli import main
from callport.speech.espeak import EspeakTTS

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

GREETING = "Hi, you have reached Robin. I can't take your call right now. Please leave a message."
MESSAGE = "Hello Robin, this is the clinic: your appointment is tomorrow at ten."


def greeting_wav(path: Path) -> float:
    """Silence, the greeting, a pause, a 1 kHz beep (0.5 s), then silence; returns where the
    beep ends (seconds into the file)."""
    import soxr

    async def speak() -> np.ndarray:
        chunks = [c async for c in EspeakTTS().synthesize(GREETING)]
        pcm = np.concatenate([c.pcm for c in chunks])
        return np.clip(soxr.resample(pcm, chunks[0].sample_rate, 8000), -32768,
                       32767).astype(np.int16)

    speech = asyncio.run(speak())
    t = np.arange(4000) / 8000
    beep = (9000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    lead, pause = np.zeros(4000, np.int16), np.zeros(3200, np.int16)
    parts = [lead, speech, pause, beep, np.zeros(8000 * 20, np.int16)]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.concatenate(parts).astype("<i2").tobytes())
    return (len(lead) + len(speech) + len(pause) + len(beep)) / 8000


def seconds(root: Path, which: str) -> np.ndarray:
    """baresip's recording of the call, ``enc`` (what it sent) or ``dec`` (what it heard)."""
    [path] = sorted((root / "rec").glob(f"*-{which}.wav"))
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm ** 2))) if pcm.size else 0.0


def test_leave_message_after_the_beep(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    beep_end = greeting_wav(tmp_path / "greeting.wav")
    sip_port, ctrl = free_udp_port(), free_udp_port()
    conf = write_baresip_config(
        tmp_path, source_wav=tmp_path / "greeting.wav", sip_port=sip_port, ctrl_port=ctrl,
        rtp_low=45000 + (sip_port % 100) * 50,
        account="<sip:robin@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[server]
db = "{tmp_path / 'cp.db'}"
[speech]
tts = "espeak"
[sip]
rtp_port_min = 41400
rtp_port_max = 41498
""")
    assert BARESIP is not None
    proc = subprocess.Popen([BARESIP, "-f", str(conf), "-t", "40"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        rc = main(["--config", str(cfg), "call", f"sip:robin@127.0.0.1:{sip_port}",
                   "--amd", "leave-message", "--message", MESSAGE])
        err = capsys.readouterr().err
        assert rc == 0, err
        time.sleep(0.5)  # baresip writes its recording on the BYE
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert main(["--config", str(cfg), "calls", "list", "--json"]) == 0
    import json

    [record] = json.loads(capsys.readouterr().out)
    assert record["amd"] == "machine" and record["direction"] == "outbound"
    assert record["hangup_cause"] == "message-left", record
    assert record["status"] != "in-progress" and record["disposition"] == "answered"
    from callport.store.sqlite import SqliteDb
    from callport.store.sqlite_calls import SqliteCallStore

    async def events() -> list[tuple[str, str]]:
        store = SqliteCallStore(SqliteDb(tmp_path / "cp.db"))
        try:
            return [(e.kind, e.detail) for e in await store.events(record["call_id"])]
        finally:
            store.db.close()

    kinds = dict(asyncio.run(events()))
    assert kinds["amd"].startswith("machine")
    assert kinds["amd-message"].startswith("after the beep")
    beep_at = float(kinds["amd-message"].split(" at ")[1].split()[0])
    assert beep_end - 0.5 < beep_at < beep_end + 0.5  # the beep, in the callee's media time
    # baresip's recordings: what it sent (greeting, beep, silence until our BYE) and what it
    # heard (only the packets callport sent: the message, nothing over the greeting)
    sent, heard = seconds(tmp_path, "enc"), seconds(tmp_path, "dec")
    assert heard.size > 8000 * 2 and rms(heard) > 1000  # the message, loud, not cut short
    assert sent.size / 8000 - heard.size / 8000 >= beep_end - 0.3  # it began after the beep
