"""The voicemail API shows each user the messages left for them, and nobody else's: the list
with the new count, the audio as WAV, marking one heard; 401 without a sign-in or token, 404
for another user's message (admins included), and the CSRF rules on the write."""

from __future__ import annotations

import asyncio
import io
import wave
from datetime import UTC, datetime
from pathlib import Path

from server_support import BASE, JSON_ORIGIN, add_user, api_token, runtime_at, sign_in
from starlette.testclient import TestClient

from callport.server.app import create_app
from callport.server.runtime import Runtime
from callport.store.voicemail import Voicemail


def leave(runtime: Runtime, for_user: str, minute: int, text: str) -> int:
    message = Voicemail(call_id=f"c{minute}", caller="+15550001111", for_user=for_user,
                        menu="main", at=datetime(2026, 12, 2, 10, minute, tzinfo=UTC),
                        transcript=text, audio=b"\x10\x00" * 8000, sample_rate=8000)
    return asyncio.run(runtime.voicemail.add(message)).id


def test_each_user_sees_only_their_own_voicemail(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    add_user(runtime, "boss", roles=("admin",))
    add_user(runtime, "alice")
    first = leave(runtime, "alice", 1, "call me back")
    second = leave(runtime, "alice", 2, "about the invoice")
    bobs = leave(runtime, "bob", 3, "bob's private message")
    client = TestClient(create_app(runtime, channels=[]), base_url=BASE)
    for path in ("/api/voicemail", f"/api/voicemail/{first}/audio"):
        assert client.get(path).status_code == 401
    assert client.post(f"/api/voicemail/{first}/heard", json={}).status_code == 401
    alice = {"authorization": f"Bearer {api_token(runtime, 'alice')}"}
    boss = {"authorization": f"Bearer {api_token(runtime, 'boss')}"}
    got = client.get("/api/voicemail", headers=alice).json()
    assert got["new"] == 2
    assert [(m["id"], m["transcript"], m["heard"]) for m in got["voicemail"]] == [
        (second, "about the invoice", False), (first, "call me back", False)]
    assert got["voicemail"][0]["seconds"] == 1.0 and got["voicemail"][0]["caller"]
    assert "bob" not in str(got)
    audio = client.get(f"/api/voicemail/{first}/audio", headers=alice)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 8000)
    # Another user's message does not exist for alice, nor for an admin.
    for headers in (alice, boss):
        assert client.get(f"/api/voicemail/{bobs}/audio", headers=headers).status_code == 404
        refused = client.post(f"/api/voicemail/{bobs}/heard", json={}, headers=headers)
        assert refused.status_code == 404
    assert client.get("/api/voicemail", headers=boss).json() == {"voicemail": [], "new": 0}
    assert client.get("/api/voicemail/x/audio", headers=alice).status_code == 404
    assert client.post(f"/api/voicemail/{first}/heard", json={},
                       headers=alice).json() == {"id": first, "heard": True}
    got = client.get("/api/voicemail", headers=alice).json()
    assert got["new"] == 1 and [m["heard"] for m in got["voicemail"]] == [False, True]
    assert not asyncio.run(runtime.voicemail.get(bobs)).heard  # type: ignore[union-attr]


def test_the_signed_in_page_marks_heard_only_from_its_own_origin(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    message = leave(runtime, "alice", 1, "call me back")
    client = TestClient(create_app(runtime, channels=[]), base_url=BASE)
    sign_in(client, runtime, "alice")
    assert client.get("/api/voicemail").json()["new"] == 1
    foreign = client.post(f"/api/voicemail/{message}/heard", json={},
                          headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    form = client.post(f"/api/voicemail/{message}/heard", content=b"x=1",
                       headers={**JSON_ORIGIN, "content-type": "text/plain"})
    assert form.status_code == 415
    assert client.get("/api/voicemail").json()["new"] == 1
    ok = client.post(f"/api/voicemail/{message}/heard", json={}, headers=JSON_ORIGIN)
    assert ok.status_code == 200 and client.get("/api/voicemail").json()["new"] == 0
