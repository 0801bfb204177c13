"""The ``RecordingStore`` contract (``callport.recording.store``): every implementation is run
through the same cases (the local directory one, ``S3Store`` against the SigV4-verifying
S3 stand-in on loopback, ``s3_standin.py``, and ``PostgresRecordingStore`` in a fresh schema
of the throwaway PostgreSQL server of tests/scale/backend_servers.py). Plus: listing,
playback and the retention purge go through a store."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from s3_standin import S3Standin

from callport.recording.crypt import SealedWriter
from callport.recording.listing import recordings
from callport.recording.postgres import PostgresRecordingStore
from callport.recording.retention import purge
from callport.recording.run import open_recording
from callport.recording.s3 import S3Store
from callport.recording.store import (
    BulkReader,
    LocalStore,
    RecordingStore,
    metadata,
    remove,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "scale"))
import backend_servers


def _s3(tmp: Path, stack: ExitStack) -> RecordingStore:
    standin = stack.enter_context(S3Standin(access_key="AKIDCALLPORT", secret_key="s3cr3t/key",
                                            bucket="calls", region="eu-west-1", page=2))
    store = S3Store(endpoint=standin.endpoint, bucket="calls", region="eu-west-1",
                    access_key="AKIDCALLPORT", secret_key="s3cr3t/key", prefix="site-a/")
    stack.callback(store.close)
    return store


def _postgres(_tmp: Path, stack: ExitStack) -> RecordingStore:
    server = backend_servers.postgres()
    url, schema = backend_servers.fresh_schema(server)
    stack.callback(backend_servers.drop_schema, server, schema)
    store = PostgresRecordingStore(url)
    stack.callback(store.close)
    return store


STORES: dict[str, Callable[[Path, ExitStack], RecordingStore]] = {
    "local": lambda tmp, _stack: LocalStore(directory=tmp / "recordings"),
    "postgres": _postgres,  # the migrations make the table on first use
    "s3": _s3,  # page=2: listing goes through ListObjectsV2's continuation
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStore]:
    with ExitStack() as stack:
        yield STORES[request.param](tmp_path, stack)


def test_write_read_exists_names(store: RecordingStore) -> None:
    assert store.names() == [] and not store.exists("rec-a.json")
    store.write("rec-b.wav.enc", b"\x00audio")
    store.write("rec-a.json", b"{}")
    assert store.names() == ["rec-a.json", "rec-b.wav.enc"]
    assert store.read("rec-b.wav.enc") == b"\x00audio" and store.exists("rec-a.json")
    store.write("rec-a.json", b'{"id": "rec-a"}')  # replaced whole
    assert store.read("rec-a.json") == b'{"id": "rec-a"}'


def test_names_are_sorted_as_python_sorts_them(store: RecordingStore) -> None:
    names = ["rec-b.json", "rec-B.json", "rec-_.json", "rec-1.json", "rec-a-2.json", "rec-a.json"]
    for name in names:
        store.write(name, b"{}")
    assert store.names() == sorted(names)  # byte order, whatever the server's collation


def test_metadata_reads_every_json_object_and_skips_broken_ones(store: RecordingStore) -> None:
    store.write("rec-2.json", b'{"id": "rec-2"}')
    store.write("rec-1.json", b'{"id": "rec-1"}')
    store.write("rec-1.wav.enc", b"\x00not json")
    store.write("rec-3.json", b"{broken")
    assert metadata(store) == [{"id": "rec-1"}, {"id": "rec-2"}]
    if isinstance(store, BulkReader):  # one round trip: the same objects as name by name
        assert store.objects(".json") == [(n, store.read(n)) for n in store.names()
                                          if n.endswith(".json")]
        assert store.objects(".wav.enc") == [("rec-1.wav.enc", b"\x00not json")]


def test_missing_and_delete(store: RecordingStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.read("rec-none.json")
    store.write("rec-x.json", b"{}")
    assert store.delete("rec-x.json") and not store.delete("rec-x.json")
    assert store.names() == []


@pytest.mark.parametrize("name", ["../rec-a.json", "rec-a/../../x", "other.json", "", "rec-"])
def test_names_outside_the_store_are_refused(store: RecordingStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.write(name, b"x")
    with pytest.raises(ValueError):
        store.read(name)


def test_remove_takes_every_object_of_one_recording(store: RecordingStore) -> None:
    for name in ("rec-1.json", "rec-1.wav.enc", "rec-10.json", "rec-2.json"):
        store.write(name, b"{}")
    assert sorted(remove(store, "rec-1")) == ["rec-1.json", "rec-1.wav.enc"]
    assert store.names() == ["rec-10.json", "rec-2.json"]  # rec-10 is another recording


def test_listing_playback_and_purge_go_through_the_store(store: RecordingStore,
                                                         tmp_path: Path) -> None:
    key, now = bytes(range(32)), datetime(2026, 12, 2, tzinfo=UTC)
    spool = tmp_path / "spool.enc"
    writer = SealedWriter(key=key, path=spool, name="rec-new")
    writer.write(b"\x01\x00\x02\x00" * 16000)  # 1 s of stereo PCM
    writer.close()
    store.write("rec-new.wav.enc", spool.read_bytes())
    for rec_id, age in (("rec-new", 1), ("rec-old", 40)):
        meta = {"id": rec_id, "audio": f"{rec_id}.wav.enc", "transcript": "",
                "started_at": (now - timedelta(days=age)).isoformat()}
        store.write(f"{rec_id}.json", json.dumps(meta).encode())
    store.write("rec-old.wav.enc", b"old")
    assert [m["id"] for m in recordings(Path("/nonexistent"), store)] == ["rec-new", "rec-old"]
    [new] = [m for m in metadata(store) if m["id"] == "rec-new"]
    wav, words = open_recording(new, Path("/nonexistent"), key, store)
    assert wav[:4] == b"RIFF" and len(wav) == 44 + 64000 and words == []
    assert purge(Path("/nonexistent"), now=now, keep_days=30, store=store) == ["rec-old"]
    assert store.names() == ["rec-new.json", "rec-new.wav.enc"]
