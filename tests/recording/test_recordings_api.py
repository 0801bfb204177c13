"""GET /api/recordings (admin sees all, others their own, nobody without a token) and the
decrypted, streamed audio of one (404 for another user's)."""

from __future__ import annotations

import io
import json
import sys
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

import numpy as np
from server_support import BASE, add_user, api_token, runtime_at
from starlette.testclient import TestClient

from callport.call.taps import Direction, TapFrame
from callport.recording.crypt import load_key, seal_file
from callport.recording.recorder import Recorder
from callport.recording.run import recordings_dir
from callport.server.app import create_app


def _recording(runtime: object, rec_id: str, user: str, started_at: str) -> bytes:
    directory = recordings_dir(runtime.settings)  # type: ignore[attr-defined]
    rec = Recorder(path=directory / f"{rec_id}.wav", started=0.0)
    for i in range(100):
        rec.on_frame(TapFrame(Direction.IN, np.full(320, 1000, dtype=np.int16), 16000,
                              (i + 1) * 0.02, (i + 1) * 0.02))
    rec.close()
    plain = (directory / f"{rec_id}.wav").read_bytes()
    sealed = seal_file(load_key(runtime.settings), directory / f"{rec_id}.wav", name=rec_id)  # type: ignore[attr-defined]
    (directory / f"{rec_id}.json").write_text(json.dumps({
        "id": rec_id, "call_id": rec_id[4:], "user": user, "started_at": started_at,
        "duration_s": 2.0, "consent": "consent", "paused_s": 0.0,
        "channels": ["caller", "agent"], "audio": sealed.name, "transcript": ""}))
    return plain


def test_recordings_api_scoped_and_streamed(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    add_user(runtime, "boss", roles=("admin",))
    add_user(runtime, "alice")
    alice_wav = _recording(runtime, "rec-c1", "alice", "2026-12-01T10:00:00+00:00")
    _recording(runtime, "rec-c2", "bob", "2026-12-01T11:00:00+00:00")
    client = TestClient(create_app(runtime, channels=[]), base_url=BASE)
    assert client.get("/api/recordings").status_code == 401
    assert client.get("/api/recordings/rec-c1/audio").status_code == 401
    admin = {"authorization": f"Bearer {api_token(runtime, 'boss')}"}
    mine = {"authorization": f"Bearer {api_token(runtime, 'alice')}"}
    got = client.get("/api/recordings", headers=admin).json()["recordings"]
    assert [r["id"] for r in got] == ["rec-c2", "rec-c1"]  # newest first
    [own] = client.get("/api/recordings", headers=mine).json()["recordings"]
    assert (own["id"], own["user"], own["duration_s"]) == ("rec-c1", "alice", 2.0)
    audio = client.get("/api/recordings/rec-c1/audio", headers=mine)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content == alice_wav
    with wave.open(io.BytesIO(audio.content)) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 32000)
    assert client.get("/api/recordings/rec-c2/audio", headers=mine).status_code == 404
    assert client.get("/api/recordings/rec-c2/audio", headers=admin).status_code == 200
