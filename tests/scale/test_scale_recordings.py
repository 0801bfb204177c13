"""Recordings across nodes: with ``server.db`` a PostgreSQL URL (and ``recording.store`` left
empty) a call recorded on node A is published into the shared database, and node B, another
runtime and app with its own pool on the same database, lists it to its owner only and plays
it, decrypted with the shared ``recording.key``; a node with another key cannot open it. An
object replaced on one node is read whole (old or new) by another; the store is chosen from
``server.db`` and ``recording.store``; doctor fails a shared store without a key."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import RecordingSettings, ServerSettings, Settings
from callport.doctor_recording import recording_checks
from callport.recording.crypt import load_key
from callport.recording.postgres import PostgresRecordingStore
from callport.recording.run import open_recording, recording_store
from callport.recording.store import LocalStore, metadata
from callport.server.app import create_app
from callport.server.runtime import Runtime
from callport.store.postgres_stores import PgStores, pg_stores
from callport.types import CallInfo

KEY = base64.b64encode(bytes(range(32))).decode()  # the same recording.key on every node
BOB, LINE = "+12125550111", "+12125550100"
CALL_ID = "CA0000000000000000000000000000feed"
BASE = "http://localhost:8080"


def node(name: str, url: str, stores: PgStores, directory: Path, key: str = KEY) -> Runtime:
    # each node's own application_name: its own recording store (and pool), one database
    settings = Settings(
        server=ServerSettings(db=f"{url}&application_name={name}", node_id=name),
        recording=RecordingSettings(mode="notify", stay_s=0.2, key=key, dir=str(directory)))
    tts = ToneTTS()

    async def talk(call: Call) -> None:
        await call.say("Hello.")
        await call.connect(call.new_agent())

    return Runtime(settings=settings, calls=stores.calls, users=stores.users,
                   tokens=stores.tokens, tasks=stores.tasks, stt=ScriptedSTT([]),
                   tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                   agent_factory=lambda info: EchoTextAgent(), flow=talk)


async def record_a_call(runtime: Runtime) -> None:
    leg = MemoryLeg(call_id=CALL_ID, sample_rate=8000, realtime=True)
    info = CallInfo(call_id=CALL_ID, channel="twilio", caller=BOB, callee=LINE)
    task = asyncio.create_task(runtime.run_call(leg, info))
    tts = runtime.tts
    async with asyncio.timeout(20):
        while "Hello" not in tts.spoken:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # some recorded audio
        leg.caller_hangup()
        await task


async def token(runtime: Runtime, user: str) -> dict[str, str]:
    issued = await runtime.tokens.create(user, kind="api", now=time.time())
    return {"authorization": f"Bearer {issued.secret}"}


async def test_a_call_recorded_on_node_a_is_listed_and_played_by_node_b(
        pg_url: str, tmp_path: Path) -> None:
    one, two = pg_stores(pg_url), pg_stores(pg_url)
    a = node("node-a", pg_url, one, tmp_path / "a")
    b = node("node-b", pg_url, two, tmp_path / "b")
    await one.users.add("bob", phones=[BOB])
    await one.users.add("alice")
    store_a, store_b = recording_store(a.settings), recording_store(b.settings)
    assert isinstance(store_a, PostgresRecordingStore) and store_a is not store_b
    stores = [store_a, store_b]
    try:
        await record_a_call(a)
        rec_id = f"rec-{CALL_ID}"
        assert await asyncio.to_thread(store_b.names) == [f"{rec_id}.json", f"{rec_id}.wav.enc"]
        assert not list((tmp_path / "a").glob("rec-*"))  # moved into the database
        sealed = await asyncio.to_thread(store_b.read, f"{rec_id}.wav.enc")
        assert b"RIFF" not in sealed  # the database holds ciphertext only
        app = create_app(b, channels=[])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=BASE) as client:
            assert (await client.get("/api/recordings")).status_code == 401
            assert (await client.get(f"/api/recordings/{rec_id}/audio")).status_code == 401
            bob, alice = await token(b, "bob"), await token(b, "alice")
            [listed] = (await client.get("/api/recordings", headers=bob)).json()["recordings"]
            assert listed["id"] == rec_id and listed["call_id"] == CALL_ID
            assert listed["user"] == "bob" and listed["consent"] == "implied"
            audio = await client.get(f"/api/recordings/{rec_id}/audio", headers=bob)
            assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
            assert len(audio.content) > 44
            # another user on node B sees nothing of it and cannot fetch it
            assert (await client.get("/api/recordings", headers=alice)).json() == {
                "recordings": []}
            assert (await client.get(f"/api/recordings/{rec_id}/audio",
                                     headers=alice)).status_code == 404
        # a node with another recording.key lists it but cannot open it
        other = node("node-c", pg_url, two, tmp_path / "c",
                     key=base64.b64encode(bytes(32)).decode())
        store_c = recording_store(other.settings)
        stores.append(store_c)
        [meta] = await asyncio.to_thread(metadata, store_c)
        with pytest.raises(ValueError):
            open_recording(meta, tmp_path / "c", load_key(other.settings), store_c)
        wav, _words = open_recording(meta, tmp_path / "b", load_key(b.settings), store_b)
        assert wav == audio.content
    finally:
        for store in stores:
            assert isinstance(store, PostgresRecordingStore)
            store.close()
        await one.db.close()
        await two.db.close()


def test_the_store_is_chosen_from_server_db_and_recording_store(tmp_path: Path) -> None:
    url = "postgresql://callport@127.0.0.1:1/callport"  # nothing is opened by choosing

    def chosen(db: str, **rec: str) -> object:
        return recording_store(Settings(server=ServerSettings(db=db),
                                        recording=RecordingSettings(**rec)))  # type: ignore[arg-type]

    assert isinstance(chosen(url), PostgresRecordingStore)
    assert isinstance(chosen(url, store="local", dir=str(tmp_path)), LocalStore)  # kept local
    assert isinstance(chosen(str(tmp_path / "callport.db")), LocalStore)  # SQLite: local
    assert RecordingSettings(store="postgres").problems() == [
        "recording.store='postgres': use local or s3 (or leave it empty)"]
    with pytest.raises(ValueError, match="not a postgresql:// URL"):
        PostgresRecordingStore("sqlite:///x.db")


def test_doctor_fails_shared_recordings_without_a_key(tmp_path: Path) -> None:
    url = "postgresql://callport@127.0.0.1:1/callport"

    def check(db: str, **rec: str) -> tuple[str, bool, str]:
        [got] = recording_checks(Settings(server=ServerSettings(db=db), recording=RecordingSettings(
            mode="notify", **rec)))  # type: ignore[arg-type]
        return got

    name, ok, detail = check(url)
    assert name == "recordings" and not ok and "CALLPORT_RECORDING_KEY" in detail
    assert check(url, key=KEY)[1] and "PostgreSQL" in check(url, key=KEY)[2]
    assert not check(str(tmp_path / "c.db"), store="s3")[1]  # an S3 bucket is shared too
    local = check(str(tmp_path / "c.db"))
    assert local[1] and "this node only" in local[2]
    assert recording_checks(Settings(server=ServerSettings(db=url))) == []  # recording off


def test_a_reader_on_another_node_sees_the_old_object_or_the_new_never_half(
        pg_url: str) -> None:
    import threading

    writer = PostgresRecordingStore(f"{pg_url}&application_name=writer")
    reader = PostgresRecordingStore(f"{pg_url}&application_name=reader")
    old, new = b"a" * 2_000_000, b"b" * 3_000_000
    writer.write("rec-big.wav.enc", old)
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            blob = reader.read("rec-big.wav.enc")
            seen.append("old" if blob == old else "new" if blob == new else "torn")

    thread = threading.Thread(target=read)
    try:
        thread.start()
        for i in range(10):  # replaced whole, back and forth, while the other node reads
            writer.write("rec-big.wav.enc", new if i % 2 == 0 else old)
    finally:
        done.set()
        thread.join(timeout=30)
        writer.close()
    try:
        assert seen and "torn" not in seen
        assert reader.read("rec-big.wav.enc") == old and reader.names() == ["rec-big.wav.enc"]
    finally:
        reader.close()


def test_the_cli_lists_exports_and_erases_recordings_kept_in_postgres(
        pg_url: str, tmp_path: Path) -> None:
    """``callport recordings`` and ``callport privacy`` (other processes, another data
    directory) see a recording another node published into the database."""
    import json
    import os
    import subprocess

    from callport.recording.crypt import SealedWriter

    spool = tmp_path / "spool.enc"
    writer = SealedWriter(key=bytes(range(32)), path=spool, name="rec-cli")
    writer.write(b"\x01\x00\x02\x00" * 16000)  # 1 s of stereo PCM
    writer.close()
    node_a = PostgresRecordingStore(pg_url)
    try:
        node_a.write("rec-cli.wav.enc", spool.read_bytes())
        node_a.write("rec-cli.json", json.dumps({
            "id": "rec-cli", "call_id": "CA1", "user": "bob", "caller": BOB, "callee": LINE,
            "audio": "rec-cli.wav.enc", "transcript": "", "duration_s": 1.0,
            "started_at": "2026-12-02T07:00:00+00:00"}).encode())
        env = {**os.environ, "CALLPORT_DB": pg_url, "CALLPORT_CONFIG": "",
               "CALLPORT_RECORDING_KEY": KEY, "XDG_DATA_HOME": str(tmp_path / "data")}

        def cli(*args: str) -> str:
            done = subprocess.run([str(Path(sys.executable).parent / "callport"), *args],
                                  capture_output=True, text=True, env=env, cwd=tmp_path,
                                  timeout=120)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        [listed] = json.loads(cli("recordings", "list", "--json"))
        assert listed["id"] == "rec-cli" and listed["user"] == "bob"
        cli("recordings", "export", "rec-cli", "--out", str(tmp_path / "out.wav"))
        wav = (tmp_path / "out.wav").read_bytes()
        assert wav[:4] == b"RIFF" and len(wav) == 44 + 64000
        erased = json.loads(cli("privacy", "erase", "--user", "bob", "--yes"))
        assert erased["deleted"]["recordings"] == 1
        assert node_a.names() == []  # gone from the database, for every node
    finally:
        node_a.close()
