"""kill -9 of a real ``callport serve`` in the middle of a recorded SIP call (baresip calls in
with a 440 Hz tone; the echo flow sends it back; ``recording.mode=notify``): the recording,
encrypted as it was written, still decrypts and plays up to about the last second before the
kill (``callport recordings export`` writes it), with the caller on the left and the echo on
the right. Every process started here is stopped by its PID."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from serve_support import CALLPORT, start_serve, wait_until

from callport.server.lifecycle import close_crashed_calls
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_calls import SqliteCallStore

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
from sip_support import BARESIP, free_udp_port, stop_baresip, write_baresip_config

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

SECONDS_BEFORE_KILL = 4  # whole sealed chunks (1 s each) written before the kill
CHUNK_BYTES = 4 + 16000 * 4 + 16  # length, 1 s of 16 kHz stereo int16, GCM tag


def _tone(path: Path, seconds: float, hz: float) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((9000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


def _band(pcm: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / 16000)
    return float(spectrum[np.abs(freqs - hz) < 40].sum() / max(spectrum.sum(), 1e-9))


async def test_kill_9_mid_call_leaves_a_recording_that_plays_to_the_last_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALLPORT_RECORDING_MODE", "notify")
    monkeypatch.setenv("CALLPORT_RECORDING_STAY_S", "0.2")
    monkeypatch.setenv("CALLPORT_SPEECH_TTS", "espeak")  # the notice, quickly
    db = tmp_path / "callport.db"
    served = start_serve(tmp_path, db, "serve")
    recordings = tmp_path / "recordings"
    _tone(tmp_path / "tone.wav", 60.0, 440.0)
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    conf = write_baresip_config(
        tmp_path, source_wav=tmp_path / "tone.wav", sip_port=sip_port, ctrl_port=ctrl_port,
        rtp_low=42000 + (sip_port % 200) * 50,
        account="<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU")
    assert BARESIP is not None
    phone = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "40", "-e", f"/dial sip:agent@127.0.0.1:{served.sip_port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        def audio() -> list[Path]:
            return sorted(recordings.glob("rec-*.wav.enc")) if recordings.is_dir() else []

        def written() -> bool:
            assert served.proc.poll() is None, served.text()[-3000:]
            found = audio()
            return bool(found) and found[0].stat().st_size >= 14 + SECONDS_BEFORE_KILL * CHUNK_BYTES

        await asyncio.to_thread(wait_until, written, timeout=60, what="4 s recorded")
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(10)
    finally:
        served.stop()
        await stop_baresip(phone, ctrl_port)
    [enc] = audio()
    blob = enc.read_bytes()
    assert b"RIFF" not in blob and b"\x00\x00\x00\x00\x00\x00\x00\x00" * 64 not in blob
    whole = (len(blob) - 14) // CHUNK_BYTES  # the chunks that were complete at the kill
    [meta_path] = recordings.glob("rec-*.json")
    meta = json.loads(meta_path.read_text())
    assert (meta["consent"], meta["final"]) == ("implied", False)  # the call never ended
    out = tmp_path / "after-kill.wav"
    done = await asyncio.to_thread(
        subprocess.run, [CALLPORT, "--db", str(db), "recordings", "export", meta["id"],
                         "--out", str(out)], capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 0, done.stderr
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 16000)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    left, right = data[0::2], data[1::2]
    assert len(left) == whole * 16000 and whole >= SECONDS_BEFORE_KILL  # every whole second
    last = slice(len(left) - 16000, len(left))  # the last second written before the kill
    assert np.sqrt(np.mean(left[last].astype(float) ** 2)) > 1000  # the caller's tone ...
    assert _band(left[last], 440.0) > 0.8  # ... on the left
    assert _band(right[last], 440.0) > 0.5  # the echo the caller heard, on the right
    # the killed server left its call in progress: the next start's sweep ends it (crash)
    store_db = SqliteDb(db)
    try:
        calls = SqliteCallStore(store_db)
        assert await close_crashed_calls(calls) == 1
        [record] = await calls.list_recent()
    finally:
        store_db.close()
    assert (record.channel, record.status, record.hangup_cause) == ("sip", "ended", "crash")
