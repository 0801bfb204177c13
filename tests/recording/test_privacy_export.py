"""`callport privacy export`: one person's recordings (decrypted), calls, tasks and
voicemail with a manifest; another person's data stays out."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from callport.config import load_settings
from callport.store.calls import CallRecord
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_calls import SqliteCallStore
from callport.store.sqlite_tasks import SqliteTaskLists

sys.path.insert(0, str(Path(__file__).parent))
from test_recordings_api import _recording


def test_export_one_user_and_one_phone(tmp_path: Path) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "data" / "t.db"), "CALLPORT_CONFIG": ""}
    settings = load_settings(env=env)
    (tmp_path / "data").mkdir()

    async def seed() -> None:
        calls = SqliteCallStore(settings.server.db)
        now = datetime.now().astimezone()
        await calls.create(CallRecord(call_id="c1", channel="sip", user="alice",
                                      caller="+14155550100", started_at=now, status="completed"))
        await calls.create(CallRecord(call_id="c2", channel="sip", user="bob",
                                      caller="+12125550100", started_at=now, status="completed"))
        calls.close()
        db = SqliteDb(settings.server.db)
        lists = SqliteTaskLists(db, default_owner="owner")
        await lists.of("alice").add("buy bananas")
        await lists.of("bob").add("walk the dog")
        db.close()

    asyncio.run(seed())

    class _Rt:
        pass

    rt = _Rt()
    rt.settings = settings  # type: ignore[attr-defined]
    wav = _recording(rt, "rec-c1", "alice", "2026-12-01T10:00:00+00:00")
    _recording(rt, "rec-c2", "bob", "2026-12-01T11:00:00+00:00")
    out = tmp_path / "alice"
    proc = subprocess.run([sys.executable, "-m", "callport.cli", "privacy", "export",
                           "--user", "alice", "--out", str(out)],
                          env={**__import__("os").environ, **env}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"recordings": 1, "calls": 1, "tasks": 1, "voicemail": 0}
    assert (out / "recordings" / "rec-c1.wav").read_bytes() == wav  # decrypted
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    text = "".join(p.read_text(errors="ignore") for p in out.rglob("*.json"))
    assert "bananas" in text and "walk the dog" not in text and "rec-c2" not in text
    by_phone = tmp_path / "phone"
    proc = subprocess.run([sys.executable, "-m", "callport.cli", "privacy", "export",
                           "--phone", "+12125550100", "--out", str(by_phone)],
                          env={**__import__("os").environ, **env}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    calls = json.loads((by_phone / "calls.json").read_text())
    assert [c["call_id"] for c in calls] == ["c2"]

    # erase: nothing of alice's is left in the data directory (files or database)
    proc = subprocess.run([sys.executable, "-m", "callport.cli", "privacy", "erase",
                           "--user", "alice", "--yes"],
                          env={**__import__("os").environ, **env}, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)
    assert done["deleted"] == {"recordings": 1, "calls": 1, "tasks": 1, "voicemail": 0}
    left = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert b"bananas" not in left and b"+14155550100" not in left and b"rec-c1" not in left
    assert b"walk the dog" in left and b"+12125550100" in left  # bob's stays
