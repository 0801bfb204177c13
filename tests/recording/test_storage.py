"""Recordings at rest: AES-GCM sealing (wrong key, another id, a changed byte all refuse),
the key from config or generated once (0600) into the data directory, and the retention
purge in simulated time."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callport.config import ConfigError, RecordingSettings, ServerSettings, Settings
from callport.recording.crypt import (
    SealedWriter,
    load_key,
    open_stream,
    seal,
    seal_file,
    unseal,
)
from callport.recording.retention import purge, retention_loop


def settings(tmp: Path, key: str = "") -> Settings:
    return Settings(server=ServerSettings(db=str(tmp / "server.db")),
                    recording=RecordingSettings(key=key))


def test_seal_round_trip_and_refusals() -> None:
    key, other = bytes(32), bytes(range(32))
    blob = seal(key, b"RIFF audio", name="rec-a")
    assert b"RIFF" not in blob and unseal(key, blob, name="rec-a") == b"RIFF audio"
    assert seal(key, b"RIFF audio", name="rec-a") != blob  # a fresh nonce each time
    with pytest.raises(ValueError, match="key"):
        unseal(other, blob, name="rec-a")
    with pytest.raises(ValueError):
        unseal(key, blob, name="rec-b")  # renamed to another recording
    with pytest.raises(ValueError):
        unseal(key, blob[:-1] + bytes([blob[-1] ^ 1]), name="rec-a")
    with pytest.raises(ValueError, match="not an encrypted"):
        unseal(key, b"RIFF....", name="rec-a")


def test_seal_file_replaces_the_plain_file(tmp_path: Path) -> None:
    plain = tmp_path / "rec-a.wav"
    plain.write_bytes(b"RIFF" + bytes(100))
    sealed = seal_file(bytes(32), plain, name="rec-a")
    assert not plain.exists() and sealed.name == "rec-a.wav.enc"
    assert unseal(bytes(32), sealed.read_bytes(), name="rec-a") == b"RIFF" + bytes(100)


def test_key_from_config_or_generated_once(tmp_path: Path) -> None:
    configured = base64.b64encode(bytes(range(32))).decode()
    assert load_key(settings(tmp_path, configured)) == bytes(range(32))
    assert not (tmp_path / "recording.key").exists()
    with pytest.raises(ConfigError, match="32 random bytes"):
        load_key(settings(tmp_path, "c2hvcnQ="))
    first = load_key(settings(tmp_path))
    assert len(first) == 32 and load_key(settings(tmp_path)) == first  # reused
    mode = stat.S_IMODE((tmp_path / "recording.key").stat().st_mode)
    assert mode == 0o600


def _recording(directory: Path, rec_id: str, started: datetime) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{rec_id}.json").write_text(json.dumps(
        {"id": rec_id, "started_at": started.isoformat(timespec="seconds")}))
    (directory / f"{rec_id}.wav.enc").write_bytes(b"x")


def test_purge_removes_only_what_is_past_retention(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    _recording(tmp_path, "rec-old", now - timedelta(days=31))
    _recording(tmp_path, "rec-new", now - timedelta(days=29))
    assert purge(tmp_path, now=now, keep_days=30) == ["rec-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec-new.json", "rec-new.wav.enc"]
    assert purge(tmp_path, now=now, keep_days=0) == []  # 0: kept until erased


async def test_retention_loop_in_simulated_time(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    clock = [start]
    _recording(tmp_path, "rec-a", start - timedelta(days=1))
    passes = 0

    async def sleep(seconds: float) -> None:  # one simulated day per pass
        nonlocal passes
        passes += 1
        clock[0] += timedelta(seconds=seconds)
        if passes == 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        await retention_loop(tmp_path, keep_days=2, every_s=86400.0, now=lambda: clock[0],
                             sleep=sleep)
    # day 0: 1 day old, kept; day 1: 2 days, kept; day 2: 3 days old, purged
    assert not (tmp_path / "rec-a.json").exists() and passes == 3


def test_sealed_chunks_open_to_the_last_whole_chunk(tmp_path: Path) -> None:
    key, path = bytes(range(32)), tmp_path / "r.enc"
    writer = SealedWriter(key=key, path=path, name="rec-a")
    writer.write(b"one ")
    writer.write(b"two ")
    size_after_two = path.stat().st_size
    writer.close(b"end")
    blob = path.read_bytes()
    assert b"one" not in blob and open_stream(key, blob, name="rec-a") == (b"one two end", True)
    assert open_stream(key, blob[:size_after_two], name="rec-a") == (b"one two ", False)
    assert open_stream(key, blob[:-1], name="rec-a") == (b"one two ", False)  # cut mid-chunk
    with pytest.raises(ValueError):
        open_stream(key, blob, name="rec-b")  # another recording's id
    with pytest.raises(ValueError):
        open_stream(bytes(32), blob, name="rec-a")  # another key
    changed = bytearray(blob)
    changed[20] ^= 1
    with pytest.raises(ValueError):
        open_stream(key, bytes(changed), name="rec-a")
    first = 6 + 8 + 4 + len(b"one ") + 16
    dropped = blob[:6 + 8] + blob[first:]  # the first chunk taken out: the rest is refused
    with pytest.raises(ValueError):
        open_stream(key, dropped, name="rec-a")
