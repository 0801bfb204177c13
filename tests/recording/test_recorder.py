"""The stereo recorder on its own: placement by clock time, pause as silence or skipped, and
a kill -9 that leaves a playable file up to the last second written (a subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from callport.call.taps import Direction, TapFrame
from callport.recording.crypt import open_stream
from callport.recording.recorder import RATE, Recorder, wav_bytes


def frame(direction: Direction, at: float, value: int, rate: int = 16000) -> TapFrame:
    return TapFrame(direction, np.full(rate // 50, value, dtype=np.int16), rate, at, at)


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data[0::2], data[1::2]


def feed(rec: Recorder, start: float, seconds: float, direction: Direction, value: int,
         rate: int = 16000) -> None:
    for i in range(round(seconds * 50)):
        at = start + (i + 1) * 0.02 if direction is Direction.IN else start + i * 0.02
        rec.on_frame(frame(direction, at, value, rate))


def test_directions_on_their_own_channel_at_their_time(tmp_path: Path) -> None:
    rec = Recorder(path=tmp_path / "r.wav", started=10.0)
    feed(rec, 10.0, 1.0, Direction.IN, 1000)  # caller 0..1 s
    feed(rec, 12.0, 1.0, Direction.OUT, 2000, 8000)  # agent 2..3 s, at 8 kHz
    rec.close(13.0)
    left, right = read(tmp_path / "r.wav")
    assert 3 * RATE <= len(left) < 3.1 * RATE  # + the 8 kHz resampler's latency
    assert np.all(left[: RATE - 10] == 1000) and np.all(left[RATE + 10:] == 0)
    assert np.all(right[: 2 * RATE - 10] == 0)
    steady = right[2 * RATE + 400: 3 * RATE - 400]  # past the resampler's edges
    assert np.all(np.abs(steady.astype(int) - 2000) < 60)


def test_pause_as_silence_keeps_the_timeline(tmp_path: Path) -> None:
    rec = Recorder(path=tmp_path / "r.wav", started=0.0)
    feed(rec, 0.0, 1.0, Direction.IN, 1000)
    rec.pause(1.0)
    feed(rec, 1.0, 2.0, Direction.IN, 7777)  # the card number: dropped
    rec.resume(3.0)
    feed(rec, 3.0, 1.0, Direction.IN, 1000)
    rec.close()
    left, _ = read(tmp_path / "r.wav")
    assert len(left) == 4 * RATE and rec.paused_s == 2.0
    assert not np.any(left == 7777)
    assert np.all(left[RATE + 10: 3 * RATE - 10] == 0)


def test_pause_skipped_leaves_the_span_out(tmp_path: Path) -> None:
    rec = Recorder(path=tmp_path / "r.wav", started=0.0, paused="skip")
    feed(rec, 0.0, 1.0, Direction.IN, 1000)
    rec.pause(1.0)
    feed(rec, 1.0, 2.0, Direction.IN, 7777)
    rec.resume(3.0)
    feed(rec, 3.0, 1.0, Direction.IN, 1000)
    rec.close()
    left, _ = read(tmp_path / "r.wav")
    assert abs(len(left) - 2 * RATE) < RATE // 50 and not np.any(left == 7777)
    assert rec.paused_s == 2.0


_CHILD = """
import sys, time
from pathlib import Path
import numpy as np
import pytest
from callport.call.taps import Direction, TapFrame
from callport.recording.recorder import Recorder
key = bytes(range(32)) if sys.argv[2:] == ["sealed"] else None
rec = Recorder(path=Path(sys.argv[1]), started=0.0, key=key, name="rec-x")
for i in range(175):  # 3.5 s of caller audio, 20 ms frames
    pcm = np.full(320, 1000 + i, dtype=np.int16)
    rec.on_frame(TapFrame(Direction.IN, pcm, 16000, (i + 1) * 0.02, (i + 1) * 0.02))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("sealed", [False, True])
def test_kill_9_leaves_a_playable_file(tmp_path: Path, sealed: bool) -> None:
    path = tmp_path / "r.wav"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), *(["sealed"] * sealed)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    if sealed:  # encrypted as it went: it decrypts up to the last chunk
        data = path.read_bytes()
        assert b"RIFF" not in data
        pcm, complete = open_stream(bytes(range(32)), data, name="rec-x")
        assert not complete
        path = tmp_path / "plain.wav"
        path.write_bytes(wav_bytes(pcm))
    left, right = read(path)  # the header says how much is there: it plays
    assert len(left) == 3 * RATE  # up to the last whole second written (0.5 s held back)
    assert left[0] == 1000 and left[-1] == 1000 + 149 and not np.any(right)
